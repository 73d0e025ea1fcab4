// Package client is the Go client of a linkd node's HTTP API. Errors the
// node answers come back as *linkd.Error with the node's code and message,
// so a caller branches on linkd.ErrorCode exactly as code inside the node
// would.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Options configure New.
type Options struct {
	// Token is the access token sent as a bearer token.
	Token string
	// CAFile is a PEM file of certificates to trust for the node's TLS (its
	// own certificate, made by `linkd init`, or its CA). Empty means the
	// system's roots.
	CAFile string
	// CAPEM is the same as CAFile, in memory.
	CAPEM []byte
	// HTTPClient overrides the HTTP client (its TLS settings then win).
	HTTPClient *http.Client
	// Timeout bounds each request. Zero means 60s.
	Timeout time.Duration
}

// New returns a client of the node at baseURL, such as https://127.0.0.1:7443.
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("node address %q: want https://host:port", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, token: o.Token, http: o.HTTPClient}
	if c.http != nil {
		return c, nil
	}
	pemData := o.CAPEM
	if o.CAFile != "" {
		if pemData, err = os.ReadFile(o.CAFile); err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if pemData != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	c.http = &http.Client{
		Timeout: timeout,
		// HTTP/1.1 over kept-alive connections, one per request in
		// flight: the API's requests are small and independent, so HTTP/2's
		// multiplexing buys nothing here, while its framing, flow control
		// and goroutine per stream cost the node and the client about a
		// third more CPU per request (linkd bench http). Peers' links use
		// their own transport.
		Transport: &http.Transport{
			TLSClientConfig:     tlsConf,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
		// The API never redirects; following one could send the token
		// elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// do sends a request and decodes a 2xx JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, out any) (http.Header, error) {
	_, h, err := c.doStatus(ctx, method, path, q, body, out)
	return h, err
}

// doStatus is do that also returns the answer's status (0 if none came), for
// endpoints whose 200 and 201 mean different things.
func (c *Client) doStatus(ctx context.Context, method, path string, q url.Values, body any, out any) (int, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		default:
			data, err := json.Marshal(body)
			if err != nil {
				return 0, nil, fmt.Errorf("encode request: %w", err)
			}
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, &linkd.Error{Code: linkd.EUnavailable, Message: fmt.Sprintf("cannot reach the node at %s", c.base.Host), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, resp.Header, errorFrom(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("decode the node's answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, resp.Header, nil
}

// Error is an error answer of the node: the domain error and the HTTP
// details around it.
type Error struct {
	Err        *linkd.Error // the node's code and message
	Status     int
	Problems   []linkd.Problem
	RetryAfter time.Duration // from Retry-After, on 429 and 503
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if len(e.Problems) > 1 {
		return (&linkd.ValidationError{Problems: e.Problems}).Error()
	}
	return e.Err.Error()
}

func errorFrom(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body linkd.ErrorBody
	e := &Error{Status: resp.StatusCode}
	if err := json.Unmarshal(data, &body); err != nil || body.Error.Code == "" {
		e.Err = &linkd.Error{Code: codeOf(resp.StatusCode), Message: fmt.Sprintf("the node answered %s", resp.Status)}
	} else {
		e.Err = &linkd.Error{Code: body.Error.Code, Message: body.Error.Message}
		e.Problems = body.Error.Problems
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// codeOf maps a status without a body back to an error code.
func codeOf(status int) string {
	switch status {
	case 400, 405, 415:
		return linkd.EInvalid
	case 401:
		return linkd.EUnauthorized
	case 403:
		return linkd.EForbidden
	case 404:
		return linkd.ENotFound
	case 409:
		return linkd.EConflict
	case 413:
		return linkd.ETooLarge
	case 429:
		return linkd.ERateLimited
	case 502, 503, 504:
		return linkd.EUnavailable
	}
	return linkd.EInternal
}

// Problems returns the validation problems of an error answer, if any.
func Problems(err error) []linkd.Problem {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return nil
}
