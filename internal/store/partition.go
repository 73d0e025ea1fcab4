package store

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// LogPrefixes are the first bytes of the keys that a 4-byte log number
// follows and whose keys, within one log, only ever grow: the party log's
// checkpoints ('c'), records ('e') and tree hashes ('h'), and its id
// entries and legacy journal values ('i', 'j'; see
// internal/partylog/keys.go).
const LogPrefixes = "cehij"

// KindPrefixes are the first bytes of the keys whose second byte names a
// kind: the party log's query index entries ('x'), whose second byte is the
// index (booking, B/L, container, type and code, location, time).
const KindPrefixes = "x"

// partition is the store's span policy function. It changes no policy; it
// ends every table a flush or a compaction writes where the next
// partition of the key space begins: at every change of a key's first
// byte and, under LogPrefixes, of its log number, under KindPrefixes, of
// its kind.
//
// Without it, a memtable flush wrote tables that ran from one prefix into
// the next, say from the last checkpoints into the first new records. Such
// a table's key range covers every older record of the log, so the next
// compaction of L0 into the base level had to read and write all of the
// base level's records again, although no new key fell among them. A
// table that holds one partition's new keys only overlaps the base level's
// tables at that partition's end, and Pebble moves it down without a
// rewrite: over three million appended events, 1.4–1.7 GB of tables moved
// against 0.1–0.2 GB, with 7% less CPU and a third less compaction debt.
func partition(start []byte) (pebble.SpanPolicy, []byte, error) {
	return pebble.SpanPolicy{}, partitionEnd(start), nil
}

// partitionEnd returns the first key past start's partition, or nil when
// no key is (start's partition runs to the end of the key space).
func partitionEnd(start []byte) []byte {
	if len(start) == 0 {
		return []byte{0}
	}
	first := start[0]
	if len(start) >= 5 && strings.IndexByte(LogPrefixes, first) >= 0 {
		if log := binary.BigEndian.Uint32(start[1:5]); log < math.MaxUint32 {
			return binary.BigEndian.AppendUint32([]byte{first}, log+1)
		}
	}
	if len(start) >= 2 && start[1] < 0xff && strings.IndexByte(KindPrefixes, first) >= 0 {
		return []byte{first, start[1] + 1}
	}
	if first == 0xff {
		return nil
	}
	return []byte{first + 1}
}
