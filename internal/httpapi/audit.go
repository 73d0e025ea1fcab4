package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
)

// auditWriteWait bounds how long one line of an audit's answer may take to
// send: a client that stops reading does not keep the audit, and the one
// slot audits have, forever.
const auditWriteWait = time.Minute

// auditLog audits the node's own log (partylog.Log.Audit) and answers as
// it goes, in newline-delimited JSON: a line of progress at the start and
// every 100,000 events, then one with the result. Only one audit runs at a
// time, and a client that goes away stops it. What the audit finds is the
// result, not an error: the answer is 200 once it has begun.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) error {
	if !s.auditing.CompareAndSwap(false, true) {
		return linkd.Errorf(linkd.EConflict, "an audit of this node's log is running already: wait for its result")
	}
	defer s.auditing.Store(false)
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
	who := tokenOf(r.Context()).ID
	total := s.cfg.Log.Size()
	write(linkd.AuditLine{Total: total})
	s.logger.Info("audit of the log started", "token", who, "events", total)
	start := time.Now()
	rep, err := s.cfg.Log.Audit(r.Context(), func(done, total int64) { write(linkd.AuditLine{Done: done, Total: total}) })
	res := &linkd.AuditResult{OK: err == nil, Size: rep.Size, Checkpoints: rep.Checkpoints, Erased: rep.Erased, Seconds: time.Since(start).Seconds()}
	switch {
	case r.Context().Err() != nil:
		s.logger.Info("audit of the log given up: the client went away", "token", who)
		return nil
	case err != nil:
		res.Problem, res.Size = err.Error(), total
		s.logger.Error("audit of the log found a problem", "token", who, "problem", err)
	default:
		res.RootHash = rep.Root[:]
		s.logger.Info("audit of the log found it intact", "token", who, "events", rep.Size, "checkpoints", rep.Checkpoints, "seconds", res.Seconds)
	}
	write(linkd.AuditLine{Done: res.Size, Total: total, Result: res})
	return nil
}
