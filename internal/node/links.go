package node

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/alerts"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/roster"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// linkAlerts adapts the alert store to what the link layer reports.
type linkAlerts struct {
	s      *alerts.Store
	logger *slog.Logger

	mu   sync.Mutex
	last map[string]string // newest alert id per log, for holds
}

func (a *linkAlerts) Raise(kind, severity, peer, log, msg string, ev *linkd.Evidence) {
	al, err := a.s.Raise(linkd.Alert{Kind: kind, Severity: severity, Peer: peer, Log: log, Message: msg, Evidence: ev})
	if err != nil {
		a.logger.Error("could not record an alert", "kind", kind, "peer", peer, "err", err)
		return
	}
	a.mu.Lock()
	if a.last == nil {
		a.last = map[string]string{}
	}
	a.last[log] = al.ID
	a.mu.Unlock()
}

func (a *linkAlerts) Hold(log, reason string) {
	a.mu.Lock()
	id := a.last[log]
	a.mu.Unlock()
	if err := a.s.Hold(log, reason, id); err != nil {
		a.logger.Error("could not hold a log", "log", log, "err", err)
	}
}

func (a *linkAlerts) Held(log string) (bool, string) { return a.s.Held(log) }

// loadCosigner reads the witness key, making one on first start of a node
// initialised before nodes witnessed.
func loadCosigner(cfg Config, party linkd.Party, logger *slog.Logger) (*witness.Cosigner, error) {
	path := cfg.Path(cfg.Keys.Witness)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, gerr := witness.GenerateKey(party.ID)
		if gerr != nil {
			return nil, gerr
		}
		if err := writeFileExcl(path, []byte(skey+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write witness key: %w", err)
		}
		if err := writeFileExcl(path+".pub", []byte(vkey+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write witness key: %w", err)
		}
		logger.Info("made a witness key; partners need this node's new card to check its cosignatures", "path", path)
		b = []byte(skey)
	} else if err != nil {
		return nil, fmt.Errorf("read witness key: %w", err)
	}
	return witness.NewCosigner(strings.TrimSpace(string(b)))
}

// cosignatures keeps the newest verified cosignature of this node's log by
// each peer, durably under 'W' peerID → size(8) line.
type cosignatures struct {
	db     *pebble.DB
	peers  *peers.Directory
	logV   tlog.Verifier
	logger *slog.Logger

	mu     sync.Mutex
	latest map[string]cosig // guarded by mu
}

type cosig struct {
	size int64
	line []byte
}

const prefixCosig = 'W'

func openCosignatures(db *pebble.DB, dir *peers.Directory, logV tlog.Verifier, logger *slog.Logger) (*cosignatures, error) {
	c := &cosignatures{db: db, peers: dir, logV: logV, logger: logger, latest: map[string]cosig{}}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCosig}, UpperBound: []byte{prefixCosig + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) < 8 {
			continue
		}
		c.latest[string(it.Key()[1:])] = cosig{int64(binary.BigEndian.Uint64(v)), append([]byte(nil), v[8:]...)}
	}
	return c, it.Error()
}

// add keeps a peer's cosignature of this log's checkpoint of size, once it
// verifies with the peer's witness key.
func (c *cosignatures) add(peer string, size int64, note, line []byte) {
	p, ok := c.peers.Get(peer)
	if !ok || p.WitnessKey == "" {
		return
	}
	v, err := witness.NewCosignatureVerifier(p.WitnessKey)
	if err != nil {
		return
	}
	merged := witness.AddCosignatures(note, line)
	names, err := witness.VerifyCosignatures(merged, c.logV, v)
	if err != nil || len(names) == 0 {
		c.logger.Warn("a peer's cosignature does not verify; ignored", "peer", peer, "size", size)
		return
	}
	val := binary.BigEndian.AppendUint64(nil, uint64(size))
	if err := c.db.Set(append([]byte{prefixCosig}, peer...), append(val, line...), pebble.NoSync); err != nil {
		c.logger.Warn("could not keep a cosignature", "peer", peer, "err", err)
		return
	}
	c.mu.Lock()
	c.latest[peer] = cosig{size, append([]byte(nil), line...)}
	c.mu.Unlock()
}

// on returns note with every kept cosignature of exactly its size.
func (c *cosignatures) on(note []byte, size int64) []byte {
	c.mu.Lock()
	var lines [][]byte
	for _, cs := range c.latest {
		if cs.size == size {
			lines = append(lines, cs.line)
		}
	}
	c.mu.Unlock()
	if len(lines) == 0 {
		return note
	}
	return witness.AddCosignatures(note, lines...)
}

// openLinks opens what links need: the merged view of every log, shipment
// rosters, alerts, the witness key and the link manager, which starts
// sending when Serve begins.
func (n *Node) openLinks(cfg Config, party linkd.Party, cert tls.Certificate, logger *slog.Logger) error {
	var err error
	n.logs = partylog.NewLogs(n.log, logger)
	n.roster = roster.New(party, n.logs, 0)
	if n.alerts, err = alerts.Open(n.db, logger); err != nil {
		return err
	}
	cosigner, err := loadCosigner(cfg, party, logger)
	if err != nil {
		return err
	}
	if n.cosigs, err = openCosignatures(n.db, n.peers, n.log.Verifier(), logger); err != nil {
		return err
	}
	n.links = link.New(link.Config{
		Self: party, Logs: n.logs, Directory: n.peers, Cert: cert,
		Alerts:  &linkAlerts{s: n.alerts, logger: logger},
		Metrics: link.NewMetrics(n.metrics.Registry()),
		Logger:  logger.With("component", "link"),
		Tracer:  n.tracer(),
		Traces:  n.tracing.Index(),
		Cosign: func(note []byte, v tlog.Verifier) ([]byte, error) {
			return witness.Cosign(note, v, cosigner, time.Now())
		},
		OnCosigned: func(peer string, size int64, line []byte) {
			if note, err := n.log.CheckpointAt(size); err == nil {
				n.cosigs.add(peer, size, note, line)
			}
		},
		OnApplied: func(origin string, from int64, res partylog.ApplyResult) {
			n.roster.Learn(res.Events)
			if n.feed != nil {
				n.feed.Applied(origin, res)
			}
			if f := n.applied.Load(); f != nil {
				(*f)(origin, from, res)
			}
		},
	})
	changes, unsub := n.peers.Subscribe()
	n.unsub = unsub
	go func() {
		for range changes {
			if err := n.links.Sync(); err != nil {
				logger.Warn("links not in line with the peer directory", "err", err)
			}
		}
	}()
	return nil
}

// ingest records a client's batch: shipment party lists stamped, appended,
// then learnt by the roster.
func (n *Node) ingest(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
	if err := n.roster.Stamp(ctx, events); err != nil {
		return nil, err
	}
	var span trace.Span
	if t := n.tracer(); t != nil && trace.SpanContextFromContext(ctx).IsSampled() {
		ctx, span = t.Start(ctx, "log.append", trace.WithAttributes(attribute.Int("linkd.events", len(events))))
		defer span.End()
	}
	var committed func([]linkd.Ack)
	if span != nil {
		// The frames carrying these entries may leave as soon as they
		// commit: the index must know their trace by then.
		committed = func(acks []linkd.Ack) { n.traced(span, acks) }
	}
	acks, err := n.log.AppendNotify(ctx, events, committed)
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, linkd.ErrorMessage(err))
		}
		return nil, err
	}
	n.roster.Learn(events)
	return acks, nil
}

// traced notes which log entries an append wrote, so the frames that carry
// them to peers continue its trace.
func (n *Node) traced(span trace.Span, acks []linkd.Ack) {
	first, last := int64(-1), int64(-1)
	for _, a := range acks {
		if a.Duplicate {
			continue
		}
		if first < 0 || a.LogIndex < first {
			first = a.LogIndex
		}
		last = max(last, a.LogIndex)
	}
	if first < 0 {
		return
	}
	span.SetAttributes(attribute.Int64("linkd.log_index.first", first), attribute.Int64("linkd.log_index.last", last))
	n.tracing.Index().Add(first, last, span.SpanContext())
}

// Ingest records a batch as POST /v1/events does.
func (n *Node) Ingest(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
	return n.ingest(ctx, events)
}

// handler routes peers' link requests to the link layer and everything else
// to the API.
func (n *Node) handler() http.Handler {
	links := n.links.Handler()
	documents := n.docs.PeerHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/link/") {
			links.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/peer/") {
			documents.ServeHTTP(w, r)
			return
		}
		n.api.ServeHTTP(w, r)
	})
}

// Logs is every log the node holds: its own and its peers' replicas.
func (n *Node) Logs() *partylog.Logs { return n.logs }

// Links is the node's link manager.
func (n *Node) Links() *link.Manager { return n.links }

// Alerts is the node's alert list.
func (n *Node) Alerts() *alerts.Store { return n.alerts }

// OnReplicated sets a function called after each frame from a peer is
// verified and stored (benchmarks measure propagation with it).
func (n *Node) OnReplicated(f func(origin string, from int64, res partylog.ApplyResult)) {
	if f == nil {
		n.applied.Store(nil) // a pointer to a nil func would be called
		return
	}
	n.applied.Store(&f)
}
