package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkd-dev/linkd/internal/webhook"
)

// fakeSender answers from a script and records when each attempt came and
// what it carried. It does no I/O, so Deliver can run in a synctest bubble
// where time moves only when everything waits.
type fakeSender struct {
	mu     sync.Mutex
	script []webhook.Result // the last entry repeats
	at     []time.Time      // guarded by mu
	reqs   []webhook.Request
}

func (f *fakeSender) Send(ctx context.Context, req webhook.Request) webhook.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	f.reqs = append(f.reqs, req)
	i := min(len(f.at), len(f.script)) - 1
	return f.script[i]
}

// gaps returns the waits between consecutive attempts.
func (f *fakeSender) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(f.at); i++ {
		out = append(out, f.at[i].Sub(f.at[i-1]))
	}
	return out
}

var (
	ok       = webhook.Result{Status: 204, OK: true}
	unavail  = webhook.Result{Status: 503, Retry: true, Message: "the receiver answered 503 Service Unavailable"}
	badReq   = webhook.Result{Status: 400, Message: "the receiver answered 400 Bad Request"}
	gone     = webhook.Result{Status: 410, Gone: true, Message: "the receiver answered 410 Gone"}
	refused  = webhook.Result{Message: "callback 10.0.0.5 is a private address"}
	netError = webhook.Result{Retry: true, Message: "example.com:443 refused the connection"}
)

func after(status int, d time.Duration) webhook.Result {
	return webhook.Result{Status: status, Retry: true, RetryAfter: d, Message: fmt.Sprintf("the receiver answered %d", status)}
}

// ceilingJitter waits the whole ceiling, so the schedule is exact.
func ceilingJitter(c time.Duration) time.Duration { return c }

func TestDeliverBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSender{script: []webhook.Result{unavail, netError, unavail, unavail, unavail, unavail, unavail, ok}}
		sched := webhook.Schedule{Base: time.Second, Max: 10 * time.Second, Horizon: time.Hour, Jitter: ceilingJitter}
		var attempts []int
		start := time.Now()
		out := webhook.Deliver(t.Context(), f, request("https://example.com/hook"), sched,
			func(r webhook.Result) { attempts = append(attempts, r.Attempt) })

		if !out.Delivered || out.Attempts != 8 {
			t.Fatalf("Outcome = %+v, want delivered on attempt 8", out)
		}
		want := "[1s 2s 4s 8s 10s 10s 10s]" // doubling from Base, capped at Max
		if got := fmt.Sprint(f.gaps()); got != want {
			t.Errorf("waits = %s, want %s", got, want)
		}
		if got := fmt.Sprint(attempts); got != "[1 2 3 4 5 6 7 8]" {
			t.Errorf("OnAttempt saw attempts %s", got)
		}
		if out.Elapsed != 45*time.Second || time.Since(start) != 45*time.Second {
			t.Errorf("Elapsed = %s, want 45s", out.Elapsed)
		}
		// Every attempt is signed afresh (Time = when it was made) with the
		// same webhook-id.
		for i, req := range f.reqs {
			if !req.Time.Equal(f.at[i]) {
				t.Errorf("attempt %d signed at %s, made at %s", i+1, req.Time, f.at[i])
			}
			if req.ID != f.reqs[0].ID {
				t.Errorf("attempt %d has webhook-id %q, want %q", i+1, req.ID, f.reqs[0].ID)
			}
		}
	})
}

func TestDeliverRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSender{script: []webhook.Result{
			after(429, 30*time.Second), // honoured as given
			after(503, 2*time.Hour),    // capped at Max
			after(503, 0),              // none given: backoff for attempt 3
			after(503, time.Second),    // shorter than the backoff: still as given
			ok,
		}}
		sched := webhook.Schedule{Base: time.Minute, Max: time.Hour, Horizon: 24 * time.Hour, Jitter: ceilingJitter}
		out := webhook.Deliver(t.Context(), f, request("https://example.com/hook"), sched, nil)
		if !out.Delivered || out.Attempts != 5 {
			t.Fatalf("Outcome = %+v, want delivered on attempt 5", out)
		}
		if got, want := fmt.Sprint(f.gaps()), "[30s 1h0m0s 4m0s 1s]"; got != want {
			t.Errorf("waits = %s, want %s", got, want)
		}
	})
}

// TestDeliverHorizon: retries stop at the horizon; the last wait is cut
// short so the last attempt is made exactly at it, never after.
func TestDeliverHorizon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSender{script: []webhook.Result{unavail}}
		sched := webhook.Schedule{Base: time.Minute, Max: time.Hour, Horizon: 3 * time.Hour, Jitter: ceilingJitter}
		start := time.Now()
		out := webhook.Deliver(t.Context(), f, request("https://example.com/hook"), sched, nil)

		if out.Delivered || !out.Dead || out.Reason != webhook.ReasonHorizon {
			t.Fatalf("Outcome = %+v, want dead at the horizon", out)
		}
		// 1+2+4+8+16+32+60 = 123 min, then 60 would pass 180: cut to 57.
		if got, want := fmt.Sprint(f.gaps()), "[1m0s 2m0s 4m0s 8m0s 16m0s 32m0s 1h0m0s 57m0s]"; got != want {
			t.Errorf("waits = %s, want %s", got, want)
		}
		if out.Attempts != 9 || f.at[len(f.at)-1].Sub(start) != 3*time.Hour || out.Elapsed != 3*time.Hour {
			t.Errorf("Attempts = %d, last at +%s, Elapsed %s; want 9, +3h, 3h", out.Attempts, f.at[len(f.at)-1].Sub(start), out.Elapsed)
		}
		if want := "gave up after 9 attempts over 3h0m0s: the receiver answered 503 Service Unavailable"; out.Message != want {
			t.Errorf("Message = %q\nwant %q", out.Message, want)
		}
	})
}

func TestDeliverRetryAfterPastHorizon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSender{script: []webhook.Result{after(503, 48*time.Hour)}}
		sched := webhook.Schedule{Base: time.Second, Max: 72 * time.Hour, Horizon: 2 * time.Hour}
		out := webhook.Deliver(t.Context(), f, request("https://example.com/hook"), sched, nil)
		if !out.Dead || out.Reason != webhook.ReasonHorizon || out.Attempts != 2 {
			t.Fatalf("Outcome = %+v, want dead at the horizon after 2 attempts", out)
		}
		if got, want := fmt.Sprint(f.gaps()), "[2h0m0s]"; got != want {
			t.Errorf("waits = %s, want %s", got, want)
		}
	})
}

func TestDeliverGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []webhook.Result
		reason webhook.Reason
		tries  int
		msg    string
	}{
		{"400 at once", []webhook.Result{badReq}, webhook.ReasonRejected, 1, "gave up after 1 attempt: the receiver answered 400 Bad Request"},
		{"400 after a 503", []webhook.Result{unavail, badReq}, webhook.ReasonRejected, 2, "gave up after 2 attempts: the receiver answered 400 Bad Request"},
		{"410", []webhook.Result{gone}, webhook.ReasonGone, 1, "gave up after 1 attempt: the receiver answered 410 Gone"},
		{"refused destination", []webhook.Result{refused}, webhook.ReasonRefused, 1, "gave up after 1 attempt: callback 10.0.0.5 is a private address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeSender{script: tc.script}
				out := webhook.Deliver(t.Context(), f, request("https://example.com/hook"), webhook.Schedule{}, nil)
				if out.Delivered || !out.Dead || out.Reason != tc.reason || out.Attempts != tc.tries {
					t.Errorf("Outcome = %+v, want dead (%s) after %d", out, tc.reason, tc.tries)
				}
				if out.Message != tc.msg {
					t.Errorf("Message = %q\nwant %q", out.Message, tc.msg)
				}
			})
		})
	}
}

// TestDeliverStopsWithContext: a node shutting down mid-wait ends the
// delivery at once, neither delivered nor dead.
func TestDeliverStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		f := &fakeSender{script: []webhook.Result{unavail}}
		sched := webhook.Schedule{Base: time.Minute, Max: time.Hour, Jitter: ceilingJitter}
		done := make(chan webhook.Outcome)
		go func() { done <- webhook.Deliver(ctx, f, request("https://example.com/hook"), sched, nil) }()

		time.Sleep(90 * time.Second) // attempts at 0s and 60s; waiting for 180s
		cancel()
		out := <-done
		if out.Delivered || out.Dead || !errors.Is(out.Err, context.Canceled) || out.Attempts != 2 {
			t.Errorf("Outcome = %+v, want paused after 2 attempts with context.Canceled", out)
		}
		if out.Elapsed != 90*time.Second {
			t.Errorf("Elapsed = %s, want 90s: Deliver must return when ctx ends, not when the wait does", out.Elapsed)
		}
	})
}

// TestDefaultJitter: with the real random jitter every wait is within
// [0, ceiling], and the waits are not all the same.
func TestDefaultJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSender{script: []webhook.Result{unavail}}
		sched := webhook.Schedule{Base: time.Second, Max: 8 * time.Second, Horizon: 10 * time.Minute}
		webhook.Deliver(t.Context(), f, request("https://example.com/hook"), sched, nil)
		gaps := f.gaps()
		distinct := map[time.Duration]bool{}
		for i, g := range gaps[:len(gaps)-1] { // the last wait is cut by the horizon
			ceiling := 8 * time.Second
			if i < 3 {
				ceiling = time.Second << i
			}
			if g < 0 || g > ceiling {
				t.Errorf("wait %d = %s, outside [0, %s]", i+1, g, ceiling)
			}
			distinct[g] = true
		}
		if len(gaps) < 20 || len(distinct) < 10 {
			t.Errorf("%d waits, %d distinct: %v", len(gaps), len(distinct), gaps)
		}
	})
}

func TestScheduleDelay(t *testing.T) {
	s := webhook.Schedule{Jitter: ceilingJitter}
	for _, tc := range []struct {
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, time.Second}, // defaults: Base 1s, Max 1h
		{2, 0, 2 * time.Second},
		{12, 0, 2048 * time.Second},
		{13, 0, time.Hour},
		{64, 0, time.Hour}, // no overflow
		{1000, 0, time.Hour},
		{1, 5 * time.Second, 5 * time.Second},
		{1, 3 * time.Hour, time.Hour},
	} {
		if got := s.Delay(tc.n, tc.retryAfter); got != tc.want {
			t.Errorf("Delay(%d, %s) = %s, want %s", tc.n, tc.retryAfter, got, tc.want)
		}
	}
	wild := webhook.Schedule{Base: time.Second, Max: 4 * time.Second, Jitter: func(time.Duration) time.Duration { return time.Hour }}
	if got := wild.Delay(1, 0); got != time.Second {
		t.Errorf("a Jitter past the ceiling gave %s, want it clamped to 1s", got)
	}
}

// TestDeliverFreshTimestamps ties Deliver to the real Client: a stale
// Request.Time is replaced, so the receiver sees a fresh webhook-timestamp.
func TestDeliverFreshTimestamps(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	})
	req := request(srv.URL)
	req.Time = time.Unix(1, 0) // stale: Deliver must replace it
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), req, fast, nil)
	if !out.Delivered {
		t.Fatalf("Outcome = %+v", out)
	}
	rc.checkAllSigned(t, 2) // checkAllSigned verifies against time.Now() within 5 minutes
}
