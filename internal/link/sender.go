package link

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/telemetry"
)

// sender pushes this node's log to one peer.
type sender struct {
	m      *Manager
	peer   peers.Peer
	client *http.Client
	wake   chan struct{} // a batch committed
	up     chan struct{} // the peer just reached us
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status Status // guarded by mu

	failing    time.Time // when the current run of failures began; zero when the link works
	alerted    bool      // peer_unreachable raised for this run of failures
	fw         frameWriter
	cosignedAt int64     // the size of the newest cosignature the peer sent
	behind     time.Time // when the peer first fell behind; zero when up to date
	backoff    time.Duration
}

// Status is one link's state as this node sees it.
type Status struct {
	Peer      string    `json:"peer"`
	Endpoint  string    `json:"endpoint"`
	Connected bool      `json:"connected"`         // the last exchange succeeded
	Cursor    int64     `json:"cursor"`            // the peer's verified size of this node's log; -1 unknown
	Lag       int64     `json:"lagEntries"`        // entries the peer has not verified
	LastSent  time.Time `json:"lastSent,omitzero"` // last accepted frame
	LastError string    `json:"lastError,omitempty"`
	Replica   int64     `json:"replicaSize"` // this node's verified size of the peer's log
}

func newSender(m *Manager, p peers.Peer) *sender {
	tr := &http.Transport{
		TLSClientConfig: peers.ClientTLS(p, m.cfg.Cert),
		// HTTP/1.1: a sender has one request in flight at a time, so
		// HTTP/2's streams buy nothing, while its framing passes every
		// frame and answer through several more goroutines on each side.
		// With seven nodes on two cores a frame's round trip took about
		// 2.4 ms over HTTP/2 and 1.7 ms over HTTP/1.1, whose headers cost
		// about 5% more bytes on the wire.
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &sender{
		m: m, peer: p,
		client: &http.Client{Transport: tr, Timeout: m.cfg.RequestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		wake:   make(chan struct{}, 1),
		up:     make(chan struct{}, 1),
		done:   make(chan struct{}),
		status: Status{Peer: p.Party.ID, Endpoint: p.Endpoint, Cursor: -1},
	}
}

func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.Cursor >= 0 {
		st.Lag = s.m.cfg.Logs.Own().Size() - st.Cursor
	}
	if rep, ok := s.m.cfg.Logs.Lookup(s.peer.Party.ID); ok {
		st.Replica = rep.Size()
	}
	return st
}

func (s *sender) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	s.mu.Unlock()
}

// run follows the log until ctx ends.
func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	defer s.client.CloseIdleConnections()
	log := s.m.cfg.Logger.With("peer", s.peer.Party.ID)
	cursor := int64(-1)
	gossip := time.NewTimer(0)
	if s.m.cfg.GossipEvery < 0 {
		gossip.Stop()
	}
	defer gossip.Stop()
	cosignIdle := time.NewTimer(cosignAfterIdle)
	cosignIdle.Stop()
	defer cosignIdle.Stop()
	for ctx.Err() == nil {
		var err error
		if cursor < 0 {
			cursor, err = s.cursor(ctx)
		} else if own := s.m.cfg.Logs.Own(); cursor < own.Size() {
			cursor, err = s.send(ctx, cursor)
		} else {
			s.caughtUp()
			// A cosignature of where the burst ended is asked for once the
			// log has been idle a moment, never between a commit and its
			// frame: the peer fsyncs before it cosigns, and a frame waiting
			// on that round trip would add it to the propagation time.
			var idle <-chan time.Time
			if s.cosignedAt < cursor && s.m.cfg.OnCosigned != nil {
				cosignIdle.Reset(cosignAfterIdle)
				idle = cosignIdle.C
			}
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-idle:
				s.requestCosignature(ctx)
			case <-gossip.C:
				s.gossip(ctx)
				gossip.Reset(s.m.cfg.GossipEvery)
			}
			continue
		}
		if err == nil {
			s.backoff = 0
			s.failing, s.alerted = time.Time{}, false
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.m.cfg.Metrics.sendError(s.peer.Party.ID)
		s.update(func(st *Status) { st.Connected, st.LastError = false, err.Error() })
		if s.backoff == 0 {
			log.Warn("link to peer failing; retrying with backoff", "err", err)
		}
		if s.failing.IsZero() {
			s.failing = time.Now()
		} else if down := time.Since(s.failing); down >= s.m.cfg.UnreachableAfter && !s.alerted {
			s.alerted = true
			s.m.raise(linkd.AlertPeerUnreachable, linkd.SeverityWarning, s.peer.Party.ID, "",
				fmt.Sprintf("%s has not taken a frame for %v: %v", s.peer.Party.ID, down.Round(time.Second), err), nil)
		}
		s.backoff = min(max(2*s.backoff, s.m.cfg.RetryMin), s.m.cfg.RetryMax)
		t := time.NewTimer(s.backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.up:
			// The peer spoke to us (it gossips as soon as it starts): try
			// again now rather than at the end of the backoff. New commits
			// do not cut a backoff short, or a busy log would hammer a
			// peer that is down.
			cursor = -1
		}
		t.Stop()
	}
}

func (s *sender) caughtUp() {
	s.behind = time.Time{}
	s.m.cfg.Metrics.lag(s.peer.Party.ID, 0, 0)
}

// cursor asks the peer how much of this node's log it has verified.
func (s *sender) cursor(ctx context.Context) (int64, error) {
	ack, status, err := s.do(ctx, http.MethodGet, "/v1/link/cursor", nil, "")
	if err != nil {
		return -1, err
	}
	if status != http.StatusOK {
		return -1, fmt.Errorf("%s answered %d: %s", s.peer.Party.ID, status, ack.Message)
	}
	s.update(func(st *Status) { st.Cursor, st.Connected, st.LastError = ack.Size, true, "" })
	return ack.Size, nil
}

// send posts the frame that follows cursor and returns the new cursor.
func (s *sender) send(ctx context.Context, cursor int64) (int64, error) {
	own := s.m.cfg.Logs.Own()
	size := own.Size()
	if s.behind.IsZero() {
		s.behind = time.Now()
	}
	s.m.cfg.Metrics.lag(s.peer.Party.ID, size-cursor, time.Since(s.behind).Seconds())
	to, note, err := frameEnd(own, cursor, cursor+int64(s.m.cfg.MaxFrameEntries))
	if err != nil {
		return cursor, err
	}
	spans, traceparents := s.startSpans(ctx, cursor, to)
	w := &s.fw
	w.begin(s.m.cfg.Self.ID, cursor, note, traceparents)
	payloads, hashes := 0, 0
	err = s.m.out.read(ctx, own, cursor, to, func(_ int64, e *outEntry) error {
		if e.shares(s.peer.Party) {
			w.event(e.salt, e.canon)
			payloads++
			return nil
		}
		w.leaf(e.leaf)
		hashes++
		return nil
	})
	if err != nil {
		return cursor, err
	}
	body := s.m.zframes.compress(w.finish())
	ack, status, err := s.do(ctx, http.MethodPost, "/v1/link/frames", body, frameType)
	endSpans(spans, status, err, len(body), payloads, hashes)
	if err != nil {
		return cursor, err
	}
	switch status {
	case http.StatusOK:
		s.m.cfg.Metrics.sent(s.peer.Party.ID, len(body), payloads, hashes)
		if ack.Cosignature != "" && s.m.cfg.OnCosigned != nil {
			s.m.cfg.OnCosigned(s.peer.Party.ID, ack.Size, []byte(ack.Cosignature))
			s.cosignedAt = ack.Size
		}
		s.update(func(st *Status) { st.Cursor, st.Connected, st.LastError, st.LastSent = ack.Size, true, "", time.Now() })
		if ack.Size >= size {
			s.behind = time.Time{}
		}
		return ack.Size, nil
	case http.StatusConflict:
		if ack.Resume && ack.Size >= 0 {
			return ack.Size, nil // a gap: resume where the peer is
		}
		if ack.Prove {
			s.prove(ctx, ack)
		}
	}
	return -1, fmt.Errorf("%s refused a frame (%d %s): %s", s.peer.Party.ID, status, ack.Code, ack.Message)
}

// frameEnd returns where the frame that follows cursor ends, at most limit
// unless no checkpoint is there, and the signed checkpoint of that size. A
// peer that keeps up takes everything up to the newest checkpoint, which the
// log holds in memory.
func frameEnd(own *partylog.Log, cursor, limit int64) (int64, []byte, error) {
	if note, cp := own.Checkpoint(); note != nil && cursor < cp.Size && cp.Size <= limit {
		return cp.Size, note, nil
	}
	to, err := own.CheckpointBoundary(cursor, limit)
	if err != nil {
		return 0, nil, err
	}
	note, err := own.CheckpointAt(to)
	if err != nil {
		return 0, nil, err
	}
	return to, note, nil
}

// startSpans begins a link.send span for each traced append among the
// entries [from, to), each a child of that append's trace, and returns them
// with their traceparents for the frame.
func (s *sender) startSpans(ctx context.Context, from, to int64) ([]trace.Span, string) {
	if s.m.cfg.Tracer == nil {
		return nil, ""
	}
	parents := s.m.cfg.Traces.Lookup(from, to, MaxFrameTraces)
	if len(parents) == 0 {
		return nil, ""
	}
	spans := make([]trace.Span, 0, len(parents))
	var tps []string
	for _, sc := range parents {
		_, span := s.m.cfg.Tracer.Start(trace.ContextWithSpanContext(ctx, sc), "link.send",
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("linkd.peer", s.peer.Party.ID), attribute.Int64("linkd.from", from), attribute.Int64("linkd.to", to)))
		spans = append(spans, span)
		if tp := telemetry.Traceparent(span.SpanContext()); tp != "" {
			tps = append(tps, tp)
		}
	}
	return spans, strings.Join(tps, ",")
}

// endSpans ends a frame's link.send spans with what the peer answered.
func endSpans(spans []trace.Span, status int, err error, bytes, payloads, hashes int) {
	for _, span := range spans {
		span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.Int("linkd.frame_bytes", bytes),
			attribute.Int("linkd.payloads", payloads), attribute.Int("linkd.commitments", hashes))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		} else if status != http.StatusOK {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

// cosignAfterIdle is how long a caught-up sender waits for the next commit
// before it asks the peer to cosign the checkpoint it holds.
const cosignAfterIdle = 100 * time.Millisecond

// frameType is the media type of a frame on the wire (zstd-compressed).
const frameType = "application/vnd.linkd.frame"

// prove answers a peer whose verified tree of this node's log the frame's
// entries did not extend: it sends this log's signed checkpoint at the peer's
// size, so the peer can tell bad entries from a second history signed with
// this log's key. The peer's own checkpoint at that size is checked here too:
// if this node never issued it, the key is in someone else's hands.
func (s *sender) prove(ctx context.Context, ack FrameAck) {
	own := s.m.cfg.Logs.Own()
	if ack.Checkpoint != "" {
		if cp, err := parseNote([]byte(ack.Checkpoint)); err == nil && cp.Origin == own.Origin() {
			s.m.checkOwn(s.peer.Party.ID, []byte(ack.Checkpoint), cp)
		}
	}
	note, err := own.CheckpointOrSign(ack.Size)
	if err != nil {
		s.m.cfg.Logger.Warn("cannot prove this log's tree to a peer", "peer", s.peer.Party.ID, "size", ack.Size, "err", err)
		return
	}
	body, _ := json.Marshal(Proof{Checkpoint: string(note)})
	if _, _, err := s.do(ctx, http.MethodPost, "/v1/link/prove", body, "application/json"); err != nil {
		s.m.cfg.Logger.Warn("sending a proof of this log's tree failed", "peer", s.peer.Party.ID, "size", ack.Size, "err", err)
	}
}

// requestCosignature asks the caught-up peer to cosign the checkpoint it
// holds, the one this node's last burst ended with.
func (s *sender) requestCosignature(ctx context.Context) {
	ack, status, err := s.do(ctx, http.MethodPost, "/v1/link/cosign", nil, "")
	if err != nil || status != http.StatusOK || ack.Cosignature == "" {
		return
	}
	s.m.cfg.OnCosigned(s.peer.Party.ID, ack.Size, []byte(ack.Cosignature))
	s.cosignedAt = ack.Size
}

// gossip exchanges newest checkpoints with the peer.
func (s *sender) gossip(ctx context.Context) {
	body, _ := json.Marshal(Gossip{From: s.m.cfg.Self.ID, Checkpoints: s.m.newest()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.peer.Endpoint+"/v1/link/gossip", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	var g Gossip
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxGossipBytes)).Decode(&g); err != nil || len(g.Checkpoints) > maxGossipNotes {
		s.m.cfg.Metrics.refuse(s.peer.Party.ID, "bad_frame")
		return
	}
	s.m.checkGossip(s.peer.Party.ID, g.Checkpoints)
}

func (s *sender) do(ctx context.Context, method, path string, body []byte, ctype string) (FrameAck, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.peer.Endpoint+path, rd)
	if err != nil {
		return FrameAck{}, 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if ctype == frameType {
		req.Header.Set("Content-Encoding", "zstd")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return FrameAck{}, 0, err
	}
	defer resp.Body.Close()
	var ack FrameAck
	ack.Size = -1
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ack); err != nil {
		return FrameAck{}, resp.StatusCode, fmt.Errorf("%s answered %d with a body that is not a link answer", s.peer.Party.ID, resp.StatusCode)
	}
	return ack, resp.StatusCode, nil
}
