package partylog

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// idFilter remembers which event ids a log holds, approximately: a scalable
// Bloom filter (a chain of filters, each twice the capacity of the last, ~1%
// false positives each). A miss means the id is new, which is the answer for
// almost every append, so the store is read only on a possible hit. At 10M
// ids it takes 16 MiB (10 bits an id, rounded up to a power of two). It is
// owned by the sequencer goroutine.
//
// Each filter is blocked: an id's probes all fall in one 64-byte block, one
// cache line, so adding or looking up an id misses the cache once rather
// than once a probe. Opening a log adds every id it holds, through fillers
// that add them in the order of their blocks (see filler).
type idFilter struct {
	seed   maphash.Seed
	parts  []*bloom
	growAt int // ids in the newest part before adding a larger one
}

type bloom struct {
	blocks []bloomBlock
	mask   uint64 // len(blocks)-1
	n      int
}

// bloomBlock is one cache line of bits.
type bloomBlock [8]uint64

const (
	bloomBitsPerID = 10
	bloomProbes    = 7
)

func newIDFilter(capacity int) *idFilter {
	if capacity < 1<<16 {
		capacity = 1 << 16
	}
	f := &idFilter{seed: maphash.MakeSeed()}
	f.grow(capacity)
	return f
}

func (f *idFilter) grow(capacity int) {
	nblocks := uint64(1) << bits.Len64(uint64((capacity*bloomBitsPerID-1)/512))
	f.parts = append(f.parts, &bloom{blocks: make([]bloomBlock, nblocks), mask: nblocks - 1})
	f.growAt = capacity
}

// Add records id.
func (f *idFilter) Add(id string) { f.add(maphash.String(f.seed, id)) }

// AddBytes records the id id holds, as Add(string(id)) would.
func (f *idFilter) AddBytes(id []byte) { f.add(maphash.Bytes(f.seed, id)) }

func (f *idFilter) add(h uint64) {
	last := f.parts[len(f.parts)-1]
	if last.n >= f.growAt {
		f.grow(f.growAt * 2)
		last = f.parts[len(f.parts)-1]
	}
	probes := probesOf(h)
	b := &last.blocks[h&last.mask]
	for range bloomProbes {
		b[probes>>6&7] |= 1 << (probes & 63)
		probes >>= 9
	}
	last.n++
}

// MayContain reports false only for ids never added.
func (f *idFilter) MayContain(id string) bool {
	h := maphash.String(f.seed, id)
	probes := probesOf(h)
	for _, p := range f.parts {
		if p.blocks[h&p.mask].has(probes) {
			return true
		}
	}
	return false
}

// has reports whether every probe's bit is set.
func (b *bloomBlock) has(probes uint64) bool {
	for range bloomProbes {
		if b[probes>>6&7]&(1<<(probes&63)) == 0 {
			return false
		}
		probes >>= 9
	}
	return true
}

// probesOf returns the probes of an id whose hash is h (its block's): seven
// 9-bit bit positions in the block, from a remix of h so that they do not
// follow the block.
func probesOf(h uint64) uint64 {
	p := (h ^ h>>31) * 0xbf58476d1ce4e5b9 // splitmix64's finish
	return p ^ p>>29
}

// fillBatch is how many ids a filler holds before it adds them. Sorted by
// block, a quarter of a million ids step through a 16 MiB filter in order
// rather than missing the cache once each: at ten million ids, 145-148 ns
// an id one at a time, 47-49 through a filler (`go test -run '^$' -bench
// 'IDFilter/(add|fill)10M' ./internal/partylog`). Larger batches did no
// better, smaller ones worse (108 ns at 16,384).
const fillBatch = 1 << 18

// A filler adds many ids to the newest part of a filter, several fillers at
// once, before the filter is used: opening a log, one filler a goroutine
// reading a range of the id index. It holds the ids' hashes until a batch
// is full, sorts them by block and sets their bits with atomic ORs, since
// another filler's ids fall in the same blocks. Done adds what it holds and
// returns how many ids it added; the caller adds the fillers' counts to the
// part (see filled).
type filler struct {
	seed    maphash.Seed
	part    *bloom
	hs, tmp []uint64
	n       int
}

func (f *idFilter) filler() *filler {
	return &filler{seed: f.seed, part: f.parts[len(f.parts)-1]}
}

// AddBytes records the id id holds.
func (w *filler) AddBytes(id []byte) {
	if w.hs == nil {
		w.hs, w.tmp = make([]uint64, 0, fillBatch), make([]uint64, fillBatch)
	}
	w.hs = append(w.hs, maphash.Bytes(w.seed, id))
	if len(w.hs) == fillBatch {
		w.flush()
	}
}

func (w *filler) flush() {
	sortByBlock(w.hs, w.tmp[:len(w.hs)], w.part.mask)
	for _, h := range w.hs {
		probes := probesOf(h)
		b := &w.part.blocks[h&w.part.mask]
		for range bloomProbes {
			atomic.OrUint64(&b[probes>>6&7], 1<<(probes&63))
			probes >>= 9
		}
	}
	w.n += len(w.hs)
	w.hs = w.hs[:0]
}

// Done adds the ids still held and returns how many the filler added.
func (w *filler) Done() int {
	if len(w.hs) > 0 {
		w.flush()
	}
	w.hs, w.tmp = nil, nil
	return w.n
}

// filled counts n ids that fillers added to the newest part. A part given
// more ids than its capacity answers "maybe" more often, and the next Add
// grows the filter.
func (f *idFilter) filled(n int) { f.parts[len(f.parts)-1].n += n }

// sortByBlock sorts hashes by the block mask picks out of them (a radix
// sort, eleven bits a pass), using tmp, as long as hs, for scratch.
func sortByBlock(hs, tmp []uint64, mask uint64) {
	src, dst := hs, tmp
	for shift := 0; shift < bits.Len64(mask); shift += 11 {
		var count [1 << 11]int
		for _, h := range src {
			count[h&mask>>shift&(1<<11-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, h := range src {
			d := h & mask >> shift & (1<<11 - 1)
			dst[count[d]] = h
			count[d]++
		}
		src, dst = dst, src
	}
	if len(hs) > 0 && &src[0] != &hs[0] {
		copy(hs, src)
	}
}
