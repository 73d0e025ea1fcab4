package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// wantIndexKeys lists the query index keys of an event at index in log num,
// built from the layout documented in keys.go rather than from writeSet.
func wantIndexKeys(e *linkd.Event, num uint32, index int64) []string {
	loc := ""
	if e.EventLocation != nil {
		loc = e.EventLocation.UNLocationCode
	}
	if loc == "" && e.TransportCall != nil && e.TransportCall.Location != nil {
		loc = e.TransportCall.Location.UNLocationCode
	}
	pairs := []struct {
		ix    Index
		value string
	}{
		{ByBooking, e.CarrierBookingReference},
		{ByTransportDocument, e.TransportDocumentReference},
		{ByEquipment, e.EquipmentReference},
		{ByTypeCode, string(e.EventType) + "/" + eventCode(e)},
		{ByLocation, loc},
		{ByTime, ""},
	}
	var keys []string
	for _, p := range pairs {
		if p.value == "" && p.ix != ByTime {
			continue
		}
		k := []byte{prefixIndex, byte(p.ix)}
		k = append(append(k, p.value...), 0)
		k = binary.BigEndian.AppendUint64(k, uint64(e.EventDateTime.UnixNano())^(1<<63))
		k = binary.BigEndian.AppendUint32(k, num)
		k = binary.BigEndian.AppendUint64(k, uint64(index))
		keys = append(keys, string(k))
	}
	return keys
}

// TestWriteSetWritesKeysInOrder checks that a group's batch and its chunk
// together hold every key the layout asks for, the batch in key order
// (which is what makes Pebble's memtable inserts cheap) and without any id
// or index entry, for a small group and a large one.
func TestWriteSetWritesKeysInOrder(t *testing.T) {
	for _, n := range []int{12, 400} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testWriteSetOrder(t, n) })
	}
}

func testWriteSetOrder(t *testing.T, nEvents int) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := &space{db: db, num: 3}
	evs := events(12, nEvents)
	evs[5].EventType, evs[5].ShipmentEventTypeCode, evs[5].TransportEventTypeCode, evs[5].EquipmentEventTypeCode = "OTHER", "", "", ""
	var w writeSet
	w.reset()
	want := map[string]bool{}
	for i := range evs {
		e := &evs[i]
		e.Origin = terminal.ID
		e.EventID = linkd.DeriveEventID(terminal.ID, e)
		index := int64(1000 + i)
		var leaf tlog.Hash
		leaf[0] = byte(i)
		salt := bytes.Repeat([]byte{byte(i)}, linkd.SaltSize)
		canon := linkd.AppendCanonical(nil, e)
		w.event(ptr(newEntry(e, canon)), index, leaf, salt)
		want[string(l.eventKey(index))] = true
		want[string(l.idKey(e.EventID))] = true
		for _, k := range wantIndexKeys(e, l.num, index) {
			want[k] = true
		}
		if i%2 == 1 {
			x := tlog.StoredHashIndex(1, index/2)
			w.hash(x, tlog.Hash{})
			want[string(l.hashKey(x))] = true
		}
	}
	want[string(l.checkpointKey(1700))] = true
	want[string(l.metaKey())] = true

	b := db.NewBatchWithSize(w.size)
	defer b.Close()
	chunk := w.write(b, l, 1700, []byte("note"), make([]byte, 16))
	if len(b.Repr()) > w.size+4*opOverhead+64 {
		t.Errorf("the batch took %d bytes; the write set reserved %d", len(b.Repr()), w.size)
	}
	r := b.Reader()
	var prev []byte
	n := 0
	for {
		kind, k, _, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if kind != pebble.InternalKeyKindSet {
			t.Fatalf("batch entry %d is a %v, want a set", n, kind)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("batch key %d %q does not sort after %q", n, k, prev)
		}
		if !want[string(k)] {
			t.Fatalf("batch key %q is not one the layout asks for", k)
		}
		if k[0] == prefixID || k[0] == prefixIndex {
			t.Fatalf("batch key %q is an id or index entry: those go only to the pending index, whose flush writes them as tables", k)
		}
		delete(want, string(k))
		prev = append(prev[:0], k...)
		n++
	}
	// The chunk to publish names the group and holds the entries the batch
	// does not, in key order, as a journal value did.
	if chunk.log != l.num || chunk.size != 1700 {
		t.Fatalf("the chunk names log %d size %d, want log %d size 1700", chunk.log, chunk.size, l.num)
	}
	c, err := parseChunk(chunk.data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.offs {
		k := c.key(i)
		if !want[string(k)] {
			t.Fatalf("chunk entry %q is not one the layout asks for", k)
		}
		delete(want, string(k))
	}
	if len(want) != 0 {
		t.Fatalf("%d keys are in neither the batch nor its chunk, e.g. %q", len(want), slices.Collect(maps.Keys(want))[0])
	}
}

func ptr[T any](v T) *T { return &v }

// TestStoreHoldsExactlyTheIndexKeys appends through the log and compares the
// store's query index with the keys derived from the recorded events.
func TestStoreHoldsExactlyTheIndexKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for i := range 4 {
		h.append(events(uint64(30+i), 150)...)
	}
	want := map[string]bool{}
	for i := int64(0); i < h.log.Size(); i++ {
		rec, err := h.log.Get(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range wantIndexKeys(&rec.Event, 0, i) {
			want[k] = true
		}
	}
	// Before the flush the entries are pending, and reads find them; after
	// it they are in the store, and the indexed size is the log's.
	for _, stage := range []string{"pending", "flushed"} {
		if stage == "flushed" {
			if err := h.log.ix.flush(); err != nil {
				t.Fatal(err)
			}
			if got := indexedSize(t, h); got != h.log.Size() {
				t.Fatalf("the indexed size is %d after the flush, want the log's %d", got, h.log.Size())
			}
		}
		ix := h.log.ix
		if stage == "flushed" {
			ix = nil // the store alone
		}
		it, err := newIndexIter(ix, nil, []byte{prefixIndex}, []byte{prefixIndex + 1}, h.db.NewIter)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			if !want[string(it.Key())] {
				t.Fatalf("%s: index key %q belongs to no event", stage, it.Key())
			}
			n++
		}
		it.Close()
		if n != len(want) {
			t.Fatalf("%s: the index holds %d keys, want %d", stage, n, len(want))
		}
	}
}

func countKeys(t *testing.T, db *pebble.DB, lower, upper []byte) int {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// openWithOnCommit opens cfg's log (its OnCommit, KeepEntries) for the
// terminal in a fresh store, closed when the test ends; the caller closes
// the log.
func openWithOnCommit(t *testing.T, cfg Config) (*Log, error) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg.Self = terminal
	cfg.SigningKey, _, _ = testKey(t)
	return Open(db, cfg)
}

// TestOnCommitReportsEachDurableGroup checks that OnCommit sees every group
// that wrote events, with the events it appended and the log's size after it.
func TestOnCommitReportsEachDurableGroup(t *testing.T) {
	var (
		mu    sync.Mutex
		infos []CommitInfo // guarded by mu
	)
	l, err := openWithOnCommit(t, Config{OnCommit: func(c CommitInfo) {
		mu.Lock()
		infos = append(infos, c)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	first := events(41, 25)
	for _, batch := range [][]linkd.Event{first, events(42, 1), first[:10], append(events(43, 7), first[3])} {
		if _, err := l.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent appends may share a group; each group is reported once.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			if _, err := l.Append(ctx, events(uint64(50+w), 3)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var total, requests int
	for i, c := range infos {
		total += c.Events
		requests += c.Requests
		if c.Events <= 0 || c.Requests <= 0 || c.SyncDuration <= 0 {
			t.Fatalf("commit %d = %+v: want events, requests and a sync duration", i, c)
		}
		if c.Size != int64(total) {
			t.Fatalf("commit %d reports size %d; the events reported so far add up to %d", i, c.Size, total)
		}
	}
	if want := 25 + 1 + 7 + 8*3; total != want || l.Size() != int64(want) {
		t.Fatalf("OnCommit reported %d events, the log holds %d; want %d (the all-duplicate append writes nothing)", total, l.Size(), want)
	}
	if requests != 3+8 {
		t.Fatalf("OnCommit reported %d appends, want 11 (every append but the all-duplicate one)", requests)
	}
	if got := l.Stats().Batches.Load(); got != int64(len(infos)) {
		t.Fatalf("%d group commits but %d OnCommit calls", got, len(infos))
	}
}

// TestLegacyIDEntries checks that id entries written before they shrank to
// the log index alone, which carry the content digest too, still answer
// retries and conflicts.
func TestLegacyIDEntries(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	evs := events(61, 5)
	first := h.append(evs...)
	// Rewrite every id entry as an older store holds it.
	b := h.db.NewBatch()
	for i, a := range first {
		e := evs[i]
		e.EventID, e.Origin = a.EventID, terminal.ID
		d := linkd.ContentDigest(&e)
		v := binary.BigEndian.AppendUint64(nil, uint64(a.LogIndex))
		if err := b.Set(h.log.idKey(a.EventID), append(v, d[:]...), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	checkDuplicates(t, h.append(evs...), first)
	changed := evs[2]
	changed.EventID = first[2].EventID
	changed.Reason = "other content under a recorded id"
	if _, err := h.log.Append(ctx, []linkd.Event{changed}); linkd.ErrorCode(err) != linkd.EConflict {
		t.Fatalf("append of other content under a legacy id entry: err = %v, want a conflict", err)
	}
	if rec, err := h.log.GetByID(ctx, first[4].EventID); err != nil || rec.LogIndex != 4 {
		t.Fatalf("GetByID through a legacy entry = %d, %v; want index 4", rec.LogIndex, err)
	}
}

// TestDuplicateWithinOneGroup sends the same event from many appenders at
// once: however the appends are grouped, it is recorded once and every
// append learns its index; other content under the same id is a conflict.
func TestDuplicateWithinOneGroup(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	e := events(71, 1)[0]
	e.EventID = "0190a1b2-0000-7000-8000-00000000beef"
	other := e
	other.Reason = "the same id, other content"
	var wg sync.WaitGroup
	acks := make([]linkd.Ack, 16)
	errs := make([]error, 16)
	for i := range 16 {
		wg.Go(func() {
			ev := e
			if i == 15 {
				ev = other
			}
			a, err := h.log.Append(ctx, []linkd.Event{ev})
			errs[i] = err
			if err == nil {
				acks[i] = a[0]
			}
		})
	}
	wg.Wait()
	if h.log.Size() != 1 {
		t.Fatalf("size %d after 16 appends of one id, want 1", h.log.Size())
	}
	var recorded string
	for i := range 16 {
		switch {
		case errs[i] != nil && linkd.ErrorCode(errs[i]) == linkd.EConflict:
			// Whichever content came first is recorded; the other conflicts.
		case errs[i] != nil:
			t.Fatalf("append %d: %v", i, errs[i])
		case acks[i].LogIndex != 0:
			t.Fatalf("append %d acknowledged at index %d, want 0", i, acks[i].LogIndex)
		}
	}
	rec, err := h.log.Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	recorded = rec.Event.Reason
	for i := range 16 {
		content := e.Reason
		if i == 15 {
			content = other.Reason
		}
		if (content == recorded) != (errs[i] == nil) {
			t.Fatalf("append %d with reason %q: err = %v, but %q was recorded", i, content, errs[i], recorded)
		}
	}
}

// TestCanonicalPrefixComparesContent pins the shortcut sameContent takes:
// with this log's origin in both, two canonical encodings match up to the
// clock stamp exactly when the events' content digests match.
func TestCanonicalPrefixComparesContent(t *testing.T) {
	evs := events(81, 40)
	for i := range evs {
		for j := range evs {
			a, b := evs[i], evs[j]
			a.EventID, b.EventID = "0190a1b2-0000-7000-8000-000000000001", "0190a1b2-0000-7000-8000-000000000001"
			a.Origin, b.Origin = terminal.ID, terminal.ID
			a.HLC, b.HLC = linkd.HLC(i+1), linkd.HLC(j+100)
			ca, cb := linkd.AppendCanonical(nil, &a), linkd.AppendCanonical(nil, &b)
			same := bytes.Equal(ca[:len(ca)-8], cb[:len(cb)-8])
			if digests := linkd.ContentDigest(&a) == linkd.ContentDigest(&b); same != digests {
				t.Fatalf("events %d and %d: prefixes equal %v, digests equal %v", i, j, same, digests)
			}
		}
	}
}

// TestOnCommitHandsOverEntries checks that with KeepEntries each group's new
// entries reach OnCommit as the store holds them: the same leaf, salt and
// encoding, and an event that encodes to exactly those bytes, stamped and
// untouched by what the caller does with its events afterwards.
func TestOnCommitHandsOverEntries(t *testing.T) {
	var (
		mu    sync.Mutex
		added []NewEntry // guarded by mu
	)
	l, err := openWithOnCommit(t, Config{KeepEntries: true, OnCommit: func(c CommitInfo) {
		mu.Lock()
		defer mu.Unlock()
		if len(c.Entries) != c.Events || c.Entries[len(c.Entries)-1].Index != c.Size-1 {
			t.Errorf("a commit of %d events up to size %d handed over %d entries", c.Events, c.Size, len(c.Entries))
		}
		added = append(added, c.Entries...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	first := events(61, 40)
	batches := [][]linkd.Event{first, events(62, 3), first[5:9], append(events(63, 5), first[0])}
	for _, batch := range batches {
		if _, err := l.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// The caller reuses its events: the log's copies must not change.
	for _, batch := range batches {
		for i := range batch {
			batch[i].Parties[0].Party = "someone-else"
			batch[i].EventLocation = nil
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := 40 + 3 + 5; len(added) != want || l.Size() != int64(want) {
		t.Fatalf("OnCommit handed over %d entries, the log holds %d; want %d (duplicates are not new)", len(added), l.Size(), want)
	}
	i := 0
	err = l.ReadRange(ctx, 0, l.Size(), func(re *RawEntry) error {
		got := added[i]
		i++
		switch {
		case got.Index != re.Index || got.Leaf != re.Leaf:
			t.Errorf("entry %d: handed over index %d leaf %x; the store has index %d leaf %x", re.Index, got.Index, got.Leaf, re.Index, re.Leaf)
		case !bytes.Equal(got.Salt, re.Salt) || !bytes.Equal(got.Canon, re.Canon):
			t.Errorf("entry %d: the salt or encoding handed over is not the stored one", re.Index)
		case got.Event == nil || !bytes.Equal(linkd.AppendCanonical(nil, got.Event), re.Canon):
			t.Errorf("entry %d: the event handed over does not encode to the stored bytes: %+v", re.Index, got.Event)
		case got.Event.HLC == 0 || got.Event.Origin != terminal.ID:
			t.Errorf("entry %d: the event handed over is not stamped: origin %q, clock %d", re.Index, got.Event.Origin, got.Event.HLC)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
