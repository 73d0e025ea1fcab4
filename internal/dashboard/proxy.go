package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Target is one node behind Proxy.
type Target struct {
	// Party is the node's party id; the page reaches the node at
	// /nodes/<Party>/….
	Party string
	// URL is the base URL of the node's API, such as https://127.0.0.1:7443.
	URL string
	// Token is the bearer token the proxy adds to every request. An auditor
	// token lets the page read events, the log and metrics; reader suffices
	// for all but metrics. It never reaches the browser.
	Token string
	// Client sends the requests, with the node's pinned TLS configuration.
	// It must have no overall Timeout: event streams stay open for as long
	// as the page does. Nil means http.DefaultClient.
	Client *http.Client
}

// AllNodes is the pseudo-party under which Proxy serves the lane's merged
// event stream, /nodes/_all/v1/stream. No party id can collide with it:
// party ids have no underscore.
const AllNodes = "_all"

// proxiedPrefixes are the API paths the page reads; nothing else is passed.
var proxiedPrefixes = []string{"v1/", "v2/", "metrics", "healthz", "readyz", "openapi.json"}

// Proxy returns the lane-mode handler in front of the nodes' APIs. It
// serves GET /nodes/{party}/{path…} by sending GET {URL}/{path…} to that
// party's node with its token, and passing the answer back as it arrives:
// status and body unchanged, flushed after every read so event streams flow.
// Mount it at /nodes/ without stripping the prefix:
//
//	mux.Handle("/nodes/", dashboard.Proxy(targets))
//
// It answers 405 to every method but GET (the dashboard only reads), 404 to
// a party it was not given or a path outside the API, and 502 when a node
// does not answer. The browser's own credentials and cookies are never
// passed on, and the tokens never appear in an answer.
//
// GET /nodes/_all/v1/stream merges the nodes' event streams into one, so a
// browser holds one connection rather than one per node (HTTP/1.1 allows a
// page six per host); see laneStream.
//
// Proxy panics if two targets name the same party or a target's URL is not
// an absolute http(s) URL: the lane's wiring is wrong.
func Proxy(targets []Target) http.Handler {
	p := &proxy{byParty: map[string]*Target{}}
	for i := range targets {
		t := targets[i]
		if _, dup := p.byParty[t.Party]; dup {
			panic(fmt.Sprintf("dashboard: two proxy targets for party %q", t.Party))
		}
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			panic(fmt.Sprintf("dashboard: proxy target %q: URL %q is not an absolute http(s) URL", t.Party, t.URL))
		}
		t.URL = strings.TrimSuffix(t.URL, "/")
		if t.Client == nil {
			t.Client = http.DefaultClient
		}
		p.byParty[t.Party] = &t
		p.order = append(p.order, &t)
	}
	return p
}

type proxy struct {
	byParty map[string]*Target
	order   []*Target
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if r.Method != http.MethodGet {
		h.Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, linkd.EInvalid, r.Method+" is not allowed: the dashboard only reads; use GET")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/nodes/")
	if !ok {
		writeError(w, http.StatusNotFound, linkd.ENotFound, "no such path; nodes are under /nodes/{party}/")
		return
	}
	party, rest, _ := strings.Cut(rest, "/")
	if party == AllNodes && rest == "v1/stream" {
		p.laneStream(w, r)
		return
	}
	t, ok := p.byParty[party]
	if !ok {
		writeError(w, http.StatusNotFound, linkd.ENotFound, fmt.Sprintf("no node for party %q behind this dashboard", clip(party)))
		return
	}
	if !allowedPath(rest) {
		writeError(w, http.StatusNotFound, linkd.ENotFound, fmt.Sprintf("the dashboard does not pass /%s to the node", clip(rest)))
		return
	}
	req, err := t.request(r, rest, r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, linkd.EInvalid, "bad request path")
		return
	}
	if a := r.Header.Get("Accept"); a != "" {
		req.Header.Set("Accept", a)
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		req.Header.Set("Last-Event-ID", id)
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			return // the browser went away
		}
		writeError(w, http.StatusBadGateway, linkd.EUnavailable, fmt.Sprintf("the node of %s did not answer", t.Party))
		return
	}
	defer resp.Body.Close()
	copyHeader(h, resp.Header)
	w.WriteHeader(resp.StatusCode)
	flow(w, resp.Body)
}

// allowedPath reports whether rest (escaped, without a leading slash) is
// an API path the page reads, with no dot segments.
func allowedPath(rest string) bool {
	un, err := url.PathUnescape(rest)
	if err != nil || strings.Contains(un, "\\") {
		return false
	}
	for _, seg := range strings.Split(un, "/") {
		if seg == ".." || seg == "." {
			return false
		}
	}
	for _, pre := range proxiedPrefixes {
		if strings.HasPrefix(rest, pre) {
			return true
		}
	}
	return false
}

// request builds the request to the node for path rest (escaped) and query.
func (t *Target) request(r *http.Request, rest, query string) (*http.Request, error) {
	u := t.URL + "/" + rest
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	req.Header.Set("User-Agent", "linkd-dashboard")
	return req, nil
}

// hopHeaders are connection-level headers a proxy does not pass on, plus
// cookies, which the page has no use for.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie",
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if slices.Contains(hopHeaders, k) || k == "Content-Security-Policy" {
			continue
		}
		dst[k] = slices.Clone(vs)
	}
}

// flow copies body to w, flushing after every read so a stream reaches the
// browser as the node sends it.
func flow(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(linkd.ErrorBody{Error: linkd.ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// retry delays of a lane stream's upstream that failed or ended: doubling
// from minRetry up to maxRetry; an upstream without a stream endpoint (404)
// is asked again after noStreamRetry, in case the node was upgraded.
const (
	minRetry      = 500 * time.Millisecond
	maxRetry      = 10 * time.Second
	noStreamRetry = 30 * time.Second
	heartbeat     = 15 * time.Second
	// firstWait bounds how long the merged stream waits for every node's
	// first answer before it starts with those that gave one.
	firstWait = 5 * time.Second
)
