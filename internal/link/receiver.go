package link

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/telemetry"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Handler serves the peer-facing endpoints. Every request must come with a
// client certificate pinned in the directory; users' bearer tokens count for
// nothing here.
//
//	POST /v1/link/frames   a frame of the caller's own log → FrameAck
//	GET  /v1/link/cursor   the verified size of the caller's log here → FrameAck
//	POST /v1/link/gossip   the caller's newest checkpoints → this node's
//	POST /v1/link/cosign   a cosignature of the newest verified checkpoint of the caller's log
//	POST /v1/link/prove    the caller's checkpoint at the size this node asked about (FrameAck.Prove)
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/link/frames", m.peerOnly(m.handleFrame))
	mux.HandleFunc("GET /v1/link/cursor", m.peerOnly(m.handleCursor))
	mux.HandleFunc("POST /v1/link/gossip", m.peerOnly(m.handleGossip))
	mux.HandleFunc("POST /v1/link/cosign", m.peerOnly(m.handleCosign))
	mux.HandleFunc("POST /v1/link/prove", m.peerOnly(m.handleProve))
	mux.HandleFunc("/v1/link/", func(w http.ResponseWriter, r *http.Request) {
		writeAck(w, http.StatusNotFound, FrameAck{Code: linkd.ENotFound, Message: fmt.Sprintf("no link endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

type peerHandler func(w http.ResponseWriter, r *http.Request, p peers.Peer)

func (m *Manager) peerOnly(h peerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			m.refuse(w, "unknown", "unauthorized", http.StatusUnauthorized, linkd.EUnauthorized, "link endpoints need mutual TLS")
			return
		}
		p, err := m.cfg.Directory.Identify(r.TLS)
		if err != nil {
			m.refuse(w, "unknown", "unauthorized", http.StatusUnauthorized, linkd.EUnauthorized, linkd.ErrorMessage(err))
			return
		}
		h(w, r, p)
	}
}

func (m *Manager) refuse(w http.ResponseWriter, peer, reason string, status int, code, msg string) {
	m.cfg.Metrics.refuse(peer, reason)
	m.cfg.Logger.Warn("link request refused", "peer", peer, "reason", reason, "detail", msg)
	writeAck(w, status, FrameAck{Code: code, Message: msg})
}

func writeAck(w http.ResponseWriter, status int, a FrameAck) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(a)
}

func (m *Manager) handleCursor(w http.ResponseWriter, r *http.Request, p peers.Peer) {
	rep, err := m.cfg.Logs.Replica(p.Party, p.LogKey)
	if err != nil {
		m.refuse(w, p.Party.ID, "bad_checkpoint", http.StatusConflict, linkd.EConflict, err.Error())
		return
	}
	writeAck(w, http.StatusOK, FrameAck{Size: rep.Size()})
}

// handleCosign cosigns the newest checkpoint of the caller's log this node
// verified. Frames carry a cosignature at most once a second, so a sender
// that has caught up asks for one of the checkpoint its burst ended with.
func (m *Manager) handleCosign(w http.ResponseWriter, r *http.Request, p peers.Peer) {
	rep, err := m.cfg.Logs.Replica(p.Party, p.LogKey)
	if err != nil {
		m.refuse(w, p.Party.ID, "bad_checkpoint", http.StatusConflict, linkd.EConflict, err.Error())
		return
	}
	// Only what is durable is cosigned.
	if err := rep.Sync(); err != nil {
		m.cfg.Logger.Error("syncing a replica before cosigning failed", "peer", p.Party.ID, "err", err)
		writeAck(w, http.StatusServiceUnavailable, FrameAck{Size: -1, Code: linkd.EUnavailable, Message: "this node could not sync its store; retry"})
		return
	}
	ack := FrameAck{Size: rep.Size()}
	note, _ := rep.Checkpoint()
	if m.cfg.Cosign != nil && note != nil {
		if line, err := m.cfg.Cosign(note, rep.Verifier()); err == nil {
			ack.Cosignature = string(line)
		}
	}
	writeAck(w, http.StatusOK, ack)
}

func (m *Manager) handleFrame(w http.ResponseWriter, r *http.Request, p peers.Peer) {
	id := p.Party.ID
	body := &countingReader{r: r.Body}
	raw, release, err := readBody(body, r.Header.Get("Content-Encoding"))
	var f *Frame
	if err == nil {
		// The frame's entries are slices of raw: nothing keeps them after
		// the frame is answered (Apply copies what it stores).
		defer release()
		f, err = parseFrame(raw)
	}
	if err != nil {
		status := http.StatusBadRequest
		if linkd.ErrorCode(err) == linkd.ETooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		m.refuse(w, id, "bad_frame", status, linkd.EInvalid, err.Error())
		return
	}
	if f.Origin != id {
		m.refuse(w, id, "wrong_origin", http.StatusForbidden, linkd.EForbidden,
			fmt.Sprintf("%s sent entries of %q's log; a node sends only its own log", id, f.Origin))
		return
	}
	rep, err := m.cfg.Logs.Replica(p.Party, p.LogKey)
	if err != nil {
		m.refuse(w, id, "bad_checkpoint", http.StatusConflict, linkd.EConflict, err.Error())
		return
	}
	if held, why := m.held(rep.Origin()); held {
		m.refuse(w, id, "held", http.StatusConflict, linkd.EConflict,
			fmt.Sprintf("%s's log is held here until an operator releases it: %s", id, why))
		return
	}
	// Frames are made durable, and cosigned, once a second per log; the
	// rest wait for no fsync (see Replica.ApplyNoSync).
	cosign := m.cfg.Cosign != nil && m.cosignDue(id)
	apply := rep.ApplyNoSync
	if cosign || m.cfg.Cosign == nil {
		apply = rep.Apply
	}
	spans := m.startApplySpans(r, f)
	res, err := apply(r.Context(), f.From, f.Note, f.Entries, admit(m.cfg.Self))
	for _, span := range spans {
		span.SetAttributes(attribute.Int64("linkd.size", res.Size), attribute.Int("linkd.payloads", res.Payloads), attribute.Int("linkd.commitments", res.Hashes))
		if err != nil {
			span.SetStatus(codes.Error, linkd.ErrorMessage(err))
		}
		span.End()
	}
	if err != nil {
		m.applyFailed(w, p, rep, f, err)
		return
	}
	m.cfg.Metrics.received(id, body.n, res.Payloads, res.Hashes)
	m.observe(res.MaxHLC)
	if m.cfg.OnApplied != nil && res.Payloads+res.Hashes > 0 {
		m.cfg.OnApplied(id, f.From, res)
	}
	ack := FrameAck{Size: res.Size}
	if cosign {
		note, _ := rep.Checkpoint()
		if line, err := m.cfg.Cosign(note, rep.Verifier()); err != nil {
			m.cfg.Logger.Error("cosigning a verified checkpoint failed", "peer", id, "err", err)
		} else {
			ack.Cosignature = string(line)
		}
	}
	writeAck(w, http.StatusOK, ack)
}

// startApplySpans begins a link.apply span for each trace the frame carries
// on: verifying and storing the frame, until its events are queryable here.
func (m *Manager) startApplySpans(r *http.Request, f *Frame) []trace.Span {
	if m.cfg.Tracer == nil || f.Trace == "" {
		return nil
	}
	var spans []trace.Span
	for i, tp := range strings.Split(f.Trace, ",") {
		if i == MaxFrameTraces {
			break
		}
		sc, ok := telemetry.ParseTraceparent(tp)
		if !ok {
			continue
		}
		_, span := m.cfg.Tracer.Start(trace.ContextWithRemoteSpanContext(r.Context(), sc), "link.apply",
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("linkd.origin", f.Origin), attribute.Int64("linkd.from", f.From), attribute.Int("linkd.entries", len(f.Entries))))
		spans = append(spans, span)
	}
	return spans
}

// applyFailed answers a frame the replica refused and reports what it means.
func (m *Manager) applyFailed(w http.ResponseWriter, p peers.Peer, rep *partylog.Replica, f *Frame, err error) {
	id := p.Party.ID
	var re *partylog.ReplicaError
	if !errors.As(err, &re) {
		m.cfg.Logger.Error("storing a verified frame failed", "peer", id, "err", err)
		writeAck(w, http.StatusServiceUnavailable, FrameAck{Size: rep.Size(), Code: linkd.EUnavailable, Message: "this node could not store the frame; retry"})
		return
	}
	switch {
	case errors.Is(err, partylog.ErrGap):
		m.cfg.Metrics.refuse(id, "gap")
		writeAck(w, http.StatusConflict, FrameAck{Size: rep.Size(), Resume: true, Code: linkd.EConflict, Message: re.Detail})
	case errors.Is(err, partylog.ErrFork):
		m.forkCaught(id, rep, re.Fork, id)
		m.refuse(w, id, "fork", http.StatusConflict, linkd.EConflict, re.Detail)
	case errors.Is(err, partylog.ErrRootMismatch):
		// The origin's key signed the checkpoint, yet the entries, added to
		// the tree verified here, do not reach its root. Either the entries
		// are bad, or the origin's tree at this size is another history than
		// the one verified here, which no frame would ever mend. The sender's
		// own checkpoint at this size tells which (handleProve).
		note, _ := rep.Checkpoint()
		m.cfg.Metrics.refuse(id, "root_mismatch")
		m.cfg.Logger.Warn("link frame refused; asked the sender to prove its tree", "peer", id, "reason", "root_mismatch", "detail", re.Detail, "size", rep.Size())
		writeAck(w, http.StatusConflict, FrameAck{Size: rep.Size(), Prove: rep.Size() > 0, Checkpoint: string(note), Code: linkd.EConflict,
			Message: re.Detail + fmt.Sprintf("; send your signed checkpoint at size %d to /v1/link/prove", rep.Size())})
	case errors.Is(err, partylog.ErrNotAdmitted):
		var res *residencyError
		kind := linkd.AlertEntitlementViolation
		if errors.As(re.Cause, &res) {
			kind = linkd.AlertResidencyViolation
		}
		m.raise(kind, linkd.SeverityCritical, id, rep.Origin(), fmt.Sprintf("%s sent a payload this node must not hold; the frame was refused and nothing stored: %s", id, re.Detail), nil)
		m.refuse(w, id, "not_admitted", http.StatusForbidden, linkd.EForbidden, re.Detail)
	default:
		reason := map[error]string{partylog.ErrBadCheckpoint: "bad_checkpoint", partylog.ErrRootMismatch: "root_mismatch", partylog.ErrBadEntry: "bad_entry"}[re.Kind]
		m.raise(linkd.AlertVerificationFailed, linkd.SeverityWarning, id, rep.Origin(), fmt.Sprintf("a frame from %s failed verification and was refused: %s", id, re.Detail), nil)
		m.refuse(w, id, reason, http.StatusUnprocessableEntity, linkd.EInvalid, re.Detail)
	}
}

// handleProve takes the caller's signed checkpoint of its log at the size
// this node holds, after a frame whose entries did not reach its checkpoint.
// If it contradicts the tree verified here, the origin signed two histories:
// an equivocation, caught even when both are of the same size and no gossip
// would show it. If it agrees, the frame's entries were bad.
func (m *Manager) handleProve(w http.ResponseWriter, r *http.Request, p peers.Peer) {
	id := p.Party.ID
	var pr Proof
	if err := json.NewDecoder(io.LimitReader(r.Body, maxNoteBytes+1024)).Decode(&pr); err != nil || pr.Checkpoint == "" {
		m.refuse(w, id, "bad_checkpoint", http.StatusBadRequest, linkd.EInvalid, "malformed proof: want {\"checkpoint\": signed note}")
		return
	}
	rep, err := m.cfg.Logs.Replica(p.Party, p.LogKey)
	if err != nil {
		m.refuse(w, id, "bad_checkpoint", http.StatusConflict, linkd.EConflict, err.Error())
		return
	}
	note := []byte(pr.Checkpoint)
	err = rep.Check(note)
	var re *partylog.ReplicaError
	switch {
	case errors.As(err, &re) && re.Fork != nil:
		if held, _ := m.held(rep.Origin()); !held {
			m.forkCaught(id, rep, re.Fork, id)
		}
		m.refuse(w, id, "fork", http.StatusConflict, linkd.EConflict, re.Detail)
	case err != nil:
		m.refuse(w, id, "bad_checkpoint", http.StatusUnprocessableEntity, linkd.EInvalid, linkd.ErrorMessage(err))
	case noteSize(note) == rep.Size():
		// The same tree: the entries the frame carried were not the log's.
		m.raise(linkd.AlertVerificationFailed, linkd.SeverityWarning, id, rep.Origin(),
			fmt.Sprintf("a frame from %s failed verification and was refused: its entries do not produce its checkpoint's root, though its tree at %d is the one verified here", id, rep.Size()), nil)
		writeAck(w, http.StatusOK, FrameAck{Size: rep.Size()})
	default:
		writeAck(w, http.StatusOK, FrameAck{Size: rep.Size()})
	}
}

// forkCaught turns a fork into evidence, an alert and a hold on the log.
func (m *Manager) forkCaught(peer string, rep *partylog.Replica, f *partylog.Fork, from string) {
	ev := evidenceOf(rep.Origin(), f, m.cfg.Self.ID, from)
	msg := fmt.Sprintf("%s signed two checkpoints of its log that cannot both be true (reported by %s); its new entries are held until an operator acts", rep.Party().ID, from)
	m.raise(linkd.AlertEquivocation, linkd.SeverityCritical, peer, rep.Origin(), msg, ev)
	if m.cfg.Alerts != nil {
		m.cfg.Alerts.Hold(rep.Origin(), msg)
	}
}

// evidenceOf makes portable evidence of a fork: the smaller checkpoint is A.
func evidenceOf(origin string, f *partylog.Fork, by, from string) *linkd.Evidence {
	ours, theirs := noteSize(f.Ours), noteSize(f.Theirs)
	ev := &linkd.Evidence{Origin: origin, Observed: time.Now().UTC(), ObservedBy: by, From: from}
	if theirs < ours {
		// Their smaller checkpoint contradicts our larger tree.
		ev.A, ev.B = f.Theirs, f.Ours
		ev.SmallerRoot = base64.StdEncoding.EncodeToString(f.Implied[:])
		for _, h := range f.Proof {
			ev.Proof = append(ev.Proof, base64.StdEncoding.EncodeToString(h[:]))
		}
	} else {
		ev.A, ev.B = f.Ours, f.Theirs
	}
	return ev
}

// noteSize is a signed checkpoint's size, or -1 if it does not parse.
func noteSize(note []byte) int64 {
	cp, err := parseNote(note)
	if err != nil {
		return -1
	}
	return cp.Size
}

func (m *Manager) raise(kind, severity, peer, log, msg string, ev *linkd.Evidence) {
	m.cfg.Metrics.alert(kind)
	m.cfg.Logger.Error("link alert", "kind", kind, "peer", peer, "log", log, "detail", msg)
	if m.cfg.Alerts != nil {
		m.cfg.Alerts.Raise(kind, severity, peer, log, msg, ev)
	}
}

func (m *Manager) held(origin string) (bool, string) {
	if m.cfg.Alerts == nil {
		return false, ""
	}
	return m.cfg.Alerts.Held(origin)
}

// observe folds a peer's clock stamp into the node's clock, unless it is
// further ahead of the wall clock than the configured skew allows.
func (m *Manager) observe(h linkd.HLC) {
	if h == 0 {
		return
	}
	if ahead := time.Duration(h.WallMillis()-time.Now().UnixMilli()) * time.Millisecond; ahead > m.cfg.MaxClockSkew {
		m.cfg.Logger.Warn("a peer's clock stamp is too far ahead to follow", "ahead", ahead, "max", m.cfg.MaxClockSkew)
		return
	}
	m.cfg.Logs.Own().Observe(h)
}

// handleGossip checks the caller's checkpoints against what this node holds
// and answers with this node's newest checkpoint of every log.
func (m *Manager) handleGossip(w http.ResponseWriter, r *http.Request, p peers.Peer) {
	var g Gossip
	dec := json.NewDecoder(io.LimitReader(r.Body, maxGossipBytes))
	if err := dec.Decode(&g); err != nil || len(g.Checkpoints) > maxGossipNotes {
		m.refuse(w, p.Party.ID, "bad_frame", http.StatusBadRequest, linkd.EInvalid, "malformed gossip")
		return
	}
	m.checkGossip(p.Party.ID, g.Checkpoints)
	m.peerUp(p.Party.ID) // the peer is up: a sender backing off from it retries now
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Gossip{From: m.cfg.Self.ID, Checkpoints: m.newest()})
}

const (
	maxGossipBytes = 1 << 20
	maxGossipNotes = 256
)

// newest lists the newest checkpoint this node holds of every log.
func (m *Manager) newest() []string {
	var out []string
	if note, _ := m.cfg.Logs.Own().Checkpoint(); note != nil {
		out = append(out, string(note))
	}
	for _, rep := range m.cfg.Logs.Replicas() {
		if note, _ := rep.Checkpoint(); note != nil {
			out = append(out, string(note))
		}
	}
	return out
}

// checkGossip compares gossiped checkpoints with the trees this node holds:
// any that contradicts one is a fork. Checkpoints of logs this node does not
// hold, or larger than what it holds, are left to the peer that holds more.
func (m *Manager) checkGossip(from string, notes []string) {
	for _, n := range notes {
		note := []byte(n)
		cp, err := parseNote(note)
		if err != nil {
			m.cfg.Metrics.refuse(from, "bad_checkpoint")
			continue
		}
		if cp.Origin == m.cfg.Logs.Own().Origin() {
			m.checkOwn(from, note, cp)
			continue
		}
		party, ok := strings.CutPrefix(cp.Origin, linkd.LogOrigin(""))
		rep, held := m.cfg.Logs.Lookup(party)
		if !ok || !held {
			continue // a log this node does not hold
		}
		err = rep.Check(note)
		var re *partylog.ReplicaError
		switch {
		case errors.As(err, &re) && re.Fork != nil:
			if held, _ := m.held(rep.Origin()); !held {
				m.forkCaught(rep.Party().ID, rep, re.Fork, from)
			}
		case err != nil:
			m.cfg.Metrics.refuse(from, "bad_checkpoint")
			m.cfg.Logger.Warn("gossip carried a checkpoint that does not verify", "peer", from, "log", cp.Origin, "err", err)
		}
	}
}

// checkOwn checks a checkpoint of this node's own log that a peer holds: if
// this node never issued it, the log key is in someone else's hands.
func (m *Manager) checkOwn(from string, note []byte, cp linkd.Checkpoint) {
	own := m.cfg.Logs.Own()
	if _, err := tlog.OpenCheckpoint(note, own.Verifier()); err != nil || cp.Size > own.Size() {
		if err == nil {
			m.raise(linkd.AlertKeyCompromise, linkd.SeverityCritical, from, own.Origin(), fmt.Sprintf("%s holds a checkpoint of this node's log at size %d, beyond the %d entries it has: the log key may be compromised", from, cp.Size, own.Size()), nil)
		}
		return
	}
	root, err := own.TreeHash(cp.Size)
	if err == nil && root != cp.Hash {
		m.raise(linkd.AlertKeyCompromise, linkd.SeverityCritical, from, own.Origin(), fmt.Sprintf("%s holds a checkpoint of this node's log (size %d) that this node never issued: the log key may be compromised", from, cp.Size), nil)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// parseNote reads a signed checkpoint's body without verifying it.
func parseNote(note []byte) (linkd.Checkpoint, error) {
	i := bytes.Index(note, []byte("\n\n"))
	if i < 0 {
		return linkd.Checkpoint{}, fmt.Errorf("not a signed note")
	}
	return linkd.ParseCheckpoint(string(note[:i+1]))
}
