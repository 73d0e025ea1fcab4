package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/raftlog"
)

// A node run with `linkd node --cluster` is one member of its party's Raft
// cluster (internal/raftlog, docs/cluster.md): its log is the member's copy
// of the party's log, appends go through the cluster's leader, and the API
// adds /v1/cluster. Everything else a node keeps (tokens, the peer
// directory, replicas of partners' logs, subscriptions, rules, alerts) is
// the member's own, as on a single node.
//
// Links run on every member as on a single node. That is safe: every
// member's log is a prefix of the leader's with the same signed checkpoints,
// and a partner's node takes frames it already holds as a no-op and asks
// for what it lacks, so a partner linked to any member, or to one after
// another, gets one gapless log.

// ClusterConfig is the `cluster:` section of a node's config. It takes
// effect only with `linkd node --cluster`.
type ClusterConfig struct {
	// Member is this member's id in the cluster: a slug such as m1, unique
	// in the cluster and never reused. Required with --cluster.
	Member string `yaml:"member"`
	// Listen is the host:port other members connect to, with mutual TLS.
	// Required with --cluster.
	Listen string `yaml:"listen"`
	// Advertise is the host:port other members reach this one at. "" means
	// Listen.
	Advertise string `yaml:"advertise"`
	// Dir holds the Raft log, snapshots and the cluster identity. "" means
	// "raft" beside the config file.
	Dir string `yaml:"dir"`
	// CA is a PEM file of the certificates members' certificates must chain
	// to. "" means keys.tls_cert: members share the party's certificate.
	CA string `yaml:"ca"`
	// Dial maps member ids to the host:port to dial them at instead of
	// their advertised address (a proxy or a NAT). Empty means none.
	Dial map[string]string `yaml:"dial"`
	// HeartbeatTimeout is how long followers wait for the leader before an
	// election. Zero means 200ms; a leader that dies is replaced in one to
	// two of these. Raise it where members are far apart or heavily loaded.
	HeartbeatTimeout Duration `yaml:"heartbeat_timeout"`
	// LeaderWait is how long an append waits for a leader before it fails
	// as unavailable. Zero means 3s.
	LeaderWait Duration `yaml:"leader_wait"`

	// Set by `linkd node`'s flags, never by the file.
	Enabled   bool   `yaml:"-"` // --cluster
	JoinURL   string `yaml:"-"` // --join: a member's API URL
	JoinToken string `yaml:"-"` // --join-token
}

var memberIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (c *ClusterConfig) validate(add func(field, format string, args ...any)) {
	if c.Member != "" && !memberIDPattern.MatchString(c.Member) {
		add("cluster.member", "want a lowercase slug such as m1 (letters, digits, hyphens; at most 63)")
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("cluster.listen", "want host:port, such as 0.0.0.0:7444")
		}
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			add("cluster.advertise", "want host:port that other members reach this one at")
		}
	}
	for id, a := range c.Dial {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add("cluster.dial."+id, "want host:port")
		}
	}
	if c.HeartbeatTimeout < 0 || (c.HeartbeatTimeout > 0 && c.HeartbeatTimeout < Duration(20*time.Millisecond)) {
		add("cluster.heartbeat_timeout", "want 0 (200ms) or at least 20ms")
	}
	if c.LeaderWait < 0 {
		add("cluster.leader_wait", "want 0 (3s) or a positive duration")
	}
	if c.Enabled {
		if c.Member == "" {
			add("cluster.member", "required with --cluster: this member's id, such as m1")
		}
		if c.Listen == "" {
			add("cluster.listen", "required with --cluster: the host:port other members connect to")
		}
	}
	if (c.JoinURL == "") != (c.JoinToken == "") {
		add("cluster", "--join and --join-token go together")
	}
}

// openLog opens the node's log: the party log of a single node, or with
// --cluster this member's copy of the cluster's.
func (n *Node) openLog(cfg Config, cert tls.Certificate, lc partylog.Config) (*partylog.Log, error) {
	replicated, _, rec, err := partylog.ReplicatedState(n.db)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if !cfg.Cluster.Enabled {
		if replicated {
			var r raftlog.Record
			json.Unmarshal(rec, &r)
			return nil, linkd.Errorf(linkd.EConflict, "this store is a member's copy of cluster %s's log; run it with 'linkd node --cluster' (alone it would record a history the other members never saw)", r.Cluster)
		}
		// The feed and the link senders take each commit's new entries
		// from memory. (A cluster's entries come through Raft instead.)
		lc.KeepEntries = true
		return partylog.Open(n.db, lc)
	}
	cc := cfg.Cluster
	roots, err := clusterRoots(cfg)
	if err != nil {
		return nil, err
	}
	dir := cc.Dir
	if dir == "" {
		dir = "raft"
	}
	api, err := cfg.AdvertiseURL(cfg.Listen)
	if err != nil {
		n.logger.Warn("this member has no API URL for its cluster's member list", "err", err)
		api = ""
	}
	m, err := raftlog.Open(n.db, lc, raftlog.Config{
		MemberID: cc.Member, Dir: cfg.Path(dir), Listen: cc.Listen, Advertise: cc.Advertise, API: api, Dial: cc.Dial,
		Party: cfg.Party.ID, Cert: cert, Roots: roots,
		// A member told to join never starts a cluster of its own.
		Bootstrap:        cc.JoinURL == "",
		HeartbeatTimeout: time.Duration(cc.HeartbeatTimeout), LeaderWait: time.Duration(cc.LeaderWait),
		OnLeader: func(leader bool) {
			if leader {
				n.logger.Info("this member leads its cluster")
			} else {
				n.logger.Info("this member no longer leads its cluster")
			}
		},
		Logger: n.logger.With("component", "cluster"),
	})
	if err != nil {
		return nil, err
	}
	n.cluster = m
	if cc.JoinURL != "" && !m.Joined() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := joinCluster(ctx, m, cfg, api, n.logger); err != nil {
			return nil, err
		}
	} else if cc.JoinURL != "" {
		n.logger.Info("already a member of a cluster; --join ignored", "cluster", m.ClusterID())
	}
	return m.Log(), nil
}

// clusterRoots are the certificates members' certificates must chain to.
func clusterRoots(cfg Config) (*x509.CertPool, error) {
	path := cfg.Path(cfg.Keys.TLSCert)
	if cfg.Cluster.CA != "" {
		path = cfg.Path(cfg.Cluster.CA)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("cluster CA %s holds no PEM certificate", path)
	}
	return pool, nil
}

// joinCluster asks the member at --join to admit this one: first a dry run
// that checks the token and names the cluster, which this member then
// claims, then the join itself.
func joinCluster(ctx context.Context, m *raftlog.Member, cfg Config, api string, logger *slog.Logger) error {
	ca, err := os.ReadFile(cfg.Path(cfg.Keys.TLSCert))
	if err != nil {
		return err
	}
	if cfg.Cluster.CA != "" {
		if ca, err = os.ReadFile(cfg.Path(cfg.Cluster.CA)); err != nil {
			return err
		}
	}
	c, err := client.New(cfg.Cluster.JoinURL, client.Options{CAPEM: ca, Timeout: 90 * time.Second})
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	req := client.JoinRequest{Member: cfg.Cluster.Member, RaftAddress: m.Advertise(), API: api, Token: cfg.Cluster.JoinToken, Cluster: m.ClusterID(), DryRun: true}
	res, err := c.JoinCluster(ctx, req)
	if err != nil {
		return fmt.Errorf("join the cluster at %s: %w", cfg.Cluster.JoinURL, err)
	}
	if err := m.Claim(res.Cluster); err != nil {
		return err
	}
	req.DryRun, req.Cluster = false, res.Cluster
	if _, err := c.JoinCluster(ctx, req); err != nil {
		return fmt.Errorf("join the cluster at %s: %w", cfg.Cluster.JoinURL, err)
	}
	logger.Info("joined the cluster; catching up", "cluster", res.Cluster)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		logger.Warn("still catching up with the cluster; appends here wait until it has", "cluster", res.Cluster)
	}
	return nil
}

// Cluster is the node's cluster member, nil for a single node.
func (n *Node) Cluster() *raftlog.Member { return n.cluster }

// ConsistencyHeader asks for a linearizable read; so does the query
// parameter consistency=linearizable.
const ConsistencyHeader = "Linkd-Consistency"

// clusterReads serves reads that ask for linearizability: the member first
// makes sure its log reflects every append acknowledged before the request
// (raftlog.Member.Linearize). Only a holder of a valid token may make the
// cluster commit that barrier; anyone else is passed on, for the API to
// refuse. The consistency parameter is taken off the URL, since the routes
// refuse parameters they do not know.
func (n *Node) clusterReads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := r.Header.Get(ConsistencyHeader)
		if q := r.URL.Query(); q.Has("consistency") {
			mode = q.Get("consistency")
			q.Del("consistency")
			u := *r.URL
			u.RawQuery = q.Encode()
			r = r.WithContext(r.Context())
			r.URL = &u
		}
		switch mode {
		case "", "local":
			next.ServeHTTP(w, r)
			return
		case "linearizable":
		default:
			writeAPIError(w, http.StatusBadRequest, linkd.Errorf(linkd.EInvalid, "consistency %q: want local or linearizable", mode))
			return
		}
		if n.cluster == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r) // a single node's reads are linearizable already
			return
		}
		if tok, err := access.BearerToken(r.Header.Get("Authorization")); err != nil {
			next.ServeHTTP(w, r)
			return
		} else if _, err := n.tokens.Authenticate(tok); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := n.cluster.Linearize(ctx); err != nil {
			if linkd.ErrorCode(err) == linkd.EInternal {
				n.logger.Error("a linearizable read failed", "err", err)
				err = linkd.Errorf(linkd.EUnavailable, "the cluster could not confirm a linearizable read; retry")
			}
			if ctx.Err() != nil && linkd.ErrorCode(err) != linkd.EUnavailable {
				err = linkd.Errorf(linkd.EUnavailable, "the cluster did not confirm a linearizable read in time; retry")
			}
			writeAPIError(w, http.StatusServiceUnavailable, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeAPIError answers as the API does: an ErrorBody with the error's code.
func writeAPIError(w http.ResponseWriter, status int, err error) {
	body, _ := json.Marshal(linkd.ErrorBody{Error: linkd.ErrorDetail{Code: linkd.ErrorCode(err), Message: linkd.ErrorMessage(err)}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
