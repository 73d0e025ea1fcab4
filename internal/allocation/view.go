package allocation

import (
	"cmp"
	"slices"

	"github.com/linkd-dev/linkd"
)

// View is the Book at one moment, as GET /v1/allocations answers it. Every
// list is sorted (stock by facility then SKU, orders by order id, holds in
// canonical order, rejections in canonical order) and never nil, so equal
// Books give deep-equal Views and identical JSON.
type View struct {
	Events   int        `json:"events"` // events folded: the ones the Book uses, repeats once
	Stock    []Stock    `json:"stock"`
	Orders   []Order    `json:"orders"`
	Holds    []Hold     `json:"holds"` // open holds only
	Rejected []Rejected `json:"rejected"`
}

// Stock is one facility's position in one SKU, in units.
type Stock struct {
	Facility        string     `json:"facility"`
	SKU             string     `json:"sku"`
	OnHand          int64      `json:"onHand"`    // the latest STCK position; 0 without one
	Shipped         int64      `json:"shipped"`   // fulfilled since that position
	Allocated       int64      `json:"allocated"` // promised to orders held here, not yet fulfilled
	Available       int64      `json:"available"` // OnHand - Shipped - Allocated; negative when relying on inbound shipments
	PositionEventID string     `json:"positionEventID,omitempty"`
	PositionAt      linkd.Time `json:"positionAt,omitzero"` // the eventDateTime of that position
}

// Order is one customer order as the Book knows it.
type Order struct {
	OrderID     string   `json:"orderID"`
	SKU         string   `json:"sku"`
	Quantity    int64    `json:"quantity"`
	Facility    string   `json:"facility"`    // the centre serving it now (or that fulfilled it)
	AllocatedAt string   `json:"allocatedAt"` // the centre that allocated it against Inbound
	Status      Status   `json:"status"`
	Inbound     Shipment `json:"inbound,omitzero"` // the shipment it was allocated against
	// WaitsOn is the inbound shipment while the order is allocated against
	// it (status allocated); nil once another centre serves it from stock
	// or it is fulfilled.
	WaitsOn  *Shipment `json:"waitsOn,omitempty"`
	OnHold   bool      `json:"onHold,omitempty"`   // WaitsOn is under an open hold
	LentBy   string    `json:"lentBy,omitempty"`   // the centre that handed it over and may take it back
	MovedFor []string  `json:"movedFor,omitempty"` // ids of the events (holds) that caused its moves
	History  []string  `json:"history"`            // ids of the events that changed it, in canonical order
}

// Hold is an open hold on a shipment.
type Hold struct {
	EventID  string     `json:"eventID"`
	Origin   string     `json:"origin"`
	Since    linkd.Time `json:"since"`
	Reason   string     `json:"reason,omitempty"`
	Shipment Shipment   `json:"shipment"`
}

// Snapshot returns the whole Book as a View.
func (b *Book) Snapshot() View {
	var v View
	b.read(func(s *state, _ func(key) bool) {
		v.Events = s.n
		v.Stock = make([]Stock, 0, len(s.stock))
		for _, st := range s.stock {
			v.Stock = append(v.Stock, st.view())
		}
		slices.SortFunc(v.Stock, func(a, b Stock) int {
			return cmp.Or(cmp.Compare(a.Facility, b.Facility), cmp.Compare(a.SKU, b.SKU))
		})
		open := s.openHolds()
		v.Orders = make([]Order, 0, len(s.orders))
		for _, o := range s.orders {
			v.Orders = append(v.Orders, o.view(open))
		}
		slices.SortFunc(v.Orders, func(a, b Order) int { return cmp.Compare(a.OrderID, b.OrderID) })
		v.Holds = make([]Hold, 0, len(open))
		for _, h := range open {
			v.Holds = append(v.Holds, Hold{EventID: h.k.eventID(), Origin: h.k.origin, Since: h.at, Reason: h.reason, Shipment: h.ship})
		}
		v.Rejected = append(make([]Rejected, 0, len(s.rejected)), s.rejected...)
	})
	return v
}

// Filter selects orders; a zero field selects all.
type Filter struct {
	Facility string   // the centre serving the order now
	SKU      string   // the order's SKU
	Status   Status   // allocated, re-allocated or fulfilled
	Inbound  Shipment // orders allocated against a matching shipment (see Shipment.Matches)
	OnHold   bool     // only orders waiting on a held shipment
}

// Orders returns the orders f selects, sorted by order id.
func (b *Book) Orders(f Filter) []Order {
	var out []Order
	b.read(func(s *state, _ func(key) bool) {
		open := s.openHolds()
		for _, o := range s.orders {
			if f.Facility != "" && o.facility != f.Facility ||
				f.SKU != "" && o.sku != f.SKU ||
				f.Status != "" && o.status() != f.Status ||
				!f.Inbound.IsZero() && !o.inbound.Matches(f.Inbound) {
				continue
			}
			ov := o.view(open)
			if f.OnHold && !ov.OnHold {
				continue
			}
			out = append(out, ov)
		}
	})
	slices.SortFunc(out, func(a, b Order) int { return cmp.Compare(a.OrderID, b.OrderID) })
	return out
}

// Order returns the order with id, and whether the Book knows it.
func (b *Book) Order(id string) (Order, bool) {
	var ov Order
	var ok bool
	b.read(func(s *state, _ func(key) bool) {
		if o := s.orders[id]; o != nil {
			ov, ok = o.view(s.openHolds()), true
		}
	})
	return ov, ok
}

// Stock returns the position of facility in sku; a facility the Book knows
// nothing of has all zeros.
func (b *Book) Stock(facility, sku string) Stock {
	st := Stock{Facility: facility, SKU: sku}
	b.read(func(s *state, _ func(key) bool) {
		if r := s.stock[stockKey{facility, sku}]; r != nil {
			st = r.view()
		}
	})
	return st
}

func (st *stock) view() Stock {
	return Stock{
		Facility: st.facility, SKU: st.sku, OnHand: st.onHand, Shipped: st.shipped,
		Allocated: st.allocated, Available: st.available(),
		PositionEventID: st.positionID, PositionAt: st.positionAt,
	}
}

func (o *order) view(open []*hold) Order {
	v := Order{
		OrderID: o.id, SKU: o.sku, Quantity: o.qty, Facility: o.facility, AllocatedAt: o.home,
		Status: o.status(), Inbound: o.inbound, LentBy: o.lentBy,
		MovedFor: slices.Clone(o.movedFor), History: slices.Clone(o.history),
	}
	if v.Status == Allocated && !o.inbound.IsZero() {
		w := o.inbound
		v.WaitsOn = &w
		v.OnHold = heldBy(open, o.inbound) != nil
	}
	return v
}

func (s *state) openHolds() []*hold {
	var open []*hold
	for _, h := range s.holds {
		if h.open {
			open = append(open, h)
		}
	}
	return open
}

// heldBy returns the first of holds on ship, or nil.
func heldBy(holds []*hold, ship Shipment) *hold {
	for _, h := range holds {
		if h.ship.Matches(ship) {
			return h
		}
	}
	return nil
}
