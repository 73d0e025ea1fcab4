package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/docs"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/shipment"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var ctx = context.Background()

func TestAuthGates(t *testing.T) {
	h := newHarness(t)

	t.Run("no token", func(t *testing.T) {
		r := h.get("/v1/events", "")
		r.wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="linkd"` {
			t.Errorf("WWW-Authenticate = %q, want %q", got, `Bearer realm="linkd"`)
		}
		_, err := h.client("").ListEvents(ctx, client.EventQuery{})
		wantCode(t, err, http.StatusUnauthorized, linkd.EUnauthorized)
	})

	secret := unknownToken()
	for _, tc := range []struct{ name, header, inMessage string }{
		{"other scheme", "Basic cmVhZGVyOnB3", "scheme"},
		{"not a token", "Bearer password123", "malformed"},
		{"truncated token", "Bearer " + h.reader[:len(h.reader)-3], "malformed"},
		{"unknown token", "Bearer " + secret, "unknown access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.request("GET", "/v1/events", "", nil, "Authorization", tc.header)
			body := r.wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
			if !strings.Contains(body.Error.Message, tc.inMessage) {
				t.Errorf("message %q does not say %q", body.Error.Message, tc.inMessage)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
			// What was sent is never echoed back.
			if cred := strings.TrimPrefix(strings.TrimPrefix(tc.header, "Bearer "), "Basic "); bytes.Contains(r.body, []byte(cred)) {
				t.Errorf("the answer quotes the credential: %s", r.body)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		tok := h.newToken("to-revoke", access.Reader, 0)
		h.get("/v1/events", tok).wantStatus(t, http.StatusOK)
		id := tok[len("lkd_") : len("lkd_")+10] // lkd_<id>_<secret>
		if err := h.tokens.Revoke(ctx, id); err != nil {
			t.Fatal(err)
		}
		body := h.get("/v1/events", tok).wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
		if !strings.Contains(body.Error.Message, "revoked") {
			t.Errorf("message %q does not say the token was revoked", body.Error.Message)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tok := h.newToken("short-lived", access.Reader, time.Hour)
		h.get("/v1/events", tok).wantStatus(t, http.StatusOK)
		h.clock.Add(59 * time.Minute)
		h.get("/v1/events", tok).wantStatus(t, http.StatusOK)
		h.clock.Add(time.Minute)
		body := h.get("/v1/events", tok).wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
		if !strings.Contains(body.Error.Message, "expired") {
			t.Errorf("message %q does not say the token expired", body.Error.Message)
		}
		// Other tokens never expire.
		h.get("/v1/events", h.reader).wantStatus(t, http.StatusOK)
	})

	t.Run("forbidden", func(t *testing.T) {
		body := h.request("POST", "/v1/events", h.reader, mustJSON(t, gen(1, 5, 1))).wantError(t, http.StatusForbidden, linkd.EForbidden)
		if !strings.Contains(body.Error.Message, "reader") {
			t.Errorf("message %q does not name the role", body.Error.Message)
		}
		if h.log.Size() != 0 {
			t.Errorf("log size %d after a forbidden append, want 0", h.log.Size())
		}
		h.request("POST", "/v1/tokens", h.writer, `{"name":"x","role":"admin"}`).wantError(t, http.StatusForbidden, linkd.EForbidden)
		if n := h.tokens.Count(); n != 6 { // the harness's 4 and the 2 made above
			t.Errorf("%d tokens after a forbidden create, want 6", n)
		}
		h.get("/metrics", h.reader).wantError(t, http.StatusForbidden, linkd.EForbidden)

		r := h.get("/metrics", h.auditor)
		r.wantStatus(t, http.StatusOK)
		if !bytes.Contains(r.body, []byte("linkd_log_size")) {
			t.Errorf("auditor's /metrics has no linkd_log_size:\n%s", r.body)
		}
	})

	t.Run("public", func(t *testing.T) {
		var health map[string]string
		r := h.get("/healthz", "")
		r.wantStatus(t, http.StatusOK)
		r.decode(t, &health)
		if health["status"] != "ok" || health["party"] != party.ID {
			t.Errorf("/healthz = %v", health)
		}
		var ready map[string]any
		r = h.get("/readyz", "")
		r.wantStatus(t, http.StatusOK)
		r.decode(t, &ready)
		if ready["status"] != "ready" || ready["party"] != party.ID || ready["logSize"] != float64(0) {
			t.Errorf("/readyz = %v", ready)
		}
		r = h.get("/openapi.json", "")
		r.wantStatus(t, http.StatusOK)
		if !bytes.Equal(r.body, docs.OpenAPI) {
			t.Errorf("/openapi.json is not the embedded document (%d bytes, want %d)", len(r.body), len(docs.OpenAPI))
		}
		// A bad token on a public endpoint does not matter.
		h.request("GET", "/healthz", "", nil, "Authorization", "Bearer nonsense").wantStatus(t, http.StatusOK)
	})
}

// TestRolePermissions sends every authenticated route with a token of each
// role: the roles the permission matrix denies get 403, the others get past
// the gate.
func TestRolePermissions(t *testing.T) {
	h := newHarness(t)
	tokens := map[string]string{"admin": h.admin, "writer": h.writer, "reader": h.reader, "auditor": h.auditor}
	unknownID := newUUID()
	for _, rt := range []struct {
		method, path string
		body         string
		allowed      []string
	}{
		{"GET", "/metrics", "", []string{"admin", "auditor"}},
		{"POST", "/v1/events", "[]", []string{"admin", "writer"}},
		{"GET", "/v1/events", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/events/" + unknownID, "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/events/" + unknownID + "/proof", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/shipments/OCLVNHAM0000001", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/log/checkpoint", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/log/proof/inclusion?index=0", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/log/proof/consistency?old=0", "", []string{"admin", "writer", "reader", "auditor"}},
		{"GET", "/v1/tokens", "", []string{"admin"}},
		{"POST", "/v1/tokens", "{}", []string{"admin"}},
		{"DELETE", "/v1/tokens/zzzzzzzzzz", "", []string{"admin"}},
		{"GET", "/v2/events", "", []string{"admin", "writer", "reader", "auditor"}},
	} {
		for _, role := range []string{"admin", "writer", "reader", "auditor"} {
			t.Run(rt.method+" "+rt.path+" as "+role, func(t *testing.T) {
				var body any
				if rt.body != "" {
					body = rt.body
				}
				r := h.request(rt.method, rt.path, tokens[role], body)
				if slices.Contains(rt.allowed, role) {
					if r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
						t.Fatalf("status %d, want the %s role let through; body %s", r.status, role, r.body)
					}
					return
				}
				r.wantError(t, http.StatusForbidden, linkd.EForbidden)
			})
		}
	}
}

func TestAppendEvents(t *testing.T) {
	h := newHarness(t)
	events := gen(2, 5, 20)
	r := h.request("POST", "/v1/events", h.writer, mustJSON(t, events))
	r.wantStatus(t, http.StatusCreated)
	var first linkd.AppendResult
	r.decode(t, &first)
	if first.Size != 20 || len(first.Acks) != 20 {
		t.Fatalf("size %d with %d acks, want 20 and 20", first.Size, len(first.Acks))
	}
	for i, a := range first.Acks {
		if a.EventID != events[i].EventID || a.LogIndex != int64(i) || a.Duplicate {
			t.Errorf("ack %d = %+v, want event %s at index %d, not a duplicate", i, a, events[i].EventID, i)
		}
		if leaf, err := base64.StdEncoding.DecodeString(a.LeafHash); err != nil || len(leaf) != 32 {
			t.Errorf("ack %d: leaf hash %q is not 32 bytes of base64", i, a.LeafHash)
		}
	}

	// A retry of the same batch records nothing and answers the same acks.
	r = h.request("POST", "/v1/events", h.writer, mustJSON(t, events))
	r.wantStatus(t, http.StatusOK)
	var again linkd.AppendResult
	r.decode(t, &again)
	if again.Size != 20 || len(again.Acks) != 20 {
		t.Fatalf("retry: size %d with %d acks, want 20 and 20", again.Size, len(again.Acks))
	}
	for i, a := range again.Acks {
		want := first.Acks[i]
		want.Duplicate = true
		if a != want {
			t.Errorf("retry ack %d = %+v, want %+v", i, a, want)
		}
	}

	// A batch of old and new events is 201: something new was recorded.
	more := gen(3, 5, 3)
	mixed := append([]linkd.Event{events[4]}, more...)
	r = h.request("POST", "/v1/events", h.writer, mustJSON(t, mixed))
	r.wantStatus(t, http.StatusCreated)
	var res linkd.AppendResult
	r.decode(t, &res)
	if res.Size != 23 || len(res.Acks) != 4 || !res.Acks[0].Duplicate || res.Acks[0].LogIndex != 4 {
		t.Fatalf("mixed batch answered %+v, want size 23 and the first ack a duplicate at 4", res)
	}
	for i, a := range res.Acks[1:] {
		if a.Duplicate || a.LogIndex != int64(20+i) {
			t.Errorf("mixed batch ack %d = %+v, want new at %d", i+1, a, 20+i)
		}
	}

	// One event, not in an array, is a batch of one.
	one := gen(4, 5, 1)[0]
	r = h.request("POST", "/v1/events", h.writer, mustJSON(t, one))
	r.wantStatus(t, http.StatusCreated)
	r.decode(t, &res)
	if len(res.Acks) != 1 || res.Acks[0].EventID != one.EventID || res.Acks[0].LogIndex != 23 || res.Size != 24 {
		t.Fatalf("single event answered %+v", res)
	}

	// What was recorded reads back, stamped with the node's party.
	got, err := h.client(h.reader).Event(ctx, events[7].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogIndex != 7 || got.Event.Origin != party.ID || got.Event.CarrierBookingReference != events[7].CarrierBookingReference ||
		!got.Event.EventDateTime.Equal(events[7].EventDateTime.Time) || len(got.Salt) != linkd.SaltSize || got.Event.HLC == 0 {
		t.Errorf("GET event 7 = index %d origin %q booking %q time %v salt %d hlc %d", got.LogIndex, got.Event.Origin,
			got.Event.CarrierBookingReference, got.Event.EventDateTime, len(got.Salt), got.Event.HLC)
	}
}

func TestAppendRejectsInvalidBatch(t *testing.T) {
	h := newHarness(t)
	h.appendAll(gen(5, 5, 3), 3)

	events := gen(6, 5, 5)
	events[2].EventClassifierCode = "MAYBE"
	events[4].EventDateTime = linkd.Time{}
	r := h.request("POST", "/v1/events", h.writer, mustJSON(t, events))
	body := r.wantError(t, http.StatusBadRequest, linkd.EInvalid, "events[2].eventClassifierCode", "events[4].eventDateTime")
	for _, p := range body.Error.Problems {
		if !strings.HasPrefix(p.Field, "events[2].") && !strings.HasPrefix(p.Field, "events[4].") {
			t.Errorf("problem %v names a valid event", p)
		}
	}
	if n := h.log.Size(); n != 3 {
		t.Fatalf("log size %d after a rejected batch, want 3", n)
	}
	for _, i := range []int{0, 1, 3} {
		_, err := h.client(h.reader).Event(ctx, events[i].EventID)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
	}

	// The Go client sees the same problems.
	_, err := h.client(h.writer).AppendEvents(ctx, events)
	wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
	if probs := client.Problems(err); !slices.ContainsFunc(probs, func(p linkd.Problem) bool { return p.Field == "events[2].eventClassifierCode" }) {
		t.Errorf("client problems %v do not name events[2].eventClassifierCode", probs)
	}
}

func TestAppendConflict(t *testing.T) {
	h := newHarness(t)
	events := gen(7, 5, 4)
	h.appendAll(events, 4)

	changed := events[1]
	changed.EventClassifierCode = "EST"
	if changed.EventClassifierCode == events[1].EventClassifierCode {
		changed.EventClassifierCode = "PLN"
	}
	fresh := gen(8, 5, 2)
	batch := []linkd.Event{fresh[0], changed, fresh[1]}
	body := h.request("POST", "/v1/events", h.writer, mustJSON(t, batch)).wantError(t, http.StatusConflict, linkd.EConflict)
	if !strings.Contains(body.Error.Message, events[1].EventID) || !strings.Contains(body.Error.Message, "index 1") {
		t.Errorf("message %q does not name the event and where it is recorded", body.Error.Message)
	}
	if n := h.log.Size(); n != 4 {
		t.Fatalf("log size %d after a conflicting batch, want 4", n)
	}
	_, err := h.client(h.writer).AppendEvents(ctx, batch)
	wantCode(t, err, http.StatusConflict, linkd.EConflict)
	rec, err := h.client(h.reader).Event(ctx, events[1].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event.EventClassifierCode != events[1].EventClassifierCode {
		t.Errorf("the recorded event changed to %q", rec.Event.EventClassifierCode)
	}
}

func TestAppendBadRequests(t *testing.T) {
	h := newHarness(t)
	valid := mustJSON(t, gen(9, 5, 2))
	for _, tc := range []struct {
		name        string
		body        string
		contentType string
		inMessage   string
	}{
		{"empty array", "[]", "application/json", "no events"},
		{"empty body", "", "application/json", "empty"},
		{"text content type", string(valid), "text/plain", "Content-Type"},
		{"form content type", string(valid), "application/x-www-form-urlencoded", "Content-Type"},
		{"malformed content type", string(valid), "application/json; =", "Content-Type"},
		{"not JSON", "eventType=SHIPMENT", "application/json", "JSON"},
		{"trailing data", string(valid) + " []", "application/json", "after"},
		{"a string", `"an event"`, "application/json", "want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.request("POST", "/v1/events", h.writer, tc.body, "Content-Type", tc.contentType)
			body := r.wantError(t, http.StatusBadRequest, linkd.EInvalid)
			all := body.Error.Message
			for _, p := range body.Error.Problems {
				all += " " + p.String()
			}
			if !strings.Contains(all, tc.inMessage) {
				t.Errorf("error %q does not mention %q", all, tc.inMessage)
			}
		})
	}
	// application/json with a charset is JSON.
	h.request("POST", "/v1/events", h.writer, valid, "Content-Type", "application/json; charset=utf-8").wantStatus(t, http.StatusCreated)
	if n := h.log.Size(); n != 2 {
		t.Fatalf("log size %d, want only the one good batch of 2", n)
	}
}

func TestBadBodies(t *testing.T) {
	const limit = 64 << 10
	h := newHarness(t, setup{api: func(c *httpapi.Config) { c.MaxBodyBytes = limit }})

	t.Run("over the size limit", func(t *testing.T) {
		big := mustJSON(t, gen(10, 5, 150))
		if len(big) <= limit {
			t.Fatalf("test body is only %d bytes", len(big))
		}
		body := h.request("POST", "/v1/events", h.writer, big).wantError(t, http.StatusRequestEntityTooLarge, linkd.ETooLarge)
		if !strings.Contains(body.Error.Message, strconv.Itoa(limit)) {
			t.Errorf("message %q does not give the limit", body.Error.Message)
		}
		_, err := h.client(h.writer).AppendJSON(ctx, big)
		wantCode(t, err, http.StatusRequestEntityTooLarge, linkd.ETooLarge)
		// Just under the limit is fine.
		evs := gen(11, 5, 40)
		small := mustJSON(t, evs)
		if len(small) > limit {
			t.Fatalf("small body is %d bytes", len(small))
		}
		h.request("POST", "/v1/events", h.writer, small).wantStatus(t, http.StatusCreated)
	})
	size := h.log.Size()

	ev := mustJSON(t, gen(12, 5, 1)[0])
	withField := func(name, value string) string {
		return strings.TrimSuffix(string(ev), "}") + `,"` + name + `":` + value + "}"
	}
	for _, tc := range []struct {
		name      string
		body      string
		field     string // a problem must name it, when set
		inMessage string
	}{
		{"invalid UTF-8", strings.Replace(string(ev), `"ACT"`, "\"A\xffT\"", 1), "", "UTF-8"},
		{"invalid UTF-8 in a batch", "[" + string(ev) + ",\"\xc3\x28\"]", "", "UTF-8"},
		{"nested 100 deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "", "nested"},
		{"nested objects", strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), "", "nested"},
		{"unknown field", withField("colour", `"red"`), "colour", "unknown field"},
		{"unknown field in a batch", "[" + string(ev) + "," + withField("colour", `"red"`) + "]", "events[1].colour", "unknown field"},
		{"wrong type", "[" + string(ev) + "," + strings.Replace(string(ev), `"eventType":"`, `"eventType":7,"x":"`, 1) + "]", "events[1].eventType", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fields []string
			if tc.field != "" {
				fields = append(fields, tc.field)
			}
			body := h.request("POST", "/v1/events", h.writer, tc.body).wantError(t, http.StatusBadRequest, linkd.EInvalid, fields...)
			all := body.Error.Message
			for _, p := range body.Error.Problems {
				all += " " + p.String()
			}
			if !strings.Contains(all, tc.inMessage) {
				t.Errorf("error %q does not mention %q", all, tc.inMessage)
			}
		})
	}
	if n := h.log.Size(); n != size {
		t.Fatalf("log size %d after bad bodies, want %d", n, size)
	}
}

// dataset is the traffic the query, shipment and DCSA tests read: 600 events
// of 12 shipments, appended in batches of 120.
func dataset(t *testing.T, h *harness) []rec {
	t.Helper()
	return h.appendAll(gen(42, 12, 600), 120)
}

func TestQueryFilters(t *testing.T) {
	h := newHarness(t)
	recs := dataset(t, h)
	first := recs[0].ev
	var container string
	for _, r := range recs {
		if r.ev.EventType == linkd.Equipment {
			container = r.ev.EquipmentReference
			break
		}
	}
	from := base.Add(3 * 24 * time.Hour)
	to := base.Add(20 * 24 * time.Hour)
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	in := func(v string, list ...string) bool { return slices.Contains(list, v) }

	for _, tc := range []struct {
		name string
		q    url.Values
		keep func(e *linkd.Event) bool
	}{
		{"everything", url.Values{}, func(e *linkd.Event) bool { return true }},
		{"booking", url.Values{"carrierBookingReference": {first.CarrierBookingReference}},
			func(e *linkd.Event) bool { return e.CarrierBookingReference == first.CarrierBookingReference }},
		{"B/L", url.Values{"transportDocumentReference": {first.TransportDocumentReference}},
			func(e *linkd.Event) bool { return e.TransportDocumentReference == first.TransportDocumentReference }},
		{"container", url.Values{"equipmentReference": {container}},
			func(e *linkd.Event) bool { return e.EquipmentReference == container }},
		{"event type", url.Values{"eventType": {"TRANSPORT"}},
			func(e *linkd.Event) bool { return e.EventType == linkd.Transport }},
		{"event types", url.Values{"eventType": {"SHIPMENT,EQUIPMENT"}},
			func(e *linkd.Event) bool { return e.EventType != linkd.Transport }},
		{"shipment code", url.Values{"shipmentEventTypeCode": {"CONF"}},
			func(e *linkd.Event) bool { return e.ShipmentEventTypeCode == "CONF" }},
		{"transport code", url.Values{"transportEventTypeCode": {"ARRI"}},
			func(e *linkd.Event) bool { return e.TransportEventTypeCode == "ARRI" }},
		{"equipment codes", url.Values{"equipmentEventTypeCode": {"LOAD,DISC"}},
			func(e *linkd.Event) bool { return in(e.EquipmentEventTypeCode, "LOAD", "DISC") }},
		{"equipment code and type", url.Values{"equipmentEventTypeCode": {"LOAD"}, "eventType": {"EQUIPMENT"}},
			func(e *linkd.Event) bool { return e.EquipmentEventTypeCode == "LOAD" }},
		{"codes of two families", url.Values{"equipmentEventTypeCode": {"LOAD"}, "shipmentEventTypeCode": {"CONF"}},
			func(e *linkd.Event) bool { return false }},
		{"location", url.Values{"UNLocationCode": {"SGSIN"}},
			func(e *linkd.Event) bool { return locationOf(e) == "SGSIN" }},
		{"from and to", url.Values{"from": {ts(from)}, "to": {ts(to)}},
			func(e *linkd.Event) bool { return !e.EventDateTime.Before(from) && e.EventDateTime.Before(to) }},
		{"from", url.Values{"from": {from.In(time.FixedZone("ICT", 7*3600)).Format(time.RFC3339)}},
			func(e *linkd.Event) bool { return !e.EventDateTime.Before(from) }},
		{"to", url.Values{"to": {ts(to)}},
			func(e *linkd.Event) bool { return e.EventDateTime.Before(to) }},
		{"own origin", url.Values{"origin": {party.ID}}, func(e *linkd.Event) bool { return true }},
		{"other origin", url.Values{"origin": {"oceanic-lines"}}, func(e *linkd.Event) bool { return false }},
		{"classifier", url.Values{"eventClassifierCode": {"EST"}},
			func(e *linkd.Event) bool { return e.EventClassifierCode == "EST" }},
		{"classifiers", url.Values{"eventClassifierCode": {"PLN", "EST"}},
			func(e *linkd.Event) bool { return e.EventClassifierCode != "ACT" }},
		{"location and classifier", url.Values{"UNLocationCode": {"SGSIN"}, "eventClassifierCode": {"EST"}},
			func(e *linkd.Event) bool { return locationOf(e) == "SGSIN" && e.EventClassifierCode == "EST" }},
		{"booking, type and time", url.Values{"carrierBookingReference": {first.CarrierBookingReference}, "eventType": {"EQUIPMENT"}, "from": {ts(from)}},
			func(e *linkd.Event) bool {
				return e.CarrierBookingReference == first.CarrierBookingReference && e.EventType == linkd.Equipment && !e.EventDateTime.Before(from)
			}},
		{"location in a window", url.Values{"UNLocationCode": {"DEHAM"}, "from": {ts(from)}, "to": {ts(to.Add(20 * 24 * time.Hour))}},
			func(e *linkd.Event) bool {
				return locationOf(e) == "DEHAM" && !e.EventDateTime.Before(from) && e.EventDateTime.Before(to.Add(20*24*time.Hour))
			}},
		{"vessel and departure", url.Values{"vesselIMONumber": {"9778791"}, "transportEventTypeCode": {"DEPA"}},
			func(e *linkd.Event) bool {
				return e.TransportEventTypeCode == "DEPA" && e.TransportCall != nil && e.TransportCall.Vessel != nil && e.TransportCall.Vessel.VesselIMONumber == "9778791"
			}},
		{"voyage", url.Values{"carrierVoyageNumber": {first.TransportCall.CarrierVoyageNumber}},
			func(e *linkd.Event) bool {
				return e.TransportCall != nil && e.TransportCall.CarrierVoyageNumber == first.TransportCall.CarrierVoyageNumber
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := matching(recs, tc.keep)
			sameIDs(t, "one page of 1000", h.pageAll(tc.q, 1000), want)
			sameIDs(t, "pages of 7", h.pageAll(tc.q, 7), want)
		})
	}

	// The paging tests page: these filters match more than one page of 7.
	for _, keep := range []func(e *linkd.Event) bool{
		func(e *linkd.Event) bool { return e.CarrierBookingReference == first.CarrierBookingReference },
		func(e *linkd.Event) bool { return locationOf(e) == "SGSIN" && e.EventClassifierCode == "EST" },
	} {
		if n := len(matching(recs, keep)); n <= 7 {
			t.Errorf("a paged filter matches only %d events; the dataset no longer tests paging", n)
		}
	}
}

func TestQueryParameterErrors(t *testing.T) {
	h := newHarness(t)
	recs := h.appendAll(gen(43, 2, 60), 60)
	b1, b2 := recs[0].ev.CarrierBookingReference, ""
	for _, r := range recs {
		if r.ev.CarrierBookingReference != b1 {
			b2 = r.ev.CarrierBookingReference
			break
		}
	}

	r := h.get("/v1/events?limit=7&carrierBookingReference="+b1, h.reader)
	r.wantStatus(t, http.StatusOK)
	var page linkd.EventPage
	r.decode(t, &page)
	if page.Next == "" {
		t.Fatal("the first page of 7 has no next cursor")
	}
	// The cursor works with its own filter...
	h.get("/v1/events?limit=7&carrierBookingReference="+b1+"&cursor="+page.Next, h.reader).wantStatus(t, http.StatusOK)

	for _, tc := range []struct {
		name, query string
		field       string // a problem names it, when set
		inMessage   string
	}{
		{"cursor of another filter", "carrierBookingReference=" + b2 + "&limit=7&cursor=" + page.Next, "", "other filters"},
		{"cursor without its filter", "limit=7&cursor=" + page.Next, "", "other filters"},
		{"cursor with a filter added", "carrierBookingReference=" + b1 + "&eventType=SHIPMENT&cursor=" + page.Next, "", "other filters"},
		{"malformed cursor", "cursor=not*a*cursor", "", "cursor"},
		{"short cursor", "cursor=AAAA", "", "cursor"},
		{"cursor with a corrupt position", "carrierBookingReference=" + b1 + "&cursor=" + tamper(page.Next), "", "cursor"},
		{"unknown parameter", "carrierBookingReference=" + b1 + "&colour=red", "colour", "unknown query parameter"},
		{"DCSA-only parameter", "eventCreatedDateTime:gte=2026-01-01T00:00:00Z", "eventCreatedDateTime:gte", "unknown query parameter"},
		{"given twice", "carrierBookingReference=" + b1 + "&carrierBookingReference=" + b2, "carrierBookingReference", "given 2 times"},
		{"limit twice", "limit=5&limit=5", "limit", "given 2 times"},
		{"limit 0", "limit=0", "limit", "1 to 1000"},
		{"limit 1001", "limit=1001", "limit", "1 to 1000"},
		{"limit not a number", "limit=ten", "limit", "1 to 1000"},
		{"not UTF-8", "carrierBookingReference=%FF%FE", "carrierBookingReference", "UTF-8"},
		{"not UTF-8 in a list", "eventType=EQUIPMENT,%C3%28", "eventType", "UTF-8"},
		{"bad time", "from=yesterday", "from", "RFC 3339"},
		{"time without zone", "to=2026-03-02T10:00:00", "to", "RFC 3339"},
		{"empty range", "from=2026-03-05T00:00:00Z&to=2026-03-04T00:00:00Z", "eventDateTime", "empty range"},
		{"unknown event type", "eventType=CRUISE", "eventType", "unknown event type"},
		{"unknown classifier", "eventClassifierCode=GUESS", "eventClassifierCode", "unknown classifier"},
		{"value too long", "carrierBookingReference=" + strings.Repeat("B", 201), "carrierBookingReference", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fields []string
			if tc.field != "" {
				fields = append(fields, tc.field)
			}
			body := h.get("/v1/events?"+tc.query, h.reader).wantError(t, http.StatusBadRequest, linkd.EInvalid, fields...)
			all := body.Error.Message
			for _, p := range body.Error.Problems {
				all += " " + p.String()
			}
			if !strings.Contains(all, tc.inMessage) {
				t.Errorf("error %q does not mention %q", all, tc.inMessage)
			}
		})
	}
}

// tamper keeps a cursor's filter tag (its first 8 bytes) and replaces the
// position after it with garbage.
func tamper(cursor string) string {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 8 {
		return cursor + "x"
	}
	return base64.RawURLEncoding.EncodeToString(append(b[:8:8], "garbage"...))
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/nope", "/v1/nothing", "/v1/log", "/v3/events"} {
		body := h.get(path, h.admin).wantError(t, http.StatusNotFound, linkd.ENotFound)
		if !strings.Contains(body.Error.Message, path) {
			t.Errorf("%s: message %q does not name the path", path, body.Error.Message)
		}
	}
	// Without a token too: the 404 gives nothing away.
	h.get("/nope", "").wantError(t, http.StatusNotFound, linkd.ENotFound)

	for _, tc := range []struct {
		method, path string
		allow        []string
	}{
		{"PUT", "/v1/events", []string{"GET", "HEAD", "POST"}},
		{"DELETE", "/v1/events", []string{"GET", "HEAD", "POST"}},
		{"POST", "/healthz", []string{"GET", "HEAD"}},
		{"DELETE", "/readyz", []string{"GET", "HEAD"}},
		{"POST", "/v1/log/checkpoint", []string{"GET", "HEAD"}},
		{"GET", "/v1/tokens/abcdefghij", []string{"DELETE"}},
		{"PATCH", "/v1/tokens", []string{"GET", "HEAD", "POST"}},
		{"POST", "/v2/events", []string{"GET", "HEAD"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := h.request(tc.method, tc.path, h.admin, nil)
			body := r.wantError(t, http.StatusMethodNotAllowed, linkd.EInvalid)
			var allow []string
			for _, m := range strings.Split(r.header.Get("Allow"), ",") {
				allow = append(allow, strings.TrimSpace(m))
			}
			slices.Sort(allow)
			if !slices.Equal(allow, tc.allow) {
				t.Errorf("Allow = %q, want %v", r.header.Get("Allow"), tc.allow)
			}
			if !strings.Contains(body.Error.Message, tc.method) {
				t.Errorf("message %q does not name the method", body.Error.Message)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	frozen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lim := access.NewLimiter(1, 2, func() time.Time { return frozen })
	h := newHarness(t, setup{api: func(c *httpapi.Config) { c.Limiter = lim }})

	// The burst of 2, then nothing: the clock never moves.
	h.get("/v1/events", h.reader).wantStatus(t, http.StatusOK)
	h.get("/v1/log/checkpoint", h.reader).wantStatus(t, http.StatusNotFound) // any route spends from the same bucket
	r := h.get("/v1/events", h.reader)
	r.wantError(t, http.StatusTooManyRequests, linkd.ERateLimited)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q, want a whole number of seconds ≥ 1", r.header.Get("Retry-After"))
	}
	// A refused request takes nothing, and the clock is frozen: it stays refused.
	_, err = h.client(h.reader).ListEvents(ctx, client.EventQuery{})
	ce := wantCode(t, err, http.StatusTooManyRequests, linkd.ERateLimited)
	if ce.RetryAfter < time.Second {
		t.Errorf("client RetryAfter = %s, want ≥ 1s", ce.RetryAfter)
	}
	// Public endpoints are not limited.
	h.get("/healthz", h.reader).wantStatus(t, http.StatusOK)

	// Another token has its own bucket.
	h.get("/v1/events", h.writer).wantStatus(t, http.StatusOK)
	h.get("/v1/events", h.writer).wantStatus(t, http.StatusOK)
	h.get("/v1/events", h.writer).wantError(t, http.StatusTooManyRequests, linkd.ERateLimited)
	h.get("/v1/events", h.auditor).wantStatus(t, http.StatusOK)
}

// bodyStarted calls started once, when the handler first reads the body of
// a POST /v1/events: by then the request holds its concurrency slot.
func bodyStarted(started func()) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" && r.URL.Path == "/v1/events" {
				r.Body = &signalBody{ReadCloser: r.Body, started: started}
			}
			next.ServeHTTP(w, r)
		})
	}
}

type signalBody struct {
	io.ReadCloser
	once    sync.Once
	started func()
}

func (b *signalBody) Read(p []byte) (int, error) {
	b.once.Do(b.started)
	return b.ReadCloser.Read(p)
}

func TestConcurrencyCap(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	h := newHarness(t,
		setup{api: func(c *httpapi.Config) { c.MaxConcurrent = 1 }},
		setup{wrap: bodyStarted(func() { once.Do(func() { close(started) }) })},
	)

	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.srv.URL+"/v1/events", pr)
		req.Header.Set("Authorization", "Bearer "+h.writer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			done <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- response{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	select {
	case <-started:
	case r := <-done:
		t.Fatalf("the held request ended early: %d %s", r.status, r.body)
	case <-time.After(30 * time.Second):
		t.Fatal("the held request never reached its handler")
	}

	// The one slot is taken: others are refused at once, whoever they are.
	r := h.get("/v1/events", h.reader)
	body := r.wantError(t, http.StatusServiceUnavailable, linkd.EUnavailable)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
	}
	if !strings.Contains(body.Error.Message, "1 requests at once") {
		t.Errorf("message %q does not give the limit", body.Error.Message)
	}
	h.get("/v1/events", "").wantError(t, http.StatusServiceUnavailable, linkd.EUnavailable)
	_, err := h.client(h.writer).AppendEvents(ctx, gen(13, 5, 1))
	ce := wantCode(t, err, http.StatusServiceUnavailable, linkd.EUnavailable)
	if ce.RetryAfter != time.Second {
		t.Errorf("client RetryAfter = %s, want 1s", ce.RetryAfter)
	}
	// Health checks are never refused.
	h.get("/healthz", "").wantStatus(t, http.StatusOK)
	h.get("/readyz", "").wantStatus(t, http.StatusOK)

	// Finish the held request: it succeeds, and the slot is free again.
	events := gen(14, 5, 3)
	if _, err := pw.Write(mustJSON(t, events)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	held := <-done
	held.wantStatus(t, http.StatusCreated)
	var res linkd.AppendResult
	held.decode(t, &res)
	if len(res.Acks) != 3 || res.Size != 3 {
		t.Fatalf("held request answered %+v, want 3 acks and size 3", res)
	}
	for range 3 {
		h.get("/v1/events", h.reader).wantStatus(t, http.StatusOK)
	}
}

// TestDrain checks what a load balancer sees once the node starts shutting
// down: /readyz says 503, while requests are still served until the
// listener closes.
func TestDrain(t *testing.T) {
	h := newHarness(t)
	h.appendAll(gen(15, 5, 2), 2)
	h.get("/readyz", "").wantStatus(t, http.StatusOK)

	h.api.Drain()
	r := h.get("/readyz", "")
	body := r.wantError(t, http.StatusServiceUnavailable, linkd.EUnavailable)
	if !strings.Contains(body.Error.Message, "shutting down") {
		t.Errorf("message %q does not say the node is shutting down", body.Error.Message)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a draining /readyz")
	}
	h.get("/healthz", "").wantStatus(t, http.StatusOK)
	h.get("/v1/events", h.reader).wantStatus(t, http.StatusOK)
	h.appendAll(gen(16, 5, 1), 1)
	if n := h.log.Size(); n != 3 {
		t.Errorf("log size %d, want 3: a draining node still takes writes in flight", n)
	}
}

func TestLogAndProofs(t *testing.T) {
	h := newHarness(t)
	c := h.client(h.auditor)

	_, err := c.Checkpoint(ctx, 0)
	wantCode(t, err, http.StatusNotFound, linkd.ENotFound)

	verifier, err := tlog.NewVerifier(h.vkey)
	if err != nil {
		t.Fatal(err)
	}
	open := func(info linkd.CheckpointInfo) linkd.Checkpoint {
		t.Helper()
		cp, err := tlog.OpenCheckpoint([]byte(info.Checkpoint), verifier)
		if err != nil {
			t.Fatalf("checkpoint does not verify: %v", err)
		}
		if cp.Size != info.Size || !bytes.Equal(cp.Hash[:], info.RootHash) || info.Origin != linkd.LogOrigin(party.ID) || info.PublicKey != h.vkey {
			t.Fatalf("checkpoint info %+v disagrees with its signed note %+v", info, cp)
		}
		return cp
	}

	events := gen(20, 5, 10)
	recs := h.appendAll(events, 10)
	info1, err := c.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := open(info1)
	if cp1.Size != 10 || h.log.Size() != 10 {
		t.Fatalf("checkpoint size %d, log size %d, want 10", cp1.Size, h.log.Size())
	}

	t.Run("bundle", func(t *testing.T) {
		for _, i := range []int{0, 3, 9} {
			b, err := c.Proof(ctx, events[i].EventID)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tlog.VerifyBundle(&b, h.vkey)
			if err != nil {
				t.Fatalf("bundle of event %d does not verify: %v", i, err)
			}
			if v.EventID != events[i].EventID || v.LogIndex != int64(i) || v.Party != party.ID || v.Checkpoint.Size != 10 {
				t.Errorf("bundle of event %d verified as %+v", i, v)
			}
			// A bundle that lies about its event fails: the check can fail.
			b.Event.EventClassifierCode = "PLN"
			if events[i].EventClassifierCode == "PLN" {
				b.Event.EventClassifierCode = "EST"
			}
			if _, err := tlog.VerifyBundle(&b, h.vkey); err == nil {
				t.Errorf("a bundle with a changed event verifies")
			}
		}
	})

	t.Run("inclusion", func(t *testing.T) {
		for _, r := range recs {
			got, err := c.Event(ctx, r.ev.EventID)
			if err != nil {
				t.Fatal(err)
			}
			leaf := tlog.Hash(linkd.LeafHash(got.Commitment()))
			p, err := c.InclusionProof(ctx, r.index, cp1.Size)
			if err != nil {
				t.Fatal(err)
			}
			if p.Index != r.index || p.Size != cp1.Size {
				t.Fatalf("proof for %d/%d answered %d/%d", r.index, cp1.Size, p.Index, p.Size)
			}
			proof := hashes(t, p.Hashes)
			if err := tlog.VerifyInclusion(leaf, r.index, cp1.Size, proof, cp1.Hash); err != nil {
				t.Errorf("inclusion of %d does not verify: %v", r.index, err)
			}
			if r.index > 0 {
				if err := tlog.VerifyInclusion(leaf, r.index-1, cp1.Size, proof, cp1.Hash); err == nil {
					t.Errorf("the proof of %d also proves index %d", r.index, r.index-1)
				}
			}
		}
	})

	// The log grows; the old checkpoint is still served and consistent.
	more := gen(21, 5, 7)
	h.appendAll(more, 7)
	info2, err := c.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp2 := open(info2)
	if cp2.Size != 17 {
		t.Fatalf("checkpoint size %d after 17 events", cp2.Size)
	}
	t.Run("consistency", func(t *testing.T) {
		old, err := c.Checkpoint(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if open(old).Hash != cp1.Hash {
			t.Fatalf("the checkpoint at size 10 changed")
		}
		p, err := c.ConsistencyProof(ctx, cp1.Size, cp2.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyConsistency(cp1.Size, cp1.Hash, cp2.Size, cp2.Hash, hashes(t, p.Hashes)); err != nil {
			t.Fatalf("consistency 10→17 does not verify: %v", err)
		}
		if err := tlog.VerifyConsistency(cp1.Size, cp2.Hash, cp2.Size, cp2.Hash, hashes(t, p.Hashes)); err == nil {
			t.Fatal("the proof verifies against the wrong old root")
		}
		// The inclusion proof of a new event against the new root.
		got, err := c.Event(ctx, more[6].EventID)
		if err != nil {
			t.Fatal(err)
		}
		ip, err := c.InclusionProof(ctx, got.LogIndex, cp2.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(linkd.LeafHash(got.Commitment()), got.LogIndex, cp2.Size, hashes(t, ip.Hashes), cp2.Hash); err != nil {
			t.Fatalf("inclusion of %d in 17 does not verify: %v", got.LogIndex, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := c.InclusionProof(ctx, 17, 17)
		wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
		_, err = c.InclusionProof(ctx, 0, 18)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
		_, err = c.ConsistencyProof(ctx, 12, 11)
		wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
		_, err = c.ConsistencyProof(ctx, 3, 18)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
		_, err = c.Checkpoint(ctx, 18)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
		h.get("/v1/log/proof/inclusion", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "index")
		h.get("/v1/log/proof/inclusion?index=-1", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "index")
		h.get("/v1/log/proof/inclusion?index=1&size=0", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "size")
		h.get("/v1/log/proof/consistency", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "old")
		h.get("/v1/log/checkpoint?size=x", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "size")
		h.get("/v1/log/checkpoint?index=1", h.auditor).wantError(t, http.StatusBadRequest, linkd.EInvalid, "index")

		unknown := newUUID()
		_, err = c.Proof(ctx, unknown)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
		_, err = c.Event(ctx, unknown)
		wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
		for _, id := range []string{"42", "not-a-uuid", strings.ToUpper(events[0].EventID)} {
			_, err = c.Proof(ctx, id)
			wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
			_, err = c.Event(ctx, id)
			wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
		}
	})
}

func hashes(t *testing.T, bs [][]byte) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != 32 {
			t.Fatalf("proof hash %d has %d bytes", i, len(b))
		}
		copy(out[i][:], b)
	}
	return out
}

func TestShipments(t *testing.T) {
	h := newHarness(t)
	recs := dataset(t, h)
	c := h.client(h.reader)
	first := recs[0].ev
	var container string
	for _, r := range recs {
		if r.ev.EventType == linkd.Equipment && r.ev.CarrierBookingReference != first.CarrierBookingReference {
			container = r.ev.EquipmentReference
			break
		}
	}

	for _, tc := range []struct {
		name, ref string
		keep      func(e *linkd.Event) bool
	}{
		{"booking", first.CarrierBookingReference, func(e *linkd.Event) bool { return e.CarrierBookingReference == first.CarrierBookingReference }},
		{"B/L", first.TransportDocumentReference, func(e *linkd.Event) bool { return e.TransportDocumentReference == first.TransportDocumentReference }},
		{"container", container, func(e *linkd.Event) bool { return e.EquipmentReference == container }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the log holds for the reference, read straight from it.
			var stored []linkd.Recorded
			want := map[string]bool{}
			for _, r := range recs {
				if tc.keep(&r.ev) {
					got, err := h.log.Get(ctx, r.index)
					if err != nil {
						t.Fatal(err)
					}
					stored = append(stored, got)
					want[r.ev.EventID] = true
				}
			}
			if len(stored) < 3 {
				t.Fatalf("the reference names only %d events", len(stored))
			}
			wantState, wantTimeline := shipment.Build(tc.ref, stored)

			view, err := c.Shipment(ctx, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(view.Timeline) != len(want) || view.Truncated {
				t.Fatalf("timeline of %d events (truncated %v), want %d", len(view.Timeline), view.Truncated, len(want))
			}
			var got, wantIDs []string
			for i, e := range view.Timeline {
				if !want[e.Event.EventID] {
					t.Errorf("timeline holds %s, which does not name %s", e.Event.EventID, tc.ref)
				}
				if i > 0 && e.Event.EventDateTime.Before(view.Timeline[i-1].Event.EventDateTime.Time) {
					t.Errorf("timeline entry %d is earlier than entry %d", i, i-1)
				}
				got = append(got, e.Event.EventID)
			}
			for _, e := range wantTimeline {
				wantIDs = append(wantIDs, e.Event.EventID)
			}
			sameIDs(t, "timeline", got, wantIDs)
			s := view.State
			if s.Ref != tc.ref || s.Status != wantState.Status || s.StatusEvent != wantState.StatusEvent ||
				s.LastEvent != wantState.LastEvent || s.Events != len(want) || len(s.OpenHolds) != len(wantState.OpenHolds) {
				t.Errorf("state = ref %q status %s (by %s) last %s events %d holds %d\nwant ref %q status %s (by %s) last %s events %d holds %d",
					s.Ref, s.Status, s.StatusEvent, s.LastEvent, s.Events, len(s.OpenHolds),
					tc.ref, wantState.Status, wantState.StatusEvent, wantState.LastEvent, len(want), len(wantState.OpenHolds))
			}
			if s.Status == linkd.StatusUnknown {
				t.Errorf("status UNKNOWN for a shipment with %d actual events", len(want))
			}
		})
	}

	_, err := c.Shipment(ctx, "OCLVNHAM9999999")
	wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
	_, err = c.Shipment(ctx, strings.Repeat("X", 101))
	wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
}

func TestDCSAEvents(t *testing.T) {
	h := newHarness(t)
	recs := dataset(t, h)
	byID := map[string]linkd.Event{}
	var created []time.Time
	for _, r := range recs {
		byID[r.ev.EventID] = r.ev
		created = append(created, r.ev.EventCreatedDateTime.Time)
	}
	slices.SortFunc(created, func(a, b time.Time) int { return a.Compare(b) })
	since := created[len(created)/2]
	want := matching(recs, func(e *linkd.Event) bool { return !e.EventCreatedDateTime.Before(since) })

	q := url.Values{"eventCreatedDateTime:gte": {since.Format(time.RFC3339)}, "limit": {"50"}}
	next := "/v2/events?" + q.Encode()
	var got []string
	for pages := 0; next != ""; pages++ {
		if pages > len(want) {
			t.Fatal("paging does not end")
		}
		r := h.get(next, h.reader)
		r.wantStatus(t, http.StatusOK)
		if v := r.header.Get("API-Version"); v != "2.2.0" {
			t.Fatalf("API-Version = %q, want 2.2.0", v)
		}
		if r.header.Get("Current-Page") == "" || r.header.Get("First-Page") == "" {
			t.Errorf("no Current-Page or First-Page header: %v", r.header)
		}
		var raw []map[string]any
		r.decode(t, &raw)
		if len(raw) > 50 {
			t.Fatalf("a page of %d events, over the limit 50", len(raw))
		}
		for _, m := range raw {
			for _, linkdOnly := range []string{"origin", "hlc", "parties", "residency", "visibility", "causedBy", "carrierBookingReference", "transportDocumentReference"} {
				if _, ok := m[linkdOnly]; ok {
					t.Fatalf("DCSA event has linkd's field %q: %v", linkdOnly, m)
				}
			}
			id, _ := m["eventID"].(string)
			e, ok := byID[id]
			if !ok {
				t.Fatalf("unknown event %q in the answer", id)
			}
			refs := map[string]string{}
			list, _ := m["documentReferences"].([]any)
			for _, x := range list {
				d, _ := x.(map[string]any)
				refs[fmt.Sprint(d["documentReferenceType"])] = fmt.Sprint(d["documentReferenceValue"])
			}
			if refs["BKG"] != e.CarrierBookingReference || refs["TRD"] != e.TransportDocumentReference || len(refs) != 2 {
				t.Fatalf("event %s: documentReferences %v, want BKG %s and TRD %s", id, refs, e.CarrierBookingReference, e.TransportDocumentReference)
			}
			if m["eventType"] != string(e.EventType) || m["eventClassifierCode"] != e.EventClassifierCode {
				t.Fatalf("event %s: type %v/%v, want %s/%s", id, m["eventType"], m["eventClassifierCode"], e.EventType, e.EventClassifierCode)
			}
			if e.EventType == linkd.Transport {
				tc, _ := m["transportCall"].(map[string]any)
				if tc["UNLocationCode"] != e.TransportCall.Location.UNLocationCode {
					t.Fatalf("event %s: transportCall.UNLocationCode %v, want %s", id, tc["UNLocationCode"], e.TransportCall.Location.UNLocationCode)
				}
			}
			got = append(got, id)
		}
		next = r.header.Get("Next-Page")
		if next != "" && !strings.HasPrefix(next, h.srv.URL+"/v2/events?") {
			t.Fatalf("Next-Page = %q, want a URL of this node's /v2/events", next)
		}
	}
	sameIDs(t, "events created since "+since.String(), got, want)

	t.Run("unsupported parameter", func(t *testing.T) {
		r := h.get("/v2/events?bookingReference=OCLVNHAM0000001", h.reader)
		r.wantStatus(t, http.StatusBadRequest)
		if v := r.header.Get("API-Version"); v != "2.2.0" {
			t.Errorf("API-Version = %q on an error", v)
		}
		var e struct {
			linkd.ErrorBody
			HTTPMethod     string `json:"httpMethod"`
			RequestURI     string `json:"requestUri"`
			StatusCode     int    `json:"statusCode"`
			StatusCodeText string `json:"statusCodeText"`
			ErrorDateTime  string `json:"errorDateTime"`
			Errors         []struct {
				Reason, Message string
			} `json:"errors"`
		}
		r.decode(t, &e)
		if e.HTTPMethod != "GET" || e.RequestURI != "/v2/events?bookingReference=OCLVNHAM0000001" || e.StatusCode != 400 || e.StatusCodeText != "Bad Request" {
			t.Errorf("DCSA error fields: %s", r.body)
		}
		if _, err := time.Parse(time.RFC3339, e.ErrorDateTime); err != nil {
			t.Errorf("errorDateTime %q: %v", e.ErrorDateTime, err)
		}
		if len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Message, "bookingReference") || !strings.Contains(e.Errors[0].Message, "carrierBookingReference") {
			t.Errorf("errors = %+v, want one naming bookingReference and its replacement", e.Errors)
		}
		if e.Error.Code != linkd.EInvalid || len(e.Error.Problems) != 1 || e.Error.Problems[0].Field != "bookingReference" {
			t.Errorf("linkd error = %+v", e.Error)
		}
	})
	t.Run("filters", func(t *testing.T) {
		booking := recs[0].ev.CarrierBookingReference
		r := h.get("/v2/events?limit=1000&carrierBookingReference="+booking+"&eventType=EQUIPMENT", h.reader)
		r.wantStatus(t, http.StatusOK)
		var evs []struct {
			EventID string `json:"eventID"`
		}
		r.decode(t, &evs)
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.EventID)
		}
		sameIDs(t, "DCSA booking and type", ids, matching(recs, func(e *linkd.Event) bool {
			return e.CarrierBookingReference == booking && e.EventType == linkd.Equipment
		}))
		if r.header.Get("Next-Page") != "" {
			t.Errorf("Next-Page on the only page: %q", r.header.Get("Next-Page"))
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, q := range []string{"limit=0", "eventCreatedDateTime:gte=soon", "colour=red", "limit=2&limit=3"} {
			r := h.get("/v2/events?"+q, h.reader)
			r.wantError(t, http.StatusBadRequest, linkd.EInvalid)
			if !bytes.Contains(r.body, []byte(`"requestUri"`)) {
				t.Errorf("%s: not a DCSA error: %s", q, r.body)
			}
		}
		r := h.get("/v2/events", "")
		r.wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
		if !bytes.Contains(r.body, []byte(`"statusCode":401`)) {
			t.Errorf("401 on /v2 is not a DCSA error: %s", r.body)
		}
	})
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	events := gen(30, 5, 25)
	h.appendAll(events[:10], 10)
	h.appendAll(events[10:], 15)
	// A retry: duplicates are counted apart.
	h.request("POST", "/v1/events", h.writer, mustJSON(t, events[:10])).wantStatus(t, http.StatusOK)
	h.get("/metrics", h.reader).wantStatus(t, http.StatusForbidden)
	h.get("/v1/events", "").wantStatus(t, http.StatusUnauthorized)

	r := h.get("/metrics", h.auditor)
	r.wantStatus(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(r.body), "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`linkd_ingest_events_total{result="new"} 25`,
		`linkd_ingest_events_total{result="duplicate"} 10`,
		`linkd_log_size 25`,
		`linkd_log_commit_events_count 2`,
		`linkd_log_commit_events_sum 25`,
		`linkd_ingest_request_events_count 3`,
		`linkd_http_rejected_total{reason="forbidden"} 1`,
		`linkd_http_rejected_total{reason="unauthorized"} 1`,
	} {
		if !lines[want] {
			t.Errorf("/metrics has no line %q", want)
		}
	}
	if !bytes.Contains(r.body, []byte(`linkd_http_request_duration_seconds_count{code="201",method="POST",route="POST /v1/events"} 2`)) {
		t.Errorf("/metrics does not count the two 201s of POST /v1/events")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grep(string(r.body), "linkd_"))
	}

	// A node without metrics answers 404.
	bare := newHarness(t, setup{api: func(c *httpapi.Config) { c.Metrics = nil }})
	bare.get("/metrics", bare.auditor).wantError(t, http.StatusNotFound, linkd.ENotFound)
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTokensAPI(t *testing.T) {
	h := newHarness(t)

	r := h.request("POST", "/v1/tokens", h.admin, `{"name":"tms-prod","role":"Writer","ttl":"720h"}`)
	r.wantStatus(t, http.StatusCreated)
	var nt linkd.NewToken
	r.decode(t, &nt)
	if !strings.HasPrefix(nt.Token, "lkd_"+nt.Info.ID+"_") || nt.Info.Role != "writer" || nt.Info.Name != "tms-prod" {
		t.Fatalf("created %+v", nt)
	}
	if want := h.clock.Now().Add(720 * time.Hour); !nt.Info.ExpiresAt.Equal(want) || !nt.Info.Created.Equal(h.clock.Now()) {
		t.Errorf("created %s, expires %s; want %s and %s", nt.Info.Created, nt.Info.ExpiresAt, h.clock.Now(), want)
	}
	// The new token works with its role.
	h.appendAll(gen(31, 5, 2), 2)
	if _, err := h.client(nt.Token).AppendEvents(ctx, gen(32, 5, 1)); err != nil {
		t.Fatalf("the new writer token cannot append: %v", err)
	}
	h.get("/v1/tokens", nt.Token).wantError(t, http.StatusForbidden, linkd.EForbidden)

	// The list never shows a secret.
	r = h.get("/v1/tokens", h.admin)
	r.wantStatus(t, http.StatusOK)
	secret := nt.Token[len(nt.Token)-43:]
	for _, tok := range []string{nt.Token, secret, h.admin, h.admin[len(h.admin)-43:], h.writer[len(h.writer)-43:]} {
		if bytes.Contains(r.body, []byte(tok)) {
			t.Fatalf("the token list shows a secret: %s", r.body)
		}
	}
	var list struct {
		Tokens []linkd.TokenInfo `json:"tokens"`
	}
	r.decode(t, &list)
	if len(list.Tokens) != 5 {
		t.Fatalf("%d tokens listed, want 5", len(list.Tokens))
	}
	i := slices.IndexFunc(list.Tokens, func(ti linkd.TokenInfo) bool { return ti.ID == nt.Info.ID })
	if i < 0 || list.Tokens[i].Role != "writer" || !list.Tokens[i].Revoked.IsZero() {
		t.Fatalf("the new token is not listed as an active writer: %+v", list.Tokens)
	}

	// Revoked, it stops working at once.
	r = h.request("DELETE", "/v1/tokens/"+nt.Info.ID, h.admin, nil)
	r.wantStatus(t, http.StatusOK)
	var revoked linkd.TokenInfo
	r.decode(t, &revoked)
	if revoked.ID != nt.Info.ID || !revoked.Revoked.Equal(h.clock.Now()) {
		t.Fatalf("revoke answered %+v", revoked)
	}
	body := h.get("/v1/events", nt.Token).wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
	if !strings.Contains(body.Error.Message, "revoked") {
		t.Errorf("message %q does not say revoked", body.Error.Message)
	}
	toks, err := h.client(h.admin).ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(toks, func(ti linkd.TokenInfo) bool { return ti.ID == nt.Info.ID }); i < 0 || toks[i].Revoked.IsZero() {
		t.Errorf("the list does not show the token revoked: %+v", toks)
	}
	// Revoking again is harmless; an unknown id is not found.
	h.request("DELETE", "/v1/tokens/"+nt.Info.ID, h.admin, nil).wantStatus(t, http.StatusOK)
	_, err = h.client(h.admin).RevokeToken(ctx, "zzzzzzzzzz")
	wantCode(t, err, http.StatusNotFound, linkd.ENotFound)
	r = h.request("DELETE", "/v1/tokens/"+nt.Token, h.admin, nil)
	r.wantError(t, http.StatusNotFound, linkd.ENotFound)
	if bytes.Contains(r.body, []byte(secret)) {
		t.Errorf("revoking by the whole token echoes its secret: %s", r.body)
	}

	for _, tc := range []struct {
		name, body string
		fields     []string
		status     int
		code       string
	}{
		{"unknown role", `{"name":"x","role":"superuser"}`, []string{"role"}, 400, linkd.EInvalid},
		{"no role", `{"name":"x"}`, []string{"role"}, 400, linkd.EInvalid},
		{"negative ttl", `{"name":"x","role":"reader","ttl":"-5h"}`, []string{"ttl"}, 400, linkd.EInvalid},
		{"ttl not a duration", `{"name":"x","role":"reader","ttl":"a month"}`, []string{"ttl"}, 400, linkd.EInvalid},
		{"ttl too long", `{"name":"x","role":"reader","ttl":"100000h"}`, []string{"ttl"}, 400, linkd.EInvalid},
		{"bad role and ttl", `{"name":"x","role":"root","ttl":"0s"}`, []string{"role", "ttl"}, 400, linkd.EInvalid},
		{"no name", `{"role":"reader"}`, nil, 400, linkd.EInvalid},
		{"unknown field", `{"name":"x","role":"reader","scope":"all"}`, nil, 400, linkd.EInvalid},
		{"not JSON", `name=x`, nil, 400, linkd.EInvalid},
		{"too large", `{"name":"` + strings.Repeat("x", 5000) + `","role":"reader"}`, nil, 413, linkd.ETooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := h.request("POST", "/v1/tokens", h.admin, tc.body).wantError(t, tc.status, tc.code, tc.fields...)
			if tc.name == "unknown field" && !strings.Contains(body.Error.Message, "scope") {
				t.Errorf("message %q does not name the unknown field", body.Error.Message)
			}
		})
	}
	if n := h.tokens.Count(); n != 5 {
		t.Errorf("%d tokens after refused creates, want 5", n)
	}
	_, err = h.client(h.admin).CreateToken(ctx, "x", "nobody", 0)
	wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
	if probs := client.Problems(err); len(probs) != 1 || probs[0].Field != "role" {
		t.Errorf("client problems = %v, want one naming role", probs)
	}
}

func TestDCSAQueryLimits(t *testing.T) {
	h := newHarness(t)
	for _, q := range []string{
		"carrierBookingReference=%FF%FE",
		"carrierBookingReference=" + strings.Repeat("B", 5000),
		"equipmentEventTypeCode=" + strings.Repeat("LOAD,", 3000),
	} {
		r := h.get("/v2/events?"+q, h.reader)
		if r.status != http.StatusBadRequest {
			t.Errorf("/v2/events?%.60s…: status %d, want 400 as /v1/events answers", q, r.status)
			continue
		}
		r.wantError(t, http.StatusBadRequest, linkd.EInvalid)
	}
}
