package raftlog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/linkd-dev/linkd"
)

// Membership changes go to the leader, one at a time; a follower forwards
// them like a batch.

// JoinRequest is what a member that wants to join sends: who it is, where
// it listens, and the cluster's join token.
type JoinRequest struct {
	Member      string `json:"member"`
	RaftAddress string `json:"raftAddress"`
	API         string `json:"api,omitempty"`
	Token       string `json:"token"`
	// Cluster is the cluster the member already belongs to, if any: a
	// member of another cluster is refused.
	Cluster string `json:"cluster,omitempty"`
	// DryRun checks the request without changing the cluster: the member
	// learns the cluster id to claim before it is added.
	DryRun bool `json:"dryRun,omitempty"`
}

// JoinResult is the cluster a join request was for.
type JoinResult struct {
	Cluster string         `json:"cluster"`
	Members []MemberStatus `json:"members"`
}

// Status is a member's view of its cluster.
type Status struct {
	Cluster   string         `json:"cluster"`
	Member    string         `json:"member"`
	State     string         `json:"state"` // leader, follower, candidate or shutdown
	Leader    string         `json:"leader,omitempty"`
	LeaderAPI string         `json:"leaderApi,omitempty"`
	Term      uint64         `json:"term"`
	Members   []MemberStatus `json:"members"`
}

// MemberStatus is one member as its cluster knows it and, when it answered,
// as it reports itself.
type MemberStatus struct {
	ID           string `json:"id"`
	RaftAddress  string `json:"raftAddress"`
	API          string `json:"api,omitempty"`
	Voter        bool   `json:"voter"`
	Leader       bool   `json:"leader"`
	Reachable    bool   `json:"reachable"`
	State        string `json:"state,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LogSize      int64  `json:"logSize"`
	Root         string `json:"root,omitempty"` // hex root hash of the log at LogSize
	Error        string `json:"error,omitempty"`
}

type adminRequest struct {
	Op          string `json:"op"` // join, add, remove, replace, token
	Member      string `json:"member,omitempty"`
	Old         string `json:"old,omitempty"`
	RaftAddress string `json:"raftAddress,omitempty"`
	API         string `json:"api,omitempty"`
	Token       string `json:"token,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	DryRun      bool   `json:"dryRun,omitempty"`
}

type adminAnswer struct {
	Cluster string `json:"cluster"`
	Token   string `json:"token,omitempty"`
}

// Join admits a new member if its token is the cluster's (see JoinRequest).
// A member already in the cluster at the same address is admitted again;
// an id or an address another member holds is refused.
func (m *Member) Join(ctx context.Context, req JoinRequest) (JoinResult, error) {
	a, err := m.admin(ctx, adminRequest{Op: "join", Member: req.Member, RaftAddress: req.RaftAddress, API: req.API,
		Token: req.Token, Cluster: req.Cluster, DryRun: req.DryRun})
	if err != nil {
		return JoinResult{}, err
	}
	return JoinResult{Cluster: a.Cluster, Members: m.configured()}, nil
}

// AddMember adds the member id, listening for members at raftAddress, as a
// voter. The member must be running (started to join, without bootstrap).
func (m *Member) AddMember(ctx context.Context, id, raftAddress, api string) error {
	_, err := m.admin(ctx, adminRequest{Op: "add", Member: id, RaftAddress: raftAddress, API: api})
	return err
}

// RemoveMember removes member id from the cluster. A removed member stops
// taking part; stop its process. The last member cannot be removed.
func (m *Member) RemoveMember(ctx context.Context, id string) error {
	_, err := m.admin(ctx, adminRequest{Op: "remove", Member: id})
	return err
}

// ReplaceMember removes member old and adds member id in its place (a new
// machine for a lost one).
func (m *Member) ReplaceMember(ctx context.Context, old, id, raftAddress, api string) error {
	_, err := m.admin(ctx, adminRequest{Op: "replace", Old: old, Member: id, RaftAddress: raftAddress, API: api})
	return err
}

// RotateJoinToken makes a new join token, replacing the old one everywhere,
// and returns it: the only copy.
func (m *Member) RotateJoinToken(ctx context.Context) (string, error) {
	a, err := m.admin(ctx, adminRequest{Op: "token"})
	return a.Token, err
}

func (m *Member) admin(ctx context.Context, req adminRequest) (adminAnswer, error) {
	if m.ClusterID() == "" {
		return adminAnswer{}, linkd.Errorf(linkd.EUnavailable, "this member has not joined a cluster yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*m.cfg.ProposeTimeout)
	defer cancel()
	var ans adminAnswer
	err := m.toLeader(ctx, func(ctx context.Context, self bool, addr string) error {
		var err error
		if self {
			ans, err = m.adminHere(ctx, req)
			return err
		}
		payload, _ := json.Marshal(req)
		body, err := m.rpcs.call(ctx, addr, opAdmin, payload)
		if err != nil {
			return err
		}
		return json.Unmarshal(body, &ans)
	})
	return ans, err
}

var memberIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// adminHere runs a membership change on the leader.
func (m *Member) adminHere(ctx context.Context, req adminRequest) (adminAnswer, error) {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	if m.raft.State() != raft.Leader {
		return adminAnswer{}, &errRetry{"not the leader"}
	}
	rec, err := m.record()
	if err != nil {
		return adminAnswer{}, err
	}
	if rec.Cluster == "" {
		return adminAnswer{}, ErrNotReady
	}
	ans := adminAnswer{Cluster: rec.Cluster}
	switch req.Op {
	case "join":
		if !tokenMatches(req.Token, rec.TokenHash) {
			return adminAnswer{}, linkd.Errorf(linkd.EUnauthorized, "the join token is not this cluster's (an admin makes a new one with 'linkd cluster token')")
		}
		if req.Cluster != "" && req.Cluster != rec.Cluster {
			return adminAnswer{}, linkd.Errorf(linkd.EConflict, "the member belongs to cluster %s; this is cluster %s (a member started with another cluster's data; remove its data to join this one)", req.Cluster, rec.Cluster)
		}
		return ans, m.addHere(req.Member, req.RaftAddress, req.API, req.DryRun, &rec)
	case "add":
		return ans, m.addHere(req.Member, req.RaftAddress, req.API, false, &rec)
	case "remove":
		return ans, m.removeHere(req.Member, &rec)
	case "replace":
		if req.Old == req.Member {
			return adminAnswer{}, linkd.Errorf(linkd.EInvalid, "replace %s with itself: give the new member another id", req.Old)
		}
		if _, ok := m.memberAddr(req.Member); ok {
			return adminAnswer{}, linkd.Errorf(linkd.EConflict, "member %s is already in the cluster", req.Member)
		}
		if err := checkMember(req.Member, req.RaftAddress); err != nil {
			return adminAnswer{}, err
		}
		if err := m.removeHere(req.Old, &rec); err != nil {
			return adminAnswer{}, err
		}
		return ans, m.addHere(req.Member, req.RaftAddress, req.API, false, &rec)
	case "token":
		tok, err := newToken()
		if err != nil {
			return adminAnswer{}, err
		}
		rec.TokenHash = hashToken(tok)
		if err := m.proposeRecord(rec); err != nil {
			return adminAnswer{}, raftErr(err)
		}
		ans.Token = tok
		return ans, nil
	}
	return adminAnswer{}, linkd.Errorf(linkd.EInvalid, "unknown membership change %q", req.Op)
}

func checkMember(id, addr string) error {
	var probs []linkd.Problem
	if !memberIDPattern.MatchString(id) {
		probs = append(probs, linkd.Problem{Field: "member", Reason: "a member id is a lowercase slug such as m2 (letters, digits, hyphens; at most 63)"})
	}
	if _, _, err := net.SplitHostPort(addr); err != nil || strings.TrimSpace(addr) == "" {
		probs = append(probs, linkd.Problem{Field: "raftAddress", Reason: "want host:port where the member listens for members"})
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// addHere adds a voter, unless the request is one the configuration
// contradicts. A member already in the configuration at the same address is
// added again, harmlessly.
func (m *Member) addHere(id, addr, api string, dryRun bool, rec *Record) error {
	if err := checkMember(id, addr); err != nil {
		return err
	}
	f := m.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftErr(err)
	}
	for _, s := range f.Configuration().Servers {
		switch {
		case string(s.ID) == id && string(s.Address) != addr:
			return linkd.Errorf(linkd.EConflict, "member id %s is already in the cluster, at %s: two members may not share an id (give the new member another id, or replace %s)", id, s.Address, id)
		case string(s.ID) != id && string(s.Address) == addr:
			return linkd.Errorf(linkd.EConflict, "member %s is already at %s", s.ID, addr)
		}
	}
	if dryRun {
		return nil
	}
	if err := raftErr(m.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, m.cfg.ProposeTimeout).Error()); err != nil {
		return err
	}
	m.logger.Info("member added", "added_member", id, "raft_address", addr, "api", api)
	if api != "" && rec.APIs[id] != api {
		if rec.APIs == nil {
			rec.APIs = map[string]string{}
		}
		rec.APIs[id] = api
		return raftErr(m.proposeRecord(*rec))
	}
	return nil
}

func (m *Member) removeHere(id string, rec *Record) error {
	f := m.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftErr(err)
	}
	servers := f.Configuration().Servers
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id }) {
		return linkd.Errorf(linkd.ENotFound, "no member %s in the cluster", id)
	}
	if len(servers) == 1 {
		return linkd.Errorf(linkd.EConflict, "%s is the cluster's last member", id)
	}
	if id == m.cfg.MemberID {
		// The leader hands over first; the next leader removes it.
		if err := m.raft.LeadershipTransfer().Error(); err != nil {
			return raftErr(err)
		}
		return &errRetry{"leadership handed over before removing this member"}
	}
	if _, ok := rec.APIs[id]; ok {
		delete(rec.APIs, id)
		if err := m.proposeRecord(*rec); err != nil {
			return raftErr(err)
		}
	}
	if err := raftErr(m.raft.RemoveServer(raft.ServerID(id), 0, m.cfg.ProposeTimeout).Error()); err != nil {
		return err
	}
	m.logger.Info("member removed", "removed_member", id)
	return nil
}

// configured lists the members of the latest configuration.
func (m *Member) configured() []MemberStatus {
	f := m.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	rec, _ := m.record()
	_, leader := m.raft.LeaderWithID()
	var out []MemberStatus
	for _, s := range f.Configuration().Servers {
		out = append(out, MemberStatus{ID: string(s.ID), RaftAddress: string(s.Address), API: rec.APIs[string(s.ID)],
			Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
	}
	return out
}

// localStatus is this member as it reports itself.
func (m *Member) localStatus() MemberStatus {
	size := m.log.Size()
	st := MemberStatus{ID: m.cfg.MemberID, RaftAddress: m.trans.advertise, API: m.cfg.API, Reachable: true,
		State: strings.ToLower(m.raft.State().String()), AppliedIndex: m.log.Applied(), LogSize: size}
	if root, err := m.log.TreeHash(size); err == nil {
		st.Root = hex.EncodeToString(root[:])
	}
	return st
}

// Status reports the cluster as this member sees it, asking every other
// member for its own state (for up to a second).
func (m *Member) Status(ctx context.Context) Status {
	addr, leader := m.raft.LeaderWithID()
	_ = addr
	rec, _ := m.record()
	st := Status{Cluster: m.ClusterID(), Member: m.cfg.MemberID, State: strings.ToLower(m.raft.State().String()),
		Leader: string(leader), LeaderAPI: rec.APIs[string(leader)], Term: m.raft.CurrentTerm()}
	st.Members = m.configured()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range st.Members {
		ms := &st.Members[i]
		if ms.ID == m.cfg.MemberID {
			self := m.localStatus()
			self.Voter, self.Leader, self.API = ms.Voter, ms.Leader, ms.API
			*ms = self
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := m.rpcs.call(ctx, m.dialAddr(ms.ID, ms.RaftAddress), opStatus, nil)
			if err != nil {
				ms.Error = err.Error()
				return
			}
			var got MemberStatus
			if err := json.Unmarshal(body, &got); err != nil {
				ms.Error = fmt.Sprintf("undecodable status: %v", err)
				return
			}
			ms.Reachable, ms.State, ms.AppliedIndex, ms.LogSize, ms.Root = true, got.State, got.AppliedIndex, got.LogSize, got.Root
		}()
	}
	wg.Wait()
	return st
}

// LeaderAPI returns the API URL of the current leader, if known.
func (m *Member) LeaderAPI() string {
	_, id := m.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	rec, _ := m.record()
	return rec.APIs[string(id)]
}

// IsLeader reports whether this member leads its cluster now.
func (m *Member) IsLeader() bool { return m.raft.State() == raft.Leader }
