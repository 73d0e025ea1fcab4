package subscribe_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// ediReceiver is a partner's EDI endpoint: it verifies each delivery's
// signature and keeps the bodies it took, by webhook-id.
type ediReceiver struct {
	srv     *httptest.Server
	secrets []webhook.Secret

	mu       sync.Mutex
	attempts map[string][][]byte // every attempt's body, by webhook-id
	types    []string
	bad      int
}

func newEDIReceiver(t *testing.T) *ediReceiver {
	rc := &ediReceiver{attempts: map[string][][]byte{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.secrets) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := webhook.Verify(rc.secrets, r.Header, body, time.Now(), 0); err != nil {
			rc.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.attempts[id] = append(rc.attempts[id], body)
		rc.types = append(rc.types, r.Header.Get("Content-Type"))
		if len(rc.attempts[id]) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt of each fails: retries must carry the same bytes
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *ediReceiver) taken() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, a := range rc.attempts {
		if len(a) >= 2 {
			n++
		}
	}
	return n
}

// TestWebhookDeliversEDI: a subscription in X12 315 delivers each event it
// can express as a signed 315 interchange, the same bytes on every retry,
// which reads back as the event; the others are skipped and counted.
func TestWebhookDeliversEDI(t *testing.T) {
	f := newFixture(t)
	rc := newEDIReceiver(t)
	c, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: rc.srv.URL,
		Format: subscribe.FormatX12315, EDISender: "HPTERMINAL", EDIRecipient: "VNFORWARDING",
		Filter: expr.Filter{CarrierBookingReferences: []string{"BKG2612010001"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Subscription; v.Format != "x12-315" || v.EDIRecipient != "VNFORWARDING" {
		t.Errorf("view %+v does not show the format", v)
	}
	rc.mu.Lock()
	rc.secrets = []webhook.Secret{mustSecret(t, c.Secret)}
	rc.mu.Unlock()

	at := linkd.Time{Time: time.Date(2026, 12, 1, 8, 15, 0, 0, time.UTC)}
	loc := &linkd.Location{UNLocationCode: "VNHPH"}
	events := []linkd.Event{
		{EventType: linkd.Equipment, EventClassifierCode: "ACT", EventDateTime: at, EquipmentEventTypeCode: "GTIN", EmptyIndicatorCode: "LADEN",
			EquipmentReference: "MSKU1234565", CarrierBookingReference: "BKG2612010001", EventLocation: loc},
		{EventType: linkd.Transport, EventClassifierCode: "ACT", EventDateTime: at, TransportEventTypeCode: "DEPA", CarrierBookingReference: "BKG2612010001",
			TransportCall: &linkd.TransportCall{ModeOfTransport: "VESSEL", Location: loc, CarrierVoyageNumber: "0042W",
				Vessel: &linkd.Vessel{VesselIMONumber: "9321483", VesselName: "OCEANIC PIONEER"}}},
		// A drafted shipping instruction has no 315 status code.
		{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventDateTime: at, ShipmentEventTypeCode: "DRFT", DocumentTypeCode: "SHI", CarrierBookingReference: "BKG2612010001"},
	}
	acks, err := f.log.Append(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two EDI deliveries taken", func() bool { return rc.taken() == 2 })
	sub, err := f.mgr.Get(owner, c.Subscription.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the skipped event counted", func() bool {
		v := f.mgr.View(sub)
		return v.Status != nil && v.Status.Skipped == 1 && v.Status.Lag == 0
	})

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 {
		t.Errorf("%d deliveries failed signature verification", rc.bad)
	}
	for _, ct := range rc.types {
		if ct != "application/EDI-X12" {
			t.Errorf("Content-Type %q, want application/EDI-X12", ct)
		}
	}
	for i, e := range events[:2] {
		id := "evt_" + f.log.Party().ID + "_" + itoa(acks[i].LogIndex) + "_" + c.Subscription.ID
		got := rc.attempts[id]
		if len(got) < 2 {
			t.Fatalf("event %d: %d attempts under %s", i, len(got), id)
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Errorf("event %d: the retry carried other bytes:\n%s\n%s", i, got[0], got[1])
		}
		if !strings.Contains(string(got[0]), "*ZZ*HPTERMINAL     *ZZ*VNFORWARDING   *") {
			t.Errorf("event %d: not addressed from HPTERMINAL to VNFORWARDING:\n%s", i, got[0])
		}
		res, err := edi.Translate(got[0], edi.Options{})
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("event %d: the delivery does not read back: %v\n%s", i, err, got[0])
		}
		back := res.Events[0]
		if back.EventType != e.EventType || back.TypeCode() != e.TypeCode() || !back.EventDateTime.Equal(at.Time) || back.CarrierBookingReference != e.CarrierBookingReference {
			t.Errorf("event %d reads back as %+v", i, back)
		}
	}
}

func TestCreateRefusesBadFormats(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name  string
		req   subscribe.Request
		field string
		want  string
	}{
		{"EDI on a stream", subscribe.Request{Delivery: subscribe.Stream, Format: "iftsta", EDIRecipient: "X"}, "format", "JSON only"},
		{"unknown format", subscribe.Request{Delivery: subscribe.Webhook, URL: "http://127.0.0.1:9/", Format: "xml"}, "format", `"xml"`},
		{"no recipient", subscribe.Request{Delivery: subscribe.Webhook, URL: "http://127.0.0.1:9/", Format: "iftsta"}, "ediRecipient", "required"},
		{"a party id too long for ISA06", subscribe.Request{Delivery: subscribe.Webhook, URL: "http://127.0.0.1:9/", Format: "x12-315", EDIRecipient: "P"}, "ediSender", "give ediSender"},
		{"addressing without EDI", subscribe.Request{Delivery: subscribe.Webhook, URL: "http://127.0.0.1:9/", EDIRecipient: "P"}, "ediRecipient", "only for"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.mgr.Create(context.Background(), owner.ID, tt.req)
			probs := linkdProblems(err)
			if linkd.ErrorCode(err) != linkd.EInvalid || len(probs) == 0 || probs[0].Field != tt.field || !strings.Contains(probs[0].Reason, tt.want) {
				t.Fatalf("Create = %v, want an invalid %s saying %q", err, tt.field, tt.want)
			}
		})
	}
}

func linkdProblems(err error) []linkd.Problem {
	if ve, ok := err.(*linkd.ValidationError); ok {
		return ve.Problems
	}
	return nil
}

func mustSecret(t *testing.T, s string) webhook.Secret {
	t.Helper()
	sec, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
