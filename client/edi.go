package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

// EDIError is an interchange the node refused: its error (code invalid,
// each problem with its segment, element and component) and its report,
// which carries the negative acknowledgement to send back to the sender.
type EDIError struct {
	Err    *Error
	Report edi.Report
}

func (e *EDIError) Error() string { return e.Err.Error() }
func (e *EDIError) Unwrap() error { return e.Err }

// ImportEDI posts one EDIFACT or X12 interchange to the node (POST
// /v1/edi), which records its events whole or not at all. zone is the zone
// the partners agreed for times the interchange gives without one (an
// offset such as +07:00 or an IANA name); "" means UTC. A refused
// interchange returns an *EDIError; any other error is as for every call.
func (c *Client) ImportEDI(ctx context.Context, data []byte, zone string) (edi.Report, error) {
	u := *c.base
	u.Path += "/v1/edi"
	if zone != "" {
		u.RawQuery = url.Values{"zone": {zone}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(data))
	if err != nil {
		return edi.Report{}, err
	}
	ct := "text/plain"
	if syntax, err := edi.Detect(data); err == nil {
		ct = edi.FormatIFTSTA.ContentType()
		if syntax == edi.X12 {
			ct = edi.Format315.ContentType()
		}
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return edi.Report{}, &linkd.Error{Code: linkd.EUnavailable, Message: fmt.Sprintf("cannot reach the node at %s", c.base.Host), Err: err}
	}
	defer resp.Body.Close()
	// A refusal carries up to 100 problems and the acknowledgement.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return edi.Report{}, fmt.Errorf("read the node's answer to POST /v1/edi: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		e := errorFrom(resp).(*Error)
		var rej edi.Rejection
		if json.Unmarshal(body, &rej) == nil && rej.EDI.SHA256 != "" {
			return edi.Report{}, &EDIError{Err: e, Report: rej.EDI}
		}
		return edi.Report{}, e
	}
	var rep edi.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return edi.Report{}, fmt.Errorf("decode the node's answer to POST /v1/edi: %w", err)
	}
	return rep, nil
}
