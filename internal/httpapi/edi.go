package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

// ediBodyTypes are the media types an interchange may be sent as (RFC
// 1767 and the usual fallbacks); the content decides the syntax whatever
// the type says.
var ediBodyTypes = map[string]bool{
	"application/edifact": true, "application/edi-x12": true, "application/edi-consent": true,
	"text/plain": true, "application/octet-stream": true,
}

// postEDI records the events of one EDIFACT or X12 interchange and answers
// its acknowledgement. The interchange is refused whole on any problem,
// with the problems and a negative acknowledgement; nothing is recorded.
func (s *Server) postEDI(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !ediBodyTypes[strings.ToLower(mt)] {
			return linkd.Errorf(linkd.EInvalid, "Content-Type %q: send the interchange as application/EDIFACT, application/EDI-X12 or text/plain", clip(ct))
		}
	}
	p := newParams(r)
	zoneName := p.one("zone")
	if err := p.err(); err != nil {
		return err
	}
	zone, err := edi.ParseZone(zoneName)
	if err != nil {
		return &linkd.ValidationError{Problems: []linkd.Problem{{Field: "zone", Reason: strings.TrimPrefix(err.Error(), "edi: ")}}}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, edi.DefaultMaxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return linkd.Errorf(linkd.ETooLarge, "the interchange is over %d bytes; split it", mbe.Limit)
		}
		return linkd.Errorf(linkd.EInvalid, "read the interchange: %v", err)
	}
	if len(data) == 0 {
		return linkd.Errorf(linkd.EInvalid, "the body is empty: send one EDIFACT or X12 interchange")
	}
	res, terr := edi.Translate(data, edi.Options{Origin: s.cfg.Self.ID, Zone: zone})
	raw := wantsEDI(r)
	if terr != nil {
		s.logger.InfoContext(r.Context(), "edi interchange refused", "syntax", res.Syntax, "sender", res.Sender,
			"interchange", res.ControlNumber, "sha256", res.SHA256, "problems", len(res.Problems))
		if raw && res.Ack != nil {
			writeEDI(w, http.StatusBadRequest, res.Syntax, res.Ack)
			return nil
		}
		writeJSON(w, http.StatusBadRequest, edi.Rejected(res))
		return nil
	}
	// One interchange is one atomic append: recorded whole or not at all.
	if len(res.Events) > linkd.MaxBatchEvents {
		return linkd.Errorf(linkd.ETooLarge, "interchange %s makes %d events; a node records an interchange as one batch of at most %d events, whole or not at all: split it into smaller interchanges",
			clip(res.ControlNumber), len(res.Events), linkd.MaxBatchEvents)
	}
	report := edi.NewReport(res)
	acks, err := s.ingest(r.Context(), res.Events)
	if err != nil {
		return err
	}
	report.Acks = acks
	dups := 0
	for _, a := range report.Acks {
		if a.Duplicate {
			dups++
		}
	}
	s.cfg.Metrics.observeIngest(len(report.Acks), dups)
	report.Size = s.cfg.Log.Size()
	status := http.StatusCreated
	if dups == len(report.Acks) {
		status = http.StatusOK // nothing new: the interchange was imported before
	}
	s.logger.InfoContext(r.Context(), "edi interchange recorded", "syntax", res.Syntax, "sender", res.Sender,
		"interchange", res.ControlNumber, "events", len(report.Acks), "duplicates", dups)
	if raw {
		writeEDI(w, status, res.Syntax, res.Ack)
		return nil
	}
	writeJSON(w, status, report)
	return nil
}

// wantsEDI reports whether the client asked for the acknowledgement itself
// rather than the JSON report.
func wantsEDI(r *http.Request) bool {
	accept := strings.ToLower(r.Header.Get("Accept"))
	return (strings.Contains(accept, "application/edifact") || strings.Contains(accept, "application/edi-x12")) &&
		!strings.Contains(accept, "application/json")
}

func writeEDI(w http.ResponseWriter, status int, syntax string, ack []byte) {
	ct := "application/EDIFACT"
	if syntax == edi.X12 {
		ct = "application/EDI-X12"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	w.Write(ack)
}
