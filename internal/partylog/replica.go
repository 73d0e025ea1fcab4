package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// A Replica is a peer's log as this node holds it: the commitment of every
// entry, so the whole tree can be checked against the peer's signed
// checkpoints, and the payloads this node is entitled to and allowed to
// store, filed in the same indexes as the node's own events.
//
// A replica grows only by Apply, which verifies before it writes: the
// checkpoint's signature, that the new entries extend the verified tree to
// exactly the checkpoint's root (a batch proof of consistency and of the
// inclusion of every payload), and that each payload is one the caller
// admits. A frame that fails any check leaves nothing behind.
type Replica struct {
	space
	party    linkd.Party
	origin   string
	logKey   string
	verifier tlog.Verifier
	logger   *slog.Logger

	apply    sync.Mutex // one Apply at a time
	frontier *tlog.Frontier
	ws       writeSet
	lastHLC  linkd.HLC

	mu         sync.RWMutex
	size       int64            // guarded by mu
	checkpoint []byte           // guarded by mu
	cp         linkd.Checkpoint // guarded by mu
	unsynced   []string         // guarded by mu: key bindings written by frames not synced yet (Sealer.Bind)
}

// RemoteEntry is one entry of a peer's log as a link delivers it: the event's
// canonical encoding and salt when this node may hold the payload, else only
// the leaf hash of its commitment.
type RemoteEntry struct {
	Canon []byte    // canonical encoding; nil for a commitment only
	Salt  []byte    // the commitment's salt; with Canon
	Leaf  tlog.Hash // the leaf hash; used when Canon is nil
}

// ApplyResult is what one Apply did.
type ApplyResult struct {
	Size     int64         // the replica's verified size afterwards
	Payloads int           // events stored with their payload
	Hashes   int           // entries stored as a commitment only
	MaxHLC   linkd.HLC     // the largest clock stamp among the stored events
	Events   []linkd.Event // the stored payloads, in log order; readers share them, never modify them
	Indexes  []int64       // the log index of each of Events
}

// Kinds of Apply failure. A *ReplicaError matches its kind with errors.Is.
var (
	ErrBadCheckpoint = errors.New("checkpoint does not verify") // signature, key or origin
	ErrGap           = errors.New("entries do not start at the replica's size")
	ErrRootMismatch  = errors.New("entries do not produce the checkpoint's root")
	ErrBadEntry      = errors.New("malformed entry")
	ErrNotAdmitted   = errors.New("payload refused")
	ErrFork          = errors.New("checkpoint contradicts the verified tree") // equivocation; see Fork
)

// ReplicaError says why Apply refused a frame.
type ReplicaError struct {
	Kind   error
	Detail string
	Fork   *Fork // set for ErrFork
	Cause  error // what admit said, for ErrNotAdmitted
}

func (e *ReplicaError) Error() string        { return e.Detail }
func (e *ReplicaError) Is(target error) bool { return target == e.Kind }
func (e *ReplicaError) Unwrap() []error      { return []error{e.Kind, e.Cause} }

// Fork is a proof that the origin signed two checkpoints that cannot both be
// true: Ours (the newest this replica verified) and Theirs. When their sizes
// differ, Proof is the consistency proof, from the larger tree this replica
// holds, that the tree at the smaller size has root Implied, which is not the
// smaller checkpoint's root.
type Fork struct {
	Ours, Theirs []byte
	Implied      tlog.Hash
	Proof        []tlog.Hash
}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	Party     linkd.Party // the peer whose log this is
	LogKey    string      // its log verifier key; named linkd.LogOrigin(Party.ID)
	LogNumber uint32      // key namespace; Logs assigns one per origin
	Logger    *slog.Logger
	Sealer    Sealer // seals records of payloads as the node's own log does; nil for none

	pending *pendingIndex // the store's, which the node's own log keeps
}

func openReplica(db *pebble.DB, cfg ReplicaConfig) (*Replica, error) {
	v, err := tlog.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("replica of %s: %w", cfg.Party.ID, err)
	}
	origin := linkd.LogOrigin(cfg.Party.ID)
	if v.Name() != origin {
		return nil, fmt.Errorf("replica of %s: the log key is named %q, want %q", cfg.Party.ID, v.Name(), origin)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.pending == nil {
		return nil, fmt.Errorf("replica of %s: no pending index", cfg.Party.ID)
	}
	if _, err := drainJournal(db, cfg.LogNumber); err != nil {
		return nil, fmt.Errorf("replica of %s: write the index entries a crash left in the journal: %w", cfg.Party.ID, err)
	}
	r := &Replica{space: space{db: db, num: cfg.LogNumber, sealer: cfg.Sealer, ix: cfg.pending}, party: cfg.Party, origin: origin, logKey: cfg.LogKey, verifier: v,
		logger: logger.With("replica", cfg.Party.ID)}
	meta, err := r.get(r.metaKey())
	if err != nil {
		return nil, fmt.Errorf("replica of %s: read meta: %w", cfg.Party.ID, err)
	}
	if meta == nil {
		if _, err := r.rebuildIndex(0, r.logger); err != nil {
			return nil, fmt.Errorf("replica of %s: %w", cfg.Party.ID, err)
		}
		r.frontier = tlog.NewFrontier()
		return r, nil
	}
	if err := mustLen(meta, 16, "replica meta"); err != nil {
		return nil, err
	}
	size := be64(meta)
	r.lastHLC = linkd.HLC(binary.BigEndian.Uint64(meta[8:]))
	if r.frontier, err = tlog.LoadFrontier(size, r.hashReader()); err != nil {
		return nil, fmt.Errorf("replica of %s: %w", cfg.Party.ID, err)
	}
	note, err := r.get(r.checkpointKey(size))
	if err != nil || note == nil {
		return nil, fmt.Errorf("replica of %s: no checkpoint for size %d: the store is damaged (%v)", cfg.Party.ID, size, err)
	}
	cp, err := tlog.OpenCheckpoint(note, v)
	if err != nil {
		return nil, fmt.Errorf("replica of %s: newest checkpoint: %w", cfg.Party.ID, err)
	}
	root, err := r.frontier.Root()
	if err != nil {
		return nil, err
	}
	if cp.Size != size || cp.Hash != root {
		return nil, fmt.Errorf("replica of %s: the stored tree (size %d) does not match its newest checkpoint (size %d): the store is damaged", cfg.Party.ID, size, cp.Size)
	}
	if n, err := r.rebuildIndex(size, r.logger); err != nil {
		return nil, fmt.Errorf("replica of %s: make the index entries a crash left unwritten: %w", cfg.Party.ID, err)
	} else if n > 0 {
		r.logger.Info("made the index entries a crash left unwritten, from the event records", "events", n)
	}
	r.size, r.checkpoint, r.cp = size, note, cp
	return r, nil
}

// Party is the peer whose log this is.
func (r *Replica) Party() linkd.Party { return r.party }

// Origin is the replicated log's checkpoint origin.
func (r *Replica) Origin() string { return r.origin }

// Verifier verifies the origin's checkpoint signatures.
func (r *Replica) Verifier() tlog.Verifier { return r.verifier }

// Size is the verified size of the replica.
func (r *Replica) Size() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.size
}

// Checkpoint returns the newest verified checkpoint and its body.
func (r *Replica) Checkpoint() ([]byte, linkd.Checkpoint) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.checkpoint, r.cp
}

// CheckpointAt returns the origin's checkpoint of exactly size, if this
// replica verified one there.
func (r *Replica) CheckpointAt(size int64) ([]byte, error) {
	if size <= 0 || size > r.Size() {
		return nil, linkd.Errorf(linkd.ENotFound, "no checkpoint of size %d", size)
	}
	v, err := r.get(r.checkpointKey(size))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, linkd.Errorf(linkd.ENotFound, "no checkpoint of %s at size %d was received", r.party.ID, size)
	}
	return v, nil
}

// TreeHash returns the root of the replicated tree at size (≤ Size).
func (r *Replica) TreeHash(size int64) (tlog.Hash, error) {
	if size < 0 || size > r.Size() {
		return tlog.Hash{}, linkd.Errorf(linkd.ENotFound, "tree size %d is beyond the replica's %d", size, r.Size())
	}
	return tlog.TreeHash(size, r.hashReader())
}

// ConsistencyProof proves the tree of size old a prefix of the tree of size
// (both ≤ Size).
func (r *Replica) ConsistencyProof(old, size int64) ([]tlog.Hash, error) {
	if old < 1 || old > size || size > r.Size() {
		return nil, linkd.Errorf(linkd.EInvalid, "no consistency proof from %d to %d in a replica of size %d", old, size, r.Size())
	}
	return tlog.ConsistencyProof(old, size, r.hashReader())
}

// InclusionProof returns the audit path of entry index in the tree of size.
func (r *Replica) InclusionProof(index, size int64) ([]tlog.Hash, error) {
	if index < 0 || index >= size || size > r.Size() {
		return nil, linkd.Errorf(linkd.EInvalid, "no entry %d in a replica tree of size %d", index, size)
	}
	return tlog.InclusionProof(index, size, r.hashReader())
}

// ReadRange calls fn with each entry in [from, to) in index order, as
// Log.ReadRange does; entries held as commitments only have no Salt.
func (r *Replica) ReadRange(ctx context.Context, from, to int64, fn func(*RawEntry) error) error {
	if size := r.Size(); from < 0 || from > to || to > size {
		return linkd.Errorf(linkd.EInvalid, "range %d..%d is outside the replica of size %d", from, to, size)
	}
	return readRange(ctx, &r.space, from, to, fn)
}

// Get returns the event at index, if the node holds its payload.
func (r *Replica) Get(ctx context.Context, index int64) (linkd.Recorded, error) {
	if index < 0 || index >= r.Size() {
		return linkd.Recorded{}, linkd.Errorf(linkd.ENotFound, "no event at index %d of %s's log", index, r.party.ID)
	}
	return r.read(index)
}

// Apply verifies a frame from the origin — its signed checkpoint note and the
// entries from index from up to the checkpoint's size — and stores it in one
// durable batch. admit is asked about every payload before anything is
// written; an error from it refuses the whole frame (ErrNotAdmitted).
//
// A checkpoint no larger than the replica is checked against the verified
// tree and, when it agrees, changes nothing; when it does not, the error
// carries a Fork. Entries the replica already holds (from < Size) are
// skipped after their leaf hashes are checked against the stored ones.
func (r *Replica) Apply(ctx context.Context, from int64, note []byte, entries []RemoteEntry, admit func(*linkd.Event) error) (ApplyResult, error) {
	return r.applyWith(ctx, from, note, entries, admit, pebble.Sync)
}

// ApplyNoSync is Apply without waiting for the fsync: the frame is visible
// at once and survives a crash of the process, but not of the machine. A
// link may use it because the replica's size is the sender's cursor: a frame
// lost with the machine is sent again, with no gap. A witness must not
// cosign a checkpoint it has not made durable (it could be shown a fork of
// what it forgot), so cosigning frames go through Apply.
func (r *Replica) ApplyNoSync(ctx context.Context, from int64, note []byte, entries []RemoteEntry, admit func(*linkd.Event) error) (ApplyResult, error) {
	return r.applyWith(ctx, from, note, entries, admit, pebble.NoSync)
}

// Sync makes every frame applied so far durable.
func (r *Replica) Sync() error {
	r.mu.Lock()
	bound := r.unsynced
	r.unsynced = nil
	r.mu.Unlock()
	if err := r.db.LogData(nil, pebble.Sync); err != nil {
		r.mu.Lock()
		r.unsynced = append(r.unsynced, bound...)
		r.mu.Unlock()
		return err
	}
	if len(bound) > 0 {
		r.sealer.Bound(bound)
	}
	return nil
}

// Check checks a checkpoint of the origin's log that reached this node by
// other means (gossip) against the verified tree: an error of kind
// ErrBadCheckpoint if it does not verify, ErrFork (with the Fork) if it
// contradicts the tree. A checkpoint larger than the replica cannot be
// judged here and passes.
func (r *Replica) Check(note []byte) error {
	cp, err := r.open(note)
	if err != nil {
		return err
	}
	r.apply.Lock()
	defer r.apply.Unlock()
	if cp.Size > r.frontier.Size() {
		return nil
	}
	return r.checkOld(note, cp)
}

// open verifies a checkpoint note of the origin's log.
func (r *Replica) open(note []byte) (linkd.Checkpoint, error) {
	cp, err := tlog.OpenCheckpoint(note, r.verifier)
	if err != nil {
		return cp, &ReplicaError{Kind: ErrBadCheckpoint, Detail: fmt.Sprintf("checkpoint of %s: %v", r.party.ID, err)}
	}
	if cp.Origin != r.origin {
		return cp, &ReplicaError{Kind: ErrBadCheckpoint, Detail: fmt.Sprintf("checkpoint origin %q is not %q", cp.Origin, r.origin)}
	}
	return cp, nil
}

func (r *Replica) applyWith(ctx context.Context, from int64, note []byte, entries []RemoteEntry, admit func(*linkd.Event) error, wo *pebble.WriteOptions) (ApplyResult, error) {
	cp, err := r.open(note)
	if err != nil {
		return ApplyResult{}, err
	}
	r.apply.Lock()
	defer r.apply.Unlock()
	size := r.frontier.Size()
	if cp.Size <= size {
		if err := r.checkOld(note, cp); err != nil {
			return ApplyResult{}, err
		}
		return ApplyResult{Size: size}, nil
	}
	if from > size || from < 0 {
		return ApplyResult{}, &ReplicaError{Kind: ErrGap, Detail: fmt.Sprintf("entries of %s start at %d; the replica holds %d", r.party.ID, from, size)}
	}
	if from+int64(len(entries)) != cp.Size {
		return ApplyResult{}, &ReplicaError{Kind: ErrRootMismatch, Detail: fmt.Sprintf("%d entries from %d do not reach the checkpoint's size %d", len(entries), from, cp.Size)}
	}
	// Entries the replica has already: their leaves must be the stored ones.
	if skip := size - from; skip > 0 {
		for i := int64(0); i < skip; i++ {
			leaf, err := entryLeaf(&entries[i])
			if err != nil {
				return ApplyResult{}, err
			}
			hs, err := r.hashReader().ReadHashes([]int64{tlog.StoredHashIndex(0, from+i)})
			if err != nil {
				return ApplyResult{}, err
			}
			if hs[0] != leaf {
				return ApplyResult{}, &ReplicaError{Kind: ErrRootMismatch, Detail: fmt.Sprintf("entry %d of %s differs from the one verified before", from+i, r.party.ID)}
			}
		}
		entries = entries[skip:]
	}

	w := &r.ws
	w.reset()
	payloads := 0
	for i := range entries {
		if entries[i].Canon != nil {
			payloads++
		}
	}
	res := ApplyResult{Events: make([]linkd.Event, 0, payloads)}
	events := make([]entry, 0, payloads)
	indexes := make([]int64, 0, payloads) // the log index of each of res.Events
	maxHLC := r.lastHLC
	f := r.frontier
	failed := func(err error) (ApplyResult, error) {
		// Roll the frontier back to what is durable.
		nf, lerr := tlog.LoadFrontier(size, r.hashReader())
		if lerr != nil {
			return ApplyResult{}, errors.Join(err, lerr)
		}
		r.frontier = nf
		return ApplyResult{}, err
	}
	leafIndex := int64(-1)
	storeHash := func(x int64, h tlog.Hash) {
		if x != leafIndex {
			w.hash(x, h)
		}
	}
	for i := range entries {
		re := &entries[i]
		idx := f.Size()
		leaf, err := entryLeaf(re)
		if err != nil {
			return failed(err)
		}
		leafIndex = tlog.StoredHashIndex(0, idx)
		if err := f.Append(leaf, storeHash); err != nil {
			return failed(err)
		}
		if re.Canon == nil {
			w.commitment(idx, leaf)
			res.Hashes++
			continue
		}
		// Decoded in place: res.Events has room for every payload, so ev
		// stays where it is.
		res.Events = append(res.Events, linkd.Event{})
		ev := &res.Events[len(res.Events)-1]
		if *ev, err = linkd.DecodeCanonical(re.Canon); err != nil {
			return failed(&ReplicaError{Kind: ErrBadEntry, Detail: fmt.Sprintf("entry %d of %s: %v", idx, r.party.ID, err)})
		}
		if ev.Origin != r.party.ID {
			return failed(&ReplicaError{Kind: ErrBadEntry, Detail: fmt.Sprintf("entry %d of %s's log names origin %q", idx, r.party.ID, ev.Origin)})
		}
		if admit != nil {
			if err := admit(ev); err != nil {
				return failed(&ReplicaError{Kind: ErrNotAdmitted, Cause: err, Detail: fmt.Sprintf("entry %d (event %s) of %s: %v", idx, ev.EventID, r.party.ID, err)})
			}
		}
		maxHLC = max(maxHLC, ev.HLC)
		indexes = append(indexes, idx)
		events = append(events, newEntry(ev, re.Canon))
		if r.sealer != nil {
			events[len(events)-1].key = r.sealer.KeyID(ev)
		}
		w.event(&events[len(events)-1], idx, leaf, re.Salt)
		res.Payloads++
	}
	root, err := f.Root()
	if err != nil {
		return failed(err)
	}
	if root != cp.Hash {
		return failed(&ReplicaError{Kind: ErrRootMismatch, Detail: fmt.Sprintf("entries %d..%d of %s produce root %x, the checkpoint says %x", from, cp.Size, r.party.ID, root[:8], cp.Hash[:8])})
	}
	if err := ctx.Err(); err != nil {
		return failed(err)
	}
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], uint64(cp.Size))
	binary.BigEndian.PutUint64(meta[8:], uint64(maxHLC))
	erased, err := w.seal(r.sealer, false)
	if err != nil {
		return failed(fmt.Errorf("replica of %s: %w", r.party.ID, err))
	}
	if len(erased) > 0 {
		// Payloads of a shipment erased here: kept as commitments, and not
		// handed on as events this node holds.
		kept, keptAt := res.Events[:0], indexes[:0]
		for i := range res.Events {
			if !slices.Contains(erased, indexes[i]) {
				kept = append(kept, res.Events[i])
				keptAt = append(keptAt, indexes[i])
			}
		}
		res.Events, indexes = kept, keptAt
		res.Payloads -= len(erased)
		res.Hashes += len(erased)
	}
	b := r.db.NewBatchWithSize(w.size + 2*opOverhead + 13 + len(note) + len(meta))
	defer b.Close()
	chunk := w.write(b, &r.space, cp.Size, note, meta[:])
	if err := b.Commit(wo); err != nil {
		return failed(fmt.Errorf("replica of %s: write: %w", r.party.ID, err))
	}
	if err := r.ix.publish(chunk); err != nil {
		// The frame is written and its entries are readable; only their
		// flush failed, and it is retried (or, after a crash, the entries
		// are made again from the records).
		r.logger.Error("index flush failed", "err", err)
	}
	r.lastHLC = maxHLC
	var bound []string
	r.mu.Lock()
	r.size, r.checkpoint, r.cp = cp.Size, append([]byte(nil), note...), cp
	if wo.Sync { // this fsync made the frames before it durable too
		bound, r.unsynced = append(r.unsynced, w.bound...), nil
	} else {
		r.unsynced = append(r.unsynced, w.bound...)
	}
	r.mu.Unlock()
	if len(bound) > 0 {
		r.sealer.Bound(bound)
	}
	res.Size, res.MaxHLC, res.Indexes = cp.Size, maxHLC, indexes
	return res, nil
}

// checkOld checks a checkpoint no larger than the verified tree.
func (r *Replica) checkOld(note []byte, cp linkd.Checkpoint) error {
	size := r.frontier.Size()
	if cp.Size == 0 {
		return nil
	}
	var implied tlog.Hash
	var err error
	if cp.Size == size {
		implied, err = r.frontier.Root()
	} else {
		implied, err = tlog.TreeHash(cp.Size, r.hashReader())
	}
	if err != nil {
		return err
	}
	if implied == cp.Hash {
		return nil
	}
	r.mu.RLock()
	ours := r.checkpoint
	r.mu.RUnlock()
	fork := &Fork{Ours: ours, Theirs: append([]byte(nil), note...), Implied: implied}
	if cp.Size < size {
		if fork.Proof, err = tlog.ConsistencyProof(cp.Size, size, r.hashReader()); err != nil {
			return err
		}
	}
	return &ReplicaError{Kind: ErrFork, Fork: fork,
		Detail: fmt.Sprintf("%s signed a checkpoint of size %d with root %x, but the tree verified up to %d has root %x there", r.party.ID, cp.Size, cp.Hash[:8], size, implied[:8])}
}

// entryLeaf is the leaf hash an entry stands for.
func entryLeaf(re *RemoteEntry) (tlog.Hash, error) {
	if re.Canon == nil {
		if re.Salt != nil {
			return tlog.Hash{}, &ReplicaError{Kind: ErrBadEntry, Detail: "a commitment-only entry carries a salt"}
		}
		return re.Leaf, nil
	}
	if len(re.Salt) != linkd.SaltSize {
		return tlog.Hash{}, &ReplicaError{Kind: ErrBadEntry, Detail: fmt.Sprintf("salt of %d bytes, want %d", len(re.Salt), linkd.SaltSize)}
	}
	if bytes.Equal(re.Salt, zeroSalt[:]) {
		// Never drawn at random; stored, it would read as a sealed record.
		return tlog.Hash{}, &ReplicaError{Kind: ErrBadEntry, Detail: "a salt of zero bytes"}
	}
	if len(re.Canon) < 8 || len(re.Canon) > linkd.MaxEventBytes {
		return tlog.Hash{}, &ReplicaError{Kind: ErrBadEntry, Detail: fmt.Sprintf("event encoding of %d bytes", len(re.Canon))}
	}
	return tlog.Hash(linkd.LeafHash(linkd.Commitment(re.Canon, re.Salt))), nil
}
