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
// Size leaves: at most 64 hashes, which are all an append or a root needs.
// It is not safe for concurrent use.
type Frontier struct {
	size   int64
	hashes map[int64]Hash // stored-hash index → hash, for each complete subtree root
}

// NewFrontier returns the frontier of the empty tree.
func NewFrontier() *Frontier { return &Frontier{hashes: map[int64]Hash{}} }

// LoadFrontier reads the frontier of a tree of size leaves from r.
func LoadFrontier(size int64, r HashReader) (*Frontier, error) {
	idx := frontierIndexes(size)
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("load frontier of size %d: %w", size, err)
	}
	f := &Frontier{size: size, hashes: make(map[int64]Hash, len(idx))}
	for i, x := range idx {
		f.hashes[x] = hs[i]
	}
	return f, nil
}

// Size is the number of leaves.
func (f *Frontier) Size() int64 { return f.size }

// Append adds a leaf hash as leaf number Size and calls store for every hash
// the tree gains, in increasing stored-hash index order, so the caller can
// persist them.
func (f *Frontier) Append(leaf Hash, store func(index int64, h Hash)) error {
	n := f.size
	hs, err := tlog.StoredHashesForRecordHash(n, leaf, f)
	if err != nil {
		return fmt.Errorf("append leaf %d: %w", n, err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i, h := range hs {
		store(base+int64(i), h)
	}
	// Leaf n completes len(hs)-1 levels: the subtrees it merged leave the
	// frontier and the one they formed joins it.
	m := len(hs) - 1
	for l := 0; l < m; l++ {
		delete(f.hashes, tlog.StoredHashIndex(l, n>>uint(l)-1))
	}
	f.hashes[tlog.StoredHashIndex(m, n>>uint(m))] = hs[m]
	f.size = n + 1
	return nil
}

// Root returns the tree hash of the current tree.
func (f *Frontier) Root() (Hash, error) { return tlog.TreeHash(f.size, f) }

// ReadHashes serves the frontier's own hashes, as tlog needs for appends and roots.
func (f *Frontier) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, x := range indexes {
		h, ok := f.hashes[x]
		if !ok {
			return nil, fmt.Errorf("hash %d is not on the frontier of size %d", x, f.size)
		}
		out[i] = h
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
