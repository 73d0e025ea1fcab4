// Package partylog is a party's own append-only event log: validated events,
// stamped with a hybrid logical clock and salted, become leaves of an RFC 6962
// Merkle tree in Pebble. Events, tree hashes, indexes and a signed checkpoint
// are written in one atomic batch per group commit: concurrent appends share
// one fsync, and no append is acknowledged before its batch is durable. A
// failed fsync stops the write path for good; restart to recover from what
// is durable.
package partylog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
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
	// OnCommit, if not nil, is called after each group commit's fsync
	// succeeded, before the group's appends are answered. A group that wrote
	// nothing (only duplicates or rejected appends) has no fsync and no call.
	// It runs on the syncer goroutine, so the group's acknowledgements and
	// every later group wait for it: keep it to a few counter updates, never
	// I/O or a lock held for long elsewhere. Nil means no callback.
	OnCommit func(CommitInfo)
	// KeepEntries hands each group's new entries to OnCommit
	// (CommitInfo.Entries), events decoded, so that whoever reads the newest
	// entries next (the node's feed, its link senders) takes them from
	// memory rather than reading and decoding them from the store again.
	// Append then keeps a copy of each event it is given.
	KeepEntries bool
	// Sealer, if not nil, encrypts the records of events that belong to a
	// shipment under the shipment's key, so erasing the shipment destroys
	// them here (crypto-shredding). Appends of an erased shipment's events
	// are refused. Nil keeps every record in the clear.
	Sealer Sealer
}

// CommitInfo describes one durable group commit.
type CommitInfo struct {
	Events       int           // events the group appended (duplicates not counted)
	Requests     int           // Append calls the group answered, including rejected ones and duplicates
	SyncDuration time.Duration // time spent waiting for the fsync
	Size         int64         // the log's size after the group
	// Entries are the group's new entries in log order, the last at index
	// Size-1, when Config.KeepEntries is set; nil otherwise. They are
	// shared: never modify them.
	Entries []NewEntry
}

// NewEntry is one entry a group commit added: its index, leaf, salt and
// canonical encoding, and the event as recorded (stamped with its origin and
// clock). Salt, Canon and Event are nil for an entry stored as its
// commitment only.
type NewEntry struct {
	RawEntry
	Event *linkd.Event
}

// Log is one party's log. All methods are safe for concurrent use.
type Log struct {
	space
	self     linkd.Party
	origin   string
	signer   tlog.Signer
	verifier tlog.Verifier
	vkey     string
	clock    *hlc.Clock
	logger   *slog.Logger
	maxGroup int
	onCommit func(CommitInfo)
	keep     bool // Config.KeepEntries

	reqs    chan *request      // queued appends; the sequencer takes each (request.state) or skips it if abandoned
	spare   chan *pebble.Batch // synced batches for reuse
	synced  chan *group        // sequencer → syncer, in commit order
	closing chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once

	stopped atomic.Pointer[error] // set once when the write path stops

	mu         sync.RWMutex
	durable    int64            // guarded by mu: size of the durable tree
	checkpoint []byte           // guarded by mu: newest durable signed checkpoint
	cp         linkd.Checkpoint // guarded by mu: its parsed body

	// Owned by the sequencer goroutine.
	frontier  *tlog.Frontier
	ids       *idFilter
	ws        writeSet             // the group being built
	pending   map[string]pendingID // ids the group being built writes
	salts     []byte               // the group's salts
	isNew     []bool               // scratch for check
	groupKeys keySet               // the group's shipment keys

	stats Stats

	repl *replication // nil for a single node; see OpenReplicated
}

// Stats counts the log's work since Open.
type Stats struct {
	Events    atomic.Int64 // events appended (not counting duplicates)
	Batches   atomic.Int64 // group commits that wrote events
	SyncNanos atomic.Int64 // total time waiting for fsyncs
}

type request struct {
	events    []entry
	acks      []linkd.Ack
	err       error
	done      chan struct{}
	committed func([]linkd.Ack) // see AppendNotify; nil for none
	state     atomic.Int32      // queued, taken or abandoned: who won, the sequencer or the caller's ctx
}

// A request's states. Whichever of the sequencer and a caller giving up
// moves a request out of queued decides whether it is written.
const (
	queued int32 = iota
	taken
	abandoned
)

// queuedAppends is how many appends may wait for the sequencer. The queue
// is buffered so that taking an append wakes no one: a goroutine woken takes
// its processor's next turn and sends the one woken before it to the back of
// the queue, and the one woken before is Pebble's WAL writer, which the
// sequencer's apply has just woken to write and fsync a group.
const queuedAppends = 1024

// take claims r for the group being formed; false if its caller gave up.
func (r *request) take() bool { return r.state.CompareAndSwap(queued, taken) }

// entry is what the sequencer needs of one event: its canonical encoding and
// the fields it is checked and filed under. Append copies these out of the
// caller's events, which the caller may reuse as soon as Append returns, even
// when that is before the sequencer is done (a cancelled ctx).
type entry struct {
	canon                  []byte // canonical encoding with a zero HLC, patched by the sequencer
	id                     string
	retracted, supersedes  string
	booking, bl, container string
	typ                    linkd.EventType
	code, location         string
	t                      uint64       // timeKey of the event time
	key                    string       // the shipment key its record is sealed under (Config.Sealer); "" for none
	ev                     *linkd.Event // a copy of the event, with Config.KeepEntries; nil otherwise
}

// newEntry makes the entry of e, whose canonical encoding is canon.
func newEntry(e *linkd.Event, canon []byte) entry {
	return entry{
		canon: canon,
		id:    e.EventID, retracted: e.RetractedEventID, supersedes: e.SupersedesEventID,
		booking: e.CarrierBookingReference, bl: e.TransportDocumentReference, container: e.EquipmentReference,
		typ: e.EventType, code: eventCode(e), location: eventLocation(e), t: timeKey(e.EventDateTime.Time),
	}
}

type group struct {
	synced  chan struct{} // closed once sync has finished with this group
	applied chan struct{} // closed once commit has finished with it
	handed  bool          // sent to sync
	reqs    []*request
	batch   *pebble.Batch // nil when the group wrote nothing
	size    int64
	note    []byte
	cp      linkd.Checkpoint
	bound   []string   // shipment keys whose bindings the batch carries
	added   []NewEntry // with Config.KeepEntries
}

// Open opens the log in db, recovering its state from what is durable, and
// starts its write path. Close it before closing db.
func Open(db *pebble.DB, cfg Config) (*Log, error) {
	start := time.Now()
	l, err := open(db, cfg)
	if err != nil {
		return nil, err
	}
	l.wg.Add(2)
	go l.sequence()
	go l.sync()
	l.logger.Info("log open", "log_size", l.durable, "origin", l.origin, "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// open makes the log and recovers its durable state without starting a
// write path: Open starts the single node's, OpenReplicated a cluster
// member's.
func open(db *pebble.DB, cfg Config) (*Log, error) {
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
		space: space{db: db, num: cfg.LogNumber, sealer: cfg.Sealer, own: true}, self: cfg.Self, origin: origin,
		signer: signer, verifier: verifier, vkey: vkey,
		logger:   logger.With("party", cfg.Self.ID),
		onCommit: cfg.OnCommit,
		keep:     cfg.KeepEntries,
		maxGroup: maxGroup,
		reqs:     make(chan *request, queuedAppends),
		synced:   make(chan *group, 8),
		spare:    make(chan *pebble.Batch, 2),
		closing:  make(chan struct{}),
	}
	l.ix = newPendingIndex(db, l.logger)
	lastHLC, err := l.recover()
	if err != nil {
		l.ix.close()
		return nil, err
	}
	l.clock = hlc.New(cfg.Now, lastHLC)
	return l, nil
}

// recover loads the durable state and checks that the stored tree matches the
// newest signed checkpoint.
func (l *Log) recover() (linkd.HLC, error) {
	if n, err := drainJournal(l.db, l.num); err != nil {
		return 0, fmt.Errorf("open log: write the index entries a crash left in the journal: %w", err)
	} else if n > 0 {
		l.logger.Info("wrote the index entries left in the journal", "entries", n)
	}
	meta, err := l.get(l.metaKey())
	if err != nil {
		return 0, fmt.Errorf("open log: read meta: %w", err)
	}
	if meta == nil {
		if _, err := l.rebuildIndex(0, l.logger); err != nil {
			return 0, fmt.Errorf("open log: %w", err)
		}
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
	if n, err := l.rebuildIndex(size, l.logger); err != nil {
		return 0, fmt.Errorf("open log: make the index entries a crash left unwritten: %w", err)
	} else if n > 0 {
		l.logger.Info("made the index entries a crash left unwritten, from the event records", "events", n)
	}
	if err := l.loadIDs(size); err != nil {
		return 0, err
	}
	return last, nil
}

// loadIDs fills the id filter from the store's id index: at ten million
// events most of opening a log. One goroutine a processor, at most
// maxIDReaders, reads a range of the index (idRanges) into the filter
// through a filler of its own, which adds the ids in the order of the
// filter's blocks.
func (l *Log) loadIDs(size int64) error {
	lower, upper := l.idBounds()
	return l.fillIDs(size, idRanges(l.db, lower, upper, min(runtime.GOMAXPROCS(0), maxIDReaders)))
}

// maxIDReaders bounds the goroutines that read the id index at open: each
// holds 4 MiB of hashes, and a machine with many processors gains little
// from more than a few once the reading takes well under a second.
const maxIDReaders = 4

// idBounds returns the bounds of the log's id index.
func (l *Log) idBounds() (lower, upper []byte) {
	lower = l.idKey("")
	upper = append([]byte(nil), lower...)
	upper[len(upper)-1]++
	return lower, upper
}

// fillIDs makes a filter for size ids and fills it from the id index's
// keys in ranges, which must cover the index, one goroutine a range.
func (l *Log) fillIDs(size int64, ranges [][2][]byte) error {
	l.ids = newIDFilter(int(size))
	prefix := len(l.idKey(""))
	counts := make([]int, len(ranges))
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for i, r := range ranges {
		wg.Go(func() { counts[i], errs[i] = l.loadIDRange(r[0], r[1], prefix) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("open log: load event ids: %w", err)
	}
	for _, n := range counts {
		l.ids.filled(n)
	}
	return nil
}

// loadIDRange adds the ids of the id index's keys in [lower, upper), each
// after its prefix of prefix bytes, and returns how many it added.
func (l *Log) loadIDRange(lower, upper []byte, prefix int) (int, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	w := l.ids.filler()
	for ok := it.First(); ok; ok = it.Next() {
		w.AddBytes(it.Key()[prefix:])
	}
	return w.Done(), errors.Join(it.Error(), it.Close())
}

// idRanges splits [lower, upper) into at most n ranges, in order, that hold
// about equal bytes of the store's tables, for n readers to read at once.
// Keys still in a memtable fall wherever their keys do. On a store too
// small to split, or one that cannot list its tables, it is one range.
func idRanges(db *pebble.DB, lower, upper []byte, n int) [][2][]byte {
	whole := [][2][]byte{{lower, upper}}
	if n < 2 {
		return whole
	}
	levels, err := db.SSTables(pebble.WithKeyRangeFilter(lower, upper))
	if err != nil {
		return whole
	}
	type table struct {
		start []byte
		size  uint64
	}
	var tables []table
	var total uint64
	for _, level := range levels {
		for _, t := range level {
			start := lower
			if bytes.Compare(t.Smallest.UserKey, lower) > 0 {
				start = slices.Clone(t.Smallest.UserKey)
			}
			tables = append(tables, table{start, t.Size})
			total += t.Size
		}
	}
	slices.SortFunc(tables, func(a, b table) int { return bytes.Compare(a.start, b.start) })
	ranges := make([][2][]byte, 0, n)
	from, sum := lower, uint64(0)
	for _, t := range tables {
		if len(ranges) == n-1 {
			break
		}
		// A range ends where the table starts that takes the bytes before
		// it to the next share of the total.
		if sum >= total/uint64(n)*uint64(len(ranges)+1) && bytes.Compare(t.start, from) > 0 {
			ranges = append(ranges, [2][]byte{from, t.start})
			from = t.start
		}
		sum += t.size
	}
	return append(ranges, [2][]byte{from, upper})
}

// Close stops the write path after the appends already taken are durable and
// answered. Appends waiting to be taken get linkd.ErrClosed.
func (l *Log) Close() error {
	l.closeMu.Do(func() { close(l.closing) })
	l.wg.Wait()
	l.ix.close()
	for {
		select {
		case b := <-l.spare:
			b.Close()
		default:
			return nil
		}
	}
}

// Origin is the log's checkpoint origin.
func (l *Log) Origin() string { return l.origin }

// PublicKey is the log's verifier key in signed-note form.
func (l *Log) PublicKey() string { return l.vkey }

// Verifier verifies the log's checkpoint signatures.
func (l *Log) Verifier() tlog.Verifier { return l.verifier }

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
	return l.AppendNotify(ctx, events, nil)
}

// AppendNotify is Append that also calls committed with the acks once the
// batch is durable, on the log's commit goroutine and before OnCommit, so
// before anyone told of the commit (a link sender) can read the events.
// committed must return quickly; it is not called for a rejected batch.
func (l *Log) AppendNotify(ctx context.Context, events []linkd.Event, committed func([]linkd.Ack)) ([]linkd.Ack, error) {
	if err := l.stopErr(); err != nil {
		return nil, err
	}
	if err := linkd.CheckBatch(events, l.self); err != nil {
		return nil, err
	}
	r := &request{events: make([]entry, len(events)), done: make(chan struct{}), committed: committed}
	// One buffer holds the canonical encodings of the request's events.
	buf := make([]byte, 0, len(events)*canonGuess)
	var derived map[string]int
	// A copy of each event in turn, since the canonical encoding carries this
	// log's origin; one for the request, as the sealer's KeyID makes it
	// escape.
	e := new(linkd.Event)
	for i := range events {
		*e = events[i]
		e.Origin, e.HLC = l.self.ID, 0
		start := len(buf)
		// An event without an id gets DeriveEventID's, from the encoding
		// the log keeps rather than one of its own.
		buf, e.EventID = linkd.AppendCanonicalID(buf, e)
		if events[i].EventID == "" {
			if derived == nil {
				derived = make(map[string]int)
			}
			if j, ok := derived[e.EventID]; ok {
				return nil, &linkd.ValidationError{Problems: []linkd.Problem{{Field: field(len(events), i, "eventID"),
					Reason: fmt.Sprintf("repeats events[%d] exactly; give each event an eventID if both are meant", j)}}}
			}
			derived[e.EventID] = i
		}
		if n := len(buf) - start; n > linkd.MaxEventBytes {
			return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("event %d encodes to %d bytes; at most %d", i, n, linkd.MaxEventBytes)}
		}
		// If buf moves later, canon keeps the old array, which nothing writes again.
		r.events[i] = newEntry(e, buf[start:len(buf):len(buf)])
		if l.sealer != nil {
			r.events[i].key = l.sealer.KeyID(e)
		}
		if l.keep {
			c := e.Clone() // the caller may reuse its events once Append returns
			r.events[i].ev = &c
		}
	}
	if ctx.Err() != nil {
		return nil, gaveUp(ctx, false)
	}
	select {
	case l.reqs <- r:
	case <-l.closing:
		return nil, linkd.ErrClosed
	case <-ctx.Done():
		return nil, gaveUp(ctx, false)
	}
	select {
	case <-r.done:
		return r.acks, r.err
	case <-l.closing:
		// The sequencer may have stopped taking appends.
		if r.state.CompareAndSwap(queued, abandoned) {
			return nil, linkd.ErrClosed
		}
	case <-ctx.Done():
		// Not taken yet: it never will be, and nothing is written.
		if r.state.CompareAndSwap(queued, abandoned) {
			return nil, gaveUp(ctx, false)
		}
		return nil, gaveUp(ctx, true)
	}
	// Taken: its group is answered, closing or not.
	select {
	case <-r.done:
		return r.acks, r.err
	case <-ctx.Done():
		return nil, gaveUp(ctx, true)
	}
}

// gaveUp is the error of an append whose caller stopped waiting: an
// unavailable error a client can act on (it wraps ctx's error for errors.Is).
func gaveUp(ctx context.Context, taken bool) error {
	msg := "the append was not taken before the request ended; nothing was recorded"
	if taken {
		msg = "the request ended before the append was durable; it may still be recorded: send the same events again to learn their indexes"
	}
	return &linkd.Error{Code: linkd.EUnavailable, Message: msg, Err: ctx.Err()}
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
		l.ix.halt()
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
		if !first.take() {
			continue
		}
		g := &group{reqs: []*request{first}, synced: make(chan struct{}), applied: make(chan struct{})}
		n := len(first.events)
	drain:
		for n < l.maxGroup {
			select {
			case r := <-l.reqs:
				if r.take() {
					g.reqs = append(g.reqs, r)
					n += len(r.events)
				}
			default:
				break drain
			}
		}
		l.commit(g, n, prev)
		if !g.handed {
			l.synced <- g
		}
		prev = g
	}
}

// canonGuess is a first guess at an event's canonical size, to size buffers.
const canonGuess = 512

// pendingID is an id written by the current group, not yet visible in the store.
type pendingID struct {
	index int64
	leaf  tlog.Hash
	canon []byte // for comparing content, rarely needed
}

// failGroup answers every append of g with err.
func failGroup(g *group, err error) {
	for _, r := range g.reqs {
		r.err = err
	}
}

// commit assigns indexes, stamps, salts and tree hashes to a group's new
// events and applies its batch to the store without waiting for the fsync.
func (l *Log) commit(g *group, n int, prev *group) {
	defer close(g.applied)
	if err := l.stopErr(); err != nil {
		failGroup(g, err)
		return
	}
	l.salts = slices.Grow(l.salts[:0], n*linkd.SaltSize)[:n*linkd.SaltSize]
	salts := l.salts
	if l.keep {
		salts = make([]byte, n*linkd.SaltSize) // OnCommit's entries keep theirs
	}
	if _, err := rand.Read(salts); err != nil {
		l.stop(fmt.Errorf("read salts: %w", err))
		failGroup(g, l.stopErr())
		return
	}
	w := &l.ws
	w.reset()
	if l.pending == nil {
		l.pending = make(map[string]pendingID, n)
	}
	pending := l.pending
	clear(pending)
	defer clear(pending) // drop the references to this group's events
	start := l.frontier.Size()
	destroyed, err := l.ensureKeys(g.reqs, &l.groupKeys)
	if err != nil {
		l.stop(err)
		failGroup(g, l.stopErr())
		return
	}
	var last linkd.HLC
	for _, r := range g.reqs {
		if err := erasedIn(r.events, destroyed); err != nil {
			r.err = err
			continue
		}
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
			hlc := l.clock.Now()
			last = hlc
			binary.BigEndian.PutUint64(e.canon[len(e.canon)-8:], uint64(hlc))
			salt := salts[:linkd.SaltSize:linkd.SaltSize]
			salts = salts[linkd.SaltSize:]
			leaf := tlog.Hash(linkd.LeafHash(linkd.Commitment(e.canon, salt)))
			leafIndex := tlog.StoredHashIndex(0, idx)
			if err := l.frontier.Append(leaf, func(x int64, h tlog.Hash) {
				if x != leafIndex { // the leaf hash heads the event record
					w.hash(x, h)
				}
			}); err != nil {
				l.stop(err)
				break
			}
			w.event(e, idx, leaf, salt)
			if e.ev != nil {
				e.ev.HLC = hlc
				g.added = append(g.added, NewEntry{RawEntry{Index: idx, Leaf: leaf, Salt: salt, Canon: e.canon}, e.ev})
			}
			pending[e.id] = pendingID{idx, leaf, e.canon}
			l.ids.Add(e.id)
			r.acks[i] = linkd.Ack{EventID: e.id, LogIndex: idx, LeafHash: base64.StdEncoding.EncodeToString(leaf[:])}
		}
	}
	if err := l.stopErr(); err != nil {
		failGroup(g, err)
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
		failGroup(g, l.stopErr())
		return
	}
	erased, err := w.seal(l.sealer, true) // ensureKeys made the keys
	if err != nil {
		l.stop(err)
		failGroup(g, l.stopErr())
		return
	}
	for _, x := range erased {
		// Stored as its commitment only (its key was destroyed meanwhile).
		if i := x - start; i >= 0 && i < int64(len(g.added)) {
			g.added[i].Salt, g.added[i].Canon, g.added[i].Event = nil, nil, nil
		}
	}
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], uint64(size))
	binary.BigEndian.PutUint64(meta[8:], uint64(last))
	b := l.newBatch(w.size + 2*opOverhead + 13 + len(g.note) + len(meta))
	chunk := w.write(b, &l.space, size, g.note, meta[:])
	g.bound = w.bound
	// This group was prepared while the previous one was being fsynced; it
	// goes to the store only once that fsync succeeded. After a failed fsync
	// nothing more reaches Pebble, whose WAL is then unusable.
	if prev != nil {
		<-prev.synced
	}
	if err := l.stopErr(); err != nil {
		b.Close()
		failGroup(g, err)
		return
	}
	// Handed to sync before the batch goes to Pebble, whose WAL writer
	// the apply wakes: a goroutine woken takes its processor's next turn
	// and sends the one woken before it to the back of the queue. The
	// fsync should start as soon as the sequencer waits; sync, which has
	// nothing to do until the fsync ends, can wait its turn meanwhile.
	g.handed = true
	l.synced <- g
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		l.stop(fmt.Errorf("apply batch: %w", err))
		failGroup(g, l.stopErr())
		return
	}
	// Published before the fsync: reads see no event beyond the durable
	// size, and the acks wait for the fsync.
	if err := l.ix.publish(chunk); err != nil {
		l.stop(fmt.Errorf("index: %w", err))
	}
	g.batch, g.size = b, size
	l.stats.Events.Add(size - start)
	l.stats.Batches.Add(1)
}

// newBatch returns an empty batch for about size bytes, reusing one that an
// earlier group left if there is one.
func (l *Log) newBatch(size int) *pebble.Batch {
	select {
	case b := <-l.spare:
		return b
	default:
		return l.db.NewBatchWithSize(size, pebble.WithMaxRetainedSizeBytes(maxRetainedBatch))
	}
}

// releaseBatch keeps a synced batch for a later group, or closes it.
func (l *Log) releaseBatch(b *pebble.Batch) {
	b.Reset()
	select {
	case l.spare <- b:
	default:
		b.Close()
	}
}

// maxRetainedBatch is the largest batch buffer kept for reuse; a full group
// of 8,192 events takes about 8 MiB. Reusing batches spares the garbage
// collector a large allocation per group.
const maxRetainedBatch = 16 << 20

// check looks up every event id of r in the store and in the current group.
// It fills the acks of duplicates and returns which events are new, or the
// error that rejects r whole. The result is valid until the next call.
func (l *Log) check(r *request, pending map[string]pendingID) ([]bool, error) {
	isNew := slices.Grow(l.isNew[:0], len(r.events))[:len(r.events)]
	l.isNew = isNew
	clear(isNew)
	r.acks = make([]linkd.Ack, len(r.events))
	var conflicts []linkd.Problem
	var earlier map[string]bool // ids of r's events before the one checked, once one names another
	for i := range r.events {
		e := &r.events[i]
		hit, found, err := l.lookupID(e.id, pending)
		if err != nil {
			return nil, err
		}
		if !found {
			isNew[i] = true
		} else if same, err := l.sameContent(e, hit); err != nil {
			return nil, err
		} else if same {
			leaf, err := l.leafHash(hit)
			if err != nil {
				return nil, err
			}
			r.acks[i] = linkd.Ack{EventID: e.id, LogIndex: hit.index, LeafHash: base64.StdEncoding.EncodeToString(leaf[:]), Duplicate: true}
		} else {
			conflicts = append(conflicts, linkd.Problem{Field: field(len(r.events), i, "eventID"),
				Reason: fmt.Sprintf("%s is already recorded at log index %d with different content; a correction is a new event that supersedes it", e.id, hit.index)})
		}
		if (e.retracted != "" || e.supersedes != "") && earlier == nil {
			earlier = make(map[string]bool, i+1)
			for j := range i {
				earlier[r.events[j].id] = true
			}
		}
		for _, ref := range []struct{ name, id string }{{"retractedEventID", e.retracted}, {"supersedesEventID", e.supersedes}} {
			if ref.id == "" || earlier[ref.id] {
				continue
			}
			if _, ok, err := l.lookupID(ref.id, pending); err != nil {
				return nil, err
			} else if !ok {
				return nil, &linkd.ValidationError{Problems: []linkd.Problem{{Field: field(len(r.events), i, ref.name),
					Reason: fmt.Sprintf("no event %s in %s's log: a party can only correct events it recorded", ref.id, l.self.ID)}}}
			}
		}
		if earlier != nil {
			earlier[e.id] = true
		}
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

// idHit is where an event id is recorded.
type idHit struct {
	index   int64
	digest  *[32]byte // the content digest, if the id entry stores one (older stores)
	inGroup bool      // whether the current group wrote the id
	pending pendingID // the group's entry, if it did
}

// lookupID finds id in the current group (pending; nil outside the
// sequencer) or the store.
func (l *Log) lookupID(id string, pending map[string]pendingID) (idHit, bool, error) {
	if p, ok := pending[id]; ok {
		return idHit{index: p.index, inGroup: true, pending: p}, true, nil
	}
	if pending != nil && !l.ids.MayContain(id) {
		return idHit{}, false, nil // the sequencer's filter holds every id written
	}
	v, err := l.getIndexed(l.idKey(id))
	if err != nil {
		return idHit{}, false, fmt.Errorf("look up event id: %w", err)
	}
	switch len(v) {
	case 0:
		return idHit{}, false, nil // l.get's nil: absent
	case idValueLen:
		return idHit{index: be64(v)}, true, nil
	case legacyIDValueLen:
		d := [32]byte(v[8:])
		return idHit{index: be64(v), digest: &d}, true, nil
	}
	return idHit{}, false, fmt.Errorf("corrupt event id entry: %d bytes, want %d", len(v), idValueLen)
}

// sameContent reports whether e has the content of the event recorded at
// hit. Both canonical encodings carry this log's origin, so they encode the
// same content exactly when they match up to the clock stamp at their end.
// Entries of older stores carry the content digest instead.
func (l *Log) sameContent(e *entry, hit idHit) (bool, error) {
	mine := e.canon[:len(e.canon)-8]
	if hit.inGroup {
		return bytes.Equal(mine, hit.pending.canon[:len(hit.pending.canon)-8]), nil
	}
	if hit.digest != nil {
		ev, err := linkd.DecodeCanonical(e.canon)
		if err != nil {
			return false, fmt.Errorf("decode event %s: %w", e.id, err)
		}
		return linkd.ContentDigest(&ev) == *hit.digest, nil
	}
	v, err := l.get(l.eventKey(hit.index))
	if err != nil {
		return false, fmt.Errorf("read event %d: %w", hit.index, err)
	}
	_, canon, err := l.unseal(nil, v)
	switch {
	case errors.Is(err, errErased):
		return false, &linkd.Error{Code: linkd.EConflict, Err: errErased,
			Message: fmt.Sprintf("event %s was recorded at log index %d and its shipment erased since; it cannot be recorded again", clip(e.id), hit.index)}
	case err != nil:
		return false, fmt.Errorf("read event %d: %w", hit.index, err)
	case len(canon) < 8:
		return false, fmt.Errorf("read event %d: missing or corrupt record", hit.index)
	}
	return bytes.Equal(mine, canon[:len(canon)-8]), nil
}

func (l *Log) leafHash(hit idHit) (tlog.Hash, error) {
	if hit.inGroup {
		return hit.pending.leaf, nil
	}
	hs, err := l.hashReader().ReadHashes([]int64{tlog.StoredHashIndex(0, hit.index)})
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
		<-g.applied
		if g.batch != nil {
			t0 := time.Now()
			err := g.batch.SyncWait()
			took := time.Since(t0)
			l.stats.SyncNanos.Add(int64(took))
			if err != nil {
				g.batch.Close()
				l.stop(fmt.Errorf("fsync: %w", err))
			} else if l.releaseBatch(g.batch); l.stopErr() == nil {
				if len(g.bound) > 0 {
					l.sealer.Bound(g.bound)
				}
				l.mu.Lock()
				prev := l.durable
				l.durable, l.checkpoint, l.cp = g.size, g.note, g.cp
				l.mu.Unlock()
				for _, r := range g.reqs {
					if r.committed != nil && r.err == nil {
						r.committed(r.acks)
					}
				}
				if l.onCommit != nil {
					l.onCommit(CommitInfo{Events: int(g.size - prev), Requests: len(g.reqs), SyncDuration: took, Size: g.size, Entries: g.added})
				}
			}
		}
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
		// Last: each wake-up above takes its processor's next turn and
		// sends the one before to the back of the queue; the sequencer,
		// waiting to apply the next group, should not be among those.
		close(g.synced)
	}
	// The sequencer has exited; answer anyone who slipped in.
	for {
		select {
		case r := <-l.reqs:
			if r.take() {
				r.err = linkd.ErrClosed
				close(r.done)
			}
		default:
			return
		}
	}
}

// get returns a copy of the value at key, or nil when absent.
func (l *space) get(key []byte) ([]byte, error) {
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

// getIndexed returns a copy of the value of an id or index entry, which may
// still be pending, or nil when absent.
func (l *space) getIndexed(key []byte) ([]byte, error) {
	if v, ok := lookupPending(l.ix.view(), key); ok {
		return bytes.Clone(v), nil
	}
	return l.get(key)
}

// hashReader reads stored tree hashes.
func (l *space) hashReader() tlog.HashReader { return hashReader{l} }

type hashReader struct{ l *space }

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
