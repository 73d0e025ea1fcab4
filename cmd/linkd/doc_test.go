package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/peers"
)

func (n cliNode) doc(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, append(append([]string{"doc"}, args...), n.flags...)...)
}

// linkCLI links two CLI nodes by their cards and returns a's.
func linkCLI(t *testing.T, a, b cliNode) peers.Peer {
	t.Helper()
	dir := t.TempDir()
	var cardA peers.Peer
	for _, p := range [][2]cliNode{{a, b}, {b, a}} {
		_, card, _ := p[0].run(t, "", "peer", "card")
		file := filepath.Join(dir, p[0].id+".json")
		os.WriteFile(file, []byte(card), 0o644)
		if code, out, stderr := p[1].run(t, "", "peer", "add", "--card", file); code != 0 {
			t.Fatalf("%s adds %s: exit %d\n%s%s", p[1].id, p[0].id, code, out, stderr)
		}
		if p[0].id == a.id {
			json.Unmarshal([]byte(card), &cardA)
		}
	}
	return cardA
}

func cardOf(t *testing.T, n cliNode) peers.Peer {
	t.Helper()
	_, out, _ := n.run(t, "", "peer", "card")
	var c peers.Peer
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%s's card: %v", n.id, err)
	}
	return c
}

// bookCLI records a booking of ref opened by n, naming parties as
// "id:role".
func bookCLI(t *testing.T, n cliNode, ref string, parties ...string) {
	t.Helper()
	var ps []string
	for _, p := range parties {
		id, role, _ := strings.Cut(p, ":")
		ps = append(ps, fmt.Sprintf(`{"party":%q,"role":%q}`, id, role))
	}
	ev := fmt.Sprintf(`{"eventType":"SHIPMENT","eventClassifierCode":"ACT","shipmentEventTypeCode":"RECE","documentTypeCode":"BKG",
		"carrierBookingReference":%q,"eventDateTime":"2026-11-02T08:00:00Z","parties":[%s]}`, ref, strings.Join(ps, ","))
	if code, out, stderr := n.run(t, ev, "event", "add", "-"); code != 0 {
		t.Fatalf("%s records booking %s: exit %d\n%s%s", n.id, ref, code, out, stderr)
	}
}

func writeDoc(t *testing.T, dir, name string, size int) (string, []byte, string) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, b, hex.EncodeToString(sum[:])
}

// awaitDoc polls 'doc show' until the document is available on n.
func awaitDoc(t *testing.T, n cliNode, sha string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, _ := n.doc(t, "show", sha, "--json")
		var info docs.Info
		if code == 0 && json.Unmarshal([]byte(out), &info) == nil && info.Document != nil && info.Document.State == docs.Available {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had document %s: %s", n.id, sha, out)
		}
		time.Sleep(5 * time.Millisecond) // polling for a state, not timing anything
	}
}

// TestVerifyDocumentFile follows a bill of lading from issue to 'linkd
// verify FILE': a genuine copy, offline with a bundle and online by asking
// a node, names who issued it and who accepted it, each verified; a forged
// copy matches nothing; a document issued by a party the verifier does not
// know is an unknown party; a tampered bundle does not verify.
func TestVerifyDocumentFile(t *testing.T) {
	carrier := startCLINode(t, "oceanic-lines", "SG")
	consignee := startCLINode(t, "hamburg-dc", "DE,EU")
	mallory := startCLINode(t, "mallory-shipping", "SG")
	linkCLI(t, carrier, consignee)
	bookCLI(t, carrier, "BKG-VERIFY", "oceanic-lines:carrier", "hamburg-dc:consignee")
	bookCLI(t, mallory, "BKG-FAKE", "mallory-shipping:carrier")
	dir := t.TempDir()

	bl, body, sha := writeDoc(t, dir, "bl.pdf", 150<<10)
	if code, out, stderr := carrier.doc(t, "upload", bl, "--type", "TRD", "--booking", "BKG-VERIFY"); code != 0 ||
		!strings.Contains(out, "issued "+bl+": sha256 "+sha) || !strings.Contains(out, "shared with: hamburg-dc, oceanic-lines") {
		t.Fatalf("doc upload: exit %d\n%s%s", code, out, stderr)
	}
	awaitDoc(t, consignee, sha)
	if code, out, stderr := consignee.doc(t, "attest", bl, "--verdict", "accepted"); code != 0 || !strings.HasPrefix(out, "ACCEPTED "+sha) {
		t.Fatalf("doc attest: exit %d\n%s%s", code, out, stderr)
	}
	bundle := filepath.Join(dir, "bl.bundle.json")
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The carrier's node holds the acceptance once it has arrived.
		code, out, _ := carrier.doc(t, "show", sha)
		if code == 0 && strings.Contains(out, "ACCEPTED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the carrier never saw the acceptance:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _, stderr := carrier.doc(t, "bundle", sha, "-o", bundle); code != 0 {
		t.Fatalf("doc bundle: exit %d\n%s", code, stderr)
	}
	keys := filepath.Join(dir, "lane.keys")
	os.WriteFile(keys, []byte("# the lane's log keys\n"+cardOf(t, carrier).LogKey+"\n"+cardOf(t, consignee).LogKey+"\n"), 0o644)

	forged := filepath.Join(dir, "forged.pdf")
	altered := bytes.Clone(body)
	altered[len(altered)/2] ^= 1
	os.WriteFile(forged, altered, 0o644)

	fake, _, fakeSHA := writeDoc(t, dir, "fake.pdf", 10<<10)
	if code, _, stderr := mallory.doc(t, "upload", fake, "--type", "TRD", "--booking", "BKG-FAKE"); code != 0 {
		t.Fatalf("mallory's upload: exit %d\n%s", code, stderr)
	}
	fakeBundle := filepath.Join(dir, "fake.bundle.json")
	if code, _, stderr := mallory.doc(t, "bundle", fakeSHA, "-o", fakeBundle); code != 0 {
		t.Fatalf("mallory's bundle: exit %d\n%s", code, stderr)
	}
	var tb docs.Bundle
	raw, _ := os.ReadFile(bundle)
	json.Unmarshal(raw, &tb)
	tb.Attestations[len(tb.Attestations)-1].Event.Reason = "accepted with reservations"
	tampered := filepath.Join(dir, "tampered.bundle.json")
	raw, _ = json.Marshal(tb)
	os.WriteFile(tampered, raw, 0o644)

	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"genuine, offline", []string{"verify", "--document-bundle", bundle, "--log-keys", keys, bl}, 0, []string{
			"GENUINE: " + bl + " is the transport document (TRD) of b:BKG-VERIFY issued by oceanic-lines", "sha256 " + sha,
			"ISSUED    by oceanic-lines", "ACCEPTED  by hamburg-dc", "verified"}},
		{"genuine, asking the consignee's node", append([]string{"verify", bl}, consignee.flags...), 0, []string{
			"GENUINE: ", "issued by oceanic-lines", "ACCEPTED  by hamburg-dc"}},
		{"forged, offline", []string{"verify", "--document-bundle", bundle, "--log-keys", keys, forged}, 1, []string{
			"MATCHES NOTHING: " + forged, "no attestation in " + bundle + " names it"}},
		{"forged, asking a node", append([]string{"verify", forged}, consignee.flags...), 1, []string{
			"MATCHES NOTHING: ", "among the events the node holds"}},
		{"issued by an unknown party", []string{"verify", "--document-bundle", fakeBundle, "--log-keys", keys, fake}, 1, []string{
			"UNKNOWN PARTY: " + fake, "mallory-shipping", "unknown party: no trusted log key for mallory-shipping"}},
		{"tampered bundle", []string{"verify", "--document-bundle", tampered, "--log-keys", keys, bl}, 1, []string{
			"NOT VERIFIED: ", "by hamburg-dc does not verify"}},
		{"no keys offline", []string{"verify", "--document-bundle", bundle, bl}, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, out, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	// The same, as JSON for scripts.
	code, out, _ := run(t, "verify", "--json", "--document-bundle", bundle, "--log-keys", keys, bl)
	var rep docs.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Outcome != docs.Genuine || len(rep.Attestations) != 2 {
		t.Errorf("verify --json: exit %d, %+v, %v", code, rep, err)
	}
}

// TestDocCLIDownloadResumes: a download whose partial file is there picks
// up from its end, and one whose partial file is wrong is caught by the
// hash and removed.
func TestDocCLIDownloadResumes(t *testing.T) {
	n := startCLINode(t, "oceanic-lines", "SG")
	bookCLI(t, n, "BKG-DL", "oceanic-lines:carrier")
	dir := t.TempDir()
	path, body, sha := writeDoc(t, dir, "pkl.pdf", 300<<10)
	if code, out, stderr := n.doc(t, "upload", path, "--type", "PKL", "--booking", "BKG-DL", "--json"); code != 0 {
		t.Fatalf("upload: exit %d\n%s%s", code, out, stderr)
	}
	out := filepath.Join(dir, "copy.pdf")
	os.WriteFile(out+".part", body[:100_000], 0o644)
	if code, stdout, stderr := n.doc(t, "download", sha, "-o", out); code != 0 {
		t.Fatalf("download: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, body) {
		t.Errorf("the resumed download has %d bytes that differ from the document's %d", len(got), len(body))
	}

	bad := filepath.Join(dir, "bad.pdf")
	os.WriteFile(bad+".part", bytes.Repeat([]byte("x"), 100_000), 0o644)
	code, _, stderr := n.doc(t, "download", sha, "-o", bad)
	if code != 1 || !strings.Contains(stderr, "hash to") {
		t.Errorf("download onto a wrong partial file: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a download that did not hash right left %s", bad)
	}
	if _, err := os.Stat(bad + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a download that did not hash right left its partial file")
	}

	// Refusals come back with the node's reason.
	code, _, stderr = n.doc(t, "upload", path, "--type", "XYZ", "--booking", "BKG-DL")
	if code != 1 || !strings.Contains(stderr, `unknown document type "XYZ"`) {
		t.Errorf("upload of an unknown type: exit %d\n%s", code, stderr)
	}
}

// TestDocBenchCommand runs a small 'linkd bench docs' and checks it reports
// every figure (not how fast they are).
func TestDocBenchCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := newBenchDocsCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--sizes", "1MiB,2MiB", "--count", "2", "--attest", "3", "--dir", t.TempDir()})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("bench docs: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"1MiB", "2MiB", "upload MB/s", "replication MB/s", "three parties attest a newly shared 64 KiB document: 3 documents, 10 per shipment, p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench docs output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestVerifyDocumentModeFromEnvironment: with LINKD_NODE set and no key,
// a document is verified against that node, but a proof bundle still asks
// for its key rather than being taken for a document.
func TestVerifyDocumentModeFromEnvironment(t *testing.T) {
	t.Setenv("LINKD_NODE", "https://127.0.0.1:1")
	t.Setenv("LINKD_TOKEN", "")
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	os.WriteFile(bundle, []byte(`{"format": "linkd-proof-bundle/v1"}`), 0o644)
	if code, _, stderr := run(t, "verify", bundle); code != 2 || !strings.Contains(stderr, `"key" not set`) {
		t.Errorf("verify of a proof bundle without a key: exit %d\n%s", code, stderr)
	}
	doc, _, _ := writeDoc(t, dir, "doc.pdf", 100)
	if code, _, stderr := run(t, "verify", doc); code != 2 || !strings.Contains(stderr, "no access token") {
		t.Errorf("verify of a document with LINKD_NODE set: exit %d\n%s; want it to try the node (and say it has no token)", code, stderr)
	}
}
