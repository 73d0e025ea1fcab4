package docs

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
)

// PeerHandler serves documents to peers, over mutual TLS:
//
//	GET /v1/peer/documents/{sha256}   the document's bytes (Range supported)
//
// The client must present the certificate pinned for its party in the
// directory. It gets the document only if that party may hold it (see
// Service.mayHold: visibility, the shipment's matrix by its role, and the
// residency against the jurisdiction on its card); for anything else —
// unknown, not shared with it, not here yet, erased — the answer is the
// same 404, so a peer learns nothing of documents it may not have.
func (s *Service) PeerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PeerPath+"{sha256}", s.servePeer)
	mux.HandleFunc("/v1/peer/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, linkd.ENotFound, "no peer endpoint "+r.Method+" "+clip(r.URL.Path))
	})
	return mux
}

func (s *Service) servePeer(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		writeError(w, http.StatusUnauthorized, linkd.EUnauthorized, "peer endpoints need mutual TLS")
		return
	}
	p, err := s.cfg.Peers.Identify(r.TLS)
	if err != nil {
		s.logger.Warn("documents: peer request refused", "reason", "unauthorized", "detail", linkd.ErrorMessage(err))
		writeError(w, http.StatusUnauthorized, linkd.EUnauthorized, linkd.ErrorMessage(err))
		return
	}
	sha := r.PathValue("sha256")
	notFound := func(why string) {
		s.logger.Info("documents: not shared with a peer", "peer", p.Party.ID, "sha256", clip(sha), "why", why)
		writeError(w, http.StatusNotFound, linkd.ENotFound, errNotFound(sha).(*linkd.Error).Message)
	}
	if CheckSHA256(sha) != nil {
		notFound("not a document hash")
		return
	}
	d, err := s.store.Get(sha)
	if err != nil {
		notFound("not held here")
		return
	}
	if d.State != Available {
		notFound("state " + string(d.State))
		return
	}
	ok, err := s.mayHold(r.Context(), d, p.Party)
	if err != nil {
		s.logger.Error("documents: deciding whether a peer may hold a document", "peer", p.Party.ID, "sha256", sha, "err", err)
		writeError(w, http.StatusInternalServerError, linkd.EInternal, "internal error")
		return
	}
	if !ok {
		notFound("not entitled or outside the document's residency")
		return
	}
	rd, d, err := s.store.Open(sha)
	var erased *ErasedError
	if errors.As(err, &erased) {
		notFound("erased")
		return
	}
	if err != nil {
		s.logger.Error("documents: open for a peer", "sha256", sha, "err", err)
		writeError(w, http.StatusInternalServerError, linkd.EInternal, "internal error")
		return
	}
	defer rd.Close()
	serveDocument(w, r, d, rd)
}

// serveDocument answers a GET (or HEAD) of a document's bytes, with Range
// support. The write deadline grows with the document so a large transfer
// at a modest rate is not cut by the server's timeout.
func serveDocument(w http.ResponseWriter, r *http.Request, d Document, rd *Reader) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(TransferTime(d.Size)))
	h := w.Header()
	h.Set("Content-Type", d.MediaType)
	h.Set("ETag", `"`+d.SHA256+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// ServeDocument answers a GET of an opened document for the node's own
// users (the API), as the peer endpoint does.
func ServeDocument(w http.ResponseWriter, r *http.Request, d Document, rd *Reader) {
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+d.SHA256+extension(d.MediaType)+`"`)
	serveDocument(w, r, d, rd)
}

// TransferTime is how long a transfer of size bytes may take: a minute, and
// a second per MiB beyond.
func TransferTime(size int64) time.Duration {
	return time.Minute + time.Duration(size>>20)*time.Second
}

func extension(media string) string {
	switch media {
	case MediaPDF:
		return ".pdf"
	case MediaJSON:
		return ".json"
	case MediaXML:
		return ".xml"
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(linkd.ErrorBody{Error: linkd.ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
