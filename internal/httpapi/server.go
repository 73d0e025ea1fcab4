// Package httpapi is a node's HTTP API: the JSON endpoints a party's people
// and systems use (events, shipments, the log and its proofs, tokens), the
// DCSA Track & Trace 2.2 query, the directory of peers and the node's own
// card, health, readiness and Prometheus metrics.
// docs/openapi.json describes every endpoint.
//
// Every request passes the same gates in order: a concurrency cap (503 when
// full), authentication by bearer token (401), the role's permission for the
// route (403), the token's rate limit (429 with Retry-After), and a body size
// limit (413). Errors are always an ErrorBody with a stable code.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/alerts"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/telemetry"
)

// Config configures a Server.
type Config struct {
	Self    linkd.Party
	Log     *partylog.Log
	Tokens  *access.Store
	Limiter *access.Limiter // per-token rate limit; nil means unlimited
	Metrics *Metrics        // nil means no metrics (and /metrics answers 404)
	Logger  *slog.Logger    // nil discards
	// OpenAPI is the document served at /openapi.json.
	OpenAPI []byte
	// MaxBodyBytes bounds a request body. Zero means linkd.MaxBatchBytes.
	MaxBodyBytes int64
	// MaxConcurrent bounds requests served at once; more are refused with
	// 503 and Retry-After. Zero means 512.
	MaxConcurrent int
	// Peers is the node's directory of partners, managed under /v1/peers.
	// Nil means the node keeps none (those endpoints answer 404).
	Peers *peers.Directory
	// Card returns this node's own card, served at /v1/node/card. Nil means
	// the node has none (404).
	Card func() (peers.Peer, error)
	// Logs is every log the node holds (its own and its peers' replicas);
	// queries, event reads and shipment timelines read through it. Nil
	// means the own log only.
	Logs *partylog.Logs
	// Ingest records a batch from a client. Nil means Log.Append; a node
	// sets it to stamp shipment party lists first.
	Ingest func(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error)
	// Links reports the node's links (GET /v1/links). Nil: no links.
	Links func() any
	// Alerts is the node's alert list (GET /v1/alerts). Nil: none.
	Alerts *alerts.Store
	// Cosigned returns a checkpoint note with the cosignatures this node
	// holds for it. Nil serves notes as the log signed them.
	Cosigned func(note []byte, size int64) []byte
	// Subscriptions keeps the node's subscriptions and streams. Nil: none.
	Subscriptions *subscribe.Manager
	// Allocations returns the derived allocation state (GET
	// /v1/allocations). Nil: the node keeps none.
	Allocations func() any
	// Verification says how an event the node holds is verified: its log
	// position and the checkpoint that covers it, with who cosigned it.
	// Nil: GET /v1/events/{id}/verification answers 404.
	Verification func(ctx context.Context, id string) (any, error)
	// Rules manages the node's rules (GET/POST /v1/rules …). Nil: none.
	Rules RulesAPI
	// Documents keeps the node's trade documents (/v1/documents …,
	// /v1/document-access, /v1/erasures). Nil: those answer 404.
	Documents DocumentsAPI
	// Extra serves paths outside the API (the dashboard); nil: none.
	Extra map[string]http.Handler
	// Tracer, if not nil, records a server span per API request, a child of
	// the caller's W3C traceparent when it sends one. Nil: no spans.
	Tracer trace.Tracer
}

// Server is the HTTP handler of one node.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	mux      *http.ServeMux
	slots    chan struct{}
	draining atomic.Bool
	auditing atomic.Bool // an audit of the log runs (one at a time)
}

// New returns the handler for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = linkd.MaxBatchBytes
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = 512
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux(), slots: make(chan struct{}, cfg.MaxConcurrent)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.routes()
	return s
}

// Drain makes /readyz answer 503 so load balancers stop sending traffic,
// while requests in flight and new ones still get served until the listener
// closes.
func (s *Server) Drain() { s.draining.Store(true) }

// route is one endpoint: a method, a path pattern, the permission it needs
// (none for public endpoints), the query parameters it accepts, and the
// handler.
type route struct {
	method, path string
	perm         access.Permission
	public       bool
	params       []string // accepted query parameters; others get 400
	ownParams    bool     // the handler checks its parameters itself
	long         bool     // a stream: it does not hold one of the concurrency slots
	transfer     bool     // moves a document's bytes: the body is bounded by the document size limit, not MaxBodyBytes
	h            func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() {
	rs := []route{
		{method: "GET", path: "/healthz", public: true, h: s.health},
		{method: "GET", path: "/readyz", public: true, h: s.ready},
		{method: "GET", path: "/openapi.json", public: true, h: s.openapi},
		{method: "GET", path: "/metrics", perm: access.ReadMetrics, h: s.metrics},

		{method: "POST", path: "/v1/events", perm: access.WriteEvents, h: s.postEvents},
		{method: "POST", path: "/v1/edi", perm: access.WriteEvents, params: []string{"zone"}, h: s.postEDI},
		{method: "GET", path: "/v1/events", perm: access.ReadEvents, params: v1EventParams, h: s.listEvents},
		{method: "GET", path: "/v1/events/{id}", perm: access.ReadEvents, h: s.getEvent},
		{method: "GET", path: "/v1/events/{id}/proof", perm: access.ReadLog, h: s.eventProof},
		{method: "GET", path: "/v1/shipments/{ref}", perm: access.ReadEvents, h: s.getShipment},

		{method: "GET", path: "/v1/log/checkpoint", perm: access.ReadLog, params: []string{"size"}, h: s.checkpoint},
		{method: "GET", path: "/v1/log/proof/inclusion", perm: access.ReadLog, params: []string{"index", "size"}, h: s.inclusionProof},
		{method: "GET", path: "/v1/log/proof/consistency", perm: access.ReadLog, params: []string{"old", "size"}, h: s.consistencyProof},
		{method: "POST", path: "/v1/log/audit", perm: access.AuditLog, params: []string{"party"}, long: true, h: s.auditLog},

		{method: "GET", path: "/v1/tokens", perm: access.ManageTokens, h: s.listTokens},
		{method: "POST", path: "/v1/tokens", perm: access.ManageTokens, h: s.createToken},
		{method: "DELETE", path: "/v1/tokens/{id}", perm: access.ManageTokens, h: s.revokeToken},

		{method: "GET", path: "/v1/peers", perm: access.ReadLog, h: s.listPeers},
		{method: "POST", path: "/v1/peers", perm: access.ManagePeers, h: s.putPeer},
		{method: "GET", path: "/v1/peers/{id}", perm: access.ReadLog, h: s.getPeer},
		{method: "DELETE", path: "/v1/peers/{id}", perm: access.ManagePeers, h: s.removePeer},
		{method: "GET", path: "/v1/node/card", perm: access.ReadLog, h: s.nodeCard},

		{method: "GET", path: "/v1/links", perm: access.ReadLog, h: s.listLinks},
		{method: "GET", path: "/v1/alerts", perm: access.ReadLog, params: []string{"all"}, h: s.listAlerts},
		{method: "POST", path: "/v1/alerts/{id}/ack", perm: access.ManagePeers, h: s.ackAlert},
		{method: "GET", path: "/v1/holds", perm: access.ReadLog, h: s.listHolds},
		{method: "DELETE", path: "/v1/holds/{party}", perm: access.ManagePeers, h: s.releaseHold},

		{method: "GET", path: "/v2/events", perm: access.ReadEvents, ownParams: true, h: s.dcsaEvents},

		{method: "POST", path: "/v1/subscriptions", perm: access.ReadEvents, h: s.createSubscription},
		{method: "GET", path: "/v1/subscriptions", perm: access.ReadEvents, h: s.listSubscriptions},
		{method: "GET", path: "/v1/subscriptions/{id}", perm: access.ReadEvents, h: s.getSubscription},
		{method: "DELETE", path: "/v1/subscriptions/{id}", perm: access.ReadEvents, h: s.deleteSubscription},
		{method: "POST", path: "/v1/subscriptions/{id}/pause", perm: access.ReadEvents, h: s.pauseSubscription(true)},
		{method: "POST", path: "/v1/subscriptions/{id}/resume", perm: access.ReadEvents, h: s.pauseSubscription(false)},
		{method: "POST", path: "/v1/subscriptions/{id}/secret", perm: access.ReadEvents, h: s.rotateSecret},
		{method: "GET", path: "/v1/subscriptions/{id}/dead-letters", perm: access.ReadEvents, params: []string{"limit"}, h: s.deadLetters},
		{method: "GET", path: "/v1/subscriptions/{id}/events", perm: access.ReadEvents, params: []string{"from"}, long: true, h: s.subscriptionEvents},
		{method: "GET", path: "/v1/stream", perm: access.ReadEvents, ownParams: true, long: true, h: s.stream},
		{method: "GET", path: "/v1/rules", perm: access.ReadEvents, h: s.listRules},
		{method: "POST", path: "/v1/rules", perm: access.WriteEvents, h: s.putRule},
		{method: "DELETE", path: "/v1/rules/{id}", perm: access.WriteEvents, h: s.deleteRule},
		{method: "POST", path: "/v1/rule-tests", perm: access.ReadEvents, h: s.testRule},
		{method: "GET", path: "/v1/allocations", perm: access.ReadEvents, h: s.allocations},
		{method: "GET", path: "/v1/events/{id}/verification", perm: access.ReadEvents, h: s.verification},
		{method: "GET", path: "/v1/cluster", perm: access.ReadMetrics, h: s.clusterStatus},
		{method: "POST", path: "/v1/cluster/join", public: true, h: s.clusterJoin},
		{method: "POST", path: "/v1/cluster/members", perm: access.ManagePeers, h: s.addClusterMember},
		{method: "DELETE", path: "/v1/cluster/members/{id}", perm: access.ManagePeers, h: s.removeClusterMember},
		{method: "POST", path: "/v1/cluster/members/{id}/replace", perm: access.ManagePeers, h: s.replaceClusterMember},
		{method: "POST", path: "/v1/cluster/join-token", perm: access.ManagePeers, h: s.rotateJoinToken},
		{method: "PUT", path: "/v1/documents/{sha256}", perm: access.WriteEvents, params: documentParams, transfer: true, h: s.putDocument},
		{method: "GET", path: "/v1/documents/{sha256}", perm: access.ReadEvents, transfer: true, h: s.getDocument},
		{method: "GET", path: "/v1/documents", perm: access.ReadEvents, params: shipmentParams, h: s.listDocuments},
		{method: "GET", path: "/v1/documents/{sha256}/info", perm: access.ReadEvents, h: s.documentInfo},
		{method: "GET", path: "/v1/documents/{sha256}/bundle", perm: access.ReadLog, h: s.documentBundle},
		{method: "POST", path: "/v1/documents/{sha256}/attestations", perm: access.WriteEvents, h: s.attestDocument},
		{method: "GET", path: "/v1/document-access", perm: access.ReadEvents, params: shipmentParams, h: s.documentAccess},
		{method: "POST", path: "/v1/document-access", perm: access.WriteEvents, h: s.setDocumentAccess},
		{method: "POST", path: "/v1/erasures", perm: access.EraseData, h: s.eraseShipment},
	}
	allowed := map[string][]string{}
	for _, rt := range rs {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// Known paths with another method get 405 with Allow; unknown paths 404;
	// both as JSON errors like every other answer.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		if strings.Contains(allow, "GET") {
			allow += ", HEAD"
		}
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeStatus(w, r, http.StatusMethodNotAllowed, linkd.EInvalid, fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, path, allow))
		})
	}
	for path, h := range s.cfg.Extra {
		s.mux.Handle(path, h)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeStatus(w, r, http.StatusNotFound, linkd.ENotFound, fmt.Sprintf("no endpoint %s; /openapi.json lists them", clip(r.URL.Path)))
	})
}

func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.cfg.Metrics.observeRequest("unmatched", r.Method, status, 0)
	writeJSON(w, status, linkd.ErrorBody{Error: linkd.ErrorDetail{Code: code, Message: msg}})
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type ctxKey struct{}

// tokenOf returns the authenticated token of a request's context.
func tokenOf(ctx context.Context) access.Token {
	t, _ := ctx.Value(ctxKey{}).(access.Token)
	return t
}

// wrap applies the gates every request passes, then runs the handler.
func (s *Server) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("handler panicked", "route", name, "panic", p)
				if sw.status == 0 {
					s.writeError(sw, r, fmt.Errorf("panic in %s: %v", name, p))
				}
			}
			s.cfg.Metrics.observeRequest(name, r.Method, sw.code(), time.Since(start))
		}()
		if s.cfg.Tracer != nil && !rt.public {
			ctx, span := s.cfg.Tracer.Start(telemetry.Extract(r.Context(), r.Header), name,
				trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("http.route", rt.path)))
			defer func() {
				span.SetAttributes(attribute.Int("http.response.status_code", sw.code()))
				if sw.code() >= 500 {
					span.SetStatus(codes.Error, http.StatusText(sw.code()))
				}
				span.End()
			}()
			r = r.WithContext(ctx)
		}
		if err := s.gate(sw, r, rt); err != nil {
			s.writeError(sw, r, err)
			return
		}
		if !rt.public {
			if rt.long {
				// Streams are bounded by the subscriptions' own limit,
				// not by the slots ordinary requests share.
				<-s.slots
			} else {
				defer func() { <-s.slots }()
			}
		}
		if err := rt.h(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// gate checks capacity, credentials, permission, rate and parameters. On
// success it holds one concurrency slot for non-public routes, which the
// caller releases.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, rt route) error {
	if rt.public {
		return checkParams(r, rt.params, false)
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.cfg.Metrics.reject("overloaded")
		return linkd.Errorf(linkd.EUnavailable, "the node is serving its limit of %d requests at once; retry shortly", cap(s.slots))
	}
	release := true
	defer func() {
		if release {
			<-s.slots
		}
	}()
	tok, err := s.authenticate(r)
	if err != nil {
		s.cfg.Metrics.reject("unauthorized")
		return err
	}
	if !tok.Role.Can(rt.perm) {
		s.cfg.Metrics.reject("forbidden")
		return linkd.Errorf(linkd.EForbidden, "token %s has role %s, which may not %s; ask an admin for a token with a role that may", tok.ID, tok.Role, rt.perm)
	}
	if s.cfg.Limiter != nil {
		if ok, after := s.cfg.Limiter.Allow(tok.ID); !ok {
			s.cfg.Metrics.reject("rate_limited")
			return &rateLimited{linkd.Errorf(linkd.ERateLimited, "token %s is over its request rate; retry after %s", tok.ID, after.Round(time.Millisecond)), after}
		}
	}
	if err := checkParams(r, rt.params, rt.ownParams); err != nil {
		return err
	}
	if r.Body != nil {
		limit := s.cfg.MaxBodyBytes
		if rt.transfer && s.cfg.Documents != nil {
			// One byte over, so the store reads past its limit and says so.
			limit = s.cfg.Documents.MaxDocumentSize() + 1
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	*r = *r.WithContext(context.WithValue(r.Context(), ctxKey{}, tok))
	release = false
	return nil
}

func (s *Server) authenticate(r *http.Request) (access.Token, error) {
	tok, err := access.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return access.Token{}, err
	}
	return s.cfg.Tokens.Authenticate(tok)
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "party": s.cfg.Self.ID})
	return nil
}

// ready answers 200 while the node takes writes: not draining and the log's
// write path running.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return linkd.Errorf(linkd.EUnavailable, "the node is shutting down")
	}
	if err := s.cfg.Log.WriteErr(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "party": s.cfg.Self.ID, "logSize": s.cfg.Log.Size()})
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.cfg.OpenAPI)
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
