package tlog_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/linkd-dev/linkd/internal/tlog"
)

var update = flag.Bool("update", false, "rewrite testdata golden files and fuzz seeds")

// vectorSize is how many leaves the proof vector tests grow the tree to.
const vectorSize = 256

// hashStore is a HashReader over the hashes a Frontier emitted, as a
// key-value store would hold them.
type hashStore map[int64]tlog.Hash

func (s hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := s[x]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

// vectorTree is a tree of vectorSize leaves grown with Frontier.Append,
// alongside the roots transparency-dev/merkle computes for the same leaves.
type vectorTree struct {
	data   [][]byte    // leaf data
	leaves []tlog.Hash // LeafHash of data
	store  hashStore   // every hash Append emitted
	roots  []tlog.Hash // roots[n]: our Frontier's root after n leaves
	want   [][]byte    // want[n]: transparency-dev's root of the first n leaves
}

var (
	vectorOnce sync.Once
	vector     *vectorTree
	vectorErr  error
)

// proofVectors builds the shared vector tree once; the tests only read it.
func proofVectors(t *testing.T) *vectorTree {
	t.Helper()
	vectorOnce.Do(func() { vector, vectorErr = buildVectorTree(vectorSize, leafData) })
	if vectorErr != nil {
		t.Fatal(vectorErr)
	}
	return vector
}

func leafData(i int) []byte { return []byte(fmt.Sprint(i)) }

func buildVectorTree(n int, data func(int) []byte) (*vectorTree, error) {
	vt := &vectorTree{store: hashStore{}}
	f := tlog.NewFrontier()
	root, err := f.Root()
	if err != nil {
		return nil, fmt.Errorf("root of empty frontier: %v", err)
	}
	vt.roots = append(vt.roots, root)
	indep := independentRoots(n, data)
	vt.want = indep
	for i := range n {
		d := data(i)
		leaf := tlog.LeafHash(d)
		vt.data = append(vt.data, d)
		vt.leaves = append(vt.leaves, leaf)
		next := tlog.StoredHashIndex(0, int64(i))
		var appendErr error
		err := f.Append(leaf, func(index int64, h tlog.Hash) {
			if index != next && appendErr == nil {
				appendErr = fmt.Errorf("append leaf %d: emitted stored hash %d, want %d (increasing, contiguous)", i, index, next)
			}
			if _, dup := vt.store[index]; dup && appendErr == nil {
				appendErr = fmt.Errorf("append leaf %d: emitted stored hash %d twice", i, index)
			}
			next = index + 1
			vt.store[index] = h
		})
		if err != nil {
			return nil, fmt.Errorf("append leaf %d: %v", i, err)
		}
		if appendErr != nil {
			return nil, appendErr
		}
		if got, want := f.Size(), int64(i+1); got != want {
			return nil, fmt.Errorf("after append %d: Size() = %d, want %d", i, got, want)
		}
		root, err := f.Root()
		if err != nil {
			return nil, fmt.Errorf("root after %d leaves: %v", i+1, err)
		}
		vt.roots = append(vt.roots, root)
	}
	return vt, nil
}

// independentRoots computes the RFC 6962 roots of the first 0..n leaves of
// data with transparency-dev/merkle's compact ranges.
func independentRoots(n int, data func(int) []byte) [][]byte {
	h := rfc6962.DefaultHasher
	rf := compact.RangeFactory{Hash: h.HashChildren}
	r := rf.NewEmptyRange(0)
	roots := [][]byte{h.EmptyRoot()}
	for i := range n {
		if err := r.Append(h.HashLeaf(data(i)), nil); err != nil {
			panic(err)
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			panic(err)
		}
		roots = append(roots, root)
	}
	return roots
}

// refRoot is RFC 6962 section 2.1's MTH, written out as the RFC says it, as a
// third opinion on the small trees.
func refRoot(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(leaves) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return h.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

func toBytes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// flipBit returns a copy of p with one bit of p[i] flipped.
func flipBit(p []tlog.Hash, i, bit int) []tlog.Hash {
	q := append([]tlog.Hash(nil), p...)
	q[i][bit/8%32] ^= 1 << (bit % 8)
	return q
}

func flipRoot(h tlog.Hash) tlog.Hash {
	h[31] ^= 1
	return h
}

func TestLeafHash(t *testing.T) {
	for _, data := range [][]byte{nil, {}, {0}, []byte("0"), bytes.Repeat([]byte{0xff}, 1000)} {
		got := tlog.LeafHash(data)
		if want := rfc6962.DefaultHasher.HashLeaf(data); !bytes.Equal(got[:], want) {
			t.Errorf("LeafHash(%q) = %x, want %x", data, got, want)
		}
	}
}

func TestFrontierRoot(t *testing.T) {
	vt := proofVectors(t)
	for size := 0; size <= vectorSize; size++ {
		if got, want := vt.roots[size], vt.want[size]; !bytes.Equal(got[:], want) {
			t.Errorf("Frontier root after %d leaves = %x, want %x (transparency-dev)", size, got, want)
		}
		got, err := tlog.TreeHash(int64(size), vt.store)
		if err != nil {
			t.Errorf("TreeHash(%d): %v", size, err)
			continue
		}
		if want := vt.want[size]; !bytes.Equal(got[:], want) {
			t.Errorf("TreeHash(%d) = %x, want %x (transparency-dev)", size, got, want)
		}
		if size <= 40 {
			if want := refRoot(vt.data[:size]); !bytes.Equal(got[:], want) {
				t.Errorf("TreeHash(%d) = %x, want %x (RFC 6962 MTH)", size, got, want)
			}
		}
	}
	// Every stored-hash index from 0 up was written exactly once.
	for i := range int64(len(vt.store)) {
		if _, ok := vt.store[i]; !ok {
			t.Fatalf("the frontier never emitted stored hash %d of %d", i, len(vt.store))
		}
	}
}

func TestInclusionProof(t *testing.T) {
	t.Parallel() // the two slow vector tests overlap
	vt := proofVectors(t)
	for size := int64(1); size <= vectorSize; size++ {
		root := vt.roots[size]
		for index := range size {
			leaf := vt.leaves[index]
			p, err := tlog.InclusionProof(index, size, vt.store)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(size), leaf[:], toBytes(p), root[:]); err != nil {
				t.Fatalf("InclusionProof(%d, %d) does not verify with transparency-dev: %v", index, size, err)
			}
			if err := tlog.VerifyInclusion(leaf, index, size, p, root); err != nil {
				t.Fatalf("VerifyInclusion(leaf %d, size %d) = %v, want nil", index, size, err)
			}
			for i := range p {
				bad := flipBit(p, i, int(index+size)*7+i)
				if err := tlog.VerifyInclusion(leaf, index, size, bad, root); !errors.Is(err, tlog.ErrNotIncluded) {
					t.Fatalf("VerifyInclusion(leaf %d, size %d) with proof hash %d altered = %v, want ErrNotIncluded", index, size, i, err)
				}
			}
			if err := tlog.VerifyInclusion(leaf, index, size, p, flipRoot(root)); !errors.Is(err, tlog.ErrNotIncluded) {
				t.Fatalf("VerifyInclusion(leaf %d, size %d) against another root = %v, want ErrNotIncluded", index, size, err)
			}
			for _, wrong := range []int64{index ^ 1, size - 1 - index, (index + 1) % size} {
				if wrong == index || wrong >= size {
					continue
				}
				// Another leaf at this index, and this leaf at another index.
				if err := tlog.VerifyInclusion(vt.leaves[wrong], index, size, p, root); !errors.Is(err, tlog.ErrNotIncluded) {
					t.Fatalf("VerifyInclusion(leaf %d at index %d, size %d) = %v, want ErrNotIncluded", wrong, index, size, err)
				}
				wp, err := tlog.InclusionProof(wrong, size, vt.store)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", wrong, size, err)
				}
				want := tlog.ErrNotIncluded
				if len(wp) != len(p) {
					want = tlog.ErrMalformed
				}
				if err := tlog.VerifyInclusion(leaf, wrong, size, p, root); !errors.Is(err, want) {
					t.Fatalf("VerifyInclusion(leaf %d claimed at index %d, size %d) = %v, want %v", index, wrong, size, err, want)
				}
			}
			long := append(append([]tlog.Hash(nil), p...), leaf)
			if err := tlog.VerifyInclusion(leaf, index, size, long, root); !errors.Is(err, tlog.ErrMalformed) {
				t.Fatalf("VerifyInclusion(leaf %d, size %d) with an extra hash = %v, want ErrMalformed", index, size, err)
			}
			if len(p) > 0 {
				if err := tlog.VerifyInclusion(leaf, index, size, p[:len(p)-1], root); !errors.Is(err, tlog.ErrMalformed) {
					t.Fatalf("VerifyInclusion(leaf %d, size %d) with a hash missing = %v, want ErrMalformed", index, size, err)
				}
			}
		}
	}
}

func TestInclusionOutOfRange(t *testing.T) {
	vt := proofVectors(t)
	tests := []struct{ index, size int64 }{
		{0, 0}, {5, 5}, {6, 5}, {-1, 5}, {255, 255}, {1 << 40, 256},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("index=%d,size=%d", tt.index, tt.size), func(t *testing.T) {
			if p, err := tlog.InclusionProof(tt.index, tt.size, vt.store); err == nil {
				t.Errorf("InclusionProof(%d, %d) = %d hashes, want an error", tt.index, tt.size, len(p))
			}
			err := tlog.VerifyInclusion(vt.leaves[0], tt.index, tt.size, nil, vt.roots[min(tt.size, vectorSize)])
			if !errors.Is(err, tlog.ErrNotIncluded) {
				t.Fatalf("VerifyInclusion(index %d, size %d) = %v, want ErrNotIncluded", tt.index, tt.size, err)
			}
			if want := "outside"; !strings.Contains(err.Error(), want) {
				t.Errorf("VerifyInclusion error %q does not say %q", err, want)
			}
		})
	}
}

func TestConsistencyProof(t *testing.T) {
	t.Parallel() // the two slow vector tests overlap
	vt := proofVectors(t)
	for n := int64(1); n <= vectorSize; n++ {
		root := vt.roots[n]
		for m := int64(1); m <= n; m++ {
			oldRoot := vt.roots[m]
			p, err := tlog.ConsistencyProof(m, n, vt.store)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(m), uint64(n), toBytes(p), oldRoot[:], root[:]); err != nil {
				t.Fatalf("ConsistencyProof(%d, %d) does not verify with transparency-dev: %v", m, n, err)
			}
			if err := tlog.VerifyConsistency(m, oldRoot, n, root, p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d) = %v, want nil", m, n, err)
			}
			for i := range p {
				bad := flipBit(p, i, int(m*n)+i*13)
				if err := tlog.VerifyConsistency(m, oldRoot, n, root, bad); !errors.Is(err, tlog.ErrInconsistent) {
					t.Fatalf("VerifyConsistency(%d, %d) with proof hash %d altered = %v, want ErrInconsistent", m, n, i, err)
				}
			}
			if err := tlog.VerifyConsistency(m, flipRoot(oldRoot), n, root, p); !errors.Is(err, tlog.ErrInconsistent) {
				t.Fatalf("VerifyConsistency(%d, %d) with a wrong old root = %v, want ErrInconsistent", m, n, err)
			}
			if err := tlog.VerifyConsistency(m, oldRoot, n, flipRoot(root), p); !errors.Is(err, tlog.ErrInconsistent) {
				t.Fatalf("VerifyConsistency(%d, %d) with a wrong new root = %v, want ErrInconsistent", m, n, err)
			}
			if len(p) > 0 {
				if err := tlog.VerifyConsistency(m, oldRoot, n, root, p[:len(p)-1]); !errors.Is(err, tlog.ErrInconsistent) {
					t.Fatalf("VerifyConsistency(%d, %d) with a hash missing = %v, want ErrInconsistent", m, n, err)
				}
			}
			if m > 1 && m < n {
				// The old tree of another size with this proof.
				if err := tlog.VerifyConsistency(m-1, vt.roots[m-1], n, root, p); !errors.Is(err, tlog.ErrInconsistent) {
					t.Fatalf("VerifyConsistency(%d, %d) with the proof for %d = %v, want ErrInconsistent", m-1, n, m, err)
				}
			}
		}
	}
}

func TestConsistencyEdges(t *testing.T) {
	vt := proofVectors(t)
	r5, r7 := vt.roots[5], vt.roots[7]
	tests := []struct {
		name             string
		oldSize, size    int64
		oldRoot, root    tlog.Hash
		proof            []tlog.Hash
		want             error // nil for success
		wantMsgFragments []string
	}{
		{name: "same size same root", oldSize: 7, size: 7, oldRoot: r7, root: r7},
		{name: "same size different root", oldSize: 7, size: 7, oldRoot: r7, root: flipRoot(r7), want: tlog.ErrInconsistent, wantMsgFragments: []string{"two different roots", "size 7"}},
		{name: "same size with a proof", oldSize: 7, size: 7, oldRoot: r7, root: r7, proof: []tlog.Hash{r5}, want: tlog.ErrMalformed, wantMsgFragments: []string{"equal sizes has no hashes"}},
		{name: "from empty", oldSize: 0, size: 7, root: r7},
		{name: "from empty with a proof", oldSize: 0, size: 7, root: r7, proof: []tlog.Hash{r5}, want: tlog.ErrMalformed},
		{name: "shrinking", oldSize: 7, size: 5, oldRoot: r7, root: r5, want: tlog.ErrInconsistent, wantMsgFragments: []string{"size 7 cannot precede size 5"}},
		{name: "negative old size", oldSize: -1, size: 5, root: r5, want: tlog.ErrInconsistent},
		{name: "no proof", oldSize: 5, size: 7, oldRoot: r5, root: r7, want: tlog.ErrInconsistent, wantMsgFragments: []string{"not a prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tlog.VerifyConsistency(tt.oldSize, tt.oldRoot, tt.size, tt.root, tt.proof)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyConsistency = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyConsistency = %v, want %v", err, tt.want)
			}
			for _, frag := range tt.wantMsgFragments {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("VerifyConsistency error %q does not say %q", err, frag)
				}
			}
		})
	}

	for _, tt := range []struct{ old, size int64 }{{0, 7}, {7, 7}} {
		if p, err := tlog.ConsistencyProof(tt.old, tt.size, vt.store); err != nil || len(p) != 0 {
			t.Errorf("ConsistencyProof(%d, %d) = %d hashes, %v; want none, nil", tt.old, tt.size, len(p), err)
		}
	}
	for _, tt := range []struct{ old, size int64 }{{8, 7}, {-1, 7}} {
		if p, err := tlog.ConsistencyProof(tt.old, tt.size, vt.store); err == nil {
			t.Errorf("ConsistencyProof(%d, %d) = %d hashes, want an error", tt.old, tt.size, len(p))
		}
	}
}

func TestLoadFrontier(t *testing.T) {
	vt := proofVectors(t)
	for size := int64(0); size <= vectorSize; size++ {
		f, err := tlog.LoadFrontier(size, vt.store)
		if err != nil {
			t.Fatalf("LoadFrontier(%d): %v", size, err)
		}
		if got := f.Size(); got != size {
			t.Fatalf("LoadFrontier(%d).Size() = %d", size, got)
		}
		// The loaded frontier continues exactly as the live one did: same
		// stored hashes under the same indexes, same roots.
		for n := size; n < vectorSize; n++ {
			root, err := f.Root()
			if err != nil {
				t.Fatalf("LoadFrontier(%d), root at %d: %v", size, n, err)
			}
			if root != vt.roots[n] {
				t.Fatalf("LoadFrontier(%d) root at size %d = %x, want %x", size, n, root, vt.roots[n])
			}
			var mismatch error
			err = f.Append(vt.leaves[n], func(index int64, h tlog.Hash) {
				if want, ok := vt.store[index]; (!ok || h != want) && mismatch == nil {
					mismatch = fmt.Errorf("LoadFrontier(%d), append leaf %d: stored hash %d = %x, want %x", size, n, index, h, want)
				}
			})
			if err != nil {
				t.Fatalf("LoadFrontier(%d), append leaf %d: %v", size, n, err)
			}
			if mismatch != nil {
				t.Fatal(mismatch)
			}
		}
		if root, err := f.Root(); err != nil || root != vt.roots[vectorSize] {
			t.Fatalf("LoadFrontier(%d) grown to %d: root %x, %v; want %x", size, vectorSize, root, err, vt.roots[vectorSize])
		}
	}
}

func TestLoadFrontierMissingHashes(t *testing.T) {
	vt := proofVectors(t)
	partial := hashStore{}
	for i, h := range vt.store {
		partial[i] = h
	}
	// Size 6 is the subtrees of leaves 0..3 and 4..5; drop the second.
	delete(partial, tlog.StoredHashIndex(1, 2))
	if _, err := tlog.LoadFrontier(6, partial); err == nil {
		t.Errorf("LoadFrontier(6) with a frontier hash missing from the store succeeded, want an error")
	}
	if _, err := tlog.LoadFrontier(3, hashStore{}); err == nil {
		t.Errorf("LoadFrontier(3) from an empty store succeeded, want an error")
	}
	f, err := tlog.LoadFrontier(0, hashStore{})
	if err != nil {
		t.Fatalf("LoadFrontier(0) from an empty store: %v", err)
	}
	if root, _ := f.Root(); !bytes.Equal(root[:], rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("empty frontier root = %x, want %x", root, rfc6962.DefaultHasher.EmptyRoot())
	}
}

const goldenRoots = "testdata/roots.txt"

func goldenLeaf(i int) []byte { return []byte{byte(i)} }

// TestGoldenRoots compares our roots with testdata/roots.txt, written by
// transparency-dev/merkle with -update.
func TestGoldenRoots(t *testing.T) {
	const maxGolden = 20
	if *update {
		var b strings.Builder
		b.WriteString("# RFC 6962 roots of the trees of leaves []byte{0}, []byte{1}, ..., by size.\n")
		b.WriteString("# Written by transparency-dev/merkle (go test -run TestGoldenRoots -update).\n")
		for size, root := range independentRoots(maxGolden, goldenLeaf) {
			fmt.Fprintf(&b, "%d %x\n", size, root)
		}
		if err := os.MkdirAll(filepath.Dir(goldenRoots), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenRoots, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readGoldenRoots(t)
	if len(want) != maxGolden+1 {
		t.Fatalf("%s has %d roots, want %d", goldenRoots, len(want), maxGolden+1)
	}
	vt, err := buildVectorTree(maxGolden, goldenLeaf)
	if err != nil {
		t.Fatal(err)
	}
	for size, w := range want {
		if got := vt.roots[size]; got != w {
			t.Errorf("Frontier root of size %d = %x, want %x", size, got, w)
		}
		got, err := tlog.TreeHash(int64(size), vt.store)
		if err != nil || got != w {
			t.Errorf("TreeHash(%d) = %x, %v; want %x", size, got, err, w)
		}
	}
}

func readGoldenRoots(t *testing.T) []tlog.Hash {
	t.Helper()
	f, err := os.Open(goldenRoots)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	defer f.Close()
	var roots []tlog.Hash
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		sizeText, hexRoot, ok := strings.Cut(text, " ")
		size, err := strconv.Atoi(sizeText)
		if !ok || err != nil || size != len(roots) {
			t.Fatalf("%s:%d: want %q then a hex root", goldenRoots, line, fmt.Sprint(len(roots)))
		}
		raw, err := hex.DecodeString(hexRoot)
		if err != nil || len(raw) != 32 {
			t.Fatalf("%s:%d: root is not 32 bytes of hex", goldenRoots, line)
		}
		roots = append(roots, tlog.Hash(raw))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return roots
}

// BenchmarkFrontierAppend appends leaves as the log's sequencer does for
// every event, taking the hashes the tree gains.
func BenchmarkFrontierAppend(b *testing.B) {
	f := tlog.NewFrontier()
	var sink tlog.Hash
	var leaf tlog.Hash
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		leaf[0], leaf[1], leaf[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := f.Append(leaf, func(_ int64, h tlog.Hash) { sink = h }); err != nil {
			b.Fatal(err)
		}
	}
	_ = sink
}

// BenchmarkFrontierRoot computes the root of a tree of a million leaves
// and some, as a commit does for its checkpoint.
func BenchmarkFrontierRoot(b *testing.B) {
	f := tlog.NewFrontier()
	var leaf tlog.Hash
	for i := range 1_000_003 {
		leaf[0], leaf[1], leaf[2] = byte(i), byte(i>>8), byte(i>>16)
		f.Append(leaf, func(int64, tlog.Hash) {})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Root(); err != nil {
			b.Fatal(err)
		}
	}
}
