package hlc

import (
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWall) now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeWall) set(t time.Time) { f.mu.Lock(); f.t = t; f.mu.Unlock() }

func TestClockFollowsWallAndNeverGoesBack(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(1_000_000)}
	c := New(w.now, 0)
	a := c.Now()
	if a.WallMillis() != 1_000_000 || a.Logical() != 0 {
		t.Fatalf("first stamp = %v, want wall 1000000 logical 0", a)
	}
	b := c.Now()
	if b <= a || b.WallMillis() != 1_000_000 || b.Logical() != 1 {
		t.Fatalf("second stamp in same ms = %v, want logical 1 above %v", b, a)
	}
	w.set(time.UnixMilli(999_000)) // wall clock stepped back by a second
	d := c.Now()
	if d <= b {
		t.Fatalf("stamp after wall clock went back = %v, want > %v", d, b)
	}
	w.set(time.UnixMilli(1_000_500))
	if e := c.Now(); e.WallMillis() != 1_000_500 || e.Logical() != 0 {
		t.Fatalf("stamp after wall caught up = %v, want wall 1000500 logical 0", e)
	}
}

func TestObserveOrdersAfterRemote(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(5_000)}
	c := New(w.now, 0)
	remote := linkd.MakeHLC(9_000, 7) // a peer whose clock runs 4 s ahead
	c.Observe(remote)
	if got := c.Now(); got <= remote {
		t.Fatalf("stamp after observing %v = %v, want larger", remote, got)
	}
}

func TestFloorSurvivesRestart(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(100)}
	floor := linkd.MakeHLC(200, 3) // issued before a restart, when the wall read later
	c := New(w.now, floor)
	if got := c.Now(); got <= floor {
		t.Fatalf("first stamp after restart = %v, want above floor %v", got, floor)
	}
}

func TestLogicalOverflowCarriesIntoWall(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(10)}
	c := New(w.now, linkd.MakeHLC(10, 0xffff))
	got := c.Now()
	if got.WallMillis() != 11 || got.Logical() != 0 {
		t.Fatalf("stamp after full counter = %v, want wall 11 logical 0", got)
	}
}

func TestConcurrentStampsAreUnique(t *testing.T) {
	c := New(nil, 0)
	const n, workers = 2000, 8
	out := make(chan linkd.HLC, n*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				out <- c.Now()
			}
		}()
	}
	wg.Wait()
	close(out)
	seen := make(map[linkd.HLC]bool, n*workers)
	for s := range out {
		if seen[s] {
			t.Fatalf("stamp %v issued twice", s)
		}
		seen[s] = true
	}
	if len(seen) != n*workers {
		t.Fatalf("got %d distinct stamps, want %d", len(seen), n*workers)
	}
}
