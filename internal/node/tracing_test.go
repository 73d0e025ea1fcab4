package node_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/node"
)

// collector is an OTLP/HTTP trace collector on loopback: it decodes what
// nodes export, as a real collector would, and keeps every span.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span // guarded by mu
}

// span is what the test reads of one exported span.
type span struct {
	party, name       string
	trace, id, parent string
	attrs             map[string]string
	status            int32
	start, end        uint64
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			party := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "linkd.party" {
					party = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					sp := span{party: party, name: s.Name, trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
						parent: hex.EncodeToString(s.ParentSpanId), attrs: map[string]string{}, status: int32(s.GetStatus().GetCode()),
						start: s.StartTimeUnixNano, end: s.EndTimeUnixNano}
					for _, kv := range s.Attributes {
						v := kv.Value.GetStringValue()
						if v == "" {
							v = fmt.Sprint(kv.Value.GetIntValue())
						}
						sp.attrs[kv.Key] = v
					}
					c.spans = append(c.spans, sp)
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// of returns the spans of one trace.
func (c *collector) of(trace string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.trace == trace {
			out = append(out, s)
		}
	}
	return out
}

// startTraced starts a node for p that exports its traces to c.
func startTraced(t *testing.T, p linkd.Party, c *collector) *member {
	t.Helper()
	res, cfg := initNode(t, p, "127.0.0.1:0")
	cfg.Traces.Endpoint = c.srv.URL
	cfg.Traces.BatchTimeout = 50 * time.Millisecond
	r := serve(t, cfg)
	m := &member{party: p, r: r, c: adminClient(t, r, res, cfg), http: httpClient(roots(t, cfg), true), token: res.AdminToken}
	t.Cleanup(m.http.CloseIdleConnections)
	card, err := m.c.Card(context.Background())
	if err != nil {
		t.Fatalf("%s's card: %v", p.ID, err)
	}
	m.card = card
	return m
}

// TestOneTraceFollowsAnEventToEveryPeer posts an event with a caller's W3C
// traceparent and reads, from an OTLP collector, the one trace it makes: the
// origin's request and append, a send to each entitled peer, and each peer's
// verification and store, every span a child of the one before it.
func TestOneTraceFollowsAnEventToEveryPeer(t *testing.T) {
	t.Parallel()
	col := newCollector(t)
	a, b, h := startTraced(t, party, col), startTraced(t, forwarding, col), startTraced(t, hamburg, col)
	pair(t, a, b)
	pair(t, a, h)

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body, _ := json.Marshal(booking("BKG-TRACE", party, forwarding, hamburg))
	req, _ := http.NewRequest(http.MethodPost, a.r.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/events: %s", resp.Status)
	}

	var spans []span
	byName := func(name, party string) []span {
		var out []span
		for _, s := range spans {
			if s.name == name && (party == "" || s.party == party) {
				out = append(out, s)
			}
		}
		return out
	}
	eventually(t, "the collector has the trace's spans from all three nodes", func() bool {
		spans = col.of(traceID)
		return len(byName("link.apply", forwarding.ID)) > 0 && len(byName("link.apply", hamburg.ID)) > 0 &&
			len(byName("link.send", party.ID)) >= 2
	})
	ingest := byName("POST /v1/events", party.ID)
	if len(ingest) != 1 || ingest[0].parent != callerSpan {
		t.Fatalf("the origin's request span: %+v; want one, a child of the caller's span %s", ingest, callerSpan)
	}
	appends := byName("log.append", party.ID)
	if len(appends) != 1 || appends[0].parent != ingest[0].id {
		t.Fatalf("log.append spans: %+v; want one under the request span", appends)
	}
	if appends[0].attrs["linkd.log_index.first"] == "" {
		t.Errorf("log.append names no log index: %v", appends[0].attrs)
	}
	for _, peer := range []linkd.Party{forwarding, hamburg} {
		var send *span
		for _, s := range byName("link.send", party.ID) {
			if s.attrs["linkd.peer"] == peer.ID {
				send = &s
				break
			}
		}
		if send == nil || send.parent != appends[0].id {
			t.Fatalf("no link.send to %s under the append; link.send spans: %+v", peer.ID, byName("link.send", ""))
		}
		applied := byName("link.apply", peer.ID)
		if len(applied) == 0 || applied[0].parent != send.id {
			t.Fatalf("%s's link.apply spans %+v; want one under the send %s", peer.ID, applied, send.id)
		}
		if applied[0].status == 2 { // STATUS_CODE_ERROR
			t.Errorf("%s's link.apply failed: %+v", peer.ID, applied[0])
		}
		if applied[0].end < applied[0].start {
			t.Errorf("%s's link.apply ends before it starts", peer.ID)
		}
	}
	// The event is where the trace says it went.
	for _, m := range []*member{b, h} {
		if got := m.timeline(t, "BKG-TRACE"); len(got) != 1 {
			t.Errorf("%s shows %d events of BKG-TRACE, want 1", m.party.ID, len(got))
		}
	}
}

// TestTracesConfigIsChecked refuses a collector address that is not a URL
// and a sample rate outside 0..1, naming the field.
func TestTracesConfigIsChecked(t *testing.T) {
	_, cfg := initNode(t, party, "127.0.0.1:0")
	for _, bad := range []func(*node.Config){
		func(c *node.Config) { c.Traces.Endpoint = "collector:4318" },
		func(c *node.Config) { c.Traces.Sample = 1.5 },
	} {
		c := cfg
		bad(&c)
		err := c.Validate()
		if err == nil {
			t.Fatalf("Validate accepted traces %+v", c.Traces)
		}
		if p := linkd.ErrorMessage(err); !bytes.Contains([]byte(p), []byte("traces")) {
			t.Errorf("error %q does not name the traces field", p)
		}
	}
}
