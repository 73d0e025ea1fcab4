package main

import (
	"encoding/base64"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke access tokens (admin role)",
		Long: `Access tokens let people and systems use the node. Each has one role:

  admin    everything, including tokens
  writer   record events; read events and proofs (ERP, TMS, EDI gateway)
  reader   read events, shipments and proofs
  auditor  read events, proofs and metrics; write nothing

The node stores only a hash of each token; a token is shown once, when made.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var r remote
	var name, role string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:     "create --name NAME --role ROLE [--ttl DURATION]",
		Short:   "Make a token and print it once",
		Long:    `create makes an access token with one role and prints its secret once.`,
		Example: `  linkd token create --name "TMS integration" --role writer --ttl 2160h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), name, role, ttl)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, t)
			}
			fmt.Fprintf(out, "Token %s (%s, role %s", t.Info.ID, t.Info.Name, t.Info.Role)
			if !t.Info.ExpiresAt.IsZero() {
				fmt.Fprintf(out, ", expires %s", t.Info.ExpiresAt.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(out, "). Shown once, store it now:\n\n  %s\n", t.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who or what uses it, for the list")
	cmd.Flags().StringVar(&role, "role", "", "admin, writer, reader or auditor")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, such as 720h (default: never expires)")
	r.flags(cmd)
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Long:  `list shows every token with its role, creation and expiry, and whether it was revoked.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, toks)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED\tEXPIRES\tSTATE")
			for _, t := range toks {
				exp, state := "never", "active"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.UTC().Format(time.RFC3339)
					if time.Now().After(t.ExpiresAt) {
						state = "expired"
					}
				}
				if !t.Revoked.IsZero() {
					state = "revoked " + t.Revoked.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Name, t.Created.UTC().Format(time.RFC3339), exp, state)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; it stops working at once",
		Long:  `revoke ends a token by its id (from 'linkd token list'). Requests with it get 401 from then on.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (%s, role %s)\n", t.ID, t.Name, t.Role)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newLogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Inspect the party's signed log",
	}
	var r remote
	var size int64
	cp := &cobra.Command{
		Use:   "checkpoint [--size N]",
		Short: "Print the log's newest signed checkpoint (or the one at size N)",
		Long: `checkpoint prints the log's size and root hash and the signed checkpoint (a
C2SP tlog-checkpoint signed note) that commits to them. Keep a copy: any later
checkpoint of the log must be consistent with it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			info, err := c.Checkpoint(cmd.Context(), size)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, info)
			}
			fmt.Fprintf(out, "origin   %s\nsize     %d\nroot     %s\nkey      %s\n\n%s", info.Origin, info.Size,
				base64.StdEncoding.EncodeToString(info.RootHash), info.PublicKey, info.Checkpoint)
			return nil
		},
	}
	cp.Flags().Int64Var(&size, "size", 0, "the checkpoint issued at this log size (default: the newest)")
	r.flags(cp)
	cmd.AddCommand(cp, newLogAuditCmd())
	return cmd
}

func newLogAuditCmd() *cobra.Command {
	var r remote
	var party string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Have the node re-derive a whole log it holds and check it (auditor or admin)",
		Long: `audit has the node check its own log from end to end: every record must hash
to the leaf stored with it, the leaves must rebuild every tree hash the node
keeps for proofs, and every checkpoint the log ever signed must verify and
name the root the leaves rebuild at its size. It reports progress on stderr
and exits 0 when the log is intact, 1 with the first problem when it is not.

With --party it checks the node's copy of a linked partner's log the same
way, against the partner's key: what changed on this node's disk since the
entries were verified as they came. Entries the node holds as their leaf
alone (events it may not hold) have only their leaves checked.

It reads every record: about 130,000 events a second on a 2-core machine, so
minutes for a large log. One audit runs at a time; interrupt to stop it.`,
		Example: `  linkd log audit --config node/linkd.yaml --token-file auditor.token
  linkd log audit --party oceanic-lines --config node/linkd.yaml --token-file auditor.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var progress func(done, total int64)
			if !r.json {
				errw := cmd.ErrOrStderr()
				progress = func(done, total int64) {
					if done > 0 {
						fmt.Fprintf(errw, "audited %d of %d events\n", done, total)
					}
				}
			}
			res, err := c.AuditLogOf(cmd.Context(), party, progress)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				if err := printJSON(out, res); err != nil {
					return err
				}
			} else if res.OK {
				fmt.Fprintf(out, "intact: %s's log, %s, %s verified, root %s (%s",
					res.Party, count(res.Size, "event"), count(int64(res.Checkpoints), "signed checkpoint"),
					base64.StdEncoding.EncodeToString(res.RootHash), count(res.Erased, "erased payload"))
				if res.Withheld > 0 {
					fmt.Fprintf(out, ", %s held as leaves only", count(res.Withheld, "event"))
				}
				fmt.Fprintf(out, "; %.1f s)\n", res.Seconds)
			} else {
				fmt.Fprintf(out, "NOT INTACT: %s's log: %s\n", res.Party, res.Problem)
			}
			if !res.OK {
				return &exitError{exitFailed, nil}
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&party, "party", "", "audit the node's copy of this linked partner's log (default: the node's own log)")
	return cmd
}

// count says n things, in the singular for one.
func count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
