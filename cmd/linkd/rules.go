package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/rules"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List, add, delete and test the node's rules",
		Long: `A rule is a condition over every event the node holds, its own and its
partners', with an action: record a new event on this node's log (with the
triggering event as its cause), call a webhook, or re-allocate the orders of a
held inbound shipment to other centres (and restore them on release). Rules
come from the node's rules file (config 'rules:') or from the API; see
docs/rules.md for the format.`,
	}
	cmd.AddCommand(newRulesListCmd(), newRulesAddCmd(), newRulesDeleteCmd(), newRulesTestCmd())
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use: "list", Short: "List the rules the node runs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			list, err := c.Rules(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACTION\tSTATE\tSOURCE\tNAME")
			for _, ri := range list {
				state := "active"
				if ri.Paused {
					state = "paused"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ri.ID, ri.Action.Kind(), state, ri.Source, ri.Name)
			}
			tw.Flush()
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

// readRules reads a rules file (the same YAML as the node's rules file).
func readRules(path string) ([]rules.Rule, error) {
	list, err := rules.LoadFile(path)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return list, nil
}

func newRulesAddCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "add FILE",
		Short: "Add the rules of a YAML file (replacing API rules with the same ids)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := readRules(args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			for _, rule := range list {
				if err := c.AddRule(cmd.Context(), rule); err != nil {
					return fail(cmd.ErrOrStderr(), fmt.Errorf("rule %s: %w", rule.ID, err))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Added rule %s (%s)\n", rule.ID, rule.Action.Kind())
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newRulesDeleteCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use: "delete ID", Short: "Delete a rule added by the API", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRule(cmd.Context(), args[0]); err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted rule %s\n", args[0])
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newRulesTestCmd() *cobra.Command {
	var r remote
	var from, to string
	cmd := &cobra.Command{
		Use:   "test (RULE-ID | FILE) [--from TIME] [--to TIME]",
		Short: "Show what a rule would have done over recorded history",
		Long: `test replays a rule over the events the node holds, in timeline order, with
an allocation book and shipment states that follow the history, and prints the
events it would have recorded and the webhooks it would have called. Nothing is
recorded. RULE-ID names a rule the node runs; a FILE path tests the first rule
of a rules file before you add it. Rules are deterministic: every node that
holds the same events shows the same result.`,
		Example: `  linkd rules test reallocate-on-hold --from 2026-11-01T00:00:00Z
  linkd rules test ./hold-notice.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseTimeFlag("from", from)
			if err != nil {
				return err
			}
			t, err := parseTimeFlag("to", to)
			if err != nil {
				return err
			}
			var rule *rules.Rule
			id := args[0]
			if _, statErr := os.Stat(args[0]); statErr == nil {
				list, err := readRules(args[0])
				if err != nil {
					return err
				}
				if len(list) == 0 {
					return &exitError{exitUsage, fmt.Errorf("%s holds no rules", args[0])}
				}
				rule = &list[0]
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			res, err := c.TestRule(cmd.Context(), id, rule, f, t)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, res)
			}
			n := 0
			for _, d := range res.Decisions {
				for i := range d.Events {
					e := &d.Events[i]
					n++
					fmt.Fprintf(out, "%s  would record %s", e.EventDateTime, describe(e))
					if inv := e.Inventory; inv != nil {
						fmt.Fprintf(out, " order %s %d×%s", inv.OrderID, inv.Quantity, inv.SKU)
						if inv.FromFacility != "" {
							fmt.Fprintf(out, " %s → %s", inv.FromFacility, inv.Facility)
						}
					}
					fmt.Fprintf(out, "  (caused by %v)\n", e.CausedBy)
				}
				for _, w := range d.Webhooks {
					n++
					fmt.Fprintf(out, "would call %s for event %s\n", w.URL, w.EventID)
				}
			}
			fmt.Fprintf(out, "rule %s over %d events: %d decisions, %d actions\n", res.Rule, res.Events, len(res.Decisions), n)
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&from, "from", "", "replay events from this event time (RFC 3339 with zone)")
	cmd.Flags().StringVar(&to, "to", "", "replay events before this event time")
	return cmd
}
