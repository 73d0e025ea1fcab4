package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/bench"
)

func newBenchAuditCmd() *cobra.Command {
	var (
		cfg    bench.AuditConfig
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Time a full audit of a party log (target: 1M entries in ≤ 3 s)",
		Long: `audit fills a party log on a real Pebble store with --events lane events,
appended --batch at a time (each append a group commit with its own signed
checkpoint), its records sealed under their shipments' keys as a node keeps
them. It closes the log, opens it again as a restarted node would, and times
the audit a node's operator or auditor runs: every record opened, decoded
and hashed to its stored leaf, the Merkle tree rebuilt from the leaves and
every stored tree hash checked against it, and every checkpoint the log
ever signed verified and checked against the root the tree has at its size.

Smaller batches mean more checkpoints to verify: 1,000,000 events in
batches of 100 carry 10,000.`,
		Example: `  linkd bench audit
  linkd bench audit --events 200000 --batch 10 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Events < 1 || cfg.Batch < 1 || cfg.Batch > linkd.MaxBatchEvents {
				return &exitError{exitUsage, fmt.Errorf("--events must be at least 1 and --batch 1 to %d (got %d and %d)", linkd.MaxBatchEvents, cfg.Events, cfg.Batch)}
			}
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Audit(cmd.Context(), cfg)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			bench.PrintAudit(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Events, "events", 1_000_000, "events in the log")
	cmd.Flags().IntVar(&cfg.Batch, "batch", 100, "events per append, so per signed checkpoint (1 to 10,000)")
	cmd.Flags().StringVar(&cfg.Dir, "dir", "", "where the log's store goes, in a fresh directory removed after (default: the system temp dir)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
