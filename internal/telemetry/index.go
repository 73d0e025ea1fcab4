package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Index remembers, for the newest appends to a log, which sampled trace
// wrote which range of indexes. A link sender asks it which traces a frame
// carries on; it holds a bounded number of ranges and forgets the oldest, so a
// peer that catches up long after an append simply gets no trace for it.
// Safe for concurrent use.
type Index struct {
	mu   sync.Mutex
	ring []tracedRange // guarded by mu
	next int           // guarded by mu: where the next range goes
	n    int           // guarded by mu: ranges held
}

type tracedRange struct {
	first, last int64
	sc          trace.SpanContext
}

// NewIndex returns an index of up to size ranges; zero means 4096.
func NewIndex(size int) *Index {
	if size <= 0 {
		size = 4096
	}
	return &Index{ring: make([]tracedRange, size)}
}

// Add records that the span sc appended the log indexes first..last. Spans
// that are not sampled are not kept.
func (x *Index) Add(first, last int64, sc trace.SpanContext) {
	if x == nil || !sc.IsSampled() || last < first {
		return
	}
	x.mu.Lock()
	x.ring[x.next] = tracedRange{first, last, sc}
	x.next = (x.next + 1) % len(x.ring)
	x.n = min(x.n+1, len(x.ring))
	x.mu.Unlock()
}

// Lookup returns up to max span contexts whose ranges overlap the log
// indexes [from, to), oldest first.
func (x *Index) Lookup(from, to int64, max int) []trace.SpanContext {
	if x == nil || max <= 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n == 0 {
		return nil
	}
	var out []trace.SpanContext
	start := (x.next - x.n + len(x.ring)) % len(x.ring)
	for i := 0; i < x.n && len(out) < max; i++ {
		r := &x.ring[(start+i)%len(x.ring)]
		if r.first < to && r.last >= from {
			out = append(out, r.sc)
		}
	}
	return out
}
