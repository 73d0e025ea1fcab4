package linkd_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestValidateAcceptsValidEvents(t *testing.T) {
	tests := []struct {
		name   string
		base   func() linkd.Event
		mutate func(*linkd.Event)
	}{
		{"shipment", validShipment, func(*linkd.Event) {}},
		{"transport", validTransport, func(*linkd.Event) {}},
		{"equipment", validEquipment, func(*linkd.Event) {}},
		{"attestation with EDI source", validAttestation, func(*linkd.Event) {}},
		{"rejection with reason", validAttestation, func(e *linkd.Event) {
			e.Attestation.Verdict, e.Reason = "REJECTED", "invoice total does not match the packing list"
		}},
		{"no event id", validShipment, func(e *linkd.Event) { e.EventID = "" }},
		{"visibility names the origin off the party list", validShipment, func(e *linkd.Event) {
			e.Parties = e.Parties[:1]
			e.Visibility = []string{"oceanic-lines"}
		}},
		{"visibility without a party list", validShipment, func(e *linkd.Event) {
			e.Parties = nil
			e.Visibility = []string{"anyone-at-all"}
		}},
		{"container category J", validEquipment, func(e *linkd.Event) { e.EquipmentReference = container("ABCJ", "123456") }},
		{"container category Z", validEquipment, func(e *linkd.Event) { e.EquipmentReference = container("ABCZ", "000001") }},
		{"UN/LOCODE with digits 2-9", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "DE2H9" }},
		{"place by name only", validEquipment, func(e *linkd.Event) { e.EventLocation = &linkd.Location{LocationName: "Depot 4"} }},
		{"coordinates at the limits", validEquipment, func(e *linkd.Event) { e.EventLocation.Latitude, e.EventLocation.Longitude = "-90", "180" }},
		{"year 1970", validShipment, func(e *linkd.Event) { e.EventDateTime = at("1970-01-01T00:00:00Z") }},
		{"year 2200", validShipment, func(e *linkd.Event) { e.EventDateTime = at("2200-12-31T23:59:59Z") }},
		{"lists of exactly MaxListLen", validShipment, func(e *linkd.Event) {
			e.References = repeat(linkd.Reference{ReferenceType: "FF", ReferenceValue: "x"}, linkd.MaxListLen)
			e.CausedBy = uuids(linkd.MaxListLen)
			e.Residency = repeat("VN", linkd.MaxListLen)
		}},
		{"retraction of another event", validShipment, func(e *linkd.Event) { e.RetractedEventID = uuids(1)[0] }},
		{"reason with tab-free unicode", validShipment, func(e *linkd.Event) { e.Reason = "Hàng điện tử — 1,250 thùng" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.base()
			tt.mutate(&e)
			if got := e.Validate(""); len(got) != 0 {
				t.Errorf("Validate() = %v, want no problems", got)
			}
		})
	}
}

// container returns a valid ISO 6346 number from an owner code with category
// letter and a six-digit serial.
func container(owner, serial string) string {
	s := owner + serial
	return fmt.Sprintf("%s%d", s, linkd.ContainerCheckDigit(s))
}

func TestContainerCheckDigit(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"CSQU305438", 3}, // the ISO 6346 standard example
		{"MSKU123456", 5}, // the example the error messages quote
		{"OCLU000000", linkd.ContainerCheckDigit("OCLU000000")},
	}
	for _, tt := range tests {
		if got := linkd.ContainerCheckDigit(tt.in); got != tt.want {
			t.Errorf("ContainerCheckDigit(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("A", n) }
	tests := []struct {
		name   string
		base   func() linkd.Event
		mutate func(*linkd.Event)
		field  string
		reason string
	}{
		// Event type, classifier, times.
		{"unknown event type", validShipment, func(e *linkd.Event) { e.EventType = "BOOKING" }, "eventType", `unknown event type "BOOKING"`},
		{"missing event type", validShipment, func(e *linkd.Event) { e.EventType = "" }, "eventType", "required: SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY"},
		// INVENTORY events.
		{"inventory without body", validReallocation, func(e *linkd.Event) { e.Inventory = nil }, "inventory", "required for INVENTORY events"},
		{"inventory body on a shipment event", validShipment, func(e *linkd.Event) {
			e.Inventory = &linkd.InventoryLine{Facility: "dc-hamburg", SKU: "X", Quantity: 1}
		}, "inventory", "belongs to INVENTORY events, not SHIPMENT"},
		{"inventory unknown code", validReallocation, func(e *linkd.Event) { e.InventoryEventTypeCode = "MOVE" }, "inventoryEventTypeCode", "MOVE"},
		{"inventory code on shipment", validShipment, func(e *linkd.Event) { e.InventoryEventTypeCode = "ALOC" }, "inventoryEventTypeCode", "belongs to INVENTORY events"},
		{"inventory bad facility", validReallocation, func(e *linkd.Event) { e.Inventory.Facility = "DC Rotterdam" }, "inventory.facility", ""},
		{"inventory no sku", validReallocation, func(e *linkd.Event) { e.Inventory.SKU = "" }, "inventory.sku", "required"},
		{"inventory negative quantity", validReallocation, func(e *linkd.Event) { e.Inventory.Quantity = -5 }, "inventory.quantity", "out of range"},
		{"inventory empty order", validReallocation, func(e *linkd.Event) { e.Inventory.Quantity = 0 }, "inventory.quantity", "at least 1 unit"},
		{"reallocation without order", validReallocation, func(e *linkd.Event) { e.Inventory.OrderID = "" }, "inventory.orderID", "required for RALC"},
		{"reallocation without source", validReallocation, func(e *linkd.Event) { e.Inventory.FromFacility = "" }, "inventory.fromFacility", "required for RALC"},
		{"reallocation to itself", validReallocation, func(e *linkd.Event) { e.Inventory.FromFacility = "dc-rotterdam" }, "inventory.fromFacility", "same centre"},
		{"allocation with source", validReallocation, func(e *linkd.Event) { e.InventoryEventTypeCode = "ALOC" }, "inventory.fromFacility", "only RALC"},
		{"attestation on a transport event", validTransport, func(e *linkd.Event) {
			e.Attestation = &linkd.Attestation{DocumentSHA256: strings.Repeat("0f", 32), Verdict: "CHECKED"}
		}, "attestation", "belongs to SHIPMENT events"},
		{"attestation without document type", validAttestation, func(e *linkd.Event) { e.DocumentTypeCode = "" }, "documentTypeCode", "required with an attestation"},
		{"attestation with uppercase hash", validAttestation, func(e *linkd.Event) { e.Attestation.DocumentSHA256 = strings.Repeat("0F", 32) }, "attestation.documentSHA256", "lowercase hex"},
		{"attestation with short hash", validAttestation, func(e *linkd.Event) { e.Attestation.DocumentSHA256 = "abc" }, "attestation.documentSHA256", "got 3 characters"},
		{"unknown verdict", validAttestation, func(e *linkd.Event) { e.Attestation.Verdict = "OK" }, "attestation.verdict", `unknown code "OK"`},
		{"rejection without reason", validAttestation, func(e *linkd.Event) { e.Attestation.Verdict = "REJECTED" }, "reason", "say why"},
		{"source without control number", validAttestation, func(e *linkd.Event) { e.Source.InterchangeControlNumber = "" }, "source.interchangeControlNumber", "required"},
		{"source with unknown syntax", validAttestation, func(e *linkd.Event) { e.Source.Syntax = "TRADACOMS" }, "source.syntax", "unknown code"},
		{"source with unknown message", validAttestation, func(e *linkd.Event) { e.Source.MessageType = "IFTMIN" }, "source.messageType", "unknown code"},
		{"source without hash", validAttestation, func(e *linkd.Event) { e.Source.InterchangeSHA256 = "" }, "source.interchangeSHA256", "64 lowercase hex"},
		{"stock with order", validStock, func(e *linkd.Event) { e.Inventory.OrderID = "SO-1" }, "inventory.orderID", "names no order"},
		{"allocation names no shipment", validReallocation, func(e *linkd.Event) { e.CarrierBookingReference = "" }, "", "names no shipment"},
		{"lowercase event type", validShipment, func(e *linkd.Event) { e.EventType = "shipment" }, "eventType", "unknown event type"},
		{"missing classifier", validShipment, func(e *linkd.Event) { e.EventClassifierCode = "" }, "eventClassifierCode", "required; one of ACT, EST, PLN"},
		{"unknown classifier", validShipment, func(e *linkd.Event) { e.EventClassifierCode = "REAL" }, "eventClassifierCode", `unknown code "REAL"; one of ACT, EST, PLN`},
		{"missing eventDateTime", validShipment, func(e *linkd.Event) { e.EventDateTime = linkd.Time{} }, "eventDateTime", "required"},
		{"eventDateTime before 1970", validShipment, func(e *linkd.Event) { e.EventDateTime = at("1969-12-31T23:59:59Z") }, "eventDateTime", "year 1969 is outside 1970-2200"},
		{"eventDateTime after 2200", validTransport, func(e *linkd.Event) { e.EventDateTime = at("2201-01-01T00:00:00Z") }, "eventDateTime", "year 2201 is outside 1970-2200"},
		{"eventCreatedDateTime after 2200", validShipment, func(e *linkd.Event) { e.EventCreatedDateTime = at("9999-01-01T00:00:00Z") }, "eventCreatedDateTime", "year 9999"},

		// Type-specific codes.
		{"missing shipment code", validShipment, func(e *linkd.Event) { e.ShipmentEventTypeCode = "" }, "shipmentEventTypeCode", "required"},
		{"unknown shipment code", validShipment, func(e *linkd.Event) { e.ShipmentEventTypeCode = "ARRI" }, "shipmentEventTypeCode", `unknown code "ARRI"`},
		{"missing transport code", validTransport, func(e *linkd.Event) { e.TransportEventTypeCode = "" }, "transportEventTypeCode", "required; one of ARRI, DEPA"},
		{"unknown transport code", validTransport, func(e *linkd.Event) { e.TransportEventTypeCode = "LOAD" }, "transportEventTypeCode", `unknown code "LOAD"`},
		{"missing equipment code", validEquipment, func(e *linkd.Event) { e.EquipmentEventTypeCode = "" }, "equipmentEventTypeCode", "required"},
		{"unknown equipment code", validEquipment, func(e *linkd.Event) { e.EquipmentEventTypeCode = "CONF" }, "equipmentEventTypeCode", `unknown code "CONF"`},
		{"transport code on a shipment", validShipment, func(e *linkd.Event) { e.TransportEventTypeCode = "ARRI" }, "transportEventTypeCode", "belongs to TRANSPORT events, not SHIPMENT"},
		{"equipment code on a transport", validTransport, func(e *linkd.Event) { e.EquipmentEventTypeCode = "LOAD" }, "equipmentEventTypeCode", "belongs to EQUIPMENT events, not TRANSPORT"},
		{"shipment code on an equipment", validEquipment, func(e *linkd.Event) { e.ShipmentEventTypeCode = "CONF" }, "shipmentEventTypeCode", "belongs to SHIPMENT events, not EQUIPMENT"},
		{"unknown document type", validShipment, func(e *linkd.Event) { e.DocumentTypeCode = "INVOICE" }, "documentTypeCode", `unknown code "INVOICE"`},
		{"unknown code is clipped", validShipment, func(e *linkd.Event) { e.DocumentTypeCode = long(100) }, "documentTypeCode", `unknown code "` + long(40) + `…"`},
		{"missing empty indicator on equipment", validEquipment, func(e *linkd.Event) { e.EmptyIndicatorCode = "" }, "emptyIndicatorCode", "required; one of EMPTY, LADEN"},
		{"unknown empty indicator on shipment", validShipment, func(e *linkd.Event) { e.EmptyIndicatorCode = "FULL" }, "emptyIndicatorCode", `unknown code "FULL"`},
		{"unknown reference type", validShipment, func(e *linkd.Event) { e.References[0].ReferenceType = "XX" }, "references[0].referenceType", `unknown code "XX"`},
		{"missing reference value", validShipment, func(e *linkd.Event) {
			e.References = append(e.References, linkd.Reference{ReferenceType: "FF"})
		}, "references[1].referenceValue", "required"},

		// Text limits and control characters.
		{"documentID too long", validShipment, func(e *linkd.Event) { e.DocumentID = long(101) }, "documentID", "101 bytes; at most 100"},
		{"reason too long", validShipment, func(e *linkd.Event) { e.Reason = long(5001) }, "reason", "5001 bytes; at most 5000"},
		{"newline in reason", validShipment, func(e *linkd.Event) { e.Reason = "line one\nline two" }, "reason", "contains a control character"},
		{"NUL in documentID", validShipment, func(e *linkd.Event) { e.DocumentID = "BKG\x00" }, "documentID", "contains a control character"},
		{"DEL in reference value", validShipment, func(e *linkd.Event) { e.References[0].ReferenceValue = "PO\x7f" }, "references[0].referenceValue", "contains a control character"},
		{"control char in location name", validEquipment, func(e *linkd.Event) { e.EventLocation.LocationName = "Hai\tphong" }, "eventLocation.locationName", "contains a control character"},
		{"control char in vessel name", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselName = "Oceanic\rHarmony" }, "transportCall.vessel.vesselName", "contains a control character"},
		{"delayReasonCode too long", validTransport, func(e *linkd.Event) { e.DelayReasonCode = "WEAT" }, "delayReasonCode", "4 bytes; at most 3"},
		{"ISO equipment code too long", validEquipment, func(e *linkd.Event) { e.ISOEquipmentCode = "45G1X" }, "ISOEquipmentCode", "5 bytes; at most 4"},
		{"reference value too long", validShipment, func(e *linkd.Event) { e.References[0].ReferenceValue = long(36) }, "references[0].referenceValue", "36 bytes; at most 35"},

		// Shipment keys.
		{"names no shipment", validShipment, func(e *linkd.Event) { e.CarrierBookingReference = "" }, "", "names no shipment"},
		{"booking reference too long", validShipment, func(e *linkd.Event) { e.CarrierBookingReference = long(36) }, "carrierBookingReference", "36 bytes; at most 35"},
		{"booking reference with spaces", validShipment, func(e *linkd.Event) { e.CarrierBookingReference = " OCL42" }, "carrierBookingReference", "leading or trailing spaces"},
		{"transport document reference too long", validTransport, func(e *linkd.Event) { e.TransportDocumentReference = long(21) }, "transportDocumentReference", "21 bytes; at most 20"},
		{"transport document reference with spaces", validTransport, func(e *linkd.Event) { e.TransportDocumentReference = "OCLU1 " }, "transportDocumentReference", "leading or trailing spaces"},
		{"equipment without container", validEquipment, func(e *linkd.Event) {
			e.EquipmentReference = ""
			e.CarrierBookingReference = "OCL42"
		}, "equipmentReference", "required for EQUIPMENT events"},
		{"container too short", validEquipment, func(e *linkd.Event) { e.EquipmentReference = "CSQU305438" }, "equipmentReference", "want 4 letters and 7 digits"},
		{"container lowercase owner", validEquipment, func(e *linkd.Event) { e.EquipmentReference = "csqu3054383" }, "equipmentReference", "the first 4 characters must be capital letters"},
		{"container bad category", validEquipment, func(e *linkd.Event) { e.EquipmentReference = "CSQX3054383" }, "equipmentReference", "the 4th letter must be U, J or Z"},
		{"container letter in serial", validEquipment, func(e *linkd.Event) { e.EquipmentReference = "CSQU30543A3" }, "equipmentReference", "the last 7 characters must be digits"},
		{"container check digit", validEquipment, func(e *linkd.Event) { e.EquipmentReference = "CSQU3054384" }, "equipmentReference", `"CSQU3054384" has check digit 4; ISO 6346 gives 3`},
		{"container on a shipment checked too", validShipment, func(e *linkd.Event) { e.EquipmentReference = "MSKU1234560" }, "equipmentReference", "ISO 6346 gives 5"},

		// Locations.
		{"location names no place", validEquipment, func(e *linkd.Event) { e.EventLocation = &linkd.Location{Latitude: "1"} }, "eventLocation", "names no place"},
		{"UN/LOCODE too short", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "VNHP" }, "eventLocation.UNLocationCode", `"VNHP" is not a UN/LOCODE: want 5 characters`},
		{"UN/LOCODE too long", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "VNHPHX" }, "eventLocation.UNLocationCode", "want 5 characters"},
		{"UN/LOCODE unknown country", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "XXHPH" }, "eventLocation.UNLocationCode", `"XX" is not an ISO 3166 country`},
		{"UN/LOCODE lowercase", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "vnhph" }, "eventLocation.UNLocationCode", "is not an ISO 3166 country"},
		{"UN/LOCODE digit 1", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "VNHP1" }, "eventLocation.UNLocationCode", "the location part takes A-Z and 2-9"},
		{"UN/LOCODE digit 0", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "VN0PH" }, "eventLocation.UNLocationCode", "the location part takes A-Z and 2-9"},
		{"UN/LOCODE lowercase location part", validEquipment, func(e *linkd.Event) { e.EventLocation.UNLocationCode = "VNhph" }, "eventLocation.UNLocationCode", "the location part takes A-Z and 2-9"},
		{"facility code too long", validEquipment, func(e *linkd.Event) { e.EventLocation.FacilityCode = "HICTXXX" }, "eventLocation.facilityCode", "7 bytes; at most 6"},
		{"facility code without provider", validEquipment, func(e *linkd.Event) { e.EventLocation.FacilityCodeListProvider = "" }, "eventLocation.facilityCodeListProvider", "required with facilityCode"},
		{"unknown facility provider", validEquipment, func(e *linkd.Event) { e.EventLocation.FacilityCodeListProvider = "UNCE" }, "eventLocation.facilityCodeListProvider", `unknown code "UNCE"; one of BIC, SMDG`},
		{"latitude out of range", validEquipment, func(e *linkd.Event) { e.EventLocation.Latitude = "90.5" }, "eventLocation.latitude", `"90.5" is not a decimal degree between -90 and 90`},
		{"latitude not a number", validEquipment, func(e *linkd.Event) { e.EventLocation.Latitude = "north" }, "eventLocation.latitude", "is not a decimal degree"},
		{"longitude NaN", validEquipment, func(e *linkd.Event) { e.EventLocation.Longitude = "NaN" }, "eventLocation.longitude", "between -180 and 180"},
		{"longitude too long", validEquipment, func(e *linkd.Event) { e.EventLocation.Longitude = "1.00000000000000000000" }, "eventLocation.longitude", "is not a decimal degree"},

		// Transport calls and vessels.
		{"transport without transport call", validTransport, func(e *linkd.Event) { e.TransportCall = nil }, "transportCall", "required for TRANSPORT events"},
		{"transport call without location", validTransport, func(e *linkd.Event) { e.TransportCall.Location = nil }, "transportCall.location", "required for TRANSPORT events"},
		{"transport call location bad UN/LOCODE", validTransport, func(e *linkd.Event) { e.TransportCall.Location.UNLocationCode = "ZZHAM" }, "transportCall.location.UNLocationCode", `"ZZ" is not an ISO 3166 country`},
		{"transport call missing mode", validTransport, func(e *linkd.Event) { e.TransportCall.ModeOfTransport = "" }, "transportCall.modeOfTransport", "required; one of BARGE, RAIL, TRUCK, VESSEL"},
		{"transport call unknown mode", validEquipment, func(e *linkd.Event) { e.TransportCall.ModeOfTransport = "PLANE" }, "transportCall.modeOfTransport", `unknown code "PLANE"`},
		{"service code too long", validTransport, func(e *linkd.Event) { e.TransportCall.CarrierServiceCode = "AEX123" }, "transportCall.carrierServiceCode", "6 bytes; at most 5"},
		{"voyage number too long", validTransport, func(e *linkd.Event) { e.TransportCall.CarrierVoyageNumber = long(51) }, "transportCall.carrierVoyageNumber", "51 bytes; at most 50"},
		{"IMO check digit", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselIMONumber = "9074728" }, "transportCall.vessel.vesselIMONumber", `"9074728" fails the IMO check digit`},
		{"IMO too short", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselIMONumber = "907472" }, "transportCall.vessel.vesselIMONumber", "want 7 digits"},
		{"IMO with prefix", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselIMONumber = "IMO9074729" }, "transportCall.vessel.vesselIMONumber", "want 7 digits"},
		{"IMO with letter", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselIMONumber = "90747A9" }, "transportCall.vessel.vesselIMONumber", "want 7 digits"},
		{"vessel flag unknown", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselFlag = "XX" }, "transportCall.vessel.vesselFlag", `unknown ISO 3166 country "XX"`},
		{"vessel call sign too long", validTransport, func(e *linkd.Event) { e.TransportCall.Vessel.VesselCallSign = long(11) }, "transportCall.vessel.vesselCallSignNumber", "11 bytes; at most 10"},

		// Parties, visibility, residency.
		{"origin not a party id", validShipment, func(e *linkd.Event) { e.Origin = "Oceanic Lines" }, "origin", `"Oceanic Lines" is not a party id`},
		{"duplicate party", validShipment, func(e *linkd.Event) {
			e.Parties = append(e.Parties, linkd.ShipmentParty{Party: "oceanic-lines", Role: linkd.RoleForwarder})
		}, "parties[4].party", "oceanic-lines is listed twice"},
		{"unknown role", validShipment, func(e *linkd.Event) { e.Parties[0].Role = "captain" }, "parties[0].role", `unknown role "captain"; known: shipper, consignee`},
		{"empty party id", validShipment, func(e *linkd.Event) { e.Parties[2].Party = "" }, "parties[2].party", "required"},
		{"party id with outer hyphen", validShipment, func(e *linkd.Event) { e.Parties[1].Party = "-oceanic" }, "parties[1].party", "inner hyphens"},
		{"party id too long", validShipment, func(e *linkd.Event) { e.Parties[1].Party = strings.Repeat("a", 64) }, "parties[1].party", "longer than 63 characters"},
		{"visibility off the party list", validShipment, func(e *linkd.Event) { e.Visibility = []string{"oceanic-lines", "dc-hamburg"} }, "visibility[1]", "dc-hamburg is not on the shipment's party list; visibility can only narrow it"},
		{"visibility not a party id", validShipment, func(e *linkd.Event) { e.Visibility = []string{"Hanoi Electronics"} }, "visibility[0]", "is not a party id"},
		{"unknown residency tag", validShipment, func(e *linkd.Event) { e.Residency = []string{"EU", "Europe"} }, "residency[1]", `unknown jurisdiction "Europe"`},
		{"lowercase residency tag", validShipment, func(e *linkd.Event) { e.Residency = []string{"eu"} }, "residency[0]", `unknown jurisdiction "eu"`},

		// Identifiers and corrections.
		{"event id not a UUID", validShipment, func(e *linkd.Event) { e.EventID = "evt-42" }, "eventID", `"evt-42" is not a UUID in canonical lowercase form`},
		{"event id uppercase", validShipment, func(e *linkd.Event) { e.EventID = strings.ToUpper(e.EventID) }, "eventID", "canonical lowercase form"},
		{"event id with braces", validShipment, func(e *linkd.Event) { e.EventID = "{" + e.EventID[:34] + "}" }, "eventID", "not a UUID"},
		{"causedBy empty id", validShipment, func(e *linkd.Event) { e.CausedBy = []string{uuids(1)[0], ""} }, "causedBy[1]", "required"},
		{"causedBy not a UUID", validShipment, func(e *linkd.Event) { e.CausedBy = []string{"42"} }, "causedBy[0]", "not a UUID"},
		{"retracted id not a UUID", validShipment, func(e *linkd.Event) { e.RetractedEventID = "yesterday" }, "retractedEventID", "not a UUID"},
		{"superseded id not a UUID", validShipment, func(e *linkd.Event) { e.SupersedesEventID = "0b5c3a2e8f1d4c6a9e7b2d4f6a8c0e13" }, "supersedesEventID", "not a UUID"},
		{"retract and supersede", validShipment, func(e *linkd.Event) {
			e.RetractedEventID = uuids(2)[0]
			e.SupersedesEventID = uuids(2)[1]
		}, "supersedesEventID", "either retracts or supersedes an earlier one, not both"},
		{"retracts itself", validShipment, func(e *linkd.Event) { e.RetractedEventID = e.EventID }, "eventID", "cannot retract or supersede itself"},
		{"supersedes itself", validShipment, func(e *linkd.Event) { e.SupersedesEventID = e.EventID }, "eventID", "cannot retract or supersede itself"},

		// List lengths.
		{"too many references", validShipment, func(e *linkd.Event) {
			e.References = repeat(linkd.Reference{ReferenceType: "FF", ReferenceValue: "x"}, linkd.MaxListLen+1)
		}, "references", "65 entries; at most 64"},
		{"too many parties", validShipment, func(e *linkd.Event) {
			e.Parties = nil
			for i := range linkd.MaxListLen + 1 {
				e.Parties = append(e.Parties, linkd.ShipmentParty{Party: fmt.Sprintf("p%d", i), Role: linkd.RoleShipper})
			}
			e.Visibility = nil
		}, "parties", "65 entries; at most 64"},
		{"too many visibility entries", validShipment, func(e *linkd.Event) { e.Visibility = repeat("oceanic-lines", linkd.MaxListLen+1) }, "visibility", "65 entries; at most 64"},
		{"too many residency tags", validShipment, func(e *linkd.Event) { e.Residency = repeat("EU", linkd.MaxListLen+1) }, "residency", "65 entries; at most 64"},
		{"too many causes", validShipment, func(e *linkd.Event) { e.CausedBy = uuids(linkd.MaxListLen + 1) }, "causedBy", "65 entries; at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.base()
			if probs := e.Validate(""); len(probs) != 0 {
				t.Fatalf("base event already invalid: %v", probs)
			}
			tt.mutate(&e)
			got := e.Validate("")
			if !findProblem(got, tt.field, tt.reason) {
				t.Errorf("Validate() = %v\nwant a problem at %q with reason containing %q", got, tt.field, tt.reason)
			}
			// The same event inside a batch reports the same problem under
			// its position.
			prefix := "events[7]."
			want := prefix + tt.field
			if tt.field == "" {
				want = "events[7]"
			}
			if got := e.Validate(prefix); !findProblem(got, want, tt.reason) {
				t.Errorf("Validate(%q) = %v\nwant a problem at %q", prefix, got, want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	e := validTransport()
	e.EventClassifierCode = "X"
	e.TransportCall.Location.UNLocationCode = "VNHP"
	e.TransportCall.Vessel.VesselIMONumber = "1234568"
	got := e.Validate("")
	want := []string{"eventClassifierCode", "transportCall.location.UNLocationCode", "transportCall.vessel.vesselIMONumber"}
	if len(got) != len(want) {
		t.Fatalf("Validate() = %v, want %d problems", got, len(want))
	}
	for i, f := range want {
		if got[i].Field != f {
			t.Errorf("problem %d at %q, want %q", i, got[i].Field, f)
		}
	}
}

var (
	carrierSG = linkd.Party{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}}
	terminalV = linkd.Party{ID: "haiphong-terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN"}}
	customsDE = linkd.Party{ID: "eu-customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"DE", "EU"}}
)

func TestCheckBatch(t *testing.T) {
	withResidency := func(r ...string) linkd.Event {
		e := validEquipment()
		e.Residency = r
		return e
	}
	withOrigin := func(o string) linkd.Event {
		e := validTransport()
		e.Origin = o
		return e
	}
	badLocode := validEquipment()
	badLocode.EventLocation.UNLocationCode = "VNHP1"
	noShipment := validShipment()
	noShipment.CarrierBookingReference = ""
	dupA, dupB := validShipment(), validShipment()
	dupB.ShipmentEventTypeCode = "ISSU"

	type problem struct{ field, reason string }
	tests := []struct {
		name     string
		events   []linkd.Event
		self     linkd.Party
		wantCode string    // "" for success
		want     []problem // problems that must be reported
	}{
		{"one valid event", []linkd.Event{validShipment()}, carrierSG, "", nil},
		{"three valid events", []linkd.Event{validShipment(), validTransport(), withResidency("SG")}, carrierSG, "", nil},
		{"empty batch", nil, carrierSG, linkd.EInvalid, []problem{{"", "the batch has no events"}}},
		{"empty non-nil batch", []linkd.Event{}, carrierSG, linkd.EInvalid, []problem{{"", "the batch has no events"}}},
		{"too many events", make([]linkd.Event, linkd.MaxBatchEvents+1), carrierSG, linkd.ETooLarge, nil},
		{"single event has no prefix", []linkd.Event{badLocode}, carrierSG, linkd.EInvalid,
			[]problem{{"eventLocation.UNLocationCode", "the location part takes A-Z and 2-9"}}},
		{"batch path of the third event", []linkd.Event{validShipment(), validTransport(), badLocode}, carrierSG, linkd.EInvalid,
			[]problem{{"events[2].eventLocation.UNLocationCode", "the location part takes A-Z and 2-9"}}},
		{"event that names no shipment", []linkd.Event{validTransport(), noShipment}, carrierSG, linkd.EInvalid,
			[]problem{{"events[1]", "names no shipment"}}},
		{"problems in two events", []linkd.Event{noShipment, validTransport(), badLocode}, carrierSG, linkd.EInvalid,
			[]problem{{"events[0]", "names no shipment"}, {"events[2].eventLocation.UNLocationCode", "A-Z and 2-9"}}},
		{"origin of another party", []linkd.Event{withOrigin("hanoi-electronics")}, carrierSG, linkd.EInvalid,
			[]problem{{"origin", "this node records events for oceanic-lines only, not hanoi-electronics"}}},
		{"origin mismatch in batch", []linkd.Event{validShipment(), withOrigin("eu-customs")}, carrierSG, linkd.EInvalid,
			[]problem{{"events[1].origin", "not eu-customs"}}},
		{"origin left for the node to set", []linkd.Event{withOrigin("")}, carrierSG, "", nil},
		{"EU residency refused on a VN node", []linkd.Event{withResidency("EU")}, terminalV, linkd.EInvalid,
			[]problem{{"residency", "[EU] excludes this node's jurisdiction [VN]: the payload may not be stored here"}}},
		{"EU residency admitted on a DE/EU node", []linkd.Event{withResidency("EU")}, customsDE, "", nil},
		{"DE residency admitted on a DE/EU node", []linkd.Event{withResidency("DE")}, customsDE, "", nil},
		{"ASEAN residency admitted on a VN node", []linkd.Event{withResidency("ASEAN")}, terminalV, "", nil},
		{"NL residency refused on a DE/EU node", []linkd.Event{validShipment(), withResidency("NL")}, customsDE, linkd.EInvalid,
			[]problem{{"events[1].residency", "excludes this node's jurisdiction"}}},
		{"duplicate ids in one batch", []linkd.Event{dupA, validTransport(), dupB}, carrierSG, linkd.EInvalid,
			[]problem{{"events[2].eventID", "repeats the id of events[0] in the same batch"}}},
		{"events without ids are not duplicates", []linkd.Event{validEquipment(), validEquipment()}, customsDE, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := linkd.CheckBatch(tt.events, tt.self)
			if got := linkd.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("ErrorCode(CheckBatch()) = %q (%v), want %q", got, err, tt.wantCode)
			}
			if err == nil || tt.want == nil {
				return
			}
			probs := problemsOf(t, err)
			for _, w := range tt.want {
				if !findProblem(probs, w.field, w.reason) {
					t.Errorf("CheckBatch() problems = %v\nwant one at %q with reason containing %q", probs, w.field, w.reason)
				}
			}
		})
	}
}

func TestCheckBatchTooLargeMessage(t *testing.T) {
	err := linkd.CheckBatch(make([]linkd.Event, linkd.MaxBatchEvents+1), carrierSG)
	var e *linkd.Error
	if !errors.As(err, &e) {
		t.Fatalf("CheckBatch() = %v, want *linkd.Error", err)
	}
	if want := "the batch has 10001 events; at most 10000 per append"; e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
}

func TestPartyValidate(t *testing.T) {
	tests := []struct {
		name  string
		party linkd.Party
		want  []linkd.Problem // exact problems; nil means valid
	}{
		{"carrier", carrierSG, nil},
		{"customs", customsDE, nil},
		{"digits and hyphens", linkd.Party{ID: "dc-hamburg-2", Jurisdiction: []string{"DE"}}, nil},
		{"with its site", linkd.Party{ID: "dc-hamburg", Jurisdiction: []string{"DE"}, Location: "DEHAM"}, nil},
		{"missing id", linkd.Party{Jurisdiction: []string{"DE"}}, []linkd.Problem{{Field: "id", Reason: "required"}}},
		{"uppercase id", linkd.Party{ID: "DC-Hamburg", Jurisdiction: []string{"DE"}},
			[]linkd.Problem{{Field: "id", Reason: `"DC-Hamburg" is not a party id: use lowercase letters, digits and inner hyphens`}}},
		{"trailing hyphen", linkd.Party{ID: "dc-", Jurisdiction: []string{"DE"}},
			[]linkd.Problem{{Field: "id", Reason: `"dc-" is not a party id: use lowercase letters, digits and inner hyphens`}}},
		{"id too long", linkd.Party{ID: strings.Repeat("x", 64), Jurisdiction: []string{"DE"}},
			[]linkd.Problem{{Field: "id", Reason: "longer than 63 characters"}}},
		{"name too long", linkd.Party{ID: "dc", Name: strings.Repeat("n", 201), Jurisdiction: []string{"DE"}},
			[]linkd.Problem{{Field: "name", Reason: "longer than 200 characters"}}},
		{"unknown role", linkd.Party{ID: "dc", Roles: []linkd.Role{linkd.RoleWarehouse, "broker"}, Jurisdiction: []string{"DE"}},
			[]linkd.Problem{{Field: "roles[1]", Reason: `unknown role "broker"; known: shipper, consignee, forwarder, carrier, terminal, customs, warehouse`}}},
		{"no jurisdiction", linkd.Party{ID: "dc"},
			[]linkd.Problem{{Field: "jurisdiction", Reason: "required: the party's ISO 3166 country, then any region tags (EU, EEA, ASEAN)"}}},
		{"region without country", linkd.Party{ID: "dc", Jurisdiction: []string{"EU"}},
			[]linkd.Problem{{Field: "jurisdiction", Reason: "names no ISO 3166 country code"}}},
		{"claims a region it is not in", linkd.Party{ID: "dc", Jurisdiction: []string{"VN", "EU"}},
			[]linkd.Problem{{Field: "jurisdiction[1]", Reason: "VN is not in EU"}}},
		{"two countries", linkd.Party{ID: "dc", Jurisdiction: []string{"DE", "NL"}},
			[]linkd.Problem{{Field: "jurisdiction[1]", Reason: "a party has one country (DE); NL cannot be a second"}}},
		{"unknown jurisdiction", linkd.Party{ID: "dc", Jurisdiction: []string{"DE", "EMEA"}},
			[]linkd.Problem{{Field: "jurisdiction[1]", Reason: `unknown jurisdiction "EMEA"`}}},
		{"site that is not a UN/LOCODE", linkd.Party{ID: "dc", Jurisdiction: []string{"DE"}, Location: "Hamburg"},
			[]linkd.Problem{{Field: "location", Reason: `"Hamburg" is not a UN/LOCODE: want 5 characters, a country code and 3 letters or digits 2-9 (VNHPH)`}}},
		{"every problem at once", linkd.Party{ID: "", Roles: []linkd.Role{"x"}, Jurisdiction: []string{"Mars"}},
			[]linkd.Problem{
				{Field: "id", Reason: "required"},
				{Field: "roles[0]", Reason: `unknown role "x"; known: shipper, consignee, forwarder, carrier, terminal, customs, warehouse`},
				{Field: "jurisdiction", Reason: "names no ISO 3166 country code"},
				{Field: "jurisdiction[0]", Reason: `unknown jurisdiction "Mars"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.party.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			got := problemsOf(t, err)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Validate() problems =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestPartyCountry(t *testing.T) {
	tests := []struct {
		jurisdiction []string
		want         string
	}{
		{[]string{"DE", "EU"}, "DE"},
		{[]string{"EU", "NL"}, "NL"},
		{[]string{"ASEAN"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := (linkd.Party{Jurisdiction: tt.jurisdiction}).Country(); got != tt.want {
			t.Errorf("Party{Jurisdiction: %v}.Country() = %q, want %q", tt.jurisdiction, got, tt.want)
		}
	}
}

func TestPartyAdmits(t *testing.T) {
	tests := []struct {
		name         string
		jurisdiction []string
		residency    []string
		want         bool
	}{
		{"empty residency admits everyone", []string{"VN"}, nil, true},
		{"empty residency admits a party without jurisdiction", nil, []string{}, true},
		{"own country", []string{"VN"}, []string{"VN"}, true},
		{"other country", []string{"VN"}, []string{"SG"}, false},
		{"one of several countries", []string{"VN"}, []string{"SG", "TH", "VN"}, true},
		{"EU member by country", []string{"DE"}, []string{"EU"}, true},
		{"EU member with tag", []string{"DE", "EU"}, []string{"EU"}, true},
		{"every EU member", []string{"FR"}, []string{"EU"}, true},
		{"non-member of EU", []string{"VN"}, []string{"EU"}, false},
		{"Norway is in the EEA", []string{"NO"}, []string{"EEA"}, true},
		{"Norway is not in the EU", []string{"NO"}, []string{"EU"}, false},
		{"Switzerland is in neither", []string{"CH"}, []string{"EU", "EEA"}, false},
		{"Vietnam is in ASEAN", []string{"VN"}, []string{"ASEAN"}, true},
		{"Germany is not in ASEAN", []string{"DE", "EU"}, []string{"ASEAN"}, false},
		{"country tag narrower than the region", []string{"DE", "EU"}, []string{"FR"}, false},
		{"region without a country is no member", []string{"ASEAN"}, []string{"EU"}, false},
		{"no jurisdiction, some residency", nil, []string{"EU"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := linkd.Party{ID: "p", Jurisdiction: tt.jurisdiction}
			if got := p.Admits(tt.residency); got != tt.want {
				t.Errorf("Party{Jurisdiction: %v}.Admits(%v) = %v, want %v", tt.jurisdiction, tt.residency, got, tt.want)
			}
		})
	}
}

func TestIsUUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e13", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"0B5C3A2E-8F1D-4C6A-9E7B-2D4F6A8C0E13", false},
		{"0b5c3a2e8f1d4c6a9e7b2d4f6a8c0e13", false},
		{"0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e1", false},
		{"0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e13a", false},
		{"0b5c3a2e_8f1d-4c6a-9e7b-2d4f6a8c0e13", false},
		{"0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e1g", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := linkd.IsUUID(tt.in); got != tt.want {
			t.Errorf("IsUUID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
