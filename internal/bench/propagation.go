package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// PropagationConfig sets up a propagation run: Nodes real nodes in this
// process, each with its own store, keys and TLS listener on loopback, all
// linked to each other; the first records Rate events/s for Duration, every
// event shared with every party.
type PropagationConfig struct {
	Dir      string
	Nodes    int
	Rate     int
	Duration time.Duration
	Batch    int // events per append on schedule, Rate/1000 when 0 (one append per millisecond); an append after a slow one takes every event due
	// Member, when set, runs each node in a process of its own, as parties
	// run theirs: it returns the command of a process that runs
	// PropagationMember on its standard input and output.
	Member func() *exec.Cmd `json:"-"`
}

// PropagationResult is what one run measured.
type PropagationResult struct {
	Nodes, Events int
	Rate          float64 // events/s the origin achieved
	Latency       Latencies
	// Wire bytes between the origin and one peer, through a counting TCP
	// proxy, against the canonical bytes of the payloads it carried.
	WireBytes, PayloadBytes int64
	// CPU is the user and system time of the whole run, setup included:
	// this process's and, with Member, its members'.
	CPU time.Duration
}

// Overhead is the share of wire bytes beyond the payloads.
func (r PropagationResult) Overhead() float64 {
	if r.PayloadBytes == 0 {
		return 0
	}
	return float64(r.WireBytes-r.PayloadBytes) / float64(r.PayloadBytes)
}

// MarshalJSON writes the result as the other benchmarks write theirs:
// camel-case names, times in milliseconds or seconds, and the overhead.
func (r PropagationResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Nodes        int     `json:"nodes"`
		Events       int     `json:"events"`
		Rate         float64 `json:"eventsPerSecond"`
		Arrivals     int     `json:"arrivals"` // events × peers measured
		P50          float64 `json:"p50Millis"`
		P99          float64 `json:"p99Millis"`
		Max          float64 `json:"maxMillis"`
		WireBytes    int64   `json:"wireBytes"`
		PayloadBytes int64   `json:"payloadBytes"`
		Overhead     float64 `json:"overhead"` // (wire - payload) / payload
		CPU          float64 `json:"cpuSeconds"`
	}{r.Nodes, r.Events, r.Rate, r.Latency.N, ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max),
		r.WireBytes, r.PayloadBytes, r.Overhead(), r.CPU.Seconds()})
}

// Latencies summarises per-event delays from the origin's acknowledgement to
// verified-and-queryable at a peer, over every peer.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

// cast is the Vietnam→EU lane's parties, for benchmark nodes.
var cast = []linkd.Party{
	{ID: "hanoi-electronics", Name: "Hanoi Electronics", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"VN", "ASEAN"}},
	scenario.Terminal,
	{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}},
	{ID: "vn-forwarding", Name: "VN Forwarding", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN", "ASEAN"}},
	{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"NL", "EU"}},
	{ID: "dc-hamburg", Name: "DC Hamburg", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}},
	{ID: "dc-rotterdam", Name: "DC Rotterdam", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"NL", "EU"}},
	{ID: "dc-antwerp", Name: "DC Antwerp", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"BE", "EU"}},
}

// lane returns the first n parties of the cast.
func lane(n int) []linkd.Party {
	if n > len(cast) {
		n = len(cast)
	}
	return cast[:n]
}

type laneNode struct {
	party  linkd.Party
	cfg    node.Config
	n      *node.Node
	cancel context.CancelFunc
	done   chan error
}

func openLaneNode(ctx context.Context, dir string, p linkd.Party) (*laneNode, error) {
	res, err := node.Init(ctx, node.InitOptions{Dir: dir, Party: p, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		return nil, err
	}
	cfg.Limits.RatePerToken = 0
	ln := &laneNode{party: p, cfg: cfg}
	if err := ln.start(); err != nil {
		return nil, err
	}
	ln.cfg.Listen = ln.n.Addr() // a restart keeps the port its peers know
	return ln, nil
}

func (ln *laneNode) start() error {
	n, err := node.Open(ln.cfg, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln.n, ln.cancel, ln.done = n, cancel, make(chan error, 1)
	go func() { ln.done <- n.Serve(ctx) }()
	return nil
}

func (ln *laneNode) stop() {
	if ln.n == nil {
		return
	}
	ln.cancel()
	<-ln.done
	ln.n.Close()
	ln.n = nil
}

// linkLane puts every node's card in every other node's directory; the
// origin reaches peer 1 through proxy, if one is given.
func linkLane(nodes []*laneNode, proxy *faultnet.Proxy) error {
	for i, a := range nodes {
		for j, b := range nodes {
			if i == j {
				continue
			}
			card, err := b.n.Card()
			if err != nil {
				return err
			}
			if i == 0 && j == 1 && proxy != nil {
				card.Endpoint = "https://" + proxy.Addr()
			}
			if err := a.n.Peers().Put(card); err != nil {
				return err
			}
		}
	}
	return nil
}

// sharedEvents returns n scenario events on their own shipments, each with
// every lane party on its party list.
func sharedEvents(g *scenario.Generator, n int, parties []linkd.ShipmentParty) []linkd.Event {
	evs := g.Batch(n)
	for i := range evs {
		evs[i].Parties = parties
	}
	return evs
}

// shipmentParties puts every party on a shipment in its first role.
func shipmentParties(ps []linkd.Party) []linkd.ShipmentParty {
	out := make([]linkd.ShipmentParty, len(ps))
	for i, p := range ps {
		out[i] = linkd.ShipmentParty{Party: p.ID, Role: p.Roles[0]}
	}
	return out
}

// Propagation runs one propagation measurement.
func Propagation(ctx context.Context, cfg PropagationConfig) (PropagationResult, error) {
	if cfg.Nodes < 2 {
		return PropagationResult{}, fmt.Errorf("propagation needs at least 2 nodes")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = max(1, cfg.Rate/1000)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-propagation-")
	if err != nil {
		return PropagationResult{}, err
	}
	defer os.RemoveAll(dir)
	cpu0 := cpuTime()
	var res PropagationResult
	if cfg.Member != nil {
		res, err = propagationProcs(ctx, cfg, dir)
	} else {
		res, err = propagationInProcess(ctx, cfg, dir)
	}
	res.CPU += cpuTime() - cpu0
	return res, err
}

func propagationInProcess(ctx context.Context, cfg PropagationConfig, dir string) (PropagationResult, error) {
	var nodes []*laneNode
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i, p := range lane(cfg.Nodes) {
		n, err := openLaneNode(ctx, filepath.Join(dir, fmt.Sprintf("%d-%s", i, p.ID)), p)
		if err != nil {
			return PropagationResult{}, err
		}
		nodes = append(nodes, n)
	}
	origin := nodes[0]
	proxy, err := faultnet.New(nodes[1].n.Addr())
	if err != nil {
		return PropagationResult{}, err
	}
	defer proxy.Close()

	total := cfg.total()
	var arrived []*arrivals
	for _, peer := range nodes[1:] {
		arrived = append(arrived, watchArrivals(peer, origin.party.ID, total))
	}
	if err := linkLane(nodes, proxy); err != nil {
		return PropagationResult{}, err
	}
	// Wait until every link is up, so the run measures steady state.
	if err := waitLinks(ctx, nodes, 10*time.Second); err != nil {
		return PropagationResult{}, err
	}
	run, err := driveOrigin(ctx, origin, shipmentParties(lane(cfg.Nodes)), cfg)
	if err != nil {
		return PropagationResult{}, err
	}
	var delays []time.Duration
	for _, a := range arrived {
		if err := a.wait(ctx, run.Size, 30*time.Second); err != nil {
			return PropagationResult{}, err
		}
		delays = appendDelays(delays, run.Acked, a.seen[:run.Size])
	}
	return PropagationResult{
		Nodes: cfg.Nodes, Events: int(run.Size), Rate: run.rate(), Latency: summarize(delays),
		WireBytes: proxy.BytesUp() + proxy.BytesDown(), PayloadBytes: run.Payload,
	}, nil
}

// total is how many events a run records at most.
func (cfg PropagationConfig) total() int {
	return int(float64(cfg.Rate)*cfg.Duration.Seconds()) + cfg.Batch
}

// originRun is what the origin recorded in a run.
type originRun struct {
	Acked   []int64 `json:"acked"` // by log index: when its append was acknowledged, Unix ns
	Sent    int     `json:"sent"`
	Elapsed int64   `json:"elapsed"` // ns
	Size    int64   `json:"size"`    // the origin's log size after the run
	Payload int64   `json:"payload"` // canonical bytes of the events recorded
}

func (r originRun) rate() float64 { return float64(r.Sent) / time.Duration(r.Elapsed).Seconds() }

// driveOrigin records cfg.Rate events/s at the origin for cfg.Duration,
// each on a shipment of its own shared with parties.
func driveOrigin(ctx context.Context, origin *laneNode, parties []linkd.ShipmentParty, cfg PropagationConfig) (originRun, error) {
	total := cfg.total()
	acked := make([]int64, total+1)
	g := scenario.NewGenerator(1, time.Now())
	interval := time.Duration(float64(time.Second) * float64(cfg.Batch) / float64(cfg.Rate))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for sent+cfg.Batch <= total-cfg.Batch && time.Since(start) < cfg.Duration {
		<-tick.C
		// The events due by now, not one batch a tick: a tick missed while
		// the origin was busy would otherwise lower the rate offered.
		due := int(float64(cfg.Rate)*time.Since(start).Seconds()) - sent
		if due < cfg.Batch {
			continue
		}
		acks, err := origin.n.Ingest(ctx, sharedEvents(g, min(due, total-sent), parties))
		if err != nil {
			return originRun{}, err
		}
		now := time.Now().UnixNano()
		for _, a := range acks {
			if a.LogIndex < int64(len(acked)) && acked[a.LogIndex] == 0 {
				acked[a.LogIndex] = now
			}
		}
		sent += len(acks)
	}
	run := originRun{Sent: sent, Elapsed: int64(time.Since(start)), Size: origin.n.Log().Size()}
	run.Acked = acked[:min(int64(len(acked)), run.Size)]
	err := origin.n.Log().ReadRange(ctx, 0, run.Size, func(re *partylog.RawEntry) error {
		run.Payload += int64(len(re.Canon))
		return nil
	})
	return run, err
}

// arrivals records when a peer verified and stored each entry of the
// origin's log.
type arrivals struct {
	seen []int64      // by log index, Unix ns
	upto atomic.Int64 // entries recorded
}

func watchArrivals(peer *laneNode, origin string, total int) *arrivals {
	a := &arrivals{seen: make([]int64, total+1)}
	// A link applies one frame at a time, so the writes to seen do not
	// race; upto publishes them.
	peer.n.OnReplicated(func(from string, start int64, res partylog.ApplyResult) {
		if from != origin {
			return
		}
		now := time.Now().UnixNano()
		for i := start; i < res.Size && i < int64(len(a.seen)); i++ {
			a.seen[i] = now
		}
		if res.Size > a.upto.Load() {
			a.upto.Store(res.Size)
		}
	})
	return a
}

// wait waits until the peer has recorded size entries.
func (a *arrivals) wait(ctx context.Context, size int64, timeout time.Duration) error {
	if size > int64(len(a.seen)) {
		return fmt.Errorf("origin recorded %d entries, more than the %d planned", size, len(a.seen))
	}
	deadline := time.Now().Add(timeout)
	for a.upto.Load() < size {
		if time.Now().After(deadline) {
			return fmt.Errorf("a peer verified %d of %d entries within %v", a.upto.Load(), size, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// appendDelays adds each entry's delay from the origin's acknowledgement to
// its arrival at one peer; one verified before the origin's caller had its
// answer counts as 0.
func appendDelays(d []time.Duration, acked, seen []int64) []time.Duration {
	for i, s := range seen {
		if i < len(acked) && acked[i] != 0 {
			d = append(d, time.Duration(max(0, s-acked[i])))
		} else {
			d = append(d, 0)
		}
	}
	return d
}

func summarize(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Latencies{N: len(d), P50: q(0.50), P99: q(0.99), Max: d[len(d)-1]}
}

// waitLinks waits until every node's links to all the others are up.
func waitLinks(ctx context.Context, nodes []*laneNode, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		up := true
		for _, n := range nodes {
			up = up && n.linksUp(len(nodes)-1)
		}
		if up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links not all up after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// linksUp says whether the node has peers links and all are connected.
func (ln *laneNode) linksUp(peers int) bool {
	st := ln.n.Links().Status()
	if len(st) != peers {
		return false
	}
	for _, s := range st {
		if !s.Connected {
			return false
		}
	}
	return true
}

// waitReplicas waits until every peer holds the origin's log at size.
func waitReplicas(ctx context.Context, nodes []*laneNode, size int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		done := true
		for _, n := range nodes[1:] {
			r, ok := n.n.Logs().Lookup(nodes[0].party.ID)
			done = done && ok && r.Size() >= size
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peers did not reach %d entries within %v", size, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// CatchUpConfig sets up a catch-up run: a peer is down while the origin
// records Events events, then comes back.
type CatchUpConfig struct {
	Dir    string
	Events int
}

// CatchUpResult is what a catch-up run measured.
type CatchUpResult struct {
	Events     int64
	FirstFrame time.Duration // restart → first frame verified (includes the origin's retry backoff)
	Transfer   time.Duration // first frame → every entry verified
}

// Rate is entries verified per second once the transfer began.
func (r CatchUpResult) Rate() float64 { return float64(r.Events) / r.Transfer.Seconds() }

// MarshalJSON writes the result with camel-case names and times in
// milliseconds and seconds, as the other benchmarks do.
func (r CatchUpResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Events     int64   `json:"events"`
		FirstFrame float64 `json:"firstFrameMillis"`
		Transfer   float64 `json:"transferSeconds"`
		Rate       float64 `json:"eventsPerSecond"`
	}{r.Events, ms(r.FirstFrame), r.Transfer.Seconds(), r.Rate()})
}

// CatchUp runs one catch-up measurement with two nodes.
func CatchUp(ctx context.Context, cfg CatchUpConfig, progress io.Writer) (CatchUpResult, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-catchup-")
	if err != nil {
		return CatchUpResult{}, err
	}
	defer os.RemoveAll(dir)
	var nodes []*laneNode
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i, p := range lane(2) {
		n, err := openLaneNode(ctx, filepath.Join(dir, fmt.Sprintf("%d-%s", i, p.ID)), p)
		if err != nil {
			return CatchUpResult{}, err
		}
		nodes = append(nodes, n)
	}
	if err := linkLane(nodes, nil); err != nil {
		return CatchUpResult{}, err
	}
	if err := waitLinks(ctx, nodes, 10*time.Second); err != nil {
		return CatchUpResult{}, err
	}
	origin, peer := nodes[0], nodes[1]
	peer.stop()
	g := scenario.NewGenerator(2, time.Now())
	parties := shipmentParties(lane(2))
	for done := 0; done < cfg.Events; {
		n := min(1000, cfg.Events-done)
		if _, err := origin.n.Log().Append(ctx, sharedEvents(g, n, parties)); err != nil {
			return CatchUpResult{}, err
		}
		done += n
		if progress != nil && done%100_000 == 0 {
			fmt.Fprintf(progress, "  recorded %d of %d while the peer is down\n", done, cfg.Events)
		}
	}
	// An outage that long, at a lane's rate, lasts minutes, in which the
	// origin compacts as it goes; the recording above took seconds and left
	// its compactions owed, which would share the processors with the
	// catch-up.
	if err := settle(ctx, origin.n.Store(), progress); err != nil {
		return CatchUpResult{}, err
	}
	size := origin.n.Log().Size()
	restart := time.Now()
	if err := peer.start(); err != nil {
		return CatchUpResult{}, err
	}
	var first atomic.Int64
	peer.n.OnReplicated(func(string, int64, partylog.ApplyResult) { first.CompareAndSwap(0, time.Now().UnixNano()) })
	if err := waitReplicas(ctx, nodes, size, 10*time.Minute); err != nil {
		return CatchUpResult{}, err
	}
	end := time.Now()
	f := time.Unix(0, first.Load())
	if first.Load() == 0 {
		f = restart
	}
	return CatchUpResult{Events: size, FirstFrame: f.Sub(restart), Transfer: end.Sub(f)}, nil
}
