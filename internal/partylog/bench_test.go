package partylog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// BenchmarkAppend measures durable appends: each Append returns only after
// its fsync. It reports events/s and ack latency percentiles; `linkd bench
// ingest` runs the same shapes with more clients and prints a table.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch%d", size), func(b *testing.B) {
			h := newHarness(b)
			gen := events(7, size*64)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := gen[(i%64)*size : (i%64+1)*size]
				for j := range batch {
					batch[j].EventID = ""
					batch[j].Reason = fmt.Sprintf("bench %d/%d", i, j) // fresh content, so a new event
				}
				t0 := time.Now()
				if _, err := h.log.Append(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			report(b, lat, size)
		})
	}
	b.Run("concurrent64x1", func(b *testing.B) {
		h := newHarness(b)
		gen := events(9, 4096)
		per := max(1, b.N/64)
		lat := make([][]time.Duration, 64)
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					e := gen[(w*per+i)%len(gen)]
					e.Reason = fmt.Sprintf("bench %d/%d", w, i)
					t0 := time.Now()
					if _, err := h.log.Append(context.Background(), []linkd.Event{e}); err != nil {
						b.Error(err)
						return
					}
					lat[w] = append(lat[w], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		report(b, slices.Concat(lat...), 1)
	})
}

func report(b *testing.B, lat []time.Duration, per int) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat)*per)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
