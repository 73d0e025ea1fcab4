package partylog

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// Logs is every log one store holds: the node's own and a replica of each
// linked peer's. Its reads merge them, so a query or a shipment timeline sees
// every event the node holds, whoever recorded it.
//
// Each replica gets a log number of its own, kept durably under
//
//	'n' partyID → log number(4)
//
// so a peer removed and added again finds its replica where it left it.
type Logs struct {
	db     *pebble.DB
	own    *Log
	logger *slog.Logger

	mu       sync.RWMutex
	replicas map[string]*Replica // by party id; guarded by mu
	byNum    map[uint32]*Replica // guarded by mu
}

const prefixLogNumber = 'n'

// NewLogs returns the logs of the store that holds own.
func NewLogs(own *Log, logger *slog.Logger) *Logs {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Logs{db: own.db, own: own, logger: logger, replicas: map[string]*Replica{}, byNum: map[uint32]*Replica{}}
}

// Own is the node's own log.
func (s *Logs) Own() *Log { return s.own }

// Replica opens (creating on first use) the replica of party's log, verified
// with logKey. A replica opened before is returned as it is; a different key
// for the same party is refused, since a log's key never changes.
func (s *Logs) Replica(party linkd.Party, logKey string) (*Replica, error) {
	if party.ID == s.own.self.ID {
		return nil, fmt.Errorf("replica of %s: that is this node's own log", party.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.replicas[party.ID]; ok {
		if logKey != r.logKey {
			return nil, fmt.Errorf("replica of %s: the log key differs from the one its replica is verified with", party.ID)
		}
		return r, nil
	}
	num, err := s.number(party.ID)
	if err != nil {
		return nil, err
	}
	r, err := openReplica(s.db, ReplicaConfig{Party: party, LogKey: logKey, LogNumber: num, Logger: s.logger, Sealer: s.own.sealer, pending: s.own.ix})
	if err != nil {
		return nil, err
	}
	s.replicas[party.ID], s.byNum[num] = r, r
	return r, nil
}

// Lookup returns the open replica of a party's log.
func (s *Logs) Lookup(partyID string) (*Replica, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.replicas[partyID]
	return r, ok
}

// Replicas returns the open replicas, by party id.
func (s *Logs) Replicas() []*Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Replica) int { return strings.Compare(a.party.ID, b.party.ID) })
	return out
}

// number returns the log number of party's replica, allocating the next
// free one (the own log is 0) on first use. Called with mu held.
func (s *Logs) number(party string) (uint32, error) {
	key := append([]byte{prefixLogNumber}, party...)
	sp := space{db: s.db}
	v, err := sp.get(key)
	if err != nil {
		return 0, fmt.Errorf("replica of %s: read log number: %w", party, err)
	}
	if v != nil {
		if err := mustLen(v, 4, "log number"); err != nil {
			return 0, err
		}
		return binary.BigEndian.Uint32(v), nil
	}
	// The largest number allocated so far, from the durable entries.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLogNumber}, UpperBound: []byte{prefixLogNumber + 1}})
	if err != nil {
		return 0, err
	}
	next := uint32(1)
	for ok := it.First(); ok; ok = it.Next() {
		if n := binary.BigEndian.Uint32(it.Value()); n >= next {
			next = n + 1
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if err := s.db.Set(key, binary.BigEndian.AppendUint32(nil, next), pebble.Sync); err != nil {
		return 0, fmt.Errorf("replica of %s: allocate log number: %w", party, err)
	}
	return next, nil
}

// sizeOf is the durable size of log num, if it is one of these logs.
func (s *Logs) sizeOf(num uint32) (int64, bool) {
	if num == s.own.num {
		return s.own.Size(), true
	}
	s.mu.RLock()
	r, ok := s.byNum[num]
	s.mu.RUnlock()
	if !ok {
		return 0, false
	}
	return r.Size(), true
}

// Scan returns one page of the events matching q across every log, in event
// time order.
func (s *Logs) Scan(ctx context.Context, q Query) (Page, error) {
	return scan(ctx, s.db, s.own.ix, s.own.sealer, q, s.sizeOf)
}

// GetByID returns the event with the given id from whichever log holds its
// payload: the own log first, then the replicas in party order.
func (s *Logs) GetByID(ctx context.Context, id string) (linkd.Recorded, error) {
	rec, err := s.own.GetByID(ctx, id)
	if err == nil || linkd.ErrorCode(err) != linkd.ENotFound || IsErased(err) {
		return rec, err
	}
	for _, r := range s.Replicas() {
		hit, found, err := r.lookupID(id)
		if err != nil {
			return linkd.Recorded{}, err
		}
		if found && hit < r.Size() {
			return r.read(hit)
		}
	}
	return linkd.Recorded{}, linkd.Errorf(linkd.ENotFound, "no event %s", clip(id))
}

// lookupID finds id in the replica's id index.
func (r *Replica) lookupID(id string) (int64, bool, error) {
	v, err := r.getIndexed(r.idKey(id))
	if err != nil {
		return 0, false, fmt.Errorf("look up event id: %w", err)
	}
	if v == nil {
		return 0, false, nil
	}
	if err := mustLen(v, idValueLen, "event id entry"); err != nil {
		return 0, false, err
	}
	return be64(v), true, nil
}

// CursorAfter returns the cursor that resumes a scan right after rec, which
// any of these logs may hold.
func (s *Logs) CursorAfter(rec linkd.Recorded) string {
	num := s.own.num
	if rec.Event.Origin != s.own.self.ID {
		if r, ok := s.Lookup(rec.Event.Origin); ok {
			num = r.num
		}
	}
	return encodeCursor(appendPosition(nil, timeKey(rec.Event.EventDateTime.Time), num, rec.LogIndex))
}

// Source is one log the node holds, as a reader that follows every log (the
// subscription feed, the rules) sees it: its party, its durable size and
// checkpoint, and its entries in order. Log and Replica are Sources.
type Source interface {
	Party() linkd.Party
	Size() int64
	Checkpoint() ([]byte, linkd.Checkpoint)
	ReadRange(ctx context.Context, from, to int64, fn func(*RawEntry) error) error
}

// Sources returns the node's own log first, then each replica by party id.
func (s *Logs) Sources() []Source {
	reps := s.Replicas()
	out := make([]Source, 0, 1+len(reps))
	out = append(out, s.own)
	for _, r := range reps {
		out = append(out, r)
	}
	return out
}

// Source returns the log of party, own or replica.
func (s *Logs) Source(party string) (Source, bool) {
	if party == s.own.self.ID {
		return s.own, true
	}
	r, ok := s.Lookup(party)
	if !ok {
		return nil, false
	}
	return r, true
}

// Scanner reads one page of a query: Log and Logs are Scanners.
type Scanner interface {
	Scan(ctx context.Context, q Query) (Page, error)
}

// Collect reads the pages of q until the last, or until it holds at least
// max events (0: no bound), and says whether it stopped with more to come.
// q.Limit sets the page size, 0 the largest.
func Collect(ctx context.Context, s Scanner, q Query, max int) (recs []linkd.Recorded, truncated bool, err error) {
	if q.Limit == 0 {
		q.Limit = MaxPageSize
	}
	for {
		p, err := s.Scan(ctx, q)
		if err != nil {
			return nil, false, err
		}
		if recs == nil {
			recs = p.Events // most queries take one page: keep it, uncopied
		} else {
			recs = append(recs, p.Events...)
		}
		if p.Next == "" {
			return recs, false, nil
		}
		if max > 0 && len(recs) >= max {
			return recs, true, nil
		}
		q.Cursor = p.Next
	}
}
