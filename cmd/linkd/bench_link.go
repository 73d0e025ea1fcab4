package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/bench"
)

func newBenchPropagationCmd() *cobra.Command {
	var (
		nodesFlag string
		rate      int
		duration  time.Duration
		catchup   int
		dir       string
		procs     bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "propagation",
		Short: "Origin acknowledgement → verified and queryable at linked peers; catch-up rate; wire overhead",
		Long: `propagation starts real nodes — each with its own Pebble store, log key,
witness key and TLS certificate, listening on loopback — and links every node
to every other over mutual TLS. They run in this process, or with --procs each
in a process of its own, as parties run theirs. The first node records
--rate events/s for --duration, each shared with every party, and the run
measures, for every event and every peer, the time from the origin's
acknowledgement to the moment the peer has verified the frame holding it and
made it queryable (durable and indexed).

The default 30 seconds hold three memtable flushes of every store (about
one every 9 seconds at 5,000 events/s). All the nodes store the same events,
so they flush at the same moment: that is the load that sets p99, and a
window too short to hold a flush measures less than steady state.

The origin reaches one peer through a counting TCP proxy: the bytes on the
wire between them (TLS, HTTP/1.1 and frames, both ways) are compared with the
canonical bytes of the events carried, to give the replication overhead.
The cpu column is the user and system time of the whole run, setup included,
of every process taking part.

Then, unless --catchup 0, a second run takes one peer down, records
--catchup events at the origin, waits until the origin's store has finished
the compactions that recording left (an outage that long, at a lane's rate,
lasts minutes, in which the origin compacts as it goes) and restarts the
peer: the rate at which it verifies and stores them is the catch-up rate.`,
		Example: `  linkd bench propagation
  linkd bench propagation --nodes 3,7 --rate 5000 --duration 60s --catchup 1000000
  linkd bench propagation --nodes 7 --procs --catchup 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var counts []int
			for _, s := range strings.Split(nodesFlag, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n < 2 || n > 8 {
					return &exitError{exitUsage, fmt.Errorf("--nodes %q: want node counts from 2 to 8, comma-separated", nodesFlag)}
				}
				counts = append(counts, n)
			}
			out := cmd.OutOrStdout()
			var results struct {
				Runs    []bench.PropagationResult `json:"runs"`
				CatchUp *bench.CatchUpResult      `json:"catchUp,omitempty"`
			}
			if !asJSON {
				fmt.Fprintf(out, "propagation, origin ack → verified and queryable at each peer (%d events/s for %v)\n", rate, duration)
				fmt.Fprintf(out, "%-6s %8s %10s %9s %9s %9s %10s %7s\n", "nodes", "events", "events/s", "p50", "p99", "max", "overhead", "cpu s")
			}
			var member func() *exec.Cmd
			if procs {
				exe, err := os.Executable()
				if err != nil {
					return &exitError{exitInternal, err}
				}
				member = func() *exec.Cmd { return exec.Command(exe, "bench", "propagation-member") }
			}
			for _, n := range counts {
				res, err := bench.Propagation(cmd.Context(), bench.PropagationConfig{Dir: dir, Nodes: n, Rate: rate, Duration: duration, Member: member})
				if err != nil {
					return &exitError{exitInternal, err}
				}
				results.Runs = append(results.Runs, res)
				if !asJSON {
					fmt.Fprintf(out, "%-6d %8d %10.0f %9s %9s %9s %9.1f%% %7.1f\n", n, res.Events, res.Rate,
						ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.Max), 100*res.Overhead(), res.CPU.Seconds())
				}
			}
			if !asJSON {
				fmt.Fprintf(out, "overhead: wire bytes origin↔one peer (TLS, HTTP, frames, acks) beyond the events' canonical bytes\n")
			}
			if catchup > 0 {
				var progress = cmd.ErrOrStderr()
				if asJSON {
					progress = nil
				}
				res, err := bench.CatchUp(cmd.Context(), bench.CatchUpConfig{Dir: dir, Events: catchup}, progress)
				if err != nil {
					return &exitError{exitInternal, err}
				}
				results.CatchUp = &res
				if !asJSON {
					fmt.Fprintf(out, "catch-up of a peer back from an outage: %d events in %v: %.0f events/s (first frame %v after restart)\n",
						res.Events, res.Transfer.Round(time.Millisecond), res.Rate(), res.FirstFrame.Round(time.Millisecond))
				}
			}
			if asJSON {
				return printJSON(out, results)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&nodesFlag, "nodes", "3,7", "node counts to run, comma-separated (2 to 8)")
	cmd.Flags().IntVar(&rate, "rate", 5000, "events per second the origin records")
	cmd.Flags().DurationVar(&duration, "duration", 30*time.Second, "how long the origin records (long enough for memtable flushes: see above)")
	cmd.Flags().IntVar(&catchup, "catchup", 200_000, "events recorded while a peer is down (0 skips the catch-up run)")
	cmd.Flags().StringVar(&dir, "dir", "", "where the nodes' directories go (default: the system temp dir; removed after)")
	cmd.Flags().BoolVar(&procs, "procs", false, "run each node in a process of its own (the catch-up run stays in this process)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the results as JSON: {"runs": [one per node count], "catchUp": {...}}, times in milliseconds`)
	return cmd
}

// newBenchPropagationMemberCmd is one node of 'bench propagation --procs',
// driven over its standard input and output.
func newBenchPropagationMemberCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "propagation-member",
		Short:  "One node of 'linkd bench propagation --procs' (run by it, not by hand)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bench.PropagationMember(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()); err != nil {
				return &exitError{exitInternal, err}
			}
			return nil
		},
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
