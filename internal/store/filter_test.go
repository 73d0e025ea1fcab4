package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestPointFilterLeavesOutScanOnlyKeys: a table's filter built from point
// keys and scan-only keys is the filter of the point keys alone, it rules
// out most absent point keys, and it never rules out a scan-only key, held
// or not, so a lookup of one still reads the table.
func TestPointFilterLeavesOutScanOnlyKeys(t *testing.T) {
	point := func(i int) []byte { return fmt.Appendf(nil, "i\x00\x00\x00\x00event-%05d", i) }
	scan := func(i int) []byte { return fmt.Appendf(nil, "xbBOOKING%05d\x00position", i) }
	mixed, alone := filter.NewWriter(pebble.TableFilter), filter.NewWriter(pebble.TableFilter)
	for i := range 2000 {
		mixed.AddKey(point(i))
		mixed.AddKey(scan(i))
		mixed.AddKey(append([]byte{'j'}, point(i)...))
		alone.AddKey(point(i))
	}
	f, want := mixed.Finish(nil), alone.Finish(nil)
	if !bytes.Equal(f, want) {
		t.Fatalf("the filter of point and scan-only keys (%d bytes) differs from that of the point keys alone (%d bytes)", len(f), len(want))
	}
	ruledOut := 0
	for i := range 2000 {
		if !filter.MayContain(pebble.TableFilter, f, point(i)) {
			t.Fatalf("the filter rules out %q, which it holds", point(i))
		}
		if !filter.MayContain(pebble.TableFilter, f, point(10000+i)) {
			ruledOut++
		}
		for _, k := range [][]byte{scan(i), scan(10000 + i), append([]byte{'j'}, point(10000+i)...)} {
			if !filter.MayContain(pebble.TableFilter, f, k) {
				t.Fatalf("the filter rules out the scan-only key %q", k)
			}
		}
	}
	if ruledOut < 1900 {
		t.Fatalf("the filter ruled out %d of 2,000 absent point keys, want at least 1,900 (10 bits a key)", ruledOut)
	}
}

// TestOpenReadsEveryKeyThroughTheFilters writes point and scan-only keys,
// flushes them into a table and looks each up, held and absent: every held
// key is found, every absent one is not, and the filter spared the reads of
// the absent point keys. It does so for a store made by Open and for one
// made as stores were before pointFilter, with Pebble's plain Bloom filter,
// whose tables must keep using theirs.
func TestOpenReadsEveryKeyThroughTheFilters(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			dir := t.TempDir()
			if legacy {
				opts := &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: slogAdapter{slog.New(slog.DiscardHandler)}}
				for i := range opts.Levels {
					opts.Levels[i].FilterPolicy = legacyFilter
					opts.Levels[i].FilterType = pebble.TableFilter
				}
				db, err := pebble.Open(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				writeAndFlush(t, db)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !legacy {
				writeAndFlush(t, db)
			}
			const n = heldKeys
			for i := range n {
				for _, k := range keysAt(2 * i) {
					v, closer, err := db.Get([]byte(k))
					if err != nil {
						t.Fatalf("Get(%q) of a held key: %v", k, err)
					}
					if string(v) != "v"+k {
						t.Fatalf("Get(%q) = %q, want %q", k, v, "v"+k)
					}
					closer.Close()
				}
			}
			before := db.Metrics().Filter.Hits
			for i := range n {
				for _, k := range keysAt(2*i + 1) {
					if _, _, err := db.Get([]byte(k)); !errors.Is(err, pebble.ErrNotFound) {
						t.Fatalf("Get(%q) of an absent key: %v, want not found", k, err)
					}
				}
			}
			// About 99% of the absent point keys are ruled out. The new
			// filter never rules out a scan-only key; the old one held them
			// and may.
			most := int64(n)
			if legacy {
				most = 3 * n
			}
			if spared := db.Metrics().Filter.Hits - before; spared < n*9/10 || spared > most {
				t.Fatalf("the filters spared %d reads of %d absent point keys and %d scan-only ones, want %d to %d", spared, n, 2*n, n*9/10, most)
			}
		})
	}
}

// heldKeys is how many keys of each prefix writeAndFlush writes.
const heldKeys = 500

// keysAt returns the i-th key of a point prefix ('i') and of the two
// scan-only ones, each in one partition of the key space (see partition).
// writeAndFlush writes the even ones, so that an absent (odd) key falls
// inside a table's key range and only the table's filter can rule it out.
func keysAt(i int) []string {
	const log = "\x00\x00\x00\x00" // as in the party log's keys: log 0
	return []string{fmt.Sprintf("i%s%05d", log, i), fmt.Sprintf("j%s%05d", log, i), fmt.Sprintf("x%s%05d", log, i)}
}

// writeAndFlush writes keysAt(2i) for each i below heldKeys, the value of
// each "v" and its key, and flushes them into a table.
func writeAndFlush(t *testing.T, db *pebble.DB) {
	t.Helper()
	b := db.NewBatch()
	for i := range heldKeys {
		for _, k := range keysAt(2 * i) {
			if err := b.Set([]byte(k), []byte("v"+k), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
}
