package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// BenchmarkPostEvents measures the API's own work on POST /v1/events, in
// process and without TLS: the gates, decoding, the answer and metrics. The
// log is stubbed with acks, so its group commit is not in the figure
// (partylog's benchmarks measure that).
func BenchmarkPostEvents(b *testing.B) {
	log, tokens := benchParts(b)
	writer := benchToken(b, tokens, access.Writer)
	stub := func(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
		acks := make([]linkd.Ack, len(events))
		for i := range acks {
			acks[i] = linkd.Ack{EventID: "0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e13", LogIndex: int64(i), LeafHash: "n2Q6V+0f/AbCn2Q6V+0f/AbCn2Q6V+0f/AbCn2Q6V+0="}
		}
		return acks, nil
	}
	api := httpapi.New(httpapi.Config{Self: party, Log: log, Tokens: tokens, Metrics: httpapi.NewMetrics(), Ingest: stub,
		Limiter: access.NewLimiter(1e9, 1e9, nil)})
	gen := scenario.NewGenerator(1, base)
	for _, n := range []int{1, 100} {
		body, err := json.Marshal(gen.Batch(n))
		if err != nil {
			b.Fatal(err)
		}
		name := "batch1"
		if n > 1 {
			name = "batch100"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+writer)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkGetShipment measures GET /v1/shipments/{ref} in process, over a
// real log of 40,000 events on 1,000 shipments (about 40 a timeline): the
// index scan, event reads, derived state and JSON. Its allocations are the
// garbage each query leaves for the collector, which a busy node pays for
// in collections; the records sit in the memtable and block cache here, so
// the time is not that of a store far larger than memory (linkd bench
// shipment measures that).
func BenchmarkGetShipment(b *testing.B) {
	log, tokens := benchParts(b)
	reader := benchToken(b, tokens, access.Reader)
	const shipments = 1000
	gen := scenario.NewGenerator(1, base).WithShipments(shipments)
	for range 40 {
		if _, err := log.Append(context.Background(), gen.Batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	api := httpapi.New(httpapi.Config{Self: party, Log: log, Tokens: tokens, Metrics: httpapi.NewMetrics(),
		Limiter: access.NewLimiter(1e9, 1e9, nil)})
	w := &discardWriter{h: http.Header{}}
	entries, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/v1/shipments/OCLVNHAM%07d", (i*7919+13)%shipments), nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		i++
		w.reset()
		api.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("GET %s: status %d", req.URL.Path, w.status)
		}
		entries += bytes.Count(w.body, []byte(`"logIndex":`))
	}
	if per := float64(entries) / float64(i); per < 30 {
		b.Fatalf("%.1f events a timeline, want about 40", per)
	}
	b.ReportMetric(float64(entries)/float64(i), "events/timeline")
}

// discardWriter is an http.ResponseWriter that keeps the status and the
// last body in one reused buffer, as a connection's buffered writer would,
// so that the benchmark's allocations are the server's own.
type discardWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *discardWriter) reset() { w.status, w.body = 0, w.body[:0]; clear(w.h) }

// benchParts opens a party log and a token store on a real Pebble store in
// a temporary directory, closed when the benchmark ends.
func benchParts(b *testing.B) (*partylog.Log, *access.Store) {
	db, log, _ := openPartyLog(b, b.TempDir(), party)
	tokens, err := access.Open(db, access.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return log, tokens
}

// benchToken makes a token of role and returns its secret.
func benchToken(b *testing.B, tokens *access.Store, role access.Role) string {
	secret, _, err := tokens.Create(context.Background(), string(role), role, 0)
	if err != nil {
		b.Fatal(err)
	}
	return secret
}
