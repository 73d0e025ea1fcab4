package edi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// TestGolden translates every sample and compares its events and its
// acknowledgement with the golden files; it also checks what must hold of
// every translation whatever the golden files say.
func TestGolden(t *testing.T) {
	for _, name := range samples {
		t.Run(name, func(t *testing.T) {
			data := readSample(t, name)
			res := translate(t, data, sampleOptions(name))
			sum := sha256.Sum256(data)
			sha := hex.EncodeToString(sum[:])
			if res.SHA256 != sha {
				t.Errorf("sha256 = %s, want %s", res.SHA256, sha)
			}
			ids := map[string]bool{}
			for i, e := range res.Events {
				s := e.Source
				if s == nil || s.Syntax != res.Syntax || s.InterchangeSHA256 != sha || s.InterchangeControlNumber != res.ControlNumber ||
					s.Sender != res.Sender || s.MessageReference == "" || s.MessageType == "" {
					t.Errorf("event %d: lineage %+v does not name the interchange (%s %s from %s, %s)", i, s, res.Syntax, res.ControlNumber, res.Sender, sha)
				}
				if !linkd.IsUUID(e.EventID) || ids[e.EventID] {
					t.Errorf("event %d: id %q is not a fresh UUID", i, e.EventID)
				}
				ids[e.EventID] = true
			}
			if err := linkd.CheckBatch(res.Events, scenario.Terminal); err != nil {
				t.Errorf("the events do not pass linkd's validation: %v", err)
			}
			statuses := 0
			for _, m := range res.Messages {
				statuses += m.Statuses
				if !m.Accepted {
					t.Errorf("message %s not accepted", m.Reference)
				}
			}
			if statuses != res.Statuses || statuses == 0 {
				t.Errorf("statuses: %d in the messages, %d in all", statuses, res.Statuses)
			}

			// The same bytes again: the same events, ids and all.
			again := translate(t, data, sampleOptions(name))
			if !reflect.DeepEqual(again.Events, res.Events) || string(again.Ack) != string(res.Ack) {
				t.Error("a second translation of the same bytes differs")
			}
			// Another party recording them: other ids, the same content.
			o := sampleOptions(name)
			o.Origin = "vn-forwarding"
			other := translate(t, data, o)
			if other.Events[0].EventID == res.Events[0].EventID {
				t.Error("two parties recording the same interchange get the same event ids")
			}
			// Offline, with no party: no ids.
			o.Origin = ""
			if e := translate(t, data, o).Events[0]; e.EventID != "" {
				t.Errorf("without an origin the event id is %q, want none", e.EventID)
			}

			golden(t, name+".json", mustJSON(t, struct {
				Summary edi.Summary   `json:"summary"`
				Events  []linkd.Event `json:"events"`
			}{res.Summary, res.Events}))
			golden(t, name+".ack", res.Ack)
		})
	}
}

// brief is an event's meaning in one line: family/code, classifier,
// empty indicator, mode, place and container.
func brief(e linkd.Event) string {
	mode, place := "", ""
	if e.TransportCall != nil {
		mode = e.TransportCall.ModeOfTransport
		if e.TransportCall.Location != nil {
			place = e.TransportCall.Location.UNLocationCode
		}
	}
	if e.EventLocation != nil {
		place = e.EventLocation.UNLocationCode
	}
	s := fmt.Sprintf("%s/%s %s", e.EventType, e.TypeCode(), e.EventClassifierCode)
	for _, v := range []string{e.DocumentTypeCode, e.EmptyIndicatorCode, mode, place, e.EquipmentReference} {
		if v != "" {
			s += " " + v
		}
	}
	return s
}

// TestMappings pins what the samples mean, status by status, independent
// of the golden files' formatting.
func TestMappings(t *testing.T) {
	tests := []struct {
		sample string
		want   []string
	}{
		{"iftsta-carrier.edi", []string{
			"EQUIPMENT/GTOT ACT EMPTY VNHPH MSKU1234565", // EE
			"EQUIPMENT/GTIN ACT LADEN VNHPH MSKU1234565", // I, two containers
			"EQUIPMENT/GTIN ACT LADEN VNHPH HLXU7654324",
			"EQUIPMENT/LOAD ACT LADEN VESSEL VNHPH MSKU1234565", // AE
			"TRANSPORT/DEPA ACT VESSEL VNHPH",                   // VD, DTM 186
			"TRANSPORT/ARRI EST VESSEL DEHAM",                   // E, DTM 132
			"TRANSPORT/ARRI ACT VESSEL DEHAM",                   // VA
			"EQUIPMENT/DISC ACT LADEN VESSEL DEHAM MSKU1234565", // UV
			"SHIPMENT/HOLD ACT CUS DEHAM",                       // PA
			"SHIPMENT/RELS ACT CUS",                             // CT
			"EQUIPMENT/GTOT ACT LADEN DEHAM MSKU1234565",        // OA
			"EQUIPMENT/GTIN ACT EMPTY DEHAM MSKU1234565",        // RD
		}},
		{"iftsta-terminal.edi", []string{
			"EQUIPMENT/STUF ACT LADEN VNHAN TGHU1020307",        // 93, the consignment's container
			"EQUIPMENT/GTIN ACT LADEN VNHPH TGHU1020307",        // 74
			"EQUIPMENT/LOAD ACT LADEN VESSEL VNHPH TGHU1020307", // 48 with TDT mode 1
			"TRANSPORT/DEPA ACT VESSEL VNHPH TGHU1020307",       // 24, DTM 186
			"TRANSPORT/ARRI EST VESSEL NLRTM",                   // 1 with DTM 132: estimated; LOC of the TDT
			"EQUIPMENT/DISC ACT LADEN NLRTM TGHU1020307",        // 29
			"SHIPMENT/HOLD ACT CUS NLRTM",                       // 128
			"SHIPMENT/RELS ACT CUS",                             // 12
			"EQUIPMENT/DROP ACT LADEN NLRTM TGHU1020307",        // 21
		}},
		{"315-carrier.x12", []string{
			"EQUIPMENT/GTOT ACT EMPTY VNHPH OOLU8800115",        // EE, B409 E
			"EQUIPMENT/GTIN ACT LADEN VESSEL VNHPH OOLU8800115", // I with Q2
			"EQUIPMENT/LOAD ACT LADEN VESSEL VNHPH OOLU8800115", // AE
			"TRANSPORT/DEPA ACT VESSEL VNHPH",                   // VD
			"TRANSPORT/ARRI EST VESSEL DEHAM",                   // E
			"TRANSPORT/ARRI ACT VESSEL DEHAM",                   // VA
			"EQUIPMENT/DISC ACT LADEN VESSEL DEHAM OOLU8800115", // UV
			"SHIPMENT/RELS ACT CUS DEHAM",                       // CT
			"EQUIPMENT/GTOT ACT LADEN DEHAM OOLU8800115",        // OA
			"EQUIPMENT/GTIN ACT EMPTY DEHAM OOLU8800115",        // RD
		}},
		{"214-drayage.x12", []string{
			"TRANSPORT/ARRI PLN TRUCK DEHAM",             // AT703 AA: the pick-up appointment
			"TRANSPORT/ARRI ACT TRUCK DEHAM MSKU1234565", // X3
			"TRANSPORT/DEPA ACT TRUCK DEHAM MSKU1234565", // AF
			"TRANSPORT/ARRI ACT TRUCK DEHAM MSKU1234565", // X1
			"EQUIPMENT/STRP ACT EMPTY DEHAM MSKU1234565", // D1
			"TRANSPORT/DEPA ACT TRUCK DEHAM",             // CD
		}},
		{"315-v5010.x12", []string{
			"TRANSPORT/ARRI ACT VESSEL NLRTM",                   // VA
			"EQUIPMENT/DISC ACT LADEN VESSEL NLRTM TGHU1020307", // UV
		}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			res := translate(t, readSample(t, tt.sample), sampleOptions(tt.sample))
			var got []string
			for _, e := range res.Events {
				got = append(got, brief(e))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestTextAndTimes checks what the tokenizers and time readers make of
// release characters, ISO 8859-1, zones and seconds.
func TestTextAndTimes(t *testing.T) {
	carrier := translate(t, readSample(t, "iftsta-carrier.edi"), options()).Events
	terminal := translate(t, readSample(t, "iftsta-terminal.edi"), options()).Events
	drayage := translate(t, readSample(t, "214-drayage.x12"), sampleOptions("214-drayage.x12")).Events
	checks := []struct{ what, got, want string }{
		{"released : and ' in FTX", carrier[8].Reason, "Zoll: X-ray inspection ordered (ref. DE-HH-2026-0042)'s seal check"},
		{"format 303 with +0700", carrier[0].EventDateTime.String(), "2026-11-02T07:30:00+07:00"},
		{"format 303 with +01", carrier[6].EventDateTime.String(), "2026-12-02T06:30:00+01:00"},
		{"IMO and flag from TDT C222", fmt.Sprint(*carrier[3].TransportCall.Vessel), "{9321483 OCEANIC PIONEER SG }"},
		{"voyage from TDT", carrier[3].TransportCall.CarrierVoyageNumber, "0042W"},
		{"SMDG terminal from LOC C519", carrier[1].EventLocation.FacilityCode + "/" + carrier[1].EventLocation.FacilityCodeListProvider, "HPT/SMDG"},
		{"ISO 8859-1 vessel name", terminal[2].TransportCall.Vessel.VesselName, "GÖTEBORG BRIDGE"},
		{"released + in FTX", terminal[6].Reason, "Awaiting import declaration + MRN pending"},
		{"released ' in FTX", terminal[0].Reason, ""}, // only SHIPMENT events carry a reason
		{"format 203 in the agreed zone", terminal[0].EventDateTime.String(), "2026-11-03T14:00:00+07:00"},
		{"format 204 keeps seconds", terminal[5].EventDateTime.String(), "2026-12-04T08:30:15+07:00"},
		{"format 102 is a day", terminal[4].EventDateTime.String(), "2026-12-03T00:00:00+07:00"},
		{"RFF+ON is a purchase order", fmt.Sprint(terminal[0].References), "[{PO PO-55012}]"},
		{"AT707 LT is the agreed zone", drayage[1].EventDateTime.String(), "2026-12-05T07:12:00+01:00"},
		{"AT707 UT is UTC", drayage[5].EventDateTime.String(), "2026-12-05T10:46:00Z"},
		{"MS1 names the place", drayage[1].TransportCall.Location.LocationName, "HAMBURG, DE"},
		{"B1002 is the customer's shipment id", fmt.Sprint(drayage[0].References), "[{CSI SHP-DC-7781}]"},
		{"LX-level L11 first", fmt.Sprint(drayage[4].References), "[{CR DCHH-RCPT-4410} {CSI SHP-DC-7781}]"},
		{"header L11 BM outranks B1001", drayage[0].TransportDocumentReference, "OCLU2611HPHHAM1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}
