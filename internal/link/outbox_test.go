package link

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// sealedLog opens a log that seals its records under shipment keys, as a
// node's does, and appends n events on bookings BKG-A and BKG-B by turns, in
// batches of batch.
func sealedLog(t *testing.T, n, batch int) (*partylog.Log, *shred.Keys) {
	return sealedLogInto(t, n, []int{batch}, nil)
}

// sealedLogInto is sealedLog with batches of the sizes given, by turns, and,
// if o is not nil, each commit's entries handed to o as a node hands them.
func sealedLogInto(t *testing.T, n int, batches []int, o *outbox) (*partylog.Log, *shred.Keys) {
	t.Helper()
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(scenario.Terminal.ID))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := partylog.Config{Self: scenario.Terminal, SigningKey: skey, Sealer: docs.EventSealer{Keys: keys}}
	if o != nil {
		cfg.KeepEntries = true
		cfg.OnCommit = func(c partylog.CommitInfo) { o.committed(c.Entries) }
	}
	l, err := partylog.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		keys.Close()
		db.Close()
	})
	g := scenario.NewGenerator(5, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	for done, i := 0, 0; done < n; done, i = done+batches[i%len(batches)], i+1 {
		evs := g.Batch(min(batches[i%len(batches)], n-done))
		for i := range evs {
			evs[i].CarrierBookingReference = []string{"BKG-A", "BKG-B"}[(done+i)%2]
		}
		if _, err := l.Append(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	return l, keys
}

// checkRead reads [from, to) through o and fails unless every entry is the
// one the store holds.
func checkRead(t *testing.T, o *outbox, l *partylog.Log, from, to int64) {
	t.Helper()
	ctx := context.Background()
	var got []outEntry
	if err := o.read(ctx, l, from, to, func(i int64, e *outEntry) error {
		if i != from+int64(len(got)) {
			t.Fatalf("read [%d, %d): entry %d came at position %d", from, to, i, len(got))
		}
		c := *e
		c.salt, c.canon = bytes.Clone(e.salt), bytes.Clone(e.canon)
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != to-from {
		t.Fatalf("read [%d, %d) gave %d entries", from, to, len(got))
	}
	if err := l.ReadRange(ctx, from, to, func(re *partylog.RawEntry) error {
		e := got[re.Index-from]
		if e.leaf != re.Leaf || !bytes.Equal(e.salt, re.Salt) || !bytes.Equal(e.canon, re.Canon) {
			t.Fatalf("entry %d differs from the store's", re.Index)
		}
		if re.Canon != nil {
			want, err := linkd.DecodeCanonical(re.Canon)
			if err != nil || want.Origin != e.origin || !slices.Equal(want.Parties, e.parties) ||
				!slices.Equal(want.Visibility, e.visibility) || !slices.Equal(want.Residency, e.residency) {
				t.Fatalf("entry %d: sharing facts %q %v %v %v, want those of %+v (%v)", re.Index, e.origin, e.parties, e.visibility, e.residency, want, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxHandsEverySenderTheStoredEntries: senders that keep up, one
// that lags, one far behind the kept run and one that jumps past it all get
// exactly the entries the store holds, in order.
func TestOutboxHandsEverySenderTheStoredEntries(t *testing.T) {
	const n = 3*outboxEntries + 500
	l, _ := sealedLog(t, n, 250)
	var o outbox
	lag := int64(0)
	for at := int64(0); at < n; at += 250 {
		to := min(at+250, n)
		checkRead(t, &o, l, at, to) // keeping up
		checkRead(t, &o, l, at, to) // a second peer, same frame
		if at >= 1000 {
			checkRead(t, &o, l, lag, lag+100) // lagging by up to a thousand
			lag += 100
		}
	}
	checkRead(t, &o, l, 0, 700)       // far behind: from the store
	checkRead(t, &o, l, n-100, n)     // the newest again
	checkRead(t, &o, l, 1000, 1250)   // the run restarts behind the head...
	checkRead(t, &o, l, n-300, n-250) // ...and again ahead of it
	checkRead(t, &o, l, 1250, 1251)
}

// TestOutboxTakesCommittedEntries: the entries each commit hands over fill
// the run without a read of the store, even a commit larger than the run,
// and senders keeping up, lagging or far behind get exactly what the store
// holds.
func TestOutboxTakesCommittedEntries(t *testing.T) {
	var o outbox
	n := 2*outboxEntries + 3000 + 700
	l, _ := sealedLogInto(t, n, []int{1, 250, 3000, 7}, &o)
	o.mu.Lock()
	from, held := o.from, len(o.entries)
	o.mu.Unlock()
	if end := from + int64(held); end != l.Size() || held < outboxEntries || held > 2*outboxEntries {
		t.Fatalf("after the commits the run holds %d entries up to %d; want %d to %d entries up to the log's size %d",
			held, end, outboxEntries, 2*outboxEntries, l.Size())
	}
	checkRead(t, &o, l, from, l.Size()) // keeping up: from the commits
	checkRead(t, &o, l, from+10, from+300)
	checkRead(t, &o, l, 0, 300) // far behind: from the store
	// A commit that does not follow the run is left for a read to fetch.
	o.committed([]partylog.NewEntry{{RawEntry: partylog.RawEntry{Index: l.Size() + 5}}})
	o.mu.Lock()
	end := o.from + int64(len(o.entries))
	o.mu.Unlock()
	if end != l.Size() {
		t.Fatalf("an entry past a gap joined the run, which now ends at %d", end)
	}
}

// TestOutboxForgetsErasedPayloads: once a shipment's key is destroyed and
// the outbox told to forget, senders are handed only the commitments of the
// shipment's entries, as the store now holds them.
func TestOutboxForgetsErasedPayloads(t *testing.T) {
	l, keys := sealedLog(t, 40, 10)
	var o outbox
	checkRead(t, &o, l, 0, 40)
	if err := keys.Destroy(docs.Shipment{CarrierBookingReference: "BKG-A"}.KeyID()); err != nil {
		t.Fatal(err)
	}
	o.forget()
	payloads := 0
	if err := o.read(context.Background(), l, 0, 40, func(i int64, e *outEntry) error {
		if e.canon == nil {
			return nil
		}
		ev, err := linkd.DecodeCanonical(e.canon)
		if err != nil {
			return err
		}
		if ev.CarrierBookingReference == "BKG-A" {
			t.Errorf("entry %d of the erased shipment still has its payload", i)
		}
		payloads++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if payloads != 20 {
		t.Errorf("%d entries kept their payload, want the other shipment's 20", payloads)
	}
}

// TestFrameCacheCompressesOnce: a frame like the last one compressed is
// answered with the same compressed bytes; another frame with its own.
func TestFrameCacheCompressesOnce(t *testing.T) {
	var c frameCache
	a := sampleFrame()
	b := append(sampleFrame(), 0)
	za := c.compress(a)
	if again := c.compress(bytes.Clone(a)); &again[0] != &za[0] {
		t.Error("the same frame was compressed again")
	}
	zb := c.compress(b)
	for _, tc := range []struct {
		z, want []byte
	}{{za, a}, {zb, b}} {
		got, release, err := readBody(bytes.NewReader(tc.z), "zstd")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("decompressed %d bytes that differ from the frame's %d", len(got), len(tc.want))
		}
		release()
	}
}
