package expr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/cel-go/common/types"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shipment"
)

func TestMatch(t *testing.T) {
	holdState := shipmentState(t, hold(), departure())
	tests := []struct {
		src   string
		event *linkd.Event
		state *linkd.ShipmentState
		want  bool
	}{
		{`event.shipmentEventTypeCode == "HOLD" && event.eventLocation.UNLocationCode.startsWith("DE")`, hold(), nil, true},
		{`event.shipmentEventTypeCode == "HOLD" && event.eventLocation.UNLocationCode.startsWith("NL")`, hold(), nil, false},
		// Absent fields read as their zero value instead of failing.
		{`event.shipmentEventTypeCode == "HOLD" && event.eventLocation.UNLocationCode.startsWith("DE")`, departure(), nil, false},
		{`event.eventLocation.UNLocationCode == "" && event.transportCall.location.UNLocationCode == "VNHPH"`, departure(), nil, true},
		{`event.transportCall.vessel.vesselIMONumber == "9778791"`, departure(), nil, true},
		{`event.inventory.quantity == 0 && event.inventory.sku == ""`, hold(), nil, true},
		{`event.references.size() == 0 && event.causedBy == []`, hold(), nil, true},
		// Presence follows the JSON encoding.
		{`has(event.eventLocation) && !has(event.transportCall) && has(event.hlc)`, hold(), nil, true},
		{`has(event.eventLocation)`, departure(), nil, false},
		{`has(event.inventory) && has(event.inventory.quantity) && !has(event.inventory.fromFacility)`, allocation(), nil, true},
		// Times are timestamps in UTC, whatever offset the event was given in.
		{`event.eventDateTime == timestamp("2026-11-03T01:15:00Z")`, hold(), nil, true},
		{`event.eventDateTime > timestamp("2026-11-03T08:00:00+07:00") && event.eventDateTime < timestamp("2026-11-03T08:30:00+07:00")`, hold(), nil, true},
		{`string(event.eventDateTime) == "2026-11-03T01:15:00Z" && event.eventDateTime.getHours() == 1`, hold(), nil, true},
		{`event.eventDateTime - timestamp("2026-11-03T00:15:00Z") == duration("1h")`, hold(), nil, true},
		{`!has(event.eventCreatedDateTime) && event.eventCreatedDateTime == timestamp(0)`, hold(), nil, true},
		{`event.hlc > 0 && event.hlc / 65536 == 1793668500000`, hold(), nil, true},
		{`event.parties.exists(p, p.role == "customs" && p.party == "eu-customs")`, hold(), nil, true},
		{`event.parties.exists(p, p.role == "customs")`, departure(), nil, false},
		{`event.origin in ["eu-customs", "oceanic-lines"] && event.inventory.sku.lowerAscii() == "tab-10-blk"`, allocation(), nil, false},
		{`event.inventory.sku.lowerAscii() == "tab-10-blk" && event.inventory.orderID.split("-")[1] == "1"`, allocation(), nil, true},
		{`dyn(event).eventLocation.UNLocationCode == "DEHAM"`, hold(), nil, true},
		{`type(event) == linkd.Event && type(event.eventLocation) == linkd.Location`, hold(), nil, true},
		// Shipment state, derived by internal/shipment from real events.
		{`shipment.status == "ON_HOLD" && shipment.openHolds.exists(h, h.documentTypeCode == "CUS" && h.origin == "eu-customs")`, hold(), holdState, true},
		{`shipment.lastLocation.UNLocationCode == "DEHAM" && "OCLVNHAM0000042" in shipment.carrierBookingReferences`, hold(), holdState, true},
		{`shipment.openHolds[0].since == event.eventDateTime && shipment.events == 2`, hold(), holdState, true},
		{`has(shipment.statusSince) && shipment.statusSince == event.eventDateTime`, hold(), holdState, true},
		// No state: every field absent.
		{`!has(shipment.status) && shipment.status == "" && shipment.openHolds == [] && shipment.events == 0`, hold(), nil, true},
		{`shipment.eta.time == timestamp(0) && !has(shipment.eta)`, hold(), nil, true},
		// Objects compare field by field; an absent object equals an empty one.
		{`event.eventLocation == event.eventLocation && event.transportCall.location != event.eventLocation`, hold(), nil, true},
		{`event.transportCall == event.transportCall && event.eventLocation != event.transportCall.location`, departure(), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := mustCompile(t, tt.src).Match(NewInput(tt.event, tt.state))
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match on %s event = %v, want %v", tt.event.TypeCode(), got, tt.want)
			}
		})
	}
}

func shipmentState(t *testing.T, events ...*linkd.Event) *linkd.ShipmentState {
	t.Helper()
	var recs []linkd.Recorded
	for i, e := range events {
		recs = append(recs, linkd.Recorded{Event: *e, Salt: make([]byte, linkd.SaltSize), LogIndex: int64(i)})
	}
	st, _ := shipment.Build("OCLVNHAM0000042", recs)
	if st.Status != linkd.StatusOnHold {
		t.Fatalf("derived status %s, want ON_HOLD", st.Status)
	}
	return &st
}

// TestViewIsJSON checks that expressions see exactly the JSON object of an
// event and of a shipment state: every JSON field by its JSON name, with its
// JSON value, present (has) exactly when encoding/json writes it. A field
// added to linkd.Event or linkd.ShipmentState without a CEL view fails here.
func TestViewIsJSON(t *testing.T) {
	full := hold()
	full.EventCreatedDateTime = at(0.5)
	full.DocumentID = "CUS-2026-11-0042"
	full.DelayReasonCode = "WEA"
	full.EmptyIndicatorCode = "LADEN"
	full.ISOEquipmentCode = "45G1"
	full.TransportEventTypeCode = "ARRI"
	full.EquipmentEventTypeCode = "DISC"
	full.InventoryEventTypeCode = "RALC"
	full.Inventory = &linkd.InventoryLine{Facility: "dc-rotterdam", SKU: "TAB", Quantity: 7, OrderID: "O-1", FromFacility: "dc-hamburg"}
	full.References = []linkd.Reference{{ReferenceType: "PO", ReferenceValue: "PO-1"}}
	full.EventLocation = &linkd.Location{LocationName: "Hamburg", UNLocationCode: "DEHAM", FacilityCode: "CTB", FacilityCodeListProvider: "SMDG", Latitude: "53.5", Longitude: "9.9"}
	full.TransportCall = &linkd.TransportCall{TransportCallID: "TC-1", CarrierServiceCode: "AEX1", CarrierVoyageNumber: "001W", ModeOfTransport: "VESSEL",
		Location: &linkd.Location{UNLocationCode: "DEHAM"},
		Vessel:   &linkd.Vessel{VesselIMONumber: "9778791", VesselName: "Oceanic Harmony", VesselFlag: "SG", VesselCallSign: "9V5432"}}
	full.Visibility = []string{"eu-customs"}
	full.Residency = []string{"EU"}
	full.CausedBy = []string{"0192f3a0-0000-7000-8000-000000000009"}
	full.RetractedEventID = "0192f3a0-0000-7000-8000-000000000008"
	full.SupersedesEventID = "0192f3a0-0000-7000-8000-000000000007"

	since := at(0)
	fullState := &linkd.ShipmentState{
		Ref: "OCLVNHAM0000042", Status: linkd.StatusOnHold, StatusSince: &since, StatusEvent: full.EventID, LastEvent: full.EventID,
		LastLocation: &linkd.Location{UNLocationCode: "DEHAM"},
		ETA:          &linkd.Arrival{Location: "DEHAM", Time: at(1), Classifier: "EST", EventID: full.EventID, Origin: "oceanic-lines"},
		OpenHolds:    []linkd.Hold{{EventID: full.EventID, Origin: "eu-customs", Since: at(0), Reason: "x", DocumentTypeCode: "CUS", EquipmentReference: box}},
		Bookings:     []string{"B1"}, TransportDocuments: []string{"T1"}, Equipment: []string{box},
		Parties: full.Parties, Events: 3,
	}
	cases := []struct {
		name  string
		event *linkd.Event
		state *linkd.ShipmentState
	}{
		{"full", full, fullState},
		{"sparse", departure(), &linkd.ShipmentState{Status: linkd.StatusUnknown}},
		{"inventory", allocation(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := NewInput(c.event, c.state)
			checkJSON(t, in, "event", eventType, jsonObject(t, c.event))
			if c.state != nil {
				checkJSON(t, in, "shipment", stateType, jsonObject(t, c.state))
			}
		})
	}
}

func jsonObject(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // an HLC does not fit a float64
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkJSON compares the CEL view of path (of type st) with its JSON object.
func checkJSON(t *testing.T, in *Input, path string, st *structType, obj map[string]any) {
	t.Helper()
	for k := range obj {
		if _, ok := st.fields[k]; !ok {
			t.Errorf("%s.%s is in the JSON but not visible to expressions", path, k)
		}
	}
	for _, name := range st.names {
		p := path + "." + name
		v, present := obj[name]
		expect(t, in, fmt.Sprintf("has(%s) == %v", p, present))
		if !present {
			continue
		}
		ft := st.fields[name].Type
		switch v := v.(type) {
		case string:
			if ft.IsExactType(types.TimestampType) {
				expect(t, in, fmt.Sprintf("%s == timestamp(%s)", p, strconv.Quote(v)))
			} else {
				expect(t, in, fmt.Sprintf("%s == %s", p, strconv.Quote(v)))
			}
		case json.Number:
			expect(t, in, fmt.Sprintf("%s == %s", p, v))
		case map[string]any:
			checkJSON(t, in, p, structTypes[ft.TypeName()], v)
		case []any:
			expect(t, in, fmt.Sprintf("%s.size() == %d", p, len(v)))
			for i, e := range v {
				ep := fmt.Sprintf("%s[%d]", p, i)
				switch e := e.(type) {
				case string:
					expect(t, in, fmt.Sprintf("%s == %s", ep, strconv.Quote(e)))
				case map[string]any:
					checkJSON(t, in, ep, structTypes[ft.Parameters()[0].TypeName()], e)
				default:
					t.Errorf("%s: unexpected JSON %T", ep, e)
				}
			}
		default:
			t.Errorf("%s: unexpected JSON %T", p, v)
		}
	}
}

func expect(t *testing.T, in *Input, src string) {
	t.Helper()
	got, err := mustCompile(t, src).Match(in)
	if err != nil || !got {
		t.Errorf("%s = %v, %v; want true", src, got, err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{``, "expression: empty"},
		{`event.shipmentEventTypCode == "HOLD"`, "expression:1:6: undefined field 'shipmentEventTypCode'"},
		{"event.shipmentEventTypeCode == \"HOLD\" &&\n  event.eventLocation.UNLocode == \"DEHAM\"", "expression:2:22: undefined field 'UNLocode'"},
		{`event.eventType == "SHIPMENT" &&`, "expression:1:33: Syntax error"},
		{`now() > event.eventDateTime`, "expression:1:4: undeclared reference to 'now'"},
		{`evnt.origin == "x"`, "expression:1:1: undeclared reference to 'evnt'"},
		{`event.shipmentEventTypeCode`, "expression:1:1: gives string; a filter or condition must give a bool"},
		{`event.hlc == "1"`, "expression:1:11: found no matching overload for '_==_'"},
		{`event.eventDateTime > timestamp("yesterday")`, "expression:1:33: invalid timestamp"},
		{`event.reason.matches("(")`, "expression:1:22: invalid matches argument"},
		{`{"a": 1}.map(k, k).size() == 1`, "expression:1:13: building a list by iterating a map"},
		{`linkd.Event{eventID: "x"}.eventID == "x"`, "expression:1:12: linkd.Event values cannot be constructed"},
		{`[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))`, "comprehension exceeds nesting limit"},
		{strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40), "expression recursion limit exceeded: 32"},
		{`event.origin == "` + strings.Repeat("x", MaxSourceBytes) + `"`, "expression: 4114 bytes; at most 4096"},
		{strings.Repeat(`1==1&&`, 600) + `true`, "expression: 2401 syntax nodes after macro expansion; at most 1000"},
		{strings.Repeat(`event.hlc + `, 300) + `1 > 0`, "expression: max recursion depth exceeded"},
	}
	for _, tt := range tests {
		name := tt.src
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			p, err := Compile(tt.src)
			if err == nil {
				t.Fatalf("Compile succeeded (%v); want error %q", p, tt.want)
			}
			var le *linkd.Error
			if !errors.As(err, &le) || le.Code != linkd.EInvalid {
				t.Fatalf("error %v (%T); want *linkd.Error with code %s", err, err, linkd.EInvalid)
			}
			if !strings.Contains(le.Message, tt.want) {
				t.Errorf("message %q; want it to contain %q", le.Message, tt.want)
			}
		})
	}
}

// TestCostLimit runs expressions that would take ~10^8 steps and must be
// stopped, and checks that a cheaper one over the same data still runs.
func TestCostLimit(t *testing.T) {
	var nums []string
	for i := range 200 {
		nums = append(nums, strconv.Itoa(i))
	}
	list := "[" + strings.Join(nums, ",") + "]"
	in := NewInput(hold(), nil)

	heavy := mustCompile(t, fmt.Sprintf(`%[1]s.all(a, %[1]s.all(b, %[1]s.all(c, a + b + c >= 0)))`, list))
	got, err := heavy.Match(in)
	if !errors.Is(err, ErrCostLimit) {
		t.Fatalf("Match = %v, %v; want ErrCostLimit", got, err)
	}
	if !strings.Contains(err.Error(), "cost limit exceeded") || linkd.ErrorCode(err) != linkd.EInvalid {
		t.Errorf("error %q (code %s); want an invalid error saying cost limit exceeded", err, linkd.ErrorCode(err))
	}

	// String work counts by size: a long string built by repeated joining.
	strs := mustCompile(t, fmt.Sprintf(`%[1]s.map(a, %[1]s.map(b, event.reason + event.reason)).size() > 0`, list))
	if _, err := strs.Match(in); !errors.Is(err, ErrCostLimit) {
		t.Errorf("string work: err = %v; want ErrCostLimit", err)
	}

	light := mustCompile(t, fmt.Sprintf(`%[1]s.exists(a, a == 199) && %[1]s.all(a, a < 200)`, list))
	if got, err := light.Match(in); err != nil || !got {
		t.Errorf("light expression = %v, %v; want true, nil", got, err)
	}
}

func TestMatchContext(t *testing.T) {
	var nums []string
	for i := range 500 {
		nums = append(nums, strconv.Itoa(i))
	}
	p := mustCompile(t, "["+strings.Join(nums, ",")+"].all(a, a >= 0)")
	in := NewInput(hold(), nil)
	if got, err := p.MatchContext(context.Background(), in); err != nil || !got {
		t.Fatalf("MatchContext = %v, %v; want true", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := p.MatchContext(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("MatchContext with a cancelled context = %v, %v; want context.Canceled", got, err)
	}
}

func TestRuntimeError(t *testing.T) {
	p := mustCompile(t, `event.parties[10].party == "x"`)
	_, err := p.Match(NewInput(departure(), nil))
	if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "index out of bounds: 10") {
		t.Errorf("err = %v; want an invalid error about the index", err)
	}
}

// TestShared evaluates many programs on one Input from many goroutines;
// run with -race.
func TestShared(t *testing.T) {
	srcs := []string{
		`event.shipmentEventTypeCode == "HOLD"`,
		`event.parties.exists(p, p.role == "customs")`,
		`shipment.status == "ON_HOLD"`,
		`event.eventLocation.UNLocationCode.startsWith("DE")`,
	}
	progs := make([]*Program, len(srcs))
	for i, s := range srcs {
		progs[i] = mustCompile(t, s)
	}
	in := NewInput(hold(), shipmentState(t, hold()))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for _, p := range progs {
					if ok, err := p.Match(in); err != nil || !ok {
						errs <- fmt.Errorf("%s = %v, %v", p.Source(), ok, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFieldNamesSorted guards the field tables against duplicates.
func TestFieldNamesUnique(t *testing.T) {
	for name, st := range structTypes {
		names := append([]string(nil), st.names...)
		sort.Strings(names)
		for i := 1; i < len(names); i++ {
			if names[i] == names[i-1] {
				t.Errorf("%s declares %s twice", name, names[i])
			}
		}
	}
}

// TestCostLimitOversizeEvent checks that the untracked fast path, chosen
// when the static estimate stays within MaxCost on events within linkd's
// limits, is not used for an event beyond them: a megabyte reason must still
// hit the limit.
func TestCostLimitOversizeEvent(t *testing.T) {
	var nums []string
	for i := range 150 {
		nums = append(nums, strconv.Itoa(i))
	}
	p := mustCompile(t, "["+strings.Join(nums, ",")+"].all(a, event.reason == event.reason)")
	if p.bounded == nil {
		t.Fatal("the expression was not proven within the cost limit; the test needs one that is")
	}
	e := hold()
	if got, err := p.Match(NewInput(e, nil)); err != nil || !got {
		t.Fatalf("valid event: %v, %v; want true", got, err)
	}
	e.Reason = strings.Repeat("r", 1<<20)
	if got, err := p.Match(NewInput(e, nil)); !errors.Is(err, ErrCostLimit) {
		t.Errorf("megabyte reason: %v, %v; want ErrCostLimit", got, err)
	}
	e = hold()
	e.CausedBy = make([]string, linkd.MaxListLen+1)
	if NewInput(e, nil).bounded {
		t.Error("an event with 65 causedBy entries counts as bounded")
	}
}
