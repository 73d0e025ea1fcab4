// Package hlc is a hybrid logical clock (Kulkarni et al., 2014): stamps that
// follow physical time closely, strictly increase on one clock, and exceed
// every stamp the clock has observed, so causally related events order
// correctly even across machines whose clocks disagree.
package hlc

import (
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// Clock issues HLC stamps. It is safe for concurrent use.
type Clock struct {
	now func() time.Time // wall clock; time.Now by default

	mu   sync.Mutex
	last linkd.HLC // guarded by mu
}

// New returns a clock reading now (nil means time.Now) that will issue only
// stamps above floor, the largest stamp issued before a restart.
func New(now func() time.Time, floor linkd.HLC) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, last: floor}
}

// Now returns a stamp above every stamp issued or observed so far.
func (c *Clock) Now() linkd.HLC {
	wall := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = next(c.last, wall)
	return c.last
}

// Observe folds in a stamp seen on another party's event, so later local
// stamps order after it. It returns the new last stamp.
func (c *Clock) Observe(remote linkd.HLC) linkd.HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote > c.last {
		c.last = remote
	}
	return c.last
}

// Last returns the largest stamp issued or observed.
func (c *Clock) Last() linkd.HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// next returns the smallest stamp above last for the wall time in millis. A
// logical counter that would overflow moves the stamp to the next millisecond.
func next(last linkd.HLC, wall int64) linkd.HLC {
	if wall > last.WallMillis() {
		return linkd.MakeHLC(wall, 0)
	}
	if last.Logical() == 0xffff {
		return linkd.MakeHLC(last.WallMillis()+1, 0)
	}
	return last + 1
}
