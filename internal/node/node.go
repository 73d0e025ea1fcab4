// Package node assembles a party's node from its parts: the Pebble store,
// the party log, access tokens, the directory of peers and the HTTPS API. It
// owns the node's lifecycle (open, serve, drain on shutdown, close) and the
// files `linkd init` creates: keys, certificate and a commented config file.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/time/rate"

	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/docs"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/alerts"
	"github.com/linkd-dev/linkd/internal/dashboard"
	"github.com/linkd-dev/linkd/internal/drain"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/raftlog"
	"github.com/linkd-dev/linkd/internal/roster"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/telemetry"
)

// Node is one running party node.
type Node struct {
	cfg     Config
	logger  *slog.Logger
	db      *pebble.DB
	log     *partylog.Log
	cluster *raftlog.Member // nil for a single node; see cluster.go
	tokens  *access.Store
	peers   *peers.Directory
	logs    *partylog.Logs
	roster  *roster.Roster
	alerts  *alerts.Store
	links   *link.Manager
	tracing *telemetry.Tracing
	cosigs  *cosignatures
	feed    *subscribe.Feed
	subs    *subscribe.Manager
	reactor *reactor
	docs    *documentService
	keys    *shred.Keys // per-shipment data keys (crypto-shredding)
	unsub   func()
	applied atomic.Pointer[func(origin string, from int64, res partylog.ApplyResult)]
	card    peers.Peer // this node's card for partners, or
	cardErr error      // why it has none
	api     *httpapi.Server
	metrics *httpapi.Metrics
	srv     *http.Server
	gate    drain.Gate // requests in flight; Close waits for them before closing the store
	ln      net.Listener
	served  bool // Serve ran; it closes the listener itself
}

// Open opens the node's store and log and binds its listener; Serve then
// answers requests. logger nil discards.
func Open(cfg Config, logger *slog.Logger) (n *Node, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	party := cfg.PartyValue()
	logger = logger.With("party", party.ID)
	skey, err := os.ReadFile(cfg.Path(cfg.Keys.Log))
	if err != nil {
		return nil, fmt.Errorf("read log key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(cfg.Path(cfg.Keys.TLSCert), cfg.Path(cfg.Keys.TLSKey))
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	n = &Node{cfg: cfg, logger: logger, metrics: httpapi.NewMetrics()}
	defer func(opened *Node) { // not n: every failure below returns nil for it
		if err != nil {
			opened.Close()
		}
	}(n)
	traces := cfg.Traces
	if traces.File != "" {
		traces.File = cfg.Path(traces.File)
	}
	if n.tracing, err = telemetry.Open(context.Background(), traces, party.ID, logger); err != nil {
		return nil, err
	}
	if n.db, err = store.Open(cfg.Path(cfg.Data), store.Options{Logger: logger}); err != nil {
		return nil, err
	}
	// The per-shipment data keys: event records and documents of a
	// shipment are sealed under its key, which erasure destroys.
	if n.keys, err = shred.Open(n.db, filepath.Join(cfg.Path(cfg.Data), "keys"), logger.With("component", "keys")); err != nil {
		return nil, err
	}
	n.log, err = n.openLog(cfg, cert, partylog.Config{
		Self:       party,
		SigningKey: strings.TrimSpace(string(skey)),
		Logger:     logger,
		Sealer:     eventSealer(n.keys),
		OnCommit: func(c partylog.CommitInfo) {
			n.metrics.ObserveCommit(c.Events, c.SyncDuration, c.Size)
			if n.links != nil {
				n.links.Committed(c.Entries)
			}
			if n.feed != nil {
				n.feed.Recorded(party.ID, c.Entries)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	n.metrics.SetLogSize(n.log.Size())
	if n.tokens, err = access.Open(n.db, access.Options{Logger: logger}); err != nil {
		return nil, err
	}
	if n.peers, err = peers.Open(n.db, party, logger); err != nil {
		return nil, err
	}
	if err := n.openLinks(cfg, party, cert, logger); err != nil {
		return nil, err
	}
	if err := n.openSubscriptions(cfg, party, logger); err != nil {
		return nil, err
	}
	if err := n.openReactor(cfg, party, logger); err != nil {
		return nil, err
	}
	if err := n.openDocuments(cfg, party, cert, logger); err != nil {
		return nil, err
	}
	var limiter *access.Limiter
	if cfg.Limits.RatePerToken > 0 {
		limiter = access.NewLimiter(rate.Limit(cfg.Limits.RatePerToken), cfg.Limits.BurstPerToken, nil)
	}
	n.api = httpapi.New(httpapi.Config{
		Self: party, Log: n.log, Tokens: n.tokens, Limiter: limiter, Metrics: n.metrics, Logger: logger,
		OpenAPI: docs.OpenAPI, MaxBodyBytes: cfg.Limits.MaxBodyBytes, MaxConcurrent: cfg.Limits.MaxConcurrent,
		Peers: n.peers, Card: n.Card,
		Logs: n.logs, Ingest: n.apiIngest, Documents: n.docs, Links: func() any { return n.links.Status() }, Alerts: n.alerts,
		Cosigned: n.cosigs.on, Subscriptions: n.subs,
		Allocations:  func() any { return n.Allocations() },
		Verification: func(ctx context.Context, id string) (any, error) { return n.Verify(ctx, id) },
		Rules:        rulesAPI{n},
		Tracer:       n.tracer(),
		// The dashboard of this node's party; the page asks for a token.
		Extra: map[string]http.Handler{"/dashboard/": http.StripPrefix("/dashboard", dashboard.Handler(dashboard.Config{
			Title: party.Name, Mode: dashboard.ModeNode, Nodes: []dashboard.Node{{Party: party, Base: ""}}}))},
	})
	if n.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	// The card needs the bound port (listen may say :0). A node without one
	// still serves its own party; it only cannot be added by partners.
	advertise, cerr := cfg.AdvertiseURL(n.ln.Addr().String())
	if cerr == nil {
		n.card, cerr = cfg.Card(advertise)
	}
	if cerr != nil {
		logger.Warn("this node has no card for partners", "err", cerr)
		n.cardErr = &linkd.Error{Code: linkd.ENotFound, Message: "this node has no card for partners; its log says why (usually: set advertise in its config)", Err: cerr}
	}
	l := cfg.Limits
	n.srv = &http.Server{
		Handler:           n.gate.Wrap(n.clusterReads(n.handler())),
		ReadHeaderTimeout: time.Duration(l.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(l.ReadTimeout),
		WriteTimeout:      time.Duration(l.WriteTimeout),
		IdleTimeout:       time.Duration(l.IdleTimeout),
		MaxHeaderBytes:    l.MaxHeaderBytes,
		// Peers present their certificate (peers.ClientTLS) and are known
		// by it (Directory.Identify); people and systems come with bearer
		// tokens and none. So a certificate is asked for, never required,
		// and never checked against a CA: only the directory's pins count.
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert},
		// TLS handshake failures and client hang-ups are routine on an
		// exposed port: keep them out of the operator's error log.
		ErrorLog: slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelDebug),
	}
	_, cp := n.log.Checkpoint()
	logger.Info("node open", "listen", n.ln.Addr().String(), "advertise", n.card.Endpoint, "log_size", n.log.Size(),
		"root", fmt.Sprintf("%x", cp.Hash[:8]), "tokens", n.tokens.Count(), "peers", n.peers.Len(), "data", cfg.Path(cfg.Data))
	return n, nil
}

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Log is the node's party log.
func (n *Node) Log() *partylog.Log { return n.log }

// Store is the node's Pebble store. Benchmarks read its metrics, to wait
// out the compactions a load left owed before they time what follows.
func (n *Node) Store() *pebble.DB { return n.db }

// Tokens is the node's token store.
func (n *Node) Tokens() *access.Store { return n.tokens }

// Peers is the node's directory of partners.
func (n *Node) Peers() *peers.Directory { return n.peers }

// Card is this node's identity card for its partners (GET /v1/node/card,
// 'linkd peer card'), or a not_found error saying it has none.
func (n *Node) Card() (peers.Peer, error) {
	if n.cardErr != nil {
		return peers.Peer{}, n.cardErr
	}
	return n.card, nil
}

// handlerExitWait bounds how long shutdown waits for handlers that the
// server has already cut off.
const handlerExitWait = 5 * time.Second

// Serve answers requests until ctx ends, then drains: /readyz turns 503, the
// listener closes, and requests in flight get up to the configured grace to
// finish. It returns nil after a clean drain.
func (n *Node) Serve(ctx context.Context) error {
	n.served = true
	errc := make(chan error, 1)
	go func() { errc <- n.srv.ServeTLS(n.ln, "", "") }()
	if err := n.links.Start(); err != nil {
		n.logger.Warn("some links could not start; see above", "err", err)
	}
	if err := n.subs.Start(); err != nil {
		n.logger.Error("subscriptions could not start", "err", err)
	}
	n.reactor.start()
	n.startDocuments()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	grace := time.Duration(n.cfg.ShutdownGrace)
	n.logger.Info("shutting down: draining requests", "grace", grace)
	n.api.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := n.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		n.logger.Warn("requests still running after the grace period were cut off", "grace", grace)
		n.srv.Close()
		err = nil
	}
	// Close cancels the contexts of the requests it cut off; give their
	// handlers a moment to return before the store goes.
	wctx, wcancel := context.WithTimeout(context.Background(), handlerExitWait)
	defer wcancel()
	if werr := n.gate.Close(wctx); werr != nil {
		n.logger.Error("handlers still running after the server closed; closing the store anyway", "waited", handlerExitWait)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Close closes the log and the store. Call it after Serve returned.
func (n *Node) Close() error {
	var errs []error
	if n.ln != nil && !n.served {
		n.ln.Close()
	}
	// Serve waited already; this covers a node closed without serving.
	wctx, wcancel := context.WithTimeout(context.Background(), handlerExitWait)
	defer wcancel()
	n.gate.Close(wctx)
	if n.unsub != nil {
		n.unsub()
	}
	if n.links != nil {
		n.links.Close()
	}
	if n.subs != nil {
		n.subs.Close()
	}
	if n.reactor != nil {
		n.reactor.close()
	}
	n.closeDocuments()
	if n.keys != nil {
		defer n.keys.Close()
	}
	if n.cluster != nil {
		errs = append(errs, n.cluster.Close()) // Raft first: it applies to the log
	}
	if n.log != nil {
		errs = append(errs, n.log.Close())
	}
	if n.db != nil {
		errs = append(errs, n.db.Close())
	}
	if n.tracing != nil {
		tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.tracing.Close(tctx); err != nil {
			n.logger.Warn("exporting the last traces failed", "err", err)
		}
		tcancel()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	size := int64(0)
	if n.log != nil {
		size = n.log.Size()
	}
	n.logger.Info("node closed", "log_size", size)
	return nil
}

// tracer is the node's tracer, nil when it records no spans.
func (n *Node) tracer() trace.Tracer {
	if !n.tracing.On() {
		return nil
	}
	return n.tracing.Tracer()
}

// Party is who the node records for.
func (n *Node) Party() linkd.Party { return n.cfg.PartyValue() }

// Handler is the node's HTTP handler, for serving it in-process (benchmarks
// measure the server's own time through it, without the network).
func (n *Node) Handler() http.Handler { return n.api }
