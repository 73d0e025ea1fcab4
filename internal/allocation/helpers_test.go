package allocation_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/allocation"
)

// The lane's parties.
const (
	hamburg   = "dc-hamburg"
	rotterdam = "dc-rotterdam"
	antwerp   = "dc-antwerp"
	customs   = "eu-customs"
	carrier   = "oceanic-lines"
)

const (
	booking      = "OCLVNHAM0000042" // the inbound shipment customs holds
	bl           = "OCLU0000000297"
	otherBooking = "OCLVNHAM0000043" // another inbound shipment to Hamburg, never held
	rtmBooking   = "OCLVNRTM0000051" // Rotterdam's own inbound shipment

	tv      = "TV-55-OLED"
	speaker = "SPK-BT-20"
	laptop  = "NB-14-PRO"
)

var (
	cet = time.FixedZone("CET", 3600)
	t0  = time.Date(2026, 12, 1, 8, 0, 0, 0, cet)
)

// lane records events as the parties' nodes would: it validates each one,
// stamps it with one hybrid clock that advances a second per event (so the
// order of record calls is the order of recording, and every party has
// seen every earlier event), dates it at that time unless it has a date,
// and gives it the id the node would derive. With perParty, each party has
// its own clock instead, all starting at t0 and ticking a millisecond per
// event, so stamps of different parties collide as real ones do.
type lane struct {
	t        testing.TB
	wall     int64
	perParty bool
	size     map[string]int64
	events   []linkd.Event
}

func newLane(t testing.TB) *lane {
	return &lane{t: t, wall: t0.UnixMilli(), size: map[string]int64{}}
}

// record records e with origin and returns it as recorded.
func (l *lane) record(origin string, e linkd.Event) linkd.Event {
	l.t.Helper()
	if e.Origin != "" && e.Origin != origin {
		l.t.Fatalf("event of %s recorded by %s", e.Origin, origin)
	}
	e.Origin = origin
	l.wall += 1000
	if e.EventDateTime.IsZero() {
		e.EventDateTime = linkd.Time{Time: time.UnixMilli(l.wall).In(cet)}
	}
	if probs := e.Validate(""); len(probs) > 0 {
		l.t.Fatalf("event is invalid: %v\n%+v", probs, e)
	}
	if e.EventID == "" {
		e.EventID = linkd.DeriveEventID(origin, &e)
	}
	e.HLC = linkd.MakeHLC(l.wall, 0)
	if l.perParty {
		e.HLC = linkd.MakeHLC(t0.UnixMilli()+l.size[origin], 0)
	}
	l.size[origin]++
	l.events = append(l.events, e)
	return e
}

// recordAll records events of origin in order and returns them as recorded.
func (l *lane) recordAll(origin string, events []linkd.Event) []linkd.Event {
	l.t.Helper()
	out := make([]linkd.Event, len(events))
	for i, e := range events {
		out[i] = l.record(origin, e)
	}
	return out
}

// book returns a Book holding every event recorded so far.
func (l *lane) book() *allocation.Book {
	b := allocation.New()
	apply(b, l.events...)
	return b
}

func apply(b *allocation.Book, events ...linkd.Event) {
	for i := range events {
		b.Apply(&events[i])
	}
}

func inv(code, facility, order, sku string, qty int64) linkd.Event {
	return linkd.Event{
		EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: code,
		Inventory: &linkd.InventoryLine{Facility: facility, SKU: sku, Quantity: qty, OrderID: order},
	}
}

func stck(facility, sku string, qty int64) linkd.Event { return inv("STCK", facility, "", sku, qty) }

// aloc allocates order at facility against the inbound booking ref.
func aloc(facility, order, sku string, qty int64, ref string) linkd.Event {
	e := inv("ALOC", facility, order, sku, qty)
	e.CarrierBookingReference = ref
	return e
}

func fulf(facility, order, sku string, qty int64) linkd.Event {
	e := inv("FULF", facility, order, sku, qty)
	e.CarrierBookingReference = booking
	return e
}

func ralc(from, to, order, sku string, qty int64) linkd.Event {
	e := inv("RALC", to, order, sku, qty)
	e.Inventory.FromFacility = from
	e.CarrierBookingReference = booking
	return e
}

// customsEvent is an actual customs event about the held booking.
func customsEvent(code, reason string) linkd.Event {
	return linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: code,
		DocumentTypeCode: "CUS", Reason: reason,
		CarrierBookingReference: booking, TransportDocumentReference: bl,
	}
}

// line is one order of the Hamburg scenario.
type line struct {
	id  string
	sku string
	qty int64
}

// hamburgOrders are the 12 orders Hamburg allocated against the held
// booking, in the order it allocated them.
var hamburgOrders = []line{
	{"SO-101", tv, 12}, {"SO-102", speaker, 30}, {"SO-103", laptop, 4},
	{"SO-104", tv, 8}, {"SO-105", speaker, 25}, {"SO-106", laptop, 6},
	{"SO-107", tv, 15}, {"SO-108", speaker, 40}, {"SO-109", laptop, 3},
	{"SO-110", tv, 10}, {"SO-111", speaker, 20}, {"SO-112", laptop, 5},
}

// hamburgScenario records the lane up to customs holding the booking:
// stock at the three centres, Rotterdam's own order, Hamburg's 12 orders
// against the booking, one order against another booking, and one order
// against the booking already fulfilled from Hamburg's stock. It returns
// the hold.
func hamburgScenario(l *lane) linkd.Event {
	l.t.Helper()
	for _, s := range []struct {
		facility string
		sku      string
		qty      int64
	}{
		{hamburg, tv, 40}, {hamburg, speaker, 100}, {hamburg, laptop, 20},
		{rotterdam, tv, 30}, {rotterdam, speaker, 60}, {rotterdam, laptop, 0},
		{antwerp, tv, 24}, {antwerp, speaker, 40}, {antwerp, laptop, 8},
	} {
		l.record(s.facility, stck(s.facility, s.sku, s.qty))
	}
	l.record(rotterdam, aloc(rotterdam, "RO-201", tv, 10, rtmBooking))
	for _, o := range hamburgOrders {
		l.record(hamburg, aloc(hamburg, o.id, o.sku, o.qty, booking))
	}
	l.record(hamburg, aloc(hamburg, "SO-120", tv, 5, otherBooking))
	l.record(hamburg, aloc(hamburg, "SO-113", speaker, 10, booking))
	l.record(hamburg, fulf(hamburg, "SO-113", speaker, 10))
	return l.record(customs, customsEvent("HOLD", "x-ray inspection"))
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func orderIDs(os []allocation.Order) []string {
	return ids(os, func(o allocation.Order) string { return o.OrderID })
}

func mustOrder(t *testing.T, b *allocation.Book, id string) allocation.Order {
	t.Helper()
	o, ok := b.Order(id)
	if !ok {
		t.Fatalf("order %s unknown", id)
	}
	return o
}

// checkEvents checks that every planned event is a valid RALC self may
// record, caused by trigger and about its shipment.
func checkEvents(t *testing.T, events []linkd.Event, trigger *linkd.Event, self string) {
	t.Helper()
	for i, e := range events {
		if probs := e.Validate(""); len(probs) > 0 {
			t.Errorf("event %d is invalid: %v", i, probs)
		}
		if e.Origin != self || e.InventoryEventTypeCode != "RALC" || e.EventClassifierCode != "ACT" {
			t.Errorf("event %d: origin %q code %q classifier %q, want %s RALC ACT", i, e.Origin, e.InventoryEventTypeCode, e.EventClassifierCode, self)
		}
		if !e.EventDateTime.Equal(trigger.EventDateTime.Time) {
			t.Errorf("event %d dated %v, want the trigger's %v", i, e.EventDateTime, trigger.EventDateTime)
		}
		if !slices.Equal(e.CausedBy, []string{trigger.EventID}) {
			t.Errorf("event %d causedBy %v, want [%s]", i, e.CausedBy, trigger.EventID)
		}
		if allocation.ShipmentOf(&e) != allocation.ShipmentOf(trigger) {
			t.Errorf("event %d names shipment %+v, want the trigger's %+v", i, allocation.ShipmentOf(&e), allocation.ShipmentOf(trigger))
		}
		if e.Inventory.Facility != self && e.Inventory.FromFacility != self {
			t.Errorf("event %d moves %s to %s; self %s is neither", i, e.Inventory.FromFacility, e.Inventory.Facility, self)
		}
	}
}

func movesString(ms []allocation.Move) []string {
	return ids(ms, func(m allocation.Move) string {
		return fmt.Sprintf("%s %s×%d %s→%s", m.OrderID, m.SKU, m.Quantity, m.From, m.To)
	})
}
