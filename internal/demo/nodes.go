package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
)

// Token files in each party's directory. The demo's data is a throwaway on
// the user's machine; keeping the tokens lets the dashboard and the user's
// curl reach every node again on the next run.
const (
	adminTokenFile  = "admin.token"     // the admin token 'linkd init' made
	viewerTokenFile = "dashboard.token" // an auditor token for the dashboard
)

// laneNode is one party's real node in this process: its own directory,
// keys, Pebble store and TLS listener on loopback.
//
// The run's goroutine owns it: it opens, stops and restarts it, and is the
// only one reading its node outside the node's own callbacks.
type laneNode struct {
	party  linkd.Party
	dir    string
	cfg    node.Config
	admin  string // admin token
	viewer string // auditor token, for the dashboard's proxy
	logger *slog.Logger
	rules  []string // what laneRules wired

	n      *node.Node // nil while stopped
	cancel context.CancelFunc
	done   chan error
	client *http.Client // trusts the node's certificate, for its API
	onRep  func(origin string, from int64, res partylog.ApplyResult)
}

// initNode makes a party's node directory as 'linkd init' does and keeps
// its admin token.
func initNode(ctx context.Context, dir string, p linkd.Party) error {
	res, err := node.Init(ctx, node.InitOptions{Dir: dir, Party: p, Listen: "127.0.0.1:0"})
	if err != nil {
		return fmt.Errorf("set up %s's node: %w", p.ID, err)
	}
	return os.WriteFile(filepath.Join(dir, adminTokenFile), []byte(res.AdminToken+"\n"), 0o600)
}

// loadNode reads a party's node directory.
func loadNode(dir string, p linkd.Party, logger *slog.Logger) (*laneNode, error) {
	cfg, err := node.LoadConfig(filepath.Join(dir, "linkd.yaml"))
	if err != nil {
		return nil, err
	}
	if cfg.Party.ID != p.ID {
		return nil, fmt.Errorf("%s holds the node of %q, not %s", dir, cfg.Party.ID, p.ID)
	}
	ln := &laneNode{party: cfg.PartyValue(), dir: dir, cfg: cfg, logger: logger}
	if b, err := os.ReadFile(filepath.Join(dir, adminTokenFile)); err == nil {
		ln.admin = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, viewerTokenFile)); err == nil {
		ln.viewer = strings.TrimSpace(string(b))
	}
	// One process holds nine nodes: no per-token rate limit (the demo's
	// driver is one client per node), and a short drain so Ctrl-C is quick.
	ln.cfg.Limits.RatePerToken = 0
	ln.cfg.ShutdownGrace = node.Duration(3 * time.Second)
	ln.rules = laneRules(ln.party, &ln.cfg)
	return ln, nil
}

// start opens the node and serves it. A restart listens where the node
// listened before, so its partners' cards stay right.
func (ln *laneNode) start(ctx context.Context) error {
	n, err := node.Open(ln.cfg, ln.logger)
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return fmt.Errorf("open %s's node: %w (is another demo running on this directory? stop it, or pass --dir)", ln.party.ID, err)
		}
		return fmt.Errorf("open %s's node: %w", ln.party.ID, err)
	}
	if ln.viewer == "" {
		secret, _, err := n.Tokens().Create(ctx, "linkd demo dashboard", access.Auditor, 0)
		if err == nil {
			err = os.WriteFile(filepath.Join(ln.dir, viewerTokenFile), []byte(secret+"\n"), 0o600)
		}
		if err != nil {
			n.Close()
			return fmt.Errorf("make %s's dashboard token: %w", ln.party.ID, err)
		}
		ln.viewer = secret
	}
	if ln.onRep != nil {
		n.OnReplicated(ln.onRep)
	}
	card, err := n.Card()
	if err != nil {
		n.Close()
		return fmt.Errorf("%s's node has no card: %w", ln.party.ID, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(card.CertPEM))
	ln.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	sctx, cancel := context.WithCancel(context.Background())
	ln.n, ln.cancel, ln.done = n, cancel, make(chan error, 1)
	go func() { ln.done <- n.Serve(sctx) }()
	ln.cfg.Listen = n.Addr()
	return nil
}

// stop drains and closes the node.
func (ln *laneNode) stop() error {
	if ln.n == nil {
		return nil
	}
	ln.cancel()
	err := <-ln.done
	if cerr := ln.n.Close(); err == nil {
		err = cerr
	}
	ln.n = nil
	return err
}

// card is the node's card.
func (ln *laneNode) card() (peers.Peer, error) { return ln.n.Card() }

// url is the node's API.
func (ln *laneNode) url() string { return "https://" + ln.cfg.Listen }

// replicaSize is the node's verified size of origin's log, -1 if it holds none.
func (ln *laneNode) replicaSize(origin string) int64 {
	if r, ok := ln.n.Logs().Lookup(origin); ok {
		return r.Size()
	}
	return -1
}

// network is the lane's nine nodes and the fault proxies between them.
type network struct {
	nodes   []*laneNode
	byID    map[string]*laneNode
	proxies map[[2]string]*faultnet.Proxy // from → to, for the links a partition cuts
	asia    map[string]bool               // the side of the lane each party is on
	twin    *laneNode                     // the evil fault's clone, while it runs
	logFile *os.File                      // the nodes' log, when the demo opened it
}

func (w *network) node(id string) *laneNode { return w.byID[id] }

// link puts each party's card in the directory of every party it trades
// with. In this lane that is every other party: linkd replicates only over
// direct links (nothing is relayed), every party is on every shipment's
// list (the centres plan re-allocations against every inbound container),
// and each party records events about those shipments, so each must reach
// all the others. The one exception is a stock position, which its centre
// shares with the retailer, the vendor and the other centres; those links
// exist anyway. With proxies, a cross-side link goes through a fault proxy,
// so a partition can cut it.
func (w *network) link(withProxies bool) error {
	for _, a := range w.nodes {
		for _, b := range w.nodes {
			if a == b {
				continue
			}
			card, err := b.card()
			if err != nil {
				return err
			}
			if withProxies && w.asia[a.party.ID] != w.asia[b.party.ID] {
				k := [2]string{a.party.ID, b.party.ID}
				p := w.proxies[k]
				if p == nil {
					if p, err = faultnet.New(b.cfg.Listen); err != nil {
						return err
					}
					w.proxies[k] = p
				}
				card.Endpoint = "https://" + p.Addr()
			}
			if old, ok := a.n.Peers().Get(b.party.ID); ok && sameCard(old, card) {
				continue
			}
			if err := a.n.Peers().Put(card); err != nil {
				return fmt.Errorf("link %s to %s: %w", a.party.ID, b.party.ID, err)
			}
		}
	}
	return nil
}

func sameCard(a, b peers.Peer) bool {
	return a.Endpoint == b.Endpoint && a.LogKey == b.LogKey && a.WitnessKey == b.WitnessKey &&
		strings.TrimSpace(a.CertPEM) == strings.TrimSpace(b.CertPEM) && a.Party.Name == b.Party.Name &&
		slices.Equal(a.Party.Jurisdiction, b.Party.Jurisdiction) && a.Party.Location == b.Party.Location
}

// waitLinks waits until every running node's every link is up.
func (w *network) waitLinks(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var down []string
		for _, ln := range w.nodes {
			st := ln.n.Links().Status()
			if len(st) < len(w.nodes)-1 {
				down = append(down, fmt.Sprintf("%s has %d of %d links", ln.party.ID, len(st), len(w.nodes)-1))
				continue
			}
			for _, s := range st {
				if !s.Connected {
					down = append(down, ln.party.ID+"→"+s.Peer)
				}
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links not up after %v: %s", timeout, strings.Join(down, ", "))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// stopAll stops every node and proxy. The nodes drain at once: each
// waits for requests in flight, mostly its peers' frames.
func (w *network) stopAll() error {
	var errs []error
	for _, ln := range w.nodes {
		if ln.n != nil {
			ln.cancel()
		}
	}
	for _, ln := range w.nodes {
		if err := ln.stop(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ln.party.ID, err))
		}
	}
	if w.twin != nil {
		if err := w.twin.stop(); err != nil {
			errs = append(errs, fmt.Errorf("the clone: %w", err))
		}
		os.RemoveAll(w.twin.dir)
		w.twin = nil
	}
	for _, p := range w.proxies {
		p.Close()
	}
	w.proxies = map[[2]string]*faultnet.Proxy{}
	if w.logFile != nil {
		w.logFile.Close()
		w.logFile = nil
	}
	return errors.Join(errs...)
}

// lag is the entries the lane's links have not yet delivered, over every
// running node.
func (w *network) lag() int64 {
	var n int64
	for _, ln := range w.nodes {
		if ln.n == nil {
			continue
		}
		for _, s := range ln.n.Links().Status() {
			if s.Lag > 0 {
				n += s.Lag
			}
		}
	}
	return n
}

// heldBy returns the parties whose nodes hold origin's log (refuse its new
// entries) after catching it equivocate.
func (w *network) heldBy(origin string) []string {
	var out []string
	for _, ln := range w.nodes {
		if ln.n == nil || ln.party.ID == origin {
			continue
		}
		if held, _ := ln.n.Alerts().Held(linkd.LogOrigin(origin)); held {
			out = append(out, ln.party.ID)
		}
	}
	return out
}

// copyState is where one node's copy of another party's log stands.
type copyState int

const (
	copyInStep copyState = iota // the origin's size and root
	copyBehind                  // a prefix of the origin's log, still catching up
	copyHeld                    // the node holds the log back after catching it equivocate
	copyForked                  // another history than the origin's (an equivocation it has not caught)
)

// copyOf says where holder's copy of origin's log stands.
func (w *network) copyOf(holder, origin *laneNode) (copyState, string) {
	if held, _ := holder.n.Alerts().Held(linkd.LogOrigin(origin.party.ID)); held {
		return copyHeld, ""
	}
	size := origin.n.Log().Size()
	r, ok := holder.n.Logs().Lookup(origin.party.ID)
	if !ok {
		return copyBehind, fmt.Sprintf("%s holds none of %s's %d", holder.party.ID, origin.party.ID, size)
	}
	got := min(r.Size(), size)
	mine, err1 := r.TreeHash(got)
	theirs, err2 := origin.n.Log().TreeHash(got)
	if err1 != nil || err2 != nil || mine != theirs {
		return copyForked, fmt.Sprintf("%s holds another history of %s's log", holder.party.ID, origin.party.ID)
	}
	if r.Size() < size {
		return copyBehind, fmt.Sprintf("%s holds %d of %s's %d", holder.party.ID, r.Size(), origin.party.ID, size)
	}
	return copyInStep, ""
}

// behind lists the copies still catching up, over every running node;
// empty when the lane has converged, apart from logs held or forked.
func (w *network) behind() []string {
	var out []string
	w.eachCopy(func(holder, origin *laneNode, st copyState, why string) {
		if st == copyBehind {
			out = append(out, why)
		}
	})
	return out
}

// eachCopy calls f for every running node's copy of every other running
// node's log.
func (w *network) eachCopy(f func(holder, origin *laneNode, st copyState, why string)) {
	for _, origin := range w.nodes {
		for _, holder := range w.nodes {
			if holder == origin || holder.n == nil || origin.n == nil {
				continue
			}
			st, why := w.copyOf(holder, origin)
			f(holder, origin, st, why)
		}
	}
}

// lanePicture is where every copy stands: those behind, and by origin the
// nodes holding its log back or holding another history of it.
type lanePicture struct {
	behind       []string
	held, forked map[string][]string // origin → holders
}

func (w *network) picture() lanePicture {
	p := lanePicture{held: map[string][]string{}, forked: map[string][]string{}}
	w.eachCopy(func(holder, origin *laneNode, st copyState, why string) {
		switch st {
		case copyBehind:
			p.behind = append(p.behind, why)
		case copyHeld:
			p.held[origin.party.ID] = append(p.held[origin.party.ID], holder.party.ID)
		case copyForked:
			p.forked[origin.party.ID] = append(p.forked[origin.party.ID], holder.party.ID)
		}
	})
	return p
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// listenError explains a listener that could not bind.
func listenError(addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		_, port, _ := net.SplitHostPort(addr)
		return fmt.Errorf("port %s is already in use (%s %s): another program, or another linkd demo, listens there; pass %s with a free address, such as 127.0.0.1:0, or %s off",
			port, flag, addr, flag, flag)
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}
