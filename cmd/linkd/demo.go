package main

import (
	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Record a month of the Vietnam→EU lane, prove an event and audit the log",
		Long: `demo runs, on this machine and offline, the Haiphong terminal's party log:
it records a month of realistic DCSA events (bookings, container moves, vessel
calls), shows one container's timeline from the log's indexes, writes a proof
bundle for one event and verifies it the way 'linkd verify' does, shows that a
forged copy fails, and audits the whole log.

Data stays in --dir (default: linkd-demo in the system temp directory) so a
second run continues the same log; --fresh starts over. Ctrl-C stops cleanly:
every acknowledged event is durable and the next run resumes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Out = cmd.OutOrStdout()
			_, err := demo.Run(cmd.Context(), o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "data directory (default: linkd-demo in the system temp directory)")
	cmd.Flags().BoolVar(&o.Fresh, "fresh", false, "remove the data of earlier runs first")
	cmd.Flags().IntVar(&o.Events, "events", 20000, "events to record")
	return cmd
}
