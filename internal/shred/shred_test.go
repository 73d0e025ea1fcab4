package shred_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
)

// openKeys opens the keys of dir with a real Pebble; closeDB closes the
// database, which the test's end does otherwise.
func openKeys(t testing.TB, dir string) (k *shred.Keys, closeDB func()) {
	k, _, closeDB = openKeysDB(t, dir)
	return k, closeDB
}

// openKeysDB is openKeys that also returns the database, for tests that
// write batches into it.
func openKeysDB(t testing.TB, dir string) (k *shred.Keys, db *pebble.DB, closeDB func()) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeDB = func() { once.Do(func() { db.Close() }) }
	t.Cleanup(closeDB)
	if k, err = shred.Open(db, filepath.Join(dir, "keys"), nil); err != nil {
		t.Fatal(err)
	}
	return k, db, closeDB
}

// TestKeysDestroyIsFinal: a destroyed key is gone from disk, refuses every
// use, and stays destroyed across a reopen; a key slot a crash left behind
// is wiped when the keys open.
func TestKeysDestroyIsFinal(t *testing.T) {
	dir := t.TempDir()
	k, closeDB := openKeys(t, dir)
	sealed, err := k.Seal("b:X", []byte("payload"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open("b:X", sealed, []byte("aad")); err != nil || string(pt) != "payload" {
		t.Fatalf("open: %q, %v", pt, err)
	}
	if _, err := k.Open("b:X", sealed, []byte("other")); err == nil {
		t.Error("open with another aad succeeded")
	}
	file, slot := findSlot(t, k.Dir(), "b:X")
	if slot == nil {
		t.Fatal("no slot holds the key of b:X")
	}
	if err := k.Destroy("b:X"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { _, err := k.Open("b:X", sealed, []byte("aad")); return err },
		func() error { _, err := k.Seal("b:X", nil, nil); return err },
		func() error { _, err := k.Derive("b:X", "x", true); return err },
	} {
		if err := f(); !errors.Is(err, shred.ErrDestroyed) {
			t.Errorf("use after destroy: %v, want ErrDestroyed", err)
		}
	}
	if gone, err := k.Ensure([]string{"b:X", "b:Z"}); err != nil || len(gone) != 1 || gone[0] != "b:X" {
		t.Errorf("Ensure after destroy: %v, %v; want [b:X] destroyed", gone, err)
	}
	if _, s := findSlot(t, k.Dir(), "b:X"); s != nil {
		t.Error("the key of b:X is still in a key file after Destroy")
	}
	if bytesIn(t, k.Dir(), slot[32:64]) {
		t.Error("the bytes of the destroyed key are still in the key directory")
	}
	// A crash between recording the destruction and wiping the slot.
	f, err := os.OpenFile(file.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(slot, file.off)
	f.Close()
	k.Close()
	closeDB()
	k, _ = openKeys(t, dir)
	if bytesIn(t, k.Dir(), slot[32:64]) {
		t.Error("the leftover key slot survived reopening")
	}
	if gone, _, _ := k.Destroyed("b:X"); !gone {
		t.Error("the key is not destroyed after reopening")
	}
	if _, err := k.Open("b:Y", sealed, nil); !errors.Is(err, shred.ErrNoKey) {
		t.Errorf("open with an id that never had a key: %v, want ErrNoKey", err)
	}
}

type slotAt struct {
	path string
	off  int64
}

// slotLen is the size of a key file's slot: the id's hash, the key and a
// checksum.
const slotLen = 32 + shred.KeySize + 8

// findSlot returns the slot of id's key in the key files, nil if none.
func findSlot(t *testing.T, dir, id string) (slotAt, []byte) {
	t.Helper()
	h := sha256.Sum256([]byte(id))
	return slotWhere(t, dir, func(s []byte) bool { return bytes.Equal(s[:32], h[:]) })
}

// slotWhere returns the first slot of the key files that match accepts,
// and a copy of it; nil if none does.
func slotWhere(t *testing.T, dir string, match func(slot []byte) bool) (slotAt, []byte) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "keys-*"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+slotLen <= len(b); off += slotLen {
			if s := b[off : off+slotLen]; match(s) {
				return slotAt{name, int64(off)}, bytes.Clone(s)
			}
		}
	}
	return slotAt{}, nil
}

// bytesIn reports whether any file under dir contains b.
func bytesIn(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if c, _ := os.ReadFile(p); bytes.Contains(c, b) {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestKeysAreDurableAndPerID: a key made by Seal is there after a reopen
// and opens what it sealed; ids do not share keys.
func TestKeysAreDurableAndPerID(t *testing.T) {
	dir := t.TempDir()
	k, closeDB := openKeys(t, dir)
	a, err := k.Seal("b:A", []byte("for A"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Seal("b:B", []byte("for B"), nil); err != nil {
		t.Fatal(err)
	}
	closeDB()
	k, _ = openKeys(t, dir)
	if pt, err := k.Open("b:A", a, nil); err != nil || string(pt) != "for A" {
		t.Errorf("after a reopen: %q, %v", pt, err)
	}
	if _, err := k.Open("b:B", a, nil); err == nil {
		t.Error("B's key opened what A's sealed")
	}
	if err := k.Destroy("b:B"); err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open("b:A", a, nil); err != nil || string(pt) != "for A" {
		t.Errorf("destroying B's key touched A's: %q, %v", pt, err)
	}
}

// TestEnsureMakesManyKeysDurably: Ensure makes the keys of a set of ids at
// once; they open what they sealed after a reopen; keys of the earlier
// one-file-per-id layout are moved into the key files and their files
// wiped; a torn slot at the end of a key file is ignored and written over.
func TestEnsureMakesManyKeysDurably(t *testing.T) {
	dir := t.TempDir()
	// A key of the earlier layout.
	old := bytes.Repeat([]byte{7}, shred.KeySize)
	sum := sha256.Sum256([]byte("b:OLD"))
	name := hex.EncodeToString(sum[:])
	os.MkdirAll(filepath.Join(dir, "keys", name[:2]), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "keys", name[:2], name), old, 0o600); err != nil {
		t.Fatal(err)
	}
	k, closeDB := openKeys(t, dir)
	if bytesIn(t, filepath.Join(dir, "keys", name[:2]), old) {
		t.Error("the key file of the earlier layout was not wiped")
	}
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:BKG%04d", i)
	}
	if gone, err := k.Ensure(append(ids, ids[:5]...)); err != nil || len(gone) != 0 {
		t.Fatalf("Ensure: %v, %v", gone, err)
	}
	sealed := make([][]byte, len(ids))
	for i, id := range ids {
		var err error
		if sealed[i], err = k.Seal(id, []byte("payload of "+id), []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	oldSealed, err := k.Seal("b:OLD", []byte("old"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A torn append: half a slot at the end of the key file.
	names, _ := filepath.Glob(filepath.Join(dir, "keys", "keys-*"))
	if len(names) != 1 {
		t.Fatalf("key files: %v, want one", names)
	}
	f, _ := os.OpenFile(names[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write(bytes.Repeat([]byte{0xAB}, 40))
	f.Close()
	k.Close()
	closeDB()

	k, _ = openKeys(t, dir)
	for i, id := range ids {
		if pt, err := k.Open(id, sealed[i], []byte(id)); err != nil || string(pt) != "payload of "+id {
			t.Fatalf("%s after a reopen: %q, %v", id, pt, err)
		}
	}
	if pt, err := k.Open("b:OLD", oldSealed, nil); err != nil || string(pt) != "old" {
		t.Errorf("the moved key after a reopen: %q, %v", pt, err)
	}
	if _, err := k.Seal("b:NEW", []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(names[0]); st.Size()%slotLen != 0 {
		t.Errorf("key file of %d bytes after an append over a torn slot: not whole slots", st.Size())
	}
}

// TestPooledKeysAreDurableWithTheirBatch: a key Ensure makes outlives a
// restart when a synced batch carried its binding, and only then; Seal
// makes the binding durable by itself; a pooled key destroyed before any
// batch carried its binding is wiped even if a crash undoes the wipe.
func TestPooledKeysAreDurableWithTheirBatch(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	k, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if gone, err := k.Ensure([]string{"b:BOUND", "b:LOOSE", "b:SEALED", "b:GONE"}); err != nil || len(gone) != 0 {
		t.Fatalf("Ensure: %v, %v", gone, err)
	}
	material := map[string][]byte{}
	for _, id := range []string{"b:BOUND", "b:LOOSE", "b:SEALED", "b:GONE"} {
		m, ok := k.KeyMaterial(id)
		if !ok {
			t.Fatalf("no key for %s after Ensure", id)
		}
		material[id] = m
	}
	b := db.NewBatch()
	if got := k.Bind(b, []string{"b:BOUND", "b:OTHER"}); len(got) != 1 || got[0] != "b:BOUND" {
		t.Fatalf("Bind wrote %v, want [b:BOUND]", got)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
	k.Bound([]string{"b:BOUND"})
	if got := k.Bind(db.NewBatch(), []string{"b:BOUND"}); got != nil {
		t.Errorf("Bind wrote %v again after Bound", got)
	}
	// The party log fetched its cipher first: Seal must still bind it.
	if _, err := k.AEAD("b:SEALED"); err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal("b:SEALED", []byte("document"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy("b:GONE"); err != nil {
		t.Fatal(err)
	}
	if bytesIn(t, k.Dir(), material["b:GONE"]) {
		t.Fatal("the destroyed pooled key is still in the key directory")
	}
	// A crash between recording the destruction and wiping the slot: the
	// slot is put back where it was.
	putBackSlot(t, k.Dir(), material["b:GONE"])

	k.Close()
	db.Close()
	if db, err = store.Open(filepath.Join(dir, "store"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	if k, err = shred.Open(db, filepath.Join(dir, "keys"), nil); err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if m, ok := k.KeyMaterial("b:BOUND"); !ok || !bytes.Equal(m, material["b:BOUND"]) {
		t.Error("the key whose binding a synced batch carried is not the same after a reopen")
	}
	if pt, err := k.Open("b:SEALED", sealed, nil); err != nil || string(pt) != "document" {
		t.Errorf("what Seal sealed under a pooled key after a reopen: %q, %v", pt, err)
	}
	if _, ok := k.KeyMaterial("b:LOOSE"); ok {
		t.Error("a key no batch bound survived a reopen bound to its id")
	}
	if bytesIn(t, k.Dir(), material["b:GONE"]) {
		t.Error("the destroyed key's slot, put back by a crash, was not wiped on reopen (it would be pooled for another id)")
	}
	// The pool refills: many new ids get keys, all different.
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:NEW%05d", i)
	}
	if _, err := k.Ensure(ids); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range append(ids, "b:BOUND") {
		m, ok := k.KeyMaterial(id)
		if !ok || seen[string(m)] {
			t.Fatalf("%s: key %v, shared with another id %v", id, ok, seen[string(m)])
		}
		seen[string(m)] = true
	}
}

// putBackSlot writes a pooled slot holding key back over the wiped slot
// that held it: the state a crash between Destroy's record and its wipe
// leaves.
func putBackSlot(t *testing.T, dir string, key []byte) {
	t.Helper()
	slot := append(bytes.Repeat([]byte{0xff}, 32), key...)
	sum := sha256.Sum256(slot)
	slot = append(slot, sum[:8]...)
	at, wiped := slotWhere(t, dir, func(s []byte) bool { return bytes.Equal(s, make([]byte, slotLen)) })
	if wiped == nil {
		t.Fatal("no wiped slot to put the key back into")
	}
	f, err := os.OpenFile(at.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(slot, at.off); err != nil {
		t.Fatal(err)
	}
}

// bindDurably makes the bindings of ids durable in one batch, as the write
// path does.
// sealEach makes keys for ids, binds them durably (Seal would otherwise
// sync each binding by itself) and seals "payload of " and the id under
// each.
func sealEach(tb testing.TB, k *shred.Keys, db *pebble.DB, ids []string) [][]byte {
	tb.Helper()
	if gone, err := k.Ensure(ids); err != nil || len(gone) != 0 {
		tb.Fatalf("Ensure: %v, %v", gone, err)
	}
	bindDurably(tb, k, db, ids)
	sealed := make([][]byte, len(ids))
	for i, id := range ids {
		var err error
		if sealed[i], err = k.Seal(id, []byte("payload of "+id), nil); err != nil {
			tb.Fatal(err)
		}
	}
	return sealed
}

func bindDurably(tb testing.TB, k *shred.Keys, db *pebble.DB, ids []string) {
	tb.Helper()
	b := db.NewBatch()
	defer b.Close()
	bound := k.Bind(b, ids)
	if err := b.Commit(pebble.Sync); err != nil {
		tb.Fatal(err)
	}
	k.Bound(bound)
}

// TestCipherCacheIsBounded: sealing under more keys than the cipher cache
// holds keeps it at its bound, and every record, whether its cipher was
// evicted or kept, opens with its own key; a destroyed key refuses use
// even when its cipher was cached.
func TestCipherCacheIsBounded(t *testing.T) {
	k, db, _ := openKeysDB(t, t.TempDir())
	ids := make([]string, shred.MaxCiphers+500)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:BKG%06d", i)
	}
	sealed := sealEach(t, k, db, ids)
	// The cache is split into shards, each bounded to its share: the ids
	// fill each nearly, none past it.
	if n := k.CiphersHeld(); n > shred.MaxCiphers || n < shred.MaxCiphers*31/32 {
		t.Errorf("%d ciphers held after sealing under %d keys, want the bound %d or just under", n, len(ids), shred.MaxCiphers)
	}
	for i, id := range ids {
		if pt, err := k.Open(id, sealed[i], nil); err != nil || string(pt) != "payload of "+id {
			t.Fatalf("%s: %q, %v", id, pt, err)
		}
		if i > 0 {
			if _, err := k.Open(ids[i-1], sealed[i], nil); err == nil {
				t.Fatalf("the record sealed under %s opened with the key of %s", id, ids[i-1])
			}
		}
	}
	last := ids[len(ids)-1] // its cipher was just used, so it is cached
	if err := k.Destroy(last); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(last, sealed[len(ids)-1], nil); !errors.Is(err, shred.ErrDestroyed) {
		t.Errorf("a destroyed key with a cached cipher opened a record: %v", err)
	}
}

// TestDamagedKeySlotIsAnError: a key is read from its file when its cipher
// is made; a slot damaged on disk since the keys opened gives an error that
// says so, not a cipher of some other key.
func TestDamagedKeySlotIsAnError(t *testing.T) {
	dir := t.TempDir()
	k, closeDB := openKeys(t, dir)
	sealed, err := k.Seal("b:A", []byte("for A"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeDB()
	k, _ = openKeys(t, dir) // no cipher cached
	at, slot := findSlot(t, k.Dir(), "b:A")
	if slot == nil {
		t.Fatal("no slot of b:A in the key files")
	}
	f, err := os.OpenFile(at.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{slot[40] ^ 1}, at.off+40); err != nil { // a bit of the key
		t.Fatal(err)
	}
	f.Close()
	_, err = k.Open("b:A", sealed, nil)
	if err == nil || !strings.Contains(err.Error(), "damaged") || errors.Is(err, shred.ErrDestroyed) {
		t.Fatalf("opening under a damaged key slot: %v; want an error saying the slot is damaged", err)
	}
}

// BenchmarkKeysHeld reports the heap that open keys hold per id: the map of
// every id's key, which a node keeps for each shipment it holds.
func BenchmarkKeysHeld(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	k, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:BKG%07d", i)
	}
	if _, err := k.Ensure(ids); err != nil {
		b.Fatal(err)
	}
	bindDurably(b, k, db, ids)
	k.Close()
	var held uint64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		k, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		held = m1.HeapAlloc - m0.HeapAlloc
		if _, err := k.AEAD(ids[n/2]); err != nil {
			b.Fatal(err)
		}
		k.Close()
	}
	b.ReportMetric(float64(held)/n, "heap-bytes/id")
}

// TestClosedKeysReadNoKey: once the keys are closed, a key whose cipher is
// not cached is not read from its file (no key file is opened again).
func TestClosedKeysReadNoKey(t *testing.T) {
	dir := t.TempDir()
	k, closeDB := openKeys(t, dir)
	if _, err := k.Seal("b:A", []byte("for A"), nil); err != nil {
		t.Fatal(err)
	}
	closeDB()
	k, _ = openKeys(t, dir)
	k.Close()
	if _, err := k.AEAD("b:A"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("a closed Keys made a cipher: %v", err)
	}
}

// BenchmarkAEAD looks up the ciphers of shipments in turn, as sealing a
// lane's records or reading a log back does: of fewer shipments than the
// cache holds ("cached"), and of more ("cycling"), where most lookups make a
// cipher from a key read from its file; "parallel" runs those on every
// processor at once, as an audit's workers do.
func BenchmarkAEAD(b *testing.B) {
	for _, bc := range []struct {
		name     string
		n        int
		parallel bool
	}{
		{"cached", shred.MaxCiphers / 2, false},
		{"cycling", shred.MaxCiphers * 3 / 2, false},
		{"cached/parallel", shred.MaxCiphers / 2, true},
		{"cycling/parallel", shred.MaxCiphers * 3 / 2, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			k, db, _ := openKeysDB(b, b.TempDir())
			defer k.Close()
			ids := make([]string, bc.n)
			for i := range ids {
				ids[i] = fmt.Sprintf("b:BKG%07d", i)
			}
			if _, err := k.Ensure(ids); err != nil {
				b.Fatal(err)
			}
			bindDurably(b, k, db, ids)
			if bc.parallel {
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(int64(bc.n / 2))) // each goroutine from another place
					for pb.Next() {
						if _, err := k.AEAD(ids[i%bc.n]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
				return
			}
			i := 0
			for b.Loop() {
				if _, err := k.AEAD(ids[i%bc.n]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkEnsure ensures keys for batches of 100 ids of shipments in use,
// as each group commit of a busy lane does: every id has its key and its
// cipher cached already.
func BenchmarkEnsure(b *testing.B) {
	dir := b.TempDir()
	k, closeDB := openKeys(b, dir)
	defer closeDB()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:BKG%07d", i)
		if _, err := k.Seal(ids[i], []byte("x"), nil); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		batch := ids[i%10*100 : i%10*100+100]
		if gone, err := k.Ensure(batch); err != nil || len(gone) > 0 {
			b.Fatal(gone, err)
		}
		i++
	}
}
