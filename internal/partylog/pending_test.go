package partylog

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// TestJournalReplayedOnOpen stops the index flush, as a crash before it
// would, and reopens: the entries come back from their journal values, so
// every query and id lookup answers as before, and no journal value is left.
func TestJournalReplayedOnOpen(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var acks []linkd.Ack
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
	h.log.ix.halt() // no flush from here on, not even at Close
	if n := countKeys(t, h.db, []byte{prefixJournal}, []byte{prefixJournal + 1}); n == 0 {
		t.Fatal("no journal value waits: the test would not test the replay")
	}
	if n := countKeys(t, h.db, []byte{prefixIndex}, []byte{prefixIndex + 1}); n != 0 {
		t.Fatalf("%d index keys are in the store before any flush", n)
	}
	h.reopen()

	if n := countKeys(t, h.db, []byte{prefixJournal}, []byte{prefixJournal + 1}); n != 0 {
		t.Fatalf("%d journal values are left after open", n)
	}
	if len(h.log.ix.view()) != 0 {
		t.Fatal("open left entries pending instead of writing them to the store")
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
	// The same events sent again are duplicates, found through the replayed ids.
	again := h.append(events(70, 40)...)
	for i, a := range again {
		if !a.Duplicate || a.LogIndex != acks[i].LogIndex {
			t.Fatalf("event %d sent again: %+v, want a duplicate of index %d", i, a, acks[i].LogIndex)
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
