package partylog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// bookingSealer seals each event under its booking, as internal/docs'
// sealer does under a shipment's first reference.
type bookingSealer struct{ *shred.Keys }

func (bookingSealer) KeyID(e *linkd.Event) string {
	if e.CarrierBookingReference == "" {
		return ""
	}
	return "b:" + e.CarrierBookingReference
}

// sealedLog is a log whose records are sealed under per-booking keys kept
// beside its store.
type sealedLog struct {
	t    *testing.T
	dir  string
	skey string
	db   *pebble.DB
	keys *shred.Keys
	log  *Log
}

func openSealed(t *testing.T, dir, skey string) *sealedLog {
	t.Helper()
	s := &sealedLog{t: t, dir: dir, skey: skey}
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.keys, err = shred.Open(db, filepath.Join(dir, "keys"), nil); err != nil {
		t.Fatal(err)
	}
	if s.log, err = Open(db, Config{Self: terminal, SigningKey: skey, Sealer: bookingSealer{s.keys}}); err != nil {
		t.Fatal(err)
	}
	s.db = db
	t.Cleanup(s.close)
	return s
}

func (s *sealedLog) close() {
	if s.log != nil {
		s.log.Close()
		s.keys.Close()
		s.db.Close()
		s.log = nil
	}
}

// onDisk reports whether any file of the store holds b.
func onDisk(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			c, _ := os.ReadFile(p)
			found = found || bytes.Contains(c, b)
		}
		return nil
	})
	return found
}

// TestSealedRecordsAreErasedWithTheirKey: records of a shipment are sealed
// at rest (its payload is nowhere in the store's files) and read back as
// recorded; destroying the shipment's key erases exactly its events — not
// readable, not found by queries, read as commitments by links — while the
// tree, its proofs and an audit stay valid, across a reopen; the log then
// refuses the shipment's events, new or repeated.
func TestSealedRecordsAreErasedWithTheirKey(t *testing.T) {
	ctx := context.Background()
	skey, _, _ := testKey(t)
	dir := t.TempDir()
	s := openSealed(t, dir, skey)
	evs := events(41, 60)
	const secret = "CANARY-SEALED-REASON-4711"
	var gone, kept []int
	for i := range evs {
		evs[i].CarrierBookingReference = []string{"BKG-GONE", "BKG-KEPT"}[i%2]
		if i%2 == 0 {
			evs[i].Reason = secret
			gone = append(gone, i)
		} else {
			kept = append(kept, i)
		}
	}
	acks, err := s.log.Append(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if onDisk(t, dir, []byte(secret)) {
		t.Fatal("the payload is in the clear in the store's files")
	}
	rec, err := s.log.Get(ctx, acks[0].LogIndex)
	if err != nil || rec.Event.Reason != secret || rec.Commitment() != [32]byte(mustLeafData(t, s.log, acks[0].LogIndex)) {
		t.Fatalf("a sealed record read back: %+v, %v", rec.Event.Reason, err)
	}
	_, cp := s.log.Checkpoint()

	if err := s.keys.Destroy("b:BKG-GONE"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, i := range gone {
			_, err := s.log.Get(ctx, acks[i].LogIndex)
			if linkd.ErrorCode(err) != linkd.ENotFound || !IsErased(err) {
				t.Fatalf("%s: reading erased event %d: %v, want not found (erased)", when, i, err)
			}
		}
		for _, i := range kept {
			if rec, err := s.log.GetByID(ctx, acks[i].EventID); err != nil || rec.Event.EventID != acks[i].EventID {
				t.Fatalf("%s: event %d of the other shipment: %v", when, i, err)
			}
		}
		for ref, want := range map[string]int{"BKG-GONE": 0, "BKG-KEPT": len(kept)} {
			page, err := s.log.Scan(ctx, Query{Index: ByBooking, Value: ref, Limit: 1000})
			if err != nil || len(page.Events) != want {
				t.Fatalf("%s: scan of %s: %d events, %v; want %d", when, ref, len(page.Events), err, want)
			}
		}
		var payloads, commitments int
		err := s.log.ReadRange(ctx, 0, s.log.Size(), func(re *RawEntry) error {
			if re.Canon == nil {
				commitments++
			} else {
				payloads++
			}
			return nil
		})
		if err != nil || payloads != len(kept) || commitments != len(gone) {
			t.Fatalf("%s: read range: %d payloads, %d commitments, %v; want %d and %d", when, payloads, commitments, err, len(kept), len(gone))
		}
		rep, err := s.log.Audit(ctx, nil)
		if err != nil || rep.Size != int64(len(evs)) || rep.Erased != int64(len(gone)) || rep.Root != cp.Hash {
			t.Fatalf("%s: audit: %+v, %v; want %d events, %d erased, the same root", when, rep, err, len(evs), len(gone))
		}
		if _, err := s.log.Append(ctx, evs[:1]); linkd.ErrorCode(err) != linkd.EConflict || !IsErased(err) {
			t.Fatalf("%s: repeating an erased event: %v, want a conflict (erased)", when, err)
		}
		more := events(42, 1)
		more[0].CarrierBookingReference = "BKG-GONE"
		if _, err := s.log.Append(ctx, more); linkd.ErrorCode(err) != linkd.EConflict || !IsErased(err) {
			t.Fatalf("%s: a new event of the erased shipment: %v, want a conflict (erased)", when, err)
		}
		if s.log.Size() != int64(len(evs)) {
			t.Fatalf("%s: the refused appends grew the log to %d", when, s.log.Size())
		}
	}
	check("after erasure")
	s.close()
	s = openSealed(t, dir, skey)
	check("after a reopen")
	more := events(43, 1)
	more[0].CarrierBookingReference = "BKG-KEPT"
	if _, err := s.log.Append(ctx, more); err != nil {
		t.Fatalf("an event of the other shipment after the erasure: %v", err)
	}
}

func mustLeafData(t *testing.T, l *Log, index int64) [32]byte {
	t.Helper()
	var leaf [32]byte
	err := l.ReadRange(context.Background(), index, index+1, func(re *RawEntry) error {
		leaf = linkd.Commitment(re.Canon, re.Salt)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestReplicaSealsAndDropsErasedPayloads: a replica seals the payloads it
// stores under its own keys; a payload of a shipment already erased on the
// replica's node arrives, is verified, and is kept as its commitment only,
// not handed on; a zero salt is refused as malformed.
func TestReplicaSealsAndDropsErasedPayloads(t *testing.T) {
	ctx := context.Background()
	src := newHarness(t)
	evs := events(51, 10)
	for i := range evs {
		evs[i].CarrierBookingReference = []string{"BKG-A", "BKG-B"}[i%2]
		evs[i].Reason = "CANARY-REPLICA-0815"
	}
	src.append(evs...)

	dir := t.TempDir()
	db, keys := openKeyedStore(t, dir)
	if err := keys.Destroy("b:BKG-B"); err != nil {
		t.Fatal(err)
	}
	cskey, _, err := tlog.GenerateKey(linkd.LogOrigin(carrier.ID))
	if err != nil {
		t.Fatal(err)
	}
	own, err := Open(db, Config{Self: carrier, SigningKey: cskey, Sealer: bookingSealer{keys}})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	r, err := NewLogs(own, nil).Replica(terminal, src.vkey)
	if err != nil {
		t.Fatal(err)
	}
	note, entries := frame(t, src.log, 0, 10, nil)
	bad := append([]RemoteEntry(nil), entries...)
	bad[3].Salt = make([]byte, linkd.SaltSize)
	if _, err := r.Apply(ctx, 0, note, bad, nil); !errors.Is(err, ErrBadEntry) || r.Size() != 0 {
		t.Fatalf("a frame with a zero salt: %v, size %d; want ErrBadEntry and nothing stored", err, r.Size())
	}
	res, err := r.Apply(ctx, 0, note, entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payloads != 5 || res.Hashes != 5 || len(res.Events) != 5 {
		t.Fatalf("apply: %d payloads, %d hashes, %d events; want 5 each, the erased shipment's as hashes", res.Payloads, res.Hashes, len(res.Events))
	}
	for _, e := range res.Events {
		if e.CarrierBookingReference != "BKG-A" {
			t.Fatalf("an event of the erased shipment was handed on: %s", e.EventID)
		}
	}
	for i := range int64(10) {
		_, err := r.Get(ctx, i)
		if (i%2 == 1) != (linkd.ErrorCode(err) == linkd.ENotFound) {
			t.Fatalf("replica entry %d: %v", i, err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if onDisk(t, dir, []byte("CANARY-REPLICA-0815")) {
		t.Fatal("a replicated payload is in the clear in the store's files")
	}
}

// TestSealedClusterMembersAgree: members of a cluster seal under keys of
// their own, yet agree on every root; a snapshot carries the records to a
// new member, which seals them under its keys (nothing in the clear in its
// store) and reads them back; a shipment erased on one member before an
// append is kept there as commitments while the tree stays the same.
func TestSealedClusterMembersAgree(t *testing.T) {
	ctx := context.Background()
	g := &fakeGroup{}
	for range 2 {
		m := &fakeMember{dir: t.TempDir(), sealed: true}
		g.members = append(g.members, m)
		g.open(t, m)
	}
	t.Cleanup(func() {
		for _, m := range g.members {
			g.close(m)
		}
	})
	evs := events(61, 20)
	for i := range evs {
		evs[i].CarrierBookingReference = []string{"BKG-C1", "BKG-C2"}[i%2]
		evs[i].Reason = "CANARY-CLUSTER-2207"
	}
	if _, err := g.members[0].log.Append(ctx, evs[:10]); err != nil {
		t.Fatal(err)
	}
	// The second member learnt of an erasure of BKG-C2 the first has not.
	if err := g.members[1].keys.Destroy("b:BKG-C2"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.members[0].log.Append(ctx, evs[10:]); err != nil {
		t.Fatal(err)
	}
	if noteOf(g.members[0].log) != noteOf(g.members[1].log) {
		t.Fatal("the members' checkpoints differ")
	}
	if _, err := g.members[1].log.Get(ctx, 11); !IsErased(err) {
		t.Errorf("an entry of the shipment erased on member 2: %v, want erased", err)
	}
	// Member 2's consensus log holds what it just kept as commitments: it
	// is told, so that it compacts that log.
	if n0, n1 := g.members[0].erased.Load(), g.members[1].erased.Load(); n0 != 0 || n1 == 0 {
		t.Errorf("OnErased called %d times on member 1 and %d on member 2; want none and some", n0, n1)
	}
	if rec, err := g.members[0].log.Get(ctx, 11); err != nil || rec.Event.CarrierBookingReference != "BKG-C2" {
		t.Errorf("the same entry on member 1: %v", err)
	}

	snap := snapshotBytes(t, g.members[0].log)
	fresh := &fakeMember{dir: t.TempDir(), sealed: true}
	g.open(t, fresh)
	defer g.close(fresh)
	if err := fresh.log.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if noteOf(fresh.log) != noteOf(g.members[0].log) {
		t.Fatal("the restored member's checkpoint differs")
	}
	for i := range int64(20) {
		if rec, err := fresh.log.Get(ctx, i); err != nil || rec.Event.Reason != "CANARY-CLUSTER-2207" {
			t.Fatalf("restored entry %d: %v", i, err)
		}
	}
	if rep, err := fresh.log.Audit(ctx, nil); err != nil || rep.Size != 20 || rep.Erased != 0 {
		t.Fatalf("audit of the restored member: %+v, %v", rep, err)
	}
	if err := fresh.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if onDisk(t, fresh.dir, []byte("CANARY-CLUSTER-2207")) {
		t.Fatal("the restored member holds payloads in the clear")
	}
	// A member that erased BKG-C2 before a snapshot from before the
	// erasure reached it keeps those records as commitments, and is told.
	late := &fakeMember{dir: t.TempDir(), sealed: true}
	g.open(t, late)
	defer g.close(late)
	if err := late.keys.Destroy("b:BKG-C2"); err != nil {
		t.Fatal(err)
	}
	if err := late.log.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if _, err := late.log.Get(ctx, 11); !IsErased(err) {
		t.Errorf("an entry of BKG-C2 restored after its erasure: %v, want erased", err)
	}
	if late.erased.Load() == 0 {
		t.Error("restoring a snapshot with records of an erased shipment did not call OnErased")
	}
}

// TestSealedRecordsNeedTheirKeys: a store whose records are sealed, opened
// without its keys, says so for a record it cannot open, and its audit
// fails naming the problem, rather than reading the sealed bytes as an
// event or counting them as erased.
func TestSealedRecordsNeedTheirKeys(t *testing.T) {
	ctx := context.Background()
	skey, _, _ := testKey(t)
	dir := t.TempDir()
	s := openSealed(t, dir, skey)
	evs := events(71, 4)
	for i := range evs {
		evs[i].CarrierBookingReference = "BKG-KEYS"
	}
	if _, err := s.log.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	s.close()

	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := Open(db, Config{Self: terminal, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const want = "a sealed record (key \"b:BKG-KEYS\") in a log opened without its keys"
	if _, err := l.Get(ctx, 2); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reading a sealed record without the keys: %v, want %q", err, want)
	}
	if rep, err := l.Audit(ctx, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("auditing sealed records without the keys: %+v, %v; want %q", rep, err, want)
	}
}
