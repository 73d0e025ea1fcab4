package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// BenchmarkPostEvents measures the API's own work on POST /v1/events, in
// process and without TLS: the gates, decoding, the answer and metrics. The
// log is stubbed with acks, so its group commit is not in the figure
// (partylog's benchmarks measure that).
func BenchmarkPostEvents(b *testing.B) {
	db, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(party.ID))
	if err != nil {
		b.Fatal(err)
	}
	log, err := partylog.Open(db, partylog.Config{Self: party, SigningKey: skey})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	tokens, err := access.Open(db, access.Options{})
	if err != nil {
		b.Fatal(err)
	}
	writer, _, err := tokens.Create(context.Background(), "writer", access.Writer, 0)
	if err != nil {
		b.Fatal(err)
	}
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
