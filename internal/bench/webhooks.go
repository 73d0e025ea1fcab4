package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// WebhooksConfig sets up a webhooks run: one real node (the carrier's)
// with Subs webhook subscriptions, created through its HTTP API by reader
// tokens owning 250 each, to
// Receivers HTTP servers on loopback in this process; the node records
// Events scenario events and delivers each to the subscriptions that match.
type WebhooksConfig struct {
	Dir    string
	Subs   int // webhook subscriptions; 0 means 1,000
	Events int // events recorded; 0 means 2,000
	// MatchAll gives every subscription a filter every event matches (Subs
	// deliveries per event); otherwise subscription i matches the events of
	// booking i, and the events are spread over Subs bookings (one delivery
	// per event).
	MatchAll  bool
	Receivers int // HTTP servers the subscriptions are spread over; 0 means 4
	Batch     int // events per append; 0 means 100
	// Rate is events/s recorded; 0 records as fast as the node
	// acknowledges, so deliveries run at capacity and latency includes the
	// backlog.
	Rate    int
	Timeout time.Duration // for the last delivery after the last event; 0 means 2 minutes
	// Progress gets a line per phase; nil for none.
	Progress io.Writer
}

// WebhooksResult is what a webhooks run measured.
type WebhooksResult struct {
	Subs, Events, Receivers int
	MatchAll                bool
	Expected                int64         // deliveries the filters call for
	Delivered               int64         // of them, received with a valid signature (once each)
	Missing                 int64         // expected and never received
	Invalid                 int64         // requests whose signature did not verify
	Duplicates              int64         // repeats of a delivery already received
	Unexpected              int64         // deliveries no filter called for
	FailedAttempts          int64         // attempts the node counted as failed (then retried)
	Connections             int64         // TCP connections the receivers accepted
	Create                  time.Duration // creating the subscriptions through the API, 8 at a time (not in Rate)
	Ingest                  time.Duration // first append → last acknowledgement
	Elapsed                 time.Duration // first append → last delivery
	Rate                    float64       // deliveries per second: Delivered / Elapsed
	// Latency is from the append's acknowledgement to the receiver having
	// the request, over every expected delivery received.
	Latency Percentiles
}

// webhookNode is the party whose node delivers.
var webhookNode = linkd.Party{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}}

// hookSub is a subscription as the receivers know it.
type hookSub struct {
	no      int
	secrets []webhook.Secret
}

// hookSink is the receivers' shared state: which subscription got which
// event when.
type hookSink struct {
	events int
	subs   map[string]*hookSub // by subscription id; written before the first event
	acked  []atomic.Int64      // by event (log index - base): unix ns of the acknowledgement
	got    []atomic.Uint32     // by sub*events + event: receipts
	base   int64

	unique, invalid, dups, outside, conns atomic.Int64
	last                                  atomic.Int64 // unix ns of the latest receipt

	mu     sync.Mutex
	delays []time.Duration // guarded by mu
}

func (s *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	sub := s.subs[r.Header.Get("Subscription-Id")]
	if sub == nil || webhook.Verify(sub.secrets, r.Header, body, now, 0) != nil {
		s.invalid.Add(1)
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	var m struct {
		SubscriptionID string             `json:"subscriptionID"`
		Position       subscribe.Position `json:"position"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.SubscriptionID != r.Header.Get("Subscription-Id") || m.Position.Origin != webhookNode.ID {
		s.invalid.Add(1)
		http.Error(w, "not a delivery of this subscription", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	k := m.Position.Index - s.base
	if k < 0 || k >= int64(s.events) {
		s.outside.Add(1)
		return
	}
	if s.got[int64(sub.no)*int64(s.events)+k].Add(1) > 1 {
		s.dups.Add(1)
		return
	}
	s.unique.Add(1)
	for {
		l := s.last.Load()
		if now.UnixNano() <= l || s.last.CompareAndSwap(l, now.UnixNano()) {
			break
		}
	}
	var d time.Duration
	if a := s.acked[k].Load(); a != 0 {
		d = time.Duration(max(0, now.UnixNano()-a))
	} // else received before the appender had its answer
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
}

// Webhooks runs one webhooks measurement.
func Webhooks(ctx context.Context, cfg WebhooksConfig) (WebhooksResult, error) {
	if cfg.Subs <= 0 {
		cfg.Subs = 1000
	}
	if cfg.Events <= 0 {
		cfg.Events = 2000
	}
	if cfg.Receivers <= 0 {
		cfg.Receivers = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-webhooks-")
	if err != nil {
		return WebhooksResult{}, err
	}
	defer os.RemoveAll(dir)

	sink := &hookSink{events: cfg.Events, subs: map[string]*hookSub{},
		acked: make([]atomic.Int64, cfg.Events), got: make([]atomic.Uint32, cfg.Subs*cfg.Events)}
	var urls []string
	for range cfg.Receivers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return WebhooksResult{}, err
		}
		srv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				sink.conns.Add(1)
			}
		}}
		go srv.Serve(ln)
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String()+"/hooks")
	}

	ln, res, err := openNode(ctx, filepath.Join(dir, webhookNode.ID), webhookNode, func(c *node.Config) error {
		c.Webhooks.AllowLoopback, c.Webhooks.AllowHTTP = true, true
		return nil
	})
	if err != nil {
		return WebhooksResult{}, err
	}
	defer ln.stop()
	c, err := client.New("https://"+ln.n.Addr(), client.Options{Token: res.AdminToken, CAFile: ln.cfg.Path(ln.cfg.Keys.TLSCert)})
	if err != nil {
		return WebhooksResult{}, err
	}

	// Subscriptions belong to reader tokens, as an integration's would,
	// hooksPerToken each.
	var owners []*client.Client
	for i := range (cfg.Subs + hooksPerToken - 1) / hooksPerToken {
		tok, _, err := ln.n.Tokens().Create(ctx, fmt.Sprintf("bench-hooks-%d", i), access.Reader, 0)
		if err != nil {
			return WebhooksResult{}, err
		}
		oc, err := client.New("https://"+ln.n.Addr(), client.Options{Token: tok, CAFile: ln.cfg.Path(ln.cfg.Keys.TLSCert)})
		if err != nil {
			return WebhooksResult{}, err
		}
		owners = append(owners, oc)
	}
	say("  creating %d webhook subscriptions", cfg.Subs)
	created := time.Now()
	if err := createHooks(ctx, owners, cfg, urls, sink); err != nil {
		return WebhooksResult{}, err
	}
	create := time.Since(created)

	// The events, and for each the subscription that wants it (-1: all).
	g := scenario.NewGenerator(3, time.Now())
	if !cfg.MatchAll {
		g = g.WithShipments(cfg.Subs)
	}
	events := g.Batch(cfg.Events)
	wants := make([]int, 0, cfg.Events) // by event, as acknowledged
	subOf := map[string]int{}
	for i := range cfg.Subs {
		subOf[bookingOf(i)] = i
	}

	say("  recording %d events", cfg.Events)
	sink.base = ln.n.Log().Size()
	var tick *time.Ticker
	if cfg.Rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) * float64(cfg.Batch) / float64(cfg.Rate)))
		defer tick.Stop()
	}
	start := time.Now()
	var dup int
	for i := 0; i < len(events); i += cfg.Batch {
		if tick != nil {
			<-tick.C
		}
		batch := events[i:min(len(events), i+cfg.Batch)]
		acks, err := ln.n.Ingest(ctx, batch)
		if err != nil {
			return WebhooksResult{}, err
		}
		now := time.Now().UnixNano()
		for j, a := range acks {
			if a.Duplicate {
				dup++
				continue
			}
			k := a.LogIndex - sink.base
			if k < 0 || k >= int64(cfg.Events) {
				return WebhooksResult{}, fmt.Errorf("event acknowledged at index %d, outside the run's %d..%d", a.LogIndex, sink.base, sink.base+int64(cfg.Events))
			}
			sink.acked[k].CompareAndSwap(0, now)
			w := -1
			if !cfg.MatchAll {
				n, ok := subOf[batch[j].CarrierBookingReference]
				if !ok {
					return WebhooksResult{}, fmt.Errorf("event on booking %s, which no subscription follows", batch[j].CarrierBookingReference)
				}
				w = n
			}
			for int64(len(wants)) <= k {
				wants = append(wants, -2)
			}
			wants[k] = w
		}
	}
	ingest := time.Since(start)
	var expected int64
	for _, w := range wants {
		switch {
		case w == -1:
			expected += int64(cfg.Subs)
		case w >= 0:
			expected++
		}
	}

	say("  waiting for %d deliveries", expected)
	deadline := time.Now().Add(cfg.Timeout)
	for sink.unique.Load() < expected && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return WebhooksResult{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	// What each filter called for and what came.
	out := WebhooksResult{Subs: cfg.Subs, Events: cfg.Events - dup, Receivers: cfg.Receivers, MatchAll: cfg.MatchAll,
		Expected: expected, Invalid: sink.invalid.Load(), Duplicates: sink.dups.Load(), Connections: sink.conns.Load(), Create: create, Ingest: ingest}
	for sub := range cfg.Subs {
		for k, w := range wants {
			n := sink.got[sub*cfg.Events+k].Load()
			switch {
			case w == -1 || w == sub:
				if n > 0 {
					out.Delivered++
				} else {
					out.Missing++
				}
			case n > 0:
				out.Unexpected++
			}
		}
	}
	out.Unexpected += sink.outside.Load()
	if l := sink.last.Load(); l != 0 {
		out.Elapsed = time.Unix(0, l).Sub(start)
		out.Rate = float64(out.Delivered) / out.Elapsed.Seconds()
	}
	sink.mu.Lock()
	out.Latency = percentiles(sink.delays)
	sink.mu.Unlock()
	views, err := c.Subscriptions(ctx)
	if err != nil {
		return out, err
	}
	for _, v := range views {
		if v.Status != nil {
			out.FailedAttempts += v.Status.Failed
		}
	}
	return out, nil
}

// bookingOf is the booking reference of the scenario generator's shipment i.
func bookingOf(i int) string { return fmt.Sprintf("OCLVNHAM%07d", i) }

// hooksPerToken is how many subscriptions one token owns in a run.
const hooksPerToken = 250

// createHooks creates the subscriptions through the node's API, eight at a
// time, subscription i owned by owners[i%len(owners)], and tells the sink
// their secrets.
func createHooks(ctx context.Context, owners []*client.Client, cfg WebhooksConfig, urls []string, sink *hookSink) error {
	type made struct {
		no  int
		id  string
		sec webhook.Secret
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nos := make(chan int)
	done := make(chan made)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range nos {
				f := expr.Filter{Origins: []string{webhookNode.ID}}
				if !cfg.MatchAll {
					f = expr.Filter{CarrierBookingReferences: []string{bookingOf(i)}}
				}
				cr, err := owners[i%len(owners)].CreateSubscription(ctx, subscribe.Request{Name: fmt.Sprintf("bench-%d", i), Delivery: subscribe.Webhook, URL: urls[i%len(urls)], Filter: f})
				if err == nil {
					var sec webhook.Secret
					if sec, err = webhook.ParseSecret(cr.Secret); err == nil {
						done <- made{i, cr.Subscription.ID, sec}
						continue
					}
				}
				errc <- fmt.Errorf("create subscription %d: %w", i, err)
				cancel()
				return
			}
		})
	}
	go func() {
		defer close(nos)
		for i := range cfg.Subs {
			select {
			case nos <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	for m := range done {
		sink.subs[m.id] = &hookSub{no: m.no, secrets: []webhook.Secret{m.sec}}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	if len(sink.subs) != cfg.Subs {
		return fmt.Errorf("created %d of %d subscriptions", len(sink.subs), cfg.Subs)
	}
	return nil
}
