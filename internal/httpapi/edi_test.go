package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

func readEDI(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("../edi/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPostEDI: an interchange posted to the node is recorded whole with
// its lineage and answered with its acknowledgement; posted again, every
// event is a duplicate; a bad one records nothing and answers the precise
// problems and a negative acknowledgement.
func TestPostEDI(t *testing.T) {
	h := newHarness(t)
	data := readEDI(t, "iftsta-carrier.edi")
	sum := sha256.Sum256(data)

	r := h.request("POST", "/v1/edi", h.writer, data, "Content-Type", "application/EDIFACT")
	r.wantStatus(t, http.StatusCreated)
	var rep edi.Report
	r.decode(t, &rep)
	if rep.Syntax != edi.EDIFACT || rep.ControlNumber != "OL0000417" || rep.Sender != "OCEANICLINES" || rep.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("report %+v does not describe the interchange", rep.Summary)
	}
	if len(rep.Acks) != 12 || rep.Size != 12 || rep.Statuses != 11 || len(rep.Messages) != 4 {
		t.Fatalf("%d acks, size %d, %d statuses in %d messages; want 12 events from 11 statuses in 4 messages", len(rep.Acks), rep.Size, rep.Statuses, len(rep.Messages))
	}
	if rep.AckType != edi.AckCONTRL || !strings.Contains(rep.Acknowledgement, "UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+7'") {
		t.Errorf("acknowledgement %s %q, want a positive CONTRL", rep.AckType, rep.Acknowledgement)
	}
	// Recorded with its lineage, readable like any event.
	var rec linkd.Recorded
	h.get("/v1/events/"+rep.Acks[0].EventID, h.reader).decode(t, &rec)
	if s := rec.Event.Source; s == nil || s.Syntax != "EDIFACT" || s.MessageType != "IFTSTA" || s.InterchangeControlNumber != "OL0000417" ||
		s.MessageReference != "1" || s.InterchangeSHA256 != rep.SHA256 || rec.Event.EquipmentEventTypeCode != "GTOT" {
		t.Errorf("recorded event %+v, source %+v", rec.Event, rec.Event.Source)
	}

	// The same file again: recorded once.
	r = h.request("POST", "/v1/edi", h.writer, data, "Content-Type", "text/plain")
	r.wantStatus(t, http.StatusOK)
	var again edi.Report
	r.decode(t, &again)
	for i, a := range again.Acks {
		if !a.Duplicate || a.EventID != rep.Acks[i].EventID || a.LogIndex != rep.Acks[i].LogIndex {
			t.Fatalf("ack %d on the second import: %+v, want a duplicate of %+v", i, a, rep.Acks[i])
		}
	}
	if h.log.Size() != 12 {
		t.Errorf("log size %d after importing the same interchange twice, want 12", h.log.Size())
	}

	// Refused whole: an unknown status code in the last message.
	bad := []byte(strings.Replace(string(readEDI(t, "iftsta-carrier.edi")), "STS+1+RD::ZZZ", "STS+1+QQ::ZZZ", 1))
	bad = []byte(strings.Replace(string(bad), "OL0000417", "OL0000418", 2))
	r = h.request("POST", "/v1/edi", h.writer, bad, "Content-Type", "application/EDIFACT")
	body := r.wantError(t, http.StatusBadRequest, linkd.EInvalid, "segment 66 (STS) element 2.1")
	var rej edi.Rejection
	if err := json.Unmarshal(r.body, &rej); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Error.Message, `unknown status code "QQ"`) || len(rej.EDI.Problems) != 1 || rej.EDI.Problems[0].Segment != 66 ||
		!strings.Contains(rej.EDI.Acknowledgement, "UCM+4+IFTSTA:D:00B:UN+4'\nUCS+23'\nUCD+12+2:1'") {
		t.Errorf("rejection %s", r.body)
	}
	if h.log.Size() != 12 {
		t.Errorf("a refused interchange changed the log to %d events", h.log.Size())
	}
}

// TestPostEDIAcknowledgementOnly: asked for EDI, the node answers the
// acknowledgement itself, positive or negative.
func TestPostEDIAcknowledgementOnly(t *testing.T) {
	h := newHarness(t)
	r := h.request("POST", "/v1/edi", h.writer, readEDI(t, "315-carrier.x12"), "Content-Type", "application/EDI-X12", "Accept", "application/EDI-X12")
	r.wantStatus(t, http.StatusCreated)
	if ct := r.header.Get("Content-Type"); ct != "application/EDI-X12" || !strings.Contains(string(r.body), "AK9*A*10*10*10~") {
		t.Errorf("Content-Type %q, body %s; want the 997", ct, r.body)
	}
	bad := strings.Replace(string(readEDI(t, "315-carrier.x12")), "SE*4*0009~", "SE*5*0009~", 1)
	r = h.request("POST", "/v1/edi", h.writer, bad, "Content-Type", "application/EDI-X12", "Accept", "application/EDI-X12")
	r.wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "AK2*315*0009~\nAK5*R*4~") || !strings.Contains(string(r.body), "AK9*R*10*10*0~") {
		t.Errorf("negative 997:\n%s", r.body)
	}
	if h.log.Size() != 10 {
		t.Errorf("log size %d, want the 10 events of the first interchange", h.log.Size())
	}
}

// TestPostEDIZone: times without a zone are read in the zone asked for.
func TestPostEDIZone(t *testing.T) {
	h := newHarness(t)
	r := h.request("POST", "/v1/edi?zone=%2B01:00", h.writer, readEDI(t, "214-drayage.x12"), "Content-Type", "text/plain")
	r.wantStatus(t, http.StatusCreated)
	var rep edi.Report
	r.decode(t, &rep)
	var rec linkd.Recorded
	h.get("/v1/events/"+rep.Acks[1].EventID, h.reader).decode(t, &rec)
	if got := rec.Event.EventDateTime.String(); got != "2026-12-05T07:12:00+01:00" {
		t.Errorf("event time %s, want 2026-12-05T07:12:00+01:00", got)
	}
	h.request("POST", "/v1/edi?zone=Mars/Olympus", h.writer, "ISA", "Content-Type", "text/plain").wantError(t, http.StatusBadRequest, linkd.EInvalid, "zone")
}

// TestPostEDIRefusals: the gates and the body checks.
func TestPostEDIRefusals(t *testing.T) {
	h := newHarness(t)
	data := readEDI(t, "315-v5010.x12")
	h.request("POST", "/v1/edi", h.reader, data, "Content-Type", "text/plain").wantError(t, http.StatusForbidden, linkd.EForbidden)
	h.request("POST", "/v1/edi", h.writer, data, "Content-Type", "application/json").wantError(t, http.StatusBadRequest, linkd.EInvalid)
	h.request("POST", "/v1/edi", h.writer, "", "Content-Type", "text/plain").wantError(t, http.StatusBadRequest, linkd.EInvalid)
	body := h.request("POST", "/v1/edi", h.writer, `{"eventType": "SHIPMENT"}`, "Content-Type", "text/plain").wantError(t, http.StatusBadRequest, linkd.EInvalid, "segment 1")
	if !strings.Contains(body.Error.Message, "neither UN/EDIFACT") {
		t.Errorf("message %q", body.Error.Message)
	}
	if h.log.Size() != 0 {
		t.Errorf("refusals recorded %d events", h.log.Size())
	}
}

// TestPostEDILarge: an interchange of more events than a log takes at once
// is recorded whole, in batches.
// TestPostEDILarge records an interchange of 10,000 events, a log's largest
// batch, as one atomic append, and refuses one of 10,800 whole: nothing of it
// is recorded.
func TestPostEDILarge(t *testing.T) {
	h := newHarness(t)
	data := edi.Sample(edi.EDIFACT, 500, 20) // 10,000 statuses, one event each
	r := h.request("POST", "/v1/edi", h.writer, data, "Content-Type", "application/EDIFACT")
	r.wantStatus(t, http.StatusCreated)
	var rep edi.Report
	r.decode(t, &rep)
	if len(rep.Acks) != 10_000 || rep.Size != 10_000 || h.log.Size() != 10_000 {
		t.Fatalf("%d acks, size %d, log %d; want 10,000", len(rep.Acks), rep.Size, h.log.Size())
	}
	for i, a := range rep.Acks {
		if a.LogIndex != int64(i) || a.Duplicate {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	over := edi.Sample(edi.EDIFACT, 600, 18) // 10,800 statuses
	r = h.request("POST", "/v1/edi", h.writer, over, "Content-Type", "application/EDIFACT")
	r.wantStatus(t, http.StatusRequestEntityTooLarge)
	if h.log.Size() != 10_000 {
		t.Fatalf("after the refused interchange the log has %d events, want the 10,000 before it", h.log.Size())
	}
}
