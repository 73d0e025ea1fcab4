package httpapi

import (
	"context"
	"net/http"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/raftlog"
)

// Cluster is what the /v1/cluster endpoints need of a node that is a member
// of its party's Raft cluster (raftlog.Member).
//
// The server finds it as the replicator of its log (partylog's
// Log.Replicator): a cluster member's log is replicated by the member, and a
// single node's log has none, so the endpoints answer 404 there.
type Cluster interface {
	Status(ctx context.Context) raftlog.Status
	Join(ctx context.Context, req raftlog.JoinRequest) (raftlog.JoinResult, error)
	AddMember(ctx context.Context, id, raftAddress, api string) error
	RemoveMember(ctx context.Context, id string) error
	ReplaceMember(ctx context.Context, old, id, raftAddress, api string) error
	RotateJoinToken(ctx context.Context) (string, error)
}

// maxClusterBody bounds the bodies of the cluster endpoints.
const maxClusterBody = 16 << 10

func (s *Server) cluster() (Cluster, error) {
	if s.cfg.Log != nil {
		if c, ok := s.cfg.Log.Replicator().(Cluster); ok {
			return c, nil
		}
	}
	return nil, linkd.Errorf(linkd.ENotFound, "this node is a single node, not a cluster member (see 'linkd node --cluster')")
}

// clusterStatus answers the cluster as this member sees it.
func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c.Status(r.Context()))
	return nil
}

// clusterJoin admits a member that presents the cluster's join token. The
// token is the credential: the route takes no access token.
func (s *Server) clusterJoin(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req raftlog.JoinRequest
	if err := decodeBody(w, r, maxClusterBody, &req, "a JoinRequest object"); err != nil {
		return err
	}
	if req.Token == "" {
		return linkd.Errorf(linkd.EUnauthorized, "a join needs the cluster's join token")
	}
	res, err := c.Join(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// memberRequest is the body of adding or replacing a member.
type memberRequest struct {
	Member      string `json:"member"`
	RaftAddress string `json:"raftAddress"`
	API         string `json:"api,omitempty"`
}

func (s *Server) addClusterMember(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req memberRequest
	if err := decodeBody(w, r, maxClusterBody, &req, "a member object"); err != nil {
		return err
	}
	if err := c.AddMember(r.Context(), req.Member, req.RaftAddress, req.API); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c.Status(r.Context()))
	return nil
}

func (s *Server) removeClusterMember(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	if err := c.RemoveMember(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) replaceClusterMember(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	var req memberRequest
	if err := decodeBody(w, r, maxClusterBody, &req, "a member object"); err != nil {
		return err
	}
	if err := c.ReplaceMember(r.Context(), r.PathValue("id"), req.Member, req.RaftAddress, req.API); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c.Status(r.Context()))
	return nil
}

func (s *Server) rotateJoinToken(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cluster()
	if err != nil {
		return err
	}
	tok, err := c.RotateJoinToken(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok})
	return nil
}
