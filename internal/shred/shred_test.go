package shred_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
)

// openKeys opens the keys of dir with a real Pebble; closeDB closes the
// database, which the test's end does otherwise.
func openKeys(t *testing.T, dir string) (k *shred.Keys, closeDB func()) {
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
	return k, closeDB
}

// TestKeysDestroyIsFinal: a destroyed key is gone from disk, refuses every
// use, and stays destroyed across a reopen; a key file a crash left behind
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
	key, _ := os.ReadFile(k.Path("b:X"))
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
	// A crash between recording the destruction and wiping the file.
	os.MkdirAll(filepath.Dir(k.Path("b:X")), 0o700)
	os.WriteFile(k.Path("b:X"), key, 0o600)
	closeDB()
	k, _ = openKeys(t, dir)
	if _, err := os.Stat(k.Path("b:X")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover key file after reopening: %v, want wiped", err)
	}
	if gone, _, _ := k.Destroyed("b:X"); !gone {
		t.Error("the key is not destroyed after reopening")
	}
	if _, err := k.Open("b:Y", sealed, nil); !errors.Is(err, shred.ErrNoKey) {
		t.Errorf("open with an id that never had a key: %v, want ErrNoKey", err)
	}
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
