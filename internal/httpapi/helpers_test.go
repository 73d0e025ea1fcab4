package httpapi_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/docs"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// party is the node's party in every test: the lane's terminal, whose
// jurisdiction (VN, ASEAN) admits the scenario's events (they carry no
// residency).
var party = scenario.Terminal

// base is when the generated traffic starts.
var base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// clock is a settable clock for the token store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a node's API over its real parts: Pebble in a temporary
// directory, the party log, the token store and metrics, served over TLS on
// loopback.
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	api     *httpapi.Server
	db      *pebble.DB // the store under log, for tests that damage it
	log     *partylog.Log
	tokens  *access.Store
	metrics *httpapi.Metrics
	clock   *clock
	vkey    string // the log's verifier key

	// A token of each role.
	admin, writer, reader, auditor string
}

// setup adjusts a harness before it starts: the API's config, and an outer
// handler around the API (nil keeps it bare).
type setup struct {
	api  func(*httpapi.Config)
	wrap func(http.Handler) http.Handler
}

func newHarness(t *testing.T, opts ...setup) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}}
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(party.ID))
	if err != nil {
		t.Fatal(err)
	}
	h.vkey = vkey
	h.metrics = httpapi.NewMetrics()
	// Wired as internal/node wires it.
	h.log, err = partylog.Open(db, partylog.Config{
		Self: party, SigningKey: skey,
		OnCommit: func(c partylog.CommitInfo) { h.metrics.ObserveCommit(c.Events, c.SyncDuration, c.Size) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.log.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	h.metrics.SetLogSize(h.log.Size())
	h.tokens, err = access.Open(db, access.Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.admin = h.newToken("admin", access.Admin, 0)
	h.writer = h.newToken("writer", access.Writer, 0)
	h.reader = h.newToken("reader", access.Reader, 0)
	h.auditor = h.newToken("auditor", access.Auditor, 0)

	cfg := httpapi.Config{Self: party, Log: h.log, Tokens: h.tokens, Metrics: h.metrics, OpenAPI: docs.OpenAPI}
	for _, o := range opts {
		if o.api != nil {
			o.api(&cfg)
		}
	}
	h.api = httpapi.New(cfg)
	var handler http.Handler = h.api
	for _, o := range opts {
		if o.wrap != nil {
			handler = o.wrap(handler)
		}
	}
	h.srv = httptest.NewTLSServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

// newToken issues a token straight from the store.
func (h *harness) newToken(name string, role access.Role, ttl time.Duration) string {
	h.t.Helper()
	plain, _, err := h.tokens.Create(context.Background(), name, role, ttl)
	if err != nil {
		h.t.Fatal(err)
	}
	return plain
}

// client returns the Go client of the node with token.
func (h *harness) client(token string) *client.Client {
	h.t.Helper()
	c, err := client.New(h.srv.URL, client.Options{Token: token, HTTPClient: h.srv.Client()})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// response is a raw answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request sends a raw request to path (or to a whole https:// URL); body may be nil, a []byte, a string or an
// io.Reader. hdr adds headers (Content-Type defaults to application/json
// when there is a body).
func (h *harness) request(method, path, token string, body any, hdr ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		h.t.Fatalf("request body of type %T", body)
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = h.srv.URL + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (h *harness) get(path, token string) response { return h.request("GET", path, token, nil) }

// decode decodes a JSON answer into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json; body %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantStatus fails unless the answer has status.
func (r response) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantError fails unless the answer is an ErrorBody with status and code
// whose problems name every one of fields. It returns the body.
func (r response) wantError(t *testing.T, status int, code string, fields ...string) linkd.ErrorBody {
	t.Helper()
	r.wantStatus(t, status)
	var body linkd.ErrorBody
	r.decode(t, &body)
	if body.Error.Code != code {
		t.Fatalf("error.code = %q, want %q; body %s", body.Error.Code, code, r.body)
	}
	if body.Error.Message == "" {
		t.Errorf("error.message is empty; body %s", r.body)
	}
	for _, f := range fields {
		if !slices.ContainsFunc(body.Error.Problems, func(p linkd.Problem) bool { return p.Field == f }) {
			t.Errorf("no problem names %q; problems %v", f, body.Error.Problems)
		}
	}
	return body
}

// wantCode fails unless err, from the Go client, carries code and status.
func wantCode(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := linkd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	ce, ok := err.(*client.Error)
	if !ok {
		t.Fatalf("error is %T (%v), want *client.Error", err, err)
	}
	if ce.Status != status {
		t.Fatalf("status = %d, want %d", ce.Status, status)
	}
	return ce
}

// gen returns n events of the scenario over shipments shipments, each with an
// explicit random event id.
func gen(seed uint64, shipments, n int) []linkd.Event {
	evs := scenario.NewGenerator(seed, base).WithShipments(shipments).Batch(n)
	for i := range evs {
		evs[i].EventID = newUUID()
	}
	return evs
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rec is an event the test sent and the index the node acknowledged.
type rec struct {
	ev    linkd.Event
	index int64
}

// appendAll posts events in batches of batch with the writer token and
// returns them with their indexes.
func (h *harness) appendAll(events []linkd.Event, batch int) []rec {
	h.t.Helper()
	c := h.client(h.writer)
	var out []rec
	for len(events) > 0 {
		n := min(batch, len(events))
		res, err := c.AppendEvents(context.Background(), events[:n])
		if err != nil {
			h.t.Fatalf("append: %v", err)
		}
		if len(res.Acks) != n {
			h.t.Fatalf("append of %d events answered %d acks", n, len(res.Acks))
		}
		for i, a := range res.Acks {
			if a.EventID != events[i].EventID || a.Duplicate {
				h.t.Fatalf("ack %d = %+v, want a new event %s", i, a, events[i].EventID)
			}
			out = append(out, rec{events[i], a.LogIndex})
		}
		events = events[n:]
	}
	return out
}

// matching returns the ids of the records that keep accepts, in event-time
// order (ties in log order), the order every query answers.
func matching(recs []rec, keep func(e *linkd.Event) bool) []string {
	var m []rec
	for _, r := range recs {
		if keep(&r.ev) {
			m = append(m, r)
		}
	}
	slices.SortFunc(m, func(a, b rec) int {
		return cmp.Or(a.ev.EventDateTime.Compare(b.ev.EventDateTime.Time), cmp.Compare(a.index, b.index))
	})
	ids := make([]string, len(m))
	for i, r := range m {
		ids[i] = r.ev.EventID
	}
	return ids
}

// locationOf is where an event happened: its eventLocation, else its
// transport call's location.
func locationOf(e *linkd.Event) string {
	if e.EventLocation != nil && e.EventLocation.UNLocationCode != "" {
		return e.EventLocation.UNLocationCode
	}
	if e.TransportCall != nil && e.TransportCall.Location != nil {
		return e.TransportCall.Location.UNLocationCode
	}
	return ""
}

// pageAll pages through GET /v1/events with query q and limit, and returns
// the ids in the order received. It fails if a page is larger than limit or
// the paging does not end.
func (h *harness) pageAll(q url.Values, limit int) []string {
	h.t.Helper()
	q = cloneValues(q)
	q.Set("limit", fmt.Sprint(limit))
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 2000 {
			h.t.Fatalf("query %s: paging does not end", q.Encode())
		}
		r := h.get("/v1/events?"+q.Encode(), h.reader)
		r.wantStatus(h.t, http.StatusOK)
		var page linkd.EventPage
		r.decode(h.t, &page)
		if len(page.Events) > limit {
			h.t.Fatalf("query %s: a page of %d events, over the limit %d", q.Encode(), len(page.Events), limit)
		}
		for _, e := range page.Events {
			if e.Event.Origin != party.ID {
				h.t.Fatalf("event %s has origin %q, want %q", e.Event.EventID, e.Event.Origin, party.ID)
			}
			ids = append(ids, e.Event.EventID)
		}
		if page.Next == "" {
			return ids
		}
		q.Set("cursor", page.Next)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// sameIDs fails unless got equals want, element by element.
func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	var dups, missing int
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	t.Fatalf("%s: got %d events, want %d (%d missing, %d repeated; else out of order)\ngot  %v\nwant %v",
		what, len(got), len(want), missing, dups, clipIDs(got), clipIDs(want))
}

func clipIDs(ids []string) []string {
	if len(ids) > 12 {
		return append(slices.Clone(ids[:12]), "…")
	}
	return ids
}

// unknownToken is a token of the right shape that no node issued.
func unknownToken() string {
	var secret [32]byte
	rand.Read(secret[:])
	return "lkd_abcdefghij_" + base64.RawURLEncoding.EncodeToString(secret[:])
}

// openPartyLog opens p's party log, under a new key, on a real Pebble store
// in dir, both closed when the test ends, and returns them with the log's
// verifier key.
func openPartyLog(t testing.TB, dir string, p linkd.Party) (*pebble.DB, *partylog.Log, string) {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	log, err := partylog.Open(db, partylog.Config{Self: p, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() }) // before the store: cleanups run last first
	return db, log, vkey
}
