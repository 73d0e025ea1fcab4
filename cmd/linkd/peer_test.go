package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/testnet"
)

// runIn is run with stdin.
func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// cliNode is a node made by 'linkd init' and served in-process; flags are
// the remote flags that reach it with its admin token.
type cliNode struct {
	id    string
	flags []string
	fp    string // its certificate's SHA-256, as init printed it
}

func startCLINode(t *testing.T, id, juris string) cliNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	code, out, stderr := run(t, "init", "--dir", dir, "--party", id, "--jurisdiction", juris, "--role", "carrier", "--listen", testnet.FreeAddr(t))
	if code != 0 {
		t.Fatalf("init %s: exit %d\n%s%s", id, code, out, stderr)
	}
	token := regexp.MustCompile(`lkd_[A-Za-z0-9_-]+`).FindString(out)
	fp := regexp.MustCompile(`sha256 ([0-9a-f]{64})`).FindStringSubmatch(out)
	if token == "" || fp == nil {
		t.Fatalf("init printed no token or fingerprint:\n%s", out)
	}
	cfgPath := filepath.Join(dir, "linkd.yaml")
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %s: %v", id, err)
		}
		n.Close()
	})
	return cliNode{id: id, flags: []string{"--config", cfgPath, "--token", token}, fp: fp[1]}
}

func (n cliNode) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runIn(t, stdin, append(args, n.flags...)...)
}

// TestPeerExchange follows the help's flow: each node prints its card, the
// other adds it, and both list each other.
func TestPeerExchange(t *testing.T) {
	a := startCLINode(t, "oceanic-lines", "SG")
	b := startCLINode(t, "hamburg-dc", "DE,EU")
	dir := t.TempDir()

	code, cardA, stderr := a.run(t, "", "peer", "card")
	if code != 0 {
		t.Fatalf("peer card: exit %d\n%s", code, stderr)
	}
	var card peers.Peer
	if err := json.Unmarshal([]byte(cardA), &card); err != nil || card.Party.ID != a.id {
		t.Fatalf("peer card printed %q (%v), want a's card as JSON", cardA, err)
	}
	if !strings.Contains(stderr, "sha256 "+a.fp) {
		t.Errorf("peer card's standard error %q does not give the certificate fingerprint %s", stderr, a.fp)
	}
	fileA := filepath.Join(dir, "a.json")
	if err := os.WriteFile(fileA, []byte(cardA), 0o644); err != nil {
		t.Fatal(err)
	}

	// B adds A's card from a file, then again: replaced.
	code, out, stderr := b.run(t, "", "peer", "add", "--card", fileA)
	if code != 0 {
		t.Fatalf("peer add: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"added peer oceanic-lines", "sha256 " + a.fp, card.Endpoint, "Check this fingerprint"} {
		if !strings.Contains(out, want) {
			t.Errorf("peer add output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := b.run(t, "", "peer", "add", "--card", fileA); code != 0 || !strings.HasPrefix(out, "replaced the card of peer oceanic-lines") {
		t.Errorf("adding the same card again: exit %d\n%s", code, out)
	}

	// A adds B's card from standard input.
	_, cardB, _ := b.run(t, "", "peer", "card")
	if code, out, stderr := a.run(t, cardB, "peer", "add", "--card", "-"); code != 0 || !strings.Contains(out, "added peer hamburg-dc") {
		t.Fatalf("peer add --card -: exit %d\n%s%s", code, out, stderr)
	}

	// Each lists the other.
	code, out, _ = b.run(t, "", "peer", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("peer list: exit %d\n%s", code, out)
	}
	for _, want := range []string{"oceanic-lines", "carrier", "SG", card.Endpoint, a.fp[:16]} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("peer list row %q lacks %q", lines[1], want)
		}
	}
	code, out, _ = a.run(t, "", "peer", "list", "--json")
	var list []peers.Peer
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].Party.ID != b.id {
		t.Fatalf("peer list --json: exit %d, %v\n%s", code, err, out)
	}

	// Refusals: a node's own card, a card that is not one, no --card.
	code, _, stderr = a.run(t, "", "peer", "add", "--card", fileA)
	if code != exitFailed || !strings.Contains(stderr, "own party") {
		t.Errorf("adding a node's own card: exit %d\n%s", code, stderr)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(cardA, `"endpoint"`, `"url"`, 1)), 0o644)
	if code, _, stderr := b.run(t, "", "peer", "add", "--card", bad); code != exitUsage || !strings.Contains(stderr, `"url"`) {
		t.Errorf("a card with an unknown field: exit %d\n%s", code, stderr)
	}
	tampered := filepath.Join(dir, "tampered.json")
	var edited peers.Peer
	json.Unmarshal([]byte(cardA), &edited)
	edited.Endpoint = "http://" + strings.TrimPrefix(edited.Endpoint, "https://")
	edited.Party.ID = "oceanic"
	data, _ := json.Marshal(edited)
	os.WriteFile(tampered, data, 0o644)
	code, _, stderr = b.run(t, "", "peer", "add", "--card", tampered)
	if code != exitFailed || !strings.Contains(stderr, "problems") || !strings.Contains(stderr, "endpoint") || !strings.Contains(stderr, "certPEM") {
		t.Errorf("a tampered card: exit %d, want 1 listing each problem\n%s", code, stderr)
	}
	if code, _, stderr := b.run(t, "", "peer", "add"); code != exitUsage || !strings.Contains(stderr, "--card") {
		t.Errorf("add without --card: exit %d\n%s", code, stderr)
	}

	// Remove, then it is gone.
	if code, out, _ := b.run(t, "", "peer", "remove", a.id); code != 0 || out != "removed peer oceanic-lines\n" {
		t.Fatalf("peer remove: exit %d %q", code, out)
	}
	if code, _, stderr := b.run(t, "", "peer", "remove", a.id); code != exitFailed || !strings.Contains(stderr, "not_found") {
		t.Errorf("removing again: exit %d\n%s", code, stderr)
	}
	if _, out, _ := b.run(t, "", "peer", "list"); !strings.Contains(out, "no peers yet") {
		t.Errorf("peer list after removing the only peer:\n%s", out)
	}
}
