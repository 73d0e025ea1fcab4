package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// TestIndexRebuiltFromRecordsOnOpen stops the index flush partway, as a
// crash would, and reopens: the entries the flush never wrote are made again
// from the event records, sealed or in the clear, so the store holds exactly
// the index keys of the events, every query and id lookup answers as before,
// and repeated events are found as duplicates. A shipment erased before the
// reopen stays out of the rebuilt index.
func TestIndexRebuiltFromRecordsOnOpen(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(map[bool]string{false: "clear", true: "sealed"}[sealed], func(t *testing.T) {
			testIndexRebuilt(t, sealed)
		})
	}
}

func testIndexRebuilt(t *testing.T, sealed bool) {
	h := &harness{t: t, dir: t.TempDir()}
	h.skey, h.vkey, _ = testKey(t)
	if sealed {
		h.keysDir = t.TempDir()
	}
	h.open()
	t.Cleanup(h.close)
	ctx := context.Background()
	var acks []linkd.Ack
	var evs []linkd.Event
	// Groups of 40 go through the pending index, one of 400 writes its
	// entries itself; the first two are flushed, the rest never are. The
	// last group's last two events are of a shipment of their own.
	const erased = "BKG-ERASED-1"
	for i, n := range []int{40, 40, 400, 40, 40} {
		if i == 2 {
			if err := h.log.ix.flush(); err != nil {
				t.Fatal(err)
			}
			h.log.ix.halt() // no flush from here on, not even at Close
		}
		g := events(uint64(70+i), n)
		if i == 4 {
			g[n-1].CarrierBookingReference, g[n-2].CarrierBookingReference = erased, erased
		}
		evs = append(evs, g...)
		acks = append(acks, h.append(g...)...)
	}
	flushed := acks[79].LogIndex + 1
	if got := indexedSize(t, h); got != flushed {
		t.Fatalf("the indexed size is %d after the flush of %d events", got, flushed)
	}
	booking := func(ref string) []string {
		t.Helper()
		p, err := h.log.Scan(ctx, Query{Index: ByBooking, Value: ref, Limit: MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		return eventIDs(p.Events)
	}
	refs := map[string][]string{}
	for _, i := range []int{0, 100, 500} {
		rec, err := h.log.Get(ctx, acks[i].LogIndex)
		if err != nil {
			t.Fatal(err)
		}
		if ref := rec.Event.CarrierBookingReference; ref != erased {
			refs[ref] = booking(ref)
		}
	}
	want := map[string]bool{}
	for i := int64(0); i < h.log.Size(); i++ {
		rec, err := h.log.Get(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if sealed && rec.Event.CarrierBookingReference == erased {
			continue
		}
		for _, k := range wantIndexKeys(&rec.Event, 0, i) {
			want[k] = true
		}
	}
	if n := countKeys(t, h.db, []byte{prefixIndex}, []byte{prefixIndex + 1}); n >= len(want) {
		t.Fatalf("%d index keys are in the store before the reopen, of %d: the test would not test the rebuild", n, len(want))
	}
	if sealed {
		// Erased before the reopen: its entries that never reached the
		// store are not made again, and it is found by no query either way.
		if err := h.keys.Destroy("b:" + erased); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()

	if len(h.log.ix.view()) != 0 {
		t.Fatal("open left entries pending instead of writing them to the store")
	}
	if got := indexedSize(t, h); got != h.log.Size() {
		t.Fatalf("the indexed size is %d after the reopen, want the log's %d", got, h.log.Size())
	}
	got := map[string]bool{}
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixIndex}, UpperBound: []byte{prefixIndex + 1}})
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		got[string(it.Key())] = true
	}
	it.Close()
	for k := range want {
		if !got[k] {
			t.Fatalf("index key %q is missing after the reopen", k)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the store holds %d index keys after the reopen, want %d", len(got), len(want))
	}
	for ref, ids := range refs {
		if after := booking(ref); !slices.Equal(after, ids) {
			t.Fatalf("booking %s after the reopen: %v, want %v", ref, after, ids)
		}
	}
	if ids := booking(erased); sealed && len(ids) != 0 || !sealed && len(ids) != 2 {
		t.Fatalf("booking %s after the reopen: %v", erased, ids)
	}
	for i, a := range acks {
		if sealed && evs[i].CarrierBookingReference == erased {
			continue
		}
		rec, err := h.log.GetByID(ctx, a.EventID)
		if err != nil {
			t.Fatalf("event %s after the reopen: %v", a.EventID, err)
		}
		if rec.LogIndex != a.LogIndex {
			t.Fatalf("event %s is at %d after the reopen, want %d", a.EventID, rec.LogIndex, a.LogIndex)
		}
	}
	// The same events sent again are duplicates, found through the rebuilt ids.
	again := h.append(events(73, 40)...)
	for i, a := range again {
		if want := acks[480+i].LogIndex; !a.Duplicate || a.LogIndex != want {
			t.Fatalf("event %d sent again: %+v, want a duplicate of index %d", i, a, want)
		}
	}
}

// indexedSize reads h's log's indexed size from the store.
// TestLongRebuildIsAnnounced: a log opened after a crash that left many
// events unindexed says so before it makes their entries again, and says
// how many it made, so that an operator watching a slow restart knows why.
func TestLongRebuildIsAnnounced(t *testing.T) {
	var out bytes.Buffer
	h := &harness{t: t, dir: t.TempDir(), logger: slog.New(slog.NewTextHandler(&out, nil))}
	h.skey, h.vkey, _ = testKey(t)
	h.open()
	t.Cleanup(h.close)
	h.log.ix.halt() // no flush from here on, not even at Close
	const n = rebuildStep + 500
	gen := events(93, n)
	for i := 0; i < n; i += 500 {
		h.append(gen[i:min(i+500, n)]...)
	}
	h.reopen()
	log := out.String()
	before := strings.Index(log, "making the index entries a crash left unwritten again")
	after := strings.Index(log, "made the index entries a crash left unwritten")
	if before < 0 || after < before {
		t.Fatalf("the reopen did not announce the rebuild before making it, then report it:\n%s", log)
	}
	if want := fmt.Sprintf("events=%d", n); strings.Count(log, want) != 2 {
		t.Fatalf("the log does not give %s in both lines:\n%s", want, log)
	}
	if got := indexedSize(t, h); got != n {
		t.Fatalf("the index covers %d of %d events after the reopen", got, n)
	}
}

func indexedSize(t testing.TB, h *harness) int64 {
	t.Helper()
	v, err := h.log.get(indexedKey(h.log.num))
	if err != nil || len(v) != 8 {
		t.Fatalf("indexed size: %x, %v", v, err)
	}
	return be64(v)
}

// TestJournalReplayedOnOpen opens a store as an older build left it after a
// crash: the entries of its last groups in journal values, no indexed size.
// Open writes them, so every query and id lookup answers, and leaves no
// journal value.
func TestJournalReplayedOnOpen(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var acks []linkd.Ack
	h.log.ix.halt()
	for i := range 5 {
		acks = append(acks, h.append(events(uint64(70+i), 40)...)...)
	}
	first, err := h.log.Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Index: ByBooking, Value: first.Event.CarrierBookingReference, Limit: MaxPageSize}
	before, err := h.log.Scan(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Events) == 0 {
		t.Fatal("a booking query finds nothing before the restart")
	}
	b := h.db.NewBatch()
	for _, c := range h.log.ix.view() {
		b.Set(h.log.key(prefixJournal, uint64(c.size)), c.data, nil)
	}
	b.Delete(indexedKey(h.log.num), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, h.db, []byte{prefixJournal}, []byte{prefixJournal + 1}); n != 5 {
		t.Fatalf("%d journal values wait, want 5", n)
	}
	h.reopen()

	if n := countKeys(t, h.db, []byte{prefixJournal}, []byte{prefixJournal + 1}); n != 0 {
		t.Fatalf("%d journal values are left after open", n)
	}
	if got := indexedSize(t, h); got != h.log.Size() {
		t.Fatalf("the indexed size is %d after the reopen, want the log's %d", got, h.log.Size())
	}
	after, err := h.log.Scan(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := eventIDs(after.Events), eventIDs(before.Events); !slices.Equal(got, want) {
		t.Fatalf("after the replay the booking query finds %v, want %v", got, want)
	}
	for _, a := range acks {
		rec, err := h.log.GetByID(ctx, a.EventID)
		if err != nil {
			t.Fatalf("event %s after the replay: %v", a.EventID, err)
		}
		if rec.LogIndex != a.LogIndex {
			t.Fatalf("event %s is at %d after the replay, want %d", a.EventID, rec.LogIndex, a.LogIndex)
		}
	}
}

// TestPendingEntriesReadLikeStoredOnes reads the same log while its entries
// wait, while part of them is flushed, and after: scans and id lookups give
// the same answers each time, each event once.
func TestPendingEntriesReadLikeStoredOnes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.log.ix.halt() // the test flushes by hand
	h.append(events(90, 120)...)
	stage := func() (map[string][]string, []string) {
		t.Helper()
		byBooking := map[string][]string{}
		var all []string
		for cursor := ""; ; {
			p, err := h.log.Scan(ctx, Query{Index: ByTime, Limit: 50, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Events {
				all = append(all, r.Event.EventID)
				b := r.Event.CarrierBookingReference
				if _, ok := byBooking[b]; !ok {
					q, err := h.log.Scan(ctx, Query{Index: ByBooking, Value: b, Limit: MaxPageSize})
					if err != nil {
						t.Fatal(err)
					}
					byBooking[b] = eventIDs(q.Events)
				}
			}
			if cursor = p.Next; cursor == "" {
				break
			}
		}
		return byBooking, all
	}
	wantBooking, wantAll := stage()
	if len(wantAll) != 120 {
		t.Fatalf("a time scan of pending entries finds %d events, want 120", len(wantAll))
	}
	// Half flushed: more events go in after a flush, so the log's entries
	// are partly in the store and partly pending.
	h.log.ix.halted.Store(false)
	if err := h.log.ix.flush(); err != nil {
		t.Fatal(err)
	}
	h.log.ix.halt()
	more := h.append(events(91, 60)...)
	gotBooking, gotAll := stage()
	if len(gotAll) != 180 {
		t.Fatalf("a time scan over stored and pending entries finds %d events, want 180", len(gotAll))
	}
	for b, ids := range wantBooking {
		if got := gotBooking[b]; !isSubsequence(ids, got) {
			t.Fatalf("booking %s: %v after, %v before", b, got, ids)
		}
	}
	for _, a := range more {
		if _, err := h.log.GetByID(ctx, a.EventID); err != nil {
			t.Fatalf("pending event %s: %v", a.EventID, err)
		}
	}
	h.log.ix.halted.Store(false)
	if err := h.log.ix.flush(); err != nil {
		t.Fatal(err)
	}
	if _, all := stage(); !slices.Equal(all, gotAll) {
		t.Fatal("the time scan changed with the flush")
	}
}

func eventIDs(recs []linkd.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Event.EventID
	}
	return out
}

// isSubsequence reports whether every element of a is in b, in order.
func isSubsequence(a, b []string) bool {
	i := 0
	for _, x := range b {
		if i < len(a) && a[i] == x {
			i++
		}
	}
	return i == len(a)
}

// TestIndexIterMergesAndDedupes walks store keys and pending keys that
// overlap: the walk is in key order, each key once, within the bounds, and
// skips a chunk whose filter rules out the prefix.
func TestIndexIterMergesAndDedupes(t *testing.T) {
	h := newHarness(t)
	key := func(p string, n int) []byte { return fmt.Appendf(nil, "x%s\x00%04d", p, n) }
	b := h.db.NewBatch()
	for _, n := range []int{1, 3, 5, 7} {
		b.Set(key("a", n), nil, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	mk := func(p string, ns ...int) *indexChunk {
		c := &indexChunk{}
		c.makeFilter(1)
		c.note([]byte("x" + p + "\x00"))
		for _, n := range ns {
			c.add(key(p, n), nil)
			c.note(key(p, n)) // as an id key is
		}
		return c
	}
	p := &pendingIndex{chunks: []*indexChunk{mk("a", 2, 3, 9), mk("a", 4, 5, 6), mk("b", 1, 2)}}
	prefix := []byte("xa\x00")
	it, err := newIndexIter(p, prefix, key("a", 2), key("a", 9), h.db.NewIter)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(bytes.TrimPrefix(it.Key(), prefix)))
	}
	if want := []string{"0002", "0003", "0004", "0005", "0006", "0007"}; !slices.Equal(got, want) {
		t.Fatalf("walk = %q, want %q", got, want)
	}
	if _, ok := lookupPending(p.chunks, key("b", 2)); !ok {
		t.Fatal("lookup misses a pending key")
	}
	if _, ok := lookupPending(p.chunks, key("b", 3)); ok {
		t.Fatal("lookup finds a key no chunk holds")
	}
	if mk("b", 1).mayHold([]byte("xa\x00")) && mk("b", 2).mayHold([]byte("xc\x00")) && mk("b", 3).mayHold([]byte("xd\x00")) {
		t.Fatal("the chunk filter rules nothing out")
	}
}

// TestPendingMergesRunsAndFlushesTables publishes many groups' entries to a
// pending index of its own, merges them into runs as the background does,
// and flushes: while they wait, every entry is found (of a key published
// twice, the newer value) and a walk gives each key once, in order, however
// the groups were merged, and the runs never outnumber maxRuns. A flush of
// many entries writes them as tables, past the WAL; a flush of few goes
// through batches. Either way the store then holds every entry and the log's
// indexed size.
func TestPendingMergesRunsAndFlushesTables(t *testing.T) {
	h := newHarness(t)
	const num = 5
	want := map[string][]byte{}
	var size int64
	group := func(entries int) *indexChunk {
		base := size
		size += int64(entries / 2)
		c := &indexChunk{log: num, size: size}
		c.makeFilter(entries)
		var ids, xs [][2][]byte
		for i := range entries / 2 {
			at := base + int64(i)
			id := binary.BigEndian.AppendUint32([]byte{prefixID}, num)
			id = fmt.Appendf(id, "ev-%09d", at*7919%1_000_003) // scattered
			ids = append(ids, [2][]byte{id, binary.BigEndian.AppendUint64(nil, uint64(at))})
			x := appendPosition(append([]byte{prefixIndex, byte(ByBooking)}, fmt.Sprintf("BKG-%d\x00", at%97)...), uint64(at), num, at)
			xs = append(xs, [2][]byte{x, nil})
		}
		for _, s := range [][][2][]byte{ids, xs} {
			slices.SortFunc(s, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
			for _, kv := range s {
				c.add(kv[0], kv[1])
				want[string(kv[0])] = kv[1]
				if kv[0][0] == prefixID {
					c.note(kv[0])
				} else {
					c.note(kv[0][:len(kv[0])-positionLen])
				}
			}
		}
		return c
	}
	p := &pendingIndex{db: h.db, logger: h.log.logger}
	publish := func(c *indexChunk) {
		t.Helper()
		if err := p.publish(c); err != nil {
			t.Fatal(err)
		}
	}
	// A key published again by a newer group: its value is the newer one.
	dupKey := binary.BigEndian.AppendUint32([]byte{prefixID}, num)
	dupKey = append(dupKey, "ev-again"...)
	for i, v := range []string{"old", "new"} {
		c := &indexChunk{log: num, size: size}
		c.makeFilter(1)
		c.add(dupKey, []byte(v))
		c.note(dupKey)
		publish(c)
		if i == 0 {
			for range 30 {
				publish(group(1200))
			}
			p.merge()
		}
	}
	want[string(dupKey)] = []byte("new")
	for range 12 {
		publish(group(400))
		publish(group(400))
		p.merge()
		if n := len(p.view()); n > maxRuns {
			t.Fatalf("%d runs after a merge, want at most %d", n, maxRuns)
		}
	}
	if len(p.view()) >= 2*12+32 {
		t.Fatalf("%d chunks wait: nothing was merged", len(p.view()))
	}
	checkPending := func() {
		t.Helper()
		cs := p.view()
		for k, v := range want {
			if k[0] != prefixID {
				continue // index entries are only walked (below)
			}
			got, ok := lookupPending(cs, []byte(k))
			if !ok || !bytes.Equal(got, v) {
				t.Fatalf("pending %q = %q, %v; want %q", k, got, ok, v)
			}
		}
		it, err := newIndexIter(p, nil, []byte{prefixIndex}, []byte{prefixIndex + 1}, h.db.NewIter)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		var prev []byte
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			if prev != nil && bytes.Compare(prev, it.Key()) >= 0 {
				t.Fatalf("the walk gives %x after %x", it.Key(), prev)
			}
			prev = append(prev[:0], it.Key()...)
			n++
		}
		if wantX := int(size); n != wantX {
			t.Fatalf("the walk gives %d index entries, want %d", n, wantX)
		}
	}
	checkPending()

	checkStore := func() {
		t.Helper()
		for k, v := range want {
			got, closer, err := h.db.Get([]byte(k))
			if err != nil {
				t.Fatalf("store %q: %v", k, err)
			}
			if !bytes.Equal(got, v) {
				t.Fatalf("store %q = %q, want %q", k, got, v)
			}
			closer.Close()
		}
		v, closer, err := h.db.Get(indexedKey(num))
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		if be64(v) != size {
			t.Fatalf("the indexed size is %d, want %d", be64(v), size)
		}
	}
	for _, stage := range []struct {
		name   string
		tables bool
	}{{"many entries", true}, {"few entries", false}} {
		if !stage.tables {
			publish(group(200))
		}
		before := h.db.Metrics()
		if err := p.flush(); err != nil {
			t.Fatal(err)
		}
		after := h.db.Metrics()
		if tables := after.Ingest.Count > before.Ingest.Count; tables != stage.tables {
			t.Errorf("%s: written as tables: %v, want %v", stage.name, tables, stage.tables)
		}
		if wal := after.WAL.BytesIn - before.WAL.BytesIn; stage.tables && wal > 1<<10 {
			t.Errorf("%s: the WAL took %d bytes for entries written as tables", stage.name, wal)
		}
		if n := len(p.view()); n != 0 {
			t.Fatalf("%s: %d chunks wait after the flush", stage.name, n)
		}
		checkStore()
	}
}
