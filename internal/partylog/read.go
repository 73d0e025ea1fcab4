package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Reads see only what is durable: an event applied to the store but still
// waiting for its fsync is invisible until its append is acknowledged.

// Size returns the number of durable events.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.durable
}

// Checkpoint returns the newest durable signed checkpoint and its parsed body.
// An empty log has none: nil and a zero Checkpoint.
func (l *Log) Checkpoint() ([]byte, linkd.Checkpoint) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkpoint, l.cp
}

// CheckpointAt returns the signed checkpoint the log issued at exactly size.
func (l *Log) CheckpointAt(size int64) ([]byte, error) {
	if size <= 0 || size > l.Size() {
		return nil, linkd.Errorf(linkd.ENotFound, "no checkpoint of size %d", size)
	}
	v, err := l.get(l.checkpointKey(size))
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %d: %w", size, err)
	}
	if v == nil {
		return nil, linkd.Errorf(linkd.ENotFound, "no checkpoint was issued at size %d (one is issued per committed batch)", size)
	}
	return v, nil
}

// CheckpointOrSign returns the checkpoint the log issued at size, or, where
// no batch ended there, a newly signed checkpoint of the durable tree at that
// size. Signing an older size states nothing new: the newest checkpoint
// already commits to it. A peer that holds another tree of that size asks for
// this to prove the fork (see link's prove exchange).
func (l *Log) CheckpointOrSign(size int64) ([]byte, error) {
	note, err := l.CheckpointAt(size)
	if err == nil || linkd.ErrorCode(err) != linkd.ENotFound || size <= 0 || size > l.Size() {
		return note, err
	}
	root, err := l.TreeHash(size)
	if err != nil {
		return nil, err
	}
	return tlog.SignCheckpoint(linkd.Checkpoint{Origin: l.origin, Size: size, Hash: root}, l.signer)
}

// Get returns the event at index.
func (l *Log) Get(ctx context.Context, index int64) (linkd.Recorded, error) {
	if index < 0 || index >= l.Size() {
		return linkd.Recorded{}, linkd.Errorf(linkd.ENotFound, "no event at log index %d", index)
	}
	return l.read(index)
}

// GetByID returns the event with the given id.
func (l *Log) GetByID(ctx context.Context, id string) (linkd.Recorded, error) {
	hit, found, err := l.lookupID(id, nil)
	if err != nil {
		return linkd.Recorded{}, err
	}
	if !found || hit.index >= l.Size() {
		return linkd.Recorded{}, linkd.Errorf(linkd.ENotFound, "no event %s", clip(id))
	}
	return l.read(hit.index)
}

func (l *space) read(index int64) (linkd.Recorded, error) {
	v, err := l.get(l.eventKey(index))
	if err != nil {
		return linkd.Recorded{}, fmt.Errorf("read event %d: %w", index, err)
	}
	return l.decodeRecord(index, v, nil, false)
}

// decodeRecord decodes v, the record of the event at index, opening it into
// *buf if it is sealed (see unseal). With copySalt the salt is copied out of
// v and buf (which then need not outlive the call, nor be left alone); the
// canonical encoding is always decoded into strings of the event's own.
func (l *space) decodeRecord(index int64, v []byte, buf *[]byte, copySalt bool) (linkd.Recorded, error) {
	if len(v) == len(tlog.Hash{}) && !l.own {
		// A replica's entry held as its commitment only: not visible here.
		return linkd.Recorded{}, linkd.Errorf(linkd.ENotFound, "no event at log index %d", index)
	}
	salt, canon, err := l.unseal(buf, v)
	if err == nil && canon == nil {
		err = errErased // the own log keeps a commitment only of what was erased
	}
	if IsErased(err) {
		return linkd.Recorded{}, &linkd.Error{Code: linkd.ENotFound, Err: err,
			Message: fmt.Sprintf("the event at log index %d was erased: its shipment's key was destroyed on this node", index)}
	}
	if err != nil {
		return linkd.Recorded{}, fmt.Errorf("read event %d: %w", index, err)
	}
	if copySalt {
		salt = append(make([]byte, 0, len(salt)), salt...)
	}
	e, err := linkd.DecodeStored(canon)
	if err != nil {
		return linkd.Recorded{}, fmt.Errorf("read event %d: %w", index, err)
	}
	return linkd.Recorded{Event: e, Salt: salt, LogIndex: index}, nil
}

// Query selects events by one index, in event-time order.
type Query struct {
	Index  Index     // which index; ByTime scans every event
	Value  string    // the reference, "EQUIPMENT/LOAD" or UN/LOCODE; "" for ByTime
	From   time.Time // event time ≥ From; zero means no lower bound
	To     time.Time // event time < To; zero means no upper bound
	Cursor string    // the Next of the previous page; "" for the first page
	Limit  int       // events per page; 0 means 100, at most 1000
}

// Page is one page of a scan.
type Page struct {
	Events []linkd.Recorded
	Next   string // cursor of the next page; "" when this is the last
}

// MaxPageSize bounds Query.Limit.
const MaxPageSize = 1000

// Scan returns one page of the events of this log matching q.
func (l *Log) Scan(ctx context.Context, q Query) (Page, error) {
	size := l.Size()
	return scan(ctx, l.db, l.ix, l.sealer, q, func(num uint32) (int64, bool) { return size, num == l.num })
}

// scan returns one page of the events matching q in the logs that sizeOf
// accepts, up to each log's durable size.
func scan(ctx context.Context, db *pebble.DB, pending *pendingIndex, sealer Sealer, q Query, sizeOf func(num uint32) (int64, bool)) (Page, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return Page{}, linkd.Errorf(linkd.EInvalid, "limit %d: want 1 to %d", q.Limit, MaxPageSize)
	}
	if (q.Index == ByTime) != (q.Value == "") {
		return Page{}, linkd.Errorf(linkd.EInvalid, "a time scan takes no value; every other index needs one")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return Page{}, linkd.Errorf(linkd.EInvalid, "empty time range: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	prefix := indexPrefix(q.Index, q.Value)
	lower := append([]byte(nil), prefix...)
	if !q.From.IsZero() {
		lower = binary.BigEndian.AppendUint64(lower, timeKey(q.From))
	}
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		after := append(append(append([]byte(nil), prefix...), pos...), 0) // the smallest key after pos
		if bytes.Compare(after, lower) > 0 {
			lower = after
		}
	}
	upper := append([]byte(nil), prefix...)
	if !q.To.IsZero() {
		upper = binary.BigEndian.AppendUint64(upper, timeKey(q.To))
	} else {
		upper[len(upper)-1] = 1 // just past every key under prefix (which ends in 0)
	}
	it, err := newIndexIter(pending, prefix, lower, upper, func(o *pebble.IterOptions) (*pebble.Iterator, error) {
		return db.NewIterWithContext(ctx, o)
	})
	if err != nil {
		return Page{}, fmt.Errorf("scan: %w", err)
	}
	defer it.Close()
	// next moves to the next index entry of a durable event of an accepted
	// log, from where ok (the iterator's last move) left it.
	next := func(ok bool) (hit, bool) {
		for ; ok; ok = it.Next() {
			k := it.Key()
			if len(k) != len(prefix)+positionLen {
				continue
			}
			pos := k[len(prefix):]
			num := binary.BigEndian.Uint32(pos[8:12])
			size, accepted := sizeOf(num)
			if !accepted {
				continue
			}
			idx := be64(pos[12:])
			if idx >= size {
				continue // applied but not yet durable
			}
			return hit{pos: [positionLen]byte(pos), num: num, index: idx}, true
		}
		return hit{}, false
	}
	// The index gives the page's events in event-time order; they are read
	// in batches, each in log order (see readHits). An event whose payload
	// is gone leaves room for the next.
	var page Page
	var batch []hit
	var lastPos []byte
	h, more := next(it.First())
	for more && len(page.Events) < q.Limit {
		batch = batch[:0]
		for more && len(batch) < q.Limit-len(page.Events) {
			batch = append(batch, h)
			h, more = next(it.Next())
		}
		if err := it.Error(); err != nil {
			return Page{}, fmt.Errorf("scan: %w", err)
		}
		var last int
		if page.Events, last, err = readHits(ctx, db, sealer, batch, page.Events); err != nil {
			return Page{}, err
		}
		if last >= 0 {
			lastPos = batch[last].pos[:]
		}
	}
	if err := it.Error(); err != nil {
		return Page{}, fmt.Errorf("scan: %w", err)
	}
	if more {
		page.Next = encodeCursor(lastPos)
	}
	return page, nil
}

// InclusionProof returns the audit path of the event at index in the tree of
// the given size (≤ Size).
func (l *Log) InclusionProof(index, size int64) ([]tlog.Hash, error) {
	if size > l.Size() {
		return nil, linkd.Errorf(linkd.ENotFound, "the log has %d events, not %d", l.Size(), size)
	}
	if index < 0 || index >= size {
		return nil, linkd.Errorf(linkd.EInvalid, "index %d is not in a tree of size %d", index, size)
	}
	return tlog.InclusionProof(index, size, l.hashReader())
}

// ConsistencyProof returns the proof that the tree of size old is a prefix of
// the tree of size size (≤ Size).
func (l *Log) ConsistencyProof(old, size int64) ([]tlog.Hash, error) {
	if size > l.Size() {
		return nil, linkd.Errorf(linkd.ENotFound, "the log has %d events, not %d", l.Size(), size)
	}
	if old < 0 || old > size {
		return nil, linkd.Errorf(linkd.EInvalid, "no consistency proof from size %d to size %d", old, size)
	}
	return tlog.ConsistencyProof(old, size, l.hashReader())
}

// TreeHash returns the root of the tree of the given size (≤ Size).
func (l *Log) TreeHash(size int64) (tlog.Hash, error) {
	if size < 0 || size > l.Size() {
		return tlog.Hash{}, linkd.Errorf(linkd.ENotFound, "the log has %d events, not %d", l.Size(), size)
	}
	return tlog.TreeHash(size, l.hashReader())
}

// Bundle returns a proof bundle for the event with the given id against the
// newest checkpoint, which `linkd verify` checks offline.
func (l *Log) Bundle(ctx context.Context, id string) (linkd.ProofBundle, error) {
	note, cp := l.Checkpoint()
	rec, err := l.GetByID(ctx, id)
	if err != nil {
		return linkd.ProofBundle{}, err
	}
	proof, err := l.InclusionProof(rec.LogIndex, cp.Size)
	if err != nil {
		return linkd.ProofBundle{}, err
	}
	b := linkd.ProofBundle{
		Format: linkd.BundleFormat, Checkpoint: string(note), Event: rec.Event,
		Salt: rec.Salt, LogIndex: rec.LogIndex, InclusionProof: make([][]byte, len(proof)),
	}
	for i, h := range proof {
		b.InclusionProof[i] = append([]byte(nil), h[:]...)
	}
	return b, nil
}

// RawEntry is one entry of the log as stored: its leaf hash and, for an event
// this node holds, its salt and canonical encoding. The slices are valid only
// during the callback that receives them.
type RawEntry struct {
	Index int64
	Leaf  tlog.Hash
	Salt  []byte // nil for an entry held as a commitment only
	Canon []byte
}

// ReadRange calls fn with each entry in [from, to) in index order; to must
// not exceed Size. It stops at the first error fn returns.
func (l *Log) ReadRange(ctx context.Context, from, to int64, fn func(*RawEntry) error) error {
	if from < 0 || from > to || to > l.Size() {
		return linkd.Errorf(linkd.EInvalid, "range %d..%d is outside the log of size %d", from, to, l.Size())
	}
	return readRange(ctx, &l.space, from, to, fn)
}

func readRange(ctx context.Context, s *space, from, to int64, fn func(*RawEntry) error) error {
	if from == to {
		return nil
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: s.eventKey(from), UpperBound: s.eventKey(to)})
	if err != nil {
		return fmt.Errorf("read range: %w", err)
	}
	defer it.Close()
	next := from
	var re RawEntry
	var buf []byte // opened sealed records
	for ok := it.First(); ok; ok = it.Next() {
		idx := be64(it.Key()[5:])
		if idx != next {
			return fmt.Errorf("read range: entry %d is missing: the store is damaged", next)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("read range: entry %d: %w", idx, err)
		}
		re = RawEntry{Index: idx}
		if len(v) < len(tlog.Hash{}) {
			return fmt.Errorf("read range: entry %d: corrupt record of %d bytes", idx, len(v))
		}
		copy(re.Leaf[:], v)
		re.Salt, re.Canon, err = s.unseal(&buf, v)
		switch {
		case IsErased(err):
			re.Salt, re.Canon = nil, nil // what is left of it: the commitment
		case err != nil:
			return fmt.Errorf("read range: entry %d: %w", idx, err)
		}
		if err := fn(&re); err != nil {
			return err
		}
		next++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("read range: %w", err)
	}
	if next != to {
		return fmt.Errorf("read range: entry %d is missing: the store is damaged", next)
	}
	return nil
}

// CheckpointBoundary returns the size of the largest checkpoint the log
// issued in (from, limit], or, when it issued none there, the smallest above
// limit; limit is clipped to Size. Every committed batch ends in a checkpoint,
// so a reader that follows the log frame by frame can end each frame at a
// size the log signed.
func (l *Log) CheckpointBoundary(from, limit int64) (int64, error) {
	size := l.Size()
	if limit > size {
		limit = size
	}
	if from >= size {
		return 0, linkd.Errorf(linkd.EInvalid, "no checkpoint above %d in a log of size %d", from, size)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: l.checkpointKey(from + 1), UpperBound: l.checkpointKey(size + 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if limit > from && it.SeekLT(l.checkpointKey(limit+1)) {
		return be64(it.Key()[5:]), nil
	}
	if it.First() {
		return be64(it.Key()[5:]), nil
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no checkpoint between %d and %d: the store is damaged", from, size)
}

// Observe folds a clock stamp seen on a peer's event into the log's hybrid
// logical clock, so events recorded after it order after it.
func (l *Log) Observe(h linkd.HLC) { l.clock.Observe(h) }

// Party is the party that records this log.
func (l *Log) Party() linkd.Party { return l.self }
