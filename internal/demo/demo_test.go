package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// epoch fixes the lane's calendar, so the tests see the same month.
var epoch = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// output is the narration, readable while the demo runs.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor polls the narration until it matches re, and returns the match.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the narration never matched %q within %v:\n%s", re, timeout, o.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func options(dir string, out io.Writer) Options {
	return Options{Dir: dir, Duration: 7 * 24 * time.Hour, Speed: 100, Dashboard: "off", Epoch: epoch,
		ReallocationWait: time.Second, Out: out}
}

// lane is the nine nodes reopened after a run, to look at what they hold.
type lane map[string]*node.Node

func reopen(t *testing.T, dir string) lane {
	t.Helper()
	l := lane{}
	for _, p := range scenario.Cast() {
		cfg, err := node.LoadConfig(filepath.Join(dir, p.ID, "linkd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.Open(cfg, nil)
		if err != nil {
			t.Fatalf("reopen %s: %v", p.ID, err)
		}
		t.Cleanup(func() { n.Close() })
		for _, peer := range n.Peers().List() {
			if _, err := n.Logs().Replica(peer.Party, peer.LogKey); err != nil {
				t.Fatal(err)
			}
		}
		l[p.ID] = n
	}
	return l
}

// check compares what every node holds with what it is entitled to: each
// peer's log at its origin's size and root, and the payload of exactly the
// entries link.Shares gives it. It returns the replica entries and the
// payloads among them. Logs in skip are left out.
func (l lane) check(t *testing.T, skip ...string) (entries, payloads int) {
	t.Helper()
	ctx := context.Background()
	for _, origin := range scenario.Cast() {
		own := l[origin.ID].Log()
		var events []linkd.Event
		if err := own.ReadRange(ctx, 0, own.Size(), func(re *partylog.RawEntry) error {
			e, err := linkd.DecodeCanonical(re.Canon)
			events = append(events, e)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		root, _ := own.TreeHash(own.Size())
		for _, holder := range scenario.Cast() {
			if holder.ID == origin.ID {
				continue
			}
			r, ok := l[holder.ID].Logs().Lookup(origin.ID)
			if !ok {
				t.Fatalf("%s holds no copy of %s's log", holder.ID, origin.ID)
			}
			entries += int(r.Size())
			var got int
			if err := r.ReadRange(ctx, 0, r.Size(), func(re *partylog.RawEntry) error {
				if re.Canon != nil {
					payloads++
					got++
				}
				if re.Index >= int64(len(events)) {
					return nil
				}
				if want := link.Shares(&events[re.Index], holder); want != (re.Canon != nil) {
					return fmt.Errorf("%s's copy of %s's entry %d (%s %s, residency %v): payload %v, entitled %v",
						holder.ID, origin.ID, re.Index, events[re.Index].EventType, events[re.Index].TypeCode(), events[re.Index].Residency, re.Canon != nil, want)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if contains(skip, origin.ID) {
				continue
			}
			if r.Size() != own.Size() {
				t.Errorf("%s holds %d of %s's %d entries", holder.ID, r.Size(), origin.ID, own.Size())
			} else if got, _ := r.TreeHash(r.Size()); got != root {
				t.Errorf("%s's copy of %s's log has another root", holder.ID, origin.ID)
			}
		}
	}
	return entries, payloads
}

func (l lane) ownEntries() int64 {
	var n int64
	for _, nd := range l {
		n += nd.Log().Size()
	}
	return n
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// storeHolds reports whether any file of a party's store holds needle.
func storeHolds(t *testing.T, dir, party, needle string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join(dir, party, "store"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestDemoRunsTheLane(t *testing.T) {
	dir := t.TempDir()
	out := &output{}
	o := options(dir, out)
	o.Dashboard = "127.0.0.1:0"
	if raceEnabled {
		// Hamburg's rule must re-allocate before the held orders' fulfilment
		// dates come round, for the driver to send them to their new centres.
		o.Speed = 20
	}
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Run(context.Background(), o)
		done <- result{sum, err}
	}()

	// The dashboard serves the lane while it runs: its page's config and,
	// through its proxy, each node's API.
	url := out.waitFor(t, regexp.MustCompile(`Dashboard: (http://\S+)/ `), 60*time.Second)[1]
	var cfg struct {
		Mode  string `json:"mode"`
		Nodes []struct {
			Base string `json:"base"`
		} `json:"nodes"`
	}
	getJSON(t, url+"/config.json", &cfg)
	if cfg.Mode != "lane" || len(cfg.Nodes) != 9 || cfg.Nodes[4].Base != "/nodes/eu-customs" {
		t.Errorf("dashboard config: %+v", cfg)
	}
	var cp struct {
		Origin string `json:"origin"`
	}
	getJSON(t, url+"/nodes/eu-customs/v1/log/checkpoint", &cp)
	if cp.Origin != linkd.LogOrigin("eu-customs") {
		t.Errorf("eu-customs's checkpoint through the dashboard: %+v", cp)
	}

	r := <-done
	sum, err := r.sum, r.err
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	for _, want := range []string{
		"Setting up nine nodes",
		"five sailings already on their way",
		"sails from Haiphong",
		"EU Customs holds OCLVNHAM",
		"The hold reached 8 of EU Customs' 8 partners",
		"its payload at dc-hamburg, dc-rotterdam, dc-antwerp and eu-retailer (EU); only its salted commitment at hanoi-electronics, haiphong-terminal, oceanic-lines and vn-forwarding (EU residency)",
		"EU Customs releases OCLVNHAM",
		"All nine nodes hold every log they link to at its origin's size and root",
		"VERIFIED: eu-customs recorded it",
		"NOT VERIFIED",
		"Summary:",
		"verification failures  0",
		"alerts raised          none",
		"lane converged         yes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the narration lacks %q", want)
		}
	}
	if sum.Continued || sum.Interrupted || !sum.Converged || sum.VerificationFailures != 0 || len(sum.Alerts) != 0 {
		t.Errorf("summary: %+v", sum)
	}
	if !sum.Hold.Held || !sum.Hold.Released || len(sum.Hold.ReachedBy) != 8 || len(sum.Hold.Payload) != 4 {
		t.Errorf("hold: %+v", sum.Hold)
	}
	if sum.Propagation.N == 0 || sum.Propagation.P99 <= 0 {
		t.Errorf("no propagation measured: %+v", sum.Propagation)
	}

	// No store holds the customs declaration's MRN in the clear: the EU
	// nodes keep the payload sealed under the shipment's key, the others
	// never get it (which nodes hold the payload is checked through their
	// logs below). The stores are scanned before they reopen: until then
	// what the run wrote is in Pebble's write-ahead logs, uncompressed.
	var mrn string
	if m := regexp.MustCompile(`"documentID":\s*"(\d\dDE[A-Z0-9]{14})"`).FindStringSubmatch(string(mustRead(t, sum.BundlePath))); m != nil {
		mrn = m[1]
	} else {
		t.Fatalf("the bundle of the hold names no MRN")
	}
	for _, p := range scenario.Cast() {
		if storeHolds(t, dir, p.ID, mrn) {
			t.Errorf("%s's store holds the MRN %s in the clear", p.ID, mrn)
		}
	}

	l := reopen(t, dir)
	// The summary's figures are what the nodes hold.
	if got := l.ownEntries(); got != int64(sum.Recorded) || got != sum.LogEntries {
		t.Errorf("the nine logs hold %d entries; the summary says %d recorded, %d in all", got, sum.Recorded, sum.LogEntries)
	}
	entries, payloads := l.check(t)
	if entries != sum.Replicated || payloads != sum.Payloads {
		t.Errorf("the nodes hold %d copied entries, %d with payload; the summary says %d and %d", entries, payloads, sum.Replicated, sum.Payloads)
	}

	// The hold reached every partner of customs: the payload at the EU
	// parties on the shipment, its commitment only elsewhere.
	ctx := context.Background()
	customs := l["eu-customs"].Log()
	var hold linkd.Recorded
	for i := int64(0); i < customs.Size(); i++ {
		rec, err := customs.Get(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.ShipmentEventTypeCode == "HOLD" {
			hold = rec
		}
	}
	if hold.Event.DocumentID != mrn {
		t.Errorf("the hold's MRN is %s, the bundle's %s", hold.Event.DocumentID, mrn)
	}
	if hold.Event.CarrierBookingReference != sum.Hold.Booking || hold.Event.Reason != "customs inspection" || hold.Event.DocumentTypeCode != "CUS" {
		t.Fatalf("customs' log holds no HOLD of %s: %+v", sum.Hold.Booking, hold.Event)
	}
	for _, p := range scenario.Cast() {
		if p.ID == "eu-customs" {
			continue
		}
		n := l[p.ID]
		r, _ := n.Logs().Lookup("eu-customs")
		if r.Size() <= hold.LogIndex {
			t.Errorf("%s never verified the hold", p.ID)
		}
		_, err := n.Logs().GetByID(ctx, hold.Event.EventID)
		if eu := p.Admits([]string{"EU"}); eu != (err == nil) {
			t.Errorf("%s (jurisdiction %v) holds the hold's payload: %v", p.ID, p.Jurisdiction, err == nil)
		}
	}

	// The proof bundle verifies offline with the public key on disk.
	var b linkd.ProofBundle
	raw := mustRead(t, sum.BundlePath)
	key, err := os.ReadFile(sum.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if v, err := tlog.VerifyBundle(&b, strings.TrimSpace(string(key))); err != nil || v.Party != "eu-customs" || b.Event.EventID != hold.Event.EventID {
		t.Errorf("bundle of the hold: %v, %+v", err, v)
	}

	// What the narration says about the re-allocation is what the centre's
	// log holds: RALC events, or none. A moved order is fulfilled by the
	// centre that took it, and not by Hamburg.
	ralc := 0
	for _, rec := range events(t, l["dc-hamburg"].Log()) {
		e := rec.Event
		if e.InventoryEventTypeCode != "RALC" || e.CarrierBookingReference != sum.Hold.Booking || e.Inventory.FromFacility != "dc-hamburg" {
			continue
		}
		ralc++
		if fulfils(t, l[e.Inventory.Facility].Log(), e.Inventory.OrderID) != 1 || fulfils(t, l["dc-hamburg"].Log(), e.Inventory.OrderID) != 0 {
			t.Errorf("order %s moved to %s: fulfilled there %d times, at dc-hamburg %d times", e.Inventory.OrderID, e.Inventory.Facility,
				fulfils(t, l[e.Inventory.Facility].Log(), e.Inventory.OrderID), fulfils(t, l["dc-hamburg"].Log(), e.Inventory.OrderID))
		}
	}
	switch {
	case ralc == 0 && !strings.Contains(text, "No re-allocation: dc-hamburg recorded no RALC"):
		t.Errorf("dc-hamburg recorded no RALC, and the narration does not say so")
	case ralc > 0 && (sum.Reallocated != ralc || !strings.Contains(text, "dc-hamburg re-allocates")):
		t.Errorf("dc-hamburg recorded %d RALC events; the summary says %d re-allocated", ralc, sum.Reallocated)
	}
	if t.Failed() {
		t.Logf("narration:\n%s", text)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// events returns every event of a party's own log.
func events(t *testing.T, l *partylog.Log) []linkd.Recorded {
	t.Helper()
	var out []linkd.Recorded
	for i := int64(0); i < l.Size(); i++ {
		rec, err := l.Get(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// fulfils counts the FULF events of an order in a log.
func fulfils(t *testing.T, l *partylog.Log, order string) int {
	n := 0
	for _, rec := range events(t, l) {
		if rec.Event.InventoryEventTypeCode == "FULF" && rec.Event.Inventory.OrderID == order {
			n++
		}
	}
	return n
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

func TestDemoContinuesAfterCtrlC(t *testing.T) {
	dir := t.TempDir()
	// Interrupted while it sets the nodes up: the next run still starts.
	early := &output{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		early.waitFor(t, regexp.MustCompile(`Setting up nine nodes`), 60*time.Second)
		cancel()
	}()
	if _, err := Run(ctx, options(dir, early)); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run interrupted while setting up: %v\n%s", err, early.String())
	}
	first, err := Run(context.Background(), func() Options { o := options(dir, io.Discard); o.Duration = 2 * 24 * time.Hour; return o }())
	if err != nil {
		t.Fatal(err)
	}

	// A second run, interrupted as soon as the lane's clock has moved on.
	out := &output{}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	o := options(dir, out)
	o.Speed = 10
	go func() {
		out.waitFor(t, regexp.MustCompile(`Times below are the lane's clock`), 60*time.Second)
		cancel()
	}()
	second, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("interrupted run: %v\n%s", err, out.String())
	}
	if !second.Continued || !second.Interrupted || !strings.Contains(out.String(), "Continuing the lane in") ||
		!strings.Contains(out.String(), "Every node is closed cleanly") {
		t.Fatalf("interrupted run: %+v\n%s", second, out.String())
	}
	if !second.From.Equal(first.To) {
		t.Errorf("the second run started at %v; the first ended at %v", second.From, first.To)
	}

	// A third run continues where the interrupted one stopped.
	out = &output{}
	third, err := Run(context.Background(), func() Options { o := options(dir, out); o.Duration = 2 * 24 * time.Hour; return o }())
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out.String())
	}
	if !third.Continued || third.From.Before(second.From) || third.From.After(second.To) || !third.Converged {
		t.Errorf("third run: from %v (the second stopped at %v), converged %v\n%s", third.From, second.To, third.Converged, out.String())
	}
	l := reopen(t, dir)
	l.check(t)
	// Every event was recorded once: what the runs counted is what the
	// logs hold (an event acknowledged in no run may add to the logs).
	if got, want := l.ownEntries(), int64(first.Recorded+second.Recorded+third.Recorded); got < want || got > want+maxIngest {
		t.Errorf("the logs hold %d entries; the three runs recorded %d", got, want)
	}
}

func TestDemoFaults(t *testing.T) {
	dir := t.TempDir()
	out := &output{}
	o := options(dir, out)
	// Each fault waits for the lane to recover from the one before: the
	// clock must leave room for three recoveries within the week.
	o.Speed = 50
	if raceEnabled {
		o.Speed = 10
	}
	o.Faults = []string{FaultKill, FaultPartition, FaultEvil}
	sum, err := Run(context.Background(), o)
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	for _, want := range []string{
		"Fault injected: dc-rotterdam's node stops",
		"dc-rotterdam's node restarts on the same port",
		"dc-rotterdam is back in step",
		"Fault injected: the lane splits in two",
		"The lane is whole again",
		"Fault injected: vn-forwarding's node turns evil",
		"found two checkpoints of vn-forwarding's log that cannot both be true",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the narration lacks %q", want)
		}
	}
	for _, f := range sum.Faults {
		if !f.Injected || !f.Recovered {
			t.Errorf("fault %s: %+v", f.Kind, f)
		}
	}
	if len(sum.Faults) != 3 || sum.Alerts[linkd.AlertEquivocation] == 0 || !sum.Converged {
		t.Errorf("summary: %+v", sum)
	}
	if t.Failed() {
		t.Logf("narration:\n%s", text)
	}
	l := reopen(t, dir)
	held := 0
	for id, n := range l {
		if ok, _ := n.Alerts().Held(linkd.LogOrigin("vn-forwarding")); ok {
			held++
			if id == "vn-forwarding" {
				t.Errorf("vn-forwarding holds its own log")
			}
		}
	}
	if held == 0 {
		t.Errorf("no node holds vn-forwarding's log after it equivocated")
	}
	l.check(t, "vn-forwarding")
	if _, err := os.Stat(filepath.Join(dir, twinDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clone's directory is left behind: %v", err)
	}
}

func TestDemoRefusesABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dir := t.TempDir()
	o := options(dir, io.Discard)
	o.Dashboard = ln.Addr().String()
	_, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "port "+port+" is already in use") || !strings.Contains(err.Error(), "--dashboard") {
		t.Fatalf("dashboard on a busy port: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the demo set up %d things before finding the port busy", len(entries))
	}
}

func TestDemoDataDirs(t *testing.T) {
	t.Run("fresh refuses a directory that is not a demo's", func(t *testing.T) {
		dir := t.TempDir()
		precious := filepath.Join(dir, "thesis.tex")
		os.WriteFile(precious, []byte("years of work"), 0o644)
		o := options(dir, io.Discard)
		o.Fresh = true
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "refusing to delete it") {
			t.Fatalf("--fresh on a foreign directory: %v", err)
		}
		if _, err := os.Stat(precious); err != nil {
			t.Fatalf("the file is gone: %v", err)
		}
	})
	t.Run("the single-log demo's data", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "haiphong-terminal", "store"), 0o700)
		os.WriteFile(filepath.Join(dir, "haiphong-terminal", "log.key"), []byte("key"), 0o600)
		if _, err := Run(context.Background(), options(dir, io.Discard)); err == nil || !strings.Contains(err.Error(), "--fresh") {
			t.Fatalf("an older demo's directory: %v", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []Options{{Speed: -1}, {Duration: time.Minute}, {Faults: []string{"meteor"}}, {Dashboard: "8080"}, {Dashboard: "0.0.0.0:8080"}} {
			o.Dir = t.TempDir()
			if _, err := Run(context.Background(), o); err == nil {
				t.Errorf("%+v: no error", o)
			}
		}
	})
}
