package store

import (
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// ScanOnlyPrefixes are the first bytes of the keys that are only ever
// scanned, never looked up one by one: the party log's query index entries
// ('x') and, in stores written before 2026-11-21, the index journal values
// waiting for the index flush ('j'; see internal/partylog/keys.go). They
// are about two thirds of the keys a store holds, and table filters leave
// them out.
const ScanOnlyPrefixes = "jx"

// pointFilter is every table's filter: a Bloom filter of 10 bits a key
// (about 1% false positives) over the keys a point lookup may ask for (an
// event id is new, a tree hash, a record's leaf hash, a token). Building the
// filters of every flushed and compacted table took about 3% of the CPU of a
// steady ingest, two thirds of it for keys no lookup asks for. A lookup of a
// scan-only key still works: the filter answers that the table may hold it.
//
// The name is written into each table, so a table is only ever read with
// the filter that built it; tables written before this filter keep theirs
// (legacyFilter, registered by Open).
type pointFilter struct{ bloom bloom.FilterPolicy }

var (
	filter       pebble.FilterPolicy = pointFilter{bloom: bloom.FilterPolicy(10)}
	legacyFilter pebble.FilterPolicy = bloom.FilterPolicy(10)
)

func (pointFilter) Name() string { return "linkd.PointBloom10.skip-" + ScanOnlyPrefixes }

func (f pointFilter) MayContain(ft pebble.FilterType, data, key []byte) bool {
	return scanOnly(key) || f.bloom.MayContain(ft, data, key)
}

func (f pointFilter) NewWriter(ft pebble.FilterType) pebble.FilterWriter {
	return pointWriter{f.bloom.NewWriter(ft)}
}

type pointWriter struct{ pebble.FilterWriter }

func (w pointWriter) AddKey(key []byte) {
	if !scanOnly(key) {
		w.FilterWriter.AddKey(key)
	}
}

func scanOnly(key []byte) bool {
	return len(key) > 0 && strings.IndexByte(ScanOnlyPrefixes, key[0]) >= 0
}
