package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/dashboard"
)

// upstream is a fake node API on real TLS that records what it was asked.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request // guarded by mu
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.reqs...)
}

func (u *upstream) target(party, token string) dashboard.Target {
	return dashboard.Target{Party: party, URL: u.URL, Token: token, Client: u.Client()}
}

// serve starts h on loopback, as the demo serves the dashboard.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

const secret = "lkd_secret-token-of-dc-hamburg"

func TestProxyAddsTokenAndPassesAnswer(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=x")
		w.WriteHeader(http.StatusTeapot) // any status passes through
		fmt.Fprintf(w, `{"path":%q,"query":%q}`, r.URL.EscapedPath(), r.URL.RawQuery)
	})
	s := serve(t, dashboard.Proxy([]dashboard.Target{up.target("dc-hamburg", secret)}))

	req, _ := http.NewRequest("GET", s.URL+"/nodes/dc-hamburg/v1/shipments/OCLV%2F42?all=true", nil)
	req.Header.Set("Authorization", "Bearer browser-token")
	req.Header.Set("Cookie", "browser=1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusTeapot {
		t.Errorf("status %d, want the node's 418", res.StatusCode)
	}
	if want := `{"path":"/v1/shipments/OCLV%2F42","query":"all=true"}`; string(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
	if res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q, want the node's application/json", res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Error("the proxy passed the node's Set-Cookie to the browser")
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("node got %d requests, want 1", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+secret {
		t.Errorf("node got Authorization %q, want the target's token", got)
	}
	if reqs[0].Header.Get("Cookie") != "" {
		t.Error("the proxy passed the browser's cookie to the node")
	}
	if strings.Contains(fmt.Sprint(res.Header), secret) || strings.Contains(string(body), secret) {
		t.Error("the token reached the browser")
	}
}

func TestProxyStreamsIncrementally(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "c41" {
			http.Error(w, "want Last-Event-ID c41, got "+r.Header.Get("Last-Event-ID"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\nid: c42\nevent: event\ndata: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		select { // the rest only once the browser has seen the first message
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "id: c43\nevent: event\ndata: {\"n\":2}\n\n")
	})
	s := serve(t, dashboard.Proxy([]dashboard.Target{up.target("eu-customs", secret)}))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/nodes/eu-customs/v1/stream?eventType=SHIPMENT", nil)
	req.Header.Set("Last-Event-ID", "c41")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d, type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	br := bufio.NewReader(res.Body)
	first, err := readMessage(br)
	if err != nil {
		t.Fatalf("the first message did not arrive while the node held the stream open (the proxy buffers): %v", err)
	}
	if !strings.Contains(first, "id: c42") || !strings.Contains(first, `data: {"n":1}`) {
		t.Errorf("first message %q, want id c42 and n 1", first)
	}
	close(release)
	second, err := readMessage(br)
	if err != nil || !strings.Contains(second, `data: {"n":2}`) {
		t.Errorf("second message %q (%v), want n 2", second, err)
	}
}

// readMessage reads one SSE block (comments included) up to its blank line.
func readMessage(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			if strings.Contains(b.String(), "data:") {
				return b.String(), nil
			}
			b.Reset()
			continue
		}
		b.WriteString(line)
	}
}

func TestProxyRefuses(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") })
	s := serve(t, dashboard.Proxy([]dashboard.Target{up.target("dc-hamburg", secret)}))
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/nodes/dc-hamburg/v1/events", http.StatusMethodNotAllowed},
		{"DELETE", "/nodes/dc-hamburg/v1/holds/eu-customs", http.StatusMethodNotAllowed},
		{"PUT", "/nodes/dc-hamburg/v1/peers", http.StatusMethodNotAllowed},
		{"GET", "/nodes/dc-rotterdam/v1/links", http.StatusNotFound},
		{"GET", "/nodes/dc-hamburg/debug/pprof/", http.StatusNotFound},
		{"GET", "/nodes/dc-hamburg/v1/%2e%2e/%2e%2e/etc/passwd", http.StatusNotFound},
		{"GET", "/elsewhere", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(`{}`))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d (%s)", tt.method, tt.path, res.StatusCode, tt.want, body)
		}
		if tt.want == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET" {
			t.Errorf("%s %s: Allow %q, want GET", tt.method, tt.path, res.Header.Get("Allow"))
		}
		if !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s %s: body %s, want a JSON error", tt.method, tt.path, body)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the node got %d requests; refused ones must not reach it", n)
	}
}

func TestProxyNodeDown(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	target := up.target("oceanic-lines", secret)
	up.Close()
	s := serve(t, dashboard.Proxy([]dashboard.Target{target}))
	res, err := http.Get(s.URL + "/nodes/oceanic-lines/v1/links")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	if !strings.Contains(string(body), "oceanic-lines") || strings.Contains(string(body), secret) {
		t.Errorf("body %s: want the party named and no token", body)
	}
}

func TestProxyPanicsOnBadWiring(t *testing.T) {
	for name, targets := range map[string][]dashboard.Target{
		"duplicate": {{Party: "a", URL: "https://127.0.0.1:1"}, {Party: "a", URL: "https://127.0.0.1:2"}},
		"bad url":   {{Party: "a", URL: "127.0.0.1:1"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Proxy did not panic", name)
				}
			}()
			dashboard.Proxy(targets)
		}()
	}
}

// streamNode is a fake node's /v1/stream: it sends msgs (after waiting for
// gate, if set) and holds the stream open. With filter, it honours the
// origin parameter as a node does; without, it refuses it with 400 as a
// node whose stream takes no origin filter would.
func streamNode(msgs []string, gate <-chan struct{}, filter bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/stream" {
			http.NotFound(w, r)
			return
		}
		origin := r.URL.Query().Get("origin")
		if origin != "" && !filter {
			http.Error(w, `{"error":{"code":"invalid","message":"unknown parameter origin"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		for _, m := range msgs {
			if origin != "" && strings.Contains(m, "data:") && !strings.Contains(m, fmt.Sprintf(`"origin":%q`, origin)) {
				continue
			}
			fmt.Fprint(w, m)
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}
}

func sseEvent(cursor, origin string, index int) string {
	return fmt.Sprintf("id: %s\nevent: event\ndata: {\"event\":{\"eventID\":\"e-%s-%d\",\"origin\":%q},\"position\":{\"origin\":\"linkd.dev/log/%s\",\"index\":%d}}\n\n",
		cursor, origin, index, origin, origin, index)
}

// laneReader reads the merged stream's messages as (id, event, data).
type laneMsg struct{ id, event, data string }

func readLane(t *testing.T, br *bufio.Reader) laneMsg {
	t.Helper()
	block, err := readMessage(br)
	if err != nil {
		t.Fatalf("merged stream ended: %v (%q)", err, block)
	}
	var m laneMsg
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "id":
			m.id = v
		case "event":
			m.event = v
		case "data":
			m.data = v
		}
	}
	return m
}

func TestLaneStreamMergesOnce(t *testing.T) {
	gate := make(chan struct{})
	a := newUpstream(t, streamNode([]string{
		sseEvent("a1", "hanoi-electronics", 0),
		sseEvent("a2", "dc-hamburg", 7),    // a replica: dc-hamburg's own node sends it
		sseEvent("a3", "outside-party", 3), // no node here: passed once
		": heartbeat\n\n",
		sseEvent("a4", "outside-party", 3), // the same event again
		sseEvent("a5", "hanoi-electronics", 1),
	}, gate, false))
	b := newUpstream(t, streamNode([]string{
		sseEvent("b1", "dc-hamburg", 7),
		sseEvent("b2", "outside-party", 3), // a replica: this node is asked for its own events only
		sseEvent("b3", "dc-hamburg", 8),
		sseEvent("b4", "dc-hamburg", 9),
	}, gate, true))
	s := serve(t, dashboard.Proxy([]dashboard.Target{a.target("hanoi-electronics", "ta"), b.target("dc-hamburg", "tb")}))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/nodes/_all/v1/stream?from=start", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	br := bufio.NewReader(res.Body)
	// Both nodes' streams come up before any event flows, so the replica
	// of dc-hamburg's event on hanoi-electronics' node finds its own node up.
	up := map[string]bool{}
	for len(up) < 2 {
		m := readLane(t, br)
		if m.event != "node" || !strings.Contains(m.data, `"state":"up"`) {
			t.Fatalf("before the gate: got %+v, want node up messages", m)
		}
		up[m.data] = true
	}
	close(gate)

	// Each node's messages pass in order, so once both nodes' last events
	// are through, everything before them has been passed or dropped.
	got := map[string]int{}
	var last laneMsg
	for got["e-hanoi-electronics-1"] == 0 || got["e-dc-hamburg-9"] == 0 {
		m := readLane(t, br)
		if m.event != "event" {
			t.Fatalf("got %+v, want an event", m)
		}
		// data names the event by id e-<origin>-<index>.
		i := strings.Index(m.data, `"eventID":"`)
		id := m.data[i+len(`"eventID":"`):]
		id = id[:strings.Index(id, `"`)]
		got[id]++
		last = m
	}
	want := map[string]int{"e-hanoi-electronics-0": 1, "e-hanoi-electronics-1": 1, "e-dc-hamburg-7": 1, "e-dc-hamburg-8": 1, "e-dc-hamburg-9": 1, "e-outside-party-3": 1}
	if !maps.Equal(got, want) {
		t.Errorf("events arrived %v times, want each once: %v", got, want)
	}
	// The node that takes an origin filter was asked for its own events
	// only; the other was asked again without the filter.
	for _, tc := range []struct {
		up   *upstream
		want string
	}{{a, ""}, {b, "dc-hamburg"}} {
		reqs := tc.up.requests()
		if got := reqs[len(reqs)-1].URL.Query().Get("origin"); got != tc.want {
			t.Errorf("a node's stream was asked for origin %q, want %q", got, tc.want)
		}
		if got := reqs[len(reqs)-1].URL.Query().Get("from"); got != "start" {
			t.Errorf("a node's stream was asked from=%q, want the page's from=start", got)
		}
	}
	// The last id carries both nodes' cursors once each node has sent
	// everything it has.
	cursors, err := url.ParseQuery(last.id)
	if err != nil || cursors.Get("dc-hamburg") == "" || cursors.Get("hanoi-electronics") == "" {
		t.Errorf("last id %q: want a cursor per node", last.id)
	}
	cancel()

	// Resuming with that id sends each node its own cursor.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx2, "GET", s.URL+"/nodes/_all/v1/stream", nil)
	req.Header.Set("Last-Event-ID", url.Values{"hanoi-electronics": {"a5"}, "dc-hamburg": {"b4"}}.Encode())
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br = bufio.NewReader(res.Body)
	for range 2 {
		readLane(t, br) // the two node-up messages: both nodes were asked
	}
	for _, tc := range []struct {
		up   *upstream
		want string
	}{{a, "a5"}, {b, "b4"}} {
		reqs := tc.up.requests()
		r := reqs[len(reqs)-1]
		if got := r.Header.Get("Last-Event-ID"); got != tc.want {
			t.Errorf("a node resumed from %q, want %q", got, tc.want)
		}
		if got := r.Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer t") {
			t.Errorf("a node's stream request had Authorization %q, want its token", got)
		}
	}
}

func TestLaneStreamWithoutStreams(t *testing.T) {
	notFound := func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
	a := newUpstream(t, notFound)
	b := newUpstream(t, notFound)
	s := serve(t, dashboard.Proxy([]dashboard.Target{a.target("a", "ta"), b.target("b", "tb")}))
	res, err := http.Get(s.URL + "/nodes/_all/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404 so the page falls back to polling", res.StatusCode)
	}
}
