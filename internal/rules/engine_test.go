package rules

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/shipment"
)

// stateOf derives the shipment state of events with internal/shipment.
func stateOf(events ...*linkd.Event) *linkd.ShipmentState {
	recs := make([]linkd.Recorded, len(events))
	for i, e := range events {
		recs[i] = linkd.Recorded{Event: *e, Salt: make([]byte, linkd.SaltSize), LogIndex: int64(i)}
	}
	st, _ := shipment.Build(booking, recs)
	return &st
}

func TestDecideHold(t *testing.T) {
	p := newBook()
	en := mustEngine(t, holdRules(), p)
	trigger := customsHold()
	ds, err := en.Decide(trigger, stateOf(trigger))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ruleIDs(ds), []string{"hold-reallocate", "hold-notice", "hold-webhook"}; !slices.Equal(got, want) {
		t.Fatalf("rules that decided: %v, want %v", got, want)
	}

	// reallocate: the planner's events, stamped.
	moves := ds[0].Events
	if len(moves) != 3 {
		t.Fatalf("reallocate gave %d events, want 3 (one per order)", len(moves))
	}
	for i, e := range moves {
		if want := EventID(self.ID, "hold-reallocate", trigger.EventID, i); e.EventID != want {
			t.Errorf("move %d id %s, want %s", i, e.EventID, want)
		}
		if !slices.Equal(e.CausedBy, []string{trigger.EventID}) || e.Origin != self.ID || !e.EventDateTime.Equal(trigger.EventDateTime.Time) {
			t.Errorf("move %d: causedBy %v origin %s time %s; want the trigger, %s and the trigger's time", i, e.CausedBy, e.Origin, e.EventDateTime, self.ID)
		}
		if e.Inventory.Facility != "dc-rotterdam" || e.Inventory.FromFacility != self.ID {
			t.Errorf("move %d: %s → %s, want dc-hamburg → dc-rotterdam", i, e.Inventory.FromFacility, e.Inventory.Facility)
		}
	}

	// record: the template rendered against the trigger.
	notice := ds[1].Events
	if len(notice) != 1 {
		t.Fatalf("record gave %d events, want 1", len(notice))
	}
	n := notice[0]
	want := linkd.Event{
		EventID:                    EventID(self.ID, "hold-notice", trigger.EventID, 0),
		EventType:                  linkd.Shipment,
		EventClassifierCode:        "ACT",
		EventDateTime:              trigger.EventDateTime,
		ShipmentEventTypeCode:      "PENU",
		DocumentTypeCode:           "CUS",
		Reason:                     "orders re-allocated: customs hold",
		CarrierBookingReference:    trigger.CarrierBookingReference,
		TransportDocumentReference: trigger.TransportDocumentReference,
		EquipmentReference:         trigger.EquipmentReference,
		References:                 trigger.References,
		Origin:                     self.ID,
		Parties:                    trigger.Parties,
		Visibility:                 trigger.Visibility,
		Residency:                  trigger.Residency,
		CausedBy:                   []string{trigger.EventID},
	}
	if !bytes.Equal(linkd.AppendCanonical(nil, &n), linkd.AppendCanonical(nil, &want)) {
		t.Errorf("recorded event\n got %+v\nwant %+v", n, want)
	}

	// webhook: the intent only.
	w := ds[2].Webhooks
	if len(w) != 1 || w[0].URL != "https://erp.example.com/linkd/holds" || w[0].Secret != "erp-hook" || w[0].EventID != trigger.EventID || !linkd.IsUUID(w[0].ID) {
		t.Errorf("webhook calls %+v", w)
	}

	// Every event the engine returns passes linkd's own validation.
	for _, d := range ds {
		for _, e := range d.Events {
			if probs := e.Validate(""); len(probs) > 0 {
				t.Errorf("rule %s: event %s invalid: %v", d.RuleID, e.EventID, probs)
			}
		}
	}

	// The release restores; the hold rules do not match it.
	rel := customsRelease()
	ds, err = en.Decide(rel, stateOf(trigger, rel))
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleIDs(ds); !slices.Equal(got, []string{"release-restore"}) || len(ds[0].Events) != 3 || ds[0].Events[0].Inventory.Facility != self.ID {
		t.Errorf("release decided %v %+v; want release-restore moving 3 orders back", got, ds)
	}
}

func TestDecideCopyReferencesFalse(t *testing.T) {
	// An INVENTORY stock position names no shipment, so it may leave the
	// references out; but every INVENTORY event needs a line, which a
	// template cannot give, so load refuses it with the reason.
	r := Rule{ID: "stock", When: filterCodes("HOLD"), Action: Action{Record: &RecordAction{
		EventType: linkd.Inventory, EventClassifierCode: "ACT", EventTypeCode: "STCK", CopyReferences: boolp(false)}}}
	_, err := New(self, []Rule{r}, nil)
	if err == nil || !strings.Contains(err.Error(), "inventory: required for INVENTORY events") {
		t.Errorf("New = %v; want the rendered event's missing inventory line", err)
	}
}

// TestDeterminism runs the same triggers twice on one engine and once on an
// engine built separately (from the rule file), and compares the canonical
// bytes of every decision.
func TestDeterminism(t *testing.T) {
	a := mustEngine(t, holdRules(), newBook())
	data, err := Marshal(holdRules())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal(rules)): %v\n%s", err, data)
	}
	b := mustEngine(t, loaded, newBook())

	hold, rel := customsHold(), customsRelease()
	steps := []struct {
		e *linkd.Event
		s *linkd.ShipmentState
	}{{hold, stateOf(hold)}, {rel, stateOf(hold, rel)}}
	for _, st := range steps {
		first, err := a.Decide(st.e, st.s)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) == 0 {
			t.Fatalf("%s decided nothing; the test needs decisions", st.e.ShipmentEventTypeCode)
		}
		again, _ := a.Decide(st.e, st.s)
		other, _ := b.Decide(st.e, st.s)
		if !bytes.Equal(encode(first), encode(again)) {
			t.Errorf("%s: the same engine decided differently the second time", st.e.ShipmentEventTypeCode)
		}
		if !bytes.Equal(encode(first), encode(other)) {
			t.Errorf("%s: two engines with the same rules decided differently", st.e.ShipmentEventTypeCode)
		}
	}
}

// TestLoopGuard has a rule that matches its own output and a pair of rules
// that feed each other, and runs the node's loop (record what was decided,
// then decide on it) until nothing is left.
func TestLoopGuard(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  []string // codes recorded, in order
	}{
		{"rule matches its own output", []Rule{
			{ID: "echo", When: expr.Filter{EventTypes: []linkd.EventType{linkd.Shipment}},
				Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU"}}},
		}, []string{"PENU"}},
		{"two rules feed each other", []Rule{
			{ID: "on-hold", When: filterCodes("HOLD"),
				Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU"}}},
			{ID: "on-penu", When: filterCodes("PENU"),
				Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "HOLD", DocumentTypeCode: "CUS"}}},
		}, []string{"PENU"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := mustEngine(t, tt.rules, nil)
			queue := []*linkd.Event{customsHold()}
			var recorded []string
			for steps := 0; len(queue) > 0; steps++ {
				if steps == 100 {
					t.Fatalf("still deciding after 100 steps: recorded %v", recorded)
				}
				e := queue[0]
				queue = queue[1:]
				ds, err := en.Decide(e, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					for i := range d.Events {
						recorded = append(recorded, d.Events[i].ShipmentEventTypeCode)
						queue = append(queue, &d.Events[i])
					}
				}
			}
			if !slices.Equal(recorded, tt.want) {
				t.Errorf("recorded %v, want %v", recorded, tt.want)
			}
		})
	}
}

// TestLoopGuardScope checks what the guard does not stop: events this node
// recorded through its API (causedBy set, but no rule's id), and rule events
// of other parties.
func TestLoopGuardScope(t *testing.T) {
	en := mustEngine(t, []Rule{{ID: "on-hold", When: filterCodes("HOLD"),
		Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU"}}}}, nil)

	byHand := customsHold()
	byHand.Origin = self.ID
	byHand.CausedBy = []string{"0192f3a0-0000-7000-8000-0000000000ff"}
	if ds, err := en.Decide(byHand, nil); err != nil || len(ds) != 1 {
		t.Errorf("own event recorded by hand: %v, %v; want one decision", ds, err)
	}

	remote := customsHold()
	remote.CausedBy = []string{"0192f3a0-0000-7000-8000-0000000000ee"}
	remote.EventID = EventID(remote.Origin, "customs-flag", remote.CausedBy[0], 0)
	if !RuleMade(remote) {
		t.Fatal("RuleMade(remote rule event) = false")
	}
	if ds, err := en.Decide(remote, nil); err != nil || len(ds) != 1 {
		t.Errorf("another party's rule event: %v, %v; want one decision", ds, err)
	}

	own := *remote
	own.Origin = self.ID
	own.EventID = EventID(self.ID, "some-removed-rule", own.CausedBy[0], 4)
	if ds, err := en.Decide(&own, nil); err != nil || len(ds) != 0 {
		t.Errorf("own rule event of a rule no longer loaded: %v, %v; want nothing", ds, err)
	}
}

func TestEventID(t *testing.T) {
	const trig = "0192f3a0-0000-7000-8000-000000000001"
	// A spec vector: ids must not change between versions, or a node that
	// re-runs a trigger after an upgrade records its events twice. The
	// value was computed independently (Python hashlib) from EventID's doc.
	if got, want := EventID("dc-hamburg", "hold-reallocate", trig, 0), "97537808-17f3-8878-a3a9-94a69cd7d11c"; got != want {
		t.Errorf("EventID = %s, want %s", got, want)
	}
	seen := map[string]string{}
	for _, c := range []struct{ self, rule, trig string }{
		{"dc-hamburg", "hold-reallocate", trig},
		{"dc-rotterdam", "hold-reallocate", trig},
		{"dc-hamburg", "hold-notice", trig},
		{"dc-hamburg", "hold-reallocate", "0192f3a0-0000-7000-8000-000000000002"},
		// Length-prefixed parts: moving a byte between them changes the id.
		{"dc-hamburgh", "old-reallocate", trig},
	} {
		for i := range 3 {
			id := EventID(c.self, c.rule, c.trig, i)
			if !linkd.IsUUID(id) || id[14] != '8' || !strings.ContainsAny(id[19:20], "89ab") {
				t.Errorf("%s is not a canonical UUIDv8", id)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("%v index %d repeats the id of %s", c, i, prev)
			}
			seen[id] = c.self + "/" + c.rule + "/" + c.trig
			e := linkd.Event{EventID: id, Origin: c.self, CausedBy: []string{"0192f3a0-0000-7000-8000-0000000000aa", c.trig}}
			if !RuleMade(&e) {
				t.Errorf("RuleMade(%s) = false", id)
			}
			e.Origin = "someone-else"
			if RuleMade(&e) {
				t.Errorf("RuleMade(%s) with another origin = true", id)
			}
		}
	}
	if e := customsHold(); RuleMade(e) {
		t.Error("RuleMade(customs hold) = true")
	}
}

func TestDecideErrors(t *testing.T) {
	t.Run("planner returns invalid events", func(t *testing.T) {
		p := newBook()
		p.invalid = true
		en := mustEngine(t, holdRules(), p)
		h := customsHold()
		ds, err := en.Decide(h, stateOf(h))
		if err == nil || !strings.Contains(err.Error(), "rule hold-reallocate") || !strings.Contains(err.Error(), "inventory.quantity: must be at least 1 unit") {
			t.Errorf("err = %v; want it to name the rule and the invalid field", err)
		}
		if got := ruleIDs(ds); !slices.Equal(got, []string{"hold-notice", "hold-webhook"}) {
			t.Errorf("other rules decided %v; want hold-notice and hold-webhook", got)
		}
	})
	t.Run("expression fails on this event", func(t *testing.T) {
		en := mustEngine(t, []Rule{
			{ID: "bad-index", When: expr.Filter{Expression: `event.parties[99].party == "x"`}, Action: Action{Webhook: &WebhookAction{URL: "https://h.example/x", Secret: "s"}}},
			{ID: "good", When: filterCodes("HOLD"), Action: Action{Webhook: &WebhookAction{URL: "https://h.example/y", Secret: "s"}}},
		}, nil)
		ds, err := en.Decide(customsHold(), nil)
		if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "rule bad-index") || !strings.Contains(err.Error(), "index out of bounds") {
			t.Errorf("err = %v; want an invalid error naming bad-index", err)
		}
		if got := ruleIDs(ds); !slices.Equal(got, []string{"good"}) {
			t.Errorf("decided %v, want [good]", got)
		}
	})
	t.Run("trigger without id", func(t *testing.T) {
		e := customsHold()
		e.EventID = ""
		if _, err := mustEngine(t, holdRules(), newBook()).Decide(e, nil); linkd.ErrorCode(err) != linkd.EInvalid {
			t.Errorf("err = %v; want invalid", err)
		}
	})
	t.Run("paused rule", func(t *testing.T) {
		rs := holdRules()
		for i := range rs {
			rs[i].Paused = true
		}
		p := newBook()
		h := customsHold()
		if ds, err := mustEngine(t, rs, p).Decide(h, stateOf(h)); err != nil || len(ds) != 0 || p.calls != 0 {
			t.Errorf("paused rules decided %v, %v (planner called %d times)", ds, err, p.calls)
		}
	})
}

func TestNewErrors(t *testing.T) {
	rs := holdRules()
	rs[2].ID = "hold-reallocate"
	rs[1].When.Expression = `event.shipmentEventTypCode == "HOLD"`
	_, err := New(self, rs, nil)
	var ve *linkd.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("New = %v; want a validation error", err)
	}
	want := []linkd.Problem{
		{Field: "rules[0].action.reallocate", Reason: "rule hold-reallocate: needs an inventory planner, and this node has none"},
		{Field: "rules[1].when.expression", Reason: "rule hold-notice: expression:1:6: undefined field 'shipmentEventTypCode'"},
		{Field: "rules[2].id", Reason: "rule hold-reallocate: repeats the id of rules[0]"},
		{Field: "rules[3].action.restore", Reason: "rule release-restore: needs an inventory planner, and this node has none"},
	}
	if !slices.Equal(ve.Problems, want) {
		t.Errorf("problems:\n got %q\nwant %q", ve.Problems, want)
	}
	if _, err := New(linkd.Party{ID: "DC"}, nil, nil); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Errorf("New with an invalid self = %v; want invalid", err)
	}
}
