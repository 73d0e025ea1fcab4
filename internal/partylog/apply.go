package partylog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// A replicated log is one party's log kept by every member of a consensus
// group (a Raft cluster, see internal/raftlog). It splits the single node's
// sequencer in two:
//
//   - Prepare, on the member an append reaches: Append validates and encodes
//     the events as on a single node; a proposer goroutine groups the appends
//     that wait, stamps each event with the member's hybrid logical clock and
//     a random salt, and hands the group to the Proposer as one encoded batch.
//     Several batches may be in flight at once, so preparing the next group
//     overlaps replicating the last.
//   - Apply, on every member, in the order the group committed the batches
//     (ApplyCommitted): the duplicate check, log indexes, the Merkle append and
//     the signed checkpoint. Apply depends only on the batch and the state the
//     earlier batches left, and Ed25519 signatures are deterministic, so every
//     member writes the same events, tree and signed notes, byte for byte.
//     The only stamp Apply changes is a clock stamp not above the log's last
//     one, which it raises to one above (batches prepared on different members
//     interleave), so clock stamps rise with the log index on every member.
//
// Each call of ApplyCommitted is one Pebble batch holding its entries' writes
// and the consensus index of the last entry applied. That batch is not
// fsynced: the consensus log is the durable record (a batch is acknowledged
// only once a majority has it on disk), and after a crash the consensus layer
// replays the entries above its last snapshot; ApplyCommitted skips those at
// or below the stored applied index, so replay is idempotent. Snapshot fsyncs
// before it reports an index, so the store never falls behind a snapshot the
// consensus layer may compact its log to.

// Proposer orders the batches of a replicated log among the members.
type Proposer interface {
	// Propose replicates one encoded batch and returns, once this member has
	// applied it, the outcome of each append in the batch, in order. An error
	// means the batch's fate is unknown: it may still be applied. Appends
	// carry event ids, so retrying them is safe.
	Propose(ctx context.Context, batch []byte) ([]Outcome, error)
}

// Outcome is what one append of a replicated batch came to: one ack per
// event, or the error that rejected the append whole (a *linkd.Error or a
// *linkd.ValidationError, the same a single node would return).
type Outcome struct {
	Acks []linkd.Ack
	Err  error
}

// ReplicationConfig configures the replicated write path of OpenReplicated.
type ReplicationConfig struct {
	// Proposer orders the batches. Required.
	Proposer Proposer
	// MaxInFlight bounds the batches proposed and not yet answered. Zero
	// means 4.
	MaxInFlight int
	// MaxBatchBytes bounds the encoded size of one batch, unless a single
	// append is larger. Zero means 8 MiB.
	MaxBatchBytes int
	// ProposeTimeout bounds one proposal, from handing it to the Proposer
	// to its outcome. Zero means 10s.
	ProposeTimeout time.Duration
	// SyncInterval is how often what was applied since is made durable in
	// the background. Applies are not fsynced (the consensus log is the
	// durable record), and Pebble may hold their last few KiB in memory
	// until the next sync, so after a crash the member replays them from
	// the consensus log; the background sync bounds how far back that goes.
	// Zero means 100ms; negative, never.
	SyncInterval time.Duration
	// OnErased, if not nil, is called after an apply that kept events as
	// commitments only because their shipment's key was destroyed here: an
	// append that raced an erasure this member learnt of first. The
	// consensus log still holds those events in the clear (see
	// raftlog.Member.Forget).
	OnErased func()
}

// replication is the state of a replicated log.
type replication struct {
	proposer Proposer
	inflight chan struct{}
	maxBytes int
	timeout  time.Duration
	ctx      context.Context // cancelled when the proposer loop stops
	cancel   context.CancelFunc

	// Owned by the applier: ApplyCommitted, Restore (never concurrent).
	lastHLC linkd.HLC

	onErased func() // ReplicationConfig.OnErased

	applied atomic.Uint64 // the consensus index of the last entry applied

	mu     sync.Mutex
	record []byte        // guarded by mu: the newest replicated record
	wake   chan struct{} // guarded by mu: closed and replaced after each apply
}

// Batch entry encoding. A batch is one consensus entry:
//
//	version(1)=1 kind(1) body
//
//	kind 'A' (appends):  uvarint(appends) { uvarint(events) { uvarint(len) canonical salt(32) } }
//	kind 'R' (record):   the record's bytes (opaque here; see Record)
//	kind 'G' (genesis):  size(8) root(32): the log the group started from
//
// Canonical encodings end in their clock stamp, as on a single node.
const (
	batchVersion = 1
	kindAppend   = 'A'
	kindRecord   = 'R'
	kindGenesis  = 'G'
)

// Keys of the replicated state, beside the log's meta:
//
//	'm' log 1 → applied consensus index(8)
//	'm' log 2 → the replicated record
//	'm' log 3 → present while Restore rewrites the log
func (l *space) appliedKey() []byte   { return l.key(prefixMeta, 1) }
func (l *space) recordKey() []byte    { return l.key(prefixMeta, 2) }
func (l *space) restoringKey() []byte { return l.key(prefixMeta, 3) }

// errNoOutcome answers appends whose batch came back without outcomes.
var errNoOutcome = &linkd.Error{Code: linkd.EInternal, Message: "the cluster applied the batch without an outcome for it"}

// OpenReplicated opens the log in db as one member's copy of a replicated
// log: Append prepares and proposes through rc.Proposer, and the log grows
// only by ApplyCommitted. Close it before closing db.
func OpenReplicated(db *pebble.DB, cfg Config, rc ReplicationConfig) (*Log, error) {
	if rc.Proposer == nil {
		return nil, fmt.Errorf("open replicated log: no proposer")
	}
	if rc.MaxInFlight <= 0 {
		rc.MaxInFlight = 4
	}
	if rc.MaxBatchBytes <= 0 {
		rc.MaxBatchBytes = 8 << 20
	}
	if rc.ProposeTimeout <= 0 {
		rc.ProposeTimeout = 10 * time.Second
	}
	if rc.SyncInterval == 0 {
		rc.SyncInterval = 100 * time.Millisecond
	}
	sp := space{db: db, num: cfg.LogNumber, sealer: cfg.Sealer, own: true}
	if v, err := sp.get(sp.restoringKey()); err != nil {
		return nil, fmt.Errorf("open replicated log: %w", err)
	} else if v != nil {
		// A restore from a snapshot was cut short: what is stored is part of
		// one log and part of another. Start empty; the consensus layer
		// restores its snapshot again.
		if err := wipe(&sp); err != nil {
			return nil, fmt.Errorf("open replicated log: discard an unfinished restore: %w", err)
		}
		if cfg.Logger != nil {
			cfg.Logger.Warn("a restore from a snapshot was interrupted; the log starts empty and is restored again")
		}
	}
	l, err := open(db, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &replication{
		proposer: rc.Proposer, inflight: make(chan struct{}, rc.MaxInFlight), maxBytes: rc.MaxBatchBytes,
		timeout: rc.ProposeTimeout, ctx: ctx, cancel: cancel, wake: make(chan struct{}), onErased: rc.OnErased,
	}
	// Right after open the clock's last stamp is the log's (its floor).
	if err := l.loadReplicated(rp, l.clock.Last()); err != nil {
		cancel()
		l.ix.close()
		return nil, err
	}
	l.repl = rp
	l.wg.Add(1)
	go l.proposeLoop()
	if rc.SyncInterval > 0 {
		l.wg.Add(1)
		go l.syncApplied(rc.SyncInterval)
	}
	l.logger.Info("replicated log open", "log_size", l.durable, "origin", l.origin, "applied_index", rp.applied.Load())
	return l, nil
}

// loadReplicated reads the applied index and the record from the store;
// last is the log's last clock stamp. Applies raise stamps above the log's
// own last stamp, never above a member's clock, so that every member
// decides alike.
func (l *Log) loadReplicated(rp *replication, last linkd.HLC) error {
	v, err := l.get(l.appliedKey())
	if err != nil {
		return fmt.Errorf("open replicated log: read applied index: %w", err)
	}
	var applied uint64
	if v != nil {
		if err := mustLen(v, 8, "applied index"); err != nil {
			return fmt.Errorf("open replicated log: %w", err)
		}
		applied = binary.BigEndian.Uint64(v)
	}
	rec, err := l.get(l.recordKey())
	if err != nil {
		return fmt.Errorf("open replicated log: read record: %w", err)
	}
	rp.applied.Store(applied)
	rp.mu.Lock()
	rp.record = rec
	rp.mu.Unlock()
	rp.lastHLC = last
	return nil
}

// ReplicatedState reports whether db holds the own log (number 0) of a
// replicated log, and its applied index and record. A single node must not
// open such a store: it would write a history the other members never saw.
func ReplicatedState(db *pebble.DB) (replicated bool, applied uint64, record []byte, err error) {
	sp := space{db: db}
	v, err := sp.get(sp.appliedKey())
	if err != nil {
		return false, 0, nil, err
	}
	if v != nil && len(v) == 8 {
		applied = binary.BigEndian.Uint64(v)
	}
	if record, err = sp.get(sp.recordKey()); err != nil {
		return false, 0, nil, err
	}
	return v != nil || record != nil, applied, record, nil
}

// Replicator returns the Proposer of a replicated log, nil for a single
// node's. The HTTP API finds the cluster it serves through it.
func (l *Log) Replicator() Proposer {
	if l.repl == nil {
		return nil
	}
	return l.repl.proposer
}

// Applied returns the consensus index of the last entry the log applied; 0
// for a single node's log.
func (l *Log) Applied() uint64 {
	if l.repl == nil {
		return 0
	}
	return l.repl.applied.Load()
}

// Record returns the newest record replicated with EncodeRecord, or nil.
func (l *Log) Record() []byte {
	if l.repl == nil {
		return nil
	}
	l.repl.mu.Lock()
	defer l.repl.mu.Unlock()
	return l.repl.record
}

// WaitApplied waits until the log has applied the entry at index.
func (l *Log) WaitApplied(ctx context.Context, index uint64) error {
	rp := l.repl
	if rp == nil {
		return nil
	}
	for {
		rp.mu.Lock()
		wake := rp.wake
		rp.mu.Unlock()
		if rp.applied.Load() >= index {
			return nil
		}
		if err := l.stopErr(); err != nil {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			return linkd.ErrClosed
		}
	}
}

// notifyApplied wakes WaitApplied's callers.
func (rp *replication) notifyApplied() {
	rp.mu.Lock()
	close(rp.wake)
	rp.wake = make(chan struct{})
	rp.mu.Unlock()
}

// EncodeRecord returns the batch that replicates rec, a small value the
// consensus layer keeps with the log (its cluster's identity and members).
// Every member stores the newest; Record returns it.
func EncodeRecord(rec []byte) []byte {
	return append([]byte{batchVersion, kindRecord}, rec...)
}

// EncodeGenesis returns the batch that states which log the group starts
// from: the log's size and root when the group was formed. A member whose
// log differs when it applies the batch (it joined with an empty store but
// the group started from a non-empty log, and it missed the snapshot) stops
// its write path instead of building a different log on top.
func (l *Log) EncodeGenesis() ([]byte, error) {
	size := l.Size()
	root, err := l.TreeHash(size)
	if err != nil {
		return nil, err
	}
	b := []byte{batchVersion, kindGenesis}
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	return append(b, root[:]...), nil
}

// proposeLoop takes appends, groups those that wait, and proposes each group
// as one batch, with up to MaxInFlight batches at once.
func (l *Log) proposeLoop() {
	defer l.wg.Done()
	rp := l.repl
	defer rp.cancel()
	var keys keySet
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.closing:
			l.refuseWaiting()
			return
		}
		if !first.take() {
			continue
		}
		// Wait for a slot before grouping, so that the appends arriving
		// meanwhile join this batch.
		select {
		case rp.inflight <- struct{}{}:
		case <-l.closing:
			first.err = linkd.ErrClosed
			close(first.done)
			l.refuseWaiting()
			return
		}
		reqs := []*request{first}
		n, size := len(first.events), requestBytes(first)
	drain:
		for n < l.maxGroup && size < rp.maxBytes {
			select {
			case r := <-l.reqs:
				if r.take() {
					reqs = append(reqs, r)
					n += len(r.events)
					size += requestBytes(r)
				}
			default:
				break drain
			}
		}
		// Appends of an erased shipment are refused here, by the leader:
		// the members apply what it proposes whatever their keys say.
		destroyed, err := l.ensureKeys(reqs, &keys)
		if err != nil {
			<-rp.inflight
			answer(reqs, nil, err)
			continue
		}
		if len(destroyed) > 0 {
			if reqs = refuseErased(reqs, destroyed); len(reqs) == 0 {
				<-rp.inflight
				continue
			}
		}
		batch, err := l.prepare(reqs, size)
		if err != nil {
			<-rp.inflight
			answer(reqs, nil, err)
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-rp.inflight }()
			ctx, cancel := context.WithTimeout(rp.ctx, rp.timeout)
			outs, err := rp.proposer.Propose(ctx, batch)
			cancel()
			if err == nil && len(outs) != len(reqs) {
				err = errNoOutcome
			}
			answer(reqs, outs, err)
		}()
	}
}

// syncApplied makes what was applied durable every interval, when there
// is something new, until the log closes.
func (l *Log) syncApplied(interval time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var synced uint64
	for {
		select {
		case <-t.C:
		case <-l.closing:
			return
		}
		applied := l.repl.applied.Load()
		if applied == synced || l.stopErr() != nil {
			continue
		}
		if err := l.db.LogData([]byte("applied"), pebble.Sync); err != nil {
			l.stop(fmt.Errorf("sync applied batches: %w", err))
			continue
		}
		synced = applied
	}
}

// refuseWaiting answers appends still waiting to be taken after close.
func (l *Log) refuseWaiting() {
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

// answer completes reqs with their outcomes, or all with err.
func answer(reqs []*request, outs []Outcome, err error) {
	for i, r := range reqs {
		if err != nil {
			r.err = err
		} else {
			r.acks, r.err = outs[i].Acks, outs[i].Err
			if r.err != nil {
				r.acks = nil
			} else if r.committed != nil {
				// After OnCommit here: the apply runs on the Raft state
				// machine, which knows nothing of the request.
				r.committed(r.acks)
			}
		}
		close(r.done)
	}
}

func requestBytes(r *request) int {
	n := binary.MaxVarintLen32
	for i := range r.events {
		n += binary.MaxVarintLen32 + len(r.events[i].canon) + linkd.SaltSize
	}
	return n
}

// prepare stamps and salts the events of reqs and encodes them as one batch.
func (l *Log) prepare(reqs []*request, size int) ([]byte, error) {
	n := 0
	for _, r := range reqs {
		n += len(r.events)
	}
	salts := make([]byte, n*linkd.SaltSize)
	if _, err := rand.Read(salts); err != nil {
		return nil, fmt.Errorf("read salts: %w", err)
	}
	b := make([]byte, 0, 2+binary.MaxVarintLen32+size)
	b = append(b, batchVersion, kindAppend)
	b = binary.AppendUvarint(b, uint64(len(reqs)))
	for _, r := range reqs {
		b = binary.AppendUvarint(b, uint64(len(r.events)))
		for i := range r.events {
			canon := r.events[i].canon
			b = binary.AppendUvarint(b, uint64(len(canon)))
			start := len(b)
			b = append(b, canon...)
			binary.BigEndian.PutUint64(b[start+len(canon)-8:], uint64(l.clock.Now()))
			b = append(b, salts[:linkd.SaltSize]...)
			salts = salts[linkd.SaltSize:]
		}
	}
	return b, nil
}

// Committed is one committed entry of the consensus log.
type Committed struct {
	Index uint64 // its position in the consensus log; strictly increasing
	Data  []byte // what was proposed; nil for an entry that only takes an index
}

// ApplyCommitted applies committed entries, in order, and returns for each
// what its proposer's Propose gets: a []Outcome for a batch of appends, nil
// for other entries, or an error when the write path has stopped. Entries at
// or below Applied are skipped: they were applied before a restart. Calls
// must not overlap, and must not overlap Restore.
//
// A storage failure stops the write path for good, as on a single node: the
// member restarts and applies again from what is durable.
func (l *Log) ApplyCommitted(entries []Committed) []any {
	rp := l.repl
	out := make([]any, len(entries))
	if err := l.stopErr(); err != nil {
		for i := range out {
			out[i] = err
		}
		return out
	}
	applied := rp.applied.Load()
	startSize := l.frontier.Size()
	if l.pending == nil {
		l.pending = make(map[string]pendingID)
	}
	defer clear(l.pending)
	// One write set for every entry of the call: Pebble inserts a batch
	// whose keys come in order several times faster (see writeSet).
	w := &l.ws
	w.reset()
	var (
		notes   []sizedNote // the checkpoint of each entry that grew the log
		cp      linkd.Checkpoint
		record  []byte
		changed bool
		fail    error
	)
	for i, e := range entries {
		if e.Index <= applied {
			continue
		}
		applied = e.Index
		changed = true
		if len(e.Data) < 2 || e.Data[0] != batchVersion {
			if len(e.Data) > 0 {
				out[i] = &linkd.Error{Code: linkd.EInternal, Message: fmt.Sprintf("entry %d is not a batch this version understands", e.Index)}
			}
			continue
		}
		switch e.Data[1] {
		case kindAppend:
			outs, n, c, err := l.applyAppends(e.Data[2:])
			switch {
			case err != nil:
				fail = err
			case outs == nil:
				// Every member decodes the same bytes the same way: a batch
				// that does not decode is refused whole, everywhere.
				out[i] = &linkd.Error{Code: linkd.EInternal, Message: fmt.Sprintf("entry %d does not decode as a batch of appends", e.Index)}
			default:
				out[i] = outs
				if n != nil {
					notes = append(notes, sizedNote{c.Size, n})
					cp = c
				}
			}
		case kindRecord:
			record = append([]byte(nil), e.Data[2:]...)
		case kindGenesis:
			fail = l.checkGenesis(e.Data[2:])
		default:
			out[i] = &linkd.Error{Code: linkd.EInternal, Message: fmt.Sprintf("entry %d is of unknown kind %q", e.Index, e.Data[1])}
		}
		if fail != nil {
			break
		}
	}
	var note []byte
	var chunk *indexChunk
	var erased []int64
	if fail == nil && len(notes) > 0 {
		erased, fail = w.seal(l.sealer, false)
	}
	if fail == nil && changed {
		size := w.size + 3*(opOverhead+16) + len(record)
		for _, n := range notes {
			size += opOverhead + 13 + len(n.note)
		}
		b := l.db.NewBatchWithSize(size)
		// Checkpoint keys sort before every other key of the log, and the
		// write set writes the newest first: the earlier ones go before it.
		for _, n := range notes[:max(len(notes)-1, 0)] {
			b.Set(l.checkpointKey(n.size), n.note, nil)
		}
		if len(notes) > 0 {
			note = notes[len(notes)-1].note
			var meta [16]byte
			binary.BigEndian.PutUint64(meta[:8], uint64(cp.Size))
			binary.BigEndian.PutUint64(meta[8:], uint64(rp.lastHLC))
			chunk = w.write(b, &l.space, cp.Size, note, meta[:])
		}
		b.Set(l.appliedKey(), binary.BigEndian.AppendUint64(nil, applied), nil)
		if record != nil {
			b.Set(l.recordKey(), record, nil)
		}
		// The Raft log makes an applied batch durable by replaying it after
		// a crash, but a document sealed under a key this batch binds would
		// not be replayed: a batch that binds new keys is synced.
		wo := pebble.NoSync
		if len(w.bound) > 0 {
			wo = pebble.Sync
		}
		if err := b.Commit(wo); err != nil {
			fail = fmt.Errorf("apply batch: %w", err)
		} else {
			if len(w.bound) > 0 {
				l.sealer.Bound(w.bound)
			}
			if len(erased) > 0 && rp.onErased != nil {
				rp.onErased()
			}
			if err := l.ix.publish(chunk); err != nil {
				fail = fmt.Errorf("index: %w", err)
			}
		}
		b.Close()
	}
	if fail != nil {
		var ge *genesisError
		if errors.As(fail, &ge) {
			l.stopWith(&linkd.Error{Code: linkd.EUnavailable, Message: "this member cannot follow the cluster's log: " + ge.msg + "; nothing more is applied here until an operator acts"})
		} else {
			l.stop(fail)
		}
		err := l.stopErr()
		for i := range out {
			out[i] = err
		}
		rp.notifyApplied()
		return out
	}
	if !changed {
		return out
	}
	size := l.frontier.Size()
	l.mu.Lock()
	if note != nil {
		l.durable, l.checkpoint, l.cp = size, note, cp
	}
	l.mu.Unlock()
	if record != nil {
		rp.mu.Lock()
		rp.record = record
		rp.mu.Unlock()
	}
	rp.applied.Store(applied)
	l.clock.Observe(rp.lastHLC)
	rp.notifyApplied()
	if size > startSize {
		l.stats.Events.Add(size - startSize)
		l.stats.Batches.Add(1)
		if l.onCommit != nil {
			requests := 0
			for _, o := range out {
				if outs, ok := o.([]Outcome); ok {
					requests += len(outs)
				}
			}
			l.onCommit(CommitInfo{Events: int(size - startSize), Requests: requests, Size: size})
		}
	}
	return out
}

// applyAppends files one batch of appends in the write set and returns each append's
// outcome, with the signed checkpoint of the log's new size (nil when the
// batch added nothing). No outcomes and no error: the batch does not decode.
// An error is a storage failure; rejected appends are outcomes.
func (l *Log) applyAppends(data []byte) ([]Outcome, []byte, linkd.Checkpoint, error) {
	// The consensus layer may hold data (its log cache, an AppendEntries in
	// flight); stamps are patched in a copy.
	data = append([]byte(nil), data...)
	reqs, salts, err := decodeAppends(data, l.self.ID, l.sealer)
	if err != nil {
		return nil, nil, linkd.Checkpoint{}, nil
	}
	rp := l.repl
	w := &l.ws
	start := l.frontier.Size()
	outs := make([]Outcome, len(reqs))
	for k, r := range reqs {
		if r.err != nil {
			outs[k].Err = r.err
			continue
		}
		isNew, err := l.check(r, l.pending)
		if err != nil {
			if linkd.ErrorCode(err) == linkd.EInternal {
				return nil, nil, linkd.Checkpoint{}, err // storage: not an outcome
			}
			outs[k].Err = err
			continue
		}
		for i := range r.events {
			e := &r.events[i]
			if !isNew[i] {
				continue
			}
			idx := l.frontier.Size()
			stamp := linkd.HLC(binary.BigEndian.Uint64(e.canon[len(e.canon)-8:]))
			if stamp <= rp.lastHLC {
				stamp = rp.lastHLC + 1
				binary.BigEndian.PutUint64(e.canon[len(e.canon)-8:], uint64(stamp))
			}
			rp.lastHLC = stamp
			salt := salts[k][i]
			leaf := tlog.Hash(linkd.LeafHash(linkd.Commitment(e.canon, salt)))
			leafIndex := tlog.StoredHashIndex(0, idx)
			if err := l.frontier.Append(leaf, func(x int64, h tlog.Hash) {
				if x != leafIndex {
					w.hash(x, h)
				}
			}); err != nil {
				return nil, nil, linkd.Checkpoint{}, err
			}
			w.event(e, idx, leaf, salt)
			l.pending[e.id] = pendingID{idx, leaf, e.canon}
			l.ids.Add(e.id)
			r.acks[i] = linkd.Ack{EventID: e.id, LogIndex: idx, LeafHash: base64.StdEncoding.EncodeToString(leaf[:])}
		}
		outs[k].Acks = r.acks
	}
	size := l.frontier.Size()
	if size == start {
		return outs, nil, linkd.Checkpoint{}, nil
	}
	root, err := l.frontier.Root()
	if err != nil {
		return nil, nil, linkd.Checkpoint{}, err
	}
	cp := linkd.Checkpoint{Origin: l.origin, Size: size, Hash: root}
	note, err := tlog.SignCheckpoint(cp, l.signer)
	if err != nil {
		return nil, nil, linkd.Checkpoint{}, err
	}
	return outs, note, cp, nil
}

// sizedNote is a signed checkpoint and the log size it is of.
type sizedNote struct {
	size int64
	note []byte
}

// errBatch is why a batch does not decode.
var errBatch = errors.New("malformed batch")

// decodeAppends decodes the appends of a batch. An append whose events do
// not decode, or are not this log's, carries its error and no events; the
// salts are per append, per event. The entries' canonical encodings alias
// data.
func decodeAppends(data []byte, self string, sealer Sealer) ([]*request, [][][]byte, error) {
	d := batchReader{b: data}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(data)) {
		return nil, nil, errBatch
	}
	reqs := make([]*request, 0, n)
	salts := make([][][]byte, 0, n)
	for range n {
		m := d.uvarint()
		if d.err != nil || m == 0 || m > uint64(linkd.MaxBatchEvents) || m > uint64(len(data)) {
			return nil, nil, errBatch
		}
		r := &request{events: make([]entry, m), acks: make([]linkd.Ack, m)}
		rs := make([][]byte, m)
		for i := range r.events {
			size := d.uvarint()
			if d.err != nil || size < 9 || size > uint64(linkd.MaxEventBytes) {
				return nil, nil, errBatch
			}
			canon := d.bytes(int(size))
			salt := d.bytes(linkd.SaltSize)
			if d.err != nil {
				return nil, nil, errBatch
			}
			rs[i] = salt
			if r.err != nil {
				continue
			}
			ev, err := linkd.DecodeCanonical(canon)
			switch {
			case err != nil:
				r.err = &linkd.Error{Code: linkd.EInvalid, Message: fmt.Sprintf("event %d of the append does not decode", i), Err: err}
			case ev.Origin != self:
				r.err = linkd.Errorf(linkd.EInvalid, "event %d of the append is %s's, not this log's", i, clip(ev.Origin))
			default:
				r.events[i] = newEntry(&ev, canon)
				if sealer != nil {
					r.events[i].key = sealer.KeyID(&ev)
				}
			}
		}
		if r.err != nil {
			r.events = nil
		}
		reqs = append(reqs, r)
		salts = append(salts, rs)
	}
	if len(d.b) != 0 {
		return nil, nil, errBatch
	}
	return reqs, salts, nil
}

type batchReader struct {
	b   []byte
	err error
}

func (d *batchReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBatch
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *batchReader) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errBatch
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// checkGenesis stops the log unless it is the one the group started from.
func (l *Log) checkGenesis(data []byte) error {
	if len(data) != 8+32 {
		return fmt.Errorf("malformed genesis entry")
	}
	size := int64(binary.BigEndian.Uint64(data))
	var root tlog.Hash
	copy(root[:], data[8:])
	mine := l.frontier.Size()
	if mine != size {
		return &genesisError{fmt.Sprintf("its log holds %d events, but the cluster started from a log of %d (it joined without the snapshot of that log; remove its store and join again)", mine, size)}
	}
	got, err := l.frontier.Root()
	if err != nil {
		return err
	}
	if size > 0 && got != root {
		return &genesisError{fmt.Sprintf("its log of %d events has another root than the one the cluster started from (it is another log; remove its store and join again)", size)}
	}
	return nil
}

// genesisError says why a member's log is not the cluster's.
type genesisError struct{ msg string }

func (e *genesisError) Error() string { return e.msg }

// stopWith ends the write path for good with err.
func (l *Log) stopWith(err *linkd.Error) {
	e := error(err)
	if l.stopped.CompareAndSwap(nil, &e) {
		l.logger.Error("write path stopped", "err", err.Message, "log_size", l.Size())
	}
}
