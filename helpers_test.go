package linkd_test

import (
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

// at parses an RFC 3339 date-time for building fixtures; a bad literal is a
// bug in the test itself.
func at(s string) linkd.Time {
	t, err := linkd.ParseTime(s)
	if err != nil {
		panic("bad fixture time " + s)
	}
	return t
}

var laneParties = []linkd.ShipmentParty{
	{Party: "hanoi-electronics", Role: linkd.RoleShipper},
	{Party: "oceanic-lines", Role: linkd.RoleCarrier},
	{Party: "haiphong-terminal", Role: linkd.RoleTerminal},
	{Party: "eu-customs", Role: linkd.RoleCustoms},
}

// validShipment returns a SHIPMENT event that passes every rule.
func validShipment() linkd.Event {
	return linkd.Event{
		EventID:                 "0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e13",
		EventType:               linkd.Shipment,
		EventClassifierCode:     "ACT",
		EventDateTime:           at("2026-11-03T08:15:00+07:00"),
		EventCreatedDateTime:    at("2026-11-03T08:16:30+07:00"),
		ShipmentEventTypeCode:   "CONF",
		DocumentTypeCode:        "BKG",
		DocumentID:              "OCLVNHAM0000042",
		Reason:                  "Booking for consumer electronics",
		CarrierBookingReference: "OCLVNHAM0000042",
		References:              []linkd.Reference{{ReferenceType: "PO", ReferenceValue: "PO-EU-000042"}},
		Origin:                  "oceanic-lines",
		Parties:                 append([]linkd.ShipmentParty(nil), laneParties...),
		Visibility:              []string{"hanoi-electronics", "oceanic-lines"},
		CausedBy:                []string{"6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"},
	}
}

// validTransport returns a TRANSPORT event that passes every rule.
func validTransport() linkd.Event {
	return linkd.Event{
		EventID:                    "1c6d4b3f-9a2e-4d7b-8f8c-3e5a7b9d1f24",
		EventType:                  linkd.Transport,
		EventClassifierCode:        "EST",
		EventDateTime:              at("2026-11-20T06:00:00Z"),
		TransportEventTypeCode:     "ARRI",
		DelayReasonCode:            "WEA",
		TransportDocumentReference: "OCLU0000000297",
		TransportCall: &linkd.TransportCall{
			TransportCallID:     "TC-DEHAM-001W",
			CarrierServiceCode:  "AEX1",
			CarrierVoyageNumber: "001W",
			ModeOfTransport:     "VESSEL",
			Location: &linkd.Location{
				LocationName: "Hamburg Burchardkai", UNLocationCode: "DEHAM",
				FacilityCode: "CTB", FacilityCodeListProvider: "SMDG",
				Latitude: "53.5461", Longitude: "9.9167",
			},
			Vessel: &linkd.Vessel{VesselIMONumber: "9074729", VesselName: "Oceanic Harmony", VesselFlag: "SG", VesselCallSign: "9V5432"},
		},
		Origin: "oceanic-lines",
	}
}

// validEquipment returns an EQUIPMENT event that passes every rule.
func validEquipment() linkd.Event {
	return linkd.Event{
		EventType:              linkd.Equipment,
		EventClassifierCode:    "ACT",
		EventDateTime:          at("2026-11-05T14:30:00.25+07:00"),
		EquipmentEventTypeCode: "LOAD",
		EmptyIndicatorCode:     "LADEN",
		ISOEquipmentCode:       "45G1",
		EquipmentReference:     "CSQU3054383",
		EventLocation:          &linkd.Location{UNLocationCode: "VNHPH", FacilityCode: "HICT", FacilityCodeListProvider: "SMDG"},
		TransportCall:          &linkd.TransportCall{CarrierVoyageNumber: "001W", ModeOfTransport: "VESSEL"},
		Residency:              []string{"VN", "EU"},
	}
}

// validReallocation returns an INVENTORY event that passes every rule: an
// order moved from Hamburg to Rotterdam because its inbound shipment is held.
func validReallocation() linkd.Event {
	return linkd.Event{
		EventType:               linkd.Inventory,
		EventClassifierCode:     "ACT",
		EventDateTime:           at("2026-11-20T09:00:00+01:00"),
		InventoryEventTypeCode:  "RALC",
		Reason:                  "inbound shipment held by customs",
		CarrierBookingReference: "OCLVNHAM0000042",
		Inventory: &linkd.InventoryLine{Facility: "dc-rotterdam", SKU: "TV-55-OLED", Quantity: 40,
			OrderID: "SO-2026-118", FromFacility: "dc-hamburg"},
		Origin:    "dc-hamburg",
		Residency: []string{"EU"},
		CausedBy:  []string{"6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"},
	}
}

// validStock returns a stock position, which names no shipment.
func validStock() linkd.Event {
	return linkd.Event{
		EventType:              linkd.Inventory,
		EventClassifierCode:    "ACT",
		EventDateTime:          at("2026-11-20T06:00:00+01:00"),
		InventoryEventTypeCode: "STCK",
		Inventory:              &linkd.InventoryLine{Facility: "dc-antwerp", SKU: "TV-55-OLED", Quantity: 1200},
	}
}

// findProblem reports whether probs holds a problem at exactly field whose
// reason contains fragment.
func findProblem(probs []linkd.Problem, field, fragment string) bool {
	for _, p := range probs {
		if p.Field == field && strings.Contains(p.Reason, fragment) {
			return true
		}
	}
	return false
}

// problemsOf returns the problems of a *ValidationError, failing the test
// for any other error.
func problemsOf(t *testing.T, err error) []linkd.Problem {
	t.Helper()
	ve, ok := err.(*linkd.ValidationError)
	if !ok {
		t.Fatalf("got error %#v (%v), want *linkd.ValidationError", err, err)
	}
	return ve.Problems
}

func uuids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Replace("00000000-0000-4000-8000-000000000000", "00000000-", fmtHex8(i)+"-", 1)
	}
	return out
}

func fmtHex8(i int) string {
	const digits = "0123456789abcdef"
	b := []byte("00000000")
	for j := 7; j >= 0 && i > 0; j-- {
		b[j] = digits[i%16]
		i /= 16
	}
	return string(b)
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// validAttestation returns a customs authority's acceptance of a commercial
// invoice, as the EDI gateway might have brought it in.
func validAttestation() linkd.Event {
	return linkd.Event{
		EventType:                  linkd.Shipment,
		EventClassifierCode:        "ACT",
		EventDateTime:              at("2026-11-20T10:30:00+01:00"),
		ShipmentEventTypeCode:      "APPR",
		DocumentTypeCode:           "INV",
		DocumentID:                 "INV-2026-0042",
		TransportDocumentReference: "OCLU0000000298",
		Attestation:                &linkd.Attestation{DocumentSHA256: strings.Repeat("0f", 32), Verdict: "ACCEPTED"},
		Source: &linkd.Source{Syntax: "EDIFACT", MessageType: "IFTSTA", Sender: "EUCUSTOMS",
			InterchangeControlNumber: "000000001", MessageReference: "M1", InterchangeSHA256: strings.Repeat("1e", 32)},
		Origin: "eu-customs",
	}
}
