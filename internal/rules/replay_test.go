package rules

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shipment"
)

// step is one event of a history with its shipment's state.
type step struct {
	e *linkd.Event
	s *linkd.ShipmentState
}

// history makes a synthetic lane history: 400 generated events over four
// shipments, a customs hold and release at Hamburg, a hold at Rotterdam, and
// the PENU this node's hold-notice rule recorded for the Hamburg hold. Events
// get ids, origins and clocks as their nodes would give them, are sorted in
// timeline order, and each comes with its shipment's state up to it, derived
// by internal/shipment.
func history(t *testing.T) []step {
	t.Helper()
	events := scenario.NewGenerator(7, t0).WithShipments(4).Batch(400)
	heldBooking := "OCLVNHAM0000001"
	var hamburgHold linkd.Event
	for i := range events {
		if events[i].CarrierBookingReference == heldBooking {
			hamburgHold = events[i]
			break
		}
	}
	mid := events[len(events)/2].EventDateTime.Time
	hold := func(at time.Time, place, code string) linkd.Event {
		e := hamburgHold
		e.EventType, e.EventClassifierCode, e.EventDateTime = linkd.Shipment, "ACT", linkd.Time{Time: at}
		e.EquipmentEventTypeCode, e.EmptyIndicatorCode, e.ISOEquipmentCode, e.TransportCall = "", "", "", nil
		e.TransportEventTypeCode = ""
		e.ShipmentEventTypeCode, e.DocumentTypeCode, e.DocumentID, e.Reason = code, "CUS", "", "inspection"
		e.EventLocation = &linkd.Location{UNLocationCode: place}
		e.Origin = "eu-customs"
		return e
	}
	events = append(events,
		hold(mid, "DEHAM", "HOLD"),
		hold(mid.Add(48*time.Hour), "DEHAM", "RELS"),
		hold(mid.Add(time.Hour), "NLRTM", "HOLD"),
	)
	for i := range events {
		e := &events[i]
		if e.Origin == "" {
			e.Origin = map[linkd.EventType]string{linkd.Equipment: "haiphong-terminal"}[e.EventType]
			if e.Origin == "" {
				e.Origin = "oceanic-lines"
			}
		}
		e.HLC = linkd.MakeHLC(e.EventDateTime.UnixMilli(), uint16(i))
		e.EventID = linkd.DeriveEventID(e.Origin, e)
	}
	// What hold-notice recorded here for the Hamburg hold, a second later.
	var notice linkd.Event
	for _, e := range events {
		if e.ShipmentEventTypeCode == "HOLD" && e.EventLocation.UNLocationCode == "DEHAM" {
			notice = render(&RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU"}, "hold-notice", &e, self.ID)
			notice.EventDateTime = linkd.Time{Time: e.EventDateTime.Add(time.Second)}
		}
	}
	events = append(events, notice)

	slices.SortFunc(events, func(a, b linkd.Event) int {
		if c := a.EventDateTime.Compare(b.EventDateTime.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.HLC, b.HLC)
	})
	var out []step
	seen := map[string][]linkd.Recorded{}
	for i := range events {
		e := &events[i]
		if probs := e.Validate(""); len(probs) > 0 {
			t.Fatalf("synthetic event %d invalid: %v", i, probs)
		}
		b := e.CarrierBookingReference
		seen[b] = append(seen[b], linkd.Recorded{Event: *e, Salt: make([]byte, linkd.SaltSize), LogIndex: int64(i)})
		st, _ := shipment.Build(b, seen[b])
		out = append(out, step{e, &st})
	}
	return out
}

func seq(steps []step) iter.Seq2[*linkd.Event, *linkd.ShipmentState] {
	return func(yield func(*linkd.Event, *linkd.ShipmentState) bool) {
		for _, s := range steps {
			if !yield(s.e, s.s) {
				return
			}
		}
	}
}

func TestReplay(t *testing.T) {
	steps := history(t)
	if len(steps) < 400 {
		t.Fatalf("history of %d events", len(steps))
	}
	ctx := context.Background()

	t.Run("record on each discharge at Hamburg", func(t *testing.T) {
		rule := Rule{ID: "arrival-notice", Paused: true, // Replay runs paused rules
			When:   expr.Filter{EquipmentEventTypeCodes: []string{"DISC"}, UNLocationCodes: []string{"DEHAM"}},
			Action: Action{Record: &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "ISSU", DocumentTypeCode: "ARN"}}}
		ds, err := Replay(ctx, self, rule, seq(steps), nil)
		if err != nil {
			t.Fatal(err)
		}
		var want []*linkd.Event
		for _, s := range steps {
			if s.e.EquipmentEventTypeCode == "DISC" && s.e.EventLocation.UNLocationCode == "DEHAM" {
				want = append(want, s.e)
			}
		}
		if len(want) == 0 || len(ds) != len(want) {
			t.Fatalf("%d decisions, want one per discharge at Hamburg (%d)", len(ds), len(want))
		}
		for i, d := range ds {
			e := d.Events[0]
			if e.CausedBy[0] != want[i].EventID || !e.EventDateTime.Equal(want[i].EventDateTime.Time) || e.EquipmentReference != want[i].EquipmentReference {
				t.Errorf("decision %d: %+v; want it caused by %s at %s", i, e, want[i].EventID, want[i].EventDateTime)
			}
		}
	})

	t.Run("reallocate on the Hamburg hold only", func(t *testing.T) {
		p := newBook()
		p.orders = map[string][]order{"OCLVNHAM0000001": p.orders[booking]}
		ds, err := Replay(ctx, self, holdRules()[0], seq(steps), p)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || len(ds[0].Events) != 3 {
			t.Fatalf("decisions %+v; want one re-allocation of 3 orders", ds)
		}
		var hold *linkd.Event
		for _, s := range steps {
			if s.e.ShipmentEventTypeCode == "HOLD" && s.e.EventLocation.UNLocationCode == "DEHAM" {
				hold = s.e
			}
		}
		if got := ds[0].Events[0].CausedBy[0]; got != hold.EventID {
			t.Errorf("caused by %s, want the Hamburg hold %s", got, hold.EventID)
		}
	})

	t.Run("loop guard over recorded history", func(t *testing.T) {
		rule := Rule{ID: "every-shipment-event", When: expr.Filter{EventTypes: []linkd.EventType{linkd.Shipment}},
			Action: Action{Webhook: &WebhookAction{URL: "https://erp.example.com/x", Secret: "s"}}}
		ds, err := Replay(ctx, self, rule, seq(steps), nil)
		if err != nil {
			t.Fatal(err)
		}
		shipmentEvents, ruleMade := 0, 0
		for _, s := range steps {
			if s.e.EventType == linkd.Shipment {
				shipmentEvents++
				if s.e.Origin == self.ID && RuleMade(s.e) {
					ruleMade++
				}
			}
		}
		if ruleMade != 1 || len(ds) != shipmentEvents-ruleMade {
			t.Errorf("%d decisions over %d shipment events (%d made by this node's rules); want all but those", len(ds), shipmentEvents, ruleMade)
		}
	})

	t.Run("same answer every time", func(t *testing.T) {
		a, _ := Replay(ctx, self, holdRules()[1], seq(steps), nil)
		b, _ := Replay(ctx, self, holdRules()[1], seq(steps), nil)
		if len(a) != 1 || string(encode(a)) != string(encode(b)) {
			t.Errorf("replays differ or decided %d times, want once", len(a))
		}
	})
}

func TestReplayErrors(t *testing.T) {
	steps := history(t)
	ctx := context.Background()
	rule := Rule{ID: "any", Action: Action{Webhook: &WebhookAction{URL: "https://erp.example.com/x", Secret: "s"}}}

	swapped := slices.Clone(steps)
	swapped[100], swapped[101] = swapped[101], swapped[100]
	if swapped[100].e.EventDateTime.Equal(swapped[101].e.EventDateTime.Time) && swapped[100].e.HLC == swapped[101].e.HLC {
		t.Fatal("test needs two events at different positions in the timeline")
	}
	want := 0 // decisions before the error: one per event but this node's rule events
	for _, s := range swapped[:101] {
		if !(s.e.Origin == self.ID && RuleMade(s.e)) {
			want++
		}
	}
	ds, err := Replay(ctx, self, rule, seq(swapped), nil)
	if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "not in timeline order: event 101") || len(ds) != want {
		t.Errorf("out of order: %d decisions, %v; want %d and an error at event 101", len(ds), err, want)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Replay(cctx, self, rule, seq(steps), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v; want context.Canceled", err)
	}

	if _, err := Replay(ctx, self, holdRules()[0], seq(steps), nil); err == nil || !strings.Contains(err.Error(), "needs an inventory planner") {
		t.Errorf("reallocate without a planner: %v", err)
	}
}
