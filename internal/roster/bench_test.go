package roster_test

import (
	"context"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// BenchmarkStampLearn stamps and learns batches of 100 of bench http's
// traffic (5,000 shipments, each event about a random one) on a warm cache,
// as a node's ingest does for every request; it reports ns per event.
func BenchmarkStampLearn(b *testing.B) {
	_, r := open(b, scenario.Terminal)
	gen := scenario.NewGenerator(1, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	batches := make([][]linkd.Event, 500)
	for i := range batches {
		batches[i] = gen.Batch(100)
	}
	ctx := context.Background()
	work := make([]linkd.Event, 100)
	run := func(src []linkd.Event) {
		copy(work, src) // Stamp sets each event's party list
		if err := r.Stamp(ctx, work); err != nil {
			b.Fatal(err)
		}
		r.Learn(work)
	}
	for _, batch := range batches {
		run(batch)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(batches[i%len(batches)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
