package expr

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// gateIn is a container gated in at Haiphong, recorded by the terminal.
func gateIn() *linkd.Event {
	return &linkd.Event{
		EventID:                 "0192f3a0-0000-7000-8000-000000000004",
		EventType:               linkd.Equipment,
		EventClassifierCode:     "ACT",
		EventDateTime:           at(-400),
		EquipmentEventTypeCode:  "GTIN",
		EmptyIndicatorCode:      "LADEN",
		EquipmentReference:      scenario.ContainerNumber("OCLU", 127),
		CarrierBookingReference: "OCLVNHAM0000042",
		EventLocation:           &linkd.Location{UNLocationCode: "VNHPH"},
		Origin:                  "haiphong-terminal",
		Parties:                 scenario.LaneParties[:2],
	}
}

func TestFilterMatch(t *testing.T) {
	events := map[string]*linkd.Event{"hold": hold(), "depa": departure(), "aloc": allocation(), "gtin": gateIn()}
	tests := []struct {
		name   string
		filter Filter
		want   []string // names of the events that match, sorted
	}{
		{"zero filter matches all", Filter{}, []string{"aloc", "depa", "gtin", "hold"}},
		{"eventTypes", Filter{EventTypes: []linkd.EventType{linkd.Transport}}, []string{"depa"}},
		{"eventTypes OR", Filter{EventTypes: []linkd.EventType{linkd.Transport, linkd.Inventory}}, []string{"aloc", "depa"}},
		{"eventClassifierCodes", Filter{EventClassifierCodes: []string{"EST", "PLN"}}, nil},
		{"shipmentEventTypeCodes", Filter{ShipmentEventTypeCodes: []string{"HOLD", "RELS"}}, []string{"hold"}},
		{"transportEventTypeCodes", Filter{TransportEventTypeCodes: []string{"DEPA"}}, []string{"depa"}},
		{"transportEventTypeCodes other code", Filter{TransportEventTypeCodes: []string{"ARRI"}}, nil},
		{"equipmentEventTypeCodes", Filter{EquipmentEventTypeCodes: []string{"GTIN", "LOAD"}}, []string{"gtin"}},
		{"inventoryEventTypeCodes", Filter{InventoryEventTypeCodes: []string{"ALOC"}}, []string{"aloc"}},
		{"documentTypeCodes", Filter{DocumentTypeCodes: []string{"CUS"}}, []string{"hold"}},
		{"carrierBookingReferences", Filter{CarrierBookingReferences: []string{"OCLVNHAM0000042"}}, []string{"aloc", "depa", "gtin", "hold"}},
		{"carrierBookingReferences other", Filter{CarrierBookingReferences: []string{"OCLVNHAM0000043"}}, nil},
		{"transportDocumentReferences", Filter{TransportDocumentReferences: []string{"OCLU0000000297"}}, []string{"hold"}},
		{"equipmentReferences", Filter{EquipmentReferences: []string{scenario.ContainerNumber("OCLU", 127), box}}, []string{"gtin", "hold"}},
		{"UNLocationCodes eventLocation", Filter{UNLocationCodes: []string{"DEHAM"}}, []string{"hold"}},
		{"UNLocationCodes transportCall.location", Filter{UNLocationCodes: []string{"VNHPH"}}, []string{"depa", "gtin"}},
		{"origins", Filter{Origins: []string{"eu-customs", "dc-hamburg"}}, []string{"aloc", "hold"}},
		{"parties any on the list", Filter{Parties: []string{"eu-customs"}}, []string{"hold"}},
		{"parties OR", Filter{Parties: []string{"eu-customs", "oceanic-lines"}}, []string{"depa", "hold"}},
		{"parties none", Filter{Parties: []string{"dc-antwerp"}}, nil},
		{"skus", Filter{SKUs: []string{"TAB-10-BLK"}}, []string{"aloc"}},
		{"expression", Filter{Expression: `event.eventDateTime < timestamp("2026-11-02T00:00:00Z")`}, []string{"depa", "gtin"}},
		{"AND across fields", Filter{UNLocationCodes: []string{"VNHPH"}, Origins: []string{"haiphong-terminal"}}, []string{"gtin"}},
		{"AND with expression", Filter{UNLocationCodes: []string{"VNHPH"}, Expression: `event.transportCall.vessel.vesselName == "Oceanic Harmony"`}, []string{"depa"}},
		{"AND excludes all", Filter{ShipmentEventTypeCodes: []string{"HOLD"}, Origins: []string{"oceanic-lines"}}, nil},
		{"long list uses a set", Filter{Origins: []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "eu-customs"}}, []string{"hold"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := CompileFilter(tt.filter)
			if err != nil {
				t.Fatalf("CompileFilter: %v", err)
			}
			var got []string
			for name, e := range events {
				ok, err := m.Match(NewInput(e, nil))
				if err != nil {
					t.Fatalf("Match(%s): %v", name, err)
				}
				if ok {
					got = append(got, name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFilterExpressionOnlyAfterFields checks that the expression does not run
// for events the fields already exclude: this expression fails on every
// event, so only the one passing the fields reports the error.
func TestFilterExpressionOnlyAfterFields(t *testing.T) {
	m, err := CompileFilter(Filter{Origins: []string{"eu-customs"}, Expression: `event.parties[100].party == ""`})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Match(NewInput(departure(), nil)); ok || err != nil {
		t.Errorf("departure: %v, %v; want false, nil without evaluating the expression", ok, err)
	}
	if ok, err := m.Match(NewInput(hold(), nil)); ok || linkd.ErrorCode(err) != linkd.EInvalid {
		t.Errorf("hold: %v, %v; want false and an invalid error from the expression", ok, err)
	}
}

func TestFilterValidate(t *testing.T) {
	long := make([]string, MaxFilterValues+1)
	for i := range long {
		long[i] = "OCLVNHAM0000042"
	}
	tests := []struct {
		name   string
		filter Filter
		want   []linkd.Problem
	}{
		{"unknown event type", Filter{EventTypes: []linkd.EventType{"SHIPMENT", "CUSTOMS"}},
			[]linkd.Problem{{Field: "eventTypes[1]", Reason: `unknown event type "CUSTOMS"; want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY`}}},
		{"unknown classifier", Filter{EventClassifierCodes: []string{"ACT", "act"}},
			[]linkd.Problem{{Field: "eventClassifierCodes[1]", Reason: `unknown code "act"; one of ACT, EST, PLN`}}},
		{"unknown shipment code", Filter{ShipmentEventTypeCodes: []string{"HOLD", "HOLF"}},
			[]linkd.Problem{{Field: "shipmentEventTypeCodes[1]", Reason: `unknown code "HOLF"; one of APPR, CANC, CMPL, CONF, DRFT, HOLD, ISSU, PENA, PENU, RECE, REJE, RELS, REQS, SUBM, SURR, VOID`}}},
		{"transport code in the wrong list", Filter{EquipmentEventTypeCodes: []string{"ARRI"}},
			[]linkd.Problem{{Field: "equipmentEventTypeCodes[0]", Reason: `unknown code "ARRI"; one of DISC, DROP, GTIN, GTOT, INSP, LOAD, PICK, RMVD, RSEA, STRP, STUF`}}},
		{"unknown inventory code", Filter{InventoryEventTypeCodes: []string{"SOLD"}},
			[]linkd.Problem{{Field: "inventoryEventTypeCodes[0]", Reason: `unknown code "SOLD"; one of ALOC, FULF, RALC, STCK`}}},
		{"unknown document type", Filter{DocumentTypeCodes: []string{"INVOICE"}},
			[]linkd.Problem{{Field: "documentTypeCodes[0]", Reason: `unknown code "INVOICE"; one of ARN, BKG, CAS, CBR, COO, CUS, DGD, INV, OOG, PHY, PKL, SHI, SRM, TRD, VGM`}}},
		{"two families", Filter{ShipmentEventTypeCodes: []string{"HOLD"}, TransportEventTypeCodes: []string{"ARRI"}},
			[]linkd.Problem{{Field: "transportEventTypeCodes", Reason: "cannot be combined with shipmentEventTypeCodes: an event has the type codes of one family only, so the filter would match nothing"}}},
		{"code family excluded by eventTypes", Filter{EventTypes: []linkd.EventType{linkd.Transport}, ShipmentEventTypeCodes: []string{"HOLD"}},
			[]linkd.Problem{{Field: "shipmentEventTypeCodes", Reason: "matches only SHIPMENT events, which eventTypes excludes"}}},
		{"skus excluded by eventTypes", Filter{EventTypes: []linkd.EventType{linkd.Shipment}, SKUs: []string{"TAB"}},
			[]linkd.Problem{{Field: "skus", Reason: "matches only INVENTORY events, which eventTypes excludes"}}},
		{"booking too long", Filter{CarrierBookingReferences: []string{strings.Repeat("B", 36)}},
			[]linkd.Problem{{Field: "carrierBookingReferences[0]", Reason: "36 bytes; at most 35"}}},
		{"document reference spaces", Filter{TransportDocumentReferences: []string{" OCLU1"}},
			[]linkd.Problem{{Field: "transportDocumentReferences[0]", Reason: "has leading or trailing spaces"}}},
		{"container check digit", Filter{EquipmentReferences: []string{"OCLU0001261"}},
			[]linkd.Problem{{Field: "equipmentReferences[0]", Reason: `"OCLU0001261" has check digit 1; ISO 6346 gives ` + box[10:]}}},
		{"container shape", Filter{EquipmentReferences: []string{"OCLX0001261"}},
			[]linkd.Problem{{Field: "equipmentReferences[0]", Reason: `"OCLX0001261" is not an ISO 6346 container number: want an owner code, U, J or Z, and 7 digits (MSKU1234565)`}}},
		{"UN/LOCODE", Filter{UNLocationCodes: []string{"DEHAM", "XXHAM", "DEHA1"}},
			[]linkd.Problem{
				{Field: "UNLocationCodes[1]", Reason: `"XXHAM" is not a UN/LOCODE: want an ISO 3166 country code and 3 letters or digits 2-9 (DEHAM)`},
				{Field: "UNLocationCodes[2]", Reason: `"DEHA1" is not a UN/LOCODE: the location part takes A-Z and 2-9`}}},
		{"origin not a party id", Filter{Origins: []string{"EU-Customs"}},
			[]linkd.Problem{{Field: "origins[0]", Reason: `"EU-Customs" is not a party id: use lowercase letters, digits and inner hyphens, at most 63`}}},
		{"party not a party id", Filter{Parties: []string{"-dc"}},
			[]linkd.Problem{{Field: "parties[0]", Reason: `"-dc" is not a party id: use lowercase letters, digits and inner hyphens, at most 63`}}},
		{"empty value", Filter{SKUs: []string{""}},
			[]linkd.Problem{{Field: "skus[0]", Reason: "empty; leave the list out to match every value"}}},
		{"list too long", Filter{CarrierBookingReferences: long},
			[]linkd.Problem{{Field: "carrierBookingReferences", Reason: "257 values; at most 256"}}},
		{"expression", Filter{Expression: `event.origin = "x"`},
			[]linkd.Problem{{Field: "expression", Reason: `expression:1:14: Syntax error: token recognition error at: '= '; expression:1:16: Syntax error: extraneous input '"x"' expecting <EOF>`}}},
		{"several problems at once", Filter{EventTypes: []linkd.EventType{"X"}, Origins: []string{"A"}, Expression: `1`},
			[]linkd.Problem{
				{Field: "eventTypes[0]", Reason: `unknown event type "X"; want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY`},
				{Field: "origins[0]", Reason: `"A" is not a party id: use lowercase letters, digits and inner hyphens, at most 63`},
				{Field: "expression", Reason: "expression:1:1: gives int; a filter or condition must give a bool"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.filter.Validate()
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v; want a *linkd.ValidationError", err)
			}
			if !slices.Equal(ve.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ve.Problems, tt.want)
			}
			if _, err := CompileFilter(tt.filter); err == nil {
				t.Error("CompileFilter accepted what Validate refused")
			}
		})
	}
}

// TestFilterJSON checks the names the API accepts.
func TestFilterJSON(t *testing.T) {
	body := `{"eventTypes":["SHIPMENT"],"eventClassifierCodes":["ACT"],"shipmentEventTypeCodes":["HOLD"],
		"documentTypeCodes":["CUS"],"carrierBookingReferences":["OCLVNHAM0000042"],
		"transportDocumentReferences":["OCLU0000000297"],"equipmentReferences":["` + box + `"],
		"UNLocationCodes":["DEHAM"],"origins":["eu-customs"],"parties":["dc-hamburg"],
		"expression":"shipment.status == \"ON_HOLD\""}`
	var f Filter
	d := json.NewDecoder(strings.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		t.Fatal(err)
	}
	m, err := CompileFilter(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		state *linkd.ShipmentState
		want  bool
	}{{shipmentState(t, hold()), true}, {nil, false}} {
		if got, err := m.Match(NewInput(hold(), tt.state)); err != nil || got != tt.want {
			t.Errorf("Match(state %v) = %v, %v; want %v", tt.state != nil, got, err, tt.want)
		}
	}
}

// TestReadsShipment: a filter says when it needs the shipment's state, so
// callers read the timeline only then.
func TestReadsShipment(t *testing.T) {
	for _, tt := range []struct {
		f    Filter
		want bool
	}{
		{Filter{Expression: `shipment.status == "ON_HOLD"`}, true},
		{Filter{Expression: `event.reason.contains("x") || size(shipment.holds) > 0`}, true},
		{Filter{Expression: `event.reason == "shipment"`}, false},
		{Filter{Expression: `event.shipmentEventTypeCode == "HOLD"`}, false},
		{Filter{ShipmentEventTypeCodes: []string{"HOLD"}}, false},
	} {
		if got := tt.f.ReadsShipment(); got != tt.want {
			t.Errorf("%+v.ReadsShipment() = %v, want %v", tt.f, got, tt.want)
		}
	}
}
