package partylog

import (
	"bytes"
	"cmp"
	"crypto/cipher"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// writeSet gathers one group's writes and hands them to a Pebble batch in key
// order. Pebble inserts a batch into its memtable key by key, reusing the
// search path of the previous key, so keys in order insert several times
// faster than the scattered order an event's keys are made in.
//
// Most keys are made in order already: event records and tree hashes follow
// the log index. Id entries are sorted. Query index entries are not compared
// as keys at all: the group's distinct (index, value) pairs are sorted once,
// the events once by event time, and a counting sort by pair, taking events
// in time order, puts every entry in key order. Nothing here allocates per
// key: the set keeps references to the group's events and encodes each key
// straight into the batch.
//
// A writeSet belongs to the sequencer and is reused from group to group.
type writeSet struct {
	records []recordRef
	hashes  []hashRef
	ids     []idRef
	entries []uint32 // each event's pairs (positions in pairs), event after event

	// The group's distinct (index, value) pairs and where each is in pairs.
	pairs    []indexPair
	byValue  [4]map[string]uint32 // booking, B/L, container, location pairs by value
	byCode   [3]map[string]uint32 // type/code pairs of the three event types by code
	byOther  map[indexPair]uint32 // type/code pairs of any other type (never valid)
	timePair uint32               // the pair of ByTime, or noPair
	size     int                  // bytes the batch needs so far
	isize    int                  // bytes the pending index chunk needs so far

	// Scratch for sorting.
	pbuf   []byte      // every pair's key prefix
	pend   []int       // end of each pair's prefix in pbuf
	order  []uint32    // pair positions in key order
	rank   []uint32    // pair position → rank in key order
	starts []int       // rank → where its entries start in sorted
	byTime []timeRef   // the events in event-time order
	sorted []sortedRef // the entries in key order

	// Sealing (see seal).
	keys   keySet        // the group's distinct shipment keys
	aeads  []cipher.AEAD // the cipher of each, nil if destroyed
	bound  []string      // keys whose bindings write put in the batch (Sealer.Bind)
	sealed []byte        // the sealed records, one after another
	pt     []byte        // scratch: one record's plaintext
	kbuf   []byte        // scratch: one key
}

type recordRef struct {
	index int64
	t     uint64
	leaf  tlog.Hash
	salt  []byte
	canon []byte
	first int // its first entry in entries

	key    string // the shipment key it is sealed under; "" for none
	sealed [2]int // where its sealed form is in sealed, once sealed
}

type hashRef struct {
	x int64
	h tlog.Hash
}

type idRef struct {
	id    string
	index int64
}

// indexPair is one (index, value) pair. A type/code value is kept as its two
// halves so that filing an event needs no string concatenation.
type indexPair struct {
	ix   Index
	a, b string // value a, or for ByTypeCode the value a + "/" + b
}

type timeRef struct {
	t   uint64
	rec uint32 // position in records, which is the log index order
}

type sortedRef struct{ pair, rec uint32 }

const noPair = ^uint32(0)

// opOverhead bounds what a batch adds to each key and value: a kind byte and
// two length varints.
const opOverhead = 1 + 2*binary.MaxVarintLen32

func (w *writeSet) reset() {
	w.bound = nil
	w.records = w.records[:0]
	w.hashes = w.hashes[:0]
	w.ids = w.ids[:0]
	w.entries = w.entries[:0]
	w.pairs = w.pairs[:0]
	for i := range w.byValue {
		clear(w.byValue[i])
	}
	for i := range w.byCode {
		clear(w.byCode[i])
	}
	clear(w.byOther)
	w.timePair = noPair
	w.size, w.isize = 0, 0
}

// event files one new event: its record, id entry and query index entries.
// The event and salt must stay unchanged until the set is written.
func (w *writeSet) event(e *entry, index int64, leaf tlog.Hash, salt []byte) {
	w.records = append(w.records, recordRef{index: index, t: e.t, leaf: leaf, salt: salt, canon: e.canon, first: len(w.entries), key: e.key})
	w.size += opOverhead + 13 + recordHeader + len(e.canon)
	w.ids = append(w.ids, idRef{e.id, index})
	w.size += opOverhead + 5 + len(e.id) + idValueLen
	w.isize += 2 + 5 + len(e.id) + idValueLen
	w.valuePair(ByBooking, e.booking)
	w.valuePair(ByTransportDocument, e.bl)
	w.valuePair(ByEquipment, e.container)
	w.codePair(e.typ, e.code)
	w.valuePair(ByLocation, e.location)
	if w.timePair == noPair {
		w.timePair = w.newPair(indexPair{ByTime, "", ""})
	}
	w.file(w.timePair)
}

// commitment files an entry held only as its leaf hash: a replica's entry
// whose payload this node may not hold. It has no id or index entries.
func (w *writeSet) commitment(index int64, leaf tlog.Hash) {
	w.records = append(w.records, recordRef{index: index, leaf: leaf, first: len(w.entries)})
	w.size += opOverhead + 13 + len(leaf)
}

// Slots of byValue.
var valueSlot = [256]uint8{ByBooking: 0, ByTransportDocument: 1, ByEquipment: 2, ByLocation: 3}

func (w *writeSet) valuePair(ix Index, v string) {
	if v == "" {
		return
	}
	m := w.byValue[valueSlot[ix]]
	if m == nil {
		m = make(map[string]uint32)
		w.byValue[valueSlot[ix]] = m
	}
	p, ok := m[v]
	if !ok {
		p = w.newPair(indexPair{ix, v, ""})
		m[v] = p
	}
	w.file(p)
}

// codePair files the event under its type and code; every event has one,
// even with an empty code.
func (w *writeSet) codePair(typ linkd.EventType, code string) {
	slot := -1
	switch typ {
	case linkd.Shipment:
		slot = 0
	case linkd.Transport:
		slot = 1
	case linkd.Equipment:
		slot = 2
	}
	if slot < 0 {
		key := indexPair{ByTypeCode, string(typ), code}
		if w.byOther == nil {
			w.byOther = make(map[indexPair]uint32)
		}
		p, ok := w.byOther[key]
		if !ok {
			p = w.newPair(key)
			w.byOther[key] = p
		}
		w.file(p)
		return
	}
	m := w.byCode[slot]
	if m == nil {
		m = make(map[string]uint32)
		w.byCode[slot] = m
	}
	p, ok := m[code]
	if !ok {
		p = w.newPair(indexPair{ByTypeCode, string(typ), code})
		m[code] = p
	}
	w.file(p)
}

func (w *writeSet) newPair(p indexPair) uint32 {
	w.pairs = append(w.pairs, p)
	return uint32(len(w.pairs) - 1)
}

// file adds an index entry of the event being filed under pair p.
func (w *writeSet) file(p uint32) {
	w.entries = append(w.entries, p)
	q := &w.pairs[p]
	n := 3 + len(q.a) + len(q.b) + 1 + positionLen // the "/" of a type/code is in the 1
	w.size += opOverhead + n
	w.isize += 2 + n
}

// hash files a tree hash of level 1 or above.
func (w *writeSet) hash(x int64, h tlog.Hash) {
	w.hashes = append(w.hashes, hashRef{x, h})
	w.size += opOverhead + 13 + len(h)
}

// write puts the group's writes, the checkpoint note of the log's new size
// and the log's meta value into b in key order. It returns the chunk to
// publish once b is applied (see pendingIndex): the group's id and query
// index entries, which never go into b: a fast store's index flush writes
// them as tables of their own, and Pebble would first flush a memtable that
// held such keys.
func (w *writeSet) write(b *pebble.Batch, l *space, size int64, note, meta []byte) *indexChunk {
	set := func(key []byte, valueLen int) []byte {
		op := b.SetDeferred(len(key), valueLen)
		copy(op.Key, key)
		return op.Value
	}
	var kb [64]byte
	copy(set(l.appendKey(kb[:0], prefixCheckpoint, uint64(size)), len(note)), note)
	for _, r := range w.records {
		if r.canon == nil {
			copy(set(l.appendKey(kb[:0], prefixEvent, uint64(r.index)), len(r.leaf)), r.leaf[:])
			continue
		}
		if r.sealed[1] > r.sealed[0] {
			sealed := w.sealed[r.sealed[0]:r.sealed[1]]
			v := set(l.appendKey(kb[:0], prefixEvent, uint64(r.index)), recordHeader+len(sealed))
			copy(v, r.leaf[:])
			clear(v[32:recordHeader])
			copy(v[recordHeader:], sealed)
			continue
		}
		v := set(l.appendKey(kb[:0], prefixEvent, uint64(r.index)), recordHeader+len(r.canon))
		copy(v, r.leaf[:])
		copy(v[32:], r.salt)
		copy(v[recordHeader:], r.canon)
	}
	for _, h := range w.hashes {
		copy(set(l.appendKey(kb[:0], prefixHash, uint64(h.x)), len(h.h)), h.h[:])
	}
	c := &indexChunk{log: l.num, size: size}
	if n := len(w.ids) + len(w.entries); n > 0 {
		c.data, c.offs = make([]byte, 0, w.isize), make([]uint32, 0, n)
		c.makeFilter(len(w.ids) + len(w.pairs))
		w.writeIDs(l, func(k, v []byte) {
			c.add(k, v)
			c.note(k)
		})
		w.writeIndex(l, c.add)
		for i, s := range w.sorted { // each (index, value) pair once
			if i == 0 || w.sorted[i-1].pair != s.pair {
				c.note(w.prefix(s.pair))
			}
		}
	}
	copy(set(l.appendKey(kb[:0], prefixMeta, 0), len(meta)), meta)
	w.bound = nil
	if l.sealer != nil && len(w.keys.list) > 0 {
		w.bound = l.sealer.Bind(b, w.keys.list)
	}
	return c
}

// writeIDs calls put with the group's id entries in key order.
func (w *writeSet) writeIDs(l *space, put func(k, v []byte)) {
	slices.SortFunc(w.ids, func(x, y idRef) int { return strings.Compare(x.id, y.id) })
	var iv [idValueLen]byte
	for _, r := range w.ids {
		w.kbuf = l.appendIDKey(w.kbuf[:0], r.id)
		binary.BigEndian.PutUint64(iv[:], uint64(r.index))
		put(w.kbuf, iv[:])
	}
}

// writeIndex calls put with the group's query index entries in key order.
func (w *writeSet) writeIndex(l *space, put func(k, v []byte)) {
	w.sortEntries()
	for _, s := range w.sorted {
		r := &w.records[s.rec]
		w.kbuf = appendPosition(append(w.kbuf[:0], w.prefix(s.pair)...), r.t, l.num, r.index)
		put(w.kbuf, nil)
	}
}

// sortEntries fills sorted with the index entries in key order: by pair,
// then event time, then log index.
func (w *writeSet) sortEntries() {
	n := len(w.pairs)
	w.pbuf, w.pend = w.pbuf[:0], w.pend[:0]
	w.order = resize(w.order, n)
	for i, p := range w.pairs {
		w.pbuf = appendPairPrefix(w.pbuf, p)
		w.pend = append(w.pend, len(w.pbuf))
		w.order[i] = uint32(i)
	}
	slices.SortFunc(w.order, func(x, y uint32) int { return bytes.Compare(w.prefix(x), w.prefix(y)) })
	w.rank = resize(w.rank, n)
	for r, p := range w.order {
		w.rank[p] = uint32(r)
	}

	// Where each pair's entries go: a counting sort by rank.
	w.starts = resize(w.starts, n+1)
	clear(w.starts)
	for _, p := range w.entries {
		w.starts[w.rank[p]+1]++
	}
	for r := 1; r <= n; r++ {
		w.starts[r] += w.starts[r-1]
	}

	// Taking the events in event-time order keeps each pair's entries in
	// that order; records are in log index order already, so the position
	// breaks ties.
	w.byTime = resize(w.byTime, len(w.records))
	for i := range w.records {
		w.byTime[i] = timeRef{w.records[i].t, uint32(i)}
	}
	slices.SortFunc(w.byTime, func(x, y timeRef) int {
		if c := cmp.Compare(x.t, y.t); c != 0 {
			return c
		}
		return cmp.Compare(x.rec, y.rec)
	})
	w.sorted = resize(w.sorted, len(w.entries))
	for _, tr := range w.byTime {
		first := w.records[tr.rec].first
		end := len(w.entries)
		if int(tr.rec)+1 < len(w.records) {
			end = w.records[tr.rec+1].first
		}
		for _, p := range w.entries[first:end] {
			at := &w.starts[w.rank[p]]
			w.sorted[*at] = sortedRef{p, tr.rec}
			*at++
		}
	}
}

// prefix is the key prefix of the pair at position p of pairs.
func (w *writeSet) prefix(p uint32) []byte {
	start := 0
	if p > 0 {
		start = w.pend[p-1]
	}
	return w.pbuf[start:w.pend[p]]
}

// resize returns s with length n, reusing its array when it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
