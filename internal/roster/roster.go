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
// scan.
//
// A cached list is sorted by party id, has no spare capacity and is never
// modified (merge copies on write), so a list read under the lock may be
// used after it is released, and Stamp hands it to an event as it is: most
// events of a shipment add no one, and their party list is the cache's.
type Roster struct {
	self     linkd.Party
	logs     *partylog.Logs
	perShard int // cached references per shard
	seed     maphash.Seed

	shards  [shardCount]shard
	oneHash bool // tests: every reference hashes alike, as if all collided
	// gens are bumped when a reference's list may have grown, so a lookup
	// whose scan raced with a Learn does not cache what the scan may have
	// missed. A reference's counter is gens[hash%len(gens)]; its shard is
	// shards[hash%shardCount], which divides len(gens).
	gens [4096]atomic.Uint64
}

const shardCount = 64

// shard holds the cached lists of the references that hash to it.
//
// The lists are filed under the reference's 64-bit hash: a map keyed by an
// integer finds an entry without hashing or comparing the reference's
// string again, and the entry's own reference is compared once. Two
// references with one hash (with a random seed, practically never) are not
// both cached: the second is scanned each time, which is slower but right.
type shard struct {
	mu    sync.Mutex
	lists map[uint64]cached // by hash (see Roster.slot); guarded by mu
	order []uint64          // hashes in insertion order, a ring for eviction; guarded by mu
	next  int               // the oldest entry of order once it is full; guarded by mu
}

// cached is one reference's list; a nil list: no events yet.
type cached struct {
	ref  ref
	list []linkd.ShipmentParty
}

// New returns the roster of the node whose logs these are. max bounds the
// cached references (a shipment has up to three); 0 means 100,000.
func New(self linkd.Party, logs *partylog.Logs, max int) *Roster {
	if max <= 0 {
		max = 100_000
	}
	r := &Roster{self: self, logs: logs, perShard: (max + shardCount - 1) / shardCount, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].lists = map[uint64]cached{}
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

// slot returns a reference's hash, shard and generation counter.
func (r *Roster) slot(rf ref) (uint64, *shard, *atomic.Uint64) {
	h := maphash.String(r.seed, rf.value) ^ uint64(rf.ix)*0x9e3779b97f4a7c15
	if r.oneHash {
		h = 1
	}
	return h, &r.shards[h%shardCount], &r.gens[h%uint64(len(r.gens))]
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
//
// An event's list is sorted by party id. It may be the cache's own list,
// which nothing may modify: callers copy an event's list before changing it.
func (r *Roster) Stamp(ctx context.Context, events []linkd.Event) error {
	var probs []linkd.Problem
	var pending map[ref][]linkd.ShipmentParty // this batch's additions by reference; only needed by a later event
	var buf [3]ref
	var lists [3][]linkd.ShipmentParty
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
		var current []linkd.ShipmentParty
		for k, rf := range rs {
			list, err := r.lookup(ctx, rf)
			if err != nil {
				return err
			}
			if p, ok := pending[rf]; ok {
				list = merge(list, p)
			}
			lists[k] = list
			if len(current) == 0 {
				current = list // cached lists hold each party once: no merge needed
			} else {
				current = merge(current, list)
			}
		}
		named := e.Parties
		switch {
		case len(rs) == 0:
			// No shipment (a centre's stock position): the origin names who
			// receives it, and is on the list itself.
			e.Parties = slices.Clip(merge(sorted(named), []linkd.ShipmentParty{{Party: r.self.ID, Role: r.role(named)}}))
		case len(current) == 0:
			// Opening the shipment: the origin is on it.
			e.Parties = slices.Clip(merge(sorted(named), []linkd.ShipmentParty{{Party: r.self.ID, Role: r.role(named)}}))
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
		if i == len(events)-1 {
			continue
		}
		// A later event of the batch about the same shipment sees this
		// one's list where it holds more than the cache's. Every list under
		// rs is part of e.Parties, so a list as long holds the same parties.
		for k, rf := range rs {
			if len(lists[k]) < len(e.Parties) {
				if pending == nil {
					pending = make(map[ref][]linkd.ShipmentParty)
				}
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
			h, s, gen := r.slot(rf)
			s.mu.Lock()
			gen.Add(1)
			if c, ok := s.lists[h]; ok && c.ref == rf {
				list := fold(c.list, e, r.self.ID)
				if shared != nil && !same(list, shared) && slices.Equal(list, shared) {
					list = shared
				}
				if !same(list, c.list) {
					s.lists[h] = cached{ref: rf, list: list}
				}
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
	h, s, gen := r.slot(rf)
	s.mu.Lock()
	c, ok := s.lists[h]
	g := gen.Load()
	s.mu.Unlock()
	if ok && c.ref == rf {
		return c.list, nil
	}
	var list []linkd.ShipmentParty
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
	// have missed, or a concurrent lookup of the same reference has, or
	// another reference holds the hash.
	if _, ok := s.lists[h]; !ok && gen.Load() == g {
		if len(s.order) < r.perShard {
			s.order = append(s.order, h)
		} else {
			delete(s.lists, s.order[s.next])
			s.order[s.next] = h
			s.next = (s.next + 1) % len(s.order)
		}
		s.lists[h] = cached{ref: rf, list: list}
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
// role, and of two entries for one party in b the first counts. It returns
// a itself when b adds no one; otherwise a new list, sorted by party id,
// with no spare capacity (so that an append to it copies).
func merge(a, b []linkd.ShipmentParty) []linkd.ShipmentParty {
	if len(b) == 0 || same(a, b) || len(a) > len(b) && same(a[:len(b)], b) {
		return a // b is a itself or its start: a shared list
	}
	var out []linkd.ShipmentParty
	for i, p := range b {
		if on(a, p.Party) || on(b[:i], p.Party) {
			continue
		}
		if out == nil {
			out = make([]linkd.ShipmentParty, len(a), len(a)+len(b)-i)
			copy(out, a)
		}
		out = append(out, p)
	}
	if out == nil {
		return a
	}
	slices.SortFunc(out, byParty)
	return slices.Clip(out)
}

// same reports whether a and b are one slice.
func same(a, b []linkd.ShipmentParty) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sorted returns list sorted by party id: list itself if it is, else a copy.
func sorted(list []linkd.ShipmentParty) []linkd.ShipmentParty {
	if slices.IsSortedFunc(list, byParty) {
		return list
	}
	out := slices.Clone(list)
	slices.SortFunc(out, byParty)
	return out
}

func byParty(a, b linkd.ShipmentParty) int { return strings.Compare(a.Party, b.Party) }

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
