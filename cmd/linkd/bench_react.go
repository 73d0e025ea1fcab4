package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/bench"
)

func newBenchReallocationCmd() *cobra.Command {
	var (
		cfg    bench.ReallocationConfig
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "reallocation",
		Short: "Customs hold → orders re-allocated and verified at every distribution centre",
		Long: `reallocation starts five real nodes in this process — eu-customs, dc-hamburg,
dc-rotterdam, dc-antwerp and eu-retailer, each with its own Pebble store,
keys and TLS listener on loopback — and links every node to every other over
mutual TLS. Hamburg runs the rule "customs hold → re-allocate"; Rotterdam
and Antwerp share their stock of one SKU with it, each enough for half of
every round's orders.

Each round, customs opens a shipment naming Hamburg and the retailer, and
Hamburg allocates --orders orders against it (setup, not timed). Then
customs records a HOLD on the shipment, and the round measures the time
from customs' acknowledgement of the hold to the moment the last of the
RALC events it caused is verified and stored at the centre the order moves
to. Every round must move every order, split between Rotterdam and Antwerp.

Also printed: the hold reaching Hamburg, and Hamburg's log holding the
re-allocations (polled every 100 µs: an upper bound).`,
		Example: `  linkd bench reallocation
  linkd bench reallocation --rounds 1000 --orders 8 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Rounds < 1 || cfg.Orders < 2 {
				return &exitError{exitUsage, fmt.Errorf("--rounds must be at least 1 and --orders at least 2 (got %d, %d)", cfg.Rounds, cfg.Orders)}
			}
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Reallocation(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "reallocation, customs hold acknowledged → RALCs verified and stored at the centres (%d rounds of %d orders)\n", res.Rounds, cfg.Orders)
			fmt.Fprintf(out, "%-26s %6s %9s %9s %9s %9s\n", "", "n", "p50", "p95", "p99", "max")
			for _, row := range []struct {
				name string
				p    bench.Percentiles
			}{
				{"hold at hamburg", res.HoldAtHamburg},
				{"hamburg committed RALCs", res.HamburgCommit},
				{"RALCs at every centre", res.Latency},
			} {
				fmt.Fprintf(out, "%-26s %6d %9s %9s %9s %9s\n", row.name, row.p.N, ms(row.p.P50), ms(row.p.P95), ms(row.p.P99), ms(row.p.Max))
			}
			fmt.Fprintf(out, "orders re-allocated: %d (dc-rotterdam %d, dc-antwerp %d); rounds reaching both centres: %d of %d\n",
				res.Orders, res.ToRotterdam, res.ToAntwerp, res.BothCentres, res.Rounds)
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Rounds, "rounds", 200, "holds to measure, one shipment each")
	cmd.Flags().IntVar(&cfg.Orders, "orders", 4, "orders Hamburg allocates against each held shipment (at least 2)")
	cmd.Flags().StringVar(&cfg.Dir, "dir", "", "where the nodes' directories go (default: the system temp dir; removed after)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (durations in nanoseconds)")
	return cmd
}

func newBenchWebhooksCmd() *cobra.Command {
	var (
		cfg    bench.WebhooksConfig
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Signed webhook deliveries/s and latency with many subscriptions",
		Long: `webhooks starts one real node in this process and --receivers HTTP servers on
loopback, and creates --subs webhook subscriptions through the node's API
(owned by reader tokens, 250 each), spread over the receivers. Each receiver verifies every request's signature
with its subscription's secret and counts what it got.

By default subscription i matches the events of booking i, and the events
are spread over that many bookings: one delivery per event, each
subscription evaluating its filter on every event. With --match-all every
subscription matches every event: --subs deliveries per event.

The node then records --events scenario events in batches of --batch, as
fast as it acknowledges them unless --rate is given, and the run measures
deliveries per second (deliveries / first append → last delivery) and the
latency of each delivery, from the append's acknowledgement to the receiver
having the request. Unpaced, that latency includes the backlog; give --rate
to measure it under a steady load. Invalid signatures and missing
deliveries must both be 0.`,
		Example: `  linkd bench webhooks
  linkd bench webhooks --subs 100 --events 1000 --match-all
  linkd bench webhooks --rate 500 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Subs < 1 || cfg.Events < 1 || cfg.Receivers < 1 || cfg.Batch < 1 || cfg.Rate < 0 {
				return &exitError{exitUsage, fmt.Errorf("--subs, --events, --receivers and --batch must be at least 1, --rate at least 0")}
			}
			if cfg.Subs*cfg.Events > 50_000_000 {
				return &exitError{exitUsage, fmt.Errorf("--subs × --events is %d; at most 50,000,000 (the receivers keep a counter for each pair)", cfg.Subs*cfg.Events)}
			}
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Webhooks(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			match, pace := "one booking each", "unpaced"
			if res.MatchAll {
				match = "all match"
			}
			if cfg.Rate > 0 {
				pace = fmt.Sprintf("%d events/s", cfg.Rate)
			}
			fmt.Fprintf(out, "webhooks, event acknowledged → signed delivery verified at a loopback receiver (%s, %s, %d receivers)\n", match, pace, res.Receivers)
			fmt.Fprintf(out, "%-6s %7s %10s %13s %9s %9s %9s %9s\n", "subs", "events", "deliveries", "deliveries/s", "p50", "p99", "max", "ingest")
			fmt.Fprintf(out, "%-6d %7d %10d %13.0f %9s %9s %9s %9s\n", res.Subs, res.Events, res.Delivered, res.Rate,
				ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.Max), res.Ingest.Round(time.Millisecond))
			fmt.Fprintf(out, "expected %d; missing %d; invalid signatures %d; duplicates %d; unexpected %d; failed attempts %d\n",
				res.Expected, res.Missing, res.Invalid, res.Duplicates, res.Unexpected, res.FailedAttempts)
			fmt.Fprintf(out, "receiver connections %d; %d subscriptions created through the API in %v\n",
				res.Connections, res.Subs, res.Create.Round(time.Millisecond))
			if res.Missing > 0 || res.Invalid > 0 {
				return &exitError{exitInternal, fmt.Errorf("%d deliveries missing, %d invalid signatures; want none", res.Missing, res.Invalid)}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Subs, "subs", 1000, "webhook subscriptions")
	cmd.Flags().IntVar(&cfg.Events, "events", 2000, "events the node records")
	cmd.Flags().BoolVar(&cfg.MatchAll, "match-all", false, "every subscription matches every event (default: each matches one booking)")
	cmd.Flags().IntVar(&cfg.Receivers, "receivers", 4, "HTTP receivers on loopback the subscriptions are spread over")
	cmd.Flags().IntVar(&cfg.Batch, "batch", 100, "events per append")
	cmd.Flags().IntVar(&cfg.Rate, "rate", 0, "events per second the node records (0: as fast as it acknowledges)")
	cmd.Flags().DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "how long to wait for the last delivery after the last event")
	cmd.Flags().StringVar(&cfg.Dir, "dir", "", "where the node's directory goes (default: the system temp dir; removed after)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (durations in nanoseconds)")
	return cmd
}
