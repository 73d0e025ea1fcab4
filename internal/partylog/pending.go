package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd/internal/store"
)

// The id and query index entries of a group are not inserted into the store
// one by one with the group. Each of an event's id, booking, B/L and
// container entries lands at a scattered place in the key space, and
// inserting scattered keys into Pebble's memtable cost about as much as the
// rest of an append together. Instead, as search engines do with their
// near-real-time index:
//
//   - once a group's batch is applied, its entries go to the store's pending
//     index, where reads find them at once (a query right after an append
//     sees it);
//   - a background flush writes the waiting groups' entries into the store
//     in key order, and then records, for each log, the size through which
//     its entries are in the store (indexedKey). A store that takes few
//     entries flushes every quarter second, through NoSync batches, where
//     consecutive keys are close and cheap to insert. A store that takes
//     many merges them in memory into sorted runs (so that a read looks in a
//     few places rather than in every group), and every few seconds, or once
//     about half a million wait, writes them all as new tables that it adds
//     to the store at once (store.WriteTables: past the memtable and the WAL,
//     which took every entry twice more);
//   - the entries are not written anywhere else first: they follow from the
//     event records, which are durable. A log opened after a crash makes the
//     entries of the records past its indexed size again (rebuildIndex)
//     before it serves a read.
//
// Stores written before the entries were rebuilt from records kept them in
// journal values until the flush, 'j' log size(8) → entries; drainJournal
// writes any such value a crash left. A journal value is a sequence of
// uvarint(len key) key uvarint(len value) value, keys ascending.
const prefixJournal = 'j'

// When the waiting entries move on. A store that takes few entries flushes
// them through batches every quarter second, as they come; one that takes
// many keeps them in memory, merged, and writes them as tables every few
// seconds. Tables of a few thousand entries would each land in L0 across
// the whole index range, and compactions would rewrite that range for each:
// at seven nodes' 35,000 entries a second, tables took more CPU than the
// memtable did.
const (
	flushEvery   = 250 * time.Millisecond
	flushGroups  = 64               // groups waiting unmerged: flush (a slow store) or merge them into a run
	fastEntries  = 16 << 10         // entries published in one flushEvery: the store is fast
	slowAfter    = 8                // flushEvery ticks with under fastEntries/4 each: slow again
	maxRuns      = 8                // beyond this the runs are merged into one
	maxGroups    = 1024             // groups unmerged beyond this: a commit merges before it returns
	tableMin     = 32 << 10         // fewer entries than this go through batches
	tableEntries = 512 << 10        // entries waiting in a fast store: write them as tables
	flushAfter   = 10 * time.Second // the oldest waiting entry is written within about this
	maxEntries   = 4 * tableEntries // beyond this a commit flushes before it returns

	flushBatchBytes = 128 << 10 // entries through batches: one batch
)

// pendingIndex holds the index entries of applied groups until the flush
// has written them into the store. One serves every log of a store.
type pendingIndex struct {
	db     *pebble.DB
	logger *slog.Logger

	mu      sync.RWMutex
	chunks  []*indexChunk // guarded by mu: applied, not yet flushed, oldest first; each immutable
	runs    int           // guarded by mu: chunks[:runs] are merged runs, the rest one group each
	entries int           // guarded by mu: entries in chunks
	since   time.Time     // guarded by mu: when the oldest of chunks was published
	total   int64         // guarded by mu: entries ever published

	flushMu sync.Mutex // one merge or flush at a time; only they remove chunks
	kick    chan struct{}
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	closed  atomic.Bool
	failing atomic.Bool // the last flush failed; logged once until one succeeds
	halted  atomic.Bool // the store's WAL failed: nothing more may be written (see halt)
}

func newPendingIndex(db *pebble.DB, logger *slog.Logger) *pendingIndex {
	p := &pendingIndex{db: db, logger: logger, kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// run flushes or merges when enough has gathered, and now and then
// regardless, so that a quiet log leaves little to make again after a crash.
func (p *pendingIndex) run() {
	defer close(p.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var fast bool
	var seen int64
	slowTicks := 0
	for {
		tick := false
		select {
		case <-p.kick:
		case <-t.C:
			tick = true
		case <-p.closing:
			p.flushLogged()
			return
		}
		p.mu.RLock()
		n, unmerged, e, since, total := len(p.chunks), len(p.chunks)-p.runs, p.entries, p.since, p.total
		p.mu.RUnlock()
		if tick {
			// Fast at once, slow only after a while: a store that flips
			// writes entries through batches that its next tables then
			// overlap in the memtable, which Pebble must flush first.
			switch d := total - seen; {
			case d >= fastEntries:
				fast, slowTicks = true, 0
			case d < fastEntries/4:
				if slowTicks++; slowTicks >= slowAfter {
					fast = false
				}
			}
			seen = total
		}
		switch {
		case n == 0:
		case !fast || e >= tableEntries || time.Since(since) >= flushAfter:
			p.flushLogged()
		case unmerged >= 2:
			p.merge()
		}
	}
}

func (p *pendingIndex) flushLogged() {
	if err := p.flush(); errors.Is(err, errHalted) {
		return
	} else if err != nil {
		if !p.failing.Swap(true) {
			p.logger.Error("index flush failed; the entries stay in memory, a crash would make them again from the event records, and the flush is retried", "err", err)
		}
		return
	}
	if p.failing.Swap(false) {
		p.logger.Info("index flush works again")
	}
}

// close flushes what waits and stops the flush. Entries published later stay
// in memory; the store's next open makes them again from the records.
func (p *pendingIndex) close() {
	p.once.Do(func() {
		p.closed.Store(true) // no writer flushes from here on; run does the last
		close(p.closing)
		<-p.done
	})
}

// halt stops every later flush: after a failed fsync Pebble's WAL is
// unusable, and a write to it would panic. What waits stays readable here,
// and the store's next open makes it again from the records.
func (p *pendingIndex) halt() { p.halted.Store(true) }

// publish makes an applied group's entries readable. A chunk without
// entries (a group that had none) is published too: its flush moves the
// log's indexed size past it. It kicks the merge or the flush once enough
// waits; when far too much waits (they cannot keep up, or the flush keeps
// failing) it merges or flushes itself, which holds the writer back.
func (p *pendingIndex) publish(c *indexChunk) error {
	if c == nil {
		return nil
	}
	p.mu.Lock()
	if len(p.chunks) == 0 {
		p.since = time.Now()
	}
	p.chunks = append(p.chunks, c)
	p.entries += len(c.offs)
	p.total += int64(len(c.offs))
	unmerged, e := len(p.chunks)-p.runs, p.entries
	p.mu.Unlock()
	if !p.closed.Load() && !p.halted.Load() {
		switch {
		case e >= maxEntries:
			return p.flush()
		case unmerged >= maxGroups:
			p.merge()
			return nil
		}
	}
	if unmerged >= flushGroups || e >= tableEntries {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// view returns the groups not yet flushed. A reader takes it before it
// reads the store: a group flushed in between is then in both, never in
// neither.
func (p *pendingIndex) view() []*indexChunk {
	if p == nil {
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.chunks
}

// merge merges the groups that wait unmerged into one run, and the runs
// into one when there are more than maxRuns. Readers holding an older view
// keep reading the chunks it holds, which stay as they were.
func (p *pendingIndex) merge() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.RLock()
	cs, runs := p.chunks, p.runs
	p.mu.RUnlock()
	if len(cs)-runs < 2 {
		return
	}
	// Merging is background work and takes turns with Pebble's.
	var turn store.Turn
	turn.Yield()
	defer turn.Done()
	merged := append(cs[:runs:runs], mergeRun(cs[runs:]))
	if len(merged) > maxRuns {
		merged = []*indexChunk{mergeRun(merged)}
	}
	p.mu.Lock()
	p.chunks = append(merged, p.chunks[len(cs):]...)
	p.runs = len(merged)
	p.mu.Unlock()
}

// mergeRun returns one chunk with the entries of cs, each key once: the
// newest group's.
func mergeRun(cs []*indexChunk) *indexChunk {
	n, size := 0, 0
	r := &indexChunk{sizes: map[uint32]int64{}}
	for _, c := range cs {
		n += len(c.offs)
		size += len(c.data)
		c.eachSize(func(log uint32, s int64) { r.sizes[log] = max(r.sizes[log], s) })
	}
	r.data, r.offs = make([]byte, 0, size), make([]uint32, 0, n)
	r.makeFilter(n)
	var prefix []byte
	mergeChunks(cs, func(k, v []byte) {
		r.add(k, v)
		if k[0] != prefixIndex || len(k) < positionLen {
			r.note(k)
			return
		}
		// An index entry: the filter holds its (index, value) prefix.
		if px := k[:len(k)-positionLen]; !bytes.Equal(px, prefix) {
			r.note(px)
			prefix = px
		}
	})
	return r
}

// flush writes every waiting group's entries into the store in key order,
// and then each log's new indexed size.
func (p *pendingIndex) flush() error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	if p.halted.Load() {
		return errHalted
	}
	p.mu.RLock()
	cs := p.chunks
	p.mu.RUnlock()
	if len(cs) == 0 {
		return nil
	}
	n := 0
	for _, c := range cs {
		n += len(c.offs)
	}
	// Many entries go in as new tables, durable once WriteTables returns;
	// the indexed sizes go in after them, so a size never outlives a crash
	// that the entries it vouches for did not. A crash in between leaves
	// entries that the next open writes again: the same keys and values.
	err := store.ErrNoTables
	if n >= tableMin {
		err = store.WriteTables(context.Background(), p.db, func(add func(k, v []byte) error) error {
			var err error
			mergeChunks(cs, func(k, v []byte) {
				if err == nil {
					err = add(k, v)
				}
			})
			return err
		})
	}
	if errors.Is(err, store.ErrNoTables) {
		err = p.writeBatches(cs)
	}
	if err != nil {
		return fmt.Errorf("write index entries: %w", err)
	}
	// A log's chunks come in the order its groups committed, so the last
	// one's size vouches for all before it.
	indexed := map[uint32]int64{}
	for _, c := range cs {
		c.eachSize(func(log uint32, size int64) { indexed[log] = max(indexed[log], size) })
	}
	b := p.db.NewBatch()
	defer b.Close()
	var v [8]byte
	for num, size := range indexed {
		binary.BigEndian.PutUint64(v[:], uint64(size))
		if err := b.Set(indexedKey(num), v[:], nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("write index entries: %w", err)
	}
	p.mu.Lock()
	p.chunks = append([]*indexChunk(nil), p.chunks[len(cs):]...)
	p.runs = 0 // the runs come first, so they were all in cs
	p.entries -= n
	p.since = time.Now()
	p.mu.Unlock()
	return nil
}

// writeBatches writes the entries of cs in key order through NoSync
// batches: when few wait, or the store was not opened by store.Open and
// WriteTables cannot write tables for it.
func (p *pendingIndex) writeBatches(cs []*indexChunk) error {
	// A batch holds the commit pipeline while Pebble inserts it, and a
	// writer's batch behind one large batch would wait for all of it.
	b := p.db.NewBatchWithSize(flushBatchBytes + 64<<10)
	defer func() { b.Close() }()
	var err error
	// Merging is background work and takes turns with Pebble's (see
	// store.Turn); committing is not: a commit can wait for a memtable
	// flush, which can wait for the turn.
	var turn store.Turn
	defer turn.Done()
	turn.Yield()
	mergeChunks(cs, func(k, v []byte) {
		if err != nil {
			return
		}
		op := b.SetDeferred(len(k), len(v))
		copy(op.Key, k)
		copy(op.Value, v)
		if b.Len() >= flushBatchBytes {
			turn.Done()
			if err = b.Commit(pebble.NoSync); err == nil {
				b.Reset()
			}
			turn.Yield()
		}
	})
	turn.Done()
	if err == nil && b.Count() > 0 {
		err = b.Commit(pebble.NoSync)
	}
	return err
}

// lookupPending returns the value of key among the pending entries cs,
// newest first.
func lookupPending(cs []*indexChunk, key []byte) ([]byte, bool) {
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if !c.mayHold(key) {
			continue
		}
		if j := c.search(key); j < len(c.offs) {
			if k, v := c.entry(j); bytes.Equal(k, key) {
				return v, true
			}
		}
	}
	return nil, false
}

// indexChunk is one group's entries, or a run merged from many groups',
// encoded as a journal value was (see above), where each entry starts in
// it, and a Bloom filter of its id keys and (index, value) prefixes, so that
// a read skips the chunks that cannot hold what it seeks. log and size name
// a group: the one that grew log number log to size; a run has sizes, the
// largest of each log's groups.
type indexChunk struct {
	log    uint32
	size   int64
	sizes  map[uint32]int64 // a run's; nil for a group
	data   []byte
	offs   []uint32
	filter []uint64 // nil: may hold anything
}

// eachSize calls fn with each log's size that the chunk's entries reach.
func (c *indexChunk) eachSize(fn func(log uint32, size int64)) {
	if c.sizes == nil {
		fn(c.log, c.size)
		return
	}
	for log, size := range c.sizes {
		fn(log, size)
	}
}

var chunkSeed = maphash.MakeSeed()

const chunkProbes = 4

// makeFilter sizes the chunk's filter for n keys, about 16 bits each.
func (c *indexChunk) makeFilter(n int) {
	words := 1 << bits.Len(uint(max(n, 4)*16/64-1))
	c.filter = make([]uint64, words)
}

// note adds k (an id key or an index prefix) to the filter.
func (c *indexChunk) note(k []byte) {
	h1, h2 := chunkHash(k)
	mask := uint64(len(c.filter)*64 - 1)
	for i := range uint64(chunkProbes) {
		b := (h1 + i*h2) & mask
		c.filter[b>>6] |= 1 << (b & 63)
	}
}

// mayHold reports false only when no id key or index prefix k was noted.
func (c *indexChunk) mayHold(k []byte) bool {
	if c.filter == nil {
		return true
	}
	h1, h2 := chunkHash(k)
	mask := uint64(len(c.filter)*64 - 1)
	for i := range uint64(chunkProbes) {
		b := (h1 + i*h2) & mask
		if c.filter[b>>6]&(1<<(b&63)) == 0 {
			return false
		}
	}
	return true
}

func chunkHash(k []byte) (uint64, uint64) {
	h := maphash.Bytes(chunkSeed, k)
	return h, bits.RotateLeft64(h, 32) | 1
}

// add appends an entry; keys must come in ascending order.
func (c *indexChunk) add(k, v []byte) {
	c.offs = append(c.offs, uint32(len(c.data)))
	c.data = binary.AppendUvarint(c.data, uint64(len(k)))
	c.data = append(c.data, k...)
	c.data = binary.AppendUvarint(c.data, uint64(len(v)))
	c.data = append(c.data, v...)
}

func (c *indexChunk) entry(i int) (k, v []byte) {
	d := c.data[c.offs[i]:]
	n, w := binary.Uvarint(d)
	k, d = d[w:w+int(n)], d[w+int(n):]
	n, w = binary.Uvarint(d)
	return k, d[w : w+int(n)]
}

func (c *indexChunk) key(i int) []byte {
	d := c.data[c.offs[i]:]
	n, w := binary.Uvarint(d)
	return d[w : w+int(n)]
}

// search returns the first entry whose key is at least k.
func (c *indexChunk) search(k []byte) int {
	lo, hi := 0, len(c.offs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(c.key(m), k) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

var (
	errBadJournal = errors.New("corrupt index journal value")
	errHalted     = errors.New("the store's write path stopped after a storage failure")
)

// parseChunk reads a journal value back into a chunk, checking that it is
// well formed and in key order.
func parseChunk(data []byte) (*indexChunk, error) {
	c := &indexChunk{data: data}
	var prev []byte
	for at := 0; at < len(data); {
		start := at
		for range 2 {
			n, w := binary.Uvarint(data[at:])
			if w <= 0 || n > uint64(len(data)-at-w) {
				return nil, errBadJournal
			}
			at += w + int(n)
		}
		c.offs = append(c.offs, uint32(start))
		k := c.key(len(c.offs) - 1)
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return nil, errBadJournal
		}
		prev = k
	}
	return c, nil
}

// mergeChunks calls fn with every entry of cs in key order, each key once:
// of equal keys, the newest chunk's.
func mergeChunks(cs []*indexChunk, fn func(k, v []byte)) {
	h := newChunkHeap(cs, nil, nil, nil)
	for h.len() > 0 {
		cur := &h.cur[0]
		k, v := cur.c.entry(cur.i)
		h.advance()
		if h.len() > 0 && bytes.Equal(h.top(), k) {
			continue // a newer chunk's entry of the same key comes next
		}
		fn(k, v)
	}
}

// chunkHeap walks several chunks' entries in key order, between lower
// (inclusive) and upper (exclusive) when they are set, in the chunks that
// may hold index prefix when it is set.
type chunkHeap struct {
	cur   []chunkCursor
	upper []byte
}

type chunkCursor struct {
	c   *indexChunk
	i   int
	key []byte
	seq int // the chunk's position: of equal keys the older comes first
}

func newChunkHeap(cs []*indexChunk, prefix, lower, upper []byte) *chunkHeap {
	h := &chunkHeap{upper: upper}
	for seq, c := range cs {
		if prefix != nil && !c.mayHold(prefix) {
			continue
		}
		i := 0
		if lower != nil {
			i = c.search(lower)
		}
		if i < len(c.offs) && (upper == nil || bytes.Compare(c.key(i), upper) < 0) {
			h.cur = append(h.cur, chunkCursor{c: c, i: i, key: c.key(i), seq: seq})
		}
	}
	for i := len(h.cur)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	return h
}

func (h *chunkHeap) len() int { return len(h.cur) }

// top is the smallest key left; call only when len() > 0.
func (h *chunkHeap) top() []byte { return h.cur[0].key }

// advance moves past the smallest entry.
func (h *chunkHeap) advance() {
	c := &h.cur[0]
	c.i++
	if c.i < len(c.c.offs) {
		c.key = c.c.key(c.i)
		if h.upper == nil || bytes.Compare(c.key, h.upper) < 0 {
			h.down(0)
			return
		}
	}
	last := len(h.cur) - 1
	h.cur[0] = h.cur[last]
	h.cur = h.cur[:last]
	if last > 0 {
		h.down(0)
	}
}

func (h *chunkHeap) less(i, j int) bool {
	if c := bytes.Compare(h.cur[i].key, h.cur[j].key); c != 0 {
		return c < 0
	}
	return h.cur[i].seq < h.cur[j].seq
}

func (h *chunkHeap) down(i int) {
	n := len(h.cur)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.cur[i], h.cur[m] = h.cur[m], h.cur[i]
		i = m
	}
}

// indexIter walks the index keys between two bounds in the store and among
// the pending entries as one sorted sequence, each key once.
type indexIter struct {
	it   *pebble.Iterator
	tail *chunkHeap
	pOK  bool   // the store iterator is on a key
	key  []byte // the current key
	src  int    // where key came from: srcStore, srcTail or both
}

const (
	srcStore = 1 << iota
	srcTail
)

// newIndexIter opens the walk over [lower, upper), which holds only keys
// under index prefix when it is set. It reads the pending entries before it
// opens the store's iterator (see view).
func newIndexIter(p *pendingIndex, prefix, lower, upper []byte, open func(*pebble.IterOptions) (*pebble.Iterator, error)) (*indexIter, error) {
	tail := newChunkHeap(p.view(), prefix, lower, upper)
	it, err := open(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	return &indexIter{it: it, tail: tail}, nil
}

func (m *indexIter) First() bool {
	m.pOK = m.it.First()
	return m.pick()
}

func (m *indexIter) Next() bool {
	if m.src&srcStore != 0 {
		m.pOK = m.it.Next()
	}
	if m.src&srcTail != 0 {
		m.tail.advance()
	}
	return m.pick()
}

func (m *indexIter) pick() bool {
	tOK := m.tail.len() > 0
	switch {
	case m.pOK && tOK:
		pk, tk := m.it.Key(), m.tail.top()
		switch c := bytes.Compare(pk, tk); {
		case c < 0:
			m.key, m.src = pk, srcStore
		case c > 0:
			m.key, m.src = tk, srcTail
		default:
			m.key, m.src = pk, srcStore|srcTail
		}
	case m.pOK:
		m.key, m.src = m.it.Key(), srcStore
	case tOK:
		m.key, m.src = m.tail.top(), srcTail
	default:
		m.key, m.src = nil, 0
		return false
	}
	return true
}

// Key is the current key; valid until the next move.
func (m *indexIter) Key() []byte { return m.key }

func (m *indexIter) Error() error { return m.it.Error() }

func (m *indexIter) Close() error { return m.it.Close() }

// drainJournal writes the index entries of log num's journal values into the
// store and deletes the values, durably: what a crash left unflushed in a
// store written before the entries were made again from the records.
func drainJournal(db *pebble.DB, num uint32) (int, error) {
	rg := logRange(prefixJournal, num)
	lo, hi := rg[0], rg[1]
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var cs []*indexChunk
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, err
		}
		c, err := parseChunk(bytes.Clone(v))
		if err != nil {
			return 0, fmt.Errorf("%w at %x", err, it.Key())
		}
		cs = append(cs, c)
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	if len(cs) == 0 {
		return 0, nil
	}
	b := db.NewBatch()
	defer b.Close()
	n := 0
	mergeChunks(cs, func(k, v []byte) {
		b.Set(k, v, nil)
		n++
	})
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	return n, nil
}
