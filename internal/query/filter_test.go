package query

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

func TestPlanPicksTheMostSelectiveIndex(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		f     Filter
		index partylog.Index
		value string
		post  bool
	}{
		{"nothing", Filter{}, partylog.ByTime, "", false},
		{"time range only", Filter{From: from}, partylog.ByTime, "", false},
		{"booking", Filter{CarrierBookingReference: "B1", EquipmentReference: "C1"}, partylog.ByBooking, "B1", true},
		{"B/L over container", Filter{TransportDocumentReference: "T1", EquipmentReference: "C1"}, partylog.ByTransportDocument, "T1", true},
		{"container alone", Filter{EquipmentReference: "C1", From: from}, partylog.ByEquipment, "C1", false},
		{"location", Filter{UNLocationCode: "DEHAM", ClassifierCodes: []string{"ACT"}}, partylog.ByLocation, "DEHAM", true},
		{"one code", Filter{EquipmentEventTypeCodes: []string{"LOAD"}}, partylog.ByTypeCode, "EQUIPMENT/LOAD", false},
		{"one code, its type named", Filter{EventTypes: []linkd.EventType{linkd.Equipment}, EquipmentEventTypeCodes: []string{"LOAD"}}, partylog.ByTypeCode, "EQUIPMENT/LOAD", false},
		{"two codes scan time", Filter{EquipmentEventTypeCodes: []string{"LOAD", "DISC"}}, partylog.ByTime, "", true},
		{"code of another type than asked", Filter{EventTypes: []linkd.EventType{linkd.Shipment}, EquipmentEventTypeCodes: []string{"LOAD"}}, partylog.ByTime, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanFor(&tt.f)
			if p.Index != tt.index || p.Value != tt.value || p.PostFilter != tt.post {
				t.Errorf("PlanFor = {%c %q post=%v}, want {%c %q post=%v}", p.Index, p.Value, p.PostFilter, tt.index, tt.value, tt.post)
			}
		})
	}
}

func TestMatchIsAndAcrossFieldsOrWithinLists(t *testing.T) {
	at := linkd.Time{Time: time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)}
	load := linkd.Event{EventType: linkd.Equipment, EquipmentEventTypeCode: "LOAD", EventClassifierCode: "ACT", EventDateTime: at,
		CarrierBookingReference: "B1", EquipmentReference: "C1", Origin: "haiphong-terminal",
		TransportCall: &linkd.TransportCall{CarrierVoyageNumber: "001W", Location: &linkd.Location{UNLocationCode: "VNHPH"}}}
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"zero filter", Filter{}, true},
		{"booking and container", Filter{CarrierBookingReference: "B1", EquipmentReference: "C1"}, true},
		{"booking but other container", Filter{CarrierBookingReference: "B1", EquipmentReference: "C2"}, false},
		{"one of two codes", Filter{EquipmentEventTypeCodes: []string{"DISC", "LOAD"}}, true},
		{"shipment code excludes equipment events", Filter{ShipmentEventTypeCodes: []string{"HOLD"}}, false},
		{"location from the transport call", Filter{UNLocationCode: "VNHPH"}, true},
		{"voyage", Filter{CarrierVoyageNumber: "002W"}, false},
		{"origin list", Filter{Origins: []string{"oceanic-lines", "haiphong-terminal"}}, true},
		{"time range end is exclusive", Filter{To: at.Time}, false},
		{"time range start is inclusive", Filter{From: at.Time}, true},
		{"created range needs a creation time", Filter{CreatedFrom: at.Time}, false},
		{"classifier", Filter{ClassifierCodes: []string{"EST", "PLN"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(&load); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCursorIsBoundToItsFilter(t *testing.T) {
	a := Filter{CarrierBookingReference: "B1"}
	b := Filter{CarrierBookingReference: "B2"}
	c := sealCursor(a.tag(), "inner")
	if got, err := openCursor(c, a.tag()); err != nil || got != "inner" {
		t.Fatalf("openCursor with its own filter = %q, %v", got, err)
	}
	if _, err := openCursor(c, b.tag()); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Fatalf("openCursor with another filter: %v, want invalid", err)
	}
	// The same filter written in another order is the same query.
	x := Filter{Origins: []string{"a", "b"}, EventTypes: []linkd.EventType{linkd.Shipment, linkd.Transport}}
	y := Filter{Origins: []string{"b", "a"}, EventTypes: []linkd.EventType{linkd.Transport, linkd.Shipment}}
	if x.tag() != y.tag() {
		t.Fatal("list order changes the cursor tag")
	}
	for _, bad := range []string{"!!", "AAAA"} {
		if _, err := openCursor(bad, a.tag()); linkd.ErrorCode(err) != linkd.EInvalid {
			t.Errorf("openCursor(%q) = %v, want invalid", bad, err)
		}
	}
	if got, err := openCursor("", a.tag()); got != "" || err != nil {
		t.Errorf("openCursor(\"\") = %q, %v; want the first page", got, err)
	}
}
