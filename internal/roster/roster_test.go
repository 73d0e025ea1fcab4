package roster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/roster"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var forwarder = linkd.Party{ID: "forwarder", Name: "Forwarder", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN"}}

func open(t testing.TB, p linkd.Party) (*partylog.Log, *roster.Roster) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	skey, _, _ := tlog.GenerateKey(linkd.LogOrigin(p.ID))
	l, err := partylog.Open(db, partylog.Config{Self: p, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); db.Close() })
	return l, roster.New(p, partylog.NewLogs(l, nil), 0)
}

var seq int

func event(booking string, parties ...string) linkd.Event {
	seq++
	e := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "RECE", DocumentTypeCode: "BKG", DocumentID: booking,
		EventDateTime: linkd.Time{Time: time.Date(2026, 11, 2, 0, seq, 0, 0, time.UTC)}, CarrierBookingReference: booking}
	for _, p := range parties {
		e.Parties = append(e.Parties, linkd.ShipmentParty{Party: p, Role: linkd.RoleCarrier})
	}
	return e
}

// record stamps and appends as the node's ingest path does.
func record(t testing.TB, l *partylog.Log, r *roster.Roster, evs ...linkd.Event) ([]linkd.Event, error) {
	t.Helper()
	if err := r.Stamp(context.Background(), evs); err != nil {
		return nil, err
	}
	if _, err := l.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	r.Learn(evs)
	return evs, nil
}

func names(e linkd.Event) string {
	s := ""
	for _, p := range e.Parties {
		s += p.Party + " "
	}
	return s
}

func TestRosterRules(t *testing.T) {
	l, r := open(t, forwarder)
	ctx := context.Background()
	// Opening: the opener is on the list with the parties it names.
	evs, err := record(t, l, r, event("BKG-1", "carrier-a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(evs[0]); got != "carrier-a forwarder " {
		t.Fatalf("opened with %q", got)
	}
	// A later event with no list gets the whole list.
	evs, _ = record(t, l, r, event("BKG-1"))
	if got := names(evs[0]); got != "carrier-a forwarder " {
		t.Fatalf("a later event got %q", got)
	}
	// A party on the list adds another; later events carry it.
	record(t, l, r, event("BKG-1", "customs-eu"))
	evs, _ = record(t, l, r, event("BKG-1"))
	if got := names(evs[0]); got != "carrier-a customs-eu forwarder " {
		t.Fatalf("after an addition: %q", got)
	}
	// The list survives a cold cache: a fresh roster derives it from the log.
	fresh := roster.New(forwarder, partylog.NewLogs(l, nil), 0)
	list, err := fresh.Of(ctx, &evs[0])
	if err != nil || len(list) != 3 {
		t.Fatalf("a fresh roster knows %v (%v)", list, err)
	}
	// A batch sees its own earlier additions.
	evs, _ = record(t, l, r, event("BKG-2", "carrier-b"), event("BKG-2"))
	if got := names(evs[1]); got != "carrier-b forwarder " {
		t.Fatalf("second event of an opening batch: %q", got)
	}
}

// TestRosterUnionAcrossReferences: a shipment's references share one cached
// list while they hold the same parties; an addition filed under one of
// them must still reach every event that names it.
func TestRosterUnionAcrossReferences(t *testing.T) {
	l, r := open(t, forwarder)
	withBox := func(e linkd.Event, box string) linkd.Event { e.EquipmentReference = box; return e }
	record(t, l, r, withBox(event("BKG-U", "carrier-a"), "MSCU0000007"))
	// Filed under the container alone.
	added := withBox(event("", "customs-eu"), "MSCU0000007")
	added.DocumentID = "BKG-U"
	record(t, l, r, added)
	record(t, l, r, event("BKG-U", "insurer")) // and under the booking alone
	for _, tc := range []struct {
		e    linkd.Event
		want string
	}{
		{event("BKG-U"), "carrier-a forwarder insurer "}, // the booking's list has not heard of customs
		{withBox(event(""), "MSCU0000007"), "carrier-a customs-eu forwarder "},
		{withBox(event("BKG-U"), "MSCU0000007"), "carrier-a customs-eu forwarder insurer "},
		{event("BKG-U"), "carrier-a customs-eu forwarder insurer "}, // and now has, from the event before
	} {
		tc.e.DocumentID = "BKG-U"
		evs, err := record(t, l, r, tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(evs[0]); got != tc.want {
			t.Errorf("booking %q, container %q: stamped %q, want %q", tc.e.CarrierBookingReference, tc.e.EquipmentReference, got, tc.want)
		}
	}
}

func TestRosterRefusesAdditionsByOutsiders(t *testing.T) {
	// The carrier's node holds a shipment the forwarder opened without it.
	l, r := open(t, forwarder)
	record(t, l, r, event("BKG-9", "terminal-x"))
	carrier := linkd.Party{ID: "carrier-a", Name: "Carrier", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG"}}
	outsider := roster.New(carrier, partylog.NewLogs(l, nil), 0)
	evs := []linkd.Event{event("BKG-9", "carrier-a")}
	err := outsider.Stamp(context.Background(), evs)
	if linkd.ErrorCode(err) != linkd.EForbidden {
		t.Fatalf("an outsider adding itself: %v, want forbidden", err)
	}
	// Without additions it may record; its event goes to the listed parties.
	evs = []linkd.Event{event("BKG-9")}
	if err := outsider.Stamp(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if got := names(evs[0]); got != "forwarder terminal-x " {
		t.Fatalf("an outsider's event carries %q", got)
	}
}

func TestRosterKeepsRetriesIdempotent(t *testing.T) {
	l, r := open(t, forwarder)
	first := event("BKG-3", "carrier-a")
	first.EventID = "0195f6a8-7c1e-7000-8000-000000000001"
	record(t, l, r, first)
	record(t, l, r, event("BKG-3", "customs-eu")) // the list grows
	retry := first                                // as the client sent it, before stamping
	evs := []linkd.Event{retry}
	if err := r.Stamp(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	acks, err := l.Append(context.Background(), evs)
	if err != nil || !acks[0].Duplicate {
		t.Fatalf("retry after the list grew: %v %v, want a duplicate ack", acks, err)
	}
	_ = fmt.Sprint
}

// TestRosterStockPositionNamesItsReaders checks that an event about no
// shipment (a centre's stock position) goes to exactly the parties its origin
// names, with the origin on the list.
func TestRosterStockPositionNamesItsReaders(t *testing.T) {
	dc := linkd.Party{ID: "dc-hamburg", Name: "Hamburg DC", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}}
	l, r := open(t, dc)
	stock := linkd.Event{EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: "STCK",
		EventDateTime: linkd.Time{Time: time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)},
		Inventory:     &linkd.InventoryLine{Facility: "dc-hamburg", SKU: "TV-55", Quantity: 300},
		Parties:       []linkd.ShipmentParty{{Party: "eu-retailer", Role: linkd.RoleConsignee}, {Party: "dc-rotterdam", Role: linkd.RoleWarehouse}}}
	evs, err := record(t, l, r, stock)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(evs[0]); got != "dc-hamburg dc-rotterdam eu-retailer " {
		t.Fatalf("stock position goes to %q", got)
	}
}

// TestRosterLearnsAfterACachedMiss checks that a shipment looked up before
// it had any events (a cached empty list) gets the list of the events learnt
// since, rather than staying empty.
func TestRosterLearnsAfterACachedMiss(t *testing.T) {
	l, r := open(t, forwarder)
	ctx := context.Background()
	probe := event("BKG-LATE")
	if list, err := r.Of(ctx, &probe); err != nil || len(list) != 0 {
		t.Fatalf("an unknown shipment has %v (%v), want none", list, err)
	}
	// Recorded without stamping, as events applied from a peer are.
	evs := []linkd.Event{event("BKG-LATE", "carrier-a", "forwarder")}
	if _, err := l.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	r.Learn(evs)
	list, err := r.Of(ctx, &probe)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(linkd.Event{Parties: list}); got != "carrier-a forwarder " {
		t.Fatalf("after learning the first event: %q, want %q", got, "carrier-a forwarder ")
	}
}

// TestRosterEvictionKeepsLists checks that a cache too small for the
// shipments answers from the log for those it evicted.
func TestRosterEvictionKeepsLists(t *testing.T) {
	l, _ := open(t, forwarder)
	r := roster.New(forwarder, partylog.NewLogs(l, nil), 1)
	for i := range 200 {
		if _, err := record(t, l, r, event(fmt.Sprintf("BKG-E%d", i), fmt.Sprintf("carrier-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		evs, err := record(t, l, r, event(fmt.Sprintf("BKG-E%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(evs[0]), fmt.Sprintf("carrier-%d forwarder ", i); got != want {
			t.Fatalf("BKG-E%d after eviction: %q, want %q", i, got, want)
		}
	}
}

// TestRosterConcurrentAdditions records additions to the same shipments from
// many goroutines at once: every addition must end up on the cached list,
// which must match what a fresh roster derives from the log.
func TestRosterConcurrentAdditions(t *testing.T) {
	l, r := open(t, forwarder)
	ctx := context.Background()
	const workers, shipments = 8, 16
	base := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, workers)
	for w := range workers {
		mine := make([]linkd.Event, shipments)
		for s := range mine {
			mine[s] = event(fmt.Sprintf("BKG-C%d", s), fmt.Sprintf("party-%d", w))
			mine[s].EventDateTime = linkd.Time{Time: base.Add(time.Duration(w*shipments+s) * time.Second)}
			mine[s].TransportDocumentReference = fmt.Sprintf("BL-C%d-%d", s, w%2) // a second reference, shared by half
		}
		go func() {
			for s := range shipments {
				evs := []linkd.Event{mine[s]}
				if err := r.Stamp(ctx, evs); err != nil {
					errs <- err
					return
				}
				if _, err := l.Append(ctx, evs); err != nil {
					errs <- err
					return
				}
				r.Learn(evs)
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fresh := roster.New(forwarder, partylog.NewLogs(l, nil), 0)
	for s := range shipments {
		probe := event(fmt.Sprintf("BKG-C%d", s))
		cached, err := r.Of(ctx, &probe)
		if err != nil {
			t.Fatal(err)
		}
		derived, err := fresh.Of(ctx, &probe)
		if err != nil {
			t.Fatal(err)
		}
		if len(cached) != workers+1 {
			t.Errorf("BKG-C%d: cached list %v, want forwarder and %d parties", s, cached, workers)
		}
		for _, p := range derived {
			if !slices.ContainsFunc(cached, func(c linkd.ShipmentParty) bool { return c.Party == p.Party }) {
				t.Errorf("BKG-C%d: the log has %s on the list, the cache does not", s, p.Party)
			}
		}
	}
}

// BenchmarkStamp stamps single events as a node's ingest does, over the
// scenario's 5,000 shipments (a booking, a B/L and three containers each):
// "known" after every shipment is in the log and cached, "new shipment" for
// events that each open a shipment the store has never seen.
func BenchmarkStamp(b *testing.B) {
	l, r := open(b, forwarder)
	gen := scenario.NewGenerator(1, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	known := gen.Batch(20_000)
	for i := 0; i < len(known); i += 500 {
		record(b, l, r, known[i:i+500]...)
	}
	ctx := context.Background()
	b.Run("known", func(b *testing.B) {
		ev := make([]linkd.Event, 1)
		for i := range b.N {
			ev[0] = known[i%len(known)]
			if err := r.Stamp(ctx, ev); err != nil {
				b.Fatal(err)
			}
			r.Learn(ev)
		}
	})
	b.Run("new shipment", func(b *testing.B) {
		ev := make([]linkd.Event, 1)
		for i := range b.N {
			ev[0] = known[i%len(known)]
			ev[0].CarrierBookingReference = fmt.Sprintf("NEWBKG%08d", i)
			ev[0].TransportDocumentReference = fmt.Sprintf("NEWBL%08d", i)
			ev[0].EquipmentReference = fmt.Sprintf("NEWU%07d", i)
			if err := r.Stamp(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRosterListsDoNotAlias checks that an event's list, which may be the
// cache's own, is sorted and that appending to one event's list changes
// neither another event's list nor the cache's.
func TestRosterListsDoNotAlias(t *testing.T) {
	l, r := open(t, forwarder)
	if _, err := record(t, l, r, event("BKG-AL", "carrier-a")); err != nil {
		t.Fatal(err)
	}
	// Adds one of the two it names: a list built with room for both.
	if _, err := record(t, l, r, event("BKG-AL", "carrier-b", "carrier-a")); err != nil {
		t.Fatal(err)
	}
	a, err := record(t, l, r, event("BKG-AL"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := record(t, l, r, event("BKG-AL"))
	if err != nil {
		t.Fatal(err)
	}
	a[0].Parties = append(a[0].Parties, linkd.ShipmentParty{Party: "x", Role: linkd.RoleWarehouse})
	b[0].Parties = append(b[0].Parties, linkd.ShipmentParty{Party: "y", Role: linkd.RoleWarehouse})
	if got, want := names(a[0]), "carrier-a carrier-b forwarder x "; got != want {
		t.Errorf("first event's list after both appends: %q, want %q", got, want)
	}
	probe := event("BKG-AL")
	list, err := r.Of(context.Background(), &probe)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(linkd.Event{Parties: list}), "carrier-a carrier-b forwarder "; got != want {
		t.Errorf("the shipment's list after appends to events' lists: %q, want %q", got, want)
	}
}

// TestRosterSharedHash checks that references whose hashes collide keep
// their own lists: all but one are read from the log each time.
func TestRosterSharedHash(t *testing.T) {
	l, r := open(t, forwarder)
	roster.HashAllAlike(r)
	for i, carrier := range []string{"carrier-a", "carrier-b", "carrier-c"} {
		if _, err := record(t, l, r, event(fmt.Sprintf("BKG-H%d", i), carrier)); err != nil {
			t.Fatal(err)
		}
	}
	// The forwarder is on BKG-H1's list, so it may add to it.
	if _, err := record(t, l, r, event("BKG-H1", "carrier-d")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"carrier-a forwarder ", "carrier-b carrier-d forwarder ", "carrier-c forwarder "} {
		evs, err := record(t, l, r, event(fmt.Sprintf("BKG-H%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if got := names(evs[0]); got != want {
			t.Errorf("BKG-H%d: %q, want %q", i, got, want)
		}
	}
}
