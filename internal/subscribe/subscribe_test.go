package subscribe_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/webhook"
)

type fixture struct {
	t      *testing.T
	dir    string
	skey   string
	log    *partylog.Log
	logs   *partylog.Logs
	feed   *subscribe.Feed
	mgr    *subscribe.Manager
	alerts *alertSink
	gen    *scenario.Generator
	close  func()
}

type alertSink struct {
	mu   sync.Mutex
	list []linkd.Alert
}

func (a *alertSink) raise(al linkd.Alert) {
	a.mu.Lock()
	a.list = append(a.list, al)
	a.mu.Unlock()
}

func (a *alertSink) kinds() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, al := range a.list {
		out = append(out, al.Kind)
	}
	return out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(scenario.Terminal.ID))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), skey: skey, alerts: &alertSink{},
		gen: scenario.NewGenerator(7, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)).WithShipments(5)}
	f.open()
	t.Cleanup(func() { f.close() })
	return f
}

// open opens the store, log and manager (again, after close: a restart).
func (f *fixture) open() {
	t := f.t
	db, err := store.Open(f.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var feed *subscribe.Feed
	f.log, err = partylog.Open(db, partylog.Config{Self: scenario.Terminal, SigningKey: f.skey, KeepEntries: true,
		OnCommit: func(c partylog.CommitInfo) {
			if feed != nil {
				feed.Recorded(scenario.Terminal.ID, c.Entries)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.logs = partylog.NewLogs(f.log, nil)
	feed = subscribe.NewFeed(f.logs)
	f.feed = feed
	f.mgr, err = subscribe.New(subscribe.Config{DB: db, Feed: feed, Self: scenario.Terminal,
		Policy:   webhook.Policy{AllowLoopback: true, AllowHTTP: true},
		Schedule: webhook.Schedule{Base: time.Millisecond, Max: 20 * time.Millisecond, Horizon: 2 * time.Second},
		Alert:    f.alerts.raise})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.mgr.Start(); err != nil {
		t.Fatal(err)
	}
	closed := false
	f.close = func() {
		if closed {
			return
		}
		closed = true
		f.mgr.Close()
		f.log.Close()
		db.Close()
	}
}

func (f *fixture) append(n int) []linkd.Event {
	f.t.Helper()
	evs := f.gen.Batch(n)
	acks, err := f.log.Append(context.Background(), evs)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range evs {
		evs[i].EventID = acks[i].EventID
	}
	return evs
}

var owner = subscribe.Caller{ID: "tok_owner"}

// receiver records what a webhook endpoint was sent and answers with what
// plan says for the n-th request.
type receiver struct {
	srv     *httptest.Server
	secrets []webhook.Secret
	plan    func(n int) int

	mu       sync.Mutex
	n        int
	got      map[string]subscribe.Message // by event id, verified ones only
	bad      int                          // requests whose signature did not verify
	requests int
}

func newReceiver(t *testing.T, plan func(n int) int) *receiver {
	rc := &receiver{plan: plan, got: map[string]subscribe.Message{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.n++
		rc.requests++
		n, secrets := rc.n, rc.secrets
		rc.mu.Unlock()
		status := rc.plan(n)
		if len(secrets) == 0 && status < 300 {
			// Not told its secret yet: not ready, try again (a 401 would
			// be final and dead-letter the delivery).
			status = 503
		}
		if status == 429 {
			w.Header().Set("Retry-After", "0")
		}
		if status >= 300 {
			w.WriteHeader(status)
			return
		}
		if err := webhook.Verify(secrets, r.Header, body, time.Now(), 0); err != nil {
			rc.mu.Lock()
			rc.bad++
			rc.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m subscribe.Message
		if err := json.Unmarshal(body, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got[m.Event.EventID] = m
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecrets(t *testing.T, ss ...string) {
	var out []webhook.Secret
	for _, s := range ss {
		sec, err := webhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sec)
	}
	rc.mu.Lock()
	rc.secrets = out
	rc.mu.Unlock()
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhookDeliversEveryEventOnceVerified: a receiver that fails, asks to
// slow down and then recovers gets every matching event with a valid
// signature, its log position and checkpoint, across a restart of the node.
func TestWebhookDeliversEveryEventOnceVerified(t *testing.T) {
	f := newFixture(t)
	flaky := newReceiver(t, func(n int) int {
		switch {
		case n <= 2:
			return 500
		case n == 3:
			return 429
		case n == 7:
			return 503
		}
		return 204
	})
	c, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: flaky.srv.URL,
		Filter: expr.Filter{EventTypes: []linkd.EventType{linkd.Equipment}}})
	if err != nil {
		t.Fatal(err)
	}
	flaky.setSecrets(t, c.Secret)
	evs := f.append(40)
	f.close()
	f.open() // a restart: the cursor resumes, nothing is lost
	evs = append(evs, f.append(40)...)
	want := map[string]bool{}
	for _, e := range evs {
		if e.EventType == linkd.Equipment {
			want[e.EventID] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("the generator made no equipment events")
	}
	waitFor(t, fmt.Sprintf("%d equipment events at the receiver", len(want)), func() bool { return flaky.count() >= len(want) })
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	for id := range want {
		m, ok := flaky.got[id]
		if !ok {
			t.Errorf("event %s not delivered", id)
			continue
		}
		if m.Position.Origin != scenario.Terminal.ID || m.Checkpoint.Size <= m.Position.Index || len(m.Checkpoint.RootHash) != 32 {
			t.Errorf("event %s: position %+v with checkpoint of size %d: the checkpoint must cover the position", id, m.Position, m.Checkpoint.Size)
		}
		rec, err := f.log.Get(context.Background(), m.Position.Index)
		if err != nil || rec.Event.EventID != id {
			t.Errorf("event %s: delivered at position %d, which holds %s (%v)", id, m.Position.Index, rec.Event.EventID, err)
		}
	}
	for id := range flaky.got {
		if !want[id] {
			t.Errorf("event %s delivered but does not match the filter", id)
		}
	}
	if flaky.bad != 0 {
		t.Errorf("%d deliveries failed signature verification", flaky.bad)
	}
}

// TestDeadLetterAlertsAndSparesOthers: a receiver that refuses for good
// fills its subscription's dead letters and raises an alert, while another
// subscription's receiver gets everything.
func TestDeadLetterAlertsAndSparesOthers(t *testing.T) {
	f := newFixture(t)
	refusing := newReceiver(t, func(int) int { return 400 })
	healthy := newReceiver(t, func(int) int { return 204 })
	bad, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: refusing.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	good, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: healthy.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	healthy.setSecrets(t, good.Secret)
	evs := f.append(5)
	waitFor(t, "all events at the healthy receiver", func() bool { return healthy.count() == len(evs) })
	var dead []subscribe.DeadLetter
	waitFor(t, "dead letters", func() bool {
		dead, err = f.mgr.DeadLetters(owner, bad.Subscription.ID, 100)
		return err == nil && len(dead) == len(evs)
	})
	for _, d := range dead {
		if !strings.Contains(d.Reason, "400") {
			t.Errorf("dead letter reason %q does not name the receiver's answer", d.Reason)
		}
	}
	if k := f.alerts.kinds(); len(k) == 0 || k[0] != linkd.AlertDeliveryFailed {
		t.Errorf("alerts %v, want delivery_failed", k)
	}
	sub, err := f.mgr.Get(owner, bad.Subscription.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The status counts a dead letter just after storing it.
	waitFor(t, fmt.Sprintf("status showing %d dead-lettered", len(evs)), func() bool {
		v := f.mgr.View(sub)
		return v.Status != nil && v.Status.Dead == int64(len(evs))
	})
}

// TestSecretRotationSignsWithBoth: during the overlap a receiver that knows
// only the old secret, or only the new one, accepts deliveries.
func TestSecretRotationSignsWithBoth(t *testing.T) {
	f := newFixture(t)
	oldOnly := newReceiver(t, func(int) int { return 204 })
	c, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: oldOnly.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oldOnly.setSecrets(t, c.Secret)
	newSecret, err := f.mgr.RotateSecret(owner, c.Subscription.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == c.Secret {
		t.Fatal("rotation kept the same secret")
	}
	f.append(3)
	waitFor(t, "deliveries verified with the old secret", func() bool { return oldOnly.count() == 3 })
	// A second subscription's receiver that knows only the new secret.
	newOnly := newReceiver(t, func(int) int { return 204 })
	c2, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Webhook, URL: newOnly.srv.URL, From: "start"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := f.mgr.RotateSecret(owner, c2.Subscription.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	newOnly.setSecrets(t, s2)
	waitFor(t, "deliveries verified with the new secret", func() bool { return newOnly.count() == 3 })
}

// TestOwnership: a subscription is invisible to other tokens but not to an
// admin.
func TestOwnership(t *testing.T) {
	f := newFixture(t)
	c, err := f.mgr.Create(context.Background(), owner.ID, subscribe.Request{Delivery: subscribe.Stream})
	if err != nil {
		t.Fatal(err)
	}
	other := subscribe.Caller{ID: "tok_other"}
	if _, err := f.mgr.Get(other, c.Subscription.ID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Errorf("another token reads the subscription: %v, want not_found", err)
	}
	if err := f.mgr.Delete(other, c.Subscription.ID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Errorf("another token deletes the subscription: %v, want not_found", err)
	}
	if list, _ := f.mgr.List(other); len(list) != 0 {
		t.Errorf("another token lists %d subscriptions, want 0", len(list))
	}
	if list, _ := f.mgr.List(subscribe.Caller{ID: "tok_admin", Admin: true}); len(list) != 1 {
		t.Errorf("an admin lists %d subscriptions, want 1", len(list))
	}
}

// TestCreateRefusesBadInput: forbidden callbacks, bad CEL and unknown
// delivery kinds are refused with the field named, and nothing is kept.
func TestCreateRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	strict, err := subscribe.New(subscribe.Config{DB: nil, Feed: f.feed, Self: scenario.Terminal})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		mgr  *subscribe.Manager
		req  subscribe.Request
		want string
	}{
		{"loopback callback", strict, subscribe.Request{Delivery: subscribe.Webhook, URL: "https://127.0.0.1:9/hook"}, "loopback"},
		{"private callback", strict, subscribe.Request{Delivery: subscribe.Webhook, URL: "https://10.1.2.3/hook"}, "private"},
		{"metadata callback", strict, subscribe.Request{Delivery: subscribe.Webhook, URL: "https://169.254.169.254/latest"}, "169.254.169.254"},
		{"no url", f.mgr, subscribe.Request{Delivery: subscribe.Webhook}, "url"},
		{"unknown delivery", f.mgr, subscribe.Request{Delivery: "email"}, "delivery"},
		{"bad CEL", f.mgr, subscribe.Request{Delivery: subscribe.Stream, Filter: expr.Filter{Expression: "event.eventType == "}}, "1:"},
		{"bad code", f.mgr, subscribe.Request{Delivery: subscribe.Stream, Filter: expr.Filter{ShipmentEventTypeCodes: []string{"NOPE"}}}, "shipmentEventTypeCodes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.mgr.Create(context.Background(), owner.ID, tt.req)
			if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create = %v, want an invalid error mentioning %q", err, tt.want)
			}
		})
	}
	if list, _ := f.mgr.List(owner); len(list) != 0 {
		t.Errorf("%d subscriptions kept after refusals", len(list))
	}
}

// TestStreamResumesWithLastEventID: a client that disconnects and comes
// back with the last id it saw gets the rest, with no gap and no repeat.
func TestStreamResumesWithLastEventID(t *testing.T) {
	f := newFixture(t)
	m, err := expr.CompileFilter(expr.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, err := subscribe.ParseFrom(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.mgr.Stream(r.Context(), w, subscribe.StreamOptions{Matcher: m, Cursor: cur, Beat: time.Second})
	}))
	defer srv.Close()
	evs := f.append(30)
	read := func(last string, n int) (ids []string, lastID string) {
		req, _ := http.NewRequest("GET", srv.URL+"?from=start", nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		id := ""
		for sc.Scan() && len(ids) < n {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				var msg subscribe.Message
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &msg); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, msg.Event.EventID)
				lastID = id
			}
		}
		return ids, lastID
	}
	first, last := read("", 12)
	rest, _ := read(last, len(evs)-12)
	got := append(first, rest...)
	if len(got) != len(evs) {
		t.Fatalf("got %d events over two connections, want %d", len(got), len(evs))
	}
	for i, e := range evs {
		if got[i] != e.EventID {
			t.Fatalf("event %d: got %s, want %s (a gap or a repeat at the resume)", i, got[i], e.EventID)
		}
	}
}
