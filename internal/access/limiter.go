package access

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxBuckets is how many buckets a Limiter keeps unless told
// otherwise: far more tokens than a node issues, and about 2.5 MB at most.
const DefaultMaxBuckets = 10_000

// Limiter rate-limits requests per key (a token id): each key has its own
// token bucket that refills at r per second up to burst. It is safe for
// concurrent use.
//
// Memory is bounded. A bucket that has refilled to burst is forgotten, which
// loses nothing, since a new bucket starts full; Allow forgets up to two such
// buckets, least recently used first, on every call. If the limiter still
// holds its maximum number of buckets when a new key arrives, it forgets the
// least recently used one, which lets that key start again with a full
// burst.
type Limiter struct {
	r         rate.Limit
	burst     int
	now       func() time.Time
	unlimited bool

	mu      sync.Mutex
	max     int                      // guarded by mu
	buckets map[string]*list.Element // guarded by mu; each holds a *bucket
	lru     list.List                // guarded by mu; front is the most recently used
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// sweepPerCall is how many full buckets Allow forgets at most per call: more
// than the one bucket a call can add, so idle buckets drain.
const sweepPerCall = 2

// NewLimiter returns a limiter that allows each key r requests per second
// with bursts of up to burst. A rate of zero or less, or rate.Inf, means
// unlimited; a burst below 1 is taken as 1 so every key can eventually make
// a request. now is the clock; nil means time.Now.
func NewLimiter(r rate.Limit, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		r:         r,
		burst:     max(burst, 1),
		now:       now,
		unlimited: r <= 0 || r == rate.Inf,
		max:       DefaultMaxBuckets,
		buckets:   make(map[string]*list.Element),
	}
}

// SetMaxBuckets bounds how many keys the limiter remembers at once (minimum
// 1; default DefaultMaxBuckets). If it holds more, it forgets the least
// recently used.
func (l *Limiter) SetMaxBuckets(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.max = max(n, 1)
	for l.lru.Len() > l.max {
		l.removeLocked(l.lru.Back())
	}
}

// Allow takes one request from key's bucket. If the bucket is empty it
// returns false and how long until it holds a request again, rounded up to
// the microsecond; a refused request takes nothing.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l.unlimited {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The clock is read under the lock so each bucket sees time move
	// forward, whatever the scheduling of the callers.
	now := l.now()
	el := l.buckets[key]
	l.sweepLocked(now, el)
	if el != nil {
		l.lru.MoveToFront(el)
	} else {
		if l.lru.Len() >= l.max {
			l.removeLocked(l.lru.Back())
		}
		el = l.lru.PushFront(&bucket{key: key, lim: rate.NewLimiter(l.r, l.burst)})
		l.buckets[key] = el
	}
	lim := el.Value.(*bucket).lim
	if lim.AllowN(now, 1) {
		return true, 0
	}
	// Round up to the microsecond, forgiving a picosecond of float error so
	// that 2 per second after 499ms says 1ms, not 1.001ms.
	need := 1 - lim.TokensAt(now)
	us := math.Ceil(need/float64(l.r)*1e6 - 1e-6)
	return false, max(time.Duration(us), 1) * time.Microsecond
}

// Len returns how many buckets the limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// sweepLocked forgets up to sweepPerCall full buckets from the least
// recently used end, stopping at keep (the bucket the caller is about to
// use) and at the first bucket that is not full.
func (l *Limiter) sweepLocked(now time.Time, keep *list.Element) {
	for range sweepPerCall {
		el := l.lru.Back()
		if el == nil || el == keep || el.Value.(*bucket).lim.TokensAt(now) < float64(l.burst) {
			return
		}
		l.removeLocked(el)
	}
}

func (l *Limiter) removeLocked(el *list.Element) {
	delete(l.buckets, el.Value.(*bucket).key)
	l.lru.Remove(el)
}
