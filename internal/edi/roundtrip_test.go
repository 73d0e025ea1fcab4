package edi_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

var env = edi.Envelope{Sender: "HAIPHONG-TERM", Recipient: "VNFORWARDING", ControlNumber: "42", Time: ackTime, Newlines: true}

// meaning is an event without what a translation sets anew: its id and
// lineage.
func meaning(e linkd.Event) linkd.Event {
	e.EventID, e.Source = "", nil
	return e
}

// wallMeaning is what survives X12, which carries no zone: the brief, the
// local wall-clock time and the shipment keys.
func wallMeaning(e linkd.Event) string {
	return brief(e) + " at " + e.EventDateTime.Format("2006-01-02T15:04:05") + " " + e.CarrierBookingReference + " " + e.TransportDocumentReference
}

func recorded(events []linkd.Event) []linkd.Recorded {
	out := make([]linkd.Recorded, len(events))
	for i, e := range events {
		out[i] = linkd.Recorded{Event: e, LogIndex: int64(i)}
	}
	return out
}

// TestRoundTrip: events translated from every sample, written out as
// IFTSTA and as 315 and translated again, mean the same. IFTSTA carries
// every field the gateway maps, zones included, so the events come back
// equal; X12 carries no zone, so across syntaxes the local times and the
// rest of the meaning come back, and 315 to 315 (read in the same agreed
// zone) comes back equal.
func TestRoundTrip(t *testing.T) {
	for _, name := range samples {
		in := translate(t, readSample(t, name), sampleOptions(name)).Events
		for _, f := range []edi.Format{edi.FormatIFTSTA, edi.Format315} {
			t.Run(name+" to "+string(f), func(t *testing.T) {
				var want []linkd.Event
				for _, e := range in {
					if err := edi.Representable(f, &e); err != nil {
						if !errors.Is(err, edi.ErrUnrepresentable) {
							t.Fatalf("Representable: %v", err)
						}
						continue
					}
					want = append(want, e)
				}
				out, n, err := edi.Render(f, recorded(in), env)
				if len(want) == 0 {
					// A haulier's truck moves have no ocean status code.
					if name != "214-drayage.x12" || f != edi.Format315 {
						t.Fatal("no event of the sample is representable")
					}
					if out != nil || n != 0 || err != nil {
						t.Fatalf("render of unrepresentable events: %d bytes, %d events, %v", len(out), n, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				if n != len(want) {
					t.Fatalf("rendered %d events, want %d", n, len(want))
				}
				res := translate(t, out, sampleOptions(name))
				if len(res.Events) != len(want) {
					t.Fatalf("read back %d events, want %d\n%s", len(res.Events), len(want), out)
				}
				exact := f == edi.FormatIFTSTA || strings.HasPrefix(name, "315-")
				for i, got := range res.Events {
					if exact {
						if g, w := meaning(got), meaning(want[i]); !reflect.DeepEqual(g, w) {
							t.Errorf("event %d changed on the round trip:\ngot  %s\nwant %s\n%s", i, mustJSON(t, g), mustJSON(t, w), out)
						}
					} else if g, w := wallMeaning(got), wallMeaning(want[i]); g != w {
						t.Errorf("event %d changed on the round trip:\ngot  %s\nwant %s", i, g, w)
					}
					if got.Source.MessageType != map[edi.Format]string{edi.FormatIFTSTA: "IFTSTA", edi.Format315: "315"}[f] {
						t.Errorf("event %d: lineage %+v", i, got.Source)
					}
				}
			})
		}
	}
}

// TestRenderText: service characters in values are released in EDIFACT and
// blanked in X12 (which has no release character); text beyond ISO 8859-1
// makes the interchange UNOY (UTF-8).
func TestRenderText(t *testing.T) {
	e := linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "HOLD", DocumentTypeCode: "CUS",
		EventDateTime:           linkd.Time{Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("", 5*3600+1800))},
		CarrierBookingReference: "BKG+1:2'3?4*5", Reason: "Hải quan: kiểm tra 'X-ray' + seal?",
		EventLocation: &linkd.Location{UNLocationCode: "VNHPH", LocationName: "HAI~PHONG*>"},
	}
	out, n, err := edi.Render(edi.FormatIFTSTA, recorded([]linkd.Event{e}), env)
	if err != nil || n != 1 {
		t.Fatalf("render: %d, %v", n, err)
	}
	if !strings.Contains(string(out), "UNB+UNOY:4+") || !strings.Contains(string(out), "RFF+BN:BKG?+1?:2?'3??4?*5'") {
		t.Errorf("IFTSTA does not release service characters or pick UNOY:\n%s", out)
	}
	back := translate(t, out, options()).Events[0]
	if back.Reason != e.Reason || back.CarrierBookingReference != e.CarrierBookingReference || !back.EventDateTime.Equal(e.EventDateTime.Time) {
		t.Errorf("read back reason %q, booking %q, time %s", back.Reason, back.CarrierBookingReference, back.EventDateTime)
	}
	if _, off := back.EventDateTime.Zone(); off != 5*3600+1800 {
		t.Errorf("zone offset %d, want +05:30", off)
	}
	// A reason longer than one FTX holds, cut between characters only.
	long := e
	long.Reason = strings.Repeat("Kiểm tra hải quan ", 200)
	out, _, err = edi.Render(edi.FormatIFTSTA, recorded([]linkd.Event{long}), env)
	if err != nil {
		t.Fatal(err)
	}
	if got := translate(t, out, options()).Events[0].Reason; got != long.Reason {
		t.Errorf("a reason of %d bytes came back as %d bytes", len(long.Reason), len(got))
	}
	e.ShipmentEventTypeCode, e.Reason = "RELS", ""
	out, _, err = edi.Render(edi.Format315, recorded([]linkd.Event{e}), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "B4***CT*20261203*1000*HAI PHONG  **") || !strings.Contains(string(out), "N9*BN*BKG+1:2'3?4 5~") {
		t.Errorf("315 does not blank its delimiters in values:\n%s", out)
	}
}

func TestRenderRefuses(t *testing.T) {
	inv := linkd.Event{EventType: linkd.Inventory, InventoryEventTypeCode: "STCK"}
	for _, f := range []edi.Format{edi.FormatIFTSTA, edi.Format315} {
		if err := edi.Representable(f, &inv); !errors.Is(err, edi.ErrUnrepresentable) {
			t.Errorf("%s: an inventory event is representable (%v)", f, err)
		}
		out, n, err := edi.Render(f, recorded([]linkd.Event{inv}), env)
		if out != nil || n != 0 || err != nil {
			t.Errorf("%s: rendering only unrepresentable events: %d bytes, %d events, %v; want nothing", f, len(out), n, err)
		}
	}
	est := linkd.Event{EventType: linkd.Equipment, EventClassifierCode: "EST", EquipmentEventTypeCode: "LOAD"}
	if err := edi.Representable(edi.Format315, &est); err == nil {
		t.Error("315 claims to express an estimated loading; its codes are all actual")
	}
	for _, bad := range []edi.Envelope{
		{Sender: "", Recipient: "X"},
		{Sender: "A-SENDER-OF-SIXTEEN", Recipient: "X"},
		{Sender: "A*B", Recipient: "X"},
		{Sender: "A", Recipient: "B", ControlNumber: "12a"},
	} {
		if err := edi.CheckEnvelope(edi.Format315, bad); err == nil {
			t.Errorf("envelope %+v accepted for X12", bad)
		}
	}
	if a, b := edi.ControlNumber("evt_x_1_sub"), edi.ControlNumber("evt_x_1_sub"); a != b || len(a) != 9 || a == edi.ControlNumber("evt_x_2_sub") {
		t.Errorf("ControlNumber is not a stable 9-digit number per seed: %s %s", a, b)
	}
}

// TestAckChoice: a 5010 group gets a 999 unless the caller asks for a 997;
// the acknowledgement is addressed back to the sender with the control
// number asked for.
func TestAckChoice(t *testing.T) {
	data := readSample(t, "315-v5010.x12")
	o := sampleOptions("315-v5010.x12")
	if res := translate(t, data, o); res.AckType != edi.Ack999 {
		t.Errorf("ack type %q, want 999", res.AckType)
	}
	o.X12Ack, o.AckControlNumber = "997", "777"
	res := translate(t, data, o)
	segs := segments(res.Ack, '~')
	if res.AckType != edi.Ack997 || !strings.HasPrefix(segs[0], "ISA*00*          *00*          *ZZ*DCROTTERDAM    *ZZ*OCEANICLINES   *") ||
		!strings.Contains(segs[0], "*000000777*") || !hasSegment(segs, "AK1*QO*52") || !hasSegment(segs, "IEA*1*000000777") {
		t.Errorf("997 with control number 777:\n%s", res.Ack)
	}
	checkAck(t, res)
}
