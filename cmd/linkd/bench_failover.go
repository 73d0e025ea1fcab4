package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/raftlog/localcluster"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// failoverOptions are `linkd bench failover`'s flags.
type failoverOptions struct {
	kills     int
	writers   int
	batch     int
	events    int // throughput run: events per node kind
	clients   int // throughput run: concurrent clients
	tbatch    int // throughput run: events per request
	heartbeat time.Duration
	dir, bin  string
	json      bool
}

func newBenchFailoverCmd() *cobra.Command {
	var o failoverOptions
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "A 3-member cluster: leader killed under load → next acknowledged write; throughput beside a single node",
		Long: `failover starts a party's node as a cluster of three real member processes on
this machine ('linkd node --cluster', Raft over mutual TLS on loopback) and
has --writers clients record events through every member without pause. It
then SIGKILLs the leader --kills times, restarting it and waiting until it has
caught up before the next kill, and for each kill measures the gap from the
kill to the first acknowledgement of a write sent after it: the time the
party could not record. It prints the gap's p50, p99 and max.

Then it measures durable throughput, --tevents events in batches of --tbatch
from --clients concurrent clients, on the cluster (clients spread over the
members) and on a single node process, and prints them side by side.`,
		Example: `  linkd bench failover
  linkd bench failover --kills 50 --writers 16 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.kills < 1 || o.writers < 1 || o.batch < 1 || o.clients < 1 || o.tbatch < 1 {
				return &exitError{exitUsage, fmt.Errorf("--kills, --writers, --batch, --clients and --tbatch must be at least 1")}
			}
			if o.bin == "" {
				exe, err := os.Executable()
				if err != nil {
					return &exitError{exitUsage, err}
				}
				o.bin = exe
			}
			progress := cmd.ErrOrStderr()
			if o.json {
				progress = io.Discard
			}
			res, err := benchFailover(cmd.Context(), o, progress)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			printFailover(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.kills, "kills", 20, "times to SIGKILL the leader")
	f.IntVar(&o.writers, "writers", 8, "concurrent clients writing during the kills")
	f.IntVar(&o.batch, "batch", 10, "events per write during the kills")
	f.IntVar(&o.events, "tevents", 100_000, "events per throughput run (0 skips them)")
	f.IntVar(&o.clients, "clients", 16, "concurrent clients of the throughput runs")
	f.IntVar(&o.tbatch, "tbatch", 100, "events per request of the throughput runs")
	f.DurationVar(&o.heartbeat, "heartbeat", 0, "the members' cluster.heartbeat_timeout (default: the node's default)")
	f.StringVar(&o.dir, "dir", "", "where the members' directories go (default: a temporary directory, removed after)")
	f.StringVar(&o.bin, "bin", "", "the linkd binary to run members with (default: this one)")
	f.BoolVar(&o.json, "json", false, "print the results as JSON")
	f.MarkHidden("bin")
	return cmd
}

// FailoverResult is what `bench failover` measured.
type FailoverResult struct {
	Kills      int                `json:"kills"`
	GapsMillis []float64          `json:"gapsMillis"` // per kill, in order
	P50Millis  float64            `json:"p50Millis"`
	P99Millis  float64            `json:"p99Millis"`
	MaxMillis  float64            `json:"maxMillis"`
	Writes     int64              `json:"writesAcknowledged"`
	Throughput []ThroughputResult `json:"throughput,omitempty"`
}

// ThroughputResult is one durable-throughput run.
type ThroughputResult struct {
	Target       string  `json:"target"` // "single node" or "3-member cluster"
	Events       int     `json:"events"`
	Batch        int     `json:"batch"`
	Clients      int     `json:"clients"`
	EventsPerSec float64 `json:"eventsPerSecond"`
	P50Millis    float64 `json:"p50AckMillis"`
	P99Millis    float64 `json:"p99AckMillis"`
}

func benchFailover(ctx context.Context, o failoverOptions, progress io.Writer) (FailoverResult, error) {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "linkd-bench-failover-")
		if err != nil {
			return FailoverResult{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Fprintf(progress, "failover: starting 3 members…\n")
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := localcluster.Start(sctx, localcluster.Options{Dir: filepath.Join(dir, "cluster"), Binary: o.bin, HeartbeatTimeout: o.heartbeat})
	cancel()
	if err != nil {
		return FailoverResult{}, err
	}
	defer c.Close()
	res := FailoverResult{Kills: o.kills}
	if err := killLeaders(ctx, c, o, &res, progress); err != nil {
		return res, err
	}
	if o.events > 0 {
		clients := make([]*client.Client, len(c.Members))
		for i, m := range c.Members {
			clients[i] = m.Client
		}
		fmt.Fprintf(progress, "throughput: 3-member cluster, %d events…\n", o.events)
		tc, err := clusterThroughput(ctx, "3-member cluster", clients, o, 1)
		if err != nil {
			return res, err
		}
		c.Close()
		fmt.Fprintf(progress, "throughput: single node, %d events…\n", o.events)
		s, err := localcluster.StartSingle(ctx, filepath.Join(dir, "single"), o.bin)
		if err != nil {
			return res, err
		}
		defer s.Close()
		ts, err := clusterThroughput(ctx, "single node", []*client.Client{s.Client()}, o, 2)
		if err != nil {
			return res, err
		}
		res.Throughput = []ThroughputResult{ts, tc}
	}
	return res, nil
}

// killWindow is one kill: when it happened and the first acknowledgement of
// a write sent after it.
type killWindow struct {
	at    time.Time
	first time.Time
	done  chan struct{}
}

func killLeaders(ctx context.Context, c *localcluster.Cluster, o failoverOptions, res *FailoverResult, progress io.Writer) error {
	var (
		mu      sync.Mutex
		current *killWindow
		acked   atomic.Int64
	)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range o.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := scenario.NewGenerator(uint64(1000+w), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
			for k := 0; lctx.Err() == nil; k++ {
				body, _ := json.Marshal(gen.Batch(o.batch))
				for attempt := 0; lctx.Err() == nil; attempt++ {
					m := c.Members[(w+k+attempt)%len(c.Members)]
					if !m.Serving() {
						continue
					}
					sent := time.Now()
					rctx, cancel := context.WithTimeout(lctx, 15*time.Second)
					_, err := m.Client.AppendJSON(rctx, body)
					cancel()
					if err == nil {
						now := time.Now()
						acked.Add(1)
						mu.Lock()
						if kw := current; kw != nil && kw.first.IsZero() && sent.After(kw.at) {
							kw.first = now
							close(kw.done)
						}
						mu.Unlock()
						break
					}
					select {
					case <-lctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		}()
	}
	defer func() {
		stopLoad()
		wg.Wait()
		res.Writes = acked.Load()
	}()
	for k := range o.kills {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := c.WaitHealthy(hctx, 2000)
		cancel()
		if err != nil {
			return err
		}
		// Steady state: the load runs on every member for a moment.
		before := acked.Load()
		for acked.Load() < before+int64(4*o.writers) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		leader, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		kw := &killWindow{done: make(chan struct{})}
		mu.Lock()
		kw.at = time.Now()
		current = kw
		mu.Unlock()
		if err := c.Kill(leader); err != nil {
			return err
		}
		select {
		case <-kw.done:
		case <-time.After(time.Minute):
			return fmt.Errorf("kill %d: no write acknowledged for a minute after the leader (%s) was killed", k+1, c.Members[leader].ID)
		case <-ctx.Done():
			return ctx.Err()
		}
		gap := kw.first.Sub(kw.at)
		res.GapsMillis = append(res.GapsMillis, failoverMillis(gap))
		fmt.Fprintf(progress, "kill %2d: leader %s, next acknowledged write after %s\n", k+1, c.Members[leader].ID, gap.Round(time.Millisecond))
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = c.Restart(rctx, leader)
		cancel()
		if err != nil {
			return err
		}
	}
	gaps := slices.Clone(res.GapsMillis)
	slices.Sort(gaps)
	res.P50Millis = gaps[(len(gaps)-1)/2]
	res.P99Millis = gaps[min(len(gaps)-1, (len(gaps)*99+99)/100-1)]
	res.MaxMillis = gaps[len(gaps)-1]
	return nil
}

// clusterThroughput records o.events events through clients (spread evenly) and
// reports the durable rate and ack latency. Bodies are encoded before the
// clock starts.
func clusterThroughput(ctx context.Context, target string, nodes []*client.Client, o failoverOptions, seed uint64) (ThroughputResult, error) {
	per := max(o.events/(o.clients*o.tbatch), 1)
	gen := scenario.NewGenerator(seed*7919, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	bodies := make([][][]byte, o.clients)
	for i := range bodies {
		for range per {
			b, err := json.Marshal(gen.Batch(o.tbatch))
			if err != nil {
				return ThroughputResult{}, err
			}
			bodies[i] = append(bodies[i], b)
		}
	}
	lat := make([][]time.Duration, o.clients)
	errs := make([]error, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := nodes[i%len(nodes)]
			for _, b := range bodies[i] {
				t0 := time.Now()
				if _, err := c.AppendJSON(ctx, b); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return ThroughputResult{}, fmt.Errorf("%s: %w", target, err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	n := len(all) * o.tbatch
	return ThroughputResult{Target: target, Events: n, Batch: o.tbatch, Clients: o.clients,
		EventsPerSec: float64(n) / elapsed.Seconds(),
		P50Millis:    failoverMillis(all[len(all)/2]), P99Millis: failoverMillis(all[len(all)*99/100])}, nil
}

func failoverMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printFailover(w io.Writer, r FailoverResult) {
	fmt.Fprintf(w, "failover, 3 members on this machine: leader SIGKILLed under load → next acknowledged write (%d kills, %d writes acknowledged)\n", r.Kills, r.Writes)
	fmt.Fprintf(w, "  p50 %.0f ms   p99 %.0f ms   max %.0f ms   (target ≤ 1000 ms; etcd, 3 members here: 1210 ms)\n", r.P50Millis, r.P99Millis, r.MaxMillis)
	if len(r.Throughput) == 0 {
		return
	}
	fmt.Fprintf(w, "\ndurable throughput, batches of %d, %d clients\n", r.Throughput[0].Batch, r.Throughput[0].Clients)
	fmt.Fprintf(w, "%-18s %10s %12s %10s %10s\n", "", "events", "events/s", "p50 ms", "p99 ms")
	for _, t := range r.Throughput {
		fmt.Fprintf(w, "%-18s %10d %12.0f %10.2f %10.2f\n", t.Target, t.Events, t.EventsPerSec, t.P50Millis, t.P99Millis)
	}
	fmt.Fprintf(w, "(target for the cluster ≥ 40,000 events/s; etcd, 3 members here: 9,000-12,000 puts/s)\n")
}
