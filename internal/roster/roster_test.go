package roster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/roster"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var forwarder = linkd.Party{ID: "forwarder", Name: "Forwarder", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN"}}

func open(t *testing.T, p linkd.Party) (*partylog.Log, *roster.Roster) {
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
func record(t *testing.T, l *partylog.Log, r *roster.Roster, evs ...linkd.Event) ([]linkd.Event, error) {
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
