package allocation

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/linkd-dev/linkd"
)

// Plan is what a centre should record in answer to a hold or a release,
// and what it leaves as it is.
type Plan struct {
	// Events are the RALC events for self to record, one per move, in the
	// order of Moves. Each is ACT, dated at the trigger's eventDateTime,
	// names the trigger's shipment keys, is caused by the trigger (when it
	// has an event id), and has Origin set to self. EventID, Parties,
	// Visibility and Residency are left to the caller; the node derives the
	// id from the content, so recording one plan twice records it once.
	Events  []linkd.Event
	Moves   []Move
	Unmoved []Unmoved // affected orders that stay where they are, and why
}

// Move is one order changing centre.
type Move struct {
	OrderID  string `json:"orderID"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// Unmoved is an order a plan considered and left where it is.
type Unmoved struct {
	OrderID  string `json:"orderID"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Facility string `json:"facility"` // where it stays
	Why      string `json:"why"`
}

// Reallocate returns the RALC events self should record because trigger,
// an ACT SHIPMENT HOLD, holds an inbound shipment. It is
// PlanReallocation(trigger, self).Events.
func (b *Book) Reallocate(trigger *linkd.Event, self string) []linkd.Event {
	return b.PlanReallocation(trigger, self).Events
}

// Restore returns the RALC events self should record because trigger, an
// ACT SHIPMENT RELS, releases a shipment. It is PlanRestore(trigger,
// self).Events.
func (b *Book) Restore(trigger *linkd.Event, self string) []linkd.Event {
	return b.PlanRestore(trigger, self).Events
}

// PlanReallocation plans how self, a distribution centre, moves its orders
// off a shipment trigger holds. trigger must be an ACT SHIPMENT HOLD;
// anything else, an empty self, or a hold the Book already holds released,
// gives an empty Plan.
//
// The affected orders are those self allocated against the held shipment
// (Shipment.Matches) and still holds, unfulfilled, served first allocated,
// first served. Each goes whole to the other centre with the most units of
// its SKU available, at least the order's quantity, ties going to the
// lower party id; units the plan has given away are not available to the
// orders after it, so no centre is promised more than it has. Orders are
// never split: an order is one delivery from one centre, and its events
// carry one facility. An order no centre can serve whole stays at self,
// waiting on the held shipment, and is listed in Unmoved.
//
// Planning again after self's events are applied gives no events, since
// the moved orders are no longer at self. An order that was moved because
// of this same hold and came back (handed back, or taken back) is not sent
// away again; it is listed in Unmoved.
//
// The plan is a function of the Book's events, trigger and self.
func (b *Book) PlanReallocation(trigger *linkd.Event, self string) Plan {
	var p Plan
	if !isAct(trigger, "HOLD") || self == "" {
		return p
	}
	held := ShipmentOf(trigger)
	if held.IsZero() {
		return p
	}
	b.read(func(s *state, _ func(key) bool) {
		if tr, ok := compact(trigger); ok {
			if h := s.hold(tr.k); h != nil && !h.open {
				return // already released: nothing to answer
			}
		}
		var affected []*order
		for _, o := range s.orders {
			if !o.fulfilled && o.facility == self && o.home == self && o.inbound.Matches(held) {
				affected = append(affected, o)
			}
		}
		slices.SortFunc(affected, func(a, b *order) int { return cmp.Compare(a.seq, b.seq) })

		if len(affected) > 0 {
			p.Events = make([]linkd.Event, 0, len(affected))
			p.Moves = make([]Move, 0, len(affected))
		}
		used := map[stockKey]int64{} // units this plan has promised, per centre and SKU
		for _, o := range affected {
			if trigger.EventID != "" && slices.Contains(o.movedFor, trigger.EventID) {
				p.Unmoved = append(p.Unmoved, Unmoved{o.id, o.sku, o.qty, self, "re-allocated once already because of this hold; it came back, so it stays"})
				continue
			}
			var best *stock
			var bestAvail, most int64
			var mostAt string
			for _, st := range s.bySKU[o.sku] {
				if st.facility == self {
					continue
				}
				a := st.available() - used[stockKey{st.facility, st.sku}]
				if a > most || a == most && a > 0 && st.facility < mostAt {
					most, mostAt = a, st.facility
				}
				if a < o.qty {
					continue
				}
				if best == nil || a > bestAvail || a == bestAvail && st.facility < best.facility {
					best, bestAvail = st, a
				}
			}
			if best == nil {
				why := fmt.Sprintf("no other centre has %d units of %s available", o.qty, o.sku)
				if mostAt != "" {
					why += fmt.Sprintf("; the most is %d at %s", most, mostAt)
				}
				p.Unmoved = append(p.Unmoved, Unmoved{o.id, o.sku, o.qty, self, why})
				continue
			}
			used[stockKey{best.facility, best.sku}] += o.qty
			reason := fmt.Sprintf("inbound shipment %s held%s: order %s moves to %s", held, by(trigger.Origin), o.id, best.facility)
			p.Moves = append(p.Moves, Move{o.id, o.sku, o.qty, self, best.facility})
			p.Events = append(p.Events, ralc(trigger, self, o, self, best.facility, reason))
		}
	})
	return p
}

// PlanRestore plans what self, a distribution centre, takes back when
// trigger, an ACT SHIPMENT RELS, releases holds that made self move orders
// away. Anything else, or an empty self, gives an empty Plan.
//
// Who records the move back: self does, as the RALC's origin, with
// Facility self and FromFacility the centre serving the order now. The
// centre that handed an order over is the one that sees the release (it
// is on the held shipment; the centres that helped out may not be) and the
// one whose customer the order is. The Book honours such a take-back only
// while the order's latest move was self handing it to that centre (see
// the package comment), and a fulfilment at that centre wins over it in
// either order, so a take-back racing a shipment never un-ships an order.
//
// What still makes sense to reverse: trigger releases the holds the Book
// records it closing (or, before trigger is applied, the open holds it
// would close). An order comes into question when self moved it away
// because of a hold that is now released and trigger released a hold on
// its inbound shipment (so the last of several holds brings back what the
// first moved). It comes back, first allocated first, when all of these
// hold:
//
//   - it is not fulfilled;
//   - its latest move was still self's hand-over, for a released hold
//     (the other centre has not passed it on);
//   - no open hold still holds its inbound shipment;
//   - self can promise it: self's available units of the SKU, plus the
//     units of the SKU self had allocated against the shipment when the
//     hold came (the Book's measure of what the released shipment brings
//     self; the largest over the holds the orders were moved for), less
//     what the plan has already taken back, cover the order. An order whose
//     inbound units self re-promised meanwhile thus stays where it is.
//
// Every other order in question is listed in Unmoved.
// Planning again after self's events are applied gives nothing.
func (b *Book) PlanRestore(trigger *linkd.Event, self string) Plan {
	var p Plan
	tr, ok := compact(trigger)
	if !ok || tr.kind != kindRelease || self == "" {
		return p
	}
	b.read(func(s *state, applied func(key) bool) {
		var released []*hold
		if applied(tr.k) {
			for _, h := range s.holds {
				if !h.open && h.releasedBy == tr.k {
					released = append(released, h)
				}
			}
		} else {
			released = s.releases(tr.k.origin, tr.causedBy, tr.ship)
		}
		if len(released) == 0 {
			return
		}
		// closed holds once trigger counts: the ones it releases and every
		// one released before.
		closed := map[string]*hold{}
		var still []*hold
		for _, h := range s.holds {
			switch {
			case slices.Contains(released, h), !h.open:
				closed[h.k.id] = h
			default:
				still = append(still, h)
			}
		}
		closedBy := func(ids []string) []*hold {
			var hs []*hold
			for _, id := range ids {
				if h := closed[id]; h != nil {
					hs = append(hs, h)
				}
			}
			return hs
		}

		var moved []*order
		for _, o := range s.orders {
			if o.home == self && o.facility != self && len(closedBy(o.movedFor)) > 0 && heldBy(released, o.inbound) != nil {
				moved = append(moved, o)
			}
		}
		slices.SortFunc(moved, func(a, b *order) int { return cmp.Compare(a.seq, b.seq) })
		var sources []*hold // the released holds these orders were lent for
		for _, o := range moved {
			for _, h := range closedBy(o.lentFor) {
				if !slices.Contains(sources, h) {
					sources = append(sources, h)
				}
			}
		}

		room := map[string]int64{} // per SKU: units self can still promise
		roomFor := func(sku string) int64 {
			if r, ok := room[sku]; ok {
				return r
			}
			var inbound int64
			for _, h := range sources {
				inbound = max(inbound, h.inbound[self][sku])
			}
			r := inbound
			if st := s.stock[stockKey{self, sku}]; st != nil {
				r += st.available()
			}
			room[sku] = r
			return r
		}
		ship := tr.ship
		for _, o := range moved {
			why := ""
			switch h := heldBy(still, o.inbound); {
			case o.fulfilled:
				why = fmt.Sprintf("fulfilled at %s", o.facility)
			case o.lentBy != self:
				why = fmt.Sprintf("passed on to %s by %s; only %s may move it now", o.facility, cmp.Or(o.lentBy, o.facility), o.facility)
			case len(closedBy(o.lentFor)) == 0:
				why = "moved for a hold that is still open"
			case h != nil:
				why = fmt.Sprintf("inbound shipment %s is still held%s", o.inbound, by(h.k.origin))
			case roomFor(o.sku) < o.qty:
				why = fmt.Sprintf("%s can promise %d units of %s counting the released shipment; the order needs %d",
					self, max(0, roomFor(o.sku)), o.sku, o.qty)
			}
			if why != "" {
				p.Unmoved = append(p.Unmoved, Unmoved{o.id, o.sku, o.qty, o.facility, why})
				continue
			}
			room[o.sku] -= o.qty
			reason := fmt.Sprintf("inbound shipment %s released%s: order %s moves back from %s to %s",
				cmp.Or(ship.String(), o.inbound.String()), by(tr.k.origin), o.id, o.facility, self)
			p.Moves = append(p.Moves, Move{o.id, o.sku, o.qty, o.facility, self})
			p.Events = append(p.Events, ralc(trigger, self, o, o.facility, self, reason))
		}
	})
	return p
}

func isAct(e *linkd.Event, code string) bool {
	return e != nil && e.EventType == linkd.Shipment && e.ShipmentEventTypeCode == code && e.EventClassifierCode == "ACT"
}

func by(origin string) string {
	if origin == "" {
		return ""
	}
	return " by " + origin
}

// ralc is the event recording o's move from one centre to another.
func ralc(trigger *linkd.Event, self string, o *order, from, to, reason string) linkd.Event {
	e := linkd.Event{
		EventType:                  linkd.Inventory,
		EventClassifierCode:        "ACT",
		EventDateTime:              trigger.EventDateTime,
		InventoryEventTypeCode:     "RALC",
		Inventory:                  &linkd.InventoryLine{Facility: to, SKU: o.sku, Quantity: o.qty, OrderID: o.id, FromFacility: from},
		CarrierBookingReference:    trigger.CarrierBookingReference,
		TransportDocumentReference: trigger.TransportDocumentReference,
		EquipmentReference:         trigger.EquipmentReference,
		Reason:                     reason,
		Origin:                     self,
	}
	if linkd.IsUUID(trigger.EventID) {
		e.CausedBy = []string{trigger.EventID}
	}
	return e
}
