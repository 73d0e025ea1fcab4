package partylog

import (
	"hash/maphash"
	"math/bits"
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
// than once a probe. Opening a log adds every id it holds.
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
