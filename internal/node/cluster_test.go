package node_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/testnet"
)

// clusterMember is one node of a cluster test.
type clusterMember struct {
	cfg node.Config
	r   *running
	c   *client.Client
}

// copyDir copies a node's directory, as an operator copies what linkd init
// made to each clusterMember's machine before their first start.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newCluster makes three members from one linkd init, starts the first,
// which bootstraps, and the other two, which join it with its join token.
func newCluster(t *testing.T) (node.InitResult, []*clusterMember) {
	t.Helper()
	res, cfg := newNodeDir(t)
	var ms []*clusterMember
	for i := range 3 {
		dir := filepath.Join(t.TempDir(), "member")
		copyDir(t, cfg.Dir(), dir)
		c, err := node.LoadConfig(filepath.Join(dir, "linkd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		c.Listen = testnet.FreeAddr(t)
		c.Cluster = node.ClusterConfig{Member: []string{"m1", "m2", "m3"}[i], Listen: testnet.FreeAddr(t), Enabled: true,
			HeartbeatTimeout: node.Duration(200 * time.Millisecond)}
		ms = append(ms, &clusterMember{cfg: c})
	}
	for i, m := range ms {
		if i > 0 {
			tok, err := os.ReadFile(filepath.Join(ms[0].cfg.Dir(), "raft", "join-token"))
			if err != nil {
				t.Fatal(err)
			}
			m.cfg.Cluster.JoinURL, m.cfg.Cluster.JoinToken = ms[0].r.url, strings.TrimSpace(string(tok))
		}
		m.start(t, res.AdminToken)
		if err := m.r.n.Cluster().WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return res, ms
}

func (m *clusterMember) start(t *testing.T, token string) {
	t.Helper()
	m.r = serve(t, m.cfg)
	c, err := client.New(m.r.url, client.Options{Token: token, CAFile: m.cfg.Path(m.cfg.Keys.TLSCert)})
	if err != nil {
		t.Fatal(err)
	}
	m.c = c
}

func TestClusterNodes(t *testing.T) {
	res, ms := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The member list with every member's API URL reaches every member.
	var st client.ClusterStatus
	eventually(t, "the last member's status lists three reachable voters with their API URLs", func() bool {
		var err error
		if st, err = ms[2].c.ClusterStatus(ctx); err != nil || st.Leader == "" || len(st.Members) != 3 || st.Cluster == "" {
			return false
		}
		for _, m := range st.Members {
			if !m.Reachable || !m.Voter || m.API == "" {
				return false
			}
		}
		return true
	})

	// Writes through every clusterMember, reads through every clusterMember.
	evs := scenario.NewGenerator(3, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)).Batch(30)
	for i, m := range ms {
		r, err := m.c.AppendEvents(ctx, evs[10*i:10*i+10])
		if err != nil {
			t.Fatalf("append through %s: %v", m.cfg.Cluster.Member, err)
		}
		if r.Acks[0].LogIndex != int64(10*i) {
			t.Fatalf("append through %s at %d, want %d", m.cfg.Cluster.Member, r.Acks[0].LogIndex, 10*i)
		}
	}
	// A linearizable read on a clusterMember sees every acknowledged write, by the
	// query parameter and by the header.
	pool := roots(t, ms[0].cfg)
	hc := httpClient(pool, true)
	for _, m := range ms {
		for _, how := range []string{"query", "header"} {
			u := m.r.url + "/v1/log/checkpoint"
			if how == "query" {
				u += "?consistency=linearizable"
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+res.AdminToken)
			if how == "header" {
				req.Header.Set(node.ConsistencyHeader, "linearizable")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"size":30`) {
				t.Fatalf("linearizable checkpoint from %s by %s: %d %s", m.cfg.Cluster.Member, how, resp.StatusCode, body)
			}
		}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", ms[1].r.url+"/v1/log/checkpoint?consistency=eventual", nil)
	req.Header.Set("Authorization", "Bearer "+res.AdminToken)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("consistency=eventual: %v %v; want 400", resp, err)
	}

	// A join with a wrong token is refused.
	anon, _ := client.New(ms[1].r.url, client.Options{CAFile: ms[1].cfg.Path(ms[1].cfg.Keys.TLSCert)})
	_, err := anon.JoinCluster(ctx, client.JoinRequest{Member: "m4", RaftAddress: testnet.FreeAddr(t), Token: "lkj_nope"})
	if linkd.ErrorCode(err) != linkd.EUnauthorized {
		t.Fatalf("join with a wrong token: %v; want unauthorized", err)
	}
	// Only an admin changes members.
	reader, err := ms[0].c.CreateToken(ctx, "reader", "reader", 0)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := client.New(ms[0].r.url, client.Options{Token: reader.Token, CAFile: ms[0].cfg.Path(ms[0].cfg.Keys.TLSCert)})
	if err := rc.RemoveClusterMember(ctx, "m2"); linkd.ErrorCode(err) != linkd.EForbidden {
		t.Fatalf("a reader removing a clusterMember: %v; want forbidden", err)
	}

	// Every clusterMember holds the same log.
	st, _ = ms[0].c.ClusterStatus(ctx)
	for _, m := range st.Members {
		if m.LogSize != 30 && m.Reachable {
			eventually(t, "every clusterMember holds 30 events", func() bool {
				s, _ := ms[0].c.ClusterStatus(ctx)
				for _, x := range s.Members {
					if x.LogSize != 30 {
						return false
					}
				}
				return true
			})
			break
		}
	}

	// A clusterMember's store started without --cluster is refused: it would
	// record a history the others never saw.
	m3 := ms[2]
	m3.r.stop(t)
	single := m3.cfg
	single.Cluster.Enabled, single.Cluster.JoinURL, single.Cluster.JoinToken = false, "", ""
	if _, err := node.Open(single, nil); linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "--cluster") {
		t.Fatalf("opening a clusterMember's store as a single node: %v; want a conflict naming --cluster", err)
	}
	// Back as a clusterMember (no --join needed), it catches up.
	m3.cfg.Cluster.JoinURL, m3.cfg.Cluster.JoinToken = "", ""
	m3.start(t, res.AdminToken)
	if _, err := ms[0].c.AppendEvents(ctx, scenario.NewGenerator(4, time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)).Batch(5)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restarted clusterMember catches up", func() bool { return m3.r.n.Log().Size() == 35 })
}

// A partner linked to a cluster keeps receiving the party's events when the
// leader goes, and sees nothing to alert on: every member's log is a prefix
// of the leader's with the same signed checkpoints.
func TestClusterLinksAcrossLeaderChange(t *testing.T) {
	_, ms := newCluster(t)
	ctx := context.Background()
	h := start(t, hamburg)
	card, err := ms[0].c.Card(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.c.AddPeer(ctx, card); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, _, err := m.c.AddPeer(ctx, h.card); err != nil {
			t.Fatalf("%s adds the partner: %v", m.cfg.Cluster.Member, err)
		}
	}
	var shared []string
	rec := func(m *clusterMember) {
		res, err := m.c.AppendEvents(ctx, []linkd.Event{booking("BKG-HA", party, hamburg)})
		if err != nil {
			t.Fatal(err)
		}
		shared = append(shared, res.Acks[0].EventID)
	}
	rec(ms[1])
	eventually(t, "the partner shows the cluster's first event", func() bool { return slices.Equal(h.timeline(t, "BKG-HA"), shared) })

	st, err := ms[0].c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rest []*clusterMember
	for _, m := range ms {
		if m.cfg.Cluster.Member == st.Leader {
			m.r.stop(t)
		} else {
			rest = append(rest, m)
		}
	}
	rec(rest[0])
	rec(rest[1])
	eventually(t, "the partner shows the events recorded after the leader went", func() bool { return slices.Equal(h.timeline(t, "BKG-HA"), shared) })
	var alerts struct {
		Alerts []linkd.Alert `json:"alerts"`
	}
	h.get(t, "/v1/alerts?all=true", &alerts)
	if len(alerts.Alerts) != 0 {
		t.Fatalf("the partner raised alerts: %+v", alerts.Alerts)
	}
}

// Erasing a shipment reaches every member's Raft files, which hold appended
// events in the clear (the store seals them): after the erasure no file
// under any member's directory (Raft log segments, snapshots, store, keys)
// holds the erased payload, and the cluster goes on: it takes and serves
// new events, and a member restarts.
func TestClusterErasureReachesRaftFiles(t *testing.T) {
	res, ms := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, err := ms[0].c.AppendEvents(ctx, []linkd.Event{booking("BKG-CL-ERASE", party, hamburg)}); err != nil {
		t.Fatal(err)
	}
	held := booking("BKG-CL-ERASE")
	held.ShipmentEventTypeCode, held.DocumentTypeCode, held.Reason = "HOLD", "BKG", canary(t)
	r, err := ms[1].c.AppendEvents(ctx, []linkd.Event{held})
	if err != nil {
		t.Fatal(err)
	}
	heldID := r.Acks[0].EventID
	for _, m := range ms {
		eventually(t, m.cfg.Cluster.Member+" holds the event", func() bool {
			_, err := m.c.Event(ctx, heldID)
			return err == nil
		})
	}
	// Before the erasure the payload is in every member's Raft log: the
	// scan can see it.
	for _, m := range ms {
		found := scanDir(t, m.cfg.Dir(), []byte(held.Reason))
		inWAL := func(p string) bool { return filepath.Base(filepath.Dir(p)) == "wal" }
		if !slices.ContainsFunc(found, inWAL) {
			t.Fatalf("before the erasure, %s's raft log does not hold the payload (found in %v): the scan would prove nothing", m.cfg.Cluster.Member, found)
		}
	}

	if _, err := ms[2].c.Erase(ctx, docs.Shipment{CarrierBookingReference: "BKG-CL-ERASE"}, "data subject request"); err != nil {
		t.Fatalf("erase: %v", err)
	}
	for _, m := range ms {
		eventually(t, m.cfg.Cluster.Member+" has erased the event and compacted its raft files", func() bool {
			if _, err := m.c.Event(ctx, heldID); linkd.ErrorCode(err) != linkd.ENotFound {
				return false
			}
			done, pending := m.r.n.Cluster().ForgetState()
			return done > 0 && !pending
		})
	}
	for _, m := range ms {
		for _, p := range scanDir(t, m.cfg.Dir(), []byte(held.Reason)) {
			t.Errorf("after the erasure, %s's %s holds the erased payload", m.cfg.Cluster.Member, p)
		}
	}

	// The cluster goes on: an event of another shipment, read on a follower.
	st, err := ms[0].c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower *clusterMember
	for _, m := range ms {
		if m.cfg.Cluster.Member != st.Leader {
			follower = m
		}
	}
	after := func(ref string) {
		t.Helper()
		r, err := ms[0].c.AppendEvents(ctx, []linkd.Event{booking(ref, party, hamburg)})
		if err != nil {
			t.Fatalf("append after the erasure: %v", err)
		}
		eventually(t, follower.cfg.Cluster.Member+" serves "+ref, func() bool {
			_, err := follower.c.Event(ctx, r.Acks[0].EventID)
			return err == nil
		})
	}
	after("BKG-CL-AFTER")

	// A follower restarts from its compacted files and keeps up.
	follower.r.stop(t)
	follower.cfg.Cluster.JoinURL, follower.cfg.Cluster.JoinToken = "", ""
	follower.start(t, res.AdminToken)
	if err := follower.r.n.Cluster().WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	after("BKG-CL-RESTART")
	if _, err := follower.c.Event(ctx, heldID); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Errorf("the restarted member reads the erased event: %v, want not found", err)
	}
	for _, p := range scanDir(t, follower.cfg.Dir(), []byte(held.Reason)) {
		t.Errorf("after the restart, %s's %s holds the erased payload", follower.cfg.Cluster.Member, p)
	}
}

// scanDir returns the files under dir whose name or bytes hold needle.
func scanDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if bytes.Contains([]byte(d.Name()), needle) {
			found = append(found, p)
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return found
}
