package partylog

import (
	"hash/maphash"
	"math/bits"
)

// idFilter remembers which event ids a log holds, approximately: a scalable
// Bloom filter (a chain of filters, each twice the capacity of the last, ~1%
// false positives each). A miss means the id is new, which is the answer for
// almost every append, so the store is read only on a possible hit. At 10M
// ids it takes about 12 MiB. It is owned by the sequencer goroutine.
type idFilter struct {
	seed   maphash.Seed
	parts  []*bloom
	growAt int // ids in the newest part before adding a larger one
}

type bloom struct {
	bits []uint64
	mask uint64
	n    int
}

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
	nbits := uint64(1) << bits.Len64(uint64(capacity*bloomBitsPerID-1))
	f.parts = append(f.parts, &bloom{bits: make([]uint64, nbits/64), mask: nbits - 1})
	f.growAt = capacity
}

// Add records id.
func (f *idFilter) Add(id string) {
	last := f.parts[len(f.parts)-1]
	if last.n >= f.growAt {
		f.grow(f.growAt * 2)
		last = f.parts[len(f.parts)-1]
	}
	h1, h2 := f.hash(id)
	for i := uint64(0); i < bloomProbes; i++ {
		b := (h1 + i*h2) & last.mask
		last.bits[b>>6] |= 1 << (b & 63)
	}
	last.n++
}

// MayContain reports false only for ids never added.
func (f *idFilter) MayContain(id string) bool {
	h1, h2 := f.hash(id)
	for _, p := range f.parts {
		hit := true
		for i := uint64(0); i < bloomProbes; i++ {
			b := (h1 + i*h2) & p.mask
			if p.bits[b>>6]&(1<<(b&63)) == 0 {
				hit = false
				break
			}
		}
		if hit {
			return true
		}
	}
	return false
}

func (f *idFilter) hash(id string) (uint64, uint64) {
	h := maphash.String(f.seed, id)
	return h, bits.RotateLeft64(h, 32) | 1
}
