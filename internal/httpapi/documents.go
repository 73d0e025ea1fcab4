package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
)

// DocumentsAPI is a node's trade documents as the API serves them
// (internal/docs.Service). Every method may be called concurrently; errors
// are *linkd.Error with the codes the API answers, and a document's erased
// bytes are a *docs.ErasedError (410 Gone).
type DocumentsAPI interface {
	Upload(ctx context.Context, req docs.UploadRequest, body io.Reader) (docs.Document, bool, error)
	Open(ctx context.Context, sha string) (*docs.Reader, docs.Document, error)
	List(ctx context.Context, sh docs.Shipment) ([]docs.Document, error)
	Info(ctx context.Context, sha string) (docs.Info, error)
	Attest(ctx context.Context, sha, verdict, reason string) (docs.Attested, error)
	Bundle(ctx context.Context, sha string) (docs.Bundle, error)
	Access(ctx context.Context, sh docs.Shipment) (docs.AccessView, error)
	SetAccess(ctx context.Context, sh docs.Shipment, code string, roles []linkd.Role) (linkd.Ack, error)
	Erase(ctx context.Context, sh docs.Shipment, why string) (docs.Erasure, error)
	MaxDocumentSize() int64
}

// documentParams are the query parameters of a document upload.
var documentParams = []string{"documentTypeCode", "carrierBookingReference", "transportDocumentReference", "equipmentReference", "documentID", "visibility", "residency"}

// shipmentParams name a shipment in a query.
var shipmentParams = []string{"carrierBookingReference", "transportDocumentReference", "equipmentReference"}

// transferDeadlines gives a route that moves a document's bytes as long as
// the size needs: the server's read and write timeouts suit JSON requests,
// not 100 MiB documents.
func (s *Server) transferDeadlines(w http.ResponseWriter, r *http.Request, d DocumentsAPI) {
	size := r.ContentLength
	if size < 0 || r.Method == http.MethodGet {
		size = d.MaxDocumentSize()
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(docs.TransferTime(max(size, 0)))
	if r.Method == http.MethodPut {
		rc.SetReadDeadline(deadline)
	}
	rc.SetWriteDeadline(deadline)
}

var errNoDocuments = linkd.Errorf(linkd.ENotFound, "this node keeps no documents")

func (s *Server) documents() (DocumentsAPI, error) {
	if s.cfg.Documents == nil {
		return nil, errNoDocuments
	}
	return s.cfg.Documents, nil
}

// putDocument stores a document this party issues, streamed, and records
// the ISSUED event that shares it.
func (s *Server) putDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	s.transferDeadlines(w, r, d)
	if n := d.MaxDocumentSize(); r.ContentLength > n {
		return linkd.Errorf(linkd.ETooLarge, "the document has %d bytes, over this node's limit of %d", r.ContentLength, n)
	}
	p := newParams(r)
	req := docs.UploadRequest{
		SHA256: r.PathValue("sha256"), Type: p.one("documentTypeCode"), ContentType: r.Header.Get("Content-Type"),
		DocumentID: p.one("documentID"), Shipment: shipmentOf(p), Visibility: p.list("visibility"), Residency: p.list("residency"),
	}
	if err := p.err(); err != nil {
		return err
	}
	doc, created, err := d.Upload(r.Context(), req, r.Body)
	if err != nil {
		return err
	}
	status := http.StatusOK // already held: nothing new recorded
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/documents/"+doc.SHA256)
	}
	writeJSON(w, status, doc)
	return nil
}

// getDocument answers a document's bytes (Range supported); 410 once its
// shipment was erased.
func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	s.transferDeadlines(w, r, d)
	rd, doc, err := d.Open(r.Context(), r.PathValue("sha256"))
	var erased *docs.ErasedError
	if errors.As(err, &erased) {
		writeJSON(w, http.StatusGone, linkd.ErrorBody{Error: linkd.ErrorDetail{Code: linkd.ENotFound, Message: erased.Error()}})
		return nil
	}
	if err != nil {
		return err
	}
	defer rd.Close()
	docs.ServeDocument(w, r, doc, rd)
	return nil
}

// listDocuments answers the records of a shipment's documents.
func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	p := newParams(r)
	sh := shipmentOf(p)
	if err := p.err(); err != nil {
		return err
	}
	list, err := d.List(r.Context(), sh)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": list})
	return nil
}

func (s *Server) documentInfo(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	info, err := d.Info(r.Context(), r.PathValue("sha256"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) documentBundle(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	b, err := d.Bundle(r.Context(), r.PathValue("sha256"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// AttestRequest is the body of POST /v1/documents/{sha256}/attestations.
type AttestRequest struct {
	Verdict string `json:"verdict"`          // CHECKED, ACCEPTED or REJECTED
	Reason  string `json:"reason,omitempty"` // required for REJECTED
}

func (s *Server) attestDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	var req AttestRequest
	if err := decodeBody(w, r, 64<<10, &req, `a JSON object {"verdict": "CHECKED"}`); err != nil {
		return err
	}
	a, err := d.Attest(r.Context(), r.PathValue("sha256"), req.Verdict, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) documentAccess(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	p := newParams(r)
	sh := shipmentOf(p)
	if err := p.err(); err != nil {
		return err
	}
	v, err := d.Access(r.Context(), sh)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// AccessRequest is the body of POST /v1/document-access: which roles of a
// shipment may hold documents of one type.
type AccessRequest struct {
	docs.Shipment
	DocumentTypeCode string       `json:"documentTypeCode"`
	Roles            []linkd.Role `json:"roles"`
}

func (s *Server) setDocumentAccess(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	var req AccessRequest
	if err := decodeBody(w, r, 64<<10, &req, `a JSON object {"carrierBookingReference": "…", "documentTypeCode": "INV", "roles": ["customs"]}`); err != nil {
		return err
	}
	ack, err := d.SetAccess(r.Context(), req.Shipment, req.DocumentTypeCode, req.Roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ack)
	return nil
}

// ErasureRequest is the body of POST /v1/erasures.
type ErasureRequest struct {
	docs.Shipment
	Reason string `json:"reason,omitempty"`
}

func (s *Server) eraseShipment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.documents()
	if err != nil {
		return err
	}
	var req ErasureRequest
	if err := decodeBody(w, r, 64<<10, &req, `a JSON object {"carrierBookingReference": "…", "reason": "…"}`); err != nil {
		return err
	}
	e, err := d.Erase(r.Context(), req.Shipment, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

// shipmentOf reads a shipment's references from the query.
func shipmentOf(p *params) docs.Shipment {
	return docs.Shipment{
		CarrierBookingReference:    p.one("carrierBookingReference"),
		TransportDocumentReference: p.one("transportDocumentReference"),
		EquipmentReference:         p.one("equipmentReference"),
	}
}
