package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/raftlog/localcluster"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/testnet"
)

// binary is the linkd binary, built once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := localcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// cli runs the built binary with env added and returns exit code and output.
func cli(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// proc is a running `linkd node`.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncWriter
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done is closed
}

func startNode(t *testing.T, cfg string, c *client.Client) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), "node", "--config", cfg), stderr: &syncWriter{w: &bytes.Buffer{}}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ready(ctx)
		cancel()
		if err == nil {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("node exited before it was ready: %v\n%s", p.err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready after 20s: %v\n%s", err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestNodeEndToEnd drives the real binary as an operator would: init, run
// the node, record and query events with the CLI, kill -9, restart, and get
// the same answers; then drain on SIGTERM.
func TestNodeEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	addr := testnet.FreeAddr(t)
	code, out, stderr := cli(t, nil, "init", "--dir", dir, "--party", scenario.Terminal.ID, "--name", "Haiphong Terminal",
		"--role", "terminal", "--jurisdiction", "VN,ASEAN", "--listen", addr)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, stderr)
	}
	token := regexp.MustCompile(`lkd_[A-Za-z0-9_-]+`).FindString(out)
	if token == "" {
		t.Fatalf("init printed no admin token:\n%s", out)
	}
	cfg := filepath.Join(dir, "linkd.yaml")
	env := []string{"LINKD_CONFIG=" + cfg, "LINKD_TOKEN=" + token}

	// A second init of the same directory must refuse, leaving the node intact.
	if code, _, stderr := cli(t, nil, "init", "--dir", dir, "--party", "other", "--jurisdiction", "VN"); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("second init: exit %d, %s; want a refusal naming the non-empty directory", code, stderr)
	}

	c, err := client.New("https://"+addr, client.Options{Token: token, CAFile: filepath.Join(dir, "tls", "node.crt")})
	if err != nil {
		t.Fatal(err)
	}
	node := startNode(t, cfg, c)

	events := scenario.NewGenerator(11, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)).WithShipments(4).Batch(120)
	file := filepath.Join(t.TempDir(), "events.json")
	data, _ := json.Marshal(events)
	os.WriteFile(file, data, 0o644)
	code, out, stderr = cli(t, env, "event", "add", file, "--json")
	if code != 0 {
		t.Fatalf("event add: exit %d\n%s%s", code, out, stderr)
	}
	var res linkd.AppendResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Acks) != len(events) || res.Size != int64(len(events)) {
		t.Fatalf("event add: %d acks, size %d (%v); want %d", len(res.Acks), res.Size, err, len(events))
	}
	// The same file again: every event a duplicate with its first index.
	code, out, _ = cli(t, env, "event", "add", file)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("recorded 0 new events (%d already recorded)", len(events))) {
		t.Fatalf("re-adding the same events: exit %d\n%s", code, out)
	}

	booking := events[0].CarrierBookingReference
	answers := func() (list, ship, cp string) {
		t.Helper()
		var s1, s2, s3 string
		code, list, s1 = cli(t, env, "event", "list", "--booking", booking, "--all", "--json")
		if code != 0 {
			t.Fatalf("event list: exit %d: %s", code, s1)
		}
		code, ship, s2 = cli(t, env, "shipment", "show", booking, "--json")
		if code != 0 {
			t.Fatalf("shipment show: exit %d: %s", code, s2)
		}
		code, cp, s3 = cli(t, env, "log", "checkpoint", "--json")
		if code != 0 {
			t.Fatalf("log checkpoint: exit %d: %s", code, s3)
		}
		return list, ship, cp
	}
	list1, ship1, cp1 := answers()
	var page linkd.EventPage
	json.Unmarshal([]byte(list1), &page)
	want := 0
	for _, e := range events {
		if e.CarrierBookingReference == booking {
			want++
		}
	}
	if len(page.Events) != want || want == 0 {
		t.Fatalf("event list --booking %s: %d events, want %d", booking, len(page.Events), want)
	}
	var view linkd.ShipmentView
	if err := json.Unmarshal([]byte(ship1), &view); err != nil || len(view.Timeline) != want || view.State.Status == "" {
		t.Fatalf("shipment show: %d timeline entries, status %q (%v); want %d entries and a status", len(view.Timeline), view.State.Status, err, want)
	}

	// A proof bundle from the node verifies offline against the log's key.
	code, out, _ = cli(t, env, "event", "proof", page.Events[0].Event.EventID)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	os.WriteFile(bundle, []byte(out), 0o644)
	if code, vout, verr := cli(t, nil, "verify", "--key", "@"+filepath.Join(dir, "keys", "log.key.pub"), bundle); code != 0 {
		t.Fatalf("verify the node's bundle: exit %d\n%s%s", code, vout, verr)
	}

	// The node audits its log on request: intact, every event and the one
	// checkpoint its append signed (adding them again signed none).
	if code, aout, aerr := cli(t, env, "log", "audit"); code != 0 || !strings.Contains(aout, "intact: "+scenario.Terminal.ID+"'s log, 120 events, 1 signed checkpoint verified") {
		t.Fatalf("log audit: exit %d\n%s%s", code, aout, aerr)
	}
	if code, _, aerr := cli(t, env, "log", "audit", "--party", "nobody"); code == 0 || !strings.Contains(aerr, `holds no log of party "nobody"`) {
		t.Fatalf("log audit of a party the node holds no log of: exit %d\n%s", code, aerr)
	}

	// A reader token may read but not write.
	code, out, _ = cli(t, env, "token", "create", "--name", "dashboard", "--role", "reader", "--json")
	var nt linkd.NewToken
	if json.Unmarshal([]byte(out), &nt); code != 0 || nt.Token == "" {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	readerEnv := []string{"LINKD_CONFIG=" + cfg, "LINKD_TOKEN=" + nt.Token}
	if code, _, stderr := cli(t, readerEnv, "event", "add", file); code != 1 || !strings.Contains(stderr, "forbidden") {
		t.Fatalf("reader adding events: exit %d, %q; want exit 1 and forbidden", code, stderr)
	}
	if code, _, _ := cli(t, readerEnv, "event", "list", "--limit", "1"); code != 0 {
		t.Fatalf("reader listing events: exit %d", code)
	}

	// kill -9, restart: the same answers.
	node.cmd.Process.Signal(syscall.SIGKILL)
	<-node.done
	node = startNode(t, cfg, c)
	list2, ship2, cp2 := answers()
	if list1 != list2 || ship1 != ship2 || cp1 != cp2 {
		t.Fatalf("answers differ after kill -9 and restart:\nlist equal %v, shipment equal %v, checkpoint equal %v\n%s\n%s", list1 == list2, ship1 == ship2, cp1 == cp2, cp1, cp2)
	}

	// Revoking the reader token takes effect at once.
	if code, _, _ := cli(t, env, "token", "revoke", nt.Info.ID); code != 0 {
		t.Fatal("token revoke failed")
	}
	if code, _, stderr := cli(t, readerEnv, "event", "list"); code != 1 || !strings.Contains(stderr, "revoked") {
		t.Fatalf("revoked token: exit %d, %q; want exit 1 naming the revocation", code, stderr)
	}

	// SIGTERM drains and exits 0.
	node.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-node.done:
		if node.err != nil {
			t.Fatalf("node exit after SIGTERM: %v\n%s", node.err, node.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node still running 30s after SIGTERM\n%s", node.stderr)
	}
	if !strings.Contains(node.stderr.String(), "node closed") {
		t.Fatalf("node log lacks a clean close:\n%s", node.stderr)
	}
}
