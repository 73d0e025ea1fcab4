package partylog

import (
	"bytes"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// writeSet gathers one group's writes and hands them to a Pebble batch in key
// order. Pebble inserts a batch into its memtable key by key, reusing the
// search path of the previous key, so sorted keys insert several times faster
// than the scattered order an event's keys are made in.
type writeSet struct {
	buf []byte
	kvs []kvRef
}

type kvRef struct{ k, v, end int } // key buf[k:v], value buf[v:end]

func (w *writeSet) put(key, value []byte) {
	k := len(w.buf)
	w.buf = append(w.buf, key...)
	v := len(w.buf)
	w.buf = append(w.buf, value...)
	w.kvs = append(w.kvs, kvRef{k, v, len(w.buf)})
}

// apply writes the gathered keys into b in key order.
func (w *writeSet) apply(b *pebble.Batch) {
	slices.SortFunc(w.kvs, func(x, y kvRef) int { return bytes.Compare(w.buf[x.k:x.v], w.buf[y.k:y.v]) })
	for _, r := range w.kvs {
		b.Set(w.buf[r.k:r.v], w.buf[r.v:r.end], nil)
	}
}
