package alerts_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/alerts"
	"github.com/linkd-dev/linkd/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// node is a real Pebble store in a directory, reopened as a node restart would.
type node struct {
	t     *testing.T
	dir   string
	opts  store.Options
	db    *pebble.DB
	s     *alerts.Store
	clock *clock
}

func newNode(t *testing.T) *node {
	return newNodeOn(t, store.Options{})
}

func newNodeOn(t *testing.T, opts store.Options) *node {
	t.Helper()
	n := &node{t: t, dir: filepath.Join(t.TempDir(), "db"), opts: opts, clock: &clock{t: t0}}
	n.open()
	t.Cleanup(func() {
		if n.db != nil {
			n.db.Close()
		}
	})
	return n
}

func (n *node) open() {
	n.t.Helper()
	db, err := store.Open(n.dir, n.opts)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := alerts.Open(db, nil)
	if err != nil {
		db.Close()
		n.t.Fatalf("alerts.Open: %v", err)
	}
	alerts.SetClock(s, n.clock.now)
	n.db, n.s = db, s
}

func (n *node) restart() {
	n.t.Helper()
	if err := n.db.Close(); err != nil {
		n.t.Fatal(err)
	}
	n.db = nil
	n.open()
}

func (n *node) raise(a linkd.Alert) linkd.Alert {
	n.t.Helper()
	got, err := n.s.Raise(a)
	if err != nil {
		n.t.Fatalf("Raise(%+v): %v", a, err)
	}
	return got
}

func unreachable(peer string) linkd.Alert {
	return linkd.Alert{Kind: linkd.AlertPeerUnreachable, Severity: linkd.SeverityWarning, Peer: peer, Message: "no answer from " + peer}
}

func ids(as []linkd.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRaiseListAckSurviveRestart(t *testing.T) {
	n := newNode(t)
	ev := &linkd.Evidence{Origin: linkd.LogOrigin("antwerp-dc"), A: []byte("checkpoint a\n"), B: []byte("checkpoint b\n"), SmallerRoot: "x", Proof: []string{"p"}}
	eq := n.raise(linkd.Alert{Kind: linkd.AlertEquivocation, Severity: linkd.SeverityCritical, Peer: "antwerp-dc", Log: ev.Origin, Message: "two checkpoints that cannot both be true", Evidence: ev})
	n.clock.advance(time.Second)
	down := n.raise(unreachable("hamburg-dc"))
	n.clock.advance(time.Second)
	bad := n.raise(linkd.Alert{Kind: linkd.AlertVerificationFailed, Severity: linkd.SeverityWarning, Peer: "rotterdam-dc", Message: "inclusion proof of entry 7 does not verify"})

	if eq.ID == "" || eq.Count != 1 || !eq.Raised.Equal(t0) || !eq.LastSeen.Equal(t0) || !eq.Open() {
		t.Fatalf("raised alert = %+v; want an id, count 1, raised and last seen now, open", eq)
	}
	if got := ids(n.s.List(false)); !slices.Equal(got, []string{bad.ID, down.ID, eq.ID}) {
		t.Fatalf("List = %v, want newest first %v", got, []string{bad.ID, down.ID, eq.ID})
	}

	n.clock.advance(time.Minute)
	if err := n.s.Ack(down.ID, "ops@hamburg"); err != nil {
		t.Fatal(err)
	}
	acked, err := n.s.Get(down.ID)
	if err != nil || acked.Open() || !acked.Acknowledged.Equal(t0.Add(2*time.Second+time.Minute)) || acked.AckBy != "ops@hamburg" {
		t.Fatalf("Get(acked) = %+v, %v; want acknowledged now by ops@hamburg", acked, err)
	}
	if got := ids(n.s.List(false)); !slices.Equal(got, []string{bad.ID, eq.ID}) {
		t.Fatalf("List(open) = %v, want %v", got, []string{bad.ID, eq.ID})
	}
	// Acknowledging again keeps the first acknowledgement.
	n.clock.advance(time.Minute)
	if err := n.s.Ack(down.ID, "someone-else"); err != nil {
		t.Fatal(err)
	}
	if again, _ := n.s.Get(down.ID); again.AckBy != "ops@hamburg" {
		t.Fatalf("a second Ack replaced the first: %+v", again)
	}

	before := asJSON(t, n.s.List(true))
	n.restart()
	if after := asJSON(t, n.s.List(true)); after != before {
		t.Fatalf("after a restart the alerts are\n%s\nwant\n%s", after, before)
	}
	got, err := n.s.Get(eq.ID)
	if err != nil || got.Evidence == nil || string(got.Evidence.B) != "checkpoint b\n" || got.Evidence.Proof[0] != "p" {
		t.Fatalf("the equivocation's evidence after a restart = %+v, %v", got.Evidence, err)
	}
	if counts := n.s.OpenByKind(); counts[linkd.AlertEquivocation] != 1 || counts[linkd.AlertVerificationFailed] != 1 || counts[linkd.AlertPeerUnreachable] != 0 {
		t.Fatalf("OpenByKind after a restart = %v", counts)
	}
}

func TestRaiseDedupesOpenAlerts(t *testing.T) {
	n := newNode(t)
	var hooked []linkd.Alert
	n.s.OnRaise = func(a linkd.Alert) { hooked = append(hooked, a) }

	first := n.raise(unreachable("hamburg-dc"))
	n.clock.advance(30 * time.Second)
	second := n.raise(unreachable("hamburg-dc"))
	n.clock.advance(30 * time.Second)
	third := n.raise(unreachable("hamburg-dc"))
	if third.ID != first.ID || second.ID != first.ID || third.Count != 3 || !third.Raised.Equal(t0) || !third.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("third raise = %+v; want alert %s with count 3, raised %v, last seen a minute later", third, first.ID, t0)
	}
	if list := n.s.List(true); len(list) != 1 || list[0].Count != 3 {
		t.Fatalf("List = %+v; want one alert counted 3 times", list)
	}
	if len(hooked) != 1 || hooked[0].ID != first.ID {
		t.Fatalf("OnRaise saw %d alerts; want the first raise only", len(hooked))
	}

	// Another peer, or another message, is another alert.
	other := n.raise(unreachable("antwerp-dc"))
	if other.ID == first.ID || other.Count != 1 {
		t.Fatalf("alert for another peer = %+v; want a new alert", other)
	}
	// The count survives a restart, and the repeat after it still dedupes.
	n.restart()
	n.s.OnRaise = func(a linkd.Alert) { hooked = append(hooked, a) }
	if again := n.raise(unreachable("hamburg-dc")); again.ID != first.ID || again.Count != 4 {
		t.Fatalf("raise after restart = %+v; want alert %s counted 4 times", again, first.ID)
	}

	// Once acknowledged, the next occurrence is news again.
	if err := n.s.Ack(first.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	fresh := n.raise(unreachable("hamburg-dc"))
	if fresh.ID == first.ID || fresh.Count != 1 || !fresh.Open() {
		t.Fatalf("raise after ack = %+v; want a new open alert", fresh)
	}
	if len(hooked) != 3 || hooked[2].ID != fresh.ID {
		t.Fatalf("OnRaise saw %v; want first, antwerp-dc's and the fresh one", ids(hooked))
	}
	if counts := n.s.OpenByKind(); counts[linkd.AlertPeerUnreachable] != 2 {
		t.Fatalf("OpenByKind = %v; want 2 open peer_unreachable", counts)
	}
}

func TestIDsAreTimeOrdered(t *testing.T) {
	n := newNode(t)
	var got []string
	for i := range 5 {
		if i == 3 {
			n.clock.advance(-time.Hour) // the clock steps back
		}
		got = append(got, n.raise(linkd.Alert{Kind: "test", Severity: linkd.SeverityWarning, Message: fmt.Sprint("alert ", i)}).ID)
	}
	n.restart()
	n.clock.advance(-time.Hour)
	got = append(got, n.raise(linkd.Alert{Kind: "test", Severity: linkd.SeverityWarning, Message: "after restart"}).ID)
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("ids %v are not strictly increasing", got)
	}
	for _, id := range got {
		if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q is not 24 hex digits", id)
		}
	}
	if list := n.s.List(true); list[0].Message != "after restart" {
		t.Fatalf("newest alert is %q", list[0].Message)
	}
}

func TestKeepsAtMostMaxDroppingAcknowledgedFirst(t *testing.T) {
	n := newNode(t)
	alerts.SetMax(n.s, 5)
	var raised []linkd.Alert
	raise := func(sev, msg string) {
		n.clock.advance(time.Second)
		raised = append(raised, n.raise(linkd.Alert{Kind: "test", Severity: sev, Message: msg}))
	}
	for i := range 5 {
		sev := linkd.SeverityWarning
		if i%2 == 0 {
			sev = linkd.SeverityCritical
		}
		raise(sev, fmt.Sprint("m", i)) // m0 crit, m1 warn, m2 crit, m3 warn, m4 crit
	}
	for _, i := range []int{2, 3} {
		if err := n.s.Ack(raised[i].ID, "ops"); err != nil {
			t.Fatal(err)
		}
	}
	messages := func() []string {
		var out []string
		for _, a := range n.s.List(true) {
			out = append(out, a.Message)
		}
		return out
	}
	raise(linkd.SeverityWarning, "m5") // drops m2, the oldest acknowledged
	raise(linkd.SeverityWarning, "m6") // drops m3
	raise(linkd.SeverityWarning, "m7") // none acknowledged: drops m1, the oldest warning
	if got, want := messages(), []string{"m7", "m6", "m5", "m4", "m0"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	raise(linkd.SeverityCritical, "m8") // drops m5, m6, m7 in turn before any critical
	raise(linkd.SeverityCritical, "m9")
	raise(linkd.SeverityCritical, "m10")
	raise(linkd.SeverityCritical, "m11") // only critical left: drops the oldest, m0
	want := []string{"m11", "m10", "m9", "m8", "m4"}
	if got := messages(); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if _, err := n.s.Get(raised[0].ID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("Get(dropped alert) = %v; want not_found", err)
	}
	n.restart()
	if got := messages(); !slices.Equal(got, want) {
		t.Fatalf("after a restart, kept %v, want %v", got, want)
	}
}

func TestRaiseAndAckRefuse(t *testing.T) {
	n := newNode(t)
	cases := []struct {
		name  string
		a     linkd.Alert
		field string
	}{
		{"no kind", linkd.Alert{Severity: linkd.SeverityWarning, Message: "m"}, "kind"},
		{"unknown severity", linkd.Alert{Kind: "k", Severity: "panic", Message: "m"}, "severity"},
		{"no severity", linkd.Alert{Kind: "k", Message: "m"}, "severity"},
		{"no message", linkd.Alert{Kind: "k", Severity: linkd.SeverityWarning}, "message"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.s.Raise(tc.a)
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Field != tc.field {
				t.Fatalf("Raise = %v; want a validation error about %s", err, tc.field)
			}
		})
	}
	if len(n.s.List(true)) != 0 {
		t.Fatal("a refused alert was stored")
	}
	if err := n.s.Ack("0000000000000000deadbeef", "ops"); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("Ack(unknown) = %v; want not_found", err)
	}
	a := n.raise(unreachable("hamburg-dc"))
	if err := n.s.Ack(a.ID, ""); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Fatalf("Ack without a name = %v; want invalid", err)
	}
	if got, _ := n.s.Get(a.ID); !got.Open() {
		t.Fatal("a refused Ack acknowledged the alert")
	}
	// A long message is clipped, not refused.
	long := n.raise(linkd.Alert{Kind: "k", Severity: linkd.SeverityWarning, Message: strings.Repeat("é", 5000)})
	if len(long.Message) > 4096 || !strings.HasSuffix(long.Message, "é…") {
		t.Fatalf("a 10,000-byte message was kept as %d bytes ending %q", len(long.Message), long.Message[len(long.Message)-8:])
	}
}

func TestHoldUntilReleased(t *testing.T) {
	n := newNode(t)
	antwerp := linkd.LogOrigin("antwerp-dc")
	if held, _ := n.s.Held(antwerp); held {
		t.Fatal("a fresh store holds a log")
	}
	eq := n.raise(linkd.Alert{Kind: linkd.AlertEquivocation, Severity: linkd.SeverityCritical, Log: antwerp, Message: "split view"})
	if err := n.s.Hold(antwerp, "equivocation: two checkpoints of size 12", eq.ID); err != nil {
		t.Fatal(err)
	}
	n.clock.advance(time.Minute)
	if err := n.s.Hold(antwerp, "a later reason", ""); err != nil {
		t.Fatal(err)
	}
	if held, reason := n.s.Held(antwerp); !held || reason != "equivocation: two checkpoints of size 12" {
		t.Fatalf("Held = %v, %q; want held for the first reason", held, reason)
	}
	if held, _ := n.s.Held(linkd.LogOrigin("hamburg-dc")); held {
		t.Fatal("holding one log held another")
	}

	n.restart()
	if held, reason := n.s.Held(antwerp); !held || !strings.HasPrefix(reason, "equivocation") {
		t.Fatalf("after a restart Held = %v, %q; want still held", held, reason)
	}
	holds := n.s.Holds()
	if len(holds) != 1 || holds[0].Log != antwerp || holds[0].AlertID != eq.ID || !holds[0].Since.Equal(t0) {
		t.Fatalf("Holds = %+v; want antwerp-dc's log, held since %v for alert %s", holds, t0, eq.ID)
	}

	if err := n.s.Release(antwerp, ""); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Fatalf("Release without a name = %v; want invalid", err)
	}
	if err := n.s.Release(antwerp, "ops@rotterdam"); err != nil {
		t.Fatal(err)
	}
	if held, _ := n.s.Held(antwerp); held {
		t.Fatal("a released log is still held")
	}
	if err := n.s.Release(antwerp, "ops@rotterdam"); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("Release(not held) = %v; want not_found", err)
	}
	n.restart()
	if held, _ := n.s.Held(antwerp); held || len(n.s.Holds()) != 0 {
		t.Fatal("a released log is held again after a restart")
	}
	// It can be held again, afresh.
	n.clock.advance(time.Hour)
	if err := n.s.Hold(antwerp, "again", ""); err != nil {
		t.Fatal(err)
	}
	if h := n.s.Holds(); len(h) != 1 || h[0].Reason != "again" || !h[0].Since.Equal(t0.Add(time.Hour+time.Minute)) {
		t.Fatalf("Holds after holding again = %+v", h)
	}
	if err := n.s.Hold("", "no log", ""); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Fatalf("Hold without a log = %v; want invalid", err)
	}
}

// The store writes only under its own prefix, 'A'.
func TestKeysStayUnderPrefixA(t *testing.T) {
	n := newNode(t)
	// Another package's key, which Open must leave alone.
	if err := n.db.Set([]byte("m\x00\x00\x00\x01"), []byte("theirs"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	a := n.raise(unreachable("hamburg-dc"))
	n.s.Ack(a.ID, "ops")
	n.raise(unreachable("antwerp-dc"))
	n.s.Hold(linkd.LogOrigin("antwerp-dc"), "test", "")
	n.restart()
	it, err := n.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var keys int
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if k[0] != 'A' && string(k) != "m\x00\x00\x00\x01" {
			t.Errorf("key %q is outside the 'A' prefix", k)
		}
		keys++
	}
	if keys != 4 || len(n.s.List(true)) != 2 {
		t.Fatalf("%d keys and %d alerts; want 2 alerts, 1 hold and the other package's key", keys, len(n.s.List(true)))
	}
}

// A failed fsync is never reported as a stored alert, and stops the store.
func TestFailedSyncStopsTheStore(t *testing.T) {
	ffs := &store.FailingFS{FS: vfs.Default, Match: ".log"}
	n := newNodeOn(t, store.Options{FS: ffs})
	kept := n.raise(unreachable("hamburg-dc"))
	// Pebble treats a failed WAL sync as sticky and panics at the next WAL
	// rotation; a fresh memtable keeps this test's write from rotating it.
	if err := n.db.Flush(); err != nil {
		t.Fatal(err)
	}
	ffs.Arm()
	_, err := n.s.Raise(unreachable("antwerp-dc"))
	if linkd.ErrorCode(err) != linkd.EUnavailable || !errors.Is(err, store.ErrInjectedSync) {
		t.Fatalf("Raise after a failed fsync = %v; want unavailable, wrapping the fsync error", err)
	}
	if list := n.s.List(true); len(list) != 1 || list[0].ID != kept.ID {
		t.Fatalf("List after a failed write = %v; want only the alert stored before", ids(list))
	}
	if err := n.s.Ack(kept.ID, "ops"); linkd.ErrorCode(err) != linkd.EUnavailable {
		t.Fatalf("Ack after a failed write = %v; want unavailable", err)
	}
	if got, _ := n.s.Get(kept.ID); !got.Open() {
		t.Fatal("a refused Ack acknowledged the alert")
	}
	// The process would end here; do not close a store whose WAL failed.
	n.db = nil
}

// Concurrent raises of one alert count every one; holds answer meanwhile.
func TestConcurrentRaises(t *testing.T) {
	n := newNode(t)
	antwerp := linkd.LogOrigin("antwerp-dc")
	if err := n.s.Hold(antwerp, "test", ""); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				if _, err := n.s.Raise(unreachable("hamburg-dc")); err != nil {
					t.Error(err)
				}
				if _, err := n.s.Raise(unreachable(fmt.Sprint("peer-", w))); err != nil {
					t.Error(err)
				}
				if held, _ := n.s.Held(antwerp); !held {
					t.Error("the held log was not held")
				}
			}
		})
	}
	wg.Wait()
	list := n.s.List(true)
	if len(list) != writers+1 {
		t.Fatalf("%d alerts; want %d", len(list), writers+1)
	}
	for _, a := range list {
		want := each
		if a.Peer == "hamburg-dc" {
			want = writers * each
		}
		if a.Count != want {
			t.Errorf("alert for %s counted %d times; want %d", a.Peer, a.Count, want)
		}
	}
}
