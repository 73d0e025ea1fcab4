package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/raftlog/localcluster"
)

// runCluster runs `linkd cluster ARGS` in-process against member m.
func runCluster(t *testing.T, c *localcluster.Cluster, m *localcluster.Member, ca string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newClusterCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true // as under the root command
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--node", m.URL, "--ca", ca, "--token", c.Admin))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// An operator sees the members and the leader, makes a new join token, and
// removes a member, with the CLI against any member.
func TestClusterCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Binary: binary(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, c.CAPEM, 0o600)

	out, stderr, err := runCluster(t, c, c.Members[2], ca, "status", "--json")
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, stderr)
	}
	var st client.ClusterStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Members) != 3 || st.Leader == "" {
		t.Fatalf("status %s (%v): want three members and a leader", out, err)
	}
	out, _, err = runCluster(t, c, c.Members[0], ca, "status")
	if err != nil || !strings.Contains(out, "leader "+st.Leader) || strings.Count(out, "127.0.0.1:") < 3 {
		t.Fatalf("status as text:\n%s (%v)", out, err)
	}

	out, stderr, err = runCluster(t, c, c.Members[1], ca, "token")
	tok := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(tok, "lkj_") {
		t.Fatalf("cluster token: %q %v %s", out, err, stderr)
	}
	// The first member's token no longer admits anyone.
	old, _ := os.ReadFile(filepath.Join(c.Members[0].Dir, "raft", "join-token"))
	if _, err := c.Members[0].Client.JoinCluster(ctx, client.JoinRequest{Member: "m9", RaftAddress: "127.0.0.1:1", Token: strings.TrimSpace(string(old)), DryRun: true}); err == nil {
		t.Fatal("the rotated-out token still admits a member")
	}
	if _, err := c.Members[0].Client.JoinCluster(ctx, client.JoinRequest{Member: "m9", RaftAddress: "127.0.0.1:1", Token: tok, DryRun: true}); err != nil {
		t.Fatalf("the new token does not admit: %v", err)
	}

	if _, stderr, err := runCluster(t, c, c.Members[0], ca, "remove", "m7"); err == nil || !strings.Contains(stderr, "no member m7") {
		t.Fatalf("removing an unknown member: %v %q; want a refusal naming it", err, stderr)
	}
	victim := 2
	if c.Members[victim].ID == st.Leader {
		victim = 1
	}
	if out, stderr, err := runCluster(t, c, c.Members[0], ca, "remove", c.Members[victim].ID); err != nil {
		t.Fatalf("cluster remove: %v %s %s", err, out, stderr)
	}
	st, err = c.Members[0].Client.ClusterStatus(ctx)
	if err != nil || len(st.Members) != 2 {
		t.Fatalf("after remove: %+v %v; want two members", st, err)
	}
}
