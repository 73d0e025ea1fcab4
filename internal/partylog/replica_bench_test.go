package partylog

import (
	"context"
	"testing"
)

// BenchmarkReplicaApply measures what a peer spends storing a linked log:
// frames of 5 events (one origin commit each, as at 5,000 events/s) verified
// and applied without fsync, as a link applies all but one frame a second.
func BenchmarkReplicaApply(b *testing.B) {
	const perFrame, frames = 5, 2000
	h := newHarness(b)
	evs := events(100, frames*perFrame)
	for i := 0; i < frames; i++ {
		h.append(evs[i*perFrame : (i+1)*perFrame]...)
	}
	type frameData struct {
		note    []byte
		entries []RemoteEntry
	}
	all := make([]frameData, frames)
	for i := range all {
		all[i].note, all[i].entries = frame(b, h.log, int64(i*perFrame), int64((i+1)*perFrame), nil)
	}
	n := 0
	var rep *Replica
	for b.Loop() {
		if n%frames == 0 {
			// A fresh peer once the frames run out.
			b.StopTimer()
			p := newPeerNode(b)
			var err error
			if rep, err = p.logs.Replica(terminal, h.vkey); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		f := all[n%frames]
		if _, err := rep.ApplyNoSync(context.Background(), int64((n%frames)*perFrame), f.note, f.entries, nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*perFrame), "ns/event")
}
