package witness_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// The seed corpus under testdata/fuzz is written by TestFuzzSeeds with
// -update, from the same deterministic key and fork the target checks
// against; without -update it fails if the files have drifted, so the
// genuine seeds stay genuine.

// FuzzVerifyEvidenceJSON feeds untrusted evidence bundles to the decoder and
// the verifier. Whatever is accepted must be two checkpoints the log really
// signed that really contradict each other.
func FuzzVerifyEvidenceJSON(f *testing.F) {
	fk := newFork(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := linkd.ParseEvidence(data)
		if err != nil {
			var ve *linkd.ValidationError
			var le *linkd.Error
			if !errors.As(err, &ve) && !errors.As(err, &le) {
				t.Fatalf("ParseEvidence error %v (%T) is neither a validation nor a domain error", err, err)
			}
			return
		}
		if len(data) > linkd.MaxEvidenceBytes {
			t.Fatalf("ParseEvidence accepted %d bytes", len(data))
		}
		if err := witness.VerifyEvidence(ev, fk.vkey); err != nil {
			checkEvidenceError(t, err)
			return
		}
		ca, errA := tlog.OpenCheckpoint(ev.A, fk.v)
		cb, errB := tlog.OpenCheckpoint(ev.B, fk.v)
		if errA != nil || errB != nil {
			t.Fatalf("VerifyEvidence accepted checkpoints the log did not sign: %v, %v", errA, errB)
		}
		if ca.Size > cb.Size {
			ca, cb = cb, ca
		}
		if ca.Size == cb.Size {
			if ca.Hash == cb.Hash {
				t.Fatalf("VerifyEvidence accepted one checkpoint twice: %s", data)
			}
			return
		}
		// The larger checkpoint belongs to one of the log's histories; its
		// true root at the smaller size must differ from the smaller one's.
		for _, tr := range []*tree{fk.a, fk.b} {
			if cb.Size < int64(len(tr.roots)) && tr.roots[cb.Size] == tlog.Hash(cb.Hash) {
				if tr.roots[ca.Size] == tlog.Hash(ca.Hash) {
					t.Fatalf("VerifyEvidence accepted consistent checkpoints of sizes %d and %d: %s", ca.Size, cb.Size, data)
				}
				return
			}
		}
		t.Fatalf("VerifyEvidence accepted a size-%d checkpoint no history of the log has", cb.Size)
	})
}

// evidenceSeeds returns the seed corpus by file name. Names starting with
// "genuine" prove the fork; the rest do not.
func evidenceSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	fk := newFork(t)
	marshal := func(ev *linkd.Evidence) []byte {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	mut := func(m func(ev *linkd.Evidence)) []byte {
		ev := fk.evidence(t)
		m(ev)
		return marshal(ev)
	}
	genuine := marshal(fk.evidence(t))
	indented, err := json.MarshalIndent(fk.evidence(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sameSize, err := witness.Check(fk.v, fk.cpA(t, 9), fk.cpB(t, 9), nil)
	if err != nil {
		t.Fatal(err)
	}
	rotterdamSigner, _ := fixedLogKey(t, rotterdamLog, 3)
	return map[string][]byte{
		"genuine":           genuine,
		"genuine-indented":  indented,
		"genuine-same-size": marshal(sameSize),
		"genuine-swapped":   mut(func(ev *linkd.Evidence) { ev.A, ev.B = ev.B, ev.A }),
		"genuine-observed": mut(func(ev *linkd.Evidence) {
			ev.Observed, ev.ObservedBy, ev.From = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "rotterdam-dc", "antwerp-dc"
		}),
		"honest-prefix":      mut(func(ev *linkd.Evidence) { ev.A = fk.cpB(t, 10) }),
		"same-checkpoint":    mut(func(ev *linkd.Evidence) { ev.A = ev.B }),
		"altered-proof":      mut(func(ev *linkd.Evidence) { ev.Proof[0] = fk.a.roots[3].String() }),
		"made-up-root":       mut(func(ev *linkd.Evidence) { ev.SmallerRoot = fk.a.roots[9].String() }),
		"no-proof":           mut(func(ev *linkd.Evidence) { ev.SmallerRoot, ev.Proof = "", nil }),
		"accuses-other-log":  mut(func(ev *linkd.Evidence) { ev.Origin = rotterdamLog }),
		"other-log":          mut(func(ev *linkd.Evidence) { ev.B = signCheckpoint(t, rotterdamSigner, rotterdamLog, 12, fk.b.roots[12]) }),
		"altered-checkpoint": mut(func(ev *linkd.Evidence) { ev.B = bytes.Replace(ev.B, []byte("\n12\n"), []byte("\n11\n"), 1) }),
		"truncated":          genuine[:len(genuine)/2],
		"trailing-data":      append(bytes.Clone(genuine), "{}"...),
		"unknown-field":      []byte(`{"origin":"linkd.dev/log/haiphong-terminal","a":"YQ==","b":"Yg==","surprise":1}`),
		"empty-object":       []byte("{}"),
		"null":               []byte("null"),
	}
}

// FuzzCosignatures feeds untrusted notes and signature lines to
// AddCosignatures and VerifyCosignatures. A line added to a checkpoint never
// breaks the log's signature on it, adding is idempotent, and only a line
// the witness made verifies as its cosignature.
func FuzzCosignatures(f *testing.F) {
	fk := newFork(f)
	c, wv := katWitness(f)
	genuine := map[string]bool{}
	for _, size := range []int64{10, 11, 12} {
		line, err := witness.Cosign(fk.cpB(f, size), fk.v, c, cosignTime)
		if err != nil {
			f.Fatal(err)
		}
		genuine[string(bytes.TrimSuffix(line, []byte("\n")))] = true
	}
	f.Fuzz(func(t *testing.T, msg, line []byte) {
		before, errBefore := witness.VerifyCosignatures(msg, fk.v, wv)
		out := witness.AddCosignatures(msg, line)
		if again := witness.AddCosignatures(out, line); !bytes.Equal(again, out) {
			t.Fatalf("adding the line twice changed the note:\n%s\n%s", out, again)
		}
		after, errAfter := witness.VerifyCosignatures(out, fk.v, wv)
		if errBefore == nil && errAfter != nil {
			t.Fatalf("adding %q broke the checkpoint: %v", line, errAfter)
		}
		for _, c := range []struct {
			names []string
			note  []byte
		}{{before, msg}, {after, out}} {
			if len(c.names) == 0 {
				continue
			}
			found := false
			for l := range bytes.Lines(c.note) {
				found = found || genuine[string(bytes.TrimSuffix(l, []byte("\n")))]
			}
			if !found {
				t.Fatalf("VerifyCosignatures named %v for a note without the witness's cosignature:\n%s", c.names, c.note)
			}
		}
	})
}

// cosignTime is when the seeds' cosignatures were made.
var cosignTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// katWitness is the deterministic witness key of testdata/cosignature-v1.txt.
func katWitness(t testing.TB) (*witness.Cosigner, note.Verifier) {
	t.Helper()
	k := readKAT(t)
	c, err := witness.NewCosigner(k.witnessSKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := witness.NewCosignatureVerifier(k.witnessVKey)
	if err != nil {
		t.Fatal(err)
	}
	return c, v
}

// cosignatureSeeds returns FuzzCosignatures' seeds: a note and a line each.
// Names starting with "cosigned" make a note the witness cosigned.
func cosignatureSeeds(t testing.TB) map[string][][]byte {
	t.Helper()
	fk := newFork(t)
	c, _ := katWitness(t)
	cp := fk.cpB(t, 12)
	line, err := witness.Cosign(cp, fk.v, c, cosignTime)
	if err != nil {
		t.Fatal(err)
	}
	other, err := witness.Cosign(fk.cpB(t, 11), fk.v, c, cosignTime)
	if err != nil {
		t.Fatal(err)
	}
	cosigned := witness.AddCosignatures(cp, line)
	logLine := cp[bytes.Index(cp, []byte("\n\n"))+2:]
	return map[string][][]byte{
		"cosigned":                {cp, line},
		"cosigned-again":          {cosigned, line},
		"cosigned-log-line-again": {cosigned, logLine},
		"cosignature-of-other":    {cp, other},
		"no-line":                 {cp, nil},
		"garbage-line":            {cp, []byte("— linkd.dev/witness/x AAAAAAA=\n")},
		"cr-in-base64":            {cp, []byte("— linkd.dev/witness/x AAAA\rAAAA\n")},
		"forged-log-line":         {cp, []byte("— " + haiphongLog + " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")},
		"not-a-note":              {[]byte("hello\n"), line},
		"empty":                   {nil, nil},
	}
}

func corpusFile(args ...[]byte) []byte {
	out := []byte("go test fuzz v1\n")
	for _, a := range args {
		out = append(out, "[]byte("+strconv.Quote(string(a))+")\n"...)
	}
	return out
}

// fuzzSeeds returns every target's seed corpus, by file name.
func fuzzSeeds(t testing.TB) map[string]map[string][]byte {
	t.Helper()
	seeds := map[string]map[string][]byte{"FuzzVerifyEvidenceJSON": {}, "FuzzCosignatures": {}}
	for name, data := range evidenceSeeds(t) {
		seeds["FuzzVerifyEvidenceJSON"][name] = corpusFile(data)
	}
	for name, args := range cosignatureSeeds(t) {
		seeds["FuzzCosignatures"][name] = corpusFile(args...)
	}
	return seeds
}

// TestFuzzSeeds checks the checked-in seed corpora against fuzzSeeds, and
// with -update rewrites them.
func TestFuzzSeeds(t *testing.T) {
	for target, files := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, want := range files {
			path := filepath.Join(dir, name)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test -run TestFuzzSeeds ./internal/witness -update)", err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is out of date (run go test -run TestFuzzSeeds ./internal/witness -update)", path)
			}
		}
	}
}

// TestFuzzSeedsVerdicts pins what the seeds are, so the fuzzers start from
// both sides of the line: the genuine evidence proves the fork and the rest
// does not; the cosigned notes carry the witness's cosignature and the rest
// do not.
func TestFuzzSeedsVerdicts(t *testing.T) {
	fk := newFork(t)
	for name, data := range evidenceSeeds(t) {
		ev, err := linkd.ParseEvidence(data)
		if err == nil {
			err = witness.VerifyEvidence(ev, fk.vkey)
		}
		if genuine := strings.HasPrefix(name, "genuine"); genuine != (err == nil) {
			t.Errorf("evidence seed %s: VerifyEvidence = %v, want proven = %v", name, err, genuine)
		}
	}
	_, wv := katWitness(t)
	for name, args := range cosignatureSeeds(t) {
		got, _ := witness.VerifyCosignatures(witness.AddCosignatures(args[0], args[1]), fk.v, wv)
		if cosigned := strings.HasPrefix(name, "cosigned"); cosigned != (len(got) == 1) {
			t.Errorf("cosignature seed %s: VerifyCosignatures = %v, want cosigned = %v", name, got, cosigned)
		}
	}
}
