package access

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimiterBurstThenRefusal(t *testing.T) {
	c := newClock()
	l := NewLimiter(2, 3, c.Now) // 2 per second, bursts of 3
	for i := range 3 {
		if ok, _ := l.Allow("tok"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("tok")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("after the burst Allow = %v, %s; want false, 500ms", ok, retry)
	}
	c.Add(retry - time.Millisecond)
	ok, retry = l.Allow("tok")
	if ok || retry != time.Millisecond {
		t.Fatalf("1ms early Allow = %v, %s; want false, 1ms", ok, retry)
	}
	c.Add(retry)
	if ok, _ := l.Allow("tok"); !ok {
		t.Fatal("refused after waiting retryAfter")
	}
	if ok, _ := l.Allow("tok"); ok {
		t.Fatal("allowed twice after waiting for one request")
	}
}

func TestLimiterRefillsOverTime(t *testing.T) {
	c := newClock()
	l := NewLimiter(10, 5, c.Now)
	drain := func() int {
		n := 0
		for {
			ok, _ := l.Allow("tok")
			if !ok {
				return n
			}
			n++
		}
	}
	if n := drain(); n != 5 {
		t.Fatalf("first burst allowed %d, want 5", n)
	}
	c.Add(300 * time.Millisecond)
	if n := drain(); n != 3 {
		t.Fatalf("after 300ms at 10/s allowed %d, want 3", n)
	}
	c.Add(time.Hour)
	if n := drain(); n != 5 {
		t.Fatalf("after an hour allowed %d, want the burst of 5", n)
	}
}

func TestLimiterSeparateBuckets(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 2, c.Now)
	for range 2 {
		l.Allow("a")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a allowed beyond its burst")
	}
	for i := range 2 {
		if ok, _ := l.Allow("b"); !ok {
			t.Fatalf("b refused on request %d: a's use spent b's bucket", i+1)
		}
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 1, c.Now)
	l.SetMaxBuckets(4)
	for i := range 100 {
		l.Allow(fmt.Sprint("k", i))
		if n := l.Len(); n > 4 {
			t.Fatalf("after %d keys the limiter holds %d buckets, want at most 4", i+1, n)
		}
	}

	// An exhausted key in use is not the one forgotten.
	l.SetMaxBuckets(2)
	l.Allow("busy") // spends busy's only token
	l.Allow("idle")
	if ok, _ := l.Allow("busy"); ok {
		t.Fatal("busy allowed beyond its burst")
	}
	l.Allow("new") // full: forgets idle, the least recently used
	if ok, _ := l.Allow("busy"); ok {
		t.Fatal("busy got a fresh bucket: the recently used bucket was forgotten")
	}

	// Buckets that have refilled are forgotten without loss.
	l.SetMaxBuckets(DefaultMaxBuckets)
	for i := range 50 {
		l.Allow(fmt.Sprint("x", i))
	}
	c.Add(time.Second) // every bucket is full again
	for range 30 {
		l.Allow("y")
	}
	if n := l.Len(); n > 2 {
		t.Errorf("after the buckets refilled the limiter still holds %d, want them swept", n)
	}
}

func TestLimiterUnlimited(t *testing.T) {
	for _, r := range []rate.Limit{0, rate.Inf} {
		l := NewLimiter(r, 0, nil)
		for range 1000 {
			if ok, retry := l.Allow("tok"); !ok || retry != 0 {
				t.Fatalf("rate %v: Allow = %v, %s; want unlimited", r, ok, retry)
			}
		}
		if l.Len() != 0 {
			t.Errorf("rate %v: an unlimited limiter holds %d buckets", r, l.Len())
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	c := newClock() // frozen: only the burst may pass
	l := NewLimiter(1, 100, c.Now)
	var allowed [3]atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for range 100 {
				k := g % 3
				if ok, _ := l.Allow(fmt.Sprint("tok", k)); ok {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if n := allowed[k].Load(); n != 100 {
			t.Errorf("key %d: %d requests allowed, want exactly the burst of 100", k, n)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	// A burst no run exhausts and a rate that never refills it within the
	// run: every call takes the allowed path on a bucket it keeps.
	l := NewLimiter(1, 1<<30, nil)
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("abcdefgh%02d", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}
