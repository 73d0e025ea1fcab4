package demo

import (
	"slices"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// tracker measures the lane from the outside, as the nodes report it: what
// each origin recorded (the driver's acknowledgements) and what each peer
// verified and stored (node.OnReplicated). It is called from the nodes'
// link handlers and from the driver at once.
type tracker struct {
	mu         sync.Mutex
	base       map[string]int64        // origin → its log size when the run began; guarded by mu
	acks       map[string][]int64      // origin → ack time (unix ns) of entry base+i; 0 not yet; guarded by mu
	faulty     map[string][]bool       // origin → entry recorded while a fault was on; guarded by mu
	skipFrom   map[string]int64        // origin → entries from here are not measured (a forked log); guarded by mu
	lat        []time.Duration         // every (entry, peer) delivery of this run's entries; guarded by mu
	latClean   []time.Duration         // the same, for entries recorded while no fault was on; guarded by mu
	replicated int                     // entries verified at peers; guarded by mu
	payloads   int                     // of which stored with their payload; guarded by mu
	measure    map[string]int64        // origin → entries below this are counted but not timed; guarded by mu
	verified   map[[2]string][]applied // (peer, origin) → its replica's sizes as frames were verified; guarded by mu
	ralc       []seenEvent             // re-allocations seen at peers; guarded by mu
}

// applied is a replica's size after a frame, and when it was verified.
type applied struct {
	size int64
	at   time.Time
}

// seenEvent is an event some peer verified.
type seenEvent struct {
	peer string
	at   time.Time
	ev   linkd.Event
}

func newTracker() *tracker {
	return &tracker{base: map[string]int64{}, acks: map[string][]int64{}, faulty: map[string][]bool{}, skipFrom: map[string]int64{},
		measure: map[string]int64{}, verified: map[[2]string][]applied{}}
}

// begin notes where origin's log stands as the run begins.
func (t *tracker) begin(origin string, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.base[origin] = size
}

// acked notes the acknowledgement of entries the origin recorded.
func (t *tracker) acked(origin string, acks []linkd.Ack, at time.Time, fault bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	base := t.base[origin]
	fresh := 0
	for _, a := range acks {
		if a.Duplicate || a.LogIndex < base {
			continue
		}
		fresh++
		i := int(a.LogIndex - base)
		for len(t.acks[origin]) <= i {
			t.acks[origin] = append(t.acks[origin], 0)
			t.faulty[origin] = append(t.faulty[origin], false)
		}
		if t.acks[origin][i] == 0 {
			t.acks[origin][i] = at.UnixNano()
			t.faulty[origin][i] = fault
		}
	}
	return fresh
}

// measureFrom times origin's entries from index on only (the history,
// recorded in one burst before the window, is not timed).
func (t *tracker) measureFrom(origin string, index int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.measure[origin] = index
}

// skip stops measuring origin's entries from index on: a forked log's
// entries at those indexes are not the ones the driver saw acknowledged.
func (t *tracker) skip(origin string, from int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.skipFrom[origin] = from
}

// applied is node peer's OnReplicated.
func (t *tracker) applied(peer, origin string, from int64, res partylog.ApplyResult) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replicated += int(res.Size - from)
	t.payloads += res.Payloads
	base := t.base[origin]
	acks := t.acks[origin]
	skip, skipping := t.skipFrom[origin]
	k := [2]string{peer, origin}
	t.verified[k] = append(t.verified[k], applied{res.Size, now})
	for i := max(from, base, t.measure[origin]); i < res.Size; i++ {
		if skipping && i >= skip {
			break
		}
		var d time.Duration
		fault := false
		if j := int(i - base); j < len(acks) && acks[j] != 0 {
			// Zero when the peer verified it before the origin's caller
			// had its answer.
			d = max(0, time.Duration(now.UnixNano()-acks[j]))
			fault = t.faulty[origin][j]
		}
		t.lat = append(t.lat, d)
		if !fault {
			t.latClean = append(t.latClean, d)
		}
	}
	for _, e := range res.Events {
		if e.EventType == linkd.Inventory && e.InventoryEventTypeCode == "RALC" {
			t.ralc = append(t.ralc, seenEvent{peer, now, e})
		}
	}
}

// verifiedAt returns when peer verified entry index of origin's log in
// this run, if it has.
func (t *tracker) verifiedAt(peer, origin string, index int64) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.verified[[2]string{peer, origin}]
	i, _ := slices.BinarySearchFunc(v, index, func(a applied, idx int64) int {
		if a.size <= idx {
			return -1
		}
		return 1
	})
	if i == len(v) {
		return time.Time{}, false
	}
	return v[i].at, true
}

// reallocations returns the RALC events peers have verified so far.
func (t *tracker) reallocations() []seenEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ralc)
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Latency{N: len(d), P50: q(0.50), P99: q(0.99), Max: d[len(d)-1]}
}

// figures returns the counts and latencies so far.
func (t *tracker) figures() (replicated, payloads int, all, clean Latency) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replicated, t.payloads, summarize(t.lat), summarize(t.latClean)
}
