// Package roster keeps each shipment's party list as this node knows it and
// stamps it on the events the node records, which is what decides who a
// link shares an event with (link.Entitled).
//
// The rules:
//
//   - The party that records a shipment's first event opens it and names its
//     parties in the event's party list; the opener is on it whatever it names.
//   - A party already on the list may add others: the parties its event
//     names are merged in.
//   - A party not on the list may record events about the shipment, which go
//     to the listed parties, but may not add anyone, itself included; it asks
//     a party on the list to add it.
//   - Every event leaves the node with the whole list as it stood when it was
//     recorded (the event's party list), narrowed per event by Visibility.
//
// A shipment is named by its booking, B/L and container references; an
// event's roster is the union of the lists filed under any of its
// references. The list is derived from the events the node holds — its own
// and the verified ones of its peers — so it needs no storage of its own: a
// cache answers repeated lookups and learns from every append and every
// verified frame. The lists follow event time: the earliest event of a
// shipment opens it, and a later event adds parties only if its origin was
// on the list (see fold).
package roster

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Roster stamps and tracks shipment party lists for one node. Its methods
// may be called concurrently.
//
// The cache is split into shards by reference, each with its own lock, so
// that stamping one request does not wait for another request's Learn: a
// shard's lock is held only to read or update a single list, never across a
// scan. A cached list is never modified in place (merge copies on write), so
// a list read under the lock may be used after it is released.
type Roster struct {
	self     linkd.Party
	logs     *partylog.Logs
	perShard int // cached references per shard
	seed     maphash.Seed

	shards [shardCount]shard
	// gens are bumped when a reference's list may have grown, so a lookup
	// whose scan raced with a Learn does not cache what the scan may have
	// missed. A reference's counter is gens[hash%len(gens)]; its shard is
	// shards[hash%shardCount], which divides len(gens).
	gens [4096]atomic.Uint64
}

const shardCount = 64

// shard holds the cached lists of the references that hash to it.
type shard struct {
	mu    sync.Mutex
	lists [3]map[string][]linkd.ShipmentParty // by reference kind (see mapFor), then value; a nil list: no events yet; guarded by mu
	order []ref                               // a ring in insertion order, for eviction; guarded by mu
	next  int                                 // the oldest entry of order once it is full; guarded by mu
}

// New returns the roster of the node whose logs these are. max bounds the
// cached references (a shipment has up to three); 0 means 100,000.
func New(self linkd.Party, logs *partylog.Logs, max int) *Roster {
	if max <= 0 {
		max = 100_000
	}
	r := &Roster{self: self, logs: logs, perShard: (max + shardCount - 1) / shardCount, seed: maphash.MakeSeed()}
	for i := range r.shards {
		for k := range r.shards[i].lists {
			r.shards[i].lists[k] = map[string][]linkd.ShipmentParty{}
		}
	}
	return r
}

// refs appends to buf[:0] the index keys a shipment is known by in an event.
func refs(buf *[3]ref, e *linkd.Event) []ref {
	out := buf[:0]
	if e.CarrierBookingReference != "" {
		out = append(out, ref{partylog.ByBooking, e.CarrierBookingReference})
	}
	if e.TransportDocumentReference != "" {
		out = append(out, ref{partylog.ByTransportDocument, e.TransportDocumentReference})
	}
	if e.EquipmentReference != "" {
		out = append(out, ref{partylog.ByEquipment, e.EquipmentReference})
	}
	return out
}

type ref struct {
	ix    partylog.Index
	value string
}

// mapFor is the shard's map for a reference's kind: maps keyed by the value
// alone hash and compare a string, not a struct.
func (s *shard) mapFor(rf ref) map[string][]linkd.ShipmentParty {
	switch rf.ix {
	case partylog.ByBooking:
		return s.lists[0]
	case partylog.ByTransportDocument:
		return s.lists[1]
	default:
		return s.lists[2]
	}
}

// slot returns the shard and generation counter of a reference.
func (r *Roster) slot(rf ref) (*shard, *atomic.Uint64) {
	h := maphash.String(r.seed, rf.value) ^ uint64(rf.ix)*0x9e3779b97f4a7c15
	return &r.shards[h%shardCount], &r.gens[h%uint64(len(r.gens))]
}

// Of returns the party list of the shipment an event is about, as this node
// knows it.
func (r *Roster) Of(ctx context.Context, e *linkd.Event) ([]linkd.ShipmentParty, error) {
	var buf [3]ref
	list, err := r.of(ctx, refs(&buf, e))
	return slices.Clone(list), err // a copy the caller may keep: list may be the cache's
}

// of returns the union of the lists filed under rs. The result may be a
// cached list: the caller must not modify it.
func (r *Roster) of(ctx context.Context, rs []ref) ([]linkd.ShipmentParty, error) {
	var out []linkd.ShipmentParty
	for _, rf := range rs {
		list, err := r.lookup(ctx, rf)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			out = list // cached lists hold each party once: no merge needed
			continue
		}
		out = merge(out, list)
	}
	return out, nil
}

// Stamp sets each event's party list to its shipment's roster after the
// event's own additions, or refuses the batch if an event adds parties its
// origin (this node's party) may not add. Events of one batch see the
// additions of the events before them.
func (r *Roster) Stamp(ctx context.Context, events []linkd.Event) error {
	var probs []linkd.Problem
	var pending map[ref][]linkd.ShipmentParty // this batch's additions by reference; only needed by a later event
	var buf [3]ref
	for i := range events {
		e := &events[i]
		if e.EventID != "" {
			// A retry of a recorded event keeps the list it was recorded
			// with, so the retry matches it and is acknowledged as a duplicate.
			if rec, err := r.logs.Own().GetByID(ctx, e.EventID); err == nil {
				e.Parties = rec.Event.Parties
				continue
			}
		}
		rs := refs(&buf, e)
		current, err := r.of(ctx, rs)
		if err != nil {
			return err
		}
		for _, rf := range rs {
			if p, ok := pending[rf]; ok {
				current = merge(current, p)
			}
		}
		named := e.Parties
		switch {
		case len(rs) == 0:
			// No shipment (a centre's stock position): the origin names who
			// receives it, and is on the list itself.
			e.Parties = merge(named, []linkd.ShipmentParty{{Party: r.self.ID, Role: r.role(named)}})
		case len(current) == 0:
			// Opening the shipment: the origin is on it.
			e.Parties = merge(named, []linkd.ShipmentParty{{Party: r.self.ID, Role: r.role(named)}})
		case on(current, r.self.ID):
			e.Parties = merge(current, named)
		default:
			if added := missing(current, named); len(added) > 0 {
				probs = append(probs, linkd.Problem{Field: field(len(events), i, "parties"),
					Reason: fmt.Sprintf("%s is not on the party list of this shipment (%s), so it cannot add %s; ask a party on it to add %s",
						r.self.ID, strings.Join(ids(current), ", "), strings.Join(added, ", "), r.self.ID)})
				continue
			}
			e.Parties = current
		}
		// A copy: the list may be the caller's slice or the cache's.
		e.Parties = slices.Clone(e.Parties)
		slices.SortFunc(e.Parties, func(a, b linkd.ShipmentParty) int { return strings.Compare(a.Party, b.Party) })
		if i < len(events)-1 && len(rs) > 0 {
			if pending == nil {
				pending = make(map[ref][]linkd.ShipmentParty)
			}
			for _, rf := range rs {
				pending[rf] = e.Parties
			}
		}
	}
	if len(probs) > 0 {
		return &linkd.Error{Code: linkd.EForbidden, Message: problems(probs)}
	}
	return nil
}

// role is the role the opener takes: the one it names for itself, else its
// first role as a party.
func (r *Roster) role(named []linkd.ShipmentParty) linkd.Role {
	for _, p := range named {
		if p.Party == r.self.ID {
			return p.Role
		}
	}
	if len(r.self.Roles) > 0 {
		return r.self.Roles[0]
	}
	return linkd.RoleShipper
}

// Learn folds recorded or verified events into the cached lists. Call it
// after events become durable: appended here or applied from a peer.
func (r *Roster) Learn(events []linkd.Event) {
	var buf [3]ref
	for i := range events {
		e := &events[i]
		if len(e.Parties) == 0 {
			continue
		}
		// A shipment's references usually hold equal lists: they share one
		// slice, so that a stamp's union of them is a pointer comparison.
		var shared []linkd.ShipmentParty
		for _, rf := range refs(&buf, e) {
			s, gen := r.slot(rf)
			s.mu.Lock()
			gen.Add(1)
			m := s.mapFor(rf)
			if list, ok := m[rf.value]; ok {
				list = fold(list, e, r.self.ID)
				if shared != nil && slices.Equal(list, shared) {
					list = shared
				}
				m[rf.value] = list
				shared = list
			}
			s.mu.Unlock()
		}
	}
}

// lookup returns the list filed under one reference, from the cache or the
// events the node holds. The result may be the cache's: the caller must not
// modify it.
func (r *Roster) lookup(ctx context.Context, rf ref) ([]linkd.ShipmentParty, error) {
	s, gen := r.slot(rf)
	s.mu.Lock()
	list, ok := s.mapFor(rf)[rf.value]
	g := gen.Load()
	s.mu.Unlock()
	if ok {
		return list, nil
	}
	q := partylog.Query{Index: rf.ix, Value: rf.value, Limit: partylog.MaxPageSize}
	for {
		page, err := r.logs.Scan(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("shipment party list of %s: %w", rf.value, err)
		}
		for i := range page.Events {
			list = fold(list, &page.Events[i].Event, r.self.ID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Cache the list unless something learnt meanwhile that the scan may
	// have missed, or a concurrent lookup of the same reference has.
	m := s.mapFor(rf)
	if _, ok := m[rf.value]; !ok && gen.Load() == g {
		if len(s.order) < r.perShard {
			s.order = append(s.order, rf)
		} else {
			old := s.order[s.next]
			delete(s.mapFor(old), old.value)
			s.order[s.next] = rf
			s.next = (s.next + 1) % len(s.order)
		}
		m[rf.value] = list
	}
	return list, nil
}

// fold applies one held event to a shipment's list, in event-time order:
// the first event's list opens it; later events add parties only if their
// origin is on the list by then. So a party that opened the same booking on
// its own, without the shipment's parties, cannot put itself on their list
// by having its events reach them.
// An event not yet stamped with an origin is self's.
func fold(list []linkd.ShipmentParty, e *linkd.Event, self string) []linkd.ShipmentParty {
	origin := e.Origin
	if origin == "" {
		origin = self
	}
	if len(list) == 0 || on(list, origin) {
		return merge(list, e.Parties)
	}
	return list
}

// merge returns a with b's parties added; a party already in a keeps its
// role.
func merge(a, b []linkd.ShipmentParty) []linkd.ShipmentParty {
	if len(b) <= len(a) && (len(b) == 0 || &a[0] == &b[0]) {
		return a // b is a's own start: a shared list
	}
	out := a
	copied := false
	for _, p := range b {
		if on(out, p.Party) {
			continue
		}
		if !copied {
			out = slices.Clone(out)
			copied = true
		}
		out = append(out, p)
	}
	return out
}

func on(list []linkd.ShipmentParty, id string) bool {
	return slices.ContainsFunc(list, func(p linkd.ShipmentParty) bool { return p.Party == id })
}

func missing(list, named []linkd.ShipmentParty) []string {
	var out []string
	for _, p := range named {
		if !on(list, p.Party) {
			out = append(out, p.Party)
		}
	}
	return out
}

func ids(list []linkd.ShipmentParty) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Party
	}
	return out
}

func field(n, i int, name string) string {
	if n == 1 {
		return name
	}
	return fmt.Sprintf("events[%d].%s", i, name)
}

func problems(ps []linkd.Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}
