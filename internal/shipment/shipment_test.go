package shipment

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

var (
	hanoi, haiphong, singapore = scenario.Hanoi, scenario.Haiphong, scenario.Singapore
	hamburgPort, rotterdam     = scenario.Hamburg, scenario.Rotterdam
)

func TestEmpty(t *testing.T) {
	st, tl := Build(booking, nil)
	want := State{Ref: booking, Status: Unknown}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("state = %+v, want %+v", st, want)
	}
	if tl != nil {
		t.Errorf("timeline = %v, want nil", tl)
	}
}

// step is one event of a journey and the status the shipment has once the
// node holds it and every earlier one.
type step struct {
	origin string
	event  linkd.Event
	want   Status
}

// TestJourney walks the lane by hand, plans and estimates included, and
// checks the status after each event.
func TestJourney(t *testing.T) {
	hold := ship("HOLD", "CUS", 331)
	hold.Reason = "x-ray inspection"
	hold.EquipmentReference = boxA
	rels := ship("RELS", "CUS", 340)
	rels.EquipmentReference = boxA
	steps := []step{
		{shipper, ship("REQS", "CBR", 0), BookingRequested},
		{carrier, ship("RECE", "CBR", 1), BookingRequested},
		{carrier, ship("CONF", "BKG", 2), Booked},
		{carrier, vessel("DEPA", "PLN", haiphong, 150), Booked},
		{carrier, vessel("ARRI", "PLN", hamburgPort, 600), Booked},
		{shipper, empty(box("PICK", boxA, hanoi, 20)), EmptyPickedUp},
		{shipper, box("STUF", boxA, hanoi, 40), Stuffed},
		{shipper, box("PICK", boxA, hanoi, 41), PickedUp},
		{terminal, box("GTIN", boxA, haiphong, 60), GatedIn},
		{carrier, ship("SUBM", "SHI", 61), GatedIn},
		{carrier, vessel("ARRI", "ACT", haiphong, 120), GatedIn}, // the vessel arrives; the box waits ashore
		{terminal, box("LOAD", boxA, haiphong, 140), Loaded},
		{carrier, vessel("DEPA", "ACT", haiphong, 150), InTransit},
		{carrier, ship("ISSU", "TRD", 151), InTransit}, // the B/L is issued after departure
		{carrier, ship("CONF", "BKG", 152), InTransit}, // a booking amendment does not send it back
		{carrier, vessel("ARRI", "EST", hamburgPort, 610), InTransit},
		{carrier, vessel("ARRI", "ACT", singapore, 230), Arrived},
		{hub, box("DISC", boxA, singapore, 233), Discharged},
		{carrier, vessel("DEPA", "ACT", singapore, 240), Discharged}, // its first vessel leaves without it
		{hub, box("LOAD", boxA, singapore, 250), Loaded},
		{carrier, vessel("DEPA", "ACT", singapore, 260), InTransit},
		{carrier, vessel("ARRI", "ACT", hamburgPort, 320), Arrived},
		{hamburg, box("DISC", boxA, hamburgPort, 325), Discharged},
		{carrier, vessel("DEPA", "ACT", hamburgPort, 330), Discharged},
		{customs, hold, OnHold},
		{hamburg, box("INSP", boxA, hamburgPort, 335), OnHold},
		{customs, rels, Released},
		{hamburg, box("GTOT", boxA, hamburgPort, 350), GatedOut},
		{dc, box("DROP", boxA, hamburgPort, 360), Delivered},
		{dc, box("STRP", boxA, hamburgPort, 362), Delivered},
		{dc, empty(box("DROP", boxA, hamburgPort, 380)), Delivered}, // the empty goes back
	}
	l := newLogs(t)
	for i, s := range steps {
		e := l.add(s.origin, s.event)
		st, _ := l.build()
		if st.Status != s.want {
			t.Fatalf("after step %d (%s %s): status %s, want %s", i, e.Origin, code(&e), st.Status, s.want)
		}
	}
	st, tl := l.build()
	if st.Events != len(steps) || len(tl) != len(steps) {
		t.Errorf("events = %d, timeline %d, want %d", st.Events, len(tl), len(steps))
	}
	if got, want := st.StatusSince, at(360); got == nil || !got.Equal(want.Time) {
		t.Errorf("status since %v, want %v (the laden drop)", got, want)
	}
	if got := st.LastLocation; got == nil || got.UNLocationCode != "DEHAM" {
		t.Errorf("last location = %+v, want DEHAM", got)
	}
	if want := (&Arrival{Location: "DEHAM", Time: at(320), Classifier: "ACT", EventID: st.ETA.EventID, Origin: carrier}); !reflect.DeepEqual(st.ETA, want) {
		t.Errorf("eta = %+v, want %+v", st.ETA, want)
	}
	if !slices.Equal(st.Bookings, []string{booking}) || !slices.Equal(st.TransportDocuments, []string{bl}) || !slices.Equal(st.Equipment, []string{boxA}) {
		t.Errorf("references = %v %v %v, want [%s] [%s] [%s]", st.Bookings, st.TransportDocuments, st.Equipment, booking, bl, boxA)
	}
	for i := 1; i < len(tl); i++ {
		if Compare(&tl[i-1], &tl[i]) >= 0 {
			t.Fatalf("timeline[%d] (%s) does not sort before timeline[%d] (%s)", i-1, code(&tl[i-1].Event), i, code(&tl[i].Event))
		}
	}
}

func code(e *linkd.Event) string {
	return e.EventClassifierCode + " " + e.ShipmentEventTypeCode + e.TransportEventTypeCode + e.EquipmentEventTypeCode
}

// TestScenarioJourney takes one container's trip from the lane generator,
// adds the vessel calls and the customs hold a real trip has, and checks
// each status along the way. The generator's booking milestones land after
// the empty pick-up, so they also show that booking events do not move a
// shipment whose container has started moving.
func TestScenarioJourney(t *testing.T) {
	g := scenario.NewGenerator(7, t0).WithShipments(1)
	var trip []linkd.Event
	var container string
	seen := 0
	for seen < 10 {
		e := g.Next()
		switch e.EventType {
		case linkd.Shipment:
			trip = append(trip, e)
		case linkd.Equipment:
			if container == "" {
				container = e.EquipmentReference
			}
			if e.EquipmentReference == container {
				trip = append(trip, e)
				seen++
			}
		}
	}
	booking, bl := trip[0].CarrierBookingReference, trip[0].TransportDocumentReference
	when := func(code string, n int) time.Time { // the n-th move with code
		for _, e := range trip {
			if e.EquipmentEventTypeCode == code {
				if n--; n == 0 {
					return e.EventDateTime.Time
				}
			}
		}
		t.Fatalf("the trip has no %s #%d", code, n)
		return time.Time{}
	}
	call := func(code string, p scenario.Place, at time.Time) linkd.Event {
		e := vessel(code, "ACT", p, 0)
		e.EventDateTime = linkd.Time{Time: at}
		e.CarrierBookingReference, e.TransportDocumentReference = booking, bl
		return e
	}
	customsEvent := func(code string, at time.Time) linkd.Event {
		e := ship(code, "CUS", 0)
		e.EventDateTime = linkd.Time{Time: at}
		e.CarrierBookingReference, e.TransportDocumentReference = booking, bl
		return e
	}
	hold := customsEvent("HOLD", when("DISC", 2).Add(time.Hour))
	rels := customsEvent("RELS", when("INSP", 1).Add(time.Hour))
	trip = append(trip,
		call("ARRI", haiphong, when("GTIN", 1).Add(time.Hour)),
		call("DEPA", haiphong, when("LOAD", 1).Add(time.Hour)),
		call("ARRI", singapore, when("DISC", 1).Add(-time.Hour)),
		call("DEPA", singapore, when("LOAD", 2).Add(time.Hour)),
		call("ARRI", hamburgPort, when("DISC", 2).Add(-time.Hour)),
		hold, rels,
	)
	slices.SortStableFunc(trip, func(a, b linkd.Event) int { return a.EventDateTime.Compare(b.EventDateTime.Time) })

	next := map[string]Status{
		"PICK": EmptyPickedUp, "STUF": Stuffed, "GTIN": GatedIn, "LOAD": Loaded, "DEPA": InTransit,
		"DISC": Discharged, "HOLD": OnHold, "RELS": Released, "GTOT": GatedOut, "DROP": Delivered,
	}
	var want []Status
	status := Unknown
	l := newLogs(t)
	for _, e := range trip {
		c := e.ShipmentEventTypeCode + e.TransportEventTypeCode + e.EquipmentEventTypeCode
		switch {
		case c == "ARRI" && status == GatedIn: // the vessel arrives at the port of loading
		case c == "ARRI":
			status = Arrived
		case next[c] != "":
			status = next[c]
		}
		want = append(want, status)
		origin := map[linkd.EventType]string{linkd.Shipment: carrier, linkd.Transport: carrier, linkd.Equipment: terminal}[e.EventType]
		if c == "HOLD" || c == "RELS" {
			origin = customs
		}
		l.add(origin, e)
	}
	for i := range trip {
		st, _ := Build(booking, l.recs[:i+1])
		if st.Status != want[i] {
			t.Errorf("after %s at %s: status %s, want %s", code(&trip[i]), trip[i].EventDateTime, st.Status, want[i])
		}
	}
	for _, s := range []Status{EmptyPickedUp, Stuffed, GatedIn, Loaded, InTransit, Arrived, Discharged, OnHold, Released, GatedOut, Delivered} {
		if !slices.Contains(want, s) {
			t.Errorf("the trip's statuses %v never reach %s", want, s)
		}
	}
}

// TestStatus checks each status rule on a small history. Events are recorded
// in the order build adds them; build returns the event that should set the
// status ("" when none does).
func TestStatus(t *testing.T) {
	tests := []struct {
		name  string
		build func(l *logs) string
		want  Status
	}{
		{"plans and estimates only", func(l *logs) string {
			l.add(carrier, vessel("DEPA", "PLN", haiphong, 100))
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 600))
			l.add(carrier, classified("EST", box("LOAD", boxA, haiphong, 90)))
			return ""
		}, Unknown},
		{"rejected booking", func(l *logs) string {
			l.add(shipper, ship("REQS", "CBR", 0))
			return l.add(carrier, ship("REJE", "CBR", 1)).EventID
		}, BookingRejected},
		{"booking confirmed after a rejection and a new request", func(l *logs) string {
			l.add(carrier, ship("REJE", "CBR", 1))
			l.add(shipper, ship("REQS", "CBR", 2))
			return l.add(carrier, ship("CONF", "BKG", 3)).EventID
		}, Booked},
		{"a confirmation without a document type is about the booking", func(l *logs) string {
			return l.add(carrier, ship("CONF", "", 3)).EventID
		}, Booked},
		{"other documents do not move the status", func(l *logs) string {
			l.add(carrier, ship("ISSU", "TRD", 1))
			l.add(carrier, ship("APPR", "SHI", 2))
			l.add(carrier, ship("RECE", "VGM", 3))
			return ""
		}, Unknown},
		{"a late-arriving gate-in slots into its place in time", func(l *logs) string {
			id := l.add(terminal, box("LOAD", boxA, haiphong, 50)).EventID
			l.add(terminal, box("GTIN", boxA, haiphong, 40))
			return id
		}, Loaded},
		{"the same status on two containers dates from the first", func(l *logs) string {
			id := l.add(terminal, box("LOAD", boxA, haiphong, 50)).EventID
			l.add(terminal, box("LOAD", boxB, haiphong, 51))
			return id
		}, Loaded},
		{"an inspection does not move the status", func(l *logs) string {
			id := l.add(hamburg, box("DISC", boxA, hamburgPort, 300)).EventID
			l.add(hamburg, box("INSP", boxA, hamburgPort, 301))
			l.add(hamburg, box("RSEA", boxA, hamburgPort, 302))
			return id
		}, Discharged},
		{"empty moves after delivery do not move the status", func(l *logs) string {
			id := l.add(dc, box("DROP", boxA, hamburgPort, 300)).EventID
			l.add(dc, empty(box("PICK", boxA, hamburgPort, 310)))
			l.add(dc, empty(box("GTIN", boxA, hamburgPort, 320)))
			return id
		}, Delivered},
		{"an empty pick-up after stuffing does not move the status", func(l *logs) string {
			id := l.add(shipper, box("STUF", boxA, hanoi, 10)).EventID
			l.add(shipper, empty(box("PICK", boxB, hanoi, 11)))
			return id
		}, Stuffed},
		{"vessel events count when the node holds no container moves", func(l *logs) string {
			l.add(carrier, ship("CONF", "BKG", 1))
			return l.add(carrier, vessel("DEPA", "ACT", haiphong, 100)).EventID
		}, InTransit},
		{"a vessel calling while the container is ashore changes nothing", func(l *logs) string {
			id := l.add(terminal, box("GTIN", boxA, haiphong, 50)).EventID
			l.add(carrier, vessel("ARRI", "ACT", haiphong, 60))
			l.add(carrier, vessel("DEPA", "ACT", haiphong, 70))
			return id
		}, GatedIn},
		{"an estimated departure does not move the status", func(l *logs) string {
			id := l.add(terminal, box("LOAD", boxA, haiphong, 50)).EventID
			l.add(carrier, vessel("DEPA", "EST", haiphong, 60))
			return id
		}, Loaded},
		{"release before any cargo move keeps the booking status", func(l *logs) string {
			id := l.add(carrier, ship("CONF", "BKG", 1)).EventID
			l.add(carrier, ship("RELS", "SRM", 2))
			return id
		}, Booked},
		{"one container delivered, one on its way", func(l *logs) string {
			l.add(hamburg, box("GTOT", boxB, hamburgPort, 300))
			return l.add(dc, box("DROP", boxA, hamburgPort, 310)).EventID
		}, PartlyDelivered},
		{"partly delivered dates from the first delivery", func(l *logs) string {
			l.add(terminal, box("LOAD", boxB, haiphong, 50))
			id := l.add(dc, box("DROP", boxA, hamburgPort, 310)).EventID
			l.add(dc, box("STRP", boxA, hamburgPort, 320))
			return id
		}, PartlyDelivered},
		{"every container delivered, dated by the last", func(l *logs) string {
			l.add(dc, box("DROP", boxA, hamburgPort, 310))
			l.add(hamburg, box("GTOT", boxB, hamburgPort, 315))
			return l.add(dc, box("STRP", boxB, hamburgPort, 320)).EventID
		}, Delivered},
		{"a container delivered before the other's last move", func(l *logs) string {
			l.add(dc, box("DROP", boxA, hamburgPort, 310))
			return l.add(hamburg, box("GTOT", boxB, hamburgPort, 315)).EventID
		}, GatedOut},
		{"a cancelled booking stays cancelled", func(l *logs) string {
			l.add(carrier, ship("CONF", "BKG", 1))
			id := l.add(carrier, ship("CANC", "BKG", 2)).EventID
			l.add(carrier, ship("CANC", "", 3))
			l.add(terminal, box("GTIN", boxA, haiphong, 50))
			return id
		}, Cancelled},
		{"cancelling another document does not cancel the shipment", func(l *logs) string {
			id := l.add(carrier, ship("CONF", "BKG", 1)).EventID
			l.add(carrier, ship("CANC", "SHI", 2))
			return id
		}, Booked},
		{"a planned cancellation does not cancel", func(l *logs) string {
			id := l.add(carrier, ship("CONF", "BKG", 1)).EventID
			l.add(carrier, classified("PLN", ship("CANC", "BKG", 2)))
			return id
		}, Booked},
		{"cancelled beats on hold", func(l *logs) string {
			l.add(customs, ship("HOLD", "CUS", 1))
			return l.add(carrier, ship("CANC", "BKG", 2)).EventID
		}, Cancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			wantEvent := tt.build(l)
			st, _ := l.build()
			if st.Status != tt.want {
				t.Errorf("status = %s, want %s", st.Status, tt.want)
			}
			if st.StatusEvent != wantEvent {
				t.Errorf("status event = %q, want %q", st.StatusEvent, wantEvent)
			}
			if (st.StatusSince == nil) != (wantEvent == "") {
				t.Errorf("status since = %v with status event %q", st.StatusSince, wantEvent)
			}
			for _, r := range l.recs {
				if r.Event.EventID == wantEvent && st.StatusSince != nil && !st.StatusSince.Equal(r.Event.EventDateTime.Time) {
					t.Errorf("status since = %v, want %v", st.StatusSince, r.Event.EventDateTime)
				}
			}
		})
	}
}

func TestHolds(t *testing.T) {
	type holdCase struct {
		name  string
		build func(l *logs) (open []string) // ids of the holds that should stay open, oldest first
		want  Status
	}
	withCause := func(e linkd.Event, ids ...string) linkd.Event { e.CausedBy = ids; return e }
	onBox := func(e linkd.Event, c string) linkd.Event { e.EquipmentReference = c; return e }
	tests := []holdCase{
		{"one open hold", func(l *logs) []string {
			l.add(hamburg, box("DISC", boxA, hamburgPort, 300))
			return []string{l.add(customs, ship("HOLD", "CUS", 301)).EventID}
		}, OnHold},
		{"a release by the same party", func(l *logs) []string {
			l.add(hamburg, box("DISC", boxA, hamburgPort, 300))
			l.add(customs, ship("HOLD", "CUS", 301))
			l.add(customs, ship("RELS", "CUS", 302))
			return nil
		}, Released},
		{"a release by another party lifts nothing", func(l *logs) []string {
			l.add(hamburg, box("DISC", boxA, hamburgPort, 300))
			id := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			l.add(shipper, ship("RELS", "CUS", 302))
			return []string{id}
		}, OnHold},
		{"a release for another document lifts nothing", func(l *logs) []string {
			id := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			l.add(customs, ship("RELS", "DGD", 302))
			return []string{id}
		}, OnHold},
		{"a release without a document type lifts all of its party's holds", func(l *logs) []string {
			l.add(customs, ship("HOLD", "CUS", 301))
			l.add(customs, ship("HOLD", "DGD", 302))
			id := l.add(carrier, ship("HOLD", "SRM", 303)).EventID
			l.add(customs, ship("RELS", "", 304))
			return []string{id}
		}, OnHold},
		{"two holds, one released", func(l *logs) []string {
			first := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			l.add(carrier, ship("HOLD", "SRM", 302))
			l.add(carrier, ship("RELS", "SRM", 303))
			return []string{first}
		}, OnHold},
		{"a release names the hold it lifts", func(l *logs) []string {
			a := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			b := l.add(customs, ship("HOLD", "CUS", 302)).EventID
			l.add(customs, withCause(ship("RELS", "CUS", 303), b))
			return []string{a}
		}, OnHold},
		{"a named release lifts a hold dated after it", func(l *logs) []string {
			h := ship("HOLD", "CUS", 310)
			h.EventID = "0196d7a0-0000-7000-8000-000000000001"
			l.add(customs, withCause(ship("RELS", "CUS", 305), h.EventID))
			l.add(customs, h)
			return nil
		}, Unknown},
		{"a release does not lift a later hold", func(l *logs) []string {
			l.add(customs, ship("RELS", "CUS", 300))
			return []string{l.add(customs, ship("HOLD", "CUS", 301)).EventID}
		}, OnHold},
		{"a release for one container leaves the shipment's hold", func(l *logs) []string {
			whole := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			l.add(customs, onBox(ship("HOLD", "CUS", 302), boxA))
			l.add(customs, onBox(ship("RELS", "CUS", 303), boxA))
			return []string{whole}
		}, OnHold},
		{"a planned hold is no hold", func(l *logs) []string {
			l.add(customs, classified("PLN", ship("HOLD", "CUS", 301)))
			return nil
		}, Unknown},
		{"a retracted hold was never open", func(l *logs) []string {
			id := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			l.retract(customs, id, 302)
			return nil
		}, Unknown},
		{"a corrected hold stays open under its new id", func(l *logs) []string {
			old := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			h := ship("HOLD", "CUS", 301)
			h.Reason, h.SupersedesEventID = "x-ray and sniffer dogs", old
			return []string{l.add(customs, h).EventID}
		}, OnHold},
		{"a release naming a corrected hold lifts its successor", func(l *logs) []string {
			old := l.add(customs, ship("HOLD", "CUS", 301)).EventID
			h := ship("HOLD", "CUS", 301)
			h.Reason, h.SupersedesEventID = "corrected", old
			l.add(customs, h)
			l.add(customs, withCause(ship("RELS", "CUS", 303), old))
			return nil
		}, Unknown},
		{"on hold since the earliest open hold", func(l *logs) []string {
			l.add(customs, ship("HOLD", "CUS", 301))
			b := l.add(carrier, ship("HOLD", "SRM", 302)).EventID
			c := l.add(customs, ship("HOLD", "DGD", 303)).EventID
			l.add(customs, ship("RELS", "CUS", 304))
			return []string{b, c}
		}, OnHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			open := tt.build(l)
			st, _ := l.build()
			var got []string
			for _, h := range st.OpenHolds {
				got = append(got, h.EventID)
			}
			if !slices.Equal(got, open) {
				t.Errorf("open holds = %v, want %v", got, open)
			}
			if st.Status != tt.want {
				t.Errorf("status = %s, want %s", st.Status, tt.want)
			}
			if st.Status == OnHold && (st.StatusEvent != open[0] || !st.StatusSince.Equal(st.OpenHolds[0].Since.Time)) {
				t.Errorf("on hold by %s since %v, want the earliest open hold %s since %v", st.StatusEvent, st.StatusSince, open[0], st.OpenHolds[0].Since)
			}
		})
	}
}

func TestHoldFields(t *testing.T) {
	l := newLogs(t)
	h := ship("HOLD", "CUS", 301)
	h.Reason, h.EquipmentReference = "x-ray inspection", boxA
	h = l.add(customs, h)
	st, _ := l.build()
	want := []Hold{{EventID: h.EventID, Origin: customs, Since: at(301), Reason: "x-ray inspection", DocumentTypeCode: "CUS", EquipmentReference: boxA}}
	if !reflect.DeepEqual(st.OpenHolds, want) {
		t.Errorf("open holds = %+v, want %+v", st.OpenHolds, want)
	}
}

func TestCorrections(t *testing.T) {
	type mark struct{ retractedBy, supersededBy string }
	tests := []struct {
		name string
		// build returns the wanted status and the marks wanted on events by id.
		build func(l *logs) (Status, map[string]mark)
	}{
		{"a retracted load no longer counts", func(l *logs) (Status, map[string]mark) {
			l.add(terminal, box("GTIN", boxA, haiphong, 50))
			load := l.add(terminal, box("LOAD", boxA, haiphong, 60)).EventID
			r := l.retract(terminal, load, 61).EventID
			return GatedIn, map[string]mark{load: {retractedBy: r}}
		}},
		{"retracting a retraction restores its target", func(l *logs) (Status, map[string]mark) {
			l.add(terminal, box("GTIN", boxA, haiphong, 50))
			load := l.add(terminal, box("LOAD", boxA, haiphong, 60)).EventID
			r1 := l.retract(terminal, load, 61).EventID
			r2 := l.retract(terminal, r1, 62).EventID
			return Loaded, map[string]mark{load: {}, r1: {retractedBy: r2}}
		}},
		{"a party cannot retract another's event", func(l *logs) (Status, map[string]mark) {
			load := l.add(terminal, box("LOAD", boxA, haiphong, 60)).EventID
			l.retract(carrier, load, 61)
			return Loaded, map[string]mark{load: {}}
		}},
		{"a retraction cannot reach an event recorded after it", func(l *logs) (Status, map[string]mark) {
			e := box("LOAD", boxA, haiphong, 60)
			e.EventID = "0196d7a0-0000-7000-8000-000000000002"
			l.retract(terminal, e.EventID, 59)
			l.add(terminal, e)
			return Loaded, map[string]mark{e.EventID: {}}
		}},
		{"a retraction of an event not held counts for nothing", func(l *logs) (Status, map[string]mark) {
			l.retract(terminal, "0196d7a0-0000-7000-8000-000000000003", 59)
			return Unknown, nil
		}},
		{"a superseded discharge is replaced by its successor", func(l *logs) (Status, map[string]mark) {
			l.add(terminal, box("LOAD", boxA, haiphong, 60))
			d := l.add(hamburg, box("GTOT", boxA, hamburgPort, 300)).EventID
			s := box("DISC", boxA, hamburgPort, 300)
			s.SupersedesEventID = d
			sid := l.add(hamburg, s).EventID
			return Discharged, map[string]mark{d: {supersededBy: sid}, sid: {}}
		}},
		{"the latest of two successors wins and replaces the other", func(l *logs) (Status, map[string]mark) {
			x := l.add(hamburg, box("GTIN", boxA, hamburgPort, 300)).EventID
			s1 := box("DISC", boxA, hamburgPort, 300)
			s1.SupersedesEventID = x
			id1 := l.add(hamburg, s1).EventID
			s2 := box("GTOT", boxA, hamburgPort, 300)
			s2.SupersedesEventID = x
			id2 := l.add(hamburg, s2).EventID
			return GatedOut, map[string]mark{x: {supersededBy: id2}, id1: {supersededBy: id2}, id2: {}}
		}},
		{"a chain of supersessions ends at the newest", func(l *logs) (Status, map[string]mark) {
			x := l.add(hamburg, box("GTIN", boxA, hamburgPort, 300)).EventID
			s1 := box("DISC", boxA, hamburgPort, 301)
			s1.SupersedesEventID = x
			id1 := l.add(hamburg, s1).EventID
			s2 := box("GTOT", boxA, hamburgPort, 302)
			s2.SupersedesEventID = id1
			id2 := l.add(hamburg, s2).EventID
			return GatedOut, map[string]mark{x: {supersededBy: id1}, id1: {supersededBy: id2}, id2: {}}
		}},
		{"retracting a successor restores what it superseded", func(l *logs) (Status, map[string]mark) {
			x := l.add(hamburg, box("DISC", boxA, hamburgPort, 300)).EventID
			s := box("GTOT", boxA, hamburgPort, 300)
			s.SupersedesEventID = x
			sid := l.add(hamburg, s).EventID
			r := l.retract(hamburg, sid, 301).EventID
			return Discharged, map[string]mark{x: {}, sid: {retractedBy: r}}
		}},
		{"a party cannot supersede another's event", func(l *logs) (Status, map[string]mark) {
			x := l.add(hamburg, box("DISC", boxA, hamburgPort, 300)).EventID
			s := box("LOAD", boxA, hamburgPort, 299)
			s.SupersedesEventID = x
			sid := l.add(carrier, s).EventID
			return Discharged, map[string]mark{x: {}, sid: {}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			want, marks := tt.build(l)
			st, tl := l.build()
			if st.Status != want {
				t.Errorf("status = %s, want %s", st.Status, want)
			}
			if len(tl) != len(l.recs) || st.Events != len(l.recs) {
				t.Errorf("timeline has %d entries (state says %d), want all %d events", len(tl), st.Events, len(l.recs))
			}
			for _, e := range tl {
				m, ok := marks[e.Event.EventID]
				if !ok {
					continue
				}
				if got := (mark{e.RetractedBy, e.SupersededBy}); got != m {
					t.Errorf("%s: marks = %+v, want %+v", code(&e.Event), got, m)
				}
			}
		})
	}
}

// TestRetractedReferencesLeaveState checks that a retracted event's
// container number, party list and location are gone from the state.
func TestRetractedReferencesLeaveState(t *testing.T) {
	l := newLogs(t)
	l.add(terminal, box("GTIN", boxA, haiphong, 50))
	typo := box("LOAD", boxB, rotterdam, 60)
	typo.Parties = []linkd.ShipmentParty{{Party: "someone-else", Role: linkd.RoleConsignee}}
	id := l.add(terminal, typo).EventID
	l.retract(terminal, id, 61)
	st, _ := l.build()
	if !slices.Equal(st.Equipment, []string{boxA}) {
		t.Errorf("equipment = %v, want [%s]", st.Equipment, boxA)
	}
	if slices.ContainsFunc(st.Parties, func(p linkd.ShipmentParty) bool { return p.Party == "someone-else" }) {
		t.Errorf("parties = %v, want no party of the retracted event", st.Parties)
	}
	if st.LastLocation == nil || st.LastLocation.UNLocationCode != "VNHPH" {
		t.Errorf("last location = %+v, want VNHPH", st.LastLocation)
	}
}

func TestParties(t *testing.T) {
	l := newLogs(t)
	a := ship("CONF", "BKG", 1)
	a.Parties = []linkd.ShipmentParty{{Party: "oceanic-lines", Role: linkd.RoleCarrier}, {Party: "hanoi-electronics", Role: linkd.RoleShipper}}
	b := box("GTIN", boxA, haiphong, 50)
	b.Parties = []linkd.ShipmentParty{{Party: "haiphong-terminal", Role: linkd.RoleTerminal}, {Party: "oceanic-lines", Role: linkd.RoleCarrier}, {Party: "hanoi-electronics", Role: linkd.RoleConsignee}}
	l.add(carrier, a)
	l.add(terminal, b)
	st, _ := l.build()
	want := []linkd.ShipmentParty{
		{Party: "haiphong-terminal", Role: linkd.RoleTerminal},
		{Party: "hanoi-electronics", Role: linkd.RoleConsignee},
		{Party: "hanoi-electronics", Role: linkd.RoleShipper},
		{Party: "oceanic-lines", Role: linkd.RoleCarrier},
	}
	if !reflect.DeepEqual(st.Parties, want) {
		t.Errorf("parties = %v, want %v", st.Parties, want)
	}
}

func TestETA(t *testing.T) {
	tests := []struct {
		name  string
		build func(l *logs) (want *Arrival) // EventID is filled from the event returned
	}{
		{"no arrival", func(l *logs) *Arrival {
			l.add(carrier, vessel("DEPA", "PLN", haiphong, 100))
			return nil
		}},
		{"from the plan", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "PLN", hamburgPort, 600))
			return &Arrival{Location: "DEHAM", Time: at(600), Classifier: "PLN", Origin: carrier}
		}},
		{"an estimate beats a plan recorded after it", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 610))
			l.add(carrier, vessel("ARRI", "PLN", hamburgPort, 600))
			return &Arrival{Location: "DEHAM", Time: at(610), Classifier: "EST", Origin: carrier}
		}},
		{"the newest estimate wins, whatever time it names", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 620))
			l.add(hamburg, vessel("ARRI", "EST", hamburgPort, 605))
			return &Arrival{Location: "DEHAM", Time: at(605), Classifier: "EST", Origin: hamburg}
		}},
		{"the actual arrival beats estimates", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "ACT", hamburgPort, 612))
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 620))
			return &Arrival{Location: "DEHAM", Time: at(612), Classifier: "ACT", Origin: carrier}
		}},
		{"the destination is the latest-dated arrival", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "PLN", singapore, 230))
			l.add(carrier, vessel("ARRI", "PLN", hamburgPort, 600))
			l.add(carrier, vessel("ARRI", "EST", singapore, 232))
			l.add(carrier, vessel("ARRI", "ACT", singapore, 233))
			return &Arrival{Location: "DEHAM", Time: at(600), Classifier: "PLN", Origin: carrier}
		}},
		{"a superseded estimate gives way to its successor", func(l *logs) *Arrival {
			old := l.add(carrier, vessel("ARRI", "EST", hamburgPort, 610)).EventID
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 612))
			e := vessel("ARRI", "EST", hamburgPort, 600)
			e.SupersedesEventID = old
			l.add(carrier, e)
			return &Arrival{Location: "DEHAM", Time: at(600), Classifier: "EST", Origin: carrier}
		}},
		{"a retracted estimate gives way to the one before", func(l *logs) *Arrival {
			l.add(carrier, vessel("ARRI", "EST", hamburgPort, 610))
			bad := l.add(carrier, vessel("ARRI", "EST", hamburgPort, 900)).EventID
			l.retract(carrier, bad, 1)
			return &Arrival{Location: "DEHAM", Time: at(610), Classifier: "EST", Origin: carrier}
		}},
		{"a changed destination follows the plans", func(l *logs) *Arrival {
			old := l.add(carrier, vessel("ARRI", "PLN", hamburgPort, 600)).EventID
			e := vessel("ARRI", "PLN", rotterdam, 590)
			e.SupersedesEventID = old
			l.add(carrier, e)
			return &Arrival{Location: "NLRTM", Time: at(590), Classifier: "PLN", Origin: carrier}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			want := tt.build(l)
			st, _ := l.build()
			if want != nil {
				for _, r := range l.recs {
					if r.Event.EventDateTime.Equal(want.Time.Time) && r.Event.EventClassifierCode == want.Classifier && r.Event.Origin == want.Origin {
						want.EventID = r.Event.EventID
					}
				}
			}
			if !reflect.DeepEqual(st.ETA, want) {
				t.Errorf("eta = %+v, want %+v", st.ETA, want)
			}
		})
	}
}

func TestTimelineOrder(t *testing.T) {
	ev := func(id, origin string, at time.Time, hlc linkd.HLC) linkd.Event {
		e := ship("CONF", "BKG", 0)
		e.EventID, e.Origin, e.EventDateTime, e.HLC = id, origin, linkd.Time{Time: at}, hlc
		return e
	}
	noon := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	// Listed in timeline order.
	recs := []linkd.Recorded{
		{Event: ev("00000000-0000-4000-8000-000000000001", "b", noon.Add(-time.Second), 9), LogIndex: 9},
		{Event: ev("00000000-0000-4000-8000-000000000002", "b", noon.In(ict), 1), LogIndex: 9}, // same instant, other zone
		{Event: ev("00000000-0000-4000-8000-000000000003", "a", noon, 2), LogIndex: 9},
		{Event: ev("00000000-0000-4000-8000-000000000004", "a", noon, 3), LogIndex: 1},
		{Event: ev("00000000-0000-4000-8000-000000000005", "b", noon, 3), LogIndex: 0},
		{Event: ev("00000000-0000-4000-8000-000000000006", "b", noon, 3), LogIndex: 1},
		{Event: ev("00000000-0000-4000-8000-000000000007", "c", noon, 3), LogIndex: 1},
		{Event: ev("00000000-0000-4000-8000-000000000008", "c", noon, 3), LogIndex: 1},
	}
	in := slices.Clone(recs)
	slices.Reverse(in)
	in = append(in, recs[3], recs[0]) // seen twice
	_, tl := Build(booking, in)
	var got, want []string
	for i := range tl {
		got = append(got, tl[i].Event.EventID)
		want = append(want, recs[i].Event.EventID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline = %v\nwant %v", got, want)
	}
}

func TestSameIDOtherOrigins(t *testing.T) {
	// Ids are per origin: another party reusing an id neither hides nor
	// corrects the first party's event.
	l := newLogs(t)
	e := box("LOAD", boxA, haiphong, 60)
	e.EventID = "0196d7a0-0000-7000-8000-000000000004"
	l.add(terminal, e)
	f := box("DISC", boxA, singapore, 50)
	f.EventID = e.EventID
	l.add(carrier, f)
	st, tl := l.build()
	if len(tl) != 2 || st.Status != Loaded {
		t.Errorf("timeline has %d entries and status %s, want 2 and LOADED", len(tl), st.Status)
	}
}

// lane returns a shipment's records: the lane generator's traffic for one
// shipment of three containers, with the origins that would record each
// event, plus corrections, holds and estimates.
func lane(t testing.TB, n int) []linkd.Recorded {
	g := scenario.NewGenerator(42, t0).WithShipments(1)
	l := newLogs(t)
	l.perParty = true
	var ids []string
	for range n {
		e := g.Next()
		origin := carrier
		if e.EventType == linkd.Equipment {
			origin = map[string]string{"VNHAN": shipper, "VNHPH": terminal, "SGSIN": hub, "DEHAM": hamburg}[e.EventLocation.UNLocationCode]
		}
		ids = append(ids, l.add(origin, e).EventID)
	}
	// Corrections, holds and estimates on top of the traffic.
	l.retract(l.recs[3].Event.Origin, ids[3], 1)
	s := l.recs[5].Event
	s.EventID, s.HLC, s.Origin = "", 0, ""
	s.EventDateTime = linkd.Time{Time: s.EventDateTime.Add(time.Minute)}
	s.SupersedesEventID = ids[5]
	l.add(l.recs[5].Event.Origin, s)
	ours := func(e linkd.Event) linkd.Event {
		e.CarrierBookingReference = l.recs[0].Event.CarrierBookingReference
		e.TransportDocumentReference = l.recs[0].Event.TransportDocumentReference
		return e
	}
	h := l.add(customs, ours(ship("HOLD", "CUS", 30)))
	l.add(customs, ours(ship("HOLD", "CUS", 31)))
	rels := ours(ship("RELS", "CUS", 32))
	rels.CausedBy = []string{h.EventID}
	l.add(customs, rels)
	l.add(carrier, ours(vessel("ARRI", "EST", hamburgPort, 900)))
	l.add(hamburg, ours(vessel("ARRI", "EST", hamburgPort, 905)))
	return l.recs
}

// TestDeterminism is the property replication relies on: every arrival
// order of the same events, with repeats, gives the same state and timeline.
func TestDeterminism(t *testing.T) {
	recs := lane(t, 120)
	wantState, wantTL := Build(booking, recs)
	if wantState.Events != len(recs) || len(wantState.OpenHolds) != 1 || wantState.ETA == nil || wantState.Status != OnHold {
		t.Fatalf("the lane's state %+v does not exercise holds and ETA", wantState)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		in := slices.Clone(recs)
		for range rng.IntN(len(recs)) {
			in = append(in, recs[rng.IntN(len(recs))])
		}
		rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		st, tl := Build(booking, in)
		if !reflect.DeepEqual(st, wantState) {
			t.Fatalf("shuffle %d: state differs\n got %+v\nwant %+v", i, st, wantState)
		}
		if !reflect.DeepEqual(tl, wantTL) {
			t.Fatalf("shuffle %d: timeline differs", i)
		}
	}
}

// TestDeterminismAcrossNodes decodes each copy of an event separately, as
// two links delivering it would: the JSON a node serves must not depend on
// which copy arrived first.
func TestDeterminismAcrossNodes(t *testing.T) {
	recs := lane(t, 80)
	decoded := func(r linkd.Recorded) linkd.Recorded {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var out linkd.Recorded
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	encode := func(st State, tl []Entry) string {
		b, err := json.Marshal(struct {
			State    State
			Timeline []Entry
		}{st, tl})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := encode(Build(booking, recs))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		var in []linkd.Recorded
		for _, r := range recs {
			in = append(in, decoded(r))
			if rng.IntN(3) == 0 {
				in = append(in, r)
			}
		}
		rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		if got := encode(Build(booking, in)); got != want {
			t.Fatalf("node %d serves different JSON:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	recs := lane(t, 60)
	before := fmt.Sprint(recs)
	in := slices.Clone(recs)
	Build(booking, in)
	if fmt.Sprint(in) != before {
		t.Error("Build reordered or changed its input")
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := lane(b, 53) // 60 events with the corrections, holds and estimates
	if len(recs) != 60 {
		b.Fatalf("lane has %d events, want 60", len(recs))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	b.ReportAllocs()
	for b.Loop() {
		Build(booking, recs)
	}
}
