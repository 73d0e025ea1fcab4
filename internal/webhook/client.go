package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/linkd-dev/linkd"
)

// Defaults for Options.
const (
	DefaultAttemptTimeout      = 10 * time.Second
	DefaultDialTimeout         = 5 * time.Second
	DefaultTLSHandshakeTimeout = 5 * time.Second
	DefaultBodyTimeout         = 2 * time.Second
	DefaultMaxResponseBody     = 64 << 10
)

// maxResponseHeader bounds the response headers; net/http's default is 1 MiB.
const maxResponseHeader = 64 << 10

// snippetLen is how much of a failed answer's body goes into Result.Message.
const snippetLen = 200

// Options configure a Client. The zero Options are the production defaults.
type Options struct {
	// Policy decides which destinations may be dialled.
	Policy Policy

	// AttemptTimeout bounds one attempt from the first dial to the last byte
	// of the answer read. Zero means DefaultAttemptTimeout (10 s); Standard
	// Webhooks suggests 15–30 s for receivers that are slow to acknowledge.
	AttemptTimeout time.Duration

	// DialTimeout bounds the TCP connect (DNS included). Zero means
	// DefaultDialTimeout (5 s).
	DialTimeout time.Duration

	// TLSHandshakeTimeout bounds the TLS handshake. Zero means
	// DefaultTLSHandshakeTimeout (5 s).
	TLSHandshakeTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request is written. Zero means the AttemptTimeout.
	ResponseHeaderTimeout time.Duration

	// BodyTimeout bounds reading the answer's body after its headers, so a
	// receiver that answers 200 and then trickles bytes does not hold the
	// attempt for the whole AttemptTimeout. Zero means DefaultBodyTimeout
	// (2 s).
	BodyTimeout time.Duration

	// MaxResponseBody is how many bytes of the answer's body are read
	// before the connection is closed. Zero means DefaultMaxResponseBody
	// (64 KiB).
	MaxResponseBody int64

	// TLSConfig is cloned for every connection; nil means the system roots.
	// Tests set RootCAs to trust httptest.NewTLSServer. TLS 1.2 is the
	// minimum whatever it says.
	TLSConfig *tls.Config

	// Resolver resolves callback host names; nil means net.DefaultResolver.
	// Whatever it answers is checked against Policy before the dial.
	Resolver *net.Resolver

	// Logger gets one debug line per attempt; nil discards.
	Logger *slog.Logger
}

// A Client makes single, bounded, signed attempts. It is safe for
// concurrent use. It keeps idle connections; Close drops them.
type Client struct {
	policy      Policy
	attempt     time.Duration
	bodyTimeout time.Duration
	maxBody     int64
	dialer      net.Dialer
	tr          *http.Transport
	hc          *http.Client
	log         *slog.Logger
}

// NewClient returns a Client with o's settings.
func NewClient(o Options) *Client {
	c := &Client{
		policy:      o.Policy,
		attempt:     or(o.AttemptTimeout, DefaultAttemptTimeout),
		bodyTimeout: or(o.BodyTimeout, DefaultBodyTimeout),
		maxBody:     or(o.MaxResponseBody, DefaultMaxResponseBody),
		log:         o.Logger,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.dialer = net.Dialer{
		Timeout:   or(o.DialTimeout, DefaultDialTimeout),
		KeepAlive: 30 * time.Second,
		Resolver:  o.Resolver,
	}
	tc := &tls.Config{}
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	c.tr = &http.Transport{
		Proxy:                  nil, // never HTTPS_PROXY: the dial-time check must see the receiver's address
		DialContext:            c.dial,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    or(o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  or(o.ResponseHeaderTimeout, c.attempt),
		MaxResponseHeaderBytes: maxResponseHeader,
		DisableCompression:     true, // the body limit counts bytes on the wire, not a decompressed bomb
		ForceAttemptHTTP2:      true,
		// Every subscription to one receiver shares these: enough idle
		// connections that concurrent deliveries reuse them instead of
		// dialling (and handshaking) anew each time.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	c.hc = &http.Client{
		Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is the answer, not an instruction
		},
	}
	return c
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close drops idle connections. The Client stays usable.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// dial connects to addr, refusing at the socket, before connect(2), every
// resolved address the policy does not admit. Checking here rather than
// after a separate lookup is what defeats DNS rebinding: the address checked
// is the address connected to.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("webhook dial: %w", err)
	}
	d := c.dialer
	d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook dial: unexpected address %q: %w", address, err)
		}
		return checkAddr(host, ap.Addr(), c.policy)
	}
	return d.DialContext(ctx, network, addr)
}

// Retryable reports whether an answer with HTTP status code is worth
// another attempt. The table:
//
//	2xx                      no: delivered
//	3xx                      no: redirects are not followed; the owner must fix the URL
//	408 Request Timeout      yes
//	410 Gone                 no, and Result.Gone is set: disable the subscription
//	425 Too Early            yes
//	429 Too Many Requests    yes, after Retry-After when given
//	other 4xx                no: the receiver will reject the same request again
//	5xx                      yes, after Retry-After when given
//	anything else            no
//
// Attempts without an answer are judged by Send: network errors, timeouts
// and TLS failures are retried (the receiver may come back, its
// certificate may be fixed); a refused destination, an invalid request and
// the caller's cancellation are not.
func Retryable(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return true
	case status >= 500 && status <= 599:
		return true
	}
	return false
}

// Phases of an attempt, in order, for saying where it failed.
const (
	phaseStart int32 = iota
	phaseConnect
	phaseTLS
	phaseWrite
	phaseWait
	phaseRead
)

// reservedHeaders may not be set through Request.Header.
var reservedHeaders = map[string]bool{}

func init() {
	for _, h := range []string{
		HeaderID, HeaderTimestamp, HeaderSignature, HeaderNotificationSignature,
		"Content-Type", "Content-Length", "Host", "User-Agent", "Transfer-Encoding",
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Upgrade", "Expect",
	} {
		reservedHeaders[textproto.CanonicalMIMEHeaderKey(h)] = true
	}
}

// Send makes one attempt to deliver req and reports how it went. It never
// retries and never follows a redirect.
func (c *Client) Send(ctx context.Context, req Request) (r Result) {
	start := time.Now()
	var host string
	defer func() {
		r.Elapsed = time.Since(start)
		c.log.Debug("webhook attempt", "webhook_id", req.ID, "host", host, "status", r.Status,
			"ok", r.OK, "retry", r.Retry, "elapsed", r.Elapsed, "err", r.Err)
	}()

	u, err := checkURL(req.URL, c.policy)
	if err != nil {
		return Result{Message: linkd.ErrorMessage(err), Err: err}
	}
	host = u.Host
	for k, vs := range req.Header {
		if reservedHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
			return invalidResult(fmt.Sprintf("webhook request may not set header %s", k))
		}
		if !validHeader(k, vs) {
			return invalidResult(fmt.Sprintf("webhook request header %q has an invalid name or value", k))
		}
	}
	ts := req.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	sig, err := Sign(req.Secrets, req.ID, ts, req.Body)
	if err != nil {
		return invalidResult(err.Error())
	}

	actx, cancel := context.WithTimeout(ctx, c.attempt)
	defer cancel()
	// bctx is cancelled BodyTimeout after the headers arrive, which aborts
	// a body read that would otherwise run to the attempt's end.
	bctx, stopBody := context.WithCancel(actx)
	defer stopBody()
	var phase atomic.Int32
	reach := func(p int32) {
		for {
			old := phase.Load()
			if old >= p || phase.CompareAndSwap(old, p) {
				return
			}
		}
	}
	trace := &httptrace.ClientTrace{
		GetConn:              func(string) { reach(phaseConnect) },
		TLSHandshakeStart:    func() { reach(phaseTLS) },
		GotConn:              func(httptrace.GotConnInfo) { reach(phaseWrite) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { reach(phaseWait) },
		GotFirstResponseByte: func() { reach(phaseRead) },
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(bctx, trace), http.MethodPost, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return invalidResult("webhook request: " + err.Error())
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	for k, vs := range sig {
		hreq.Header[k] = vs
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/json"
	}
	hreq.Header.Set("Content-Type", ct)
	hreq.Header.Set("User-Agent", UserAgent)

	resp, err := c.hc.Do(hreq)
	if err != nil {
		msg, retry := c.describe(ctx, actx, err, host, phase.Load())
		return Result{Retry: retry, Message: msg, Err: fmt.Errorf("webhook post to %s: %w", host, err)}
	}
	defer resp.Body.Close() // unread bytes make net/http drop the connection, which is what we want

	timer := time.AfterFunc(c.bodyTimeout, stopBody)
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	// A read our timer stopped broke off even when it ends in a clean EOF:
	// hanging up sends TLS close_notify, and a receiver can finish its
	// chunked answer on seeing it before our socket closes.
	stalled := !timer.Stop()
	cut := int64(len(body)) > c.maxBody
	if cut {
		body = body[:c.maxBody]
	}

	r = Result{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	status := strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		r.OK = true
		switch {
		case cut:
			r.Message = fmt.Sprintf("delivered; the receiver's answer was longer than %s and was cut off", size(c.maxBody))
		case readErr != nil || stalled:
			r.Message = "delivered; the receiver's answer broke off after its headers"
		}
		return r
	case code >= 300 && code <= 399:
		r.Message = fmt.Sprintf("the receiver answered %s", status)
		if loc := resp.Header.Get("Location"); loc != "" {
			r.Message += " to " + printable(loc, snippetLen)
		}
		r.Message += "; webhooks do not follow redirects, so the callback URL must be updated"
	case code == http.StatusGone:
		r.Gone = true
		r.Message = fmt.Sprintf("the receiver answered %s: it wants no more deliveries, so the subscription should be disabled", status)
	default:
		r.Retry = Retryable(code)
		r.Message = fmt.Sprintf("the receiver answered %s", status)
		if r.RetryAfter > 0 {
			r.Message += fmt.Sprintf(" and asked to retry after %s", r.RetryAfter)
		}
	}
	if s := printable(string(body), snippetLen); s != "" {
		r.Message += ": " + s
	}
	if cut {
		r.Message += fmt.Sprintf(" (answer cut off at %s)", size(c.maxBody))
	}
	r.Err = fmt.Errorf("webhook post to %s: %s", host, status)
	return r
}

// validHeader reports whether name is an HTTP token and no value holds a
// control character other than tab (RFC 9110 §5.1, §5.5), so a bad extra
// header is refused as invalid rather than failing every attempt.
func validHeader(name string, values []string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for _, v := range values {
		for _, c := range []byte(v) {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return false
			}
		}
	}
	return true
}

func invalidResult(msg string) Result {
	return Result{Message: msg, Err: &linkd.Error{Code: linkd.EInvalid, Message: msg}}
}

// describe turns a failed round trip into words for the subscription's
// owner, and says whether to retry. It unwraps down to the cause so that
// neither the URL (which may carry the owner's query tokens, fine) nor the
// node's DNS server or resolved internal addresses (not fine) leak.
func (c *Client) describe(ctx, actx context.Context, err error, host string, phase int32) (string, bool) {
	var de *DestinationError
	if errors.As(err, &de) {
		return de.ownerMessage(), false
	}
	if ctx.Err() != nil {
		return "the attempt was stopped before the receiver answered", false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return fmt.Sprintf("callback host %s was not found in DNS", dnsErr.Name), true
		}
		return fmt.Sprintf("could not resolve callback host %s: %s", dnsErr.Name, dnsErr.Err), true
	}
	var ne net.Error
	if errors.Is(actx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		switch phase {
		case phaseStart, phaseConnect:
			return fmt.Sprintf("timed out connecting to %s", host), true
		case phaseTLS:
			return fmt.Sprintf("timed out in the TLS handshake with %s", host), true
		default:
			return fmt.Sprintf("%s did not answer within %s", host, c.attempt), true
		}
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Sprintf("the TLS certificate of %s is not trusted: %v", host, cve.Err), true
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("%s refused the connection", host), true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if phase == phaseTLS {
			return fmt.Sprintf("%s closed the connection during the TLS handshake", host), true
		}
		return fmt.Sprintf("%s closed the connection without answering", host), true
	case phase == phaseTLS:
		return fmt.Sprintf("TLS handshake with %s failed: %v", host, innermost(err)), true
	}
	return fmt.Sprintf("request to %s failed: %v", host, innermost(err)), true
}

// innermost returns the last error in err's Unwrap chain: the syscall or
// protocol error, without the wrappers that name URLs and addresses.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// parseRetryAfter reads a Retry-After value, delta-seconds or HTTP-date,
// as a wait from now. Absent, unparsable or past values are 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		const maxSeconds = 366 * 24 * 60 * 60 // far past any Schedule.Max; avoids overflow
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// printable returns at most n bytes of s as one line of valid UTF-8, fit
// for a message.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n] // a rune cut in two becomes U+FFFD below
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func size(n int64) string {
	if n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
