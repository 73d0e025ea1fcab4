package edi_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

// BenchmarkTranslate measures translation on one core: tokenizing, envelope
// checks, mapping, linkd validation of every event and the acknowledgement.
// "statuses/s" counts status segments (STS, B4), the figure issue #8 sets
// at 50,000/s; "interchanges/s" counts whole interchanges. Run with
// go test -run '^$' -bench Translate -cpu 1 ./internal/edi/
func BenchmarkTranslate(b *testing.B) {
	for _, c := range []struct {
		name     string
		syntax   string
		msgs     int
		perMsg   int
		statuses int
	}{
		{"EDIFACT/large", edi.EDIFACT, 200, 10, 2000}, // 200 IFTSTA messages of 10 statuses
		{"EDIFACT/single", edi.EDIFACT, 1, 1, 1},      // one status per interchange
		{"X12/large", edi.X12, 2000, 0, 2000},         // 2,000 315 transaction sets
		{"X12/single", edi.X12, 1, 0, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := edi.Sample(c.syntax, c.msgs, c.perMsg)
			opts := options()
			if res := translate(b, data, opts); res.Statuses != c.statuses {
				b.Fatalf("the sample has %d statuses, want %d", res.Statuses, c.statuses)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := edi.Translate(data, opts); err != nil {
					b.Fatal(err)
				}
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(c.statuses*b.N)/secs, "statuses/s")
			b.ReportMetric(float64(b.N)/secs, "interchanges/s")
		})
	}
}

// BenchmarkRender measures writing recorded events out as IFTSTA and 315.
func BenchmarkRender(b *testing.B) {
	res := translate(b, edi.Sample(edi.EDIFACT, 100, 8), options())
	recs := make([]linkd.Recorded, len(res.Events))
	for i, e := range res.Events {
		recs[i] = linkd.Recorded{Event: e, LogIndex: int64(i)}
	}
	for _, f := range []edi.Format{edi.FormatIFTSTA, edi.Format315} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				_, k, err := edi.Render(f, recs, env)
				if err != nil {
					b.Fatal(err)
				}
				n += k
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
