// Package allocation derives a trade lane's inventory allocation from the
// events its distribution centres and customs record, and plans the
// re-allocations a customs hold calls for. It backs GET /v1/allocations and
// the rule "customs hold → re-allocate inventory".
//
// # What it promises
//
// A Book is a deterministic function of the set of events applied to it:
// two nodes holding the same events, applied in any order, any number of
// times, show the same View and plan the same events (strong eventual
// consistency). The Book keeps the events that matter to it and folds them
// in one canonical order; an event arriving out of that order makes the
// next read fold again. It reads no clock and no configuration.
//
// All methods are safe for concurrent use: Apply takes a write lock, the
// reads and the planners a read lock, and a read sees every Apply that
// returned before it began.
//
// # Which events count
//
// Only actual (ACT) events count. The Book keeps INVENTORY events (STCK,
// ALOC, RALC, FULF) and SHIPMENT HOLD and RELS; it ignores everything else.
// An event is identified by its origin and event id; a repeat is kept once
// (of two different events claiming one origin and id, which a verified
// log never allows, the one first in a fixed comparison of their content).
//
// Corrections are not applied yet: an event that retracts another states
// no fact and is ignored, but its target still counts; an event that
// supersedes another counts as a new statement (a later STCK or ALOC
// restates the position or the order anyway).
//
// # Canonical order
//
// Events fold in the order of their HLC stamp, then eventDateTime, origin
// and event id. The stamp comes first, not the event time, because an order
// passes from centre to centre and each step is recorded by a node that has
// seen the step before it; hybrid clocks observe the stamps they receive,
// so the stamp order is the one order in which every step follows its
// cause, however the parties' wall clocks disagree.
//
// # Custody: who may record what
//
// Only the origin of an event can record it. An order is changed only by
// the centre that holds it, or taken back by the centre that handed it
// over; a fulfilment racing a take-back is settled below. Events that break
// these rules (and a RELS that releases no open hold) are kept in
// View.Rejected with the reason, and change nothing:
//
//   - STCK counts when its origin is the facility. The position the centre
//     recorded last (in canonical order) is its units on hand of the SKU.
//   - ALOC counts when its origin is the facility. It creates the order
//     there, allocated against the inbound shipment the event names, or
//     restates an order the facility already holds (new quantity or
//     shipment). An order held elsewhere or fulfilled is not re-allocated
//     by ALOC.
//   - RALC moves an order from FromFacility to Facility. It counts when the
//     order is at FromFacility, is not fulfilled, names the order's SKU, and
//     either its origin is FromFacility (the holder hands the order on), or
//     its origin is Facility and that centre handed the order to
//     FromFacility in the order's latest move (the lender takes it back;
//     see Restore). The event's quantity becomes the order's.
//   - FULF counts when its origin is the facility and the order is there,
//     or the order was last taken back from that facility by its lender:
//     goods that left the building are a fact, so a fulfilment wins over a
//     concurrent take-back, in either order. A fulfilled order is final. A
//     FULF of an order the Book has never seen records it fulfilled.
//
// # Stock
//
// For each facility and SKU: OnHand is the latest STCK position, Shipped the
// units fulfilled there since that position (the centre's next position
// counts them out), Allocated the units of the orders the facility holds
// and has not fulfilled, and Available = OnHand - Shipped - Allocated, the
// units the centre can still promise from stock. Orders allocated against
// an inbound shipment count as allocated, so Available is negative when a
// centre has promised more than it holds, relying on what is inbound.
//
// # Orders
//
// An order is "allocated" at the centre that allocated it (where it waits
// on its inbound shipment), "re-allocated" while another centre serves it
// from stock, and "fulfilled" once a FULF counts. Its history lists the
// ids of the events that changed it, in canonical order.
//
// # Holds
//
// Each ACT SHIPMENT HOLD opens a hold on the shipment it names. An ACT RELS
// closes holds of its own origin only (no party lifts another's hold): the
// ones its causedBy names if it names any, otherwise every open one on the
// same shipment; a RELS naming a container does not release a hold on the
// whole shipment. Two events name the same shipment when they share a
// booking, transport document or container reference and no reference both
// give differs (Shipment.Matches).
package allocation

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/linkd-dev/linkd"
)

// Status is where an order stands.
type Status string

const (
	// Allocated: at the centre that allocated it, waiting on its inbound shipment.
	Allocated Status = "allocated"
	// Reallocated: served from stock by another centre.
	Reallocated Status = "re-allocated"
	// Fulfilled: shipped to the customer; never moved again.
	Fulfilled Status = "fulfilled"
)

// Shipment names a shipment by the keys events carry.
type Shipment struct {
	CarrierBookingReference    string `json:"carrierBookingReference,omitempty"`
	TransportDocumentReference string `json:"transportDocumentReference,omitempty"`
	EquipmentReference         string `json:"equipmentReference,omitempty"`
}

// ShipmentOf returns the shipment keys of e.
func ShipmentOf(e *linkd.Event) Shipment {
	return Shipment{e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference}
}

// Matches reports whether s and o name the same shipment: they share at
// least one key and no key both give differs. A booking matches a hold on
// one of its containers, but not a hold on a different container.
func (s Shipment) Matches(o Shipment) bool {
	shared := false
	for _, p := range [3][2]string{
		{s.CarrierBookingReference, o.CarrierBookingReference},
		{s.TransportDocumentReference, o.TransportDocumentReference},
		{s.EquipmentReference, o.EquipmentReference},
	} {
		if p[0] == "" || p[1] == "" {
			continue
		}
		if p[0] != p[1] {
			return false
		}
		shared = true
	}
	return shared
}

// IsZero reports whether s names no shipment.
func (s Shipment) IsZero() bool { return s == Shipment{} }

// String is the shipment's most familiar key: booking, else transport
// document, else container.
func (s Shipment) String() string {
	return cmp.Or(s.CarrierBookingReference, s.TransportDocumentReference, s.EquipmentReference)
}

type kind uint8

const (
	kindStock kind = iota + 1
	kindAlloc
	kindRealloc
	kindFulfil
	kindHold
	kindRelease
)

func (k kind) code() string {
	return [...]string{"", "STCK", "ALOC", "RALC", "FULF", "HOLD", "RELS"}[k]
}

// key identifies an event: ids are unique per origin.
type key struct{ origin, id string }

// rec is the part of an event the Book folds.
type rec struct {
	k        key
	kind     kind
	hlc      linkd.HLC
	at       linkd.Time
	ship     Shipment
	line     linkd.InventoryLine
	causedBy []string
	reason   string
}

// compact returns the rec of e, or false if the Book ignores e.
func compact(e *linkd.Event) (*rec, bool) {
	if e == nil || e.EventClassifierCode != "ACT" || e.RetractedEventID != "" {
		return nil, false
	}
	r := &rec{hlc: e.HLC, at: e.EventDateTime, ship: ShipmentOf(e)}
	switch {
	case e.EventType == linkd.Inventory && e.Inventory != nil:
		switch e.InventoryEventTypeCode {
		case "STCK":
			r.kind = kindStock
		case "ALOC":
			r.kind = kindAlloc
		case "RALC":
			r.kind = kindRealloc
		case "FULF":
			r.kind = kindFulfil
		default:
			return nil, false
		}
		r.line = *e.Inventory
	case e.EventType == linkd.Shipment && e.ShipmentEventTypeCode == "HOLD":
		r.kind, r.reason = kindHold, e.Reason
	case e.EventType == linkd.Shipment && e.ShipmentEventTypeCode == "RELS":
		r.kind = kindRelease
	default:
		return nil, false
	}
	if r.kind == kindRealloc || r.kind == kindRelease {
		r.causedBy = slices.Clone(e.CausedBy) // which hold moved an order; which holds a release lifts
	}
	r.k = key{e.Origin, e.EventID}
	if e.EventID == "" {
		// Never so for recorded events; keep unidentified events apart by content.
		r.k.id = "\x00" + string(linkd.AppendCanonical(nil, e))
	}
	return r, true
}

// eventID is the event id to show: "" for an event that had none.
func (k key) eventID() string {
	if strings.HasPrefix(k.id, "\x00") {
		return ""
	}
	return k.id
}

func (r *rec) eventID() string { return r.k.eventID() }

// compareOrder is the canonical fold order; it returns 0 only for one key.
func compareOrder(a, b *rec) int {
	return cmp.Or(
		cmp.Compare(a.hlc, b.hlc),
		a.at.Time.Compare(b.at.Time),
		cmp.Compare(a.k.origin, b.k.origin),
		cmp.Compare(a.k.id, b.k.id),
	)
}

// compareContent orders two recs of one key by everything they carry, so
// the choice between conflicting copies does not depend on arrival.
func compareContent(a, b *rec) int {
	if c := compareOrder(a, b); c != 0 {
		return c
	}
	la, lb := a.line, b.line
	return cmp.Or(
		cmp.Compare(a.kind, b.kind),
		cmp.Compare(a.at.String(), b.at.String()),
		cmp.Compare(a.ship.CarrierBookingReference, b.ship.CarrierBookingReference),
		cmp.Compare(a.ship.TransportDocumentReference, b.ship.TransportDocumentReference),
		cmp.Compare(a.ship.EquipmentReference, b.ship.EquipmentReference),
		cmp.Compare(la.Facility, lb.Facility),
		cmp.Compare(la.SKU, lb.SKU),
		cmp.Compare(la.Quantity, lb.Quantity),
		cmp.Compare(la.OrderID, lb.OrderID),
		cmp.Compare(la.FromFacility, lb.FromFacility),
		slices.Compare(a.causedBy, b.causedBy),
		cmp.Compare(a.reason, b.reason),
	)
}

// Book is the allocation state derived from the events applied to it. The
// zero Book is not usable; call New.
type Book struct {
	mu     sync.RWMutex
	events map[key]*rec // guarded by mu; every event kept, one per key
	seq    []*rec       // guarded by mu; the folded events in canonical order, unless dirty
	dirty  bool         // guarded by mu; an event arrived out of order: fold again before reading
	st     *state       // guarded by mu
}

// New returns an empty Book.
func New() *Book {
	return &Book{events: map[key]*rec{}, st: newState()}
}

// Apply adds e to the Book. Events the Book does not use (not ACT, not
// INVENTORY or SHIPMENT HOLD/RELS) are ignored, and so is a repeat. e is
// not retained: Apply copies what it needs.
func (b *Book) Apply(e *linkd.Event) {
	r, ok := compact(e)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, dup := b.events[r.k]; dup {
		if compareContent(r, old) < 0 {
			b.events[r.k] = r
			b.dirty = true
		}
		return
	}
	b.events[r.k] = r
	if !b.dirty && (len(b.seq) == 0 || compareOrder(b.seq[len(b.seq)-1], r) < 0) {
		// The common case: events arrive in canonical order and fold at once.
		b.seq = append(b.seq, r)
		b.st.fold(r)
		return
	}
	b.dirty = true
}

// refoldLocked folds every event again in canonical order.
func (b *Book) refoldLocked() {
	b.seq = b.seq[:0]
	for _, r := range b.events {
		b.seq = append(b.seq, r)
	}
	slices.SortFunc(b.seq, compareOrder)
	b.st = newState()
	for _, r := range b.seq {
		b.st.fold(r)
	}
	b.dirty = false
}

// read calls f with the folded state under a lock that keeps it still.
func (b *Book) read(f func(s *state, applied func(key) bool)) {
	applied := func(k key) bool { _, ok := b.events[k]; return ok }
	b.mu.RLock()
	if !b.dirty {
		defer b.mu.RUnlock()
		f(b.st, applied)
		return
	}
	b.mu.RUnlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dirty {
		b.refoldLocked()
	}
	f(b.st, applied)
}

type stockKey struct{ facility, sku string }

type stock struct {
	facility, sku string
	onHand        int64
	shipped       int64
	allocated     int64
	positionID    string
	positionAt    linkd.Time
}

func (s *stock) available() int64 { return s.onHand - s.shipped - s.allocated }

type order struct {
	id, sku       string
	qty           int64
	facility      string // where it is served now
	home          string // the centre that allocated it against its inbound shipment
	fulfilled     bool
	inbound       Shipment // the shipment it was allocated against
	lentBy        string   // the centre that handed it to facility in its latest move, if it may take it back
	lentFor       []string // causedBy of that move
	movedFor      []string // causedBy of every hand-on, in order, without repeats
	reclaimedFrom string   // set while the latest change was a take-back from this centre
	seq           int      // fold position of the event that created it: first allocated, first served
	history       []string
}

func (o *order) status() Status {
	switch {
	case o.fulfilled:
		return Fulfilled
	case o.facility == o.home:
		return Allocated
	}
	return Reallocated
}

type hold struct {
	k          key
	at         linkd.Time
	reason     string
	ship       Shipment
	open       bool
	releasedBy key
	// inbound is, per centre and SKU, the units the centres had allocated
	// against the shipment when the hold came: the Book's measure of what
	// the shipment brings each centre, since no event states its contents.
	inbound map[string]map[string]int64
}

// Rejected is an event that counted for nothing, and why.
type Rejected struct {
	EventID string `json:"eventID"`
	Origin  string `json:"origin"`
	Code    string `json:"code"` // STCK, ALOC, RALC, FULF, HOLD or RELS
	OrderID string `json:"orderID,omitempty"`
	Why     string `json:"why"`
}

// state is the fold of the events in canonical order.
type state struct {
	n        int
	stock    map[stockKey]*stock
	bySKU    map[string][]*stock
	orders   map[string]*order
	holds    []*hold
	rejected []Rejected
}

func newState() *state {
	return &state{stock: map[stockKey]*stock{}, bySKU: map[string][]*stock{}, orders: map[string]*order{}}
}

func (s *state) row(facility, sku string) *stock {
	k := stockKey{facility, sku}
	st := s.stock[k]
	if st == nil {
		st = &stock{facility: facility, sku: sku}
		s.stock[k] = st
		s.bySKU[sku] = append(s.bySKU[sku], st)
	}
	return st
}

// assign and unassign keep Allocated in step with where orders are.
func (s *state) assign(o *order) {
	if !o.fulfilled {
		s.row(o.facility, o.sku).allocated += o.qty
	}
}

func (s *state) unassign(o *order) {
	if !o.fulfilled {
		s.row(o.facility, o.sku).allocated -= o.qty
	}
}

func (s *state) reject(r *rec, format string, args ...any) {
	s.rejected = append(s.rejected, Rejected{
		EventID: r.eventID(), Origin: r.k.origin, Code: r.kind.code(),
		OrderID: r.line.OrderID, Why: fmt.Sprintf(format, args...),
	})
}

func (s *state) fold(r *rec) {
	pos := s.n
	s.n++
	l := &r.line
	switch r.kind {
	case kindStock:
		if r.k.origin != l.Facility {
			s.reject(r, "%s may not state the stock of %s: a position counts only from the centre itself", r.k.origin, l.Facility)
			return
		}
		if l.Quantity < 0 {
			s.reject(r, "negative stock position %d", l.Quantity)
			return
		}
		st := s.row(l.Facility, l.SKU)
		st.onHand, st.shipped, st.positionID, st.positionAt = l.Quantity, 0, r.eventID(), r.at
		return
	case kindHold:
		h := &hold{k: r.k, at: r.at, reason: r.reason, ship: r.ship, open: true, inbound: map[string]map[string]int64{}}
		for _, o := range s.orders {
			if !o.fulfilled && o.facility == o.home && o.inbound.Matches(r.ship) {
				m := h.inbound[o.home]
				if m == nil {
					m = map[string]int64{}
					h.inbound[o.home] = m
				}
				m[o.sku] += o.qty
			}
		}
		s.holds = append(s.holds, h)
		return
	case kindRelease:
		closed := s.releases(r.k.origin, r.causedBy, r.ship)
		if len(closed) == 0 {
			s.reject(r, "releases no open hold of %s on %s", r.k.origin, r.ship)
		}
		for _, h := range closed {
			h.open, h.releasedBy = false, r.k
		}
		return
	}

	// Orders.
	if l.OrderID == "" || l.Quantity < 1 {
		s.reject(r, "an order line needs an order id and at least one unit")
		return
	}
	o := s.orders[l.OrderID]
	if o == nil && r.kind == kindRealloc && r.k.origin == l.FromFacility {
		// A centre that receives an order may never have been entitled to
		// its allocation (that went to the parties of the inbound
		// shipment): the hand-on by the centre that held it is what it
		// knows, and it says where the order was allocated.
		o = &order{id: l.OrderID, sku: l.SKU, qty: l.Quantity, facility: l.FromFacility, home: l.FromFacility, inbound: r.ship, seq: pos}
		s.orders[o.id] = o
		s.assign(o)
	}
	switch {
	case o == nil && r.kind == kindRealloc:
		s.reject(r, "order %s is not allocated anywhere", l.OrderID)
		return
	case o != nil && o.fulfilled:
		s.reject(r, "order %s was fulfilled at %s", o.id, o.facility)
		return
	case o != nil && o.sku != l.SKU:
		s.reject(r, "order %s is of %s, not %s", o.id, o.sku, l.SKU)
		return
	}

	switch r.kind {
	case kindAlloc:
		if r.k.origin != l.Facility {
			s.reject(r, "%s may not allocate at %s: only the centre itself allocates", r.k.origin, l.Facility)
			return
		}
		if o == nil {
			o = &order{id: l.OrderID, sku: l.SKU, seq: pos}
			s.orders[o.id] = o
		} else if o.facility != l.Facility {
			s.reject(r, "order %s is held by %s; only it may change the order", o.id, o.facility)
			return
		} else {
			s.unassign(o)
		}
		o.qty, o.facility, o.home, o.inbound = l.Quantity, l.Facility, l.Facility, r.ship
		o.lentBy, o.lentFor, o.reclaimedFrom = "", nil, ""
		s.assign(o)

	case kindRealloc:
		from, to := l.FromFacility, l.Facility
		if o.facility != from {
			s.reject(r, "order %s is at %s, not %s", o.id, o.facility, from)
			return
		}
		switch {
		case r.k.origin == from: // the holder hands the order on
			s.unassign(o)
			o.facility, o.qty, o.reclaimedFrom = to, l.Quantity, ""
			if to == o.home {
				o.lentBy, o.lentFor = "", nil
			} else {
				o.lentBy, o.lentFor = from, r.causedBy
			}
			for _, c := range r.causedBy {
				if !slices.Contains(o.movedFor, c) {
					o.movedFor = append(o.movedFor, c)
				}
			}
			s.assign(o)
		case r.k.origin == to && o.lentBy == to: // the lender takes it back
			s.unassign(o)
			o.facility, o.qty, o.reclaimedFrom = to, l.Quantity, from
			o.lentBy, o.lentFor = "", nil
			s.assign(o)
		default:
			s.reject(r, "%s may not move order %s: it is held by %s", r.k.origin, o.id, o.facility)
			return
		}

	case kindFulfil:
		if r.k.origin != l.Facility {
			s.reject(r, "%s may not fulfil at %s: only the centre itself ships", r.k.origin, l.Facility)
			return
		}
		if o == nil {
			o = &order{id: l.OrderID, sku: l.SKU, facility: l.Facility, home: l.Facility, inbound: r.ship, seq: pos}
			s.orders[o.id] = o
		} else if o.facility != l.Facility && o.reclaimedFrom != l.Facility {
			s.reject(r, "order %s is held by %s, not %s", o.id, o.facility, l.Facility)
			return
		} else {
			s.unassign(o)
		}
		o.facility, o.qty, o.fulfilled = l.Facility, l.Quantity, true
		o.lentBy, o.lentFor, o.reclaimedFrom = "", nil, ""
		s.row(l.Facility, l.SKU).shipped += l.Quantity
	}
	o.history = append(o.history, r.eventID())
}

// releases returns the open holds a RELS of origin with causedBy and ship
// closes, in fold order.
func (s *state) releases(origin string, causedBy []string, ship Shipment) []*hold {
	var named, scoped []*hold
	for _, h := range s.holds {
		if !h.open || h.k.origin != origin {
			continue
		}
		if slices.Contains(causedBy, h.k.id) {
			named = append(named, h)
		}
		if h.ship.Matches(ship) && (ship.EquipmentReference == "" || ship.EquipmentReference == h.ship.EquipmentReference) {
			scoped = append(scoped, h)
		}
	}
	if len(named) > 0 {
		return named
	}
	return scoped
}

func (s *state) hold(k key) *hold {
	for _, h := range s.holds {
		if h.k == k {
			return h
		}
	}
	return nil
}
