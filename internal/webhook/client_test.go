package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/webhook"
)

// fast is the schedule for tests over real sockets: the schedule itself is
// tested in a synctest bubble (retry_test.go); here it only has to be short.
var fast = webhook.Schedule{Base: time.Millisecond, Max: 5 * time.Millisecond, Horizon: 30 * time.Second}

// waitLimit bounds waits for a server goroutine; hitting it fails the test.
const waitLimit = 10 * time.Second

// tlsReceiver starts an HTTPS receiver on loopback that records every
// request and then runs h.
func tlsReceiver(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, *receiver) {
	t.Helper()
	rc := &receiver{}
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.record(r)
		h(w, r, int(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, rc
}

// neverAnswer holds a request until the sender hangs up and then drops the
// connection without an answer. A handler that merely returned would answer
// 200: the sender's TLS close_notify reaches the receiver before its socket
// closes, and net/http can still hand that late answer to a caller whose
// context has already ended.
func neverAnswer(r *http.Request) {
	<-r.Context().Done()
	panic(http.ErrAbortHandler)
}

// newClient returns a Client that trusts httptest's certificate and may
// dial loopback.
func newClient(t *testing.T, o webhook.Options) *webhook.Client {
	t.Helper()
	o.Policy.AllowLoopback = true
	if o.TLSConfig == nil {
		o.TLSConfig = testTLS()
	}
	c := webhook.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// testTLS trusts the certificate every httptest TLS server uses.
func testTLS() *tls.Config {
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool}
}

// noSecret fails if a message shown to the owner carries the secret.
func noSecret(t *testing.T, msgs ...string) {
	t.Helper()
	enc := testSecret.Encode()
	for _, m := range msgs {
		if strings.Contains(m, enc) || strings.Contains(m, strings.TrimPrefix(enc, "whsec_")) {
			t.Errorf("message %q carries the secret", m)
		}
	}
}

func TestRetryableTable(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 204: false, 301: false, 302: false, 307: false, 308: false,
		400: false, 401: false, 403: false, 404: false, 405: false, 409: false, 410: false, 413: false, 422: false,
		408: true, 425: true, 429: true,
		500: true, 501: true, 502: true, 503: true, 504: true, 599: true,
		600: false, 199: false,
	} {
		if got := webhook.Retryable(code); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestSendAnswers checks how one attempt reads each kind of answer.
func TestSendAnswers(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		ok, retry  bool
		gone       bool
		retryAfter func(time.Duration) bool
		msg        string // part of Message
	}{
		{name: "204", status: 204, ok: true},
		{name: "200 with a body", status: 200, body: `{"ok":true}`, ok: true},
		{name: "202", status: 202, ok: true},
		{name: "400 not retried", status: 400, body: "missing field eventType\n", msg: "the receiver answered 400 Bad Request: missing field eventType"},
		{name: "401", status: 401, msg: "401 Unauthorized"},
		{name: "404", status: 404, msg: "404 Not Found"},
		{name: "408 retried", status: 408, retry: true, msg: "408 Request Timeout"},
		{name: "410 gone", status: 410, gone: true, msg: "wants no more deliveries"},
		{name: "425 retried", status: 425, retry: true},
		{name: "429 delta-seconds", status: 429, header: map[string]string{"Retry-After": "120"}, retry: true,
			retryAfter: func(d time.Duration) bool { return d == 120*time.Second }, msg: "429 Too Many Requests and asked to retry after 2m0s"},
		{name: "503 HTTP-date", status: 503, header: map[string]string{"Retry-After": future}, retry: true,
			retryAfter: func(d time.Duration) bool { return d > 80*time.Second && d <= 90*time.Second }},
		{name: "503 date in the past", status: 503, header: map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, retry: true,
			retryAfter: func(d time.Duration) bool { return d == 0 }},
		{name: "503 garbage Retry-After", status: 503, header: map[string]string{"Retry-After": "soon"}, retry: true,
			retryAfter: func(d time.Duration) bool { return d == 0 }},
		{name: "503 negative Retry-After", status: 503, header: map[string]string{"Retry-After": "-5"}, retry: true,
			retryAfter: func(d time.Duration) bool { return d == 0 }},
		{name: "500 body with control characters", status: 500, body: "boom\r\n\tat line 1\x00\x1b[31m", retry: true, msg: "500 Internal Server Error: boom at line 1"},
		{name: "502", status: 502, retry: true},
		{name: "301", status: 301, header: map[string]string{"Location": "https://elsewhere.example/hook"},
			msg: "301 Moved Permanently to https://elsewhere.example/hook; webhooks do not follow redirects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			r := newClient(t, webhook.Options{}).Send(context.Background(), request(srv.URL))
			if r.Status != tc.status || r.OK != tc.ok || r.Retry != tc.retry || r.Gone != tc.gone {
				t.Errorf("Status=%d OK=%v Retry=%v Gone=%v, want %d %v %v %v (%s)", r.Status, r.OK, r.Retry, r.Gone, tc.status, tc.ok, tc.retry, tc.gone, r.Message)
			}
			if tc.ok != (r.Err == nil) {
				t.Errorf("Err = %v with OK = %v", r.Err, r.OK)
			}
			if tc.retryAfter != nil && !tc.retryAfter(r.RetryAfter) {
				t.Errorf("RetryAfter = %s", r.RetryAfter)
			}
			if !strings.Contains(r.Message, tc.msg) {
				t.Errorf("Message %q does not say %q", r.Message, tc.msg)
			}
			noSecret(t, r.Message, fmt.Sprint(r.Err))
			rc.checkAllSigned(t, 1)
		})
	}
}

func TestSendHeaders(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(204) })
	c := newClient(t, webhook.Options{})

	req := request(srv.URL)
	req.Header = http.Header{"Subscription-ID": {"b80d923d-e8ac-4c34-9506-55d3de347034"}, "API-Version": {"2.2.0"}}
	if r := c.Send(context.Background(), req); !r.OK {
		t.Fatalf("Send: %s", r.Message)
	}
	req.ContentType = "application/cloudevents+json"
	req.Header = nil
	if r := c.Send(context.Background(), req); !r.OK {
		t.Fatalf("Send: %s", r.Message)
	}
	rc.checkAllSigned(t, 2)
	got := rc.all()
	h := got[0].header
	if h.Get("Content-Type") != "application/json" || h.Get("Subscription-ID") != "b80d923d-e8ac-4c34-9506-55d3de347034" || h.Get("API-Version") != "2.2.0" {
		t.Errorf("headers = %v", h)
	}
	if !strings.HasPrefix(h.Get("Notification-Signature"), "sha256=") {
		t.Errorf("Notification-Signature = %q", h.Get("Notification-Signature"))
	}
	if ct := got[1].header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type = %q", ct)
	}

	for _, bad := range []string{"webhook-signature", "Notification-Signature", "Host", "content-type", "User-Agent"} {
		req := request(srv.URL)
		req.Header = http.Header{bad: {"x"}}
		r := c.Send(context.Background(), req)
		if r.OK || r.Retry || !strings.Contains(r.Message, "may not set header") {
			t.Errorf("Send with header %s = %+v, want refused", bad, r)
		}
	}
	for _, bad := range []http.Header{
		{"X-Tenant": {"a\r\nX-Evil: 1"}},
		{"X-Tenant": {"nul\x00"}},
		{"X Tenant": {"a"}},
		{"X-Tenant:": {"a"}},
	} {
		req := request(srv.URL)
		req.Header = bad
		r := c.Send(context.Background(), req)
		if r.OK || r.Retry || !strings.Contains(r.Message, "invalid name or value") {
			t.Errorf("Send with header %q = %+v, want refused as invalid", bad, r)
		}
	}
	if n := len(rc.all()); n != 2 {
		t.Errorf("receiver saw %d requests, want 2: requests with reserved headers must not be sent", n)
	}
}

func TestSendInvalidRequest(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(204) })
	c := newClient(t, webhook.Options{})
	for name, edit := range map[string]func(*webhook.Request){
		"no secrets": func(r *webhook.Request) { r.Secrets = nil },
		"dot in id":  func(r *webhook.Request) { r.ID = "a.b" },
		"http URL":   func(r *webhook.Request) { r.URL = strings.Replace(r.URL, "https:", "http:", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			req := request(srv.URL)
			edit(&req)
			out := webhook.Deliver(context.Background(), c, req, fast, nil)
			if !out.Dead || out.Reason != webhook.ReasonRefused || out.Attempts != 1 {
				t.Errorf("Outcome = %+v, want dead (refused) after 1 attempt", out)
			}
		})
	}
	if n := len(rc.all()); n != 0 {
		t.Errorf("receiver saw %d requests, want 0", n)
	}
}

func TestDeliverFailsTwiceThenSucceeds(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			http.Error(w, "database is restarting", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var statuses []int
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast,
		func(r webhook.Result) { statuses = append(statuses, r.Status) })
	if !out.Delivered || out.Dead || out.Attempts != 3 || out.Last.Status != 204 {
		t.Fatalf("Outcome = %+v, want delivered on attempt 3", out)
	}
	if fmt.Sprint(statuses) != "[500 500 204]" {
		t.Errorf("OnAttempt saw %v, want [500 500 204]", statuses)
	}
	rc.checkAllSigned(t, 3)
}

func TestDeliver429RetryAfter(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var first webhook.Result
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast,
		func(r webhook.Result) {
			if r.Attempt == 1 {
				first = r
			}
		})
	if !out.Delivered || out.Attempts != 2 {
		t.Fatalf("Outcome = %+v, want delivered on attempt 2", out)
	}
	if first.Status != 429 || !first.Retry || first.RetryAfter != time.Second {
		t.Errorf("first attempt = %+v, want 429, retryable, RetryAfter 1s", first)
	}
	rc.checkAllSigned(t, 2)
}

func TestDeliver503ThenOK(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast, nil)
	if !out.Delivered || out.Attempts != 2 {
		t.Fatalf("Outcome = %+v, want delivered on attempt 2", out)
	}
	rc.checkAllSigned(t, 2)
}

func TestDeliver400NotRetried(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, "unknown eventType", http.StatusBadRequest)
	})
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast, nil)
	if out.Delivered || !out.Dead || out.Reason != webhook.ReasonRejected || out.Attempts != 1 {
		t.Fatalf("Outcome = %+v, want dead (rejected) after 1 attempt", out)
	}
	if want := "gave up after 1 attempt: the receiver answered 400 Bad Request: unknown eventType"; out.Message != want {
		t.Errorf("Message = %q\nwant %q", out.Message, want)
	}
	rc.checkAllSigned(t, 1)
}

func TestDeliver410Gone(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGone) })
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast, nil)
	if !out.Dead || out.Reason != webhook.ReasonGone || !out.Last.Gone || out.Attempts != 1 {
		t.Fatalf("Outcome = %+v, want dead (gone) after 1 attempt", out)
	}
	rc.checkAllSigned(t, 1)
}

// TestHangingReceiver: a receiver that never answers costs one attempt
// timeout, and the attempt is worth retrying.
func TestHangingReceiver(t *testing.T) {
	// The handler never answers while the test runs: one that returned when
	// the client gave up would answer 200 to whatever came next on the
	// connection's context, and the attempt could see it.
	release := make(chan struct{})
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	c := newClient(t, webhook.Options{AttemptTimeout: 100 * time.Millisecond})

	r := c.Send(context.Background(), request(srv.URL))
	if r.OK || !r.Retry || r.Status != 0 {
		t.Errorf("Send = %+v, want a retryable failure without status", r)
	}
	if want := "did not answer within 100ms"; !strings.Contains(r.Message, want) {
		t.Errorf("Message %q does not say %q", r.Message, want)
	}
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v, want context.DeadlineExceeded in its chain", r.Err)
	}

	out := webhook.Deliver(context.Background(), c, request(srv.URL),
		webhook.Schedule{Base: time.Millisecond, Max: time.Millisecond, Horizon: 250 * time.Millisecond}, nil)
	if !out.Dead || out.Reason != webhook.ReasonHorizon || out.Attempts < 2 {
		t.Errorf("Outcome = %+v, want dead at the horizon after several attempts", out)
	}
	if !strings.Contains(out.Message, "did not answer within 100ms") {
		t.Errorf("Outcome message %q does not give the last failure", out.Message)
	}
	rc.checkAllSigned(t, -1)
}

// TestResponseHeaderTimeout: headers that never come are cut off by
// ResponseHeaderTimeout even within a longer attempt.
func TestResponseHeaderTimeout(t *testing.T) {
	srv, _ := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { neverAnswer(r) })
	c := newClient(t, webhook.Options{AttemptTimeout: time.Minute, ResponseHeaderTimeout: 50 * time.Millisecond})
	r := c.Send(context.Background(), request(srv.URL))
	if r.OK || !r.Retry || !strings.Contains(r.Message, "did not answer") {
		t.Errorf("Send = %+v, want a retryable no-answer", r)
	}
}

// TestConnectionReset: the receiver takes the request and resets the
// connection without answering; the next attempt succeeds.
func TestConnectionReset(t *testing.T) {
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*tls.Conn); ok {
			if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
				tcp.SetLinger(0) // close with RST, not FIN
			}
		}
		conn.Close()
	})
	var first webhook.Result
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast,
		func(r webhook.Result) {
			if r.Attempt == 1 {
				first = r
			}
		})
	if !out.Delivered || out.Attempts != 2 {
		t.Fatalf("Outcome = %+v, want delivered on attempt 2", out)
	}
	if first.Status != 0 || !first.Retry || !strings.Contains(first.Message, "closed the connection without answering") {
		t.Errorf("first attempt = %+v, want a retryable reset", first)
	}
	rc.checkAllSigned(t, 2)
}

// TestReceiverDownThenBack: nothing listens for two attempts, then the
// receiver comes back on the same port.
func TestReceiverDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	rc := &receiver{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.record(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		if srv.Listener != nil {
			srv.Close()
		}
	})

	var msgs []string
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request("https://"+addr+"/hook"), fast,
		func(r webhook.Result) {
			msgs = append(msgs, r.Message)
			if r.Attempt == 2 { // come back before the third attempt
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("listen again on %s: %v", addr, err)
					return
				}
				srv.Listener.Close()
				srv.Listener = l
				srv.StartTLS()
			}
		})
	if !out.Delivered || out.Attempts != 3 {
		t.Fatalf("Outcome = %+v, want delivered on attempt 3", out)
	}
	for _, m := range msgs[:2] {
		if want := addr + " refused the connection"; m != want {
			t.Errorf("attempt message %q, want %q", m, want)
		}
	}
	rc.checkAllSigned(t, 1)
}

// TestRedirectNotFollowed: a 3xx fails the delivery, and the receiver it
// points to is never contacted.
func TestRedirectNotFollowed(t *testing.T) {
	target, behind := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(204) })
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, target.URL+"/moved", http.StatusTemporaryRedirect)
	})
	out := webhook.Deliver(context.Background(), newClient(t, webhook.Options{}), request(srv.URL), fast, nil)
	if out.Delivered || !out.Dead || out.Reason != webhook.ReasonRejected || out.Attempts != 1 || out.Last.Status != 307 {
		t.Fatalf("Outcome = %+v, want dead (rejected) after one 307", out)
	}
	if want := "307 Temporary Redirect to " + target.URL + "/moved; webhooks do not follow redirects"; !strings.Contains(out.Message, want) {
		t.Errorf("Message %q does not say %q", out.Message, want)
	}
	if n := len(behind.all()); n != 0 {
		t.Errorf("the receiver behind the redirect saw %d requests, want 0", n)
	}
	rc.checkAllSigned(t, 1)
}

// TestHugeSlowBody: a receiver that answers 200 and then streams 100 MiB
// slowly is cut off after MaxResponseBody; the delivery counts, and the
// receiver's writes fail long before it is done.
func TestHugeSlowBody(t *testing.T) {
	const total = 100 << 20
	var written atomic.Int64
	done := make(chan error, 1)
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		rcon := http.NewResponseController(w)
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err == nil {
				err = rcon.Flush()
			}
			if err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond) // slow, not stalled
		}
		done <- nil
	})
	r := newClient(t, webhook.Options{}).Send(context.Background(), request(srv.URL))
	if !r.OK || r.Status != 200 {
		t.Fatalf("Send = %+v, want delivered (the receiver answered 200)", r)
	}
	if want := "longer than 64 KiB and was cut off"; !strings.Contains(r.Message, want) {
		t.Errorf("Message %q does not say %q", r.Message, want)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the receiver streamed all %d bytes; the client should have hung up", total)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the receiver was still streaming after %s (%d bytes)", waitLimit, written.Load())
	}
	if n := written.Load(); n >= 16<<20 {
		t.Errorf("the receiver got to write %d bytes before the client hung up", n)
	}
	rc.checkAllSigned(t, 1)
}

// TestHugeErrorBody: a 503 with a huge body is a retryable failure whose
// message quotes a short, cut-off snippet.
func TestHugeErrorBody(t *testing.T) {
	srv, _ := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(strings.Repeat("overloaded ", 20<<10)))
	})
	r := newClient(t, webhook.Options{}).Send(context.Background(), request(srv.URL))
	if r.OK || !r.Retry || r.Status != 503 {
		t.Fatalf("Send = %+v, want retryable 503", r)
	}
	if !strings.HasPrefix(r.Message, "the receiver answered 503 Service Unavailable: overloaded overloaded") ||
		!strings.HasSuffix(r.Message, "(answer cut off at 64 KiB)") || len(r.Message) > 400 {
		t.Errorf("Message = %q", r.Message)
	}
}

// TestStalledBody: 200 then silence is bounded by BodyTimeout, not the
// whole attempt.
func TestStalledBody(t *testing.T) {
	srv, _ := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	c := newClient(t, webhook.Options{AttemptTimeout: time.Minute, BodyTimeout: 50 * time.Millisecond})
	r := c.Send(context.Background(), request(srv.URL))
	if !r.OK || !strings.Contains(r.Message, "broke off") {
		t.Errorf("Send = %+v, want delivered with a note that the answer broke off", r)
	}
}

func TestHugeHeaders(t *testing.T) {
	srv, _ := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		for i := range 100 {
			w.Header().Set(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", 1<<10))
		}
		w.WriteHeader(200)
	})
	r := newClient(t, webhook.Options{}).Send(context.Background(), request(srv.URL))
	if r.OK || r.Status != 0 || !r.Retry {
		t.Errorf("Send = %+v, want a failed attempt: the headers exceed the limit", r)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	srv, _ := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(204) })
	c := newClient(t, webhook.Options{TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}})
	r := c.Send(context.Background(), request(srv.URL))
	if r.OK || !r.Retry || !strings.Contains(r.Message, "TLS certificate of "+strings.TrimPrefix(srv.URL, "https://")+" is not trusted") {
		t.Errorf("Send = %+v, want a retryable untrusted-certificate failure", r)
	}
}

// TestCancelledByCaller: when the node stops mid-attempt the delivery is
// neither delivered nor dead, so the queue can resume it later.
func TestCancelledByCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, rc := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		cancel() // the node stops while the receiver is thinking
		neverAnswer(r)
	})
	out := webhook.Deliver(ctx, newClient(t, webhook.Options{}), request(srv.URL), fast, nil)
	if out.Delivered || out.Dead || !errors.Is(out.Err, context.Canceled) || out.Attempts != 1 {
		t.Errorf("Outcome = %+v, want neither delivered nor dead, with context.Canceled", out)
	}
	if want := "delivery paused by the node after 1 attempt: the attempt was stopped before the receiver answered"; out.Message != want {
		t.Errorf("Message = %q\nwant %q", out.Message, want)
	}
	rc.checkAllSigned(t, 1)
}
