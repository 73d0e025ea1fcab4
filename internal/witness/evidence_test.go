package witness_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

func TestCheckFindsFork(t *testing.T) {
	f := newFork(t)
	a10, b12 := f.cpA(t, 10), f.cpB(t, 12)

	ev := f.evidence(t)
	if ev.Origin != haiphongLog || !bytes.Equal(ev.A, a10) || !bytes.Equal(ev.B, b12) {
		t.Fatalf("evidence = %+v; want origin %s, a the size-10 and b the size-12 checkpoint", ev, haiphongLog)
	}
	// The implied root is history b's root at size 10, not history a's.
	if ev.SmallerRoot != f.b.roots[10].String() || ev.SmallerRoot == f.a.roots[10].String() || len(ev.Proof) == 0 {
		t.Fatalf("impliedRoot %s with %d proof hashes; want b's root at 10, %s, and a proof", ev.SmallerRoot, len(ev.Proof), f.b.roots[10])
	}
	if err := witness.VerifyEvidence(ev, f.vkey); err != nil {
		t.Fatalf("VerifyEvidence(fork) = %v", err)
	}

	// Either order gives the same evidence.
	swapped, err := witness.Check(f.v, b12, a10, f.b.prove)
	if err != nil || !jsonEqual(t, swapped, ev) {
		t.Fatalf("Check(larger first) = %+v, %v; want %+v", swapped, err, ev)
	}

	// Same size, different roots: no proof needed.
	same, err := witness.Check(f.v, f.cpA(t, 9), f.cpB(t, 9), nil)
	if err != nil || same == nil || same.SmallerRoot != "" || len(same.Proof) != 0 {
		t.Fatalf("Check(two roots for size 9) = %+v, %v; want evidence without a proof", same, err)
	}
	if err := witness.VerifyEvidence(same, f.vkey); err != nil {
		t.Fatalf("VerifyEvidence(two roots for size 9) = %v", err)
	}
}

func TestCheckHonestLogIsConsistent(t *testing.T) {
	f := newFork(t)
	fail := func(m, n int64) (tlog.Hash, []tlog.Hash, error) {
		t.Fatalf("Check asked for a proof from %d to %d where none is needed", m, n)
		return tlog.Hash{}, nil, nil
	}
	cases := []struct {
		name  string
		a, b  []byte
		prove func(m, n int64) (tlog.Hash, []tlog.Hash, error)
	}{
		{"prefix", f.cpB(t, 10), f.cpB(t, 12), f.b.prove},
		{"prefix, larger first", f.cpB(t, 12), f.cpB(t, 5), f.b.prove},
		{"shared history before the fork", f.cpA(t, 8), f.cpB(t, 12), f.b.prove},
		{"same checkpoint", f.cpB(t, 12), f.cpB(t, 12), fail},
		{"empty tree", f.cpA(t, 0), f.cpB(t, 12), fail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := witness.Check(f.v, tc.a, tc.b, tc.prove)
			if err != nil || ev != nil {
				t.Fatalf("Check = %+v, %v; want consistent", ev, err)
			}
		})
	}
}

func TestCheckRefusesWhatItCannotTrust(t *testing.T) {
	f := newFork(t)
	a10, b12 := f.cpA(t, 10), f.cpB(t, 12)

	// A log that lies in its proof (claims a's root at size 10) is caught
	// lying, but a bad proof is not evidence.
	lying := func(m, n int64) (tlog.Hash, []tlog.Hash, error) {
		_, p, err := f.b.prove(m, n)
		return f.a.roots[m], p, err
	}
	ev, err := witness.Check(f.v, a10, b12, lying)
	if !errors.Is(err, tlog.ErrInconsistent) || ev != nil {
		t.Fatalf("Check(lying proof) = %+v, %v; want no evidence and an inconsistency error", ev, err)
	}
	unavailable := errors.New("peer unreachable")
	ev, err = witness.Check(f.v, a10, b12, func(m, n int64) (tlog.Hash, []tlog.Hash, error) { return tlog.Hash{}, nil, unavailable })
	if !errors.Is(err, unavailable) || ev != nil {
		t.Fatalf("Check(no proof to be had) = %+v, %v; want the proof's error", ev, err)
	}
	forged := bytes.Replace(b12, []byte("\n12\n"), []byte("\n13\n"), 1)
	ev, err = witness.Check(f.v, a10, forged, f.b.prove)
	if !errors.Is(err, tlog.ErrSignature) || ev != nil {
		t.Fatalf("Check(forged checkpoint) = %+v, %v; want a signature error", ev, err)
	}
}

func TestVerifyEvidenceRejects(t *testing.T) {
	f := newFork(t)
	otherSigner, otherVKey := fixedLogKey(t, haiphongLog, 2)
	rotterdamSigner, rotterdamVKey := fixedLogKey(t, rotterdamLog, 3)
	cases := []struct {
		name   string
		mutate func(ev *linkd.Evidence)
		vkey   string
		kind   error
		detail string
	}{
		{"honest prefix", func(ev *linkd.Evidence) {
			// A correct proof that b's size-10 root is b's: no contradiction.
			ev.A = f.cpB(t, 10)
		}, "", witness.ErrConsistent, "they agree"},
		{"same checkpoint twice", func(ev *linkd.Evidence) { ev.A = ev.B }, "", witness.ErrConsistent, "same root"},
		{"empty tree", func(ev *linkd.Evidence) { ev.A = f.cpA(t, 0) }, "", witness.ErrConsistent, "empty tree"},
		{"altered checkpoint", func(ev *linkd.Evidence) { ev.A = bytes.Replace(ev.A, []byte("\n10\n"), []byte("\n11\n"), 1) }, "", tlog.ErrSignature, "checkpoint a: "},
		{"forged by another key", func(ev *linkd.Evidence) {
			ev.B = signCheckpoint(t, otherSigner, haiphongLog, 12, f.b.roots[12])
		}, "", tlog.ErrSignature, "checkpoint b: "},
		{"another log's checkpoint", func(ev *linkd.Evidence) {
			ev.B = signCheckpoint(t, rotterdamSigner, rotterdamLog, 12, f.b.roots[12])
		}, "", tlog.ErrSignature, "checkpoint b: "},
		{"other origin signed with the log's key", func(ev *linkd.Evidence) {
			ev.B = signCheckpoint(t, f.signer, rotterdamLog, 12, f.b.roots[12])
		}, "", tlog.ErrWrongLog, "checkpoint b: "},
		{"accuses another log", func(ev *linkd.Evidence) { ev.Origin = rotterdamLog }, "", tlog.ErrWrongLog, "accuses log"},
		{"checked with another log's key", func(ev *linkd.Evidence) {}, rotterdamVKey, tlog.ErrSignature, "checkpoint a: "},
		{"checked with an impostor's key", func(ev *linkd.Evidence) {}, otherVKey, tlog.ErrSignature, "checkpoint a: "},
		{"bad key", func(ev *linkd.Evidence) {}, "not-a-key", tlog.ErrBadKey, "public key"},
		{"altered proof hash", func(ev *linkd.Evidence) { ev.Proof[0] = f.a.roots[3].String() }, "", witness.ErrBadProof, "does not show"},
		{"proof hash dropped", func(ev *linkd.Evidence) { ev.Proof = ev.Proof[1:] }, "", witness.ErrBadProof, "does not show"},
		{"made-up implied root", func(ev *linkd.Evidence) { ev.SmallerRoot = f.a.roots[9].String() }, "", witness.ErrBadProof, "does not show"},
		{"a's own root as implied root", func(ev *linkd.Evidence) { ev.SmallerRoot = f.a.roots[10].String() }, "", witness.ErrConsistent, "they agree"},
		{"no implied root", func(ev *linkd.Evidence) { ev.SmallerRoot, ev.Proof = "", nil }, "", tlog.ErrMalformed, "the evidence has none"},
		{"implied root not base64", func(ev *linkd.Evidence) { ev.SmallerRoot = "root!" }, "", tlog.ErrMalformed, "impliedRoot is not the base64"},
		{"short proof hash", func(ev *linkd.Evidence) { ev.Proof[0] = "AAAA" }, "", tlog.ErrMalformed, "proof hash 0 is not"},
		{"huge proof", func(ev *linkd.Evidence) {
			ev.Proof = slices.Repeat([]string{f.a.roots[1].String()}, 200)
		}, "", tlog.ErrMalformed, "200 hashes"},
		{"no checkpoints", func(ev *linkd.Evidence) { ev.A, ev.B = nil, nil }, "", tlog.ErrMalformed, "checkpoint a: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := f.evidence(t)
			tc.mutate(ev)
			vkey := tc.vkey
			if vkey == "" {
				vkey = f.vkey
			}
			err := witness.VerifyEvidence(ev, vkey)
			if err == nil {
				t.Fatal("VerifyEvidence accepted it")
			}
			if kind := checkEvidenceError(t, err); kind != tc.kind || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("VerifyEvidence = %v (kind %v); want kind %v and %q", err, kind, tc.kind, tc.detail)
			}
		})
	}
	if err := witness.VerifyEvidence(nil, f.vkey); !errors.Is(err, tlog.ErrMalformed) {
		t.Fatalf("VerifyEvidence(nil) = %v", err)
	}
}

// Evidence in either order, and after a trip through JSON, still proves the
// fork: it is portable.
func TestEvidenceSurvivesJSON(t *testing.T) {
	f := newFork(t)
	ev := f.evidence(t)
	ev.ObservedBy, ev.From = "rotterdam-dc", "antwerp-dc"
	data, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"origin": "linkd.dev/log/haiphong-terminal"`, `"a": "`, `"b": "`, `"impliedRoot": "`, `"proof": [`, `"observedBy": "rotterdam-dc"`, `"from": "antwerp-dc"`} {
		if !bytes.Contains(data, []byte(field)) {
			t.Errorf("evidence JSON lacks %s:\n%s", field, data)
		}
	}
	back, err := linkd.ParseEvidence(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := witness.VerifyEvidence(back, f.vkey); err != nil {
		t.Fatalf("VerifyEvidence after JSON = %v", err)
	}
	back.A, back.B = back.B, back.A
	if err := witness.VerifyEvidence(back, f.vkey); err != nil {
		t.Fatalf("VerifyEvidence(larger checkpoint first) = %v", err)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
