package partylog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd/internal/store"
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
// one id at a time (add10M) and as opening one does (fill10M), and the
// lookup every append makes.
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
	// As opening a log fills it: through a filler, one a reader.
	b.Run("fill10M", func(b *testing.B) {
		raw := make([][]byte, n)
		for i, id := range ids {
			raw[i] = []byte(id)
		}
		for b.Loop() {
			f := newIDFilter(n)
			w := f.filler()
			for _, id := range raw {
				w.AddBytes(id)
			}
			f.filled(w.Done())
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

// sortByBlock orders hashes by their block, whatever the number of passes
// the filter's size takes, and loses or adds none.
func TestSortByBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, blockBits := range []int{0, 5, 11, 12, 18, 25} {
		mask := uint64(1)<<blockBits - 1
		hs := make([]uint64, 5000)
		for i := range hs {
			hs[i] = r.Uint64()
		}
		want := slices.Clone(hs)
		sortByBlock(hs, make([]uint64, len(hs)), mask)
		if !slices.IsSortedFunc(hs, func(a, b uint64) int { return int(a&mask) - int(b&mask) }) {
			t.Fatalf("%d block bits: hashes not in block order", blockBits)
		}
		slices.Sort(hs)
		slices.Sort(want)
		if !slices.Equal(hs, want) {
			t.Fatalf("%d block bits: the sorted hashes are not the ones given", blockBits)
		}
	}
}

// Fillers adding at once, each more ids than it holds in a batch, leave a
// filter that knows every id, counts them, and rarely guesses.
func TestFillersRememberEveryID(t *testing.T) {
	const fillers, each = 3, fillBatch + 1000
	f := newIDFilter(fillers * each)
	counts := make([]int, fillers)
	var wg sync.WaitGroup
	for w := range fillers {
		wg.Go(func() {
			fl := f.filler()
			for i := range each {
				fl.AddBytes([]byte("evt-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)))
			}
			counts[w] = fl.Done()
		})
	}
	wg.Wait()
	for w, n := range counts {
		if n != each {
			t.Fatalf("filler %d counted %d ids, want %d", w, n, each)
		}
		f.filled(n)
	}
	if got := f.parts[0].n; got != fillers*each || len(f.parts) != 1 {
		t.Fatalf("the filter holds %d ids in %d parts, want %d in one", got, len(f.parts), fillers*each)
	}
	for w := range fillers {
		for i := range each {
			if id := "evt-" + strconv.Itoa(w) + "-" + strconv.Itoa(i); !f.MayContain(id) {
				t.Fatalf("%s was added but the filter says it is new", id)
			}
		}
	}
	maybe := 0
	for i := range each {
		if f.MayContain("other-" + strconv.Itoa(i)) {
			maybe++
		}
	}
	if rate := float64(maybe) / each; rate > 0.015 {
		t.Fatalf("%.2f%% of new ids looked recorded; want about 1%%", 100*rate)
	}
}

// A log reads its ids in ranges, one a processor, and knows every id it
// holds after reading them: each event appended again is its original, not
// a new entry. The ranges here split the index between real ids.
func TestLogFilledInRangesKnowsEveryID(t *testing.T) {
	h := newHarness(t)
	evs := events(40, 1500)
	acks := h.append(evs...)
	if err := h.log.ix.flush(); err != nil { // the ids into the store
		t.Fatal(err)
	}
	h.reopen()

	lower, upper := h.log.idBounds()
	var keys [][]byte
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, slices.Clone(it.Key()))
	}
	if err := it.Close(); err != nil || len(keys) != len(evs) {
		t.Fatalf("%d id keys in the store (%v), want %d", len(keys), err, len(evs))
	}
	ranges := [][2][]byte{{lower, keys[400]}, {keys[400], keys[401]}, {keys[401], keys[1100]}, {keys[1100], upper}}
	if err := h.log.fillIDs(h.log.Size(), ranges); err != nil {
		t.Fatal(err)
	}
	if got := h.log.ids.parts[0].n; got != len(evs) {
		t.Fatalf("the filter counts %d ids, want %d", got, len(evs))
	}
	again := h.append(evs...)
	for i := range again {
		if !again[i].Duplicate || again[i].LogIndex != acks[i].LogIndex {
			t.Fatalf("event %d appended again: %+v, want the original at index %d", i, again[i], acks[i].LogIndex)
		}
	}
	if got := h.log.Size(); got != int64(len(evs)) {
		t.Fatalf("log size %d after appending its events again, want %d", got, len(evs))
	}
}

// idRanges splits an index held in several tables into ranges of about
// equal size that cover it in order, and leaves one held in one table, or
// asked for one range, whole.
func TestIDRangesSplitByTables(t *testing.T) {
	h := newHarness(t)
	lower, upper := []byte("i\x00\x00\x00\x07"), []byte("i\x00\x00\x00\x08")
	whole := [][2][]byte{{lower, upper}}
	if got := idRanges(h.db, lower, upper, 4); !slices.EqualFunc(got, whole, rangeEqual) {
		t.Fatalf("ranges of an empty index = %q, want it whole", got)
	}
	// Four tables of 2,000 ids each, one after another.
	key := func(i int) []byte { return append(slices.Clone(lower), fmt.Sprintf("evt-%06d", i)...) }
	for table := range 4 {
		err := store.WriteTables(context.Background(), h.db, func(add func(k, v []byte) error) error {
			for i := table * 2000; i < (table+1)*2000; i++ {
				if err := add(key(i), []byte{byte(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := idRanges(h.db, lower, upper, 1); !slices.EqualFunc(got, whole, rangeEqual) {
		t.Fatalf("one range asked for: %q, want the index whole", got)
	}
	for _, n := range []int{2, 4} {
		ranges := idRanges(h.db, lower, upper, n)
		if len(ranges) != n {
			t.Fatalf("%d ranges asked for over 4 equal tables: got %q", n, ranges)
		}
		from := lower
		for i, r := range ranges {
			if !bytes.Equal(r[0], from) || bytes.Compare(r[0], r[1]) >= 0 {
				t.Fatalf("ranges %q do not cover [%q, %q) in order", ranges, lower, upper)
			}
			from = r[1]
			// Each range holds its share of the ids.
			held := 0
			for j := range 8000 {
				if k := key(j); bytes.Compare(k, r[0]) >= 0 && bytes.Compare(k, r[1]) < 0 {
					held++
				}
			}
			if held != 8000/n {
				t.Fatalf("%d ranges: range %d holds %d ids, want %d", n, i, held, 8000/n)
			}
		}
		if !bytes.Equal(from, upper) {
			t.Fatalf("ranges %q end at %q, not %q", ranges, from, upper)
		}
	}
}

func rangeEqual(a, b [2][]byte) bool { return bytes.Equal(a[0], b[0]) && bytes.Equal(a[1], b[1]) }
