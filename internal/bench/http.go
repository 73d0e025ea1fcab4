package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// DefaultHTTPIngest is the node's HTTP ingest targets: 64 clients sending
// single-event requests, and 64 sending batches of 100.
var DefaultHTTPIngest = []IngestScenario{{1, 64}, {100, 64}}

// benchNode is a real node (TLS, tokens, store, log) in a directory, served
// in this process on loopback.
type benchNode struct {
	n      *node.Node
	url    string
	ca     string
	token  string // a writer's
	admin  string
	cancel context.CancelFunc
	done   chan error
}

// startNode initialises (if dir is new) and serves a node in dir. Rate
// limits are off: the benchmark measures capacity, not policy.
func startNode(ctx context.Context, dir string) (*benchNode, error) {
	cfgPath := filepath.Join(dir, "linkd.yaml")
	var admin string
	if _, err := os.Stat(cfgPath); err != nil {
		res, err := node.Init(ctx, node.InitOptions{Dir: dir, Party: scenario.Terminal, Listen: "127.0.0.1:0"})
		if err != nil {
			return nil, err
		}
		admin = res.AdminToken
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(admin), 0o600); err != nil {
			return nil, err
		}
	} else {
		b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			return nil, fmt.Errorf("reuse %s: %w (it must be a directory an earlier bench made)", dir, err)
		}
		admin = string(b)
	}
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg.Limits.RatePerToken = 0
	cfg.Limits.MaxConcurrent = 4096
	n, err := node.Open(cfg, nil)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	b := &benchNode{n: n, url: "https://" + n.Addr(), ca: cfg.Path(cfg.Keys.TLSCert), admin: admin, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- n.Serve(sctx) }()
	c, err := b.client(admin)
	if err != nil {
		b.close()
		return nil, err
	}
	t, err := c.CreateToken(ctx, "bench writer", "writer", 0)
	if err != nil {
		b.close()
		return nil, err
	}
	b.token = t.Token
	return b, nil
}

func (b *benchNode) client(token string) (*client.Client, error) {
	return client.New(b.url, client.Options{Token: token, CAFile: b.ca})
}

func (b *benchNode) close() error {
	b.cancel()
	err := <-b.done
	if cerr := b.n.Close(); err == nil {
		err = cerr
	}
	return err
}

// HTTPIngest measures durable ingest through a node's HTTPS API: for each
// scenario, Clients concurrent clients, each with its own connection, POST
// bodies of Batch events to a fresh node and wait for the acks. Bodies are
// encoded before the clock starts, so the figure is the node's.
func HTTPIngest(ctx context.Context, cfg IngestConfig) ([]IngestResult, error) {
	if cfg.Scenarios == nil {
		cfg.Scenarios = DefaultHTTPIngest
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-http-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []IngestResult
	for i, sc := range cfg.Scenarios {
		events := cfg.Events
		if events == 0 {
			events = 100_000
			if sc.Batch == 1 {
				events = 40_000
			}
		}
		events = max(events/(sc.Batch*sc.Clients), 1) * sc.Batch * sc.Clients
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "http ingest: %s, %d events…\n", sc, events)
		}
		r, err := httpIngestOne(ctx, filepath.Join(dir, fmt.Sprintf("s%d", i)), sc, events, cfg.GoClient)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func httpIngestOne(ctx context.Context, dir string, sc IngestScenario, events int, goClient bool) (IngestResult, error) {
	b, err := startNode(ctx, dir)
	if err != nil {
		return IngestResult{}, err
	}
	defer b.close()
	gen := scenario.NewGenerator(uint64(sc.Batch*1000+sc.Clients), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	perClient := events / sc.Clients / sc.Batch
	bodies := make([][][]byte, sc.Clients)
	host := strings.TrimPrefix(b.url, "https://")
	for c := range bodies {
		for range perClient {
			body, err := json.Marshal(gen.Batch(sc.Batch))
			if err != nil {
				return IngestResult{}, err
			}
			if !goClient {
				body = postRequest(host, "/v1/events", b.token, body)
			}
			bodies[c] = append(bodies[c], body)
		}
	}
	// Each client's connection is open, and has served a request, before
	// the clock starts: TLS handshakes are not ingest.
	post := make([]func([]byte) error, sc.Clients)
	for c := range post {
		if goClient {
			cl, err := b.client(b.token)
			if err != nil {
				return IngestResult{}, err
			}
			if _, err := cl.Checkpoint(ctx, 0); err != nil && linkd.ErrorCode(err) != linkd.ENotFound {
				return IngestResult{}, err
			}
			post[c] = func(body []byte) error {
				res, err := cl.AppendJSON(ctx, body)
				if err == nil && len(res.Acks) != sc.Batch {
					err = fmt.Errorf("POST /v1/events acknowledged %d events of %d", len(res.Acks), sc.Batch)
				}
				return err
			}
			continue
		}
		lc, err := dialLoad(ctx, b.url, b.ca)
		if err != nil {
			return IngestResult{}, err
		}
		defer lc.close()
		if status, body, err := lc.do(getRequest(host, "/healthz"), nil); err != nil || status != 200 {
			return IngestResult{}, fmt.Errorf("GET /healthz: status %d, %q: %v", status, body, err)
		}
		var ans []byte
		post[c] = func(req []byte) error {
			status, body, err := lc.do(req, ans)
			ans = body
			if err != nil {
				return err
			}
			return checkAcks(status, body, sc.Batch)
		}
	}
	lat := make([][]time.Duration, sc.Clients)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for c := range post {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range bodies[c] {
				t0 := time.Now()
				if err := post[c](body); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := failed.Load(); p != nil {
		return IngestResult{}, *p
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	n := len(all) * sc.Batch
	if size := b.n.Log().Size(); size != int64(n) {
		return IngestResult{}, fmt.Errorf("the log holds %d events after %d were acknowledged", size, n)
	}
	return IngestResult{
		Scenario: sc.String(), Batch: sc.Batch, Clients: sc.Clients, Events: n, Seconds: elapsed.Seconds(),
		EventsPerSec: float64(n) / elapsed.Seconds(),
		P50Millis:    ms(all[len(all)/2]), P99Millis: ms(all[len(all)*99/100]),
		Fsyncs: b.n.Log().Stats().Batches.Load(),
	}, nil
}

// PrintHTTPIngest prints HTTPIngest's results as a table.
func PrintHTTPIngest(w io.Writer, res []IngestResult) {
	fmt.Fprintf(w, "%-26s %10s %12s %10s %10s %9s\n", "scenario (HTTPS)", "events", "events/s", "p50 ms", "p99 ms", "fsyncs")
	for _, r := range res {
		fmt.Fprintf(w, "%-26s %10d %12.0f %10.2f %10.2f %9d\n", r.Scenario, r.Events, r.EventsPerSec, r.P50Millis, r.P99Millis, r.Fsyncs)
	}
}

// ShipmentConfig configures Shipment.
type ShipmentConfig struct {
	// Dir holds the node. An existing bench node there is reused and topped
	// up to Events, so a large store is loaded once. "" means a temporary
	// directory, removed after.
	Dir       string
	Events    int // events stored; 0 means 1,000,000
	Queries   int // shipment queries timed; 0 means 2,000
	Warmup    int // untimed queries first, on other bookings; 0 means 500, below 0 none
	Progress  io.Writer
	Shipments int // shipments the events spread over; 0 means Events/40
}

// ShipmentResult is the latency of GET /v1/shipments/{ref}.
type ShipmentResult struct {
	Events         int64   `json:"eventsStored"`
	Queries        int     `json:"queries"`
	Warmup         int     `json:"warmupQueries"`
	AvgTimeline    float64 `json:"avgTimelineEvents"`
	ServerP50      float64 `json:"serverP50Millis"`
	ServerP99      float64 `json:"serverP99Millis"`
	ServerMax      float64 `json:"serverMaxMillis"`
	ServerCPUP50   float64 `json:"serverCPUP50Millis,omitempty"`
	ServerCPUP99   float64 `json:"serverCPUP99Millis,omitempty"`
	LoopbackP50    float64 `json:"loopbackP50Millis"`
	LoopbackP99    float64 `json:"loopbackP99Millis"`
	LoadEventsPerS float64 `json:"loadEventsPerSecond,omitempty"`
	// OpenSeconds is how long opening the node took (a reused --dir: with
	// OpenEvents events already stored).
	OpenSeconds float64 `json:"openSeconds"`
	OpenEvents  int64   `json:"openEvents"`
}

// Shipment stores Events events in a node and times GET /v1/shipments/{ref}
// for random bookings twice: through the node's handler in this process
// (the server's own time: routing, token check, index scan, reads, derived
// state, JSON) and over HTTPS on loopback with a kept-alive connection.
func Shipment(ctx context.Context, cfg ShipmentConfig) (ShipmentResult, error) {
	if cfg.Events == 0 {
		cfg.Events = 1_000_000
	}
	if cfg.Queries == 0 {
		cfg.Queries = 2000
	}
	switch {
	case cfg.Warmup == 0:
		cfg.Warmup = 500
	case cfg.Warmup < 0:
		cfg.Warmup = 0
	}
	if cfg.Shipments == 0 {
		cfg.Shipments = max(cfg.Events/40, 1)
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "linkd-bench-shipment-")
		if err != nil {
			return ShipmentResult{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	t0 := time.Now()
	b, err := startNode(ctx, dir)
	if err != nil {
		return ShipmentResult{}, err
	}
	defer b.close()
	log := b.n.Log()
	res := ShipmentResult{OpenSeconds: time.Since(t0).Seconds(), OpenEvents: log.Size()}
	if have := log.Size(); have < int64(cfg.Events) {
		// Load through the log directly: this benchmark is about reads.
		gen := scenario.NewGenerator(42, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)).WithShipments(cfg.Shipments)
		for range have {
			gen.Next() // continue the same traffic after an interrupted load
		}
		t0 := time.Now()
		todo := cfg.Events - int(have)
		const batch = 1000
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		var genMu sync.Mutex
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(batch)-batch < int64(todo) && failed.Load() == nil && ctx.Err() == nil {
					genMu.Lock()
					events := gen.Batch(batch)
					genMu.Unlock()
					if _, err := log.Append(ctx, events); err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				}
			}()
		}
		stopProgress := progress(cfg.Progress, func() string {
			return fmt.Sprintf("loaded %d of %d events", log.Size(), cfg.Events)
		})
		wg.Wait()
		stopProgress()
		if p := failed.Load(); p != nil {
			return res, *p
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		res.LoadEventsPerS = float64(log.Size()-have) / time.Since(t0).Seconds()
	}
	res.Events = log.Size()
	res.Queries = cfg.Queries

	reader, err := b.client(b.admin)
	if err != nil {
		return res, err
	}
	// Bookings in a scattered order, each once while there are more
	// shipments than queries (7919 is prime, so coprime to their count).
	booking := func(i int) string { return fmt.Sprintf("OCLVNHAM%07d", (i*7919+13)%cfg.Shipments) }
	refs := make([]string, cfg.Queries)
	for i := range refs {
		refs[i] = booking(i)
	}
	h := b.n.Handler()
	request := func(ref string) (*http.Request, *httptest.ResponseRecorder) {
		req := httptest.NewRequest(http.MethodGet, "/v1/shipments/"+ref, nil)
		req.Header.Set("Authorization", "Bearer "+b.admin)
		return req, httptest.NewRecorder()
	}
	// A node that has served a while has its tables open and their index
	// blocks cached; a fresh process opens a table the first time a query
	// reaches it, which made the first few hundred queries slow. The
	// warm-up asks for other bookings than the timed ones, so none of
	// their events are cached by it.
	for i := range cfg.Warmup {
		req, rec := request(booking(cfg.Queries + i))
		if h.ServeHTTP(rec, req); rec.Code != http.StatusOK {
			return res, fmt.Errorf("warm-up GET %s: %d %s", req.URL.Path, rec.Code, rec.Body)
		}
	}
	res.Warmup = cfg.Warmup
	server := make([]time.Duration, 0, len(refs))
	cpu := make([]time.Duration, 0, len(refs))
	total := 0
	// The handler runs on this goroutine, locked to its thread, so the
	// thread's CPU time over a call is the server's work on the query
	// (with any collection work the query's allocations were charged).
	timeServer := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for _, ref := range refs {
			req, rec := request(ref)
			c0, t0 := threadCPU(), time.Now()
			h.ServeHTTP(rec, req)
			server = append(server, time.Since(t0))
			cpu = append(cpu, threadCPU()-c0)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %s", req.URL.Path, rec.Code, rec.Body)
			}
			// Only the timeline's length is decoded: a full decode here
			// would leave the collector garbage that the next queries'
			// times pay for, which a server does not have from its clients.
			var v struct{ Timeline []struct{} }
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				return fmt.Errorf("GET %s: %w", req.URL.Path, err)
			}
			total += len(v.Timeline)
		}
		return nil
	}
	if err := timeServer(); err != nil {
		return res, err
	}
	loop := make([]time.Duration, 0, len(refs))
	for _, ref := range refs {
		t0 := time.Now()
		if _, err := reader.Shipment(ctx, ref); err != nil {
			return res, err
		}
		loop = append(loop, time.Since(t0))
	}
	slices.Sort(server)
	slices.Sort(cpu)
	slices.Sort(loop)
	res.AvgTimeline = float64(total) / float64(len(refs))
	res.ServerP50, res.ServerP99, res.ServerMax = ms(percentile(server, 50)), ms(percentile(server, 99)), ms(server[len(server)-1])
	if cpu[len(cpu)-1] > 0 {
		res.ServerCPUP50, res.ServerCPUP99 = ms(percentile(cpu, 50)), ms(percentile(cpu, 99))
	}
	res.LoopbackP50, res.LoopbackP99 = ms(percentile(loop, 50)), ms(percentile(loop, 99))
	return res, nil
}

// progress prints line() every 5 seconds until the returned stop is called.
func progress(w io.Writer, line func() string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(w, line())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// PrintShipment prints Shipment's result.
func PrintShipment(w io.Writer, r ShipmentResult) {
	fmt.Fprintf(w, "GET /v1/shipments/{ref}: %d events stored, %d queries after %d to warm up, %.1f events per timeline\n", r.Events, r.Queries, r.Warmup, r.AvgTimeline)
	fmt.Fprintf(w, "  at the server (in-process handler):  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", r.ServerP50, r.ServerP99, r.ServerMax)
	if r.ServerCPUP50 > 0 {
		fmt.Fprintf(w, "  server CPU time per query:           p50 %.3f ms  p99 %.3f ms\n", r.ServerCPUP50, r.ServerCPUP99)
	}
	fmt.Fprintf(w, "  over HTTPS on loopback:              p50 %.3f ms  p99 %.3f ms\n", r.LoopbackP50, r.LoopbackP99)
	if r.LoadEventsPerS > 0 {
		fmt.Fprintf(w, "  (loaded at %.0f events/s)\n", r.LoadEventsPerS)
	}
	fmt.Fprintf(w, "  node opened in %.2f s with %d events stored\n", r.OpenSeconds, r.OpenEvents)
}
