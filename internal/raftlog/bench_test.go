package raftlog

import (
	"context"
	"sync"
	"testing"

	"github.com/linkd-dev/linkd"
)

// BenchmarkAppend measures appends of one event through the leader and
// through a follower, one at a time: the latency of a cluster's write path.
func BenchmarkAppend(b *testing.B) {
	_, ms := cluster3(b, nil)
	var leader, follower *tm
	for _, x := range ms {
		if x.m.IsLeader() {
			leader = x
		} else {
			follower = x
		}
	}
	for _, bc := range []struct {
		name string
		via  *tm
	}{{"leader", leader}, {"follower", follower}} {
		b.Run(bc.name, func(b *testing.B) {
			evs := events(uint64(len(bc.name)), b.N)
			b.ResetTimer()
			for i := range b.N {
				if _, err := bc.via.log().Append(context.Background(), evs[i:i+1]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendBatched measures durable events/s with 16 concurrent
// writers of batches of 100 through every member.
func BenchmarkAppendBatched(b *testing.B) {
	_, ms := cluster3(b, nil)
	const writers, batch = 16, 100
	evs := events(7, b.N*batch)
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan []linkd.Event)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				if _, err := ms[w%3].log().Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for i := range b.N {
		next <- evs[i*batch : (i+1)*batch]
	}
	close(next)
	wg.Wait()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
