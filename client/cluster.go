package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/linkd-dev/linkd"
)

// ClusterStatus is a cluster member's view of its party's cluster (GET
// /v1/cluster).
type ClusterStatus struct {
	Cluster   string          `json:"cluster"`
	Member    string          `json:"member"` // the member that answered
	State     string          `json:"state"`  // its Raft state: leader, follower, candidate or shutdown
	Leader    string          `json:"leader,omitempty"`
	LeaderAPI string          `json:"leaderApi,omitempty"`
	Term      uint64          `json:"term"`
	Members   []ClusterMember `json:"members"`
}

// ClusterMember is one member of a cluster.
type ClusterMember struct {
	ID           string `json:"id"`
	RaftAddress  string `json:"raftAddress"`
	API          string `json:"api,omitempty"`
	Voter        bool   `json:"voter"`
	Leader       bool   `json:"leader"`
	Reachable    bool   `json:"reachable"`
	State        string `json:"state,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LogSize      int64  `json:"logSize"`
	Root         string `json:"root,omitempty"` // hex root hash of its log at LogSize
	Error        string `json:"error,omitempty"`
}

// JoinRequest asks a cluster to admit a member (POST /v1/cluster/join).
type JoinRequest struct {
	Member      string `json:"member"`
	RaftAddress string `json:"raftAddress"`
	API         string `json:"api,omitempty"`
	Token       string `json:"token"`
	Cluster     string `json:"cluster,omitempty"`
	DryRun      bool   `json:"dryRun,omitempty"`
}

// JoinResult names the cluster a join was for and its members.
type JoinResult struct {
	Cluster string          `json:"cluster"`
	Members []ClusterMember `json:"members"`
}

// MemberRequest names a member to add, or to put in another's place.
type MemberRequest struct {
	Member      string `json:"member"`
	RaftAddress string `json:"raftAddress"`
	API         string `json:"api,omitempty"`
}

// ClusterStatus returns the cluster as the member this client talks to sees
// it, with every reachable member's applied index, size and root.
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var s ClusterStatus
	_, err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &s)
	return s, err
}

// JoinCluster asks the cluster to admit a member; the join token is the
// credential, no access token is needed.
func (c *Client) JoinCluster(ctx context.Context, req JoinRequest) (JoinResult, error) {
	var r JoinResult
	_, err := c.do(ctx, http.MethodPost, "/v1/cluster/join", nil, req, &r)
	return r, err
}

// AddClusterMember adds a running member that waits to be added.
func (c *Client) AddClusterMember(ctx context.Context, req MemberRequest) (ClusterStatus, error) {
	var s ClusterStatus
	_, err := c.do(ctx, http.MethodPost, "/v1/cluster/members", nil, req, &s)
	return s, err
}

// RemoveClusterMember removes a member from the cluster.
func (c *Client) RemoveClusterMember(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// ReplaceClusterMember removes member old and adds req's member in its place.
func (c *Client) ReplaceClusterMember(ctx context.Context, old string, req MemberRequest) (ClusterStatus, error) {
	var s ClusterStatus
	_, err := c.do(ctx, http.MethodPost, "/v1/cluster/members/"+url.PathEscape(old)+"/replace", nil, req, &s)
	return s, err
}

// RotateJoinToken makes a new join token for the cluster; the old one stops
// working. The answer is the only copy.
func (c *Client) RotateJoinToken(ctx context.Context) (string, error) {
	var r struct {
		Token string `json:"token"`
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/cluster/join-token", nil, struct{}{}, &r)
	return r.Token, err
}

// LinearizableCheckpoint returns the newest signed checkpoint of the log as
// of a moment after the call began: a cluster member first makes sure it
// holds every append acknowledged before (consistency=linearizable). An
// empty log answers not_found.
func (c *Client) LinearizableCheckpoint(ctx context.Context) (linkd.CheckpointInfo, error) {
	var info linkd.CheckpointInfo
	_, err := c.do(ctx, http.MethodGet, "/v1/log/checkpoint", url.Values{"consistency": {"linearizable"}}, nil, &info)
	return info, err
}
