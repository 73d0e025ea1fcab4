package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/edi"
)

// benchEDIConfig shapes `linkd bench edi`.
type benchEDIConfig struct {
	Messages int           // messages (EDIFACT) or transaction sets (X12) in the large interchanges
	Statuses int           // statuses per EDIFACT message
	Duration time.Duration // how long each case runs
}

// benchEDIResult is one case's figures.
type benchEDIResult struct {
	Case            string  `json:"case"`
	Bytes           int     `json:"bytes"`
	Segments        int     `json:"segments"`
	Statuses        int     `json:"statuses"`
	Interchanges    int     `json:"interchanges"`
	InterchangesSec float64 `json:"interchangesPerSecond"`
	StatusesSec     float64 `json:"statusesPerSecond"`
	MBSec           float64 `json:"megabytesPerSecond"`
}

// benchEDI translates synthetic interchanges on one core (GOMAXPROCS 1,
// restored after): large ones and single-status ones, in both syntaxes,
// each for cfg.Duration. Translation is the whole of it: tokenizing,
// envelope checks, mapping, linkd validation of every event and the
// acknowledgement.
func benchEDI(ctx context.Context, cfg benchEDIConfig) ([]benchEDIResult, error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	cases := []struct {
		name string
		data []byte
	}{
		{fmt.Sprintf("IFTSTA %d×%d", cfg.Messages, cfg.Statuses), edi.Sample(edi.EDIFACT, cfg.Messages, cfg.Statuses)},
		{"IFTSTA single status", edi.Sample(edi.EDIFACT, 1, 1)},
		{fmt.Sprintf("X12 315 ×%d", cfg.Messages*cfg.Statuses), edi.Sample(edi.X12, cfg.Messages*cfg.Statuses, 0)},
		{"X12 315 single status", edi.Sample(edi.X12, 1, 0)},
	}
	opts := edi.Options{Origin: "bench-party"}
	var out []benchEDIResult
	for _, c := range cases {
		res, err := edi.Translate(c.data, opts)
		if err != nil {
			return nil, fmt.Errorf("bench edi: %s: %w", c.name, err)
		}
		runtime.GC()
		n, start := 0, time.Now()
		for time.Since(start) < cfg.Duration || n == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if _, err := edi.Translate(c.data, opts); err != nil {
				return nil, fmt.Errorf("bench edi: %s: %w", c.name, err)
			}
			n++
		}
		secs := time.Since(start).Seconds()
		out = append(out, benchEDIResult{Case: c.name, Bytes: len(c.data), Segments: res.Segments, Statuses: res.Statuses, Interchanges: n,
			InterchangesSec: float64(n) / secs, StatusesSec: float64(n*res.Statuses) / secs, MBSec: float64(n*len(c.data)) / secs / 1e6})
	}
	return out, nil
}

func newBenchEDICmd() *cobra.Command {
	cfg := benchEDIConfig{Messages: 200, Statuses: 10, Duration: 2 * time.Second}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edi",
		Short: "EDI interchanges and status segments translated per second, on one core",
		Long: `edi translates synthetic but realistic interchanges on one core: IFTSTA
messages of --statuses statuses each and X12 315 transaction sets (one status
each), --messages of them in one interchange, and interchanges of a single
status. A status follows a container through a lane, with its references,
time, place, vessel and equipment. Each translation tokenizes, checks the
envelopes, maps, validates every event as the log would and makes the
acknowledgement. The target is 50,000 status segments per second, so
translation is never what limits an import.`,
		Example: `  linkd bench edi
  linkd bench edi --messages 1000 --statuses 20 --duration 5s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Messages < 1 || cfg.Statuses < 1 || cfg.Duration <= 0 {
				return &exitError{exitUsage, fmt.Errorf("--messages and --statuses must be at least 1 and --duration positive")}
			}
			res, err := benchEDI(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintln(out, "edi translation on one core: tokenize, check envelopes, map, validate, acknowledge")
			fmt.Fprintf(out, "%-24s %9s %9s %15s %13s %8s\n", "", "segments", "statuses", "interchanges/s", "statuses/s", "MB/s")
			for _, r := range res {
				fmt.Fprintf(out, "%-24s %9d %9d %15.1f %13.0f %8.1f\n", r.Case, r.Segments, r.Statuses, r.InterchangesSec, r.StatusesSec, r.MBSec)
			}
			fmt.Fprintln(out, "target: 50,000 status segments/s")
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Messages, "messages", cfg.Messages, "messages (transaction sets) in the large interchanges")
	f.IntVar(&cfg.Statuses, "statuses", cfg.Statuses, "statuses per IFTSTA message (the 315 has messages×statuses sets)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each case runs")
	f.BoolVar(&asJSON, "json", false, "print results as JSON")
	return cmd
}
