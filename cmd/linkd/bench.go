package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure linkd on this machine",
		Long:  "bench runs linkd's benchmarks against real stores on this machine and prints the figures.",
	}
	var profile, memProfile, traceFile string
	var stops []func()
	cmd.PersistentFlags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	cmd.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a profile of the run's heap allocations to this file (go tool pprof -sample_index=alloc_space reads it): what makes garbage")
	cmd.PersistentFlags().StringVar(&traceFile, "trace", "", "write an execution trace of the run to this file (go tool trace reads it): where goroutines wait, for latency")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		start := func(name string, begin func(io.Writer) error, end func()) error {
			if name == "" {
				return nil
			}
			f, err := os.Create(name)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if err := begin(f); err != nil {
				f.Close()
				return &exitError{exitUsage, err}
			}
			stops = append(stops, func() { end(); f.Close() })
			return nil
		}
		if err := start(profile, pprof.StartCPUProfile, pprof.StopCPUProfile); err != nil {
			return err
		}
		if err := start(memProfile, startAllocProfile, stopAllocProfile); err != nil {
			return err
		}
		return start(traceFile, trace.Start, trace.Stop)
	}
	cmd.PersistentPostRun = func(cmd *cobra.Command, args []string) {
		for _, stop := range stops {
			stop()
		}
	}
	cmd.AddCommand(newBenchIngestCmd(), newBenchHTTPCmd(), newBenchShipmentCmd(), newBenchPropagationCmd(), newBenchPropagationMemberCmd(), newBenchReallocationCmd(), newBenchAuditCmd(), newBenchWebhooksCmd(),
		newBenchEDICmd(), newBenchDocsCmd(), newBenchFailoverCmd())
	return cmd
}

// The allocation profile samples one allocation in 64 KiB of allocated bytes
// (Go's default is 512 KiB), enough to see a benchmark's garbage without
// slowing it much. The profile is written when the run ends.
var allocProfileOut io.Writer

func startAllocProfile(w io.Writer) error {
	runtime.MemProfileRate = 64 << 10
	allocProfileOut = w
	return nil
}

func stopAllocProfile() {
	if allocProfileOut == nil {
		return
	}
	if err := pprof.Lookup("allocs").WriteTo(allocProfileOut, 0); err != nil {
		fmt.Fprintln(os.Stderr, "linkd: write allocation profile:", err)
	}
	allocProfileOut = nil
}

// ingestFlags are the flags `bench ingest` and `bench http` share.
type ingestFlags struct {
	events    int
	dir       string
	scenarios string
	json      bool
}

func (f *ingestFlags) add(cmd *cobra.Command, eventsHelp, example string) {
	cmd.Flags().IntVar(&f.events, "events", 0, eventsHelp)
	cmd.Flags().StringVar(&f.dir, "dir", "", "where the run's stores go: a fresh directory under it, removed after (default: the system temp dir)")
	cmd.Flags().StringVar(&f.scenarios, "scenarios", "", "comma-separated BATCHxCLIENTS, e.g. "+example)
	cmd.Flags().BoolVar(&f.json, "json", false, "print results as JSON")
}

// config is the benchmark's configuration; progress goes to stderr unless
// the output is JSON.
func (f *ingestFlags) config(cmd *cobra.Command) (bench.IngestConfig, error) {
	cfg := bench.IngestConfig{Dir: f.dir, Events: f.events}
	if f.scenarios != "" {
		s, err := parseScenarios(f.scenarios)
		if err != nil {
			return cfg, &exitError{exitUsage, err}
		}
		cfg.Scenarios = s
	}
	if !f.json {
		cfg.Progress = cmd.ErrOrStderr()
	}
	return cfg, nil
}

func newBenchIngestCmd() *cobra.Command {
	var f ingestFlags
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Durable events/s and ack latency of one party log",
		Long: `ingest appends realistic DCSA-shaped lane events to a fresh party log on a
real Pebble store for each scenario (batch size × concurrent clients), and
prints durable events per second and p50/p99 acknowledgement latency. Every
acknowledged event is fsynced, hashed into the Merkle tree and covered by a
signed checkpoint, as in production.

The default scenarios are batches of 1, 100 and 1,000 from one client and
from four, 64 concurrent single-event writers, and 64 clients sending
batches of 100.`,
		Example: `  linkd bench ingest
  linkd bench ingest --scenarios 100x1,1x64 --events 100000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			res, shape, err := bench.Ingest(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"shape": shape, "results": res})
			}
			bench.PrintIngest(cmd.OutOrStdout(), res, shape)
			return nil
		},
	}
	f.add(cmd, "events per scenario (default 250,000, so that the store flushes and compacts as under steady load; 20,000 for one client with batches of 1)", "1x1,100x1,1000x4,1x64")
	return cmd
}

func parseScenarios(s string) ([]bench.IngestScenario, error) {
	var out []bench.IngestScenario
	for _, part := range strings.Split(s, ",") {
		b, c, ok := strings.Cut(strings.TrimSpace(part), "x")
		batch, err1 := strconv.Atoi(b)
		clients, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || batch < 1 || clients < 1 || batch > 10000 || clients > 1024 {
			return nil, fmt.Errorf("--scenarios: %q is not BATCHxCLIENTS (batch 1-10000, clients 1-1024), e.g. 100x4", part)
		}
		out = append(out, bench.IngestScenario{Batch: batch, Clients: clients})
	}
	return out, nil
}
