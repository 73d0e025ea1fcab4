package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestWriteTablesAddsKeysPastTheMemtable writes keys under two first bytes
// as tables while the memtable holds other keys: afterwards every key reads
// back with its value, also after a reopen, and neither the WAL nor a
// memtable flush carried them.
func TestWriteTablesAddsKeysPastTheMemtable(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.Set(fmt.Appendf(nil, "e%05d", i), []byte("record"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	var want [][2][]byte
	for _, p := range []string{"i", "x"} {
		for i := range 5000 {
			want = append(want, [2][]byte{fmt.Appendf(nil, "%s%06d", p, i), fmt.Appendf(nil, "v%d", i)})
		}
	}
	// A meta key between the two prefixes sits in the memtable: a table
	// spanning 'i' to 'x' would overlap it and force a flush.
	if err := db.Set([]byte("m-meta"), []byte("1"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	before := db.Metrics()
	err = WriteTables(context.Background(), db, func(add func(k, v []byte) error) error {
		for _, kv := range want {
			if err := add(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := db.Metrics()
	if after.WAL.BytesIn != before.WAL.BytesIn {
		t.Errorf("the WAL took %d bytes for keys written as tables", after.WAL.BytesIn-before.WAL.BytesIn)
	}
	if after.Flush.Count != before.Flush.Count {
		t.Errorf("adding the tables flushed the memtable %d times", after.Flush.Count-before.Flush.Count)
	}
	if got := after.Ingest.Count - before.Ingest.Count; got != 1 {
		t.Errorf("%d ingestions, want 1", got)
	}
	check := func(db *pebble.DB) {
		t.Helper()
		for _, kv := range want {
			v, closer, err := db.Get(kv[0])
			if err != nil {
				t.Fatalf("%s: %v", kv[0], err)
			}
			if !bytes.Equal(v, kv[1]) {
				t.Fatalf("%s = %q, want %q", kv[0], v, kv[1])
			}
			closer.Close()
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
	assertNoTableFiles(t, dir)
}

// TestWriteTablesRejectsWhole: keys out of order fail the call, which then
// leaves no key and no file behind.
func TestWriteTablesRejectsWhole(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = WriteTables(context.Background(), db, func(add func(k, v []byte) error) error {
		for _, k := range []string{"i1", "i2", "x1", "x3", "x2"} {
			if err := add([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("keys out of order were taken")
	}
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if it.First() {
		t.Fatalf("the rejected call left key %q", it.Key())
	}
	assertNoTableFiles(t, dir)
}

// TestWriteTablesNeedsStoreOpen: a database that store.Open did not open
// gets ErrNoTables, and its caller writes through batches instead.
func TestWriteTablesNeedsStoreOpen(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = WriteTables(context.Background(), db, func(add func(k, v []byte) error) error { return add([]byte("i1"), nil) })
	if !errors.Is(err, ErrNoTables) {
		t.Fatalf("err = %v, want ErrNoTables", err)
	}
}

// TestOpenRemovesUnfinishedTables: a table file a crash left before Pebble
// took it over is removed when the store opens again.
func TestOpenRemovesUnfinishedTables(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, tableFilePrefix+"0123456789abcdef"+tableFileSuffix)
	if err := os.WriteFile(stray, []byte("half a table"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	assertNoTableFiles(t, dir)
}

func assertNoTableFiles(t *testing.T, dir string) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), tableFilePrefix) {
			t.Errorf("%s is left in the store's directory", n.Name())
		}
	}
}
