package rules

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// self is the node the rules run on: the Hamburg distribution centre.
var self = linkd.Party{ID: "dc-hamburg", Name: "DC Hamburg", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}}

var (
	ict = time.FixedZone("ICT", 7*3600)
	t0  = time.Date(2026, 11, 3, 8, 15, 0, 0, ict)
	box = scenario.ContainerNumber("OCLU", 126)
)

const booking = "OCLVNHAM0000042"

// customsHold is EU customs holding the shipment for inspection at Hamburg.
func customsHold() *linkd.Event {
	return &linkd.Event{
		EventID:                    "0192f3a0-0000-7000-8000-000000000001",
		EventType:                  linkd.Shipment,
		EventClassifierCode:        "ACT",
		EventDateTime:              linkd.Time{Time: t0},
		ShipmentEventTypeCode:      "HOLD",
		DocumentTypeCode:           "CUS",
		Reason:                     "physical inspection",
		CarrierBookingReference:    booking,
		TransportDocumentReference: "OCLU0000000297",
		EquipmentReference:         box,
		References:                 []linkd.Reference{{ReferenceType: "PO", ReferenceValue: "PO-EU-000042"}},
		EventLocation:              &linkd.Location{UNLocationCode: "DEHAM"},
		Origin:                     "eu-customs",
		Parties:                    scenario.LaneParties,
		Visibility:                 []string{"eu-customs", "dc-hamburg", "oceanic-lines"},
		Residency:                  []string{"EU"},
		HLC:                        linkd.MakeHLC(t0.UnixMilli(), 1),
	}
}

// customsRelease is EU customs releasing the hold.
func customsRelease() *linkd.Event {
	e := customsHold()
	e.EventID = "0192f3a0-0000-7000-8000-000000000002"
	e.ShipmentEventTypeCode = "RELS"
	e.Reason = "inspection passed"
	e.EventDateTime = linkd.Time{Time: t0.Add(30 * time.Hour)}
	e.HLC = linkd.MakeHLC(t0.Add(30*time.Hour).UnixMilli(), 0)
	e.CausedBy = []string{customsHold().EventID}
	return e
}

func boolp(b bool) *bool { return &b }

// book is a small deterministic planner: orders allocated at self against
// inbound bookings, moved to the first other centre on a hold and back on a
// release. It stands in for internal/allocation's Book.
type book struct {
	orders  map[string][]order // booking → orders, in allocation order
	centres []string           // other centres, in preference order
	calls   int
	invalid bool // return an event linkd refuses
}

type order struct {
	id, sku string
	qty     int64
}

func newBook() *book {
	return &book{
		orders: map[string][]order{
			booking: {{"ORD-1", "TAB-10-BLK", 40}, {"ORD-2", "TAB-10-WHT", 25}, {"ORD-3", "CHG-65W", 120}},
		},
		centres: []string{"dc-rotterdam", "dc-antwerp"},
	}
}

func (b *book) Reallocate(trigger *linkd.Event, self string) []linkd.Event {
	return b.moves(trigger, self, b.centres[0])
}

func (b *book) Restore(trigger *linkd.Event, self string) []linkd.Event {
	return b.moves(trigger, b.centres[0], self)
}

func (b *book) moves(trigger *linkd.Event, from, to string) []linkd.Event {
	b.calls++
	var out []linkd.Event
	for _, o := range b.orders[trigger.CarrierBookingReference] {
		e := linkd.Event{
			EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: "RALC",
			Inventory:               &linkd.InventoryLine{Facility: to, SKU: o.sku, Quantity: o.qty, OrderID: o.id, FromFacility: from},
			CarrierBookingReference: trigger.CarrierBookingReference,
			Parties:                 trigger.Parties,
			Residency:               trigger.Residency,
		}
		if b.invalid {
			e.Inventory.Quantity = 0
		}
		out = append(out, e)
	}
	return out
}

// encode is the canonical byte form of decisions: each rule id, event
// (linkd.AppendCanonical) and webhook call, length-prefixed.
func encode(ds []Decision) []byte {
	var b []byte
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	for _, d := range ds {
		str(d.RuleID)
		b = binary.AppendUvarint(b, uint64(len(d.Events)))
		for i := range d.Events {
			str(string(linkd.AppendCanonical(nil, &d.Events[i])))
		}
		b = binary.AppendUvarint(b, uint64(len(d.Webhooks)))
		for _, w := range d.Webhooks {
			for _, s := range []string{w.ID, w.RuleID, w.URL, w.Secret, w.EventID} {
				str(s)
			}
		}
	}
	return b
}

func mustEngine(t testing.TB, rules []Rule, p Planner) *Engine {
	t.Helper()
	en, err := New(self, rules, p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return en
}

func ruleIDs(ds []Decision) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.RuleID)
	}
	return ids
}

// holdRules are the lane's rules at the Hamburg centre.
func holdRules() []Rule {
	return []Rule{
		{ID: "hold-reallocate", Name: "Re-allocate orders held by customs",
			When:   holdFilter(),
			Action: Action{Reallocate: &PlanAction{}}},
		{ID: "hold-notice",
			When:   holdFilter(),
			Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU", Reason: "orders re-allocated: customs hold", DocumentTypeCode: "CUS"}}},
		{ID: "hold-webhook",
			When:   holdFilter(),
			Action: Action{Webhook: &WebhookAction{URL: "https://erp.example.com/linkd/holds", Secret: "erp-hook"}}},
		{ID: "release-restore",
			When:   filterCodes("RELS"),
			Action: Action{Restore: &PlanAction{}}},
	}
}

func holdFilter() expr.Filter {
	return expr.Filter{ShipmentEventTypeCodes: []string{"HOLD"}, DocumentTypeCodes: []string{"CUS"},
		Expression: `event.eventLocation.UNLocationCode.startsWith("DE") && shipment.status == "ON_HOLD"`}
}

func filterCodes(codes ...string) expr.Filter { return expr.Filter{ShipmentEventTypeCodes: codes} }
