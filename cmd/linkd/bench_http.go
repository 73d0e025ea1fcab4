package main

import (
	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/bench"
)

func newBenchHTTPCmd() *cobra.Command {
	var f ingestFlags
	var goClient bool
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Durable events/s and latency through a node's HTTPS API",
		Long: `http starts a real node (store, log, tokens, TLS on loopback) for each scenario
(batch size × concurrent clients, each client with its own connection), posts
realistic events to POST /v1/events and prints acknowledged events per second
and p50/p99 request latency. Bodies are encoded before the clock starts.

The clients share this machine's cores with the node, so by default they are
a lean load generator, as wrk is: each writes prepared HTTP/1.1 requests whole
on its own kept-alive TLS connection and reads each answer, checking its
status and that it acknowledges every event. --go-client sends through linkd's
Go client package (net/http) instead, which takes about a quarter of a run's
CPU with single-event requests.

The default scenarios are the node's targets: 64 clients sending single-event
requests, and 64 clients sending batches of 100.`,
		Example: `  linkd bench http
  linkd bench http --scenarios 100x64 --events 200000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			cfg.GoClient = goClient
			res, err := bench.HTTPIngest(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			bench.PrintHTTPIngest(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f.add(cmd, "events per scenario (default 100,000; 40,000 for single-event requests)", "1x64,100x64")
	cmd.Flags().BoolVar(&goClient, "go-client", false, "send through linkd's Go client package (net/http) rather than the lean load generator")
	return cmd
}

func newBenchShipmentCmd() *cobra.Command {
	var cfg bench.ShipmentConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "shipment",
		Short: "Latency of GET /v1/shipments/{ref} with millions of events stored",
		Long: `shipment loads --events realistic events (about 40 per shipment) into a real
node, then times GET /v1/shipments/{ref} for random bookings: at the server
(through the node's handler in this process: token check, index scan, event
reads, derived state, JSON) and over HTTPS on loopback. --warmup untimed
queries for other bookings come first, so that the figures are those of a
node that has served a while, with its tables open, not of a fresh process.

Loading 10,000,000 events takes minutes and about 15 GB; give --dir to keep
the node and reuse it: a later run tops it up to --events and only measures.`,
		Example: `  linkd bench shipment --events 10000000 --dir /var/tmp/linkd-bench-10m`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Shipment(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			bench.PrintShipment(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Events, "events", 0, "events to store (default 1,000,000)")
	cmd.Flags().IntVar(&cfg.Queries, "queries", 0, "queries to time (default 2,000)")
	cmd.Flags().IntVar(&cfg.Warmup, "warmup", 0, "untimed queries first, for other bookings, as a node that has served a while has its tables open (default 500; -1 for none)")
	cmd.Flags().StringVar(&cfg.Dir, "dir", "", "node directory to create or reuse (default: temporary, removed after)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
