package node_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/allocation"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
)

var euCustoms, dcHamburg, dcRotterdam = scenario.Customs, scenario.DCHamburg, scenario.DCRotterdam

// startWithRules inits a node, gives it a rule file and serves it.
func startWithRules(t *testing.T, p linkd.Party, ruleFile string) *member {
	t.Helper()
	res, cfg := initNode(t, p, "127.0.0.1:0")
	path := filepath.Join(filepath.Dir(res.ConfigPath), "rules.yaml")
	if err := os.WriteFile(path, []byte(ruleFile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Rules = "rules.yaml"
	r := serve(t, cfg)
	m := &member{party: p, r: r, c: adminClient(t, r, res, cfg), http: httpClient(roots(t, cfg), true), token: res.AdminToken}
	t.Cleanup(m.http.CloseIdleConnections)
	card, err := m.c.Card(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.card = card
	return m
}

func inventory(code string, line linkd.InventoryLine, booking string) linkd.Event {
	m := minute.Add(1)
	return linkd.Event{EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: code,
		EventDateTime:           linkd.Time{Time: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)},
		CarrierBookingReference: booking, Inventory: &line, Residency: []string{"EU"}}
}

// TestCustomsHoldReallocatesAcrossTheLane: customs holds an inbound
// shipment; the Hamburg centre's rule moves the orders allocated against it
// to Rotterdam, which has the stock; Rotterdam's node holds the
// re-allocation, caused by the hold, and shows the order as its own; the
// release brings it back.
func TestCustomsHoldReallocatesAcrossTheLane(t *testing.T) {
	customs, hamburg, rotterdam := start(t, euCustoms), startWithRules(t, dcHamburg, scenario.CentreRules), start(t, dcRotterdam)
	pair(t, customs, hamburg)
	pair(t, hamburg, rotterdam)
	pair(t, customs, rotterdam)

	const booking = "OCLVNHAM0000099"
	stock := inventory("STCK", linkd.InventoryLine{Facility: dcRotterdam.ID, SKU: "TV-55-OLED", Quantity: 500}, "")
	stock.Parties = []linkd.ShipmentParty{{Party: dcHamburg.ID, Role: linkd.RoleWarehouse}}
	rotterdam.record(t, stock)
	hamburgStock := inventory("STCK", linkd.InventoryLine{Facility: dcHamburg.ID, SKU: "TV-55-OLED", Quantity: 0}, "")
	hamburg.record(t, hamburgStock)

	open := booking0(booking, euCustoms, dcHamburg)
	customs.record(t, open)
	eventually(t, "hamburg holds the shipment", func() bool { return len(hamburg.timeline(t, booking)) == 1 })
	hamburg.record(t, inventory("ALOC", linkd.InventoryLine{Facility: dcHamburg.ID, SKU: "TV-55-OLED", Quantity: 40, OrderID: "SO-118"}, booking))
	eventually(t, "hamburg knows rotterdam's stock", func() bool {
		return hamburg.allocations(t).Stock(dcRotterdam.ID, "TV-55-OLED") > 0
	})

	hold := booking0(booking)
	hold.ShipmentEventTypeCode, hold.DocumentTypeCode, hold.Reason, hold.Residency = "HOLD", "CUS", "customs inspection", []string{"EU"}
	holdID := customs.record(t, hold)[0]

	var moved linkd.Recorded
	defer func() {
		if t.Failed() {
			v := hamburg.allocations(t)
			t.Logf("hamburg's allocations: %+v", v.View)
			page, _ := hamburg.c.ListEvents(context.Background(), eventsOfType("INVENTORY"))
			for _, r := range page.Events {
				t.Logf("hamburg holds %s %s %+v parties %v", r.Event.Origin, r.Event.InventoryEventTypeCode, r.Event.Inventory, r.Event.Parties)
			}
		}
	}()
	eventually(t, "the re-allocation at rotterdam", func() bool {
		page, err := rotterdam.c.ListEvents(context.Background(), eventsOfType("INVENTORY"))
		if err != nil {
			return false
		}
		for _, rec := range page.Events {
			if rec.Event.InventoryEventTypeCode == "RALC" {
				moved = rec
				return true
			}
		}
		return false
	})
	e := moved.Event
	if e.Origin != dcHamburg.ID || e.Inventory.Facility != dcRotterdam.ID || e.Inventory.FromFacility != dcHamburg.ID || e.Inventory.OrderID != "SO-118" {
		t.Fatalf("re-allocation %+v %+v: want SO-118 moved by dc-hamburg from dc-hamburg to dc-rotterdam", e, e.Inventory)
	}
	if !slices.Equal(e.CausedBy, []string{holdID}) {
		t.Errorf("re-allocation caused by %v, want the hold %s", e.CausedBy, holdID)
	}
	var v node.Verification
	rotterdam.get(t, "/v1/events/"+e.EventID+"/verification", &v)
	if !v.Verified || v.Origin != dcHamburg.ID || v.Index != moved.LogIndex || v.Checkpoint.Size <= v.Index || !slices.Contains(v.Checkpoint.CosignedBy, dcRotterdam.ID) {
		t.Errorf("rotterdam's verification of the re-allocation: %+v", v)
	}
	eventually(t, "rotterdam's allocation view shows the order", func() bool {
		o, ok := rotterdam.allocations(t).Order("SO-118")
		return ok && o.Facility == dcRotterdam.ID
	})

	// Replaying the rule over the history Hamburg holds decides exactly what
	// it did live: the same event, with the same id.
	res, err := hamburg.c.TestRule(context.Background(), "reallocate-on-hold", nil, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var replayed []string
	for _, d := range res.Decisions {
		for _, ev := range d.Events {
			replayed = append(replayed, ev.EventID)
		}
	}
	if !slices.Equal(replayed, []string{e.EventID}) {
		t.Errorf("replay decided %v, want exactly the live re-allocation %s", replayed, e.EventID)
	}
	if err := hamburg.c.DeleteRule(context.Background(), "reallocate-on-hold"); linkd.ErrorCode(err) != linkd.EConflict {
		t.Errorf("deleting a rule of the rules file by API: %v, want conflict", err)
	}

	release := booking0(booking)
	release.ShipmentEventTypeCode, release.DocumentTypeCode, release.Residency = "RELS", "CUS", []string{"EU"}
	customs.record(t, release)
	eventually(t, "the order back at hamburg", func() bool {
		o, ok := hamburg.allocations(t).Order("SO-118")
		return ok && o.Facility == dcHamburg.ID
	})
}

func booking0(ref string, parties ...linkd.Party) linkd.Event {
	e := booking(ref, parties...)
	return e
}

// allocView is GET /v1/allocations as a test reads it.
type allocView struct{ allocation.View }

func (m *member) allocations(t *testing.T) allocView {
	t.Helper()
	var v allocation.View
	m.get(t, "/v1/allocations", &v)
	return allocView{v}
}

func (v allocView) Stock(facility, sku string) int64 {
	for _, s := range v.View.Stock {
		if s.Facility == facility && s.SKU == sku {
			return s.Available
		}
	}
	return 0
}

func (v allocView) Order(id string) (allocation.Order, bool) {
	for _, o := range v.Orders {
		if o.OrderID == id {
			return o, true
		}
	}
	return allocation.Order{}, false
}

func eventsOfType(t string) client.EventQuery {
	return client.EventQuery{EventTypes: []string{t}, Limit: 100}
}
