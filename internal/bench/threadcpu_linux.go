//go:build linux

package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time the calling thread has used, in the
// nanoseconds the kernel counts (CLOCK_THREAD_CPUTIME_ID), or 0 where it
// cannot be read. On a virtual machine the time the host gave another guest
// (steal) is not in it, so it measures the work, not the neighbours.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
