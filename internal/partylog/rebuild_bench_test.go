package partylog

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkRebuildAfterCrash measures what a crash costs at the next open: a
// fast store keeps up to tableEntries index entries in memory only (see
// pendingIndex), and the log opened after a crash makes them again from the
// event records, decrypting sealed ones, before it serves. Each iteration
// appends events until that many entries wait, with the flush stopped as a
// crash would stop it, and times the reopen. It reports the events made
// again, the reopen's seconds and the events it indexed per second.
func BenchmarkRebuildAfterCrash(b *testing.B) {
	var rebuilt, seconds float64
	for b.Loop() {
		b.StopTimer()
		h := &harness{t: b, dir: b.TempDir()}
		h.skey, h.vkey, _ = testKey(b)
		h.keysDir = b.TempDir() // sealed, as on a node
		h.open()
		h.log.ix.halt() // no flush from here on, not even at Close
		gen := events(91, 200_000)
		n := 0
		for waitingEntries(h.log.ix) < tableEntries {
			for i := n; i < n+500; i++ {
				gen[i%len(gen)].EventID = ""
				gen[i%len(gen)].Reason = "rebuild " + strconv.Itoa(i)
			}
			h.append(gen[n%len(gen) : n%len(gen)+500]...)
			n += 500
		}
		h.close()
		b.StartTimer()
		start := time.Now()
		h.open()
		seconds += time.Since(start).Seconds()
		b.StopTimer()
		if got := indexedSize(b, h); got != h.log.Size() {
			b.Fatalf("after the reopen the index covers %d of %d events", got, h.log.Size())
		}
		rebuilt += float64(n)
		h.close()
		b.StartTimer()
	}
	runs := float64(b.N)
	b.ReportMetric(rebuilt/runs, "events")
	b.ReportMetric(seconds/runs, "s/reopen")
	b.ReportMetric(rebuilt/seconds, "events/s")
}

// waitingEntries is how many index entries wait in memory for the flush.
func waitingEntries(p *pendingIndex) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.entries
}
