package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// forkHashes is a HashReader over the hashes a Frontier emitted.
type forkHashes map[int64]tlog.Hash

func (m forkHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

// forkHistory is one story a log tells: its stored hashes and its root at every size.
type forkHistory struct {
	hashes forkHashes
	roots  []tlog.Hash
}

func newForkHistory(t *testing.T, leaves ...string) *forkHistory {
	t.Helper()
	h := &forkHistory{hashes: forkHashes{}}
	f := tlog.NewFrontier()
	for _, l := range leaves {
		root, err := f.Root()
		if err != nil {
			t.Fatal(err)
		}
		h.roots = append(h.roots, root)
		if err := f.Append(tlog.LeafHash([]byte(l)), func(i int64, x tlog.Hash) { h.hashes[i] = x }); err != nil {
			t.Fatal(err)
		}
	}
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	h.roots = append(h.roots, root)
	return h
}

func (h *forkHistory) prove(m, n int64) (tlog.Hash, []tlog.Hash, error) {
	root, err := tlog.TreeHash(m, h.hashes)
	if err != nil {
		return tlog.Hash{}, nil, err
	}
	p, err := tlog.ConsistencyProof(m, n, h.hashes)
	return root, p, err
}

// equivocation writes, into dir, haiphong-terminal's log key and evidence
// files of its log telling two stories after 8 shared entries.
func equivocation(t *testing.T, dir string) (keyFile string, files map[string]string) {
	t.Helper()
	origin := linkd.LogOrigin("haiphong-terminal")
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var shared []string
	for i := range 8 {
		shared = append(shared, fmt.Sprintf("event %d", i))
	}
	a := newForkHistory(t, append(shared, "a 8", "a 9")...)
	b := newForkHistory(t, append(shared, "b 8", "b 9", "b 10", "b 11")...)
	cp := func(h *forkHistory, size int64) []byte {
		msg, err := tlog.SignCheckpoint(linkd.Checkpoint{Origin: origin, Size: size, Hash: h.roots[size]}, s)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	files = map[string]string{}
	write := func(name string, ev *linkd.Evidence) {
		data, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		files[name] = filepath.Join(dir, name+".json")
		if err := os.WriteFile(files[name], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(x, y []byte, prove func(m, n int64) (tlog.Hash, []tlog.Hash, error)) *linkd.Evidence {
		ev, err := witness.Check(v, x, y, prove)
		if err != nil || ev == nil {
			t.Fatalf("Check = %v, %v; want evidence", ev, err)
		}
		ev.Observed, ev.ObservedBy, ev.From = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "rotterdam-dc", "antwerp-dc"
		return ev
	}
	fork := check(cp(a, 10), cp(b, 12), b.prove)
	write("fork", fork)
	write("same-size", check(cp(a, 9), cp(b, 9), nil))
	honest := *fork
	honest.A = cp(b, 10)
	write("honest", &honest)
	tampered := *fork
	tampered.Proof = append([]string{a.roots[3].String()}, fork.Proof[1:]...)
	write("tampered", &tampered)

	keyFile = filepath.Join(dir, "haiphong-terminal.pub")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFile, files
}

func TestVerifyEvidence(t *testing.T) {
	dir := t.TempDir()
	keyFile, files := equivocation(t, dir)
	otherKey := filepath.Join(dir, "rotterdam-dc.pub")
	_, vkey, err := tlog.GenerateKey(linkd.LogOrigin("rotterdam-dc"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(otherKey, []byte(vkey), 0o644)
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte(`{"a": "YQ==", "b": "Yg==", "surprise": 1}`), 0o644)

	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		inStderr string
	}{
		{"fork", []string{"--log-key", keyFile, files["fork"]}, 0, []string{
			"PROVEN: linkd.dev/log/haiphong-terminal signed two checkpoints that cannot both be true: size 10 root ",
			" and size 12 root ",
			"the size-12 checkpoint extends a tree whose root at size 10 is ",
			"observed by rotterdam-dc, received from antwerp-dc, at 2026-03-01T12:00:00Z (not part of the proof)",
		}, ""},
		{"fork, --key @FILE", []string{"--key", "@" + keyFile, files["fork"]}, 0, []string{"PROVEN: linkd.dev/log/haiphong-terminal"}, ""},
		{"same size", []string{"--log-key", keyFile, files["same-size"]}, 0, []string{
			"PROVEN: linkd.dev/log/haiphong-terminal signed two checkpoints that cannot both be true: size 9 root ",
			"both give size 9, with different roots",
		}, ""},
		{"honest log", []string{"--log-key", keyFile, files["honest"]}, 1, []string{"NOT PROVEN: ", "they agree"}, ""},
		{"tampered proof", []string{"--log-key", keyFile, files["tampered"]}, 1, []string{"NOT PROVEN: the proof does not show"}, ""},
		{"another log's key", []string{"--log-key", otherKey, files["fork"]}, 1, []string{"NOT PROVEN: checkpoint a: the checkpoint carries no signature by key linkd.dev/log/rotterdam-dc"}, ""},
		{"not evidence", []string{"--log-key", keyFile, garbage}, 2, nil, "not a linkd evidence bundle"},
		{"proof bundle route", []string{"--log-key", keyFile, keyFile}, 2, nil, "not a linkd proof bundle"},
		{"missing key file", []string{"--log-key", filepath.Join(dir, "nope.pub"), files["fork"]}, 2, nil, "read key"},
		{"two keys", []string{"--log-key", keyFile, "--key", "@" + keyFile, files["fork"]}, 2, nil, "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, append([]string{"verify"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tc.code == 1 && !strings.HasPrefix(out, "NOT PROVEN: ") {
				t.Errorf("stdout does not start with the verdict:\n%s", out)
			}
			if !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inStderr, stderr)
			}
		})
	}

	code, out, _ := cli(t, nil, "verify", "--json", "--log-key", keyFile, files["fork"])
	var res struct {
		Proven bool
		Origin string
		A, B   struct{ Size int64 }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Proven || res.Origin != "linkd.dev/log/haiphong-terminal" || res.A.Size != 10 || res.B.Size != 12 {
		t.Fatalf("verify --json fork: exit %d, output %s", code, out)
	}
	code, out, _ = cli(t, nil, "verify", "--json", "--log-key", keyFile, files["tampered"])
	var bad struct {
		Proven bool
		Kind   string
	}
	if code != 1 || json.Unmarshal([]byte(out), &bad) != nil || bad.Proven || bad.Kind != "proof does not verify" {
		t.Fatalf("verify --json tampered: exit %d, output %s", code, out)
	}
}
