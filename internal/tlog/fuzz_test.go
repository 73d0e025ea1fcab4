package tlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// The fuzz targets' seed corpora under testdata/fuzz are written by
// TestFuzzSeeds with -update, from the same deterministic keys and log the
// targets check against; without -update it fails if they have drifted, so
// the valid seeds stay valid.

// verifyKinds are the kinds a verification failure may have.
var verifyKinds = []error{tlog.ErrBadKey, tlog.ErrMalformed, tlog.ErrSignature, tlog.ErrWrongLog, tlog.ErrNotIncluded, tlog.ErrInconsistent}

// checkVerifyError fails unless err is a *VerifyError of a known kind with a
// message.
func checkVerifyError(t *testing.T, err error) {
	t.Helper()
	var ve *tlog.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *tlog.VerifyError", err, err)
	}
	if !slices.Contains(verifyKinds, ve.Kind) {
		t.Fatalf("error %q has unknown kind %v", err, ve.Kind)
	}
	if ve.Detail == "" {
		t.Fatalf("error of kind %v has no message", ve.Kind)
	}
}

func FuzzOpenCheckpoint(f *testing.F) {
	_, vkey := fixedKey(f, haiphongLog, 1)
	v := mustVerifier(f, vkey)
	f.Fuzz(func(t *testing.T, msg []byte) {
		cp, err := tlog.OpenCheckpoint(msg, v)
		if err != nil {
			checkVerifyError(t, err)
			return
		}
		if cp.Origin != v.Name() {
			t.Fatalf("OpenCheckpoint accepted a checkpoint for %q with the key of %q", cp.Origin, v.Name())
		}
		if len(msg) > linkd.MaxCheckpointBytes {
			t.Fatalf("OpenCheckpoint accepted a %d-byte note", len(msg))
		}
		// What was accepted is exactly the signed text.
		if !bytes.HasPrefix(msg, []byte(cp.Body()+"\n")) {
			t.Fatalf("OpenCheckpoint = %+v, whose body is not the signed text of %q", cp, msg)
		}
	})
}

func FuzzVerifyBundleJSON(f *testing.F) {
	l := newBundleLog(f)
	var genuine []linkd.ProofBundle
	for i := range int64(len(l.events)) {
		genuine = append(genuine, l.bundle(f, i))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b linkd.ProofBundle
		if err := json.Unmarshal(data, &b); err != nil {
			return
		}
		got, err := tlog.VerifyBundle(&b, l.vkey)
		if err != nil {
			checkVerifyError(t, err)
			return
		}
		// Only a genuine bundle, however re-encoded, verifies.
		for i := range genuine {
			if sameBundle(t, l, &b, &genuine[i]) {
				if want := l.verified(int64(i)); !reflect.DeepEqual(got, want) {
					t.Fatalf("VerifyBundle of event %d's bundle = %+v, want %+v", i, got, want)
				}
				return
			}
		}
		t.Fatalf("VerifyBundle accepted a bundle that is not one the log made: %+v\n%s", got, data)
	})
}

// sameBundle reports whether b says what want says: the same signed
// checkpoint, event, salt, index and proof.
func sameBundle(t *testing.T, l *bundleLog, b, want *linkd.ProofBundle) bool {
	t.Helper()
	cp, err := tlog.OpenCheckpoint([]byte(b.Checkpoint), mustVerifier(t, l.vkey))
	if err != nil || !reflect.DeepEqual(cp, l.cp) {
		return false
	}
	got, err := json.Marshal(&b.Event)
	if err != nil {
		t.Fatal(err)
	}
	wantEvent, err := json.Marshal(&want.Event)
	if err != nil {
		t.Fatal(err)
	}
	return b.Format == want.Format && bytes.Equal(got, wantEvent) && bytes.Equal(b.Salt, want.Salt) &&
		b.LogIndex == want.LogIndex && slices.EqualFunc(b.InclusionProof, want.InclusionProof, bytes.Equal)
}

// fuzzSeeds returns the seed corpora, by fuzz target and file name.
func fuzzSeeds(t *testing.T) map[string]map[string][]byte {
	t.Helper()
	seeds := map[string]map[string][]byte{}

	// FuzzOpenCheckpoint: fixedKey(haiphongLog, 1) is the verifier.
	skey, _ := fixedKey(t, haiphongLog, 1)
	s := mustSigner(t, skey)
	otherSkey, _ := fixedKey(t, rotterdamLog, 2)
	other := mustSigner(t, otherSkey)
	cp := testCheckpoint(haiphongLog, 5)
	good := mustSign(t, cp, s)
	withExt := cp
	withExt.Extensions = []string{"timestamp 1790000000"}
	seeds["FuzzOpenCheckpoint"] = map[string][]byte{
		"valid":                 good,
		"valid-empty-tree":      mustSign(t, testCheckpoint(haiphongLog, 0), s),
		"valid-extension":       mustSign(t, withExt, s),
		"valid-cosigned":        signText(t, cp.Body(), other, s),
		"other-key":             signText(t, cp.Body(), other),
		"wrong-origin":          mustSign(t, testCheckpoint(rotterdamLog, 5), s),
		"altered-text":          bytes.Replace(good, []byte("\n5\n"), []byte("\n6\n"), 1),
		"altered-signature":     alterSignature(t, good),
		"not-a-checkpoint":      signText(t, "hello\n", s),
		"not-a-note":            []byte("hello, world\n"),
		"body-only":             []byte(cp.Body()),
		"empty":                 {},
		"unsigned-sig-block":    []byte(cp.Body() + "\n— " + haiphongLog + " AAAAAAAA\n"),
		"invalid-utf8":          append([]byte("\xff"), good...),
		"negative-size-checked": signText(t, haiphongLog+"\n-5\n"+strings.Repeat("A", 43)+"=\n", s),
	}

	// FuzzVerifyBundleJSON: newBundleLog's key is the verifier.
	l := newBundleLog(t)
	b := l.bundle(t, genuineIndex)
	marshal := func(b linkd.ProofBundle) []byte {
		data, err := json.Marshal(&b)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	indented, err := json.MarshalIndent(&b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b *linkd.ProofBundle)) []byte {
		c := l.bundle(t, genuineIndex)
		f(&c)
		return marshal(c)
	}
	genuine := marshal(b)
	seeds["FuzzVerifyBundleJSON"] = map[string][]byte{
		"genuine":          genuine,
		"genuine-indented": indented,
		"genuine-event-0":  marshal(l.bundle(t, 0)),
		"altered-salt":     mut(func(b *linkd.ProofBundle) { b.Salt[0] ^= 1 }),
		"wrong-index":      mut(func(b *linkd.ProofBundle) { b.LogIndex = 2 }),
		"index-too-big":    mut(func(b *linkd.ProofBundle) { b.LogIndex = 5 }),
		"short-proof-hash": mut(func(b *linkd.ProofBundle) { b.InclusionProof[0] = b.InclusionProof[0][:31] }),
		"other-origin":     mut(func(b *linkd.ProofBundle) { b.Event.Origin = rotterdam }),
		"altered-event":    mut(func(b *linkd.ProofBundle) { b.Event.EquipmentReference = "MSCU7654321" }),
		"truncated":        genuine[:len(genuine)/2],
		"empty-object":     []byte("{}"),
		"format-only":      []byte(`{"format":"` + linkd.BundleFormat + `"}`),
		"null":             []byte("null"),
	}
	return seeds
}

func corpusFile(data []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
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
		for name, data := range files {
			path := filepath.Join(dir, name)
			want := corpusFile(data)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test -run TestFuzzSeeds ./internal/tlog -update)", err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is out of date (run go test -run TestFuzzSeeds ./internal/tlog -update)", path)
			}
		}
	}
}

// TestFuzzSeedsVerdicts pins what the valid seeds are: they verify, and the
// rest do not, so the fuzzers start from both sides of the line.
func TestFuzzSeedsVerdicts(t *testing.T) {
	seeds := fuzzSeeds(t)
	_, vkey := fixedKey(t, haiphongLog, 1)
	v := mustVerifier(t, vkey)
	for name, msg := range seeds["FuzzOpenCheckpoint"] {
		_, err := tlog.OpenCheckpoint(msg, v)
		if valid := strings.HasPrefix(name, "valid"); valid != (err == nil) {
			t.Errorf("FuzzOpenCheckpoint seed %s: OpenCheckpoint = %v, want valid = %v", name, err, valid)
		}
	}
	l := newBundleLog(t)
	for name, data := range seeds["FuzzVerifyBundleJSON"] {
		var b linkd.ProofBundle
		err := json.Unmarshal(data, &b)
		if err == nil {
			_, err = tlog.VerifyBundle(&b, l.vkey)
		}
		if valid := strings.HasPrefix(name, "genuine"); valid != (err == nil) {
			t.Errorf("FuzzVerifyBundleJSON seed %s: VerifyBundle = %v, want valid = %v", name, err, valid)
		}
	}
}
