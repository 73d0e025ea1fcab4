package partylog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// newHarnessOn is newHarness with store options, for tests that swap the
// file system.
func newHarnessOn(t *testing.T, opts store.Options) *harness {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(terminal.ID))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: t.TempDir(), skey: skey, vkey: vkey, opts: opts}
	h.open()
	t.Cleanup(h.close)
	return h
}

// TestSyncFailureStopsWritePath proves that a failed WAL fsync is fatal for
// the write path: the append whose fsync failed is not acknowledged, no later
// append is either, what was acknowledged before stays readable, and a
// restart recovers everything acknowledged.
func TestSyncFailureStopsWritePath(t *testing.T) {
	ffs := &store.FailingFS{FS: vfs.Default, Match: ".log"}
	h := newHarnessOn(t, store.Options{FS: ffs})
	ctx := context.Background()

	acked := h.append(events(1, 30)...)
	note, cp := h.log.Checkpoint()

	// Pebble treats a failed WAL sync as sticky and panics at the next WAL
	// rotation (in production that ends the process; nothing was acked).
	// A fresh memtable keeps the failing append from rotating the WAL.
	if err := h.db.Flush(); err != nil {
		t.Fatal(err)
	}
	ffs.Arm()
	lost := events(2, 10)
	for i := range lost {
		lost[i].EventID = crashEventID(999, 0, i)
	}
	acks, err := h.log.Append(ctx, lost)
	if code := linkd.ErrorCode(err); code != linkd.EUnavailable || acks != nil {
		t.Fatalf("append after a failed fsync = %d acks, %v (code %q); want no acks and code %q", len(acks), err, code, linkd.EUnavailable)
	}
	if !errors.Is(err, store.ErrInjectedSync) {
		t.Errorf("the error %v does not wrap the fsync failure %v for the log", err, store.ErrInjectedSync)
	}
	// The write path stays stopped: new events, more of the lost batch, and
	// even an exact retry of acknowledged events are refused.
	for i, batch := range [][]linkd.Event{events(3, 1), lost, events(1, 30)[:5], events(4, 50)} {
		acks, err := h.log.Append(ctx, batch)
		if code := linkd.ErrorCode(err); code != linkd.EUnavailable || acks != nil {
			t.Fatalf("append %d after the write path stopped = %d acks, %v (code %q); want no acks and code %q", i, len(acks), err, code, linkd.EUnavailable)
		}
	}
	if got := h.log.Size(); got != int64(len(acked)) {
		t.Fatalf("size after the failed fsync = %d, want %d (only what was acknowledged)", got, len(acked))
	}
	if gotNote, gotCP := h.log.Checkpoint(); string(gotNote) != string(note) || gotCP.Size != cp.Size || gotCP.Hash != cp.Hash {
		t.Fatalf("the checkpoint moved to %+v after a failed fsync; want %+v", gotCP, cp)
	}
	checkAcked(t, h.log, acked, nil)
	for _, e := range lost {
		if _, err := h.log.GetByID(ctx, e.EventID); linkd.ErrorCode(err) != linkd.ENotFound {
			t.Fatalf("an event of the append whose fsync failed is readable (%v); want code %q", err, linkd.ENotFound)
		}
	}
	if _, err := h.log.Audit(ctx, nil); err != nil {
		t.Fatalf("audit of the stopped log: %v", err)
	}

	h.close()
	h.opts = store.Options{}
	h.open()
	if got := h.log.Size(); got < int64(len(acked)) {
		t.Fatalf("size after restart = %d, want at least %d", got, len(acked))
	}
	checkAcked(t, h.log, acked, nil)
	if _, err := h.log.Audit(ctx, nil); err != nil {
		t.Fatalf("audit after restart: %v", err)
	}
	if _, err := h.log.Append(ctx, events(5, 3)); err != nil {
		t.Fatalf("append after restart: %v", err)
	}
}

// TestSyncFailureUnderConcurrentAppends arms the failure while many appends
// are in flight: every append returns (none hangs), each either with acks or
// with code unavailable and no acks, none succeeds after the first failure,
// and everything acknowledged survives a restart.
func TestSyncFailureUnderConcurrentAppends(t *testing.T) {
	ffs := &store.FailingFS{FS: vfs.Default, Match: ".log"}
	h := newHarnessOn(t, store.Options{FS: ffs})
	ctx := context.Background()

	const writers = 8
	var (
		mu     sync.Mutex
		acked  []linkd.Ack // guarded by mu
		failed int         // guarded by mu
	)
	progress := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			gen := scenario.NewGenerator(uint64(100+w), base)
			for n := 0; ; {
				batch := gen.Batch(1 + rng.IntN(20))
				for i := range batch {
					batch[i].EventID = crashEventID(0, w, n)
					n++
				}
				acks, err := h.log.Append(ctx, batch)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					if code := linkd.ErrorCode(err); code != linkd.EUnavailable || acks != nil {
						t.Errorf("writer %d: failed append = %d acks, %v (code %q); want no acks and code %q", w, len(acks), err, code, linkd.EUnavailable)
					}
					// Once one append failed, every later one must too.
					if acks, err := h.log.Append(ctx, gen.Batch(1)); linkd.ErrorCode(err) != linkd.EUnavailable || acks != nil {
						t.Errorf("writer %d: append after a failure = %d acks, %v; want code %q", w, len(acks), err, linkd.EUnavailable)
					}
					return
				}
				if len(acks) != len(batch) {
					t.Errorf("writer %d: %d acks for %d events", w, len(acks), len(batch))
				}
				mu.Lock()
				acked = append(acked, acks...)
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	for range 20 {
		<-progress
	}
	// Pebble treats a failed WAL sync as sticky and panics at the next WAL
	// rotation (in production that ends the process; nothing was acked).
	// A fresh memtable keeps the failing append from rotating the WAL.
	if err := h.db.Flush(); err != nil {
		t.Fatal(err)
	}
	ffs.Arm()
	wg.Wait()
	if failed != writers {
		t.Fatalf("%d of %d writers saw the failure", failed, writers)
	}
	size := h.log.Size()
	maxIndex := int64(-1)
	for _, a := range acked {
		maxIndex = max(maxIndex, a.LogIndex)
	}
	if size != maxIndex+1 {
		t.Fatalf("size after the failure = %d; want %d, one past the largest acknowledged index", size, maxIndex+1)
	}
	checkAcked(t, h.log, acked, nil)

	h.close()
	h.opts = store.Options{}
	h.open()
	if got := h.log.Size(); got < size {
		t.Fatalf("size after restart = %d, want at least %d", got, size)
	}
	checkAcked(t, h.log, acked, nil)
	if _, err := h.log.Audit(ctx, nil); err != nil {
		t.Fatalf("audit after restart: %v", err)
	}
}

// TestPowerLossKeepsAcknowledged takes crash images of an in-memory file
// system while appends are in flight, keeping none, half or all of the data
// that was written but not synced, and opens each image as a node would after
// a power cut: every event acknowledged before the image was taken is there
// at its acknowledged index, the log audits clean, and the newest checkpoint
// handed out before the cut is consistent with the recovered log.
func TestPowerLossKeepsAcknowledged(t *testing.T) {
	for _, pct := range []int{0, 50, 100} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("unsynced%d/seed%d", pct, seed), func(t *testing.T) {
				powerLoss(t, pct, seed)
			})
		}
	}
}

// crashImage is one simulated power cut: the file system as it would be
// found afterwards, and what had been acknowledged when it was taken.
type crashImage struct {
	fs    *vfs.MemFS
	acked []linkd.Ack
	note  []byte // newest checkpoint handed out before the cut
}

func powerLoss(t *testing.T, pct int, seed uint64) {
	const dir = "/db"
	// A small memtable makes Pebble flush and rotate its WAL during the
	// test, so the cuts also land on flushes, manifests and new WALs.
	opts := func(fs *vfs.MemFS) store.Options {
		return store.Options{FS: cloneSafeFS{fs}, MemTableBytes: 256 << 10, CacheBytes: 8 << 20}
	}
	memfs := vfs.NewCrashableMem()
	db, err := store.Open(dir, opts(memfs))
	if err != nil {
		t.Fatal(err)
	}
	skey, _, verifier := testKey(t)
	l, err := Open(db, Config{Self: terminal, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	const writers = 6
	var (
		mu    sync.Mutex
		acked []linkd.Ack // guarded by mu
		note  []byte      // guarded by mu: newest checkpoint seen by a writer
	)
	progress := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			gen := scenario.NewGenerator(seed<<8|uint64(w), base)
			for n := 0; ctx.Err() == nil; {
				batch := gen.Batch(1 + rng.IntN(50))
				for i := range batch {
					batch[i].EventID = crashEventID(int(seed), w, n)
					n++
				}
				acks, err := l.Append(ctx, batch)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("writer %d: append: %v", w, err)
					}
					return
				}
				cpNote, cp := l.Checkpoint()
				mu.Lock()
				acked = append(acked, acks...)
				if _, old := parseNoteSize(t, note, verifier); cp.Size > old {
					note = cpNote
				}
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}

	rng := rand.New(rand.NewPCG(seed, uint64(pct)))
	var images []crashImage
	for range 3 {
		for range 1 + rng.IntN(15) {
			<-progress
		}
		mu.Lock()
		img := crashImage{acked: append([]linkd.Ack(nil), acked...), note: note}
		mu.Unlock()
		// Appends keep running while the image is taken.
		img.fs = memfs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
		images = append(images, img)
	}
	cancel()
	wg.Wait()
	l.Close()
	db.Close()

	for i, img := range images {
		db, err := store.Open(dir, opts(img.fs))
		if err != nil {
			t.Fatalf("image %d: open store after power loss: %v", i, err)
		}
		l, err := Open(db, Config{Self: terminal, SigningKey: skey})
		if err != nil {
			db.Close()
			t.Fatalf("image %d: open log after power loss: %v", i, err)
		}
		func() {
			defer db.Close()
			defer l.Close()
			maxIndex := int64(-1)
			for _, a := range img.acked {
				maxIndex = max(maxIndex, a.LogIndex)
			}
			if got := l.Size(); got < maxIndex+1 {
				t.Fatalf("image %d: size %d after power loss; %d events were acknowledged up to index %d", i, got, len(img.acked), maxIndex)
			}
			checkAcked(t, l, img.acked, rng)
			if _, err := l.Audit(context.Background(), nil); err != nil {
				t.Fatalf("image %d: audit after power loss: %v", i, err)
			}
			if img.note != nil {
				old, _ := parseNoteSize(t, img.note, verifier)
				_, cp := l.Checkpoint()
				proof, err := l.ConsistencyProof(old.Size, cp.Size)
				if err != nil {
					t.Fatalf("image %d: consistency proof %d → %d: %v", i, old.Size, cp.Size, err)
				}
				if err := tlog.VerifyConsistency(old.Size, old.Hash, cp.Size, cp.Hash, proof); err != nil {
					t.Fatalf("image %d: the checkpoint handed out before the power loss is not consistent with the recovered log: %v", i, err)
				}
			}
			t.Logf("image %d: %d acknowledged before the cut; recovered size %d", i, len(img.acked), l.Size())
		}()
	}
}

// cloneSafeFS works around a deadlock in Pebble v2.1.4's crashable MemFS:
// ReuseForWrite read-locks the clone lock and then calls Rename, which
// read-locks it again, so a CrashClone that asks for the lock in between
// blocks both forever (seen here when a WAL rotation met a clone). Reusing a
// WAL is a rename and an open, as on a real disk, each locking once.
type cloneSafeFS struct{ *vfs.MemFS }

func (fs cloneSafeFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return fs.OpenReadWrite(newname, c)
}

// parseNoteSize opens a checkpoint note; a nil note is the empty tree.
func parseNoteSize(t *testing.T, note []byte, v tlog.Verifier) (linkd.Checkpoint, int64) {
	t.Helper()
	if note == nil {
		return linkd.Checkpoint{}, 0
	}
	cp, err := tlog.OpenCheckpoint(note, v)
	if err != nil {
		t.Errorf("checkpoint does not verify: %v", err)
		return linkd.Checkpoint{}, 0
	}
	return cp, cp.Size
}

// TestReopenKeepsIdempotency proves that a retry after a restart is answered
// from the store: the same events are acknowledged as duplicates at their
// original indexes with their original leaf hashes, nothing is appended, and
// the same id with other content is still a conflict.
func TestReopenKeepsIdempotency(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	evs := events(21, 60)
	first := h.append(evs[:40]...)
	h.reopen()
	note, _ := h.log.Checkpoint()

	again := h.append(evs[:40]...)
	checkDuplicates(t, again, first)
	if got := h.log.Size(); got != 40 {
		t.Fatalf("size after a retry = %d, want 40", got)
	}
	if gotNote, _ := h.log.Checkpoint(); string(gotNote) != string(note) {
		t.Fatalf("a retry of recorded events issued a new checkpoint")
	}

	// Half recorded, half new: the recorded half keeps its indexes and the
	// new half is appended after them.
	mixed := h.append(evs[20:60]...)
	checkDuplicates(t, mixed[:20], first[20:40])
	for i, a := range mixed[20:] {
		if a.Duplicate || a.LogIndex != int64(40+i) {
			t.Fatalf("new event %d of a mixed retry = %+v, want a new event at index %d", i, a, 40+i)
		}
	}

	h.reopen()
	all := append(append([]linkd.Ack(nil), first...), mixed[20:]...)
	checkDuplicates(t, h.append(evs...), all)
	if got := h.log.Size(); got != 60 {
		t.Fatalf("size after the second restart and a retry = %d, want 60", got)
	}

	changed := evs[0]
	changed.EventID = first[0].EventID
	changed.Reason = "the same id with other content"
	if acks, err := h.log.Append(ctx, []linkd.Event{changed}); linkd.ErrorCode(err) != linkd.EConflict || acks != nil {
		t.Fatalf("append of a recorded id with other content after restart = %d acks, %v; want code %q", len(acks), err, linkd.EConflict)
	}
	if _, err := h.log.Audit(ctx, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// checkDuplicates checks that got acknowledges the events of want again, as
// duplicates at the same indexes with the same leaf hashes.
func checkDuplicates(t *testing.T, got, want []linkd.Ack) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d acks, want %d", len(got), len(want))
	}
	for i := range got {
		w := want[i]
		w.Duplicate = true
		if got[i] != w {
			t.Fatalf("ack %d of a retry = %+v, want %+v", i, got[i], w)
		}
	}
}

// checkAcked checks that every acknowledged event is readable at its index
// and hashes to its acknowledged leaf; see checkCrashAcks for rng.
func checkAcked(t *testing.T, l *Log, acks []linkd.Ack, rng *rand.Rand) {
	t.Helper()
	ca := make([]crashAck, len(acks))
	for i, a := range acks {
		ca[i] = crashAck{id: a.EventID, index: a.LogIndex, leaf: a.LeafHash}
	}
	checkCrashAcks(t, l, ca, rng)
}
