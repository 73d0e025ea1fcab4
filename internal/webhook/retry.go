package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults for Schedule.
//
// With them the waits grow 1 s, 2 s, 4 s … to 1 h (on average half of
// that, with full jitter), reaching the cap after about 12 attempts, and a
// receiver that stays down gets about 60 attempts before the delivery is
// given up a day after it started — the same span as the Standard Webhooks
// example schedule, with more attempts in the first minutes, when most
// outages end.
const (
	DefaultBase    = time.Second
	DefaultMax     = time.Hour
	DefaultHorizon = 24 * time.Hour
)

// A Schedule says when to retry: capped exponential backoff with full
// jitter (the wait before retry n is uniform in [0, min(Max, Base·2ⁿ⁻¹)]),
// or the receiver's Retry-After when it gave one, capped by Max; never
// past the Horizon. The zero Schedule uses the defaults.
type Schedule struct {
	// Base is the ceiling of the first wait. Zero means DefaultBase (1 s).
	Base time.Duration

	// Max caps every wait, Retry-After included. Zero means DefaultMax
	// (1 h).
	Max time.Duration

	// Horizon is how long after the first attempt retries may go on; the
	// last attempt is made at the horizon at the latest. Zero means
	// DefaultHorizon (24 h).
	Horizon time.Duration

	// Jitter returns a wait in [0, ceiling]. Nil means uniformly random.
	// Tests set it to make waits predictable; it must be safe for
	// concurrent use if the Schedule is.
	Jitter func(ceiling time.Duration) time.Duration
}

func (s Schedule) withDefaults() Schedule {
	s.Base = or(s.Base, DefaultBase)
	s.Max = or(s.Max, DefaultMax)
	s.Horizon = or(s.Horizon, DefaultHorizon)
	if s.Max < s.Base {
		s.Max = s.Base
	}
	return s
}

// Delay returns the wait after the n-th failed attempt (n from 1): the
// receiver's retryAfter if it is positive, else the jittered backoff;
// either way at most Max. The horizon is Deliver's business.
func (s Schedule) Delay(n int, retryAfter time.Duration) time.Duration {
	s = s.withDefaults()
	if retryAfter > 0 {
		return min(retryAfter, s.Max)
	}
	ceiling := s.Max
	if shift := n - 1; shift < 62 {
		if b := s.Base << shift; b > 0 && b>>shift == s.Base {
			ceiling = min(b, s.Max)
		}
	}
	if s.Jitter != nil {
		return max(0, min(s.Jitter(ceiling), ceiling))
	}
	return rand.N(ceiling + 1)
}

// Reason says why a delivery was given up.
type Reason string

const (
	ReasonRejected Reason = "rejected" // the receiver gave an answer not worth retrying (3xx, 4xx)
	ReasonGone     Reason = "gone"     // the receiver answered 410 Gone
	ReasonRefused  Reason = "refused"  // the destination is not allowed, or the request is invalid
	ReasonHorizon  Reason = "horizon"  // retryable failures went on past the Schedule's horizon
)

// An Outcome is how a delivery ended: Delivered, Dead, or neither when ctx
// ended first (the node is stopping; the caller should try again later).
type Outcome struct {
	Delivered bool
	Dead      bool
	Reason    Reason // why Dead; "" otherwise
	Message   string // what happened, safe to show the subscription's owner
	Attempts  int
	Last      Result        // the last attempt
	Elapsed   time.Duration // from the first attempt to the end
	Err       error         // the context's error when ctx ended first; else nil
}

// Deliver sends req until it is delivered, an answer is not worth
// retrying, the schedule's horizon passes or ctx ends. Every attempt is
// signed afresh with the current time and the same webhook-id. onAttempt,
// if not nil, is called after every attempt, on Deliver's goroutine, before
// any wait; callers count metrics there.
//
// Waits use the time package, so under testing/synctest they take no real
// time.
func Deliver(ctx context.Context, s Sender, req Request, sched Schedule, onAttempt func(Result)) Outcome {
	sched = sched.withDefaults()
	start := time.Now()
	deadline := start.Add(sched.Horizon)
	var o Outcome
	end := func() Outcome {
		o.Elapsed = time.Since(start)
		return o
	}
	for {
		o.Attempts++
		req.Time = time.Now()
		r := s.Send(ctx, req)
		r.Attempt = o.Attempts
		o.Last = r
		if onAttempt != nil {
			onAttempt(r)
		}
		switch {
		case r.OK:
			o.Delivered = true
			o.Message = r.Message
			return end()
		case ctx.Err() != nil:
			o.Err = ctx.Err()
			o.Message = fmt.Sprintf("delivery paused by the node after %s: %s", attempts(o.Attempts), r.Message)
			return end()
		case !r.Retry:
			o.Dead = true
			switch {
			case r.Gone:
				o.Reason = ReasonGone
			case r.Status == 0:
				o.Reason = ReasonRefused
			default:
				o.Reason = ReasonRejected
			}
			o.Message = fmt.Sprintf("gave up after %s: %s", attempts(o.Attempts), r.Message)
			return end()
		}

		left := deadline.Sub(time.Now())
		if left <= 0 {
			o.Dead = true
			o.Reason = ReasonHorizon
			o.Message = fmt.Sprintf("gave up after %s over %s: %s", attempts(o.Attempts), time.Since(start).Round(time.Second), r.Message)
			return end()
		}
		wait := min(sched.Delay(o.Attempts, r.RetryAfter), left)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			o.Err = ctx.Err()
			o.Message = fmt.Sprintf("delivery paused by the node after %s: %s", attempts(o.Attempts), r.Message)
			return end()
		case <-t.C:
		}
	}
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
