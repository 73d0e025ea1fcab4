package subscribe_test

import (
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
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// replicaFixture is a peer's node holding a replica of the terminal's log:
// its own log and the replica seal records under shipment keys, as a node's
// do.
type replicaFixture struct {
	src  *partylog.Log // the terminal's log, at its own node
	logs *partylog.Logs
	rep  *partylog.Replica
	keys *shred.Keys
}

func newReplicaFixture(t *testing.T) *replicaFixture {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(scenario.Terminal.ID))
	if err != nil {
		t.Fatal(err)
	}
	srcDB, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := partylog.Open(srcDB, partylog.Config{Self: scenario.Terminal, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	carrier := linkd.Party{ID: "ocean-carrier", Name: "Ocean Carrier", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}}
	ckey, _, err := tlog.GenerateKey(linkd.LogOrigin(carrier.ID))
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
	own, err := partylog.Open(db, partylog.Config{Self: carrier, SigningKey: ckey, Sealer: docs.EventSealer{Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	f := &replicaFixture{src: src, logs: partylog.NewLogs(own, nil), keys: keys}
	if f.rep, err = f.logs.Replica(scenario.Terminal, vkey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		own.Close()
		keys.Close()
		db.Close()
		src.Close()
		srcDB.Close()
	})
	return f
}

// record appends n events to the terminal's log, on booking BKG-A or BKG-B
// by turns, and returns them as recorded.
func (f *replicaFixture) record(t *testing.T, g *scenario.Generator, n int) {
	t.Helper()
	evs := g.Batch(n)
	for i := range evs {
		evs[i].CarrierBookingReference = []string{"BKG-A", "BKG-B"}[i%2]
	}
	if _, err := f.src.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// apply sends the replica the terminal's entries [from, to) as a link
// would, with the payload of every third entry left out.
func (f *replicaFixture) apply(t *testing.T, from, to int64) partylog.ApplyResult {
	t.Helper()
	ctx := context.Background()
	note, err := f.src.CheckpointAt(to)
	if err != nil {
		t.Fatal(err)
	}
	var entries []partylog.RemoteEntry
	if err := f.src.ReadRange(ctx, from, to, func(re *partylog.RawEntry) error {
		if re.Index%3 == 2 {
			entries = append(entries, partylog.RemoteEntry{Leaf: re.Leaf})
		} else {
			entries = append(entries, partylog.RemoteEntry{Canon: slices.Clone(re.Canon), Salt: slices.Clone(re.Salt)})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res, err := f.rep.Apply(ctx, from, note, entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readAll reads the feed from cur to its end and returns what it passed.
func readAll(t *testing.T, feed *subscribe.Feed, cur subscribe.Cursor) []subscribe.Item {
	t.Helper()
	var out []subscribe.Item
	for {
		n, err := feed.Read(context.Background(), cur, 7, func(it subscribe.Item) error {
			out = append(out, it)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

// TestFeedHandsOnAppliedFramesAsStored: events a frame stored reach readers
// exactly as the replica holds them, in log order, each once, whether a
// reader takes them from what Applied kept or from the store; entries held
// as commitments only are passed over.
func TestFeedHandsOnAppliedFramesAsStored(t *testing.T) {
	f := newReplicaFixture(t)
	g := scenario.NewGenerator(3, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	f.record(t, g, 12)
	f.record(t, g, 12)
	feed := subscribe.NewFeed(f.logs)
	f.apply(t, 0, 12) // before the feed heard of it: only in the store
	feed.Applied(scenario.Terminal.ID, f.apply(t, 12, 24))

	for _, start := range []int64{0, 5, 12, 17} {
		got := readAll(t, feed, subscribe.Cursor{scenario.Terminal.ID: start})
		var want []int64
		for i := start; i < 24; i++ {
			if i%3 != 2 {
				want = append(want, i)
			}
		}
		var at []int64
		for _, it := range got {
			at = append(at, it.Index)
			stored, err := f.rep.Get(context.Background(), it.Index)
			if err != nil || stored.Event.EventID != it.Event.EventID || it.Party != scenario.Terminal.ID {
				t.Fatalf("from %d: item at %d of %s is %s; the replica holds %s (%v)", start, it.Index, it.Party, it.Event.EventID, stored.Event.EventID, err)
			}
			if it.Checkpoint.Size != 24 {
				t.Fatalf("from %d: item at %d comes with a checkpoint of size %d, want 24", start, it.Index, it.Checkpoint.Size)
			}
		}
		if !slices.Equal(at, want) {
			t.Errorf("from %d: read indexes %v, want %v", start, at, want)
		}
	}
}

// TestFeedForgetsErasedPayloads: once a shipment's key is destroyed and the
// feed told to Forget, no reader is handed the shipment's events, though
// the feed kept them in memory when their frame was applied; and the other
// caches registered with OnForget are dropped too.
func TestFeedForgetsErasedPayloads(t *testing.T) {
	f := newReplicaFixture(t)
	g := scenario.NewGenerator(4, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	f.record(t, g, 10)
	feed := subscribe.NewFeed(f.logs)
	forgot := 0
	feed.OnForget(func() { forgot++ })
	feed.Applied(scenario.Terminal.ID, f.apply(t, 0, 10))
	before := readAll(t, feed, subscribe.Cursor{})
	if len(before) == 0 {
		t.Fatal("the feed passed no events before the erasure")
	}

	if err := f.keys.Destroy(docs.Shipment{CarrierBookingReference: "BKG-A"}.KeyID()); err != nil {
		t.Fatal(err)
	}
	feed.Forget()
	after := readAll(t, feed, subscribe.Cursor{})
	for _, it := range after {
		if it.Event.CarrierBookingReference == "BKG-A" {
			t.Errorf("event %s of the erased shipment was read after Forget", it.Event.EventID)
		}
	}
	ofB := func(items []subscribe.Item) (n int) {
		for _, it := range items {
			if it.Event.CarrierBookingReference == "BKG-B" {
				n++
			}
		}
		return n
	}
	if ofB(after) != ofB(before) || ofB(before) == 0 {
		t.Errorf("the other shipment had %d events read before the erasure and %d after, want the same", ofB(before), ofB(after))
	}
	if forgot != 1 {
		t.Errorf("Forget ran the function given to OnForget %d times, want 1", forgot)
	}
}
