// Package tlog is linkd's Merkle log arithmetic: RFC 6962 trees whose hashes
// live in any key-value store (indexed as golang.org/x/mod/sumdb/tlog stores
// them), the frontier that appends leaves without reading the store, C2SP
// tlog-checkpoint signed notes with Ed25519 keys, and the verifiers for
// inclusion, consistency and proof bundles. It does no I/O of its own.
package tlog

import (
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a SHA-256 tree hash.
type Hash = tlog.Hash

// HashReader reads stored hashes by their stored-hash index.
type HashReader = tlog.HashReader

// StoredHashIndex maps a node (level, n) to its index in the stored-hash
// sequence; it is the key under which a store keeps that hash.
func StoredHashIndex(level int, n int64) int64 { return tlog.StoredHashIndex(level, n) }

// Frontier holds the roots of the complete subtrees that make up a tree of
// Size leaves: at most 64 hashes, one for each bit set in Size, which are
// all an append or a root needs. Appending a leaf hashes only the subtrees
// it completes, about one node hash a leaf, with nothing allocated. It is
// not safe for concurrent use.
type Frontier struct {
	size  int64
	roots [64]Hash // roots[l]: the root of the complete subtree of 2^l leaves, for each bit l set in size
}

// NewFrontier returns the frontier of the empty tree.
func NewFrontier() *Frontier { return &Frontier{} }

// LoadFrontier reads the frontier of a tree of size leaves from r.
func LoadFrontier(size int64, r HashReader) (*Frontier, error) {
	idx := frontierIndexes(size)
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("load frontier of size %d: %w", size, err)
	}
	if len(hs) != len(idx) {
		return nil, fmt.Errorf("load frontier of size %d: read %d hashes, want %d", size, len(hs), len(idx))
	}
	f := &Frontier{size: size}
	i := 0
	for l := 63; l >= 0; l-- { // the order of frontierIndexes: largest subtree first
		if size&(1<<uint(l)) != 0 {
			f.roots[l] = hs[i]
			i++
		}
	}
	return f, nil
}

// Size is the number of leaves.
func (f *Frontier) Size() int64 { return f.size }

// Append adds a leaf hash as leaf number Size and calls store for every hash
// the tree gains, in increasing stored-hash index order, so the caller can
// persist them: the leaf, then the root of each subtree it completes.
func (f *Frontier) Append(leaf Hash, store func(index int64, h Hash)) error {
	n := f.size
	if n == 1<<63-1 {
		return fmt.Errorf("append leaf %d: the tree is full", n)
	}
	x := tlog.StoredHashIndex(0, n) // the subtrees' roots follow the leaf
	store(x, leaf)
	h := leaf
	l := 0
	for ; n>>uint(l)&1 == 1; l++ {
		h = tlog.NodeHash(f.roots[l], h)
		x++
		store(x, h)
	}
	f.roots[l] = h
	f.size = n + 1
	return nil
}

// Root returns the tree hash of the current tree: the subtrees' roots
// folded from the smallest up (RFC 6962), or the empty tree's hash.
func (f *Frontier) Root() (Hash, error) {
	if f.size == 0 {
		return tlog.TreeHash(0, f)
	}
	low := bits.TrailingZeros64(uint64(f.size))
	r := f.roots[low]
	for l := low + 1; l < 64; l++ {
		if f.size&(1<<uint(l)) != 0 {
			r = tlog.NodeHash(f.roots[l], r)
		}
	}
	return r, nil
}

// ReadHashes serves the frontier's own hashes, the roots of its complete
// subtrees, by their stored-hash indexes.
func (f *Frontier) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		if level >= 64 || f.size&(1<<uint(level)) == 0 || n != f.size>>uint(level)-1 {
			return nil, fmt.Errorf("hash %d is not on the frontier of size %d", x, f.size)
		}
		out[i] = f.roots[level]
	}
	return out, nil
}

// frontierIndexes lists the stored-hash indexes of the complete subtree roots
// of a tree of size leaves, largest subtree first.
func frontierIndexes(size int64) []int64 {
	var idx []int64
	for l := 63; l >= 0; l-- {
		if size&(1<<uint(l)) != 0 {
			idx = append(idx, tlog.StoredHashIndex(l, size>>uint(l)-1))
		}
	}
	return idx
}

// LeafHash is the RFC 6962 hash of leaf data.
func LeafHash(data []byte) Hash { return tlog.RecordHash(data) }

// InclusionProof returns the RFC 6962 audit path for leaf index in the tree of
// size leaves, reading the stored hashes it needs from r.
func InclusionProof(index, size int64, r HashReader) ([]Hash, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("leaf %d is not in a tree of size %d", index, size)
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("prove leaf %d in size %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size old is a
// prefix of the tree of size size.
func ConsistencyProof(old, size int64, r HashReader) ([]Hash, error) {
	if old < 0 || old > size {
		return nil, fmt.Errorf("no consistency proof from size %d to size %d", old, size)
	}
	if old == 0 || old == size {
		return nil, nil
	}
	p, err := tlog.ProveTree(size, old, r)
	if err != nil {
		return nil, fmt.Errorf("prove size %d in size %d: %w", old, size, err)
	}
	return p, nil
}

// TreeHash computes the root of the tree of size leaves from stored hashes.
func TreeHash(size int64, r HashReader) (Hash, error) { return tlog.TreeHash(size, r) }

// proofLen is the length of an RFC 6962 audit path for index in size.
func proofLen(index, size int64) int {
	if size <= 1 {
		return 0
	}
	// Inner part: the levels where index and size-1 differ; border: the
	// set bits of index above that.
	inner := bits.Len64(uint64(index ^ (size - 1)))
	border := bits.OnesCount64(uint64(index) >> uint(inner))
	return inner + border
}

// SplitStoredHashIndex is the inverse of StoredHashIndex.
func SplitStoredHashIndex(index int64) (level int, n int64) { return tlog.SplitStoredHashIndex(index) }
