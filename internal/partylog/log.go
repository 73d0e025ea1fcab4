// Package partylog is a party's own append-only event log: validated events,
// stamped with a hybrid logical clock and salted, become leaves of an RFC 6962
// Merkle tree in Pebble. Events, tree hashes, indexes and a signed checkpoint
// are written in one atomic batch per group commit: concurrent appends share
// one fsync, and no append is acknowledged before its batch is durable. A
// failed fsync stops the write path for good; restart to recover from what
// is durable.
package partylog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/hlc"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Config configures a Log.
type Config struct {
	// Self is the party whose log this is. Its jurisdiction decides which
	// residencies the log admits.
	Self linkd.Party
	// SigningKey is the party's Ed25519 log key in signed-note form
	// (tlog.GenerateKey); its name must be linkd.LogOrigin(Self.ID).
	SigningKey string
	// Logger receives the log's messages. Nil discards them.
	Logger *slog.Logger
	// Now is the wall clock for HLC stamps. Nil means time.Now.
	Now func() time.Time
	// MaxGroupEvents caps the events one group commit takes from waiting
	// appends. Zero means 8192. A single append larger than this is still
	// committed whole.
	MaxGroupEvents int
	// LogNumber is the log's key namespace in the store. A node's own log is 0.
	LogNumber uint32
	// OnCommit, if set, is called after each group commit's fsync succeeded,
	// before its appends are answered. It runs on the write path: keep it to
	// a few counter updates, never I/O or locks held elsewhere.
	OnCommit func(CommitInfo)
}

// CommitInfo describes one durable group commit.
type CommitInfo struct {
	Events       int           // events the group appended (duplicates not counted)
	Requests     int           // Append calls the group answered
	SyncDuration time.Duration // time spent waiting for the fsync
	Size         int64         // the log's size after the group
}

// Log is one party's log. All methods are safe for concurrent use.
type Log struct {
	db       *pebble.DB
	self     linkd.Party
	origin   string
	num      uint32
	signer   tlog.Signer
	verifier tlog.Verifier
	vkey     string
	clock    *hlc.Clock
	logger   *slog.Logger
	maxGroup int
	onCommit func(CommitInfo)

	reqs    chan *request // unbuffered: a send succeeds only when the sequencer takes it
	synced  chan *group   // sequencer → syncer, in commit order
	closing chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once

	stopped atomic.Pointer[error] // set once when the write path stops

	mu         sync.RWMutex
	durable    int64            // guarded by mu: size of the durable tree
	checkpoint []byte           // guarded by mu: newest durable signed checkpoint
	cp         linkd.Checkpoint // guarded by mu: its parsed body

	// Owned by the sequencer goroutine.
	frontier *tlog.Frontier
	ids      *idFilter

	stats Stats
}

// Stats counts the log's work since Open.
type Stats struct {
	Events    atomic.Int64 // events appended (not counting duplicates)
	Batches   atomic.Int64 // group commits that wrote events
	SyncNanos atomic.Int64 // total time waiting for fsyncs
}

type request struct {
	events  []linkd.Event
	digests [][32]byte
	canon   [][]byte // canonical encodings with a zero HLC, patched by the sequencer
	acks    []linkd.Ack
	err     error
	done    chan struct{}
}

type group struct {
	synced chan struct{} // closed once sync has finished with this group
	reqs   []*request
	batch  *pebble.Batch // nil when the group wrote nothing
	size   int64
	note   []byte
	cp     linkd.Checkpoint
}

// Open opens the log in db, recovering its state from what is durable, and
// starts its write path. Close it before closing db.
func Open(db *pebble.DB, cfg Config) (*Log, error) {
	if err := cfg.Self.Validate(); err != nil {
		return nil, fmt.Errorf("open log: party: %w", err)
	}
	signer, err := tlog.NewSigner(cfg.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	origin := linkd.LogOrigin(cfg.Self.ID)
	if signer.Name() != origin {
		return nil, fmt.Errorf("open log: the signing key is named %q; party %s needs a key named %q", signer.Name(), cfg.Self.ID, origin)
	}
	vkey, err := tlog.PublicKey(cfg.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	verifier, err := tlog.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxGroup := cfg.MaxGroupEvents
	if maxGroup <= 0 {
		maxGroup = 8192
	}
	l := &Log{
		db: db, self: cfg.Self, origin: origin, num: cfg.LogNumber,
		signer: signer, verifier: verifier, vkey: vkey,
		logger:   logger.With("party", cfg.Self.ID),
		onCommit: cfg.OnCommit,
		maxGroup: maxGroup,
		reqs:     make(chan *request),
		synced:   make(chan *group, 8),
		closing:  make(chan struct{}),
	}
	lastHLC, err := l.recover()
	if err != nil {
		return nil, err
	}
	l.clock = hlc.New(cfg.Now, lastHLC)
	l.wg.Add(2)
	go l.sequence()
	go l.sync()
	l.logger.Info("log open", "log_size", l.durable, "origin", origin)
	return l, nil
}

// recover loads the durable state and checks that the stored tree matches the
// newest signed checkpoint.
func (l *Log) recover() (linkd.HLC, error) {
	meta, err := l.get(l.metaKey())
	if err != nil {
		return 0, fmt.Errorf("open log: read meta: %w", err)
	}
	if meta == nil {
		l.frontier = tlog.NewFrontier()
		l.ids = newIDFilter(0)
		return 0, nil
	}
	if err := mustLen(meta, 16, "log meta"); err != nil {
		return 0, fmt.Errorf("open log: %w", err)
	}
	size, last := be64(meta), linkd.HLC(binary.BigEndian.Uint64(meta[8:]))
	f, err := tlog.LoadFrontier(size, l.hashReader())
	if err != nil {
		return 0, fmt.Errorf("open log: %w", err)
	}
	root, err := f.Root()
	if err != nil {
		return 0, fmt.Errorf("open log: %w", err)
	}
	note, err := l.get(l.checkpointKey(size))
	if err != nil || note == nil {
		return 0, fmt.Errorf("open log: no checkpoint for size %d: the store is damaged (%v)", size, err)
	}
	cp, err := tlog.OpenCheckpoint(note, l.verifier)
	if err != nil {
		return 0, fmt.Errorf("open log: newest checkpoint: %w", err)
	}
	if cp.Size != size || cp.Hash != root {
		return 0, fmt.Errorf("open log: the stored tree (size %d, root %x) does not match the newest checkpoint (size %d, root %x): the store is damaged", size, root, cp.Size, cp.Hash)
	}
	l.frontier = f
	l.durable, l.checkpoint, l.cp = size, note, cp
	if err := l.loadIDs(size); err != nil {
		return 0, err
	}
	return last, nil
}

// loadIDs fills the id filter from the store's id index.
func (l *Log) loadIDs(size int64) error {
	l.ids = newIDFilter(int(size))
	lower := l.idKey("")
	upper := append([]byte(nil), lower...)
	upper[len(upper)-1]++
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("open log: load event ids: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		l.ids.Add(string(it.Key()[len(lower):]))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("open log: load event ids: %w", err)
	}
	return nil
}

// Close stops the write path after the appends already taken are durable and
// answered. Appends waiting to be taken get linkd.ErrClosed.
func (l *Log) Close() error {
	l.closeMu.Do(func() { close(l.closing) })
	l.wg.Wait()
	return nil
}

// Origin is the log's checkpoint origin.
func (l *Log) Origin() string { return l.origin }

// PublicKey is the log's verifier key in signed-note form.
func (l *Log) PublicKey() string { return l.vkey }

// Stats returns the log's counters.
func (l *Log) Stats() *Stats { return &l.stats }

// Append validates events as one batch and records them. It returns once
// every event is durable, with one Ack each in order. A batch with any invalid
// event is rejected whole (*linkd.ValidationError) and nothing is written. An
// event whose id is already recorded with the same content is acknowledged with
// its original index (Duplicate); with other content the whole batch fails
// with a conflict. If ctx ends first, the events may still be recorded:
// retry with the same event ids to learn their indexes.
func (l *Log) Append(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
	if err := l.stopErr(); err != nil {
		return nil, err
	}
	if err := linkd.CheckBatch(events, l.self); err != nil {
		return nil, err
	}
	r := &request{
		events:  make([]linkd.Event, len(events)),
		digests: make([][32]byte, len(events)),
		canon:   make([][]byte, len(events)),
		done:    make(chan struct{}),
	}
	derived := map[string]int{}
	for i := range events {
		e := events[i]
		e.Origin, e.HLC = l.self.ID, 0
		if e.EventID == "" {
			e.EventID = linkd.DeriveEventID(l.self.ID, &e)
			if j, ok := derived[e.EventID]; ok {
				return nil, &linkd.ValidationError{Problems: []linkd.Problem{{Field: field(len(events), i, "eventID"),
					Reason: fmt.Sprintf("repeats events[%d] exactly; give each event an eventID if both are meant", j)}}}
			}
			derived[e.EventID] = i
		}
		r.events[i] = e
		r.digests[i] = linkd.ContentDigest(&e)
		r.canon[i] = linkd.AppendCanonical(make([]byte, 0, 1024), &e)
		if len(r.canon[i]) > linkd.MaxEventBytes {
			return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("event %d encodes to %d bytes; at most %d", i, len(r.canon[i]), linkd.MaxEventBytes)}
		}
	}
	select {
	case l.reqs <- r:
	case <-l.closing:
		return nil, linkd.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.acks, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Log) stopErr() error {
	if p := l.stopped.Load(); p != nil {
		return *p
	}
	return nil
}

// stop ends the write path for good after a storage failure.
func (l *Log) stop(cause error) {
	err := error(&linkd.Error{Code: linkd.EUnavailable, Message: linkd.ErrWriteStopped.Message, Err: cause})
	if l.stopped.CompareAndSwap(nil, &err) {
		l.mu.RLock()
		size := l.durable
		l.mu.RUnlock()
		l.logger.Error("write path stopped: storage failed; nothing more will be acknowledged until restart",
			"err", cause, "durable_size", size)
	}
}

// sequence takes appends, groups those that wait, and writes each group as one
// batch in log order. It hands every group to sync in the same order.
func (l *Log) sequence() {
	defer l.wg.Done()
	defer close(l.synced)
	var prev *group // the group handed to sync before this one
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.closing:
			return
		}
		g := &group{reqs: []*request{first}, synced: make(chan struct{})}
		n := len(first.events)
	drain:
		for n < l.maxGroup {
			select {
			case r := <-l.reqs:
				g.reqs = append(g.reqs, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		l.commit(g, n, prev)
		l.synced <- g
		prev = g
	}
}

// pendingID is an id written by the current group, not yet visible in the store.
type pendingID struct {
	index  int64
	digest [32]byte
	leaf   tlog.Hash
}

// commit assigns indexes, stamps, salts and tree hashes to a group's new
// events and applies its batch to the store without waiting for the fsync.
func (l *Log) commit(g *group, n int, prev *group) {
	if err := l.stopErr(); err != nil {
		for _, r := range g.reqs {
			r.err = err
		}
		return
	}
	salts := make([]byte, n*linkd.SaltSize)
	if _, err := rand.Read(salts); err != nil {
		l.stop(fmt.Errorf("read salts: %w", err))
		for _, r := range g.reqs {
			r.err = l.stopErr()
		}
		return
	}
	w := &writeSet{buf: make([]byte, 0, n*1400), kvs: make([]kvRef, 0, n*11)}
	pending := make(map[string]pendingID, n)
	start := l.frontier.Size()
	var last linkd.HLC
	for _, r := range g.reqs {
		isNew, err := l.check(r, pending)
		if err != nil {
			r.err = err
			continue
		}
		for i := range r.events {
			e := &r.events[i]
			if !isNew[i] {
				continue // acks filled by check
			}
			idx := l.frontier.Size()
			e.HLC = l.clock.Now()
			last = e.HLC
			canon := r.canon[i]
			binary.BigEndian.PutUint64(canon[len(canon)-8:], uint64(e.HLC))
			salt := salts[:linkd.SaltSize:linkd.SaltSize]
			salts = salts[linkd.SaltSize:]
			leaf := tlog.Hash(linkd.LeafHash(linkd.Commitment(canon, salt)))
			leafIndex := tlog.StoredHashIndex(0, idx)
			if err := l.frontier.Append(leaf, func(x int64, h tlog.Hash) {
				if x != leafIndex { // the leaf hash heads the event record
					w.put(l.hashKey(x), h[:])
				}
			}); err != nil {
				l.stop(err)
				break
			}
			rec := make([]byte, 0, recordHeader+len(canon))
			rec = append(append(append(rec, leaf[:]...), salt...), canon...)
			w.put(l.eventKey(idx), rec)
			var idv [40]byte
			binary.BigEndian.PutUint64(idv[:8], uint64(idx))
			copy(idv[8:], r.digests[i][:])
			w.put(l.idKey(e.EventID), idv[:])
			t := timeKey(e.EventDateTime.Time)
			for _, ie := range indexEntries(e) {
				w.put(appendPosition(indexPrefix(ie.ix, ie.value), t, l.num, idx), nil)
			}
			pending[e.EventID] = pendingID{idx, r.digests[i], leaf}
			l.ids.Add(e.EventID)
			r.acks[i] = linkd.Ack{EventID: e.EventID, LogIndex: idx, LeafHash: base64.StdEncoding.EncodeToString(leaf[:])}
		}
	}
	if err := l.stopErr(); err != nil {
		for _, r := range g.reqs {
			r.err = err
		}
		return
	}
	size := l.frontier.Size()
	if size == start {
		return // only duplicates and rejections: answered in order by sync
	}
	root, err := l.frontier.Root()
	if err == nil {
		g.cp = linkd.Checkpoint{Origin: l.origin, Size: size, Hash: root}
		g.note, err = tlog.SignCheckpoint(g.cp, l.signer)
	}
	if err != nil {
		l.stop(err)
		for _, r := range g.reqs {
			r.err = l.stopErr()
		}
		return
	}
	w.put(l.checkpointKey(size), g.note)
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], uint64(size))
	binary.BigEndian.PutUint64(meta[8:], uint64(last))
	w.put(l.metaKey(), meta[:])
	b := l.db.NewBatchWithSize(len(w.buf) + 16*len(w.kvs))
	w.apply(b)
	// This group was prepared while the previous one was being fsynced; it
	// goes to the store only once that fsync succeeded. After a failed fsync
	// nothing more reaches Pebble, whose WAL is then unusable.
	if prev != nil {
		<-prev.synced
	}
	if err := l.stopErr(); err != nil {
		b.Close()
		for _, r := range g.reqs {
			r.err = err
		}
		return
	}
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		l.stop(fmt.Errorf("apply batch: %w", err))
		for _, r := range g.reqs {
			r.err = l.stopErr()
		}
		return
	}
	g.batch, g.size = b, size
	l.stats.Events.Add(size - start)
	l.stats.Batches.Add(1)
}

// check looks up every event id of r in the store and in the current group.
// It fills the acks of duplicates and returns which events are new, or the
// error that rejects r whole.
func (l *Log) check(r *request, pending map[string]pendingID) ([]bool, error) {
	isNew := make([]bool, len(r.events))
	r.acks = make([]linkd.Ack, len(r.events))
	var conflicts []linkd.Problem
	inRequest := make(map[string]bool, len(r.events))
	for i := range r.events {
		e := &r.events[i]
		idx, digest, found, err := l.lookupID(e.EventID, pending)
		if err != nil {
			return nil, err
		}
		switch {
		case !found:
			isNew[i] = true
		case digest == r.digests[i]:
			leaf, err := l.leafHash(e.EventID, idx, pending)
			if err != nil {
				return nil, err
			}
			r.acks[i] = linkd.Ack{EventID: e.EventID, LogIndex: idx, LeafHash: base64.StdEncoding.EncodeToString(leaf[:]), Duplicate: true}
		default:
			conflicts = append(conflicts, linkd.Problem{Field: field(len(r.events), i, "eventID"),
				Reason: fmt.Sprintf("%s is already recorded at log index %d with different content; a correction is a new event that supersedes it", e.EventID, idx)})
		}
		for _, ref := range []struct{ name, id string }{{"retractedEventID", e.RetractedEventID}, {"supersedesEventID", e.SupersedesEventID}} {
			if ref.id == "" || inRequest[ref.id] {
				continue
			}
			if _, _, ok, err := l.lookupID(ref.id, pending); err != nil {
				return nil, err
			} else if !ok {
				return nil, &linkd.ValidationError{Problems: []linkd.Problem{{Field: field(len(r.events), i, ref.name),
					Reason: fmt.Sprintf("no event %s in %s's log: a party can only correct events it recorded", ref.id, l.self.ID)}}}
			}
		}
		inRequest[e.EventID] = true
	}
	if len(conflicts) > 0 {
		msgs := make([]string, len(conflicts))
		for i, p := range conflicts {
			msgs[i] = p.String()
		}
		return nil, &linkd.Error{Code: linkd.EConflict, Message: strings.Join(msgs, "; ")}
	}
	return isNew, nil
}

func field(n, i int, name string) string {
	if n == 1 {
		return name
	}
	return fmt.Sprintf("events[%d].%s", i, name)
}

func (l *Log) lookupID(id string, pending map[string]pendingID) (int64, [32]byte, bool, error) {
	if p, ok := pending[id]; ok {
		return p.index, p.digest, true, nil
	}
	if pending != nil && !l.ids.MayContain(id) {
		return 0, [32]byte{}, false, nil // the sequencer's filter holds every id written
	}
	v, err := l.get(l.idKey(id))
	if err != nil {
		return 0, [32]byte{}, false, fmt.Errorf("look up event id: %w", err)
	}
	if v == nil {
		return 0, [32]byte{}, false, nil
	}
	if err := mustLen(v, 40, "event id entry"); err != nil {
		return 0, [32]byte{}, false, err
	}
	var d [32]byte
	copy(d[:], v[8:])
	return be64(v), d, true, nil
}

func (l *Log) leafHash(id string, idx int64, pending map[string]pendingID) (tlog.Hash, error) {
	if p, ok := pending[id]; ok {
		return p.leaf, nil
	}
	hs, err := l.hashReader().ReadHashes([]int64{tlog.StoredHashIndex(0, idx)})
	if err != nil {
		return tlog.Hash{}, err
	}
	return hs[0], nil
}

// sync waits for each group's fsync in commit order, publishes the new durable
// size and checkpoint, and answers the group's appends.
func (l *Log) sync() {
	defer l.wg.Done()
	for g := range l.synced {
		if g.batch != nil {
			t0 := time.Now()
			err := g.batch.SyncWait()
			took := time.Since(t0)
			l.stats.SyncNanos.Add(int64(took))
			g.batch.Close()
			if err != nil {
				l.stop(fmt.Errorf("fsync: %w", err))
			} else if l.stopErr() == nil {
				l.mu.Lock()
				prev := l.durable
				l.durable, l.checkpoint, l.cp = g.size, g.note, g.cp
				l.mu.Unlock()
				if l.onCommit != nil {
					l.onCommit(CommitInfo{Events: int(g.size - prev), Requests: len(g.reqs), SyncDuration: took, Size: g.size})
				}
			}
		}
		close(g.synced)
		stopErr := l.stopErr()
		for _, r := range g.reqs {
			if r.err == nil && stopErr != nil {
				r.err, r.acks = stopErr, nil
			}
			if r.err != nil {
				r.acks = nil
			}
			close(r.done)
		}
	}
	// The sequencer has exited; answer anyone who slipped in.
	for {
		select {
		case r := <-l.reqs:
			r.err = linkd.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// get returns a copy of the value at key, or nil when absent.
func (l *Log) get(key []byte) ([]byte, error) {
	v, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// hashReader reads stored tree hashes.
func (l *Log) hashReader() tlog.HashReader { return hashReader{l} }

type hashReader struct{ l *Log }

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		key := r.l.hashKey(x)
		if level, n := tlog.SplitStoredHashIndex(x); level == 0 {
			key = r.l.eventKey(n) // leaf hashes head the event records
		}
		v, closer, err := r.l.db.Get(key)
		if err != nil {
			return nil, fmt.Errorf("read tree hash %d: %w", x, err)
		}
		if len(v) < len(tlog.Hash{}) || (key[0] == prefixHash && len(v) != len(tlog.Hash{})) {
			closer.Close()
			return nil, fmt.Errorf("read tree hash %d: corrupt value of %d bytes", x, len(v))
		}
		copy(out[i][:], v[:len(tlog.Hash{})])
		closer.Close()
	}
	return out, nil
}
