package partylog

import (
	"strconv"
	"testing"
)

// The filter never forgets an id, across the parts it grows into, and says
// "maybe" for few ids it never saw.
func TestIDFilterRemembersAndRarelyGuesses(t *testing.T) {
	const n = 300_000 // grows past the first part's 65,536 ids twice over
	f := newIDFilter(0)
	for i := range n {
		if id := "evt-" + strconv.Itoa(i); i%2 == 0 {
			f.Add(id)
		} else {
			f.AddBytes([]byte(id)) // as opening a log adds them
		}
	}
	if len(f.parts) < 3 {
		t.Fatalf("%d parts after %d ids; the filter should have grown", len(f.parts), n)
	}
	for i := range n {
		if id := "evt-" + strconv.Itoa(i); !f.MayContain(id) {
			t.Fatalf("%s was added but the filter says it is new", id)
		}
	}
	maybe := 0
	for i := range n {
		if f.MayContain("other-" + strconv.Itoa(i)) {
			maybe++
		}
	}
	// About 1% per part, and a lookup asks every part.
	t.Logf("%.2f%% of new ids looked recorded, with %d parts", 100*float64(maybe)/n, len(f.parts))
	if rate := float64(maybe) / n; rate > 0.01*float64(len(f.parts))*1.5 {
		t.Fatalf("%.2f%% of new ids looked recorded (%d parts); want about 1%% a part", 100*rate, len(f.parts))
	}
}

// BenchmarkIDFilter measures filling the filter of a ten-million-event log,
// as opening one does, and the lookup every append makes.
func BenchmarkIDFilter(b *testing.B) {
	const n = 10_000_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "evt-" + strconv.Itoa(i*7919)
	}
	b.Run("add10M", func(b *testing.B) {
		for b.Loop() {
			f := newIDFilter(n)
			for _, id := range ids {
				f.Add(id)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/id")
	})
	b.Run("lookup", func(b *testing.B) {
		f := newIDFilter(n)
		for _, id := range ids {
			f.Add(id)
		}
		fresh := make([]string, 1<<20) // ids never added, made before the clock starts
		for i := range fresh {
			fresh[i] = "new-" + ids[i*9%n]
		}
		i := 0
		for b.Loop() {
			f.MayContain(fresh[i%len(fresh)])
			i++
		}
	})
}
