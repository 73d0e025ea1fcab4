package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// ReallocationConfig sets up a reallocation run: five real nodes in this
// process (eu-customs, dc-hamburg with the rule "customs hold → re-allocate",
// dc-rotterdam, dc-antwerp and eu-retailer), linked to each other over mutual
// TLS on loopback. Each round opens a shipment, allocates Orders orders
// against it at Hamburg and has customs hold it.
type ReallocationConfig struct {
	Dir      string
	Rounds   int       // holds measured; 0 means 200
	Orders   int       // orders Hamburg allocates against each held shipment; 0 means 4, at least 2
	Progress io.Writer // a line every 50 rounds; nil for none
}

// ReallocationResult is what a reallocation run measured.
type ReallocationResult struct {
	Rounds      int
	Orders      int // orders re-allocated, over every round
	ToRotterdam int // of them, moved to dc-rotterdam
	ToAntwerp   int // and to dc-antwerp
	BothCentres int // rounds whose orders went to both centres
	// Latency is from customs' acknowledgement of the hold to the moment
	// the last of its re-allocations is verified and stored at the centre
	// it moves to. Those centres verify Hamburg's signed checkpoint, so
	// Hamburg had committed them before.
	Latency Percentiles
	// HoldAtHamburg is from the same acknowledgement to the hold verified
	// and stored at Hamburg, where the rule runs.
	HoldAtHamburg Percentiles
	// HamburgCommit is to Hamburg's log holding the re-allocations: an
	// upper bound, polled every 100 µs (later when the cores are busy) and
	// capped at Latency, since the centres verified them after it.
	HamburgCommit Percentiles
}

// Percentiles summarise a set of delays.
type Percentiles struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Percentiles{N: len(d), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: d[len(d)-1]}
}

// The parties of a reallocation run: customs and three distribution centres
// of the EU side of the lane, and the retailer the orders are for; Hamburg
// runs the centres' rules.
var (
	euCustoms   = scenario.Customs
	dcHamburg   = scenario.DCHamburg
	dcRotterdam = scenario.DCRotterdam
	dcAntwerp   = scenario.DCAntwerp
	euRetailer  = scenario.Retailer
)

const (
	reallocSKU = "TV-55-OLED"
	reallocQty = 10 // units per order
)

// openNode is openLaneNode with a hook that adjusts the configuration
// before the node opens (rules, webhook policy); it also returns what Init
// made, for the admin token.
func openNode(ctx context.Context, dir string, p linkd.Party, adjust func(cfg *node.Config) error) (*laneNode, node.InitResult, error) {
	res, err := node.Init(ctx, node.InitOptions{Dir: dir, Party: p, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, res, err
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		return nil, res, err
	}
	cfg.Limits.RatePerToken = 0
	if adjust != nil {
		if err := adjust(&cfg); err != nil {
			return nil, res, err
		}
	}
	ln := &laneNode{party: p, cfg: cfg}
	if err := ln.start(); err != nil {
		return nil, res, err
	}
	ln.cfg.Listen = ln.n.Addr()
	return ln, res, nil
}

// arrival is a re-allocation verified and stored at a centre.
type arrival struct {
	orderID, facility string
	at                time.Time
}

// tracker collects, from the nodes' replication hooks, when each hold
// reached Hamburg and when each re-allocation reached the centres.
type tracker struct {
	mu      sync.Mutex
	holdAt  map[string]time.Time            // hold id → verified at Hamburg; guarded by mu
	arrived map[string]map[string][]arrival // hold id → centre → re-allocations there; guarded by mu
}

func newTracker() *tracker {
	return &tracker{holdAt: map[string]time.Time{}, arrived: map[string]map[string][]arrival{}}
}

// watchHolds records the holds a node (Hamburg) verifies.
func (t *tracker) watchHolds(ln *laneNode) {
	ln.n.OnReplicated(func(origin string, _ int64, res partylog.ApplyResult) {
		now := time.Now()
		t.mu.Lock()
		defer t.mu.Unlock()
		for i := range res.Events {
			e := &res.Events[i]
			if e.EventType == linkd.Shipment && e.ShipmentEventTypeCode == "HOLD" {
				if _, ok := t.holdAt[e.EventID]; !ok {
					t.holdAt[e.EventID] = now
				}
			}
		}
	})
}

// watchReallocations records the re-allocations to its own facility that a
// centre verifies, by the holds that caused them.
func (t *tracker) watchReallocations(ln *laneNode) {
	self := ln.party.ID
	ln.n.OnReplicated(func(origin string, _ int64, res partylog.ApplyResult) {
		now := time.Now()
		t.mu.Lock()
		defer t.mu.Unlock()
		for i := range res.Events {
			e := &res.Events[i]
			if e.InventoryEventTypeCode != "RALC" || e.Inventory == nil || e.Inventory.Facility != self {
				continue
			}
			for _, cause := range e.CausedBy {
				m := t.arrived[cause]
				if m == nil {
					m = map[string][]arrival{}
					t.arrived[cause] = m
				}
				m[self] = append(m[self], arrival{e.Inventory.OrderID, self, now})
			}
		}
	})
}

// reallocationLane is a running reallocation run.
type reallocationLane struct {
	customs, hamburg, rotterdam, antwerp, retailer *laneNode
	nodes                                          []*laneNode
	track                                          *tracker
	base                                           time.Time // event times start here
	orders                                         int
	initial                                        int64 // units Rotterdam and Antwerp start with, together
	moved                                          int   // orders re-allocated so far
}

// roundResult is one hold's measurement.
type roundResult struct {
	total, atHamburg, committed time.Duration
	moved                       map[string]int // orders moved, by centre
}

// Reallocation runs one reallocation measurement.
func Reallocation(ctx context.Context, cfg ReallocationConfig) (ReallocationResult, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 200
	}
	if cfg.Orders == 0 {
		cfg.Orders = 4
	}
	if cfg.Orders < 2 {
		return ReallocationResult{}, fmt.Errorf("reallocation needs at least 2 orders a round, to reach both centres")
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-reallocation-")
	if err != nil {
		return ReallocationResult{}, err
	}
	defer os.RemoveAll(dir)
	l := &reallocationLane{track: newTracker(), base: time.Now().UTC().Truncate(time.Second), orders: cfg.Orders}
	defer func() {
		for _, n := range l.nodes {
			n.stop()
		}
	}()
	withRule := func(c *node.Config) error {
		if err := os.WriteFile(filepath.Join(c.Dir(), "rules.yaml"), []byte(scenario.CentreRules), 0o644); err != nil {
			return err
		}
		c.Rules = "rules.yaml"
		return nil
	}
	for i, p := range []linkd.Party{euCustoms, dcHamburg, dcRotterdam, dcAntwerp, euRetailer} {
		var adjust func(*node.Config) error
		if p.ID == dcHamburg.ID {
			adjust = withRule
		}
		n, _, err := openNode(ctx, filepath.Join(dir, fmt.Sprintf("%d-%s", i, p.ID)), p, adjust)
		if err != nil {
			return ReallocationResult{}, err
		}
		l.nodes = append(l.nodes, n)
	}
	l.customs, l.hamburg, l.rotterdam, l.antwerp, l.retailer = l.nodes[0], l.nodes[1], l.nodes[2], l.nodes[3], l.nodes[4]
	l.track.watchHolds(l.hamburg)
	l.track.watchReallocations(l.rotterdam)
	l.track.watchReallocations(l.antwerp)
	if err := linkLane(l.nodes, nil); err != nil {
		return ReallocationResult{}, err
	}
	if err := waitLinks(ctx, l.nodes, 10*time.Second); err != nil {
		return ReallocationResult{}, err
	}
	if err := l.stock(ctx, cfg.Rounds); err != nil {
		return ReallocationResult{}, err
	}

	res := ReallocationResult{Rounds: cfg.Rounds}
	var total, atHamburg, committed []time.Duration
	for r := range cfg.Rounds {
		rr, err := l.round(ctx, r)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r+1, err)
		}
		total = append(total, rr.total)
		atHamburg = append(atHamburg, rr.atHamburg)
		committed = append(committed, rr.committed)
		res.ToRotterdam += rr.moved[dcRotterdam.ID]
		res.ToAntwerp += rr.moved[dcAntwerp.ID]
		if rr.moved[dcRotterdam.ID] > 0 && rr.moved[dcAntwerp.ID] > 0 {
			res.BothCentres++
		}
		if cfg.Progress != nil && (r+1)%50 == 0 && r+1 < cfg.Rounds {
			fmt.Fprintf(cfg.Progress, "  %d of %d rounds\n", r+1, cfg.Rounds)
		}
	}
	res.Orders = res.ToRotterdam + res.ToAntwerp
	res.Latency, res.HoldAtHamburg, res.HamburgCommit = percentiles(total), percentiles(atHamburg), percentiles(committed)
	return res, nil
}

// perCentre is the stock each helping centre starts with: half of what
// every round's orders need, rounded up, so that neither can serve a round
// alone and the planner (each order to the centre with the most units
// available) splits every round between them.
func (l *reallocationLane) perCentre(rounds int) int64 {
	return int64(rounds) * int64((l.orders+1)/2) * reallocQty
}

// stock records Rotterdam's and Antwerp's stock positions, shared with
// Hamburg, and waits until Hamburg's allocation book holds both.
func (l *reallocationLane) stock(ctx context.Context, rounds int) error {
	units := l.perCentre(rounds)
	l.initial = 2 * units
	for _, c := range []*laneNode{l.rotterdam, l.antwerp} {
		e := l.inventory("STCK", linkd.InventoryLine{Facility: c.party.ID, SKU: reallocSKU, Quantity: units}, "", 0)
		e.Parties = []linkd.ShipmentParty{{Party: dcHamburg.ID, Role: linkd.RoleWarehouse}}
		if _, err := c.n.Ingest(ctx, []linkd.Event{e}); err != nil {
			return fmt.Errorf("%s records its stock: %w", c.party.ID, err)
		}
	}
	return waitFor(ctx, "hamburg learns the other centres' stock", func() bool {
		return l.available() == 2*units
	})
}

// available is the units of the SKU Hamburg's book says Rotterdam and
// Antwerp can still promise.
func (l *reallocationLane) available() int64 {
	var sum int64
	for _, s := range l.hamburg.n.Allocations().Stock {
		if s.SKU == reallocSKU && (s.Facility == dcRotterdam.ID || s.Facility == dcAntwerp.ID) {
			sum += s.Available
		}
	}
	return sum
}

func (l *reallocationLane) inventory(code string, line linkd.InventoryLine, booking string, minute int) linkd.Event {
	return linkd.Event{EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: code,
		EventDateTime:           linkd.Time{Time: l.base.Add(time.Duration(minute) * time.Minute)},
		CarrierBookingReference: booking, Inventory: &line, Residency: []string{"EU"}}
}

// round sets up one shipment with orders at Hamburg, then times the hold.
func (l *reallocationLane) round(ctx context.Context, r int) (roundResult, error) {
	booking := fmt.Sprintf("LNKDRALC%07d", r)
	at := l.base.Add(time.Duration(r) * time.Minute)

	// Customs opens the shipment, naming Hamburg (whose orders wait on it)
	// and the retailer (whose orders they are).
	open := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "RECE",
		DocumentTypeCode: "BKG", DocumentID: booking, CarrierBookingReference: booking,
		EventDateTime: linkd.Time{Time: at}, Residency: []string{"EU"},
		Parties: []linkd.ShipmentParty{
			{Party: euCustoms.ID, Role: linkd.RoleCustoms}, {Party: dcHamburg.ID, Role: linkd.RoleWarehouse},
			{Party: euRetailer.ID, Role: linkd.RoleConsignee},
		}}
	if _, err := l.customs.n.Ingest(ctx, []linkd.Event{open}); err != nil {
		return roundResult{}, fmt.Errorf("customs opens %s: %w", booking, err)
	}
	size := l.customs.n.Log().Size()
	if err := waitFor(ctx, "hamburg holds the shipment", func() bool {
		rep, ok := l.hamburg.n.Logs().Lookup(euCustoms.ID)
		return ok && rep.Size() >= size
	}); err != nil {
		return roundResult{}, err
	}
	orders := make([]linkd.Event, l.orders)
	ids := make([]string, l.orders)
	for k := range orders {
		ids[k] = fmt.Sprintf("SO-%05d-%d", r, k)
		orders[k] = l.inventory("ALOC", linkd.InventoryLine{Facility: dcHamburg.ID, SKU: reallocSKU, Quantity: reallocQty, OrderID: ids[k]}, booking, r)
	}
	if _, err := l.hamburg.n.Ingest(ctx, orders); err != nil {
		return roundResult{}, fmt.Errorf("hamburg allocates orders: %w", err)
	}
	// Hamburg's book must hold this round's orders and every earlier
	// re-allocation, so the planner sees the stock as it is.
	want := l.stockLeft()
	if err := waitFor(ctx, "hamburg's book holds the orders", func() bool {
		v := l.hamburg.n.Allocations()
		n := 0
		for _, o := range v.Orders {
			if o.Facility == dcHamburg.ID && slices.Contains(ids, o.OrderID) {
				n++
			}
		}
		return n == len(ids) && l.available() == want
	}); err != nil {
		return roundResult{}, err
	}

	hold := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "HOLD",
		DocumentTypeCode: "CUS", DocumentID: booking, CarrierBookingReference: booking,
		EventDateTime: linkd.Time{Time: at.Add(30 * time.Second)}, Reason: "customs inspection", Residency: []string{"EU"}}
	before := l.hamburg.n.Log().Size()
	acks, err := l.customs.n.Ingest(ctx, []linkd.Event{hold})
	t0 := time.Now()
	if err != nil {
		return roundResult{}, fmt.Errorf("customs holds %s: %w", booking, err)
	}
	holdID := acks[0].EventID

	// Wait for Hamburg's re-allocations and for each centre to hold those
	// that move orders to it.
	var rr roundResult
	var mine map[string]int // Hamburg's re-allocations for the hold, by centre
	deadline := t0.Add(10 * time.Second)
	for {
		if mine == nil {
			if size := l.hamburg.n.Log().Size(); size > before {
				found, err := l.reallocations(ctx, before, size, holdID)
				if err != nil {
					return roundResult{}, err
				}
				if len(found) > 0 {
					mine, rr.committed = found, time.Since(t0)
				}
				before = size
			}
		}
		if mine != nil {
			if last, ok := l.arrivedAll(holdID, mine); ok {
				rr.total = max(0, last.Sub(t0))
				// The centres verified Hamburg's checkpoint over them: it
				// committed before, whatever the poll saw.
				rr.committed = min(rr.committed, rr.total)
				break
			}
		}
		if time.Now().After(deadline) {
			return roundResult{}, fmt.Errorf("hold %s: re-allocations not at every centre after 10s (hamburg recorded %v)", holdID, mine)
		}
		select {
		case <-ctx.Done():
			return roundResult{}, ctx.Err()
		case <-time.After(100 * time.Microsecond):
		}
	}
	l.track.mu.Lock()
	if h, ok := l.track.holdAt[holdID]; ok {
		rr.atHamburg = max(0, h.Sub(t0))
	}
	l.track.mu.Unlock()
	rr.moved = mine
	for _, n := range mine {
		l.moved += n
	}
	if mine[dcRotterdam.ID]+mine[dcAntwerp.ID] != len(ids) {
		return rr, fmt.Errorf("hold %s moved %v of %d orders; want every one, to dc-rotterdam or dc-antwerp", holdID, mine, len(ids))
	}
	return rr, nil
}

// stockLeft is the units Rotterdam and Antwerp have left once the orders
// moved so far are theirs.
func (l *reallocationLane) stockLeft() int64 {
	return l.initial - int64(l.moved)*reallocQty
}

// reallocations reads Hamburg's log in [from, to) and counts the
// re-allocations holdID caused, by the centre they move to.
func (l *reallocationLane) reallocations(ctx context.Context, from, to int64, holdID string) (map[string]int, error) {
	var out map[string]int
	for i := from; i < to; i++ {
		rec, err := l.hamburg.n.Log().Get(ctx, i)
		if err != nil {
			return nil, err
		}
		e := rec.Event
		if e.InventoryEventTypeCode == "RALC" && e.Inventory != nil && slices.Contains(e.CausedBy, holdID) {
			if out == nil {
				out = map[string]int{}
			}
			out[e.Inventory.Facility]++
		}
	}
	return out, nil
}

// arrivedAll reports whether each centre in want holds its re-allocations
// for holdID, and when the last arrived.
func (l *reallocationLane) arrivedAll(holdID string, want map[string]int) (time.Time, bool) {
	l.track.mu.Lock()
	defer l.track.mu.Unlock()
	var last time.Time
	for centre, n := range want {
		got := l.track.arrived[holdID][centre]
		if len(got) < n {
			return time.Time{}, false
		}
		for _, a := range got {
			if a.at.After(last) {
				last = a.at
			}
		}
	}
	return last, true
}

// waitFor polls cond until it holds, for a run's setup steps (never timed).
func waitFor(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up waiting: %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
