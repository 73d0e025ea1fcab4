package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/query"
)

var errNoMetrics = linkd.Errorf(linkd.ENotFound, "this node does not export metrics")

// postEvents records one event or a batch. The batch is durable when the
// answer comes; a batch with any problem is refused whole.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	events, err := linkd.DecodeEvents(r.Body)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return linkd.Errorf(linkd.EInvalid, "the body holds no events: send one event object or a non-empty array")
	}
	acks, err := s.ingest(r.Context(), events)
	if err != nil {
		return err
	}
	dups := 0
	for _, a := range acks {
		if a.Duplicate {
			dups++
		}
	}
	s.cfg.Metrics.observeIngest(len(acks), dups)
	status := http.StatusCreated
	if dups == len(acks) {
		status = http.StatusOK // nothing new: a retry of a recorded batch
	}
	res := linkd.AppendResult{Acks: acks, Size: s.cfg.Log.Size()}
	b, ok := appendResultJSON(make([]byte, 0, 32+len(acks)*128), &res)
	if !ok {
		writeJSON(w, status, res)
		return nil
	}
	writeBody(w, status, b)
	return nil
}

// appendResultJSON appends res as json.Marshal encodes it, with a newline,
// without reflection: an ingest answers this for every request. It reports
// false, leaving the work to json.Marshal, if a string needs escaping.
func appendResultJSON(b []byte, res *linkd.AppendResult) ([]byte, bool) {
	if res.Acks == nil {
		return b, false
	}
	b = append(b, `{"acks":[`...)
	for i := range res.Acks {
		a := &res.Acks[i]
		if !plainJSON(a.EventID) || !plainJSON(a.LeafHash) {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"eventID":"`...)
		b = append(b, a.EventID...)
		b = append(b, `","logIndex":`...)
		b = strconv.AppendInt(b, a.LogIndex, 10)
		b = append(b, `,"leafHash":"`...)
		b = append(b, a.LeafHash...)
		b = append(b, '"')
		if a.Duplicate {
			b = append(b, `,"duplicate":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"size":`...)
	b = strconv.AppendInt(b, res.Size, 10)
	b = append(b, "}\n"...)
	return b, true
}

// plainJSON reports whether json.Marshal writes s between quotes as it is:
// printable ASCII without the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// decodeBody decodes one JSON object of at most limit bytes into v,
// refusing unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, what string) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return linkd.Errorf(linkd.EInvalid, "the body is empty; send %s", what)
		}
		return linkd.Errorf(linkd.EInvalid, "the body must be %s: %v", what, err)
	}
	if dec.More() {
		return linkd.Errorf(linkd.EInvalid, "the body holds more than one JSON value; send %s alone", what)
	}
	return nil
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" {
		return nil // the common cases, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json") {
		return linkd.Errorf(linkd.EInvalid, "Content-Type %q: send application/json", clip(ct))
	}
	return nil
}

// listEvents answers a filtered, paged query.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	p := newParams(r)
	f := p.v1Filter()
	limit := p.int("limit", 1, query.MaxLimit, query.DefaultLimit)
	cursor := p.one("cursor")
	if err := p.err(); err != nil {
		return err
	}
	page, err := query.Run(r.Context(), s.reader(), f, cursor, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !linkd.IsUUID(id) {
		return linkd.Errorf(linkd.EInvalid, "event id %q is not a UUID", clip(id))
	}
	rec, err := s.reader().GetByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// eventProof answers a proof bundle for one event that `linkd verify`
// checks offline.
func (s *Server) eventProof(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !linkd.IsUUID(id) {
		return linkd.Errorf(linkd.EInvalid, "event id %q is not a UUID", clip(id))
	}
	b, err := s.cfg.Log.Bundle(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	p := newParams(r)
	size := p.int("size", 1, 1<<62, 0)
	if err := p.err(); err != nil {
		return err
	}
	var note []byte
	if size == 0 {
		note, _ = s.cfg.Log.Checkpoint()
		if note == nil {
			return linkd.Errorf(linkd.ENotFound, "the log is empty: it signs its first checkpoint with its first event")
		}
	} else {
		var err error
		if note, err = s.cfg.Log.CheckpointAt(size); err != nil {
			return err
		}
	}
	info, err := checkpointInfo(note, s.cfg.Log.PublicKey())
	if err != nil {
		return err
	}
	if s.cfg.Cosigned != nil {
		// The same checkpoint with the cosignatures of the peers that
		// verified it: C2SP tlog-cosignature lines after the log's own.
		info.Checkpoint = string(s.cfg.Cosigned(note, info.Size))
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request) error {
	p := newParams(r)
	index := p.int("index", 0, 1<<62, -1)
	size := p.int("size", 1, 1<<62, s.cfg.Log.Size())
	if index < 0 && len(p.probs) == 0 {
		p.fail("index", "required: the leaf index to prove")
	}
	if err := p.err(); err != nil {
		return err
	}
	hashes, err := s.cfg.Log.InclusionProof(index, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, linkd.InclusionProof{Index: index, Size: size, Hashes: toBytes(hashes)})
	return nil
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request) error {
	p := newParams(r)
	old := p.int("old", 0, 1<<62, -1)
	size := p.int("size", 1, 1<<62, s.cfg.Log.Size())
	if old < 0 && len(p.probs) == 0 {
		p.fail("old", "required: the size of the older tree")
	}
	if err := p.err(); err != nil {
		return err
	}
	hashes, err := s.cfg.Log.ConsistencyProof(old, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, linkd.ConsistencyProof{Old: old, Size: size, Hashes: toBytes(hashes)})
	return nil
}

func toBytes[H ~[32]byte](hs []H) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// checkpointInfo describes a signed checkpoint note.
func checkpointInfo(note []byte, publicKey string) (linkd.CheckpointInfo, error) {
	body, _, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return linkd.CheckpointInfo{}, fmt.Errorf("stored checkpoint has no signature block")
	}
	cp, err := linkd.ParseCheckpoint(body + "\n")
	if err != nil {
		return linkd.CheckpointInfo{}, fmt.Errorf("stored checkpoint: %w", err)
	}
	return linkd.CheckpointInfo{Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash[:], Checkpoint: string(note), PublicKey: publicKey}, nil
}
