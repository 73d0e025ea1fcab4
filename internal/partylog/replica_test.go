package partylog

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var carrier = linkd.Party{ID: "ocean-carrier", Name: "Ocean Carrier", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}}

// peerNode is a second node's store: its own log and its replicas.
type peerNode struct {
	t    testing.TB
	dir  string
	skey string
	logs *Logs
	own  *Log
	db   interface{ Close() error }
}

func newPeerNode(t testing.TB) *peerNode {
	t.Helper()
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(carrier.ID))
	if err != nil {
		t.Fatal(err)
	}
	p := &peerNode{t: t, dir: t.TempDir(), skey: skey}
	p.open()
	t.Cleanup(p.close)
	return p
}

func (p *peerNode) open() {
	db, err := store.Open(p.dir, store.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	own, err := Open(db, Config{Self: carrier, SigningKey: p.skey})
	if err != nil {
		p.t.Fatal(err)
	}
	p.db, p.own, p.logs = db, own, NewLogs(own, nil)
}

func (p *peerNode) close() {
	if p.own != nil {
		p.own.Close()
		p.db.Close()
		p.own = nil
	}
}

// frame reads src's entries [from, to) as a link would send them: payloads
// where withPayload says so, leaf hashes elsewhere.
func frame(t testing.TB, src *Log, from, to int64, withPayload func(int64) bool) ([]byte, []RemoteEntry) {
	t.Helper()
	note, err := src.CheckpointAt(to)
	if err != nil {
		t.Fatal(err)
	}
	var out []RemoteEntry
	err = src.ReadRange(context.Background(), from, to, func(re *RawEntry) error {
		if withPayload == nil || withPayload(re.Index) {
			out = append(out, RemoteEntry{Canon: append([]byte(nil), re.Canon...), Salt: append([]byte(nil), re.Salt...)})
		} else {
			out = append(out, RemoteEntry{Leaf: re.Leaf})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return note, out
}

func TestReplicaVerifiesStoresAndMergesIntoQueries(t *testing.T) {
	src := newHarness(t)
	evs := events(7, 30)
	for i := range evs {
		evs[i].CarrierBookingReference = "BKG-REPL"
	}
	src.append(evs[:10]...)
	src.append(evs[10:30]...)
	dst := newPeerNode(t)
	rep, err := dst.logs.Replica(terminal, src.vkey)
	if err != nil {
		t.Fatal(err)
	}
	// The index flush never runs, as if the node died before it: the
	// restart below must make the entries again from the stored records.
	dst.own.ix.halt()
	ctx := context.Background()
	odd := func(i int64) bool { return i%2 == 1 }
	note, entries := frame(t, src.log, 0, 10, odd)
	res, err := rep.Apply(ctx, 0, note, entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 10 || res.Payloads != 5 || res.Hashes != 5 {
		t.Fatalf("apply = %+v, want size 10 with 5 payloads and 5 hashes", res)
	}
	// Each stored event comes with its log index: the odd ones.
	if len(res.Events) != 5 || len(res.Indexes) != 5 {
		t.Fatalf("apply returned %d events at %v, want 5 with their indexes", len(res.Events), res.Indexes)
	}
	for i, x := range res.Indexes {
		stored, err := src.log.Get(ctx, x)
		if err != nil || x%2 != 1 || stored.Event.EventID != res.Events[i].EventID {
			t.Fatalf("event %d (%s) is reported at index %d, which holds %s (%v)", i, res.Events[i].EventID, x, stored.Event.EventID, err)
		}
	}
	note, entries = frame(t, src.log, 10, 30, odd)
	if _, err := rep.Apply(ctx, 10, note, entries, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := src.log.TreeHash(30)
	if got, _ := rep.TreeHash(30); got != want {
		t.Fatalf("replica root %x, origin's %x", got, want)
	}
	// The carrier's own event on the same booking and the terminal's merge.
	own := events(8, 1)
	own[0].CarrierBookingReference = "BKG-REPL"
	if _, err := dst.own.Append(ctx, own); err != nil {
		t.Fatal(err)
	}
	page, err := dst.logs.Scan(ctx, Query{Index: ByBooking, Value: "BKG-REPL", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	origins := map[string]int{}
	for _, r := range page.Events {
		origins[r.Event.Origin]++
		if r.Event.Origin == terminal.ID && r.LogIndex%2 == 0 {
			t.Fatalf("event %d was sent as a commitment only, yet a query returned it", r.LogIndex)
		}
	}
	if origins[terminal.ID] != 15 || origins[carrier.ID] != 1 {
		t.Fatalf("query saw %v, want 15 of the terminal's events and 1 of the carrier's", origins)
	}
	r3, _ := src.log.Get(ctx, 3)
	r4, _ := src.log.Get(ctx, 4)
	got, err := dst.logs.GetByID(ctx, r3.Event.EventID)
	if err != nil || got.Event.EventID != r3.Event.EventID {
		t.Fatalf("GetByID of a replicated event = %v, %v", got.Event.EventID, err)
	}
	if _, err := dst.logs.GetByID(ctx, r4.Event.EventID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("GetByID of a commitment-only entry: %v, want not found", err)
	}
	// Restart: the replica is where it was, its entries made again from
	// its records (the payloads only), as they were never flushed.
	if n := countKeys(t, dst.own.db, []byte{prefixIndex}, []byte{prefixIndex + 1}); n != 0 {
		t.Fatalf("%d index keys were flushed: the test would not test the rebuild", n)
	}
	dst.close()
	dst.open()
	rep, err = dst.logs.Replica(terminal, src.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size() != 30 {
		t.Fatalf("after reopen the replica has %d entries, want 30", rep.Size())
	}
	page, _ = dst.logs.Scan(ctx, Query{Index: ByBooking, Value: "BKG-REPL", Limit: 100})
	if len(page.Events) != 16 {
		t.Fatalf("after reopen the booking has %d events, want 16", len(page.Events))
	}
	if got, err := dst.logs.GetByID(ctx, r3.Event.EventID); err != nil || got.Event.EventID != r3.Event.EventID {
		t.Fatalf("after reopen GetByID of a replicated event = %v, %v", got.Event.EventID, err)
	}
	if _, err := dst.logs.GetByID(ctx, r4.Event.EventID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("after reopen GetByID of a commitment-only entry: %v, want not found", err)
	}
}

func TestReplicaRefusesBadFramesWithoutTrace(t *testing.T) {
	src := newHarness(t)
	src.append(events(1, 4)...)
	src.append(events(2, 4)...)
	dst := newPeerNode(t)
	rep, err := dst.logs.Replica(terminal, src.vkey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	note, entries := frame(t, src.log, 0, 4, nil)
	if _, err := rep.Apply(ctx, 0, note, entries, nil); err != nil {
		t.Fatal(err)
	}
	note8, entries8 := frame(t, src.log, 4, 8, nil)

	otherKey, _, _ := testKey(t) // same origin name, another key
	forger, _ := tlog.NewSigner(otherKey)
	_, cp := src.log.Checkpoint()
	forged, _ := tlog.SignCheckpoint(cp, forger)

	tampered := make([]RemoteEntry, len(entries8))
	copy(tampered, entries8)
	tampered[1].Canon = []byte(strings.Replace(string(tampered[1].Canon), "a", "b", 1))

	cases := []struct {
		name    string
		from    int64
		note    []byte
		entries []RemoteEntry
		admit   func(*linkd.Event) error
		kind    error
	}{
		{"forged signature", 4, forged, entries8, nil, ErrBadCheckpoint},
		{"garbage note", 4, []byte("not a note"), entries8, nil, ErrBadCheckpoint},
		{"gap", 5, note8, entries8[1:], nil, ErrGap},
		{"tampered payload", 4, note8, tampered, nil, ErrRootMismatch},
		{"too few entries", 4, note8, entries8[:3], nil, ErrRootMismatch},
		{"salt on a commitment", 4, note8, append([]RemoteEntry{{Leaf: entries8[0].Leaf, Salt: make([]byte, 32)}}, entries8[1:]...), nil, ErrBadEntry},
		{"payload refused", 4, note8, entries8, func(*linkd.Event) error { return errors.New("residency EU") }, ErrNotAdmitted},
	}
	for _, c := range cases {
		_, err := rep.Apply(ctx, c.from, c.note, c.entries, c.admit)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.kind)
		}
		if rep.Size() != 4 {
			t.Fatalf("%s: the replica grew to %d", c.name, rep.Size())
		}
	}
	// Nothing of the refused frames is visible, and the honest frame still applies.
	page, _ := dst.logs.Scan(ctx, Query{Index: ByTime, Limit: 100})
	if len(page.Events) != 4 {
		t.Fatalf("a time scan sees %d events after refused frames, want 4", len(page.Events))
	}
	if _, err := rep.Apply(ctx, 4, note8, entries8, nil); err != nil {
		t.Fatalf("the honest frame after refusals: %v", err)
	}
	// A resent frame that overlaps what is held is accepted without change.
	if res, err := rep.Apply(ctx, 0, note8, append(append([]RemoteEntry{}, entries...), entries8...), nil); err != nil || res.Size != 8 {
		t.Fatalf("overlapping resend: %+v, %v", res, err)
	}
}

func TestReplicaCatchesAFork(t *testing.T) {
	src := newHarness(t)
	src.append(events(1, 6)...)
	dst := newPeerNode(t)
	rep, _ := dst.logs.Replica(terminal, src.vkey)
	ctx := context.Background()
	note, entries := frame(t, src.log, 0, 6, nil)
	if _, err := rep.Apply(ctx, 0, note, entries, nil); err != nil {
		t.Fatal(err)
	}
	// The same key signs a second history: a fork of the log at size 4.
	fork := newHarnessWithKey(t, src.skey, src.vkey)
	fork.append(events(9, 4)...)
	forkNote, _ := fork.log.Checkpoint()
	_, err := rep.Apply(ctx, 4, forkNote, nil, nil)
	var re *ReplicaError
	if !errors.As(err, &re) || !errors.Is(err, ErrFork) || re.Fork == nil {
		t.Fatalf("a smaller checkpoint from another history: %v, want a fork", err)
	}
	_, forkCP := fork.log.Checkpoint()
	if re.Fork.Implied == forkCP.Hash {
		t.Fatal("the fork's implied root equals the forged checkpoint's")
	}
	_, ourCP := src.log.Checkpoint()
	if err := tlog.VerifyConsistency(4, re.Fork.Implied, 6, ourCP.Hash, re.Fork.Proof); err != nil {
		t.Fatalf("the fork's proof does not tie the implied root to our checkpoint: %v", err)
	}
	// Gossip's check says the same without a frame.
	if err := rep.Check(forkNote); !errors.Is(err, ErrFork) {
		t.Fatalf("Check of the forked checkpoint: %v, want a fork", err)
	}
	if err := rep.Check([]byte("not a note")); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("Check of garbage: %v, want a bad checkpoint", err)
	}
	// An older checkpoint of the true history is fine.
	old, _ := src.log.CheckpointAt(6)
	if _, err := rep.Apply(ctx, 0, old, nil, nil); err != nil {
		t.Fatalf("the current checkpoint again: %v", err)
	}
}

func TestCheckpointBoundary(t *testing.T) {
	h := newHarness(t)
	h.append(events(1, 3)...) // checkpoint at 3
	h.append(events(2, 5)...) // at 8
	h.append(events(3, 4)...) // at 12
	cases := []struct{ from, limit, want int64 }{
		{0, 100, 12}, {0, 8, 8}, {0, 9, 8}, {0, 2, 3}, {3, 5, 8}, {8, 12, 12}, {3, 3, 8},
	}
	for _, c := range cases {
		got, err := h.log.CheckpointBoundary(c.from, c.limit)
		if err != nil || got != c.want {
			t.Errorf("CheckpointBoundary(%d, %d) = %d, %v; want %d", c.from, c.limit, got, err, c.want)
		}
	}
	if _, err := h.log.CheckpointBoundary(12, 20); err == nil {
		t.Error("a boundary above the log's size was found")
	}
}

func newHarnessWithKey(t testing.TB, skey, vkey string) *harness {
	h := &harness{t: t, dir: t.TempDir(), skey: skey, vkey: vkey}
	h.open()
	t.Cleanup(h.close)
	return h
}

// TestAuditOfAnEmptyLogBesideReplicas: a node that has recorded nothing yet
// but holds a partner's replica audits its own (empty) log as sound; the
// replica's events are not its own.
func TestAuditOfAnEmptyLogBesideReplicas(t *testing.T) {
	src := newHarness(t)
	src.append(events(3, 5)...)
	dst := newPeerNode(t)
	rep, err := dst.logs.Replica(terminal, src.vkey)
	if err != nil {
		t.Fatal(err)
	}
	note, entries := frame(t, src.log, 0, 5, nil)
	if _, err := rep.Apply(context.Background(), 0, note, entries, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.own.Audit(context.Background(), nil); err != nil {
		t.Fatalf("audit of an empty own log beside a replica: %v", err)
	}
}

// TestCollect: Collect follows the pages of a query to the end, or stops at
// the page that reaches its bound and says more are left.
func TestCollect(t *testing.T) {
	h := newHarness(t)
	h.append(events(5, 30)...)
	ctx := context.Background()
	all, more, err := Collect(ctx, h.log, Query{Index: ByTime, Limit: 10}, 0)
	if err != nil || more || len(all) != 30 {
		t.Fatalf("Collect without a bound: %d events, more %v, %v; want 30, false", len(all), more, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Event.EventDateTime.Before(all[i-1].Event.EventDateTime.Time) {
			t.Fatalf("event %d is earlier than event %d: pages out of order", i, i-1)
		}
	}
	some, more, err := Collect(ctx, h.log, Query{Index: ByTime, Limit: 10}, 15)
	if err != nil || !more || len(some) != 20 {
		t.Fatalf("Collect bounded at 15: %d events, more %v, %v; want the two pages (20) and more", len(some), more, err)
	}
}
