package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// logKey is a key of the party log's shape: prefix, log number, index.
func logKey(prefix byte, log uint32, n uint64) []byte {
	k := binary.BigEndian.AppendUint32([]byte{prefix}, log)
	return binary.BigEndian.AppendUint64(k, n)
}

// TestTablesStayInTheirPartition writes what a party log's groups write —
// checkpoints, records and tree hashes of two logs, their meta keys, a
// token — flushes the memtable, compacts everything, and checks after each
// that no table holds keys of two partitions. Without the span policy, the
// flush wrote one table from the first checkpoint to the token (the
// memtable is far below a table's target size), overlapping every record.
func TestTablesStayInTheirPartition(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(round uint64) {
		b := db.NewBatch()
		for log := uint32(0); log < 2; log++ {
			for i := range uint64(200) {
				n := round*200 + i
				b.Set(logKey('e', log, n), bytes.Repeat([]byte{'r'}, 300), nil)
				b.Set(logKey('h', log, n), bytes.Repeat([]byte{'h'}, 32), nil)
			}
			b.Set(logKey('c', log, (round+1)*200), []byte("checkpoint"), nil)
			b.Set(binary.BigEndian.AppendUint32([]byte{'m'}, log), []byte("size"), nil)
		}
		b.Set([]byte("a-token"), []byte("hash"), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, wantTables int) {
		t.Helper()
		levels, err := db.SSTables()
		if err != nil {
			t.Fatal(err)
		}
		tables := 0
		for level, ts := range levels {
			for _, tb := range ts {
				tables++
				lo, hi := tb.Smallest.UserKey, tb.Largest.UserKey
				if end := partitionEnd(lo); end != nil && bytes.Compare(hi, end) >= 0 {
					t.Errorf("%s: table %s in L%d runs from %q to %q, across a partition", when, tb.FileNum, level, lo, hi)
				}
			}
		}
		// 'a'; 'c', 'e' and 'h' of logs 0 and 1; 'm': each its own table.
		if tables < wantTables {
			t.Errorf("%s: %d tables, want at least %d (one per partition)", when, tables, wantTables)
		}
	}
	for round := range uint64(3) {
		write(round)
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after flush %d", round+1), 8)
	}
	if err := db.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	check("after a full compaction", 8)
}

func TestPartitionEnd(t *testing.T) {
	for _, c := range []struct {
		name       string
		start, end []byte
	}{
		{"empty key", nil, []byte{0}},
		{"record of log 0", logKey('e', 0, 7), []byte{'e', 0, 0, 0, 1}},
		{"tree hash of log 258", logKey('h', 258, 0), []byte{'h', 0, 0, 1, 3}},
		{"checkpoint of the last log number", logKey('c', math.MaxUint32, 1), []byte{'d'}},
		{"log prefix without a log number", []byte{'e', 1}, []byte{'f'}},
		{"meta key: one partition for every log", logKey('m', 3, 4), []byte{'n'}},
		{"booking index entry", []byte("xbBOOKING\x00"), []byte("xc")},
		{"index entry of the last kind", []byte{'x', 0xff, 1}, []byte{'y'}},
		{"index prefix alone", []byte("x"), []byte{'y'}},
		{"last first byte", []byte{0xff, 1}, nil},
	} {
		if got := partitionEnd(c.start); !bytes.Equal(got, c.end) || (got == nil) != (c.end == nil) {
			t.Errorf("%s: partitionEnd(%q) = %q, want %q", c.name, c.start, got, c.end)
		}
	}
}

// TestWriteTablesKeepsKindsApart adds index entries of two kinds twice: the
// second time the booking entries fall among the first ones, the time
// entries all lie past them. The time entries' table then goes to the
// bottom level at once, where no compaction rewrites it again, and the
// booking entries' table stops above it. A table holding both kinds
// overlapped the first tables and went to L0.
func TestWriteTablesKeepsKindsApart(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entry := func(kind byte, v uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte{'x', kind}, v)
	}
	add := func(round uint64) {
		t.Helper()
		err := WriteTables(t.Context(), db, func(add func(k, v []byte) error) error {
			for i := range uint64(1000) {
				if err := add(entry('b', i*2+round), nil); err != nil { // interleaved
					return err
				}
			}
			for i := range uint64(1000) {
				if err := add(entry('m', round*1000+i), nil); err != nil { // later times
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(0)
	add(1)
	levels, err := db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	// The level of the table that holds k, the only one of its range
	// reaching that far.
	levelOf := func(k []byte) int {
		for level, ts := range levels {
			for _, tb := range ts {
				if bytes.Compare(tb.Smallest.UserKey, k) <= 0 && bytes.Compare(k, tb.Largest.UserKey) <= 0 {
					return level
				}
			}
		}
		t.Fatalf("no table holds %q", k)
		return 0
	}
	bottom := len(levels) - 1
	if l := levelOf(entry('m', 1999)); l != bottom {
		t.Errorf("the second time entries' table is in L%d, want the bottom level L%d", l, bottom)
	}
	if l := levelOf(entry('b', 1999)); l >= bottom {
		t.Errorf("the second booking entries' table is in L%d, want above the first one's, in L%d", l, bottom)
	}
}
