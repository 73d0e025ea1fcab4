package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// auditWriteWait bounds how long one line of an audit's answer may take to
// send: a client that stops reading does not keep the audit, and the one
// slot audits have, forever.
const auditWriteWait = time.Minute

// auditLog audits a log this node holds (partylog's Audit): its own, or
// with ?party= its copy of that partner's. It answers as it goes, in
// newline-delimited JSON: a line of progress at the start and every 100,000
// events, then one with the result. Only one audit runs at a time, and a
// client that goes away stops it. What the audit finds is the result, not an
// error: the answer is 200 once it has begun.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) error {
	party := r.URL.Query().Get("party")
	if party == "" {
		party = s.cfg.Self.ID
	}
	target, err := s.auditTarget(party)
	if err != nil {
		return err
	}
	if !s.auditing.CompareAndSwap(false, true) {
		return linkd.Errorf(linkd.EConflict, "an audit of a log on this node is running already: wait for its result")
	}
	// The slot is free again before the result goes out: a client that
	// starts the next audit as soon as it has one result must not find
	// this one still running.
	release := sync.OnceFunc(func() { s.auditing.Store(false) })
	defer release()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	write := func(line linkd.AuditLine) {
		b, _ := json.Marshal(line)
		rc.SetWriteDeadline(time.Now().Add(auditWriteWait))
		w.Write(append(b, '\n'))
		rc.Flush()
	}
	logger := s.logger.With("token", tokenOf(r.Context()).ID, "party", party)
	total := target.Size()
	write(linkd.AuditLine{Total: total})
	logger.Info("audit of a log started", "events", total)
	start := time.Now()
	rep, err := target.Audit(r.Context(), func(done, total int64) { write(linkd.AuditLine{Done: done, Total: total}) })
	res := &linkd.AuditResult{Party: party, OK: err == nil, Size: rep.Size, Checkpoints: rep.Checkpoints,
		Erased: rep.Erased, Withheld: rep.Withheld, Seconds: time.Since(start).Seconds()}
	switch {
	case r.Context().Err() != nil:
		logger.Info("audit of a log given up: the client went away")
		return nil
	case err != nil:
		res.Problem, res.Size = err.Error(), total
		logger.Error("audit of a log found a problem", "problem", err)
	default:
		res.RootHash = rep.Root[:]
		logger.Info("audit of a log found it intact", "events", rep.Size, "checkpoints", rep.Checkpoints, "seconds", res.Seconds)
	}
	release()
	write(linkd.AuditLine{Done: res.Size, Total: total, Result: res})
	return nil
}

// auditable is a log an audit reads: the node's own (partylog.Log) or a
// partner's replica (partylog.Replica).
type auditable interface {
	Size() int64
	Audit(ctx context.Context, progress func(done, total int64)) (partylog.AuditReport, error)
}

// auditTarget returns the log of party that this node holds.
func (s *Server) auditTarget(party string) (auditable, error) {
	if party == s.cfg.Self.ID {
		return s.cfg.Log, nil
	}
	if s.cfg.Logs != nil {
		if r, ok := s.cfg.Logs.Lookup(party); ok {
			return r, nil
		}
	}
	return nil, linkd.Errorf(linkd.ENotFound, "this node holds no log of party %q: give this node's own id or a linked peer's (linkd peer list)", party)
}
