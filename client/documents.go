package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
)

// DocumentUpload describes a document to upload; see PUT
// /v1/documents/{sha256}.
type DocumentUpload struct {
	SHA256      string // lowercase hex SHA-256 of the bytes; the node refuses bytes that do not match
	Type        string // documentTypeCode: INV, PKL, TRD, COO, PHY, …
	ContentType string // application/pdf, application/json or application/xml; "" lets the node sniff
	DocumentID  string // the issuer's own number for it
	Shipment    docs.Shipment
	Visibility  []string // narrows the shipment's access matrix to these parties
	Residency   []string // jurisdictions where its bytes may be stored
}

// UploadDocument streams a document of size bytes (-1 if unknown) from r
// to the node, which stores it and records the ISSUED event that shares it.
// It returns the document's record and whether it was new (false: the node
// already held it). The upload is bounded by ctx only, not by the client's
// Timeout: a large document takes as long as it takes.
func (c *Client) UploadDocument(ctx context.Context, r io.Reader, size int64, u DocumentUpload) (docs.Document, bool, error) {
	q := shipmentValues(u.Shipment)
	set(q, "documentTypeCode", u.Type)
	set(q, "documentID", u.DocumentID)
	set(q, "visibility", strings.Join(u.Visibility, ","))
	set(q, "residency", strings.Join(u.Residency, ","))
	req, err := c.request(ctx, http.MethodPut, documentPath(u.SHA256), q, r)
	if err != nil {
		return docs.Document{}, false, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	if u.ContentType != "" {
		req.Header.Set("Content-Type", u.ContentType)
	} else {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	var d docs.Document
	status, err := c.sendStream(req, &d)
	return d, status == http.StatusCreated, err
}

// DocumentStream is a document's bytes as the node sends them.
type DocumentStream struct {
	Body      io.ReadCloser // close it
	Offset    int64         // where Body starts
	Size      int64         // the whole document's size
	MediaType string
}

// OpenDocument opens the bytes of document sha from offset on (0: all of
// it), for a download that resumes. An erased document is a not_found
// *Error with Status 410.
func (c *Client) OpenDocument(ctx context.Context, sha string, offset int64) (*DocumentStream, error) {
	req, err := c.request(ctx, http.MethodGet, documentPath(sha), nil, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "*/*")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.streamClient().Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	ds := &DocumentStream{Body: resp.Body, MediaType: resp.Header.Get("Content-Type")}
	switch resp.StatusCode {
	case http.StatusOK:
		ds.Size = resp.ContentLength
	case http.StatusPartialContent:
		var start, end int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &ds.Size); err != nil || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("the node answered Content-Range %q to a download from byte %d", resp.Header.Get("Content-Range"), offset)
		}
		ds.Offset = start
	default:
		defer resp.Body.Close()
		return nil, errorFrom(resp)
	}
	return ds, nil
}

// Documents lists the records of a shipment's documents the node holds
// (every one if sh is zero).
func (c *Client) Documents(ctx context.Context, sh docs.Shipment) ([]docs.Document, error) {
	var out struct {
		Documents []docs.Document `json:"documents"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/documents", shipmentValues(sh), nil, &out)
	return out.Documents, err
}

// DocumentInfo returns what the node knows of document sha: its record and
// every attestation of its hash.
func (c *Client) DocumentInfo(ctx context.Context, sha string) (docs.Info, error) {
	var out docs.Info
	_, err := c.do(ctx, http.MethodGet, documentPath(sha)+"/info", nil, nil, &out)
	return out, err
}

// DocumentBundle returns the proofs of every attestation of sha the node
// holds, for offline verification (docs.Verify, `linkd verify`).
func (c *Client) DocumentBundle(ctx context.Context, sha string) (docs.Bundle, error) {
	var out docs.Bundle
	_, err := c.do(ctx, http.MethodGet, documentPath(sha)+"/bundle", nil, nil, &out)
	return out, err
}

// Attest records the party's verdict on a document it holds: CHECKED,
// ACCEPTED, or REJECTED with a reason.
func (c *Client) Attest(ctx context.Context, sha, verdict, reason string) (docs.Attested, error) {
	var out docs.Attested
	_, err := c.do(ctx, http.MethodPost, documentPath(sha)+"/attestations", nil, map[string]string{"verdict": verdict, "reason": reason}, &out)
	return out, err
}

// DocumentAccess returns a shipment's document-access matrix.
func (c *Client) DocumentAccess(ctx context.Context, sh docs.Shipment) (docs.AccessView, error) {
	var out docs.AccessView
	_, err := c.do(ctx, http.MethodGet, "/v1/document-access", shipmentValues(sh), nil, &out)
	return out, err
}

// SetDocumentAccess records which roles of shipment sh may hold documents of
// type code.
func (c *Client) SetDocumentAccess(ctx context.Context, sh docs.Shipment, code string, roles []linkd.Role) (linkd.Ack, error) {
	body := struct {
		docs.Shipment
		DocumentTypeCode string       `json:"documentTypeCode"`
		Roles            []linkd.Role `json:"roles"`
	}{sh, code, roles}
	if body.Roles == nil {
		body.Roles = []linkd.Role{}
	}
	var out linkd.Ack
	_, err := c.do(ctx, http.MethodPost, "/v1/document-access", nil, body, &out)
	return out, err
}

// Erase erases shipment sh: the erasure is recorded and every node holding
// its documents destroys its key and bytes.
func (c *Client) Erase(ctx context.Context, sh docs.Shipment, reason string) (docs.Erasure, error) {
	body := struct {
		docs.Shipment
		Reason string `json:"reason,omitempty"`
	}{sh, reason}
	var out docs.Erasure
	_, err := c.do(ctx, http.MethodPost, "/v1/erasures", nil, body, &out)
	return out, err
}

func documentPath(sha string) string { return "/v1/documents/" + url.PathEscape(sha) }

func shipmentValues(sh docs.Shipment) url.Values {
	q := url.Values{}
	set(q, "carrierBookingReference", sh.CarrierBookingReference)
	set(q, "transportDocumentReference", sh.TransportDocumentReference)
	set(q, "equipmentReference", sh.EquipmentReference)
	return q
}

func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

// request builds an authenticated request of the API.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// streamClient is the client's HTTP client without its overall timeout,
// for transfers whose length only ctx bounds.
func (c *Client) streamClient() *http.Client {
	hc := *c.http
	hc.Timeout = 0
	return &hc
}

func (c *Client) unreachable(err error) error {
	return &linkd.Error{Code: linkd.EUnavailable, Message: fmt.Sprintf("cannot reach the node at %s", c.base.Host), Err: err}
}

// sendStream sends a request with a streamed body and decodes a 2xx JSON answer.
func (c *Client) sendStream(req *http.Request, out any) (int, error) {
	resp, err := c.streamClient().Do(req)
	if err != nil {
		return 0, c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errorFrom(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode the node's answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, nil
}
