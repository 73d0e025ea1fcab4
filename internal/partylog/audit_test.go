package partylog

import (
	"context"
	"crypto/cipher"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd/internal/tlog"
)

// TestAuditFindsTampering alters a log's store in each way an attacker with
// the disk, or a failing disk, could, and expects the audit to name the
// problem. The log holds 20 events appended in four batches, so checkpoints
// are stored at sizes 5, 10, 15 and 20.
func TestAuditFindsTampering(t *testing.T) {
	// A tree hash that only the leaves 4..7 make: level 2, node 1.
	innerHash := tlog.StoredHashIndex(2, 1)
	cases := []struct {
		name   string
		tamper func(t *testing.T, h *harness)
		want   []string // the error contains one of these
	}{
		{"salt altered", func(t *testing.T, h *harness) {
			edit(t, h, h.log.eventKey(7), func(v []byte) []byte { v[40] ^= 1; return v })
		}, []string{"event 7 does not hash to its stored leaf"}},
		{"leaf altered", func(t *testing.T, h *harness) {
			edit(t, h, h.log.eventKey(7), func(v []byte) []byte { v[3] ^= 1; return v })
		}, []string{"event 7 does not hash to its stored leaf", "does not match the events"}},
		{"payload truncated", func(t *testing.T, h *harness) {
			edit(t, h, h.log.eventKey(12), func(v []byte) []byte { return v[:len(v)-3] })
		}, []string{"event 12: not a canonical event encoding"}},
		{"event deleted", func(t *testing.T, h *harness) {
			del(t, h, h.log.eventKey(9))
		}, []string{"event 9 is missing"}},
		{"tree hash altered", func(t *testing.T, h *harness) {
			edit(t, h, h.log.hashKey(innerHash), func(v []byte) []byte { v[0] ^= 1; return v })
		}, []string{"does not match the events: the stored tree was altered"}},
		{"tree hash deleted", func(t *testing.T, h *harness) {
			del(t, h, h.log.hashKey(innerHash))
		}, []string{"is missing from the store"}},
		{"checkpoint text altered", func(t *testing.T, h *harness) {
			edit(t, h, h.log.checkpointKey(10), func(v []byte) []byte {
				return []byte(strings.Replace(string(v), "\n10\n", "\n11\n", 1))
			})
		}, []string{"checkpoint at size 10:"}},
		{"checkpoint moved to another size", func(t *testing.T, h *harness) {
			v, closer, err := h.db.Get(h.log.checkpointKey(10))
			if err != nil {
				t.Fatal(err)
			}
			moved := append([]byte(nil), v...)
			closer.Close()
			if err := h.db.Set(h.log.checkpointKey(15), moved, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, []string{"the checkpoint stored at size 15 is for size 10"}},
		{"checkpoint of another tree, validly signed", func(t *testing.T, h *harness) {
			_, cp := h.log.Checkpoint()
			signer, err := tlog.NewSigner(h.skey)
			if err != nil {
				t.Fatal(err)
			}
			cp.Size = 15
			cp.Hash[0] ^= 1 // the 15-leaf tree of a rewritten log
			note, err := tlog.SignCheckpoint(cp, signer)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.db.Set(h.log.checkpointKey(15), note, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, []string{"checkpoint at size 15: its root", "the log was rewritten"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for b := range uint64(4) {
				h.append(events(b+1, 5)...)
			}
			if rep, err := h.log.Audit(context.Background(), nil); err != nil || rep.Size != 20 || rep.Checkpoints != 4 {
				t.Fatalf("audit before tampering = %+v, %v; want 20 events and 4 checkpoints", rep, err)
			}
			tc.tamper(t, h)
			_, err := h.log.Audit(context.Background(), nil)
			if err == nil {
				t.Fatal("audit after tampering found nothing")
			}
			for _, w := range tc.want {
				if strings.Contains(err.Error(), w) {
					return
				}
			}
			t.Fatalf("audit error = %q, want it to contain one of %q", err, tc.want)
		})
	}
}

// TestAuditReportsTheFirstProblem: with several records altered, the
// error names the first in log order, whichever worker checks it.
func TestAuditReportsTheFirstProblem(t *testing.T) {
	h := newHarness(t)
	for b := range uint64(8) {
		h.append(events(b+1, 200)...) // several jobs for the workers
	}
	for _, i := range []int64{1500, 700, 1201} {
		edit(t, h, h.log.eventKey(i), func(v []byte) []byte { v[40] ^= 1; return v })
	}
	for range 5 {
		_, err := h.log.Audit(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "event 700 does not hash") {
			t.Fatalf("audit error = %v, want event 700 named", err)
		}
	}
}

// TestAuditStopsWhenCancelled: an audit given up returns the context's error.
func TestAuditStopsWhenCancelled(t *testing.T) {
	h := newHarness(t)
	h.append(events(1, 600)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.log.Audit(ctx, nil); err != context.Canceled {
		t.Fatalf("audit with a cancelled context = %v, want context.Canceled", err)
	}
}

func edit(t *testing.T, h *harness, key []byte, f func([]byte) []byte) {
	t.Helper()
	editDB(t, h.db, key, f)
}

func del(t *testing.T, h *harness, key []byte) {
	t.Helper()
	if err := h.db.Delete(key, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// TestReplicaAudit audits a node's copy of a partner's log, which holds
// payloads of some entries and only the leaves of the others, and alters
// that copy in the ways TestAuditFindsTampering alters a log of its own.
func TestReplicaAudit(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB, r *Replica)
		want   string
	}{
		{"salt of a held payload altered", func(t *testing.T, db *pebble.DB, r *Replica) {
			editDB(t, db, r.eventKey(6), func(v []byte) []byte { v[40] ^= 1; return v })
		}, "event 6 does not hash to its stored leaf"},
		{"withheld leaf altered", func(t *testing.T, db *pebble.DB, r *Replica) {
			editDB(t, db, r.eventKey(7), func(v []byte) []byte { v[3] ^= 1; return v })
		}, "does not match the events"},
		{"origin's checkpoint altered", func(t *testing.T, db *pebble.DB, r *Replica) {
			editDB(t, db, r.checkpointKey(10), func(v []byte) []byte {
				return []byte(strings.Replace(string(v), "\n10\n", "\n11\n", 1))
			})
		}, "checkpoint at size 10:"},
		{"entry deleted", func(t *testing.T, db *pebble.DB, r *Replica) {
			if err := db.Delete(r.eventKey(13), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, "event 13 is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newHarness(t)
			dst := newPeerNode(t)
			if _, err := dst.own.Append(context.Background(), events(9, 3)); err != nil { // the own log beside the replica
				t.Fatal(err)
			}
			r, err := dst.logs.Replica(terminal, src.vkey)
			if err != nil {
				t.Fatal(err)
			}
			for b := range int64(4) {
				src.append(events(uint64(b+1), 5)...)
				note, entries := frame(t, src.log, 5*b, 5*b+5, func(i int64) bool { return i%2 == 0 })
				if _, err := r.Apply(context.Background(), 5*b, note, entries, nil); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := r.Audit(context.Background(), nil)
			_, cp := src.log.Checkpoint()
			if err != nil || rep.Size != 20 || rep.Checkpoints != 4 || rep.Withheld != 10 || rep.Erased != 0 || rep.Root != tlog.Hash(cp.Hash) {
				t.Fatalf("audit of the replica before tampering = %+v, %v; want the origin's 20 entries and root, 4 checkpoints, 10 held as leaves", rep, err)
			}
			if own, err := dst.own.Audit(context.Background(), nil); err != nil || own.Size != 3 || own.Withheld != 0 {
				t.Fatalf("audit of the own log beside the replica = %+v, %v; want its 3 events", own, err)
			}
			db := dst.db.(*pebble.DB)
			tc.tamper(t, db, r)
			if _, err := r.Audit(context.Background(), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("audit of the altered replica = %v, want an error naming %q", err, tc.want)
			}
			if _, err := dst.own.Audit(context.Background(), nil); err != nil {
				t.Fatalf("the own log's audit caught the replica's damage: %v", err)
			}
		})
	}
}

func editDB(t *testing.T, db *pebble.DB, key []byte, f func([]byte) []byte) {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	nv := f(append([]byte(nil), v...))
	closer.Close()
	if err := db.Set(key, nv, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// countingSealer counts the ciphers taken through the Sealer, from the
// node's cache.
type countingSealer struct {
	bookingSealer
	taken *atomic.Int64
}

func (s countingSealer) AEAD(id string) (cipher.AEAD, error) {
	s.taken.Add(1)
	return s.bookingSealer.AEAD(id)
}

// TestAuditOpensWithCiphersOfItsOwn: an audit opens every sealed record
// through a pass over the keys (shred.Pass), none through the node's cache,
// whose ciphers the writes use; reads still go through the node's.
func TestAuditOpensWithCiphersOfItsOwn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, _, _ := testKey(t)
	db, keys := openKeyedStore(t, dir)
	var taken atomic.Int64
	l, err := Open(db, Config{Self: terminal, SigningKey: skey, Sealer: countingSealer{bookingSealer{keys}, &taken}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evs := events(61, 300)
	for i := range evs {
		evs[i].CarrierBookingReference = fmt.Sprintf("BKG-PASS-%02d", i%30)
	}
	for i := 0; i < len(evs); i += 50 {
		if _, err := l.Append(ctx, evs[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	taken.Store(0)
	if _, err := l.Get(ctx, 7); err != nil || taken.Load() == 0 {
		t.Fatalf("a read took %d ciphers through the sealer (%v); the count does not work", taken.Load(), err)
	}
	taken.Store(0)
	rep, err := l.Audit(ctx, nil)
	if err != nil || rep.Size != int64(len(evs)) || rep.Erased != 0 {
		t.Fatalf("audit = %+v, %v; want %d events, none erased", rep, err, len(evs))
	}
	if n := taken.Load(); n != 0 {
		t.Errorf("the audit took %d ciphers from the node's cache, want none: its own pass opens the records", n)
	}
}
