package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora")

var (
	haiphongLog  = linkd.LogOrigin("haiphong-terminal")
	rotterdamLog = linkd.LogOrigin("rotterdam-dc")
)

// fixedLogKey is a deterministic Ed25519 log key, so checked-in seeds and
// vectors stay valid.
func fixedLogKey(t testing.TB, name string, seed byte) (s note.Signer, vkey string) {
	t.Helper()
	sd := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	pub := ed25519.NewKeyFromSeed(sd).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatalf("NewEd25519VerifierKey(%q): %v", name, err)
	}
	hash, _, _ := strings.Cut(vkey[len(name)+1:], "+")
	skey := "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, sd...))
	s, err = tlog.NewSigner(skey)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s, vkey
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("NewVerifier(%q): %v", vkey, err)
	}
	return v
}

// newWitness makes a fresh witness key for party.
func newWitness(t testing.TB, party string) (*witness.Cosigner, note.Verifier) {
	t.Helper()
	skey, vkey, err := witness.GenerateKey(party)
	if err != nil {
		t.Fatalf("GenerateKey(%q): %v", party, err)
	}
	c, err := witness.NewCosigner(skey)
	if err != nil {
		t.Fatalf("NewCosigner: %v", err)
	}
	v, err := witness.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatalf("NewCosignatureVerifier: %v", err)
	}
	return c, v
}

func signCheckpoint(t testing.TB, s note.Signer, origin string, size int64, root tlog.Hash) []byte {
	t.Helper()
	msg, err := tlog.SignCheckpoint(linkd.Checkpoint{Origin: origin, Size: size, Hash: root}, s)
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return msg
}

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

// tree is one history of a log: a real RFC 6962 tree built with a Frontier,
// its stored hashes in a map, and its root at every size.
type tree struct {
	hashes hashStore
	f      *tlog.Frontier
	roots  []tlog.Hash // roots[n] is the root at size n
}

func newTree(t testing.TB, leaves ...string) *tree {
	t.Helper()
	tr := &tree{hashes: hashStore{}, f: tlog.NewFrontier()}
	root, err := tr.f.Root()
	if err != nil {
		t.Fatal(err)
	}
	tr.roots = []tlog.Hash{root}
	tr.add(t, leaves...)
	return tr
}

func (tr *tree) add(t testing.TB, leaves ...string) {
	t.Helper()
	for _, l := range leaves {
		if err := tr.f.Append(tlog.LeafHash([]byte(l)), func(i int64, h tlog.Hash) { tr.hashes[i] = h }); err != nil {
			t.Fatal(err)
		}
		root, err := tr.f.Root()
		if err != nil {
			t.Fatal(err)
		}
		tr.roots = append(tr.roots, root)
	}
}

// prove answers Check's question from this tree's stored hashes.
func (tr *tree) prove(m, n int64) (tlog.Hash, []tlog.Hash, error) {
	root, err := tlog.TreeHash(m, tr.hashes)
	if err != nil {
		return tlog.Hash{}, nil, err
	}
	p, err := tlog.ConsistencyProof(m, n, tr.hashes)
	return root, p, err
}

// fork is one log, signed with one key, that told two stories: both
// histories share their first 8 entries, then a grows to 10 entries and b to
// 12 different ones.
type fork struct {
	signer note.Signer
	vkey   string
	v      note.Verifier
	a, b   *tree
}

func newFork(t testing.TB) *fork {
	t.Helper()
	s, vkey := fixedLogKey(t, haiphongLog, 1)
	var common []string
	for i := range 8 {
		common = append(common, fmt.Sprintf("GTIN MSCU%07d", i))
	}
	f := &fork{signer: s, vkey: vkey, v: mustVerifier(t, vkey), a: newTree(t, common...), b: newTree(t, common...)}
	f.a.add(t, "LOAD MSCU0000008", "DEPA MSCU0000009")
	f.b.add(t, "LOAD MSCU0000108", "LOAD MSCU0000109", "DEPA MSCU0000110", "ARRI MSCU0000111")
	return f
}

// cpA and cpB are checkpoints of the two histories at a size.
func (f *fork) cpA(t testing.TB, size int64) []byte {
	return signCheckpoint(t, f.signer, haiphongLog, size, f.a.roots[size])
}

func (f *fork) cpB(t testing.TB, size int64) []byte {
	return signCheckpoint(t, f.signer, haiphongLog, size, f.b.roots[size])
}

// evidence is the evidence of the fork at sizes 10 (history a) and 12 (b).
func (f *fork) evidence(t testing.TB) *linkd.Evidence {
	t.Helper()
	ev, err := witness.Check(f.v, f.cpA(t, 10), f.cpB(t, 12), f.b.prove)
	if err != nil || ev == nil {
		t.Fatalf("Check(fork at 10 and 12) = %v, %v; want evidence", ev, err)
	}
	return ev
}

// evidenceKinds are the kinds a VerifyEvidence failure may have.
var evidenceKinds = []error{tlog.ErrBadKey, tlog.ErrMalformed, tlog.ErrSignature, tlog.ErrWrongLog, witness.ErrConsistent, witness.ErrBadProof}

// checkEvidenceError fails unless err is a *tlog.VerifyError of an evidence
// kind with a message, and returns its kind.
func checkEvidenceError(t testing.TB, err error) error {
	t.Helper()
	var ve *tlog.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *tlog.VerifyError", err, err)
	}
	if !slices.Contains(evidenceKinds, ve.Kind) {
		t.Fatalf("error %q has kind %v, not one of VerifyEvidence's", err, ve.Kind)
	}
	if ve.Detail == "" {
		t.Fatalf("error of kind %v has no message", ve.Kind)
	}
	return ve.Kind
}
