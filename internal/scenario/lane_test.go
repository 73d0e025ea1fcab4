package scenario

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

var laneEpoch = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func TestLaneStepsAreValidAndRecordedByTheRightParty(t *testing.T) {
	l := NewLane(laneEpoch, 1)
	steps := append(l.History(), l.Between(laneEpoch, laneEpoch.Add(30*24*time.Hour))...)
	if len(steps) < 5000 {
		t.Fatalf("%d steps for a month and its history; want a realistic lane's thousands", len(steps))
	}
	cast := map[string]linkd.Party{}
	for _, p := range Cast() {
		if err := p.Validate(); err != nil {
			t.Fatalf("party %s: %v", p.ID, err)
		}
		cast[p.ID] = p
	}
	want := map[string]string{ // event code → who records it
		"RECE": Carrier.ID, "CONF": Carrier.ID, "ISSU": Carrier.ID, "SUBM": Forwarder.ID,
		"HOLD": Customs.ID, "RELS": Customs.ID, "PICK": Carrier.ID, "STUF": Shipper.ID,
		"GTIN": HaiphongTerminal.ID, "DEPA": Carrier.ID, "ARRI": Carrier.ID, "GTOT": Carrier.ID,
	}
	var prev time.Time
	for i, st := range steps {
		e := st.Event
		if probs := e.Validate(""); len(probs) > 0 {
			t.Fatalf("step %d (%s %s by %s) does not validate: %v", i, e.EventType, e.TypeCode(), st.Origin, probs)
		}
		if _, ok := cast[st.Origin]; !ok {
			t.Fatalf("step %d recorded by %q, not a lane party", i, st.Origin)
		}
		if !cast[st.Origin].Admits(e.Residency) {
			t.Fatalf("step %d: %s may not store its own event with residency %v", i, st.Origin, e.Residency)
		}
		if w, ok := want[e.TypeCode()]; ok && w != st.Origin {
			t.Errorf("%s recorded by %s, want %s", e.TypeCode(), st.Origin, w)
		}
		if e.EventType == linkd.Inventory && e.Inventory.Facility != st.Origin {
			t.Errorf("%s at %s recorded by %s", e.InventoryEventTypeCode, e.Inventory.Facility, st.Origin)
		}
		if e.EventType == linkd.Shipment && e.DocumentTypeCode == "CUS" && fmt.Sprint(e.Residency) != "[EU]" {
			t.Errorf("customs event with residency %v", e.Residency)
		}
		if st.At.Before(prev) {
			t.Fatalf("step %d at %v before the step before it (%v)", i, st.At, prev)
		}
		if !e.EventCreatedDateTime.Equal(st.At) {
			t.Fatalf("step %d recorded at %v but created %v", i, st.At, e.EventCreatedDateTime)
		}
		prev = st.At
	}
}

func TestLaneShipsFiftyThousandUnitsAMonth(t *testing.T) {
	l := NewLane(laneEpoch, 1)
	units := int64(0)
	for _, st := range l.Between(laneEpoch, laneEpoch.Add(30*24*time.Hour)) {
		if st.Event.InventoryEventTypeCode == "FULF" {
			units += st.Event.Inventory.Quantity
		}
	}
	if units < 40000 || units > 60000 {
		t.Fatalf("%d units fulfilled in a month; want about 50,000", units)
	}
}

func TestLaneBetweenIsAPureFunctionOfTheWindow(t *testing.T) {
	a, b := NewLane(laneEpoch, 7), NewLane(laneEpoch, 7)
	mid := laneEpoch.Add(3*24*time.Hour + 7*time.Hour + 13*time.Minute)
	whole := a.Between(laneEpoch, laneEpoch.Add(7*24*time.Hour))
	parts := append(b.Between(laneEpoch, mid), b.Between(mid, laneEpoch.Add(7*24*time.Hour))...)
	if len(whole) != len(parts) {
		t.Fatalf("one window gives %d steps, two halves %d", len(whole), len(parts))
	}
	for i := range whole {
		if !reflect.DeepEqual(linkd.AppendCanonical(nil, &whole[i].Event), linkd.AppendCanonical(nil, &parts[i].Event)) {
			t.Fatalf("step %d differs between one window and two", i)
		}
	}
}

func TestLaneHoldDelaysTheShipment(t *testing.T) {
	l := NewLane(laneEpoch, 1)
	booking, at, ok := l.NextInspection(laneEpoch.Add(6*time.Hour), DCHamburg.ID)
	if !ok {
		t.Fatal("no Hamburg inspection in the first window")
	}
	if at.After(laneEpoch.Add(4 * 24 * time.Hour)) {
		t.Fatalf("first Hamburg clearance at %v; the first window should see one within days", at)
	}
	orders := l.Orders(booking)
	if len(orders) != ordersPer {
		t.Fatalf("%d orders against %s, want %d", len(orders), booking, ordersPer)
	}
	l.Hold(Hold{Booking: booking, At: at, Duration: 48 * time.Hour})
	var hold, rels time.Time
	for _, st := range l.Between(laneEpoch, laneEpoch.Add(10*24*time.Hour)) {
		e := st.Event
		if e.CarrierBookingReference != booking || e.DocumentTypeCode != "CUS" {
			continue
		}
		switch e.ShipmentEventTypeCode {
		case "HOLD":
			hold = e.EventDateTime.Time
			if e.Reason != "customs inspection" || e.EventClassifierCode != "ACT" {
				t.Errorf("hold event %+v", e)
			}
		case "RELS":
			rels = e.EventDateTime.Time
		}
	}
	if !hold.Equal(at) || rels.Sub(hold) != 48*time.Hour {
		t.Fatalf("hold at %v, release at %v; want a hold at %v released 48 h later", hold, rels, at)
	}
	for _, o := range l.Orders(booking) {
		if !o.Fulfil.After(rels) {
			t.Errorf("order %s fulfilled at %v, before the release at %v", o.ID, o.Fulfil, rels)
		}
	}
}

func TestLaneStockCoversOrders(t *testing.T) {
	l := NewLane(laneEpoch, 1)
	for _, st := range l.Between(laneEpoch, laneEpoch.Add(30*24*time.Hour)) {
		if st.Event.InventoryEventTypeCode == "STCK" && st.Event.Inventory.Quantity < 500 {
			t.Fatalf("%s holds only %d units of %s at %v: no room to re-allocate a held shipment's orders",
				st.Origin, st.Event.Inventory.Quantity, st.Event.Inventory.SKU, st.At)
		}
	}
}
