package partylog

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// BenchmarkAppend measures durable appends: each op is one Append call that
// returns only after its fsync. events/s and latency percentiles are reported.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(sizeName(size), func(b *testing.B) {
			h := newHarness(b)
			batches := make([][]any, 0)
			_ = batches
			gen := events(7, size*64)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := gen[(i%64)*size : (i%64+1)*size]
				for j := range batch {
					batch[j].EventID = ""
					batch[j].Reason = uniq(i, j)
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
		var mu sync.Mutex
		lat := make([]time.Duration, 0, b.N)
		var next int64
		b.ResetTimer()
		var wg sync.WaitGroup
		per := b.N / 64
		if per == 0 {
			per = 1
		}
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				mine := make([]time.Duration, 0, per)
				for i := 0; i < per; i++ {
					e := gen[(w*per+i)%len(gen)]
					e.Reason = uniq(w, i)
					t0 := time.Now()
					if _, err := h.log.Append(context.Background(), []linkd.Event{e}); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(w)
		}
		wg.Wait()
		b.StopTimer()
		_ = next
		report(b, lat, 1)
	})
}

func uniq(i, j int) string { return "bench " + itoa(i) + "/" + itoa(j) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for n > 0 {
		p--
		b[p] = byte('0' + n%10)
		n /= 10
	}
	return string(b[p:])
}

func sizeName(n int) string { return "batch" + itoa(n) }

func report(b *testing.B, lat []time.Duration, per int) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var total time.Duration
	_ = total
	b.ReportMetric(float64(len(lat)*per)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
