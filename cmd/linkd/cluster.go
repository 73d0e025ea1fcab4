package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/client"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "See and change the members of this party's Raft cluster",
		Long: `A party whose node must survive the loss of a machine runs it as a cluster of
members, three usually (docs/cluster.md). Each member runs 'linkd node
--cluster' with a cluster: section in its config. The first member starts the
cluster and writes a join token to its cluster directory; the others join:

  linkd node --config m2.yaml --cluster --join https://m1:7443 --join-token lkj_…

These commands talk to any member: status shows every member's state, applied
index, log size and root; add, remove and replace change the membership; token
makes a new join token. Changing members needs an admin token; status works
with an auditor's too.`,
	}
	cmd.AddCommand(newClusterStatusCmd(), newClusterAddCmd(), newClusterRemoveCmd(), newClusterReplaceCmd(), newClusterTokenCmd())
	return cmd
}

func newClusterStatusCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's members, its leader, and how far each has applied the log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			st, err := c.ClusterStatus(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printClusterStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func printClusterStatus(w io.Writer, st client.ClusterStatus) {
	leader := st.Leader
	if leader == "" {
		leader = "none (no majority?)"
	}
	fmt.Fprintf(w, "cluster %s, term %d, leader %s; answered by %s (%s)\n\n", st.Cluster, st.Term, leader, st.Member, st.State)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSTATE\tAPPLIED\tLOG SIZE\tROOT\tRAFT ADDRESS\tAPI")
	for _, m := range st.Members {
		state, root := m.State, m.Root
		if !m.Reachable {
			state = "unreachable"
		}
		if !m.Voter {
			state += " (non-voter)"
		}
		if len(root) > 16 {
			root = root[:16]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", m.ID, state, m.AppliedIndex, m.LogSize, root, m.RaftAddress, m.API)
	}
	tw.Flush()
}

func newClusterAddCmd() *cobra.Command {
	var r remote
	var req client.MemberRequest
	cmd := &cobra.Command{
		Use:   "add MEMBER --raft HOST:PORT [--api URL]",
		Short: "Add a running member that waits to be added",
		Long: `add makes MEMBER, which listens for members at --raft, a voting member. It
must be running ('linkd node --cluster' with a config that names it, and a
cluster directory of its own, empty or from this cluster). A member can also
join by itself with --join and a join token, which needs no admin here.`,
		Example: `  linkd cluster add m4 --raft 10.0.0.4:7444 --api https://10.0.0.4:7443`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			req.Member = args[0]
			st, err := c.AddClusterMember(cmd.Context(), req)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s\n\n", req.Member)
			printClusterStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.RaftAddress, "raft", "", "host:port the member listens for members at (its cluster.advertise)")
	cmd.Flags().StringVar(&req.API, "api", "", "the member's API URL, for the cluster's member list")
	cmd.MarkFlagRequired("raft")
	r.flags(cmd)
	return cmd
}

func newClusterRemoveCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "remove MEMBER",
		Short: "Remove a member from the cluster",
		Long: `remove takes MEMBER out of the cluster. A cluster of three that loses a member
by removal keeps working as a cluster of two, which tolerates no further
loss: replace it soon. Stop the removed member's process; its store is a copy
of the log, which it no longer follows.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.RemoveClusterMember(cmd.Context(), args[0]); err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newClusterReplaceCmd() *cobra.Command {
	var r remote
	var req client.MemberRequest
	cmd := &cobra.Command{
		Use:   "replace OLD NEW --raft HOST:PORT [--api URL]",
		Short: "Put a new member in the place of a lost one",
		Long: `replace removes member OLD and adds NEW, which must be running and waiting to
be added (see 'cluster add'). NEW catches up from the others, from a snapshot
if it is far behind.`,
		Example: `  linkd cluster replace m3 m4 --raft 10.0.0.4:7444 --api https://10.0.0.4:7443`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			req.Member = args[1]
			st, err := c.ReplaceClusterMember(cmd.Context(), args[0], req)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replaced %s by %s\n\n", args[0], args[1])
			printClusterStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.RaftAddress, "raft", "", "host:port NEW listens for members at")
	cmd.Flags().StringVar(&req.API, "api", "", "NEW's API URL")
	cmd.MarkFlagRequired("raft")
	r.flags(cmd)
	return cmd
}

func newClusterTokenCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make a new join token; the old one stops working",
		Long: `token makes a new join token for the cluster and prints it, once: members
joining with --join present it. The token before it is refused from now on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			tok, err := c.RotateJoinToken(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"token": tok})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
