package allocation_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/allocation"
)

func TestEmptyBook(t *testing.T) {
	v := allocation.New().Snapshot()
	want := allocation.View{Stock: []allocation.Stock{}, Orders: []allocation.Order{}, Holds: []allocation.Hold{}, Rejected: []allocation.Rejected{}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("empty snapshot = %+v, want %+v", v, want)
	}
	b, _ := json.Marshal(v)
	if got := string(b); got != `{"events":0,"stock":[],"orders":[],"holds":[],"rejected":[]}` {
		t.Errorf("empty JSON = %s", got)
	}
}

// TestStockAndOrders checks the position of each centre before any hold:
// on hand, allocated (orders against inbound shipments included), shipped
// since the position, and available.
func TestStockAndOrders(t *testing.T) {
	l := newLane(t)
	hamburgScenario(l)
	b := l.book()
	for _, tc := range []struct {
		facility, sku                         string
		onHand, shipped, allocated, available int64
	}{
		// Hamburg: 12+8+15+10 TV against the booking and 5 against another.
		{hamburg, tv, 40, 0, 50, -10},
		// 30+25+40+20 speakers; SO-113's 10 shipped since the position.
		{hamburg, speaker, 100, 10, 115, -25},
		{hamburg, laptop, 20, 0, 18, 2},
		{rotterdam, tv, 30, 0, 10, 20},
		{rotterdam, laptop, 0, 0, 0, 0},
		{antwerp, speaker, 40, 0, 0, 40},
	} {
		got := b.Stock(tc.facility, tc.sku)
		if got.OnHand != tc.onHand || got.Shipped != tc.shipped || got.Allocated != tc.allocated || got.Available != tc.available {
			t.Errorf("%s %s: on hand %d shipped %d allocated %d available %d; want %d %d %d %d", tc.facility, tc.sku,
				got.OnHand, got.Shipped, got.Allocated, got.Available, tc.onHand, tc.shipped, tc.allocated, tc.available)
		}
	}
	o := mustOrder(t, b, "SO-104")
	if o.Status != allocation.Allocated || o.Facility != hamburg || o.WaitsOn == nil || o.WaitsOn.CarrierBookingReference != booking || !o.OnHold {
		t.Errorf("SO-104 = %+v; want allocated at %s, waiting on %s, on hold", o, hamburg, booking)
	}
	if o := mustOrder(t, b, "SO-120"); o.OnHold {
		t.Errorf("SO-120 waits on %s, which is not held, yet shows on hold", otherBooking)
	}
	if o := mustOrder(t, b, "SO-113"); o.Status != allocation.Fulfilled || o.WaitsOn != nil || len(o.History) != 2 {
		t.Errorf("SO-113 = %+v; want fulfilled, waiting on nothing, two events in its history", o)
	}
	v := b.Snapshot()
	if len(v.Holds) != 1 || v.Holds[0].Origin != customs || v.Holds[0].Reason != "x-ray inspection" || v.Holds[0].Shipment.TransportDocumentReference != bl {
		t.Errorf("holds = %+v; want customs' x-ray hold on %s", v.Holds, bl)
	}
	if len(v.Rejected) != 0 {
		t.Errorf("rejected = %+v; want none", v.Rejected)
	}
	if v.Events != len(l.events) {
		t.Errorf("events = %d, want %d", v.Events, len(l.events))
	}
}

// TestReallocateHamburg is the lane's customs hold: Hamburg moves what
// Rotterdam and Antwerp can serve, most available first, and keeps the rest.
func TestReallocateHamburg(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()

	plan := b.PlanReallocation(&hold, hamburg)
	// Available before: Rotterdam TV 20 (30 less its own 10), speakers 60,
	// no laptops; Antwerp TV 24, speakers 40, laptops 8.
	want := []string{
		"SO-101 TV-55-OLED×12 dc-hamburg→dc-antwerp",  // A 24 > R 20; A left 12
		"SO-102 SPK-BT-20×30 dc-hamburg→dc-rotterdam", // R 60 > A 40; R left 30
		"SO-103 NB-14-PRO×4 dc-hamburg→dc-antwerp",    // only A; A left 4
		"SO-104 TV-55-OLED×8 dc-hamburg→dc-rotterdam", // R 20 > A 12; R left 12
		"SO-105 SPK-BT-20×25 dc-hamburg→dc-antwerp",   // A 40 > R 30; A left 15
		"SO-109 NB-14-PRO×3 dc-hamburg→dc-antwerp",    // A 4; A left 1
		"SO-110 TV-55-OLED×10 dc-hamburg→dc-antwerp",  // tie 12/12: dc-antwerp < dc-rotterdam
		"SO-111 SPK-BT-20×20 dc-hamburg→dc-rotterdam", // R 30 > A 15
	}
	if got := movesString(plan.Moves); !slices.Equal(got, want) {
		t.Errorf("moves:\n got %q\nwant %q", got, want)
	}
	stranded := map[string]string{
		"SO-106": "no other centre has 6 units of NB-14-PRO available; the most is 4 at dc-antwerp",
		"SO-107": "no other centre has 15 units of TV-55-OLED available; the most is 12 at dc-antwerp",
		"SO-108": "no other centre has 40 units of SPK-BT-20 available; the most is 30 at dc-rotterdam",
		"SO-112": "no other centre has 5 units of NB-14-PRO available; the most is 1 at dc-antwerp",
	}
	if len(plan.Unmoved) != len(stranded) {
		t.Errorf("unmoved = %+v; want %d orders", plan.Unmoved, len(stranded))
	}
	for _, u := range plan.Unmoved {
		if u.Why != stranded[u.OrderID] || u.Facility != hamburg {
			t.Errorf("unmoved %s at %s: %q; want at %s: %q", u.OrderID, u.Facility, u.Why, hamburg, stranded[u.OrderID])
		}
	}
	if len(plan.Events) != len(plan.Moves) {
		t.Fatalf("%d events for %d moves", len(plan.Events), len(plan.Moves))
	}
	checkEvents(t, plan.Events, &hold, hamburg)
	for i, m := range plan.Moves {
		in := plan.Events[i].Inventory
		if in.OrderID != m.OrderID || in.SKU != m.SKU || in.Quantity != m.Quantity || in.FromFacility != m.From || in.Facility != m.To {
			t.Errorf("event %d line %+v does not match move %+v", i, in, m)
		}
	}
	if got, want := plan.Events[0].Reason, "inbound shipment OCLVNHAM0000042 held by eu-customs: order SO-101 moves to dc-antwerp"; got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
	if again := b.Reallocate(&hold, hamburg); !reflect.DeepEqual(again, plan.Events) {
		t.Errorf("planning twice on one Book gave different events")
	}

	// Hamburg records the plan; the retailer and the other centres see it.
	apply(b, l.recordAll(hamburg, plan.Events)...)
	for _, tc := range []struct {
		facility, sku        string
		allocated, available int64
	}{
		{rotterdam, tv, 18, 12}, {rotterdam, speaker, 50, 10},
		{antwerp, tv, 22, 2}, {antwerp, speaker, 25, 15}, {antwerp, laptop, 7, 1},
		{hamburg, tv, 20, 20}, {hamburg, speaker, 40, 50}, {hamburg, laptop, 11, 9},
	} {
		got := b.Stock(tc.facility, tc.sku)
		if got.Allocated != tc.allocated || got.Available != tc.available {
			t.Errorf("%s %s after the plan: allocated %d available %d; want %d %d", tc.facility, tc.sku, got.Allocated, got.Available, tc.allocated, tc.available)
		}
	}
	o := mustOrder(t, b, "SO-104")
	if o.Status != allocation.Reallocated || o.Facility != rotterdam || o.AllocatedAt != hamburg || o.WaitsOn != nil || o.LentBy != hamburg ||
		!slices.Equal(o.MovedFor, []string{hold.EventID}) || len(o.History) != 2 {
		t.Errorf("SO-104 = %+v; want re-allocated to %s, lent by %s for the hold, waiting on nothing", o, rotterdam, hamburg)
	}
	onHold := b.Orders(allocation.Filter{OnHold: true})
	if got, want := orderIDs(onHold), []string{"SO-106", "SO-107", "SO-108", "SO-112"}; !slices.Equal(got, want) {
		t.Errorf("orders on hold = %v, want %v", got, want)
	}
	atAntwerp := b.Orders(allocation.Filter{Facility: antwerp, Status: allocation.Reallocated})
	if got, want := orderIDs(atAntwerp), []string{"SO-101", "SO-103", "SO-105", "SO-109", "SO-110"}; !slices.Equal(got, want) {
		t.Errorf("re-allocated to Antwerp = %v, want %v", got, want)
	}

	// Idempotent: the hold has been answered.
	if again := b.PlanReallocation(&hold, hamburg); len(again.Events) != 0 || len(again.Unmoved) != 4 {
		t.Errorf("second plan: %d events, %d unmoved; want 0 events and the 4 stranded orders", len(again.Events), len(again.Unmoved))
	}
	// Rotterdam hands SO-104 back while the hold lasts: it is not sent away
	// again, and the 8 TV it frees at Rotterdam now fit stranded SO-107.
	apply(b, l.record(rotterdam, ralc(rotterdam, hamburg, "SO-104", tv, 8)))
	again := b.PlanReallocation(&hold, hamburg)
	if got, want := movesString(again.Moves), []string{"SO-107 TV-55-OLED×15 dc-hamburg→dc-rotterdam"}; !slices.Equal(got, want) {
		t.Errorf("after SO-104 came back: planned %v, want %v", got, want)
	}
	if i := slices.IndexFunc(again.Unmoved, func(u allocation.Unmoved) bool { return u.OrderID == "SO-104" }); i < 0 ||
		again.Unmoved[i].Why != "re-allocated once already because of this hold; it came back, so it stays" {
		t.Errorf("unmoved = %+v; want SO-104 staying", again.Unmoved)
	}
	if o := mustOrder(t, b, "SO-104"); o.Status != allocation.Allocated || !o.OnHold {
		t.Errorf("SO-104 handed back = %+v; want allocated at Hamburg, on hold", o)
	}
	// Other centres have nothing of theirs on the booking.
	if evs := b.Reallocate(&hold, rotterdam); len(evs) != 0 {
		t.Errorf("Rotterdam planned %d events for Hamburg's hold", len(evs))
	}
}

// restoreScenario continues the hold: Rotterdam ships SO-102, Hamburg
// promises 22 laptops of its own stock to a new order against another
// booking, and customs releases the booking. It returns the release.
func restoreScenario(t *testing.T, l *lane, b *allocation.Book, hold linkd.Event) linkd.Event {
	t.Helper()
	apply(b, l.recordAll(hamburg, b.Reallocate(&hold, hamburg))...)
	apply(b, l.record(rotterdam, fulf(rotterdam, "SO-102", speaker, 30)))
	apply(b, l.record(hamburg, aloc(hamburg, "SO-130", laptop, 22, otherBooking)))
	rels := customsEvent("RELS", "inspection passed")
	rels.CausedBy = []string{hold.EventID}
	rels = l.record(customs, rels)
	apply(b, rels)
	return rels
}

// TestRestoreAfterRelease: the release brings home what Hamburg can serve
// from its stock plus the released shipment, never what was shipped.
func TestRestoreAfterRelease(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()
	rels := restoreScenario(t, l, b, hold)

	if len(b.Snapshot().Holds) != 0 {
		t.Fatalf("holds after the release = %+v, want none", b.Snapshot().Holds)
	}
	plan := b.PlanRestore(&rels, hamburg)
	want := []string{
		"SO-101 TV-55-OLED×12 dc-antwerp→dc-hamburg",
		"SO-103 NB-14-PRO×4 dc-antwerp→dc-hamburg",
		"SO-104 TV-55-OLED×8 dc-rotterdam→dc-hamburg",
		"SO-105 SPK-BT-20×25 dc-antwerp→dc-hamburg",
		"SO-110 TV-55-OLED×10 dc-antwerp→dc-hamburg",
		"SO-111 SPK-BT-20×20 dc-rotterdam→dc-hamburg",
	}
	if got := movesString(plan.Moves); !slices.Equal(got, want) {
		t.Errorf("moves:\n got %q\nwant %q", got, want)
	}
	// Hamburg laptops: 20 on hand less 6+5 stranded and 22 for SO-130 is
	// -13; the released shipment brings the 18 allocated against it at the
	// hold: room for 5. SO-103 takes 4, SO-109's 3 do not fit.
	wantUnmoved := map[string]allocation.Unmoved{
		"SO-102": {OrderID: "SO-102", SKU: speaker, Quantity: 30, Facility: rotterdam, Why: "fulfilled at dc-rotterdam"},
		"SO-109": {OrderID: "SO-109", SKU: laptop, Quantity: 3, Facility: antwerp,
			Why: "dc-hamburg can promise 1 units of NB-14-PRO counting the released shipment; the order needs 3"},
	}
	if len(plan.Unmoved) != len(wantUnmoved) {
		t.Errorf("unmoved = %+v, want %d", plan.Unmoved, len(wantUnmoved))
	}
	for _, u := range plan.Unmoved {
		if u != wantUnmoved[u.OrderID] {
			t.Errorf("unmoved %+v, want %+v", u, wantUnmoved[u.OrderID])
		}
	}
	checkEvents(t, plan.Events, &rels, hamburg)
	if got, want := plan.Events[2].Reason, "inbound shipment OCLVNHAM0000042 released by eu-customs: order SO-104 moves back from dc-rotterdam to dc-hamburg"; got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
	// The centres that helped have nothing to record: Hamburg takes back.
	if evs := b.Restore(&rels, rotterdam); len(evs) != 0 {
		t.Errorf("Rotterdam planned %d events for the release", len(evs))
	}

	apply(b, l.recordAll(hamburg, plan.Events)...)
	for _, id := range []string{"SO-101", "SO-103", "SO-104", "SO-105", "SO-110", "SO-111"} {
		o := mustOrder(t, b, id)
		if o.Status != allocation.Allocated || o.Facility != hamburg || o.WaitsOn == nil || o.OnHold || o.LentBy != "" {
			t.Errorf("%s = %+v; want allocated at %s again, waiting on the released booking", id, o, hamburg)
		}
	}
	if o := mustOrder(t, b, "SO-102"); o.Status != allocation.Fulfilled || o.Facility != rotterdam {
		t.Errorf("SO-102 = %+v; want fulfilled at %s", o, rotterdam)
	}
	if o := mustOrder(t, b, "SO-109"); o.Status != allocation.Reallocated || o.Facility != antwerp {
		t.Errorf("SO-109 = %+v; want still at %s", o, antwerp)
	}
	for _, tc := range []struct {
		facility, sku string
		available     int64
	}{
		{rotterdam, tv, 20}, {rotterdam, speaker, 30}, // 60 less SO-102's 30 shipped
		{antwerp, tv, 24}, {antwerp, speaker, 40}, {antwerp, laptop, 5},
		{hamburg, laptop, -17},
	} {
		if got := b.Stock(tc.facility, tc.sku).Available; got != tc.available {
			t.Errorf("%s %s available %d after the restore, want %d", tc.facility, tc.sku, got, tc.available)
		}
	}
	if v := b.Snapshot(); len(v.Rejected) != 0 {
		t.Errorf("rejected = %+v, want none", v.Rejected)
	}

	// Idempotent, and the old hold moves nothing again.
	if again := b.Restore(&rels, hamburg); len(again) != 0 {
		t.Errorf("second restore planned %d events", len(again))
	}
	if again := b.Reallocate(&hold, hamburg); len(again) != 0 {
		t.Errorf("the released hold planned %d events", len(again))
	}
}

// TestRestoreBeforeReleaseApplied plans from a release the Book has not
// applied yet: the same plan as after applying it.
func TestRestoreBeforeReleaseApplied(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()
	rels := restoreScenario(t, l, b, hold)
	after := b.PlanRestore(&rels, hamburg)

	before := allocation.New()
	apply(before, l.events[:len(l.events)-1]...)
	if got := before.PlanRestore(&rels, hamburg); !reflect.DeepEqual(got, after) {
		t.Errorf("plan before applying the release:\n%+v\nafter:\n%+v", got, after)
	}
}

// TestRestoreWaitsForEveryHold: while the carrier also holds the booking,
// customs' release brings nothing back, and a carrier release of another
// origin's hold does not count as customs'.
func TestRestoreWaitsForEveryHold(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	carrierHold := customsEvent("HOLD", "freight unpaid")
	carrierHold.DocumentTypeCode = ""
	l.record(carrier, carrierHold)
	b := l.book()
	apply(b, l.recordAll(hamburg, b.Reallocate(&hold, hamburg))...)
	rels := l.record(customs, customsEvent("RELS", "inspection passed"))
	apply(b, rels)

	plan := b.PlanRestore(&rels, hamburg)
	if len(plan.Events) != 0 {
		t.Errorf("restored %v while the carrier still holds the booking", movesString(plan.Moves))
	}
	if len(plan.Unmoved) != 8 {
		t.Errorf("unmoved = %d, want the 8 moved orders", len(plan.Unmoved))
	}
	for _, u := range plan.Unmoved {
		if u.Why != "inbound shipment OCLVNHAM0000042 is still held by oceanic-lines" {
			t.Errorf("%s: %q", u.OrderID, u.Why)
		}
	}
	if v := b.Snapshot(); len(v.Holds) != 1 || v.Holds[0].Origin != carrier {
		t.Errorf("open holds = %+v, want the carrier's", v.Holds)
	}
	// The carrier lifts its own hold: now the orders customs' hold moved come back.
	carrierRels := l.record(carrier, customsEvent("RELS", "freight paid"))
	apply(b, carrierRels)
	plan = b.PlanRestore(&carrierRels, hamburg)
	if len(plan.Moves) != 8 || len(plan.Unmoved) != 0 {
		t.Errorf("after the last release: moves %v, unmoved %+v; want all 8 back", movesString(plan.Moves), plan.Unmoved)
	}
	checkEvents(t, plan.Events, &carrierRels, hamburg)
}

// TestReleaseByAnotherParty: no party lifts another's hold, even naming it.
func TestReleaseByAnotherParty(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()
	apply(b, l.recordAll(hamburg, b.Reallocate(&hold, hamburg))...)
	forged := customsEvent("RELS", "")
	forged.CausedBy = []string{hold.EventID}
	forged = l.record(carrier, forged)
	apply(b, forged)
	if evs := b.Restore(&forged, hamburg); len(evs) != 0 {
		t.Errorf("the carrier's release of customs' hold restored %d orders", len(evs))
	}
	v := b.Snapshot()
	if len(v.Holds) != 1 || v.Holds[0].EventID != hold.EventID {
		t.Errorf("open holds = %+v, want customs' still", v.Holds)
	}
	if len(v.Rejected) != 1 || v.Rejected[0].Origin != carrier || v.Rejected[0].Code != "RELS" {
		t.Errorf("rejected = %+v, want the carrier's release", v.Rejected)
	}
}

// TestReallocateReleasedHold: a hold the Book holds released plans nothing.
func TestReallocateReleasedHold(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	l.record(customs, customsEvent("RELS", "cleared"))
	b := l.book()
	if p := b.PlanReallocation(&hold, hamburg); len(p.Events)+len(p.Unmoved) != 0 {
		t.Errorf("plan for a released hold: %+v", p)
	}
}

// TestNotTriggers: the planners answer only actual holds and releases.
func TestNotTriggers(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()
	est := hold
	est.EventClassifierCode = "EST"
	rels := customsEvent("RELS", "")
	rels.EventDateTime = hold.EventDateTime
	for name, tc := range map[string]struct {
		e    *linkd.Event
		self string
	}{
		"nil":          {nil, hamburg},
		"estimated":    {&est, hamburg},
		"release":      {&rels, hamburg},
		"no self":      {&hold, ""},
		"inventory":    {&l.events[0], hamburg},
		"not a centre": {&hold, customs},
	} {
		if evs := b.Reallocate(tc.e, tc.self); len(evs) != 0 {
			t.Errorf("%s: Reallocate planned %d events", name, len(evs))
		}
	}
	if evs := b.Restore(&hold, hamburg); len(evs) != 0 {
		t.Errorf("Restore answered a hold with %d events", len(evs))
	}
}

// TestFulfilledNeverMoves: a fulfilled order is final: no plan moves it,
// and the Book refuses any later move of it.
func TestFulfilledNeverMoves(t *testing.T) {
	l := newLane(t)
	l.record(antwerp, stck(antwerp, tv, 100))
	for _, id := range []string{"SO-1", "SO-2", "SO-3"} {
		l.record(hamburg, aloc(hamburg, id, tv, 5, booking))
	}
	l.record(hamburg, fulf(hamburg, "SO-2", tv, 5))
	hold := l.record(customs, customsEvent("HOLD", "documents missing"))
	b := l.book()
	plan := b.PlanReallocation(&hold, hamburg)
	if got, want := ids(plan.Moves, func(m allocation.Move) string { return m.OrderID }), []string{"SO-1", "SO-3"}; !slices.Equal(got, want) {
		t.Errorf("moved %v, want %v", got, want)
	}
	apply(b, l.recordAll(hamburg, plan.Events)...)
	apply(b, l.record(antwerp, fulf(antwerp, "SO-1", tv, 5)))
	// Late moves of fulfilled orders, by anyone, change nothing.
	apply(b,
		l.record(hamburg, ralc(hamburg, rotterdam, "SO-2", tv, 5)),
		l.record(antwerp, ralc(antwerp, hamburg, "SO-1", tv, 5)),
		l.record(hamburg, ralc(antwerp, hamburg, "SO-1", tv, 5)),
	)
	for id, at := range map[string]string{"SO-1": antwerp, "SO-2": hamburg} {
		if o := mustOrder(t, b, id); o.Status != allocation.Fulfilled || o.Facility != at {
			t.Errorf("%s = %+v; want fulfilled at %s", id, o, at)
		}
	}
	if r := b.Snapshot().Rejected; len(r) != 3 {
		t.Errorf("rejected = %+v, want the 3 late moves", r)
	}
	rels := l.record(customs, customsEvent("RELS", ""))
	apply(b, rels)
	plan = b.PlanRestore(&rels, hamburg)
	if got := movesString(plan.Moves); !slices.Equal(got, []string{"SO-3 TV-55-OLED×5 dc-antwerp→dc-hamburg"}) {
		t.Errorf("restore moved %v, want SO-3 only", got)
	}
	if len(plan.Unmoved) != 1 || plan.Unmoved[0].OrderID != "SO-1" || plan.Unmoved[0].Why != "fulfilled at dc-antwerp" {
		t.Errorf("unmoved = %+v, want SO-1 fulfilled at Antwerp", plan.Unmoved)
	}
}

// TestTakeBackRacesFulfilment: Hamburg takes an order back while Rotterdam
// ships it. Whichever the canonical order puts first, the order ends
// fulfilled at Rotterdam and Hamburg no longer counts it.
func TestTakeBackRacesFulfilment(t *testing.T) {
	for _, fulfilFirst := range []bool{false, true} {
		l := newLane(t)
		l.record(rotterdam, stck(rotterdam, tv, 50))
		l.record(hamburg, stck(hamburg, tv, 0))
		l.record(hamburg, aloc(hamburg, "SO-9", tv, 6, booking))
		hold := l.record(customs, customsEvent("HOLD", ""))
		b := l.book()
		l.recordAll(hamburg, b.Reallocate(&hold, hamburg))
		rels := l.record(customs, customsEvent("RELS", ""))
		b = l.book()
		back := b.Restore(&rels, hamburg)
		if len(back) != 1 {
			t.Fatalf("restore planned %d events, want SO-9 back", len(back))
		}
		if fulfilFirst {
			l.record(rotterdam, fulf(rotterdam, "SO-9", tv, 6))
			l.record(hamburg, back[0])
		} else {
			l.record(hamburg, back[0])
			l.record(rotterdam, fulf(rotterdam, "SO-9", tv, 6))
		}
		b = l.book()
		o := mustOrder(t, b, "SO-9")
		if o.Status != allocation.Fulfilled || o.Facility != rotterdam {
			t.Errorf("fulfil first %v: SO-9 = %+v; want fulfilled at %s", fulfilFirst, o, rotterdam)
		}
		if h := b.Stock(hamburg, tv); h.Allocated != 0 {
			t.Errorf("fulfil first %v: Hamburg still counts %d TV allocated", fulfilFirst, h.Allocated)
		}
		if r := b.Stock(rotterdam, tv); r.Shipped != 6 || r.Available != 44 {
			t.Errorf("fulfil first %v: Rotterdam shipped %d available %d; want 6 and 44", fulfilFirst, r.Shipped, r.Available)
		}
		rej := b.Snapshot().Rejected
		if fulfilFirst != (len(rej) == 1) {
			t.Errorf("fulfil first %v: rejected %+v", fulfilFirst, rej)
		}
	}
}

// TestCustody: events a party may not record count for nothing and say why.
func TestCustody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		origin string
		e      linkd.Event
		why    string
	}{
		{"stock of another centre", hamburg, stck(rotterdam, tv, 500), "dc-hamburg may not state the stock of dc-rotterdam"},
		{"allocating at another centre", hamburg, aloc(rotterdam, "SO-50", tv, 1, booking), "dc-hamburg may not allocate at dc-rotterdam"},
		{"allocating an order held elsewhere", rotterdam, aloc(rotterdam, "SO-1", tv, 1, rtmBooking), "order SO-1 is held by dc-hamburg"},
		{"moving an order it does not hold", rotterdam, ralc(hamburg, rotterdam, "SO-1", tv, 4), "dc-rotterdam may not move order SO-1"},
		{"moving from the wrong centre", hamburg, ralc(antwerp, rotterdam, "SO-1", tv, 4), "order SO-1 is at dc-hamburg, not dc-antwerp"},
		{"fulfilling elsewhere", rotterdam, fulf(rotterdam, "SO-1", tv, 4), "order SO-1 is held by dc-hamburg, not dc-rotterdam"},
		{"another SKU", hamburg, ralc(hamburg, rotterdam, "SO-1", speaker, 4), "order SO-1 is of TV-55-OLED, not SPK-BT-20"},
		{"moving an unknown order it never held", rotterdam, ralc(hamburg, rotterdam, "SO-404", tv, 4), "order SO-404 is not allocated anywhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLane(t)
			l.record(hamburg, stck(hamburg, tv, 10))
			l.record(rotterdam, stck(rotterdam, tv, 20))
			l.record(hamburg, aloc(hamburg, "SO-1", tv, 4, booking))
			before := l.book().Snapshot()
			bad := l.record(tc.origin, tc.e)
			after := l.book().Snapshot()
			if len(after.Rejected) != 1 || !strings.Contains(after.Rejected[0].Why, tc.why) || after.Rejected[0].EventID != bad.EventID {
				t.Fatalf("rejected = %+v; want %s rejected: %q", after.Rejected, bad.EventID, tc.why)
			}
			if !reflect.DeepEqual(after.Stock, before.Stock) || !reflect.DeepEqual(after.Orders, before.Orders) {
				t.Errorf("a rejected event changed the book:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// TestIgnored: events the Book does not use do not count, even as events.
func TestIgnored(t *testing.T) {
	b := allocation.New()
	est := stck(hamburg, tv, 10)
	est.EventClassifierCode = "EST"
	est.Origin, est.EventID = hamburg, "018f2c3e-0000-7000-8000-000000000001"
	load := linkd.Event{EventType: linkd.Equipment, EventClassifierCode: "ACT", EquipmentEventTypeCode: "LOAD", Origin: carrier}
	conf := customsEvent("CONF", "")
	retraction := stck(hamburg, tv, 0)
	retraction.Origin, retraction.RetractedEventID = hamburg, "018f2c3e-0000-7000-8000-000000000002"
	b.Apply(&est)
	b.Apply(&retraction)
	b.Apply(&load)
	b.Apply(&conf)
	b.Apply(nil)
	if v := b.Snapshot(); v.Events != 0 || len(v.Stock) != 0 {
		t.Errorf("snapshot after ignored events = %+v", v)
	}
}

// TestStockPositionResetsShipped: a new position counts out what was
// shipped before it; shipments after it still count.
func TestStockPositionResetsShipped(t *testing.T) {
	l := newLane(t)
	l.record(antwerp, stck(antwerp, tv, 30))
	l.record(antwerp, aloc(antwerp, "SO-1", tv, 5, rtmBooking))
	l.record(antwerp, fulf(antwerp, "SO-1", tv, 5))
	if got := l.book().Stock(antwerp, tv); got.Available != 25 || got.Shipped != 5 {
		t.Errorf("after shipping: %+v; want 25 available, 5 shipped", got)
	}
	pos := l.record(antwerp, stck(antwerp, tv, 25))
	l.record(antwerp, fulf(antwerp, "SO-2", tv, 3)) // shipped without an allocation
	got := l.book().Stock(antwerp, tv)
	if got.OnHand != 25 || got.Shipped != 3 || got.Available != 22 || got.PositionEventID != pos.EventID {
		t.Errorf("after a new position: %+v; want on hand 25, shipped 3, available 22, position %s", got, pos.EventID)
	}
}

// TestSnapshotJSON checks the names GET /v1/allocations answers with.
func TestSnapshotJSON(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	b := l.book()
	apply(b, l.recordAll(hamburg, b.Reallocate(&hold, hamburg))...)
	raw, err := json.Marshal(b.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Stock  []map[string]any `json:"stock"`
		Orders []map[string]any `json:"orders"`
		Holds  []map[string]any `json:"holds"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var so104, so107, hamburgTV map[string]any
	for _, o := range v.Orders {
		switch o["orderID"] {
		case "SO-104":
			so104 = o
		case "SO-107":
			so107 = o
		}
	}
	for _, s := range v.Stock {
		if s["facility"] == hamburg && s["sku"] == tv {
			hamburgTV = s
		}
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"SO-104 status", so104["status"], "re-allocated"},
		{"SO-104 facility", so104["facility"], rotterdam},
		{"SO-104 allocatedAt", so104["allocatedAt"], hamburg},
		{"SO-104 waitsOn", so104["waitsOn"], nil},
		{"SO-107 status", so107["status"], "allocated"},
		{"SO-107 waitsOn", so107["waitsOn"], map[string]any{"carrierBookingReference": booking}},
		{"SO-107 onHold", so107["onHold"], true},
		{"Hamburg TV onHand", hamburgTV["onHand"], 40.0},
		{"Hamburg TV allocated", hamburgTV["allocated"], 20.0},
		{"Hamburg TV available", hamburgTV["available"], 20.0},
		{"hold origin", v.Holds[0]["origin"], customs},
		{"hold since", v.Holds[0]["since"], hold.EventDateTime.String()},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// TestConcurrentApplyAndRead applies the lane from several goroutines, in
// no particular order, while others read and plan; the result is the
// sequential one. Run with -race.
func TestConcurrentApplyAndRead(t *testing.T) {
	l := newLane(t)
	hold := hamburgScenario(l)
	want := l.book()
	wantPlan := want.PlanReallocation(&hold, hamburg)

	b := allocation.New()
	var wg sync.WaitGroup
	const writers = 4
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(l.events); i += writers {
				b.Apply(&l.events[i])
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 50 {
				v := b.Snapshot()
				for _, o := range v.Orders {
					if o.Status == "" {
						t.Errorf("order %s without a status", o.OrderID)
					}
				}
				b.Reallocate(&hold, hamburg)
				b.Orders(allocation.Filter{OnHold: true})
			}
		})
	}
	wg.Wait()
	if got, want := b.Snapshot(), want.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("concurrent snapshot differs:\n got %+v\nwant %+v", got, want)
	}
	if got := b.PlanReallocation(&hold, hamburg); !reflect.DeepEqual(got, wantPlan) {
		t.Errorf("concurrent plan differs")
	}
}

// TestReceivingCentreLearnsTheOrderFromTheHandOn: a centre that was never
// entitled to an order's allocation (it went to the inbound shipment's
// parties) knows the order from the hand-on of the centre that held it.
func TestReceivingCentreLearnsTheOrderFromTheHandOn(t *testing.T) {
	l := newLane(t)
	l.record(rotterdam, stck(rotterdam, tv, 20))
	l.record(hamburg, ralc(hamburg, rotterdam, "SO-77", tv, 4))
	b := l.book()
	o, ok := b.Order("SO-77")
	if !ok || o.Facility != rotterdam || o.AllocatedAt != hamburg || o.Status != allocation.Reallocated {
		t.Fatalf("SO-77 = %+v (known %v); want re-allocated to %s from %s", o, ok, rotterdam, hamburg)
	}
	if s := b.Stock(rotterdam, tv); s.Allocated != 4 || s.Available != 16 {
		t.Errorf("Rotterdam allocated %d available %d; want 4 and 16", s.Allocated, s.Available)
	}
	if rej := b.Snapshot().Rejected; len(rej) != 0 {
		t.Errorf("rejected %+v", rej)
	}
}
