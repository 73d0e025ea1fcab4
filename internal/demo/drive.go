package demo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// Driver timing, in real time.
const (
	tickEvery     = 50 * time.Millisecond // the simulation advances and records this often
	progressEvery = 3 * time.Second       // a progress line this often
	stateEvery    = 2 * time.Second       // the simulation's position is saved this often
	reachWait     = 5 * time.Second       // how long the hold may take to reach every partner before the demo says who has it
	drainWait     = 30 * time.Second      // how long the end of a run waits for the last frames
	linksWait     = 20 * time.Second      // how long the start waits for every link to come up
	maxIngest     = 2000                  // events per append
	maxChunk      = 6 * time.Hour         // simulated time recorded in one go
)

// narrator writes the story, one sentence a line.
type narrator struct {
	mu  sync.Mutex
	out io.Writer
}

func (n *narrator) line(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.out, format+"\n", args...)
}

// at narrates something that happened at simulated time t.
func (n *narrator) at(t time.Time, format string, args ...any) {
	n.line("%s  %s", t.UTC().Format("Mon 02 Jan 15:04"), fmt.Sprintf(format, args...))
}

func simTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04 UTC") }

// driver plays the lane's calendar on the nodes: each step recorded by its
// origin, on its origin's node, when the simulated clock reaches it. It
// runs on the run's goroutine, which owns the nodes.
type driver struct {
	o    Options
	say  *narrator
	w    *network
	st   *state
	lane *scenario.Lane
	tr   *tracker

	runStart  time.Time                  // real time the run began
	startOwn  map[string]int64           // party → its own log's size at the start
	from, to  time.Time                  // the simulated window
	cursor    time.Time                  // every step before it is recorded or queued
	queued    map[string][]scenario.Step // steps of a party whose node is down, in order
	extra     []scenario.Step            // steps the driver adds: fulfilments of moved orders
	history   int
	recorded  int
	faults    []*fault
	hold      *holdStory
	orderAt   map[string]string   // order → the centre serving it, once a RALC moved it
	seenRALC  map[string]bool     // RALC events the driver has acted on, by id
	delta     map[[2]string]int64 // (centre, SKU) → units the calendar's stock position is off by
	narrated  map[string]bool
	clock     time.Time       // real time the window began
	paused    time.Duration   // real time the clock stood still (faults being set up)
	holding   map[string]bool // parties whose steps wait (their node is down or being cloned)
	lastProg  time.Time
	lastSaved time.Time
}

func newDriver(o Options, say *narrator, w *network, st *state) *driver {
	d := &driver{
		o: o, say: say, w: w, st: st, lane: scenario.NewLane(st.Epoch, st.Seed), tr: newTracker(),
		runStart: time.Now(), startOwn: map[string]int64{}, queued: map[string][]scenario.Step{},
		orderAt: map[string]string{}, holding: map[string]bool{}, seenRALC: map[string]bool{}, delta: map[[2]string]int64{}, narrated: map[string]bool{},
	}
	for _, h := range st.Holds {
		d.lane.Hold(h)
	}
	return d
}

// start opens and links the nodes, records the lane's history on a new
// lane, and plans the run: the window, the customs hold and the faults.
func (d *driver) start(ctx context.Context) error {
	for _, ln := range d.w.nodes {
		peer := ln.party.ID
		ln.onRep = func(origin string, from int64, res partylog.ApplyResult) { d.tr.applied(peer, origin, from, res) }
		if err := ln.start(ctx); err != nil {
			return err
		}
		d.tr.begin(peer, ln.n.Log().Size())
		d.startOwn[peer] = ln.n.Log().Size()
	}
	d.say.line("")
	d.say.line("  %-18s %-10s %-12s %-6s %-24s %s", "party", "role", "jurisdiction", "site", "node (HTTPS, mutual TLS)", "log")
	for _, ln := range d.w.nodes {
		p := ln.party
		d.say.line("  %-18s %-10s %-12s %-6s %-24s %s entries", p.ID, p.Roles[0], strings.Join(p.Jurisdiction, ","), p.Location,
			strings.TrimPrefix(ln.url(), "https://"), thousands(ln.n.Log().Size()))
	}
	partition := slices.Contains(d.o.Faults, FaultPartition)
	if err := d.w.link(partition); err != nil {
		return err
	}
	t0 := time.Now()
	if err := d.w.waitLinks(ctx, linksWait); err != nil {
		return err
	}
	d.say.line("")
	d.say.line("Each party links to every other (72 links, mutual TLS, certificates pinned from each other's cards): every")
	d.say.line("party is on every shipment, and a node shares only its own log, only with the partners it links to.")
	d.say.line("All links up in %s. Tokens for each node's API: %s/<party>/admin.token.", ms(time.Since(t0)), d.o.Dir)
	if held := d.carriedHolds(); held != "" {
		d.say.line("%s", held)
	}
	var rules []string
	for _, ln := range d.w.nodes {
		for _, r := range ln.rules {
			rules = append(rules, ln.party.ID+": "+r)
		}
	}
	if len(rules) == 0 {
		d.say.line("Rules: none (laneRules wires none), so no centre is set to react to a customs hold.")
	} else {
		d.say.line("Rules the nodes run (laneRules):")
		for _, r := range rules {
			d.say.line("  %s", r)
		}
	}
	d.say.line("")

	if d.st.Through.IsZero() {
		if err := d.recordHistory(ctx); err != nil {
			return err
		}
		d.st.Through = d.lane.Epoch()
		if err := d.st.write(d.o.Dir); err != nil {
			return err
		}
	}
	d.from, d.cursor = d.st.Through, d.st.Through
	d.st.Runs++
	d.to = d.from.Add(d.o.Duration)
	d.planHold()
	d.planFaults()
	wall := time.Duration(d.o.Duration.Hours() / d.o.Speed * float64(time.Second))
	d.say.line("The lane from %s to %s: %s of simulated time at %g simulated hours a second, about %s.",
		simTime(d.from), simTime(d.to), days(d.o.Duration), d.o.Speed, wall.Round(time.Second))
	d.say.line("Times below are the lane's clock (UTC); progress lines start with '·'.")
	d.say.line("")
	return nil
}

// carriedHolds describes logs held since an earlier run.
func (d *driver) carriedHolds() string {
	var out []string
	for _, p := range d.w.nodes {
		if by := d.w.heldBy(p.party.ID); len(by) > 0 {
			out = append(out, fmt.Sprintf("%s hold %s's log", strings.Join(by, ", "), p.party.ID))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "Carried over from an earlier run: " + strings.Join(out, "; ") + " (it equivocated); its new entries do not reach them until an operator releases it (DELETE /v1/holds/{party})."
}

// recordHistory records the lane's history: what the sailings already at
// sea recorded before the first window.
func (d *driver) recordHistory(ctx context.Context) error {
	for _, ln := range d.w.nodes {
		d.tr.measureFrom(ln.party.ID, 1<<62) // counted, not timed: see below
	}
	steps := d.lane.History()
	t0 := time.Now()
	n, err := d.record(ctx, steps, false)
	if err != nil {
		return err
	}
	d.history = n
	if err := d.waitConverged(ctx, drainWait); err != nil {
		return err
	}
	// The history went in as one burst: it is counted, not timed.
	for _, ln := range d.w.nodes {
		d.tr.measureFrom(ln.party.ID, ln.n.Log().Size())
	}
	d.say.line("The lane's history since %s: five sailings already on their way, %s events recorded by their", simTime(d.lane.Start()), thousands(int64(n)))
	d.say.line("parties and verified by every partner in %s.", time.Since(t0).Round(time.Millisecond))
	d.say.line("")
	return nil
}

// run advances the simulated clock until the window ends. Each round
// covers the next tickEvery of real time; within it, each party's node
// gets each of its events when the clock reaches it, as the party's own
// systems would send it, independently of the others.
func (d *driver) run(ctx context.Context) error {
	d.clock = time.Now()
	d.lastProg, d.lastSaved = d.clock, d.clock
	for d.cursor.Before(d.to) {
		if err := ctx.Err(); err != nil {
			return err
		}
		next := d.cursor.Add(time.Duration(float64(tickEvery) * d.o.Speed * 3600))
		// At most a few simulated hours at a time, so that what a step
		// causes (a hold's id on its release) is known before the steps
		// after it go in, however fast the clock runs.
		if c := d.cursor.Add(maxChunk); next.After(c) {
			next = c
		}
		if next.After(d.to) {
			next = d.to
		}
		if err := d.advance(ctx, next); err != nil {
			return err
		}
		if err := sleep(ctx, time.Until(d.due(next))); err != nil {
			return err
		}
		if time.Since(d.lastProg) >= progressEvery {
			d.progress()
		}
		if time.Since(d.lastSaved) >= stateEvery {
			d.saveState()
		}
	}
	return nil
}

// due is the real time the simulated clock reaches t.
func (d *driver) due(t time.Time) time.Time {
	return d.clock.Add(d.paused + time.Duration(float64(t.Sub(d.from))/(d.o.Speed*3600)))
}

// advance runs the faults due, records the steps up to next, each at its
// time, and follows up on the story.
func (d *driver) advance(ctx context.Context, next time.Time) error {
	t0 := time.Now()
	for _, f := range d.faults {
		if err := f.step(ctx, d, d.cursor); err != nil {
			return err
		}
	}
	// The clock stands still while a fault is set up or torn down.
	d.paused += time.Since(t0)
	steps := d.lane.Between(d.cursor, next)
	for len(d.extra) > 0 && d.extra[0].At.Before(next) {
		steps = append(steps, d.extra[0])
		d.extra = d.extra[1:]
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].At.Before(steps[j].At) })
	if _, err := d.record(ctx, steps, true); err != nil {
		return err
	}
	d.cursor = next
	d.narrateSteps(steps)
	d.followHold(next)
	return nil
}

// record records steps, each on its origin's node; steps of a node that is
// down wait in its queue. Paced, each goes in when the simulated clock
// reaches it; else all at once. It returns how many new events were
// recorded.
func (d *driver) record(ctx context.Context, steps []scenario.Step, paced bool) (int, error) {
	batches := map[string][]scenario.Step{}
	for _, ln := range d.w.nodes {
		if ln.n != nil && !d.holding[ln.party.ID] && len(d.queued[ln.party.ID]) > 0 {
			batches[ln.party.ID] = append(batches[ln.party.ID], d.queued[ln.party.ID]...)
			delete(d.queued, ln.party.ID)
		}
	}
	for _, s := range steps {
		s, ok := d.adjust(s)
		if !ok {
			continue
		}
		if d.w.node(s.Origin).n == nil || d.holding[s.Origin] {
			d.queued[s.Origin] = append(d.queued[s.Origin], s)
			continue
		}
		batches[s.Origin] = append(batches[s.Origin], s)
	}
	type result struct {
		acks  []linkd.Ack
		at    []time.Time
		fresh int
		err   error
	}
	fault := d.faultOn()
	results := map[string]*result{}
	var wg sync.WaitGroup
	for origin, steps := range batches {
		r := &result{}
		results[origin] = r
		n := d.w.node(origin).n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(steps); {
				if paced {
					if err := sleep(ctx, time.Until(d.due(steps[i].At))); err != nil {
						r.err = err
						return
					}
				}
				// Everything due by now goes in one append.
				j := i + 1
				for now := time.Now(); j < len(steps) && j-i < maxIngest && (!paced || !d.due(steps[j].At).After(now)); j++ {
				}
				evs := make([]linkd.Event, j-i)
				for k := range evs {
					evs[k] = steps[i+k].Event
				}
				acks, err := n.Ingest(ctx, evs)
				if err != nil {
					r.err = err
					return
				}
				at := time.Now()
				r.fresh += d.tr.acked(origin, acks, at, fault)
				r.acks = append(r.acks, acks...)
				for range acks {
					r.at = append(r.at, at)
				}
				i = j
			}
		}()
	}
	wg.Wait()
	total := 0
	for origin, r := range results {
		total += r.fresh
		for i, a := range r.acks {
			d.recordedHook(origin, &batches[origin][i].Event, a, r.at[i])
		}
		if r.err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			return total, fmt.Errorf("demo: %s records its events: %w", origin, r.err)
		}
	}
	d.recorded += total
	return total, nil
}

// adjust makes a calendar step what the party's systems would record
// given what has happened on the lane: an order a centre handed over is
// fulfilled by the centre that took it, stock positions count the units
// such moves shifted, and the release of a hold names the hold.
func (d *driver) adjust(s scenario.Step) (scenario.Step, bool) {
	e := s.Event
	switch {
	case e.EventType == linkd.Inventory && e.InventoryEventTypeCode == "FULF":
		// The calendar's stock positions count an order out of its home
		// centre when the home centre would have shipped it.
		inv := *e.Inventory
		home := d.homeOf(inv.OrderID)
		if at, moved := d.orderAt[inv.OrderID]; moved && at != s.Origin {
			if home == s.Origin {
				// Served elsewhere: the home centre keeps the units.
				d.delta[[2]string{s.Origin, inv.SKU}] += inv.Quantity
			}
			return s, false
		}
		if home != "" && home != s.Origin {
			// A centre serving another's order ships from its own stock.
			d.delta[[2]string{s.Origin, inv.SKU}] -= inv.Quantity
		}
	case e.EventType == linkd.Inventory && e.InventoryEventTypeCode == "STCK":
		if dq := d.delta[[2]string{s.Origin, e.Inventory.SKU}]; dq != 0 {
			inv := *e.Inventory
			inv.Quantity = max(0, inv.Quantity+dq)
			e.Inventory = &inv
		}
	case e.EventType == linkd.Shipment && e.ShipmentEventTypeCode == "RELS" && e.DocumentTypeCode == "CUS":
		if id := d.st.HoldIDs[e.CarrierBookingReference]; id != "" {
			e.CausedBy = []string{id}
		}
	}
	s.Event = e
	return s, true
}

// homeOf is the centre that allocated an order (the orders' ids name their booking).
func (d *driver) homeOf(order string) string {
	// SO-<serial>-<n>: the serial's booking is on the calendar.
	parts := strings.Split(order, "-")
	if len(parts) != 3 {
		return ""
	}
	for _, c := range scenario.Centres {
		for _, o := range d.lane.Orders("OCLVN" + c.Port.LOCODE[2:] + parts[1]) {
			if o.ID == order {
				return o.Centre
			}
		}
	}
	return ""
}

// recordedHook follows up on a recorded event the story cares about.
func (d *driver) recordedHook(origin string, e *linkd.Event, a linkd.Ack, at time.Time) {
	if e.EventType != linkd.Shipment || e.DocumentTypeCode != "CUS" || a.Duplicate {
		return
	}
	h := d.hold
	switch {
	case e.ShipmentEventTypeCode == "HOLD" && h != nil && e.CarrierBookingReference == h.booking:
		h.ack, h.origin = a, origin
		h.recorded = at
		h.heldAt = e.EventDateTime.Time
		d.st.HoldIDs[h.booking] = a.EventID
		units := int64(0)
		for _, o := range h.orders {
			units += o.Quantity
		}
		d.say.at(h.heldAt, "EU Customs holds %s (container %s) at %s for inspection: %d orders, %s units, wait on it at %s.",
			h.booking, e.EquipmentReference, portName(h.centre.Port), len(h.orders), thousands(units), h.centre.Party)
	case e.ShipmentEventTypeCode == "RELS" && !d.holdStart(e.CarrierBookingReference).IsZero():
		d.say.at(e.EventDateTime.Time, "EU Customs releases %s after its inspection (%.0f h on hold); it leaves the terminal for %s.",
			e.CarrierBookingReference, e.EventDateTime.Sub(d.holdStart(e.CarrierBookingReference)).Hours(), centreFor(e.CarrierBookingReference))
		if h != nil && e.CarrierBookingReference == h.booking {
			h.released = true
		}
	}
}

func (d *driver) holdStart(booking string) time.Time {
	for _, h := range d.st.Holds {
		if h.Booking == booking {
			return h.At
		}
	}
	return time.Time{}
}

func centreFor(booking string) string {
	for _, c := range scenario.Centres {
		if strings.HasPrefix(booking, "OCLVN"+c.Port.LOCODE[2:]) {
			return c.Party
		}
	}
	return "its centre"
}

func portName(p scenario.Place) string {
	name, _, _ := strings.Cut(p.Name, " ")
	return name
}

// narrateSteps tells the sailings and arrivals of the steps just recorded.
func (d *driver) narrateSteps(steps []scenario.Step) {
	for _, s := range steps {
		e := &s.Event
		if e.EventType != linkd.Transport || e.EventClassifierCode != "ACT" || e.TransportCall == nil || e.TransportCall.Vessel == nil {
			continue
		}
		tc := e.TransportCall
		port := tc.Location.UNLocationCode
		key := e.TransportEventTypeCode + tc.CarrierVoyageNumber + port
		if d.narrated[key] {
			continue
		}
		switch {
		case e.TransportEventTypeCode == "DEPA" && port == scenario.Haiphong.LOCODE:
			d.narrated[key] = true
			d.say.at(e.EventDateTime.Time, "%s sails from Haiphong with voyage %s: %d containers for Rotterdam, Hamburg and Antwerp, via Singapore.",
				tc.Vessel.VesselName, tc.CarrierVoyageNumber, scenario.ContainersPerSailing)
		case e.TransportEventTypeCode == "ARRI" && port != scenario.Singapore.LOCODE:
			for _, c := range scenario.Centres {
				if c.Port.LOCODE == port {
					d.narrated[key] = true
					d.say.at(e.EventDateTime.Time, "%s arrives at %s (voyage %s): %d containers for %s.",
						tc.Vessel.VesselName, portName(c.Port), tc.CarrierVoyageNumber, c.Share, c.Party)
				}
			}
		}
	}
}

// holdStory is the customs inspection the run follows.
type holdStory struct {
	booking      string
	centre       scenario.Centre
	orders       []scenario.Order
	planned      time.Time // simulated
	heldAt       time.Time // simulated, once recorded
	origin       string    // who recorded the HOLD
	ack          linkd.Ack // its acknowledgement, once recorded
	recorded     time.Time // real time the HOLD was acknowledged; zero until then
	released     bool
	reach        bool // its reach is told
	reachedBy    []string
	payloadAt    []string
	moves        map[string]string // order → centre it moved to, as peers verified
	movesTold    int
	lastMove     time.Time // real time the newest move was first seen
	verifiedAt   map[string]time.Time
	noneTold     bool
	movesSummary string
	backs        map[string]bool // orders taken back, as peers verified
	backsTold    int
}

// planHold picks the container EU customs inspects: the first bound for
// Hamburg whose clearance falls six hours or more into the window.
func (d *driver) planHold() {
	booking, at, ok := d.lane.NextInspection(d.from.Add(6*time.Hour), scenario.DCHamburg.ID)
	if !ok || !at.Before(d.to) {
		d.say.line("No container for Hamburg reaches customs in this window, so there is no inspection this run.")
		return
	}
	c, _ := scenario.CentreOf(scenario.DCHamburg.ID)
	h := scenario.Hold{Booking: booking, At: at, Duration: 48 * time.Hour}
	d.lane.Hold(h)
	d.st.Holds = append(d.st.Holds, h)
	d.hold = &holdStory{booking: booking, centre: c, orders: d.lane.Orders(booking), planned: at,
		moves: map[string]string{}, backs: map[string]bool{}, verifiedAt: map[string]time.Time{}}
}

// followHold tells how far the hold got: which partners verified it, and
// whether a centre re-allocated the orders waiting on it.
func (d *driver) followHold(now time.Time) {
	d.actOnReallocations(now)
	h := d.hold
	if h == nil || h.recorded.IsZero() {
		return
	}
	if !h.reach {
		var last time.Time
		var seen, running []string
		for _, ln := range d.w.nodes {
			if ln.n == nil || ln.party.ID == h.origin {
				continue
			}
			running = append(running, ln.party.ID)
			if t, ok := d.tr.verifiedAt(ln.party.ID, h.origin, h.ack.LogIndex); ok {
				seen = append(seen, ln.party.ID)
				if t.After(last) {
					last = t
				}
			}
		}
		if len(seen) == len(running) || time.Since(h.recorded) > reachWait {
			h.reach = true
			h.reachedBy = seen
			var commit []string
			for _, p := range seen {
				if _, err := d.w.node(p).n.Logs().GetByID(context.Background(), h.ack.EventID); err == nil {
					h.payloadAt = append(h.payloadAt, p)
				} else {
					commit = append(commit, p)
				}
			}
			down := ""
			if n := len(d.w.nodes) - 1 - len(running); n > 0 {
				down = fmt.Sprintf(" (%d node down: it gets it when it is back)", n)
			}
			d.say.at(h.heldAt, "The hold reached %d of EU Customs' %d partners%s %s after it was recorded: its payload at %s (EU); only its salted commitment at %s (EU residency).",
				len(seen), len(d.w.nodes)-1, down, ms(max(0, last.Sub(h.recorded))), list(h.payloadAt), list(commit))
		}
	}
	// Re-allocations of the held orders, as the peers verified them.
	if len(h.moves) > h.movesTold && (len(h.moves) >= len(h.orders) || time.Since(h.lastMove) > 300*time.Millisecond) {
		to := map[string]int{}
		for _, c := range h.moves {
			to[c]++
		}
		var parts []string
		for _, c := range scenario.Centres {
			if to[c.Party] > 0 {
				parts = append(parts, fmt.Sprintf("%d to %s", to[c.Party], c.Party))
			}
		}
		var at []string
		var last time.Time
		for p, t := range h.verifiedAt {
			at = append(at, p)
			if t.After(last) {
				last = t
			}
		}
		slices.Sort(at)
		verb := "re-allocates"
		if h.movesTold > 0 {
			verb = "re-allocates more"
		}
		h.movesSummary = fmt.Sprintf("%s, verified at peers %s after the hold was recorded", strings.Join(parts, ", "), ms(last.Sub(h.recorded)))
		d.say.at(h.heldAt, "%s %s %d of the held orders: %s (verified at %s, %s after the hold was recorded).",
			h.centre.Party, verb, len(h.moves), strings.Join(parts, ", "), list(at), ms(last.Sub(h.recorded)))
		h.movesTold = len(h.moves)
	}
	if len(h.moves) == 0 && !h.noneTold && time.Since(h.recorded) > d.o.ReallocationWait {
		h.noneTold = true
		why := "it runs no rule for customs holds: see laneRules"
		if len(d.w.node(h.centre.Party).rules) > 0 {
			why = "its rules have not acted yet: see " + logFile
		}
		d.say.at(now, "No re-allocation: %s recorded no RALC for the %d orders waiting on %s within %s of the hold (%s).",
			h.centre.Party, len(h.orders), h.booking, d.o.ReallocationWait, why)
		d.say.line("                  The orders stay allocated against the held container.")
	}
	if len(h.backs) > h.backsTold && time.Since(h.lastMove) > 300*time.Millisecond {
		d.say.at(now, "%s takes back %d orders after the release.", h.centre.Party, len(h.backs))
		h.backsTold = len(h.backs)
	}
}

// actOnReallocations follows the RALC events peers verified: the held
// story's figures, and the fulfilment of each moved order by the centre
// that took it (as that centre's warehouse system would).
func (d *driver) actOnReallocations(now time.Time) {
	for _, r := range d.tr.reallocations() {
		e := r.ev
		inv := e.Inventory
		if inv == nil {
			continue
		}
		if h := d.hold; h != nil && e.CarrierBookingReference == h.booking {
			switch {
			case inv.FromFacility == h.centre.Party:
				if _, ok := h.moves[inv.OrderID]; !ok {
					h.lastMove = r.at
				}
				h.moves[inv.OrderID] = inv.Facility
				if t, ok := h.verifiedAt[r.peer]; !ok || r.at.After(t) {
					h.verifiedAt[r.peer] = r.at
				}
			case inv.Facility == h.centre.Party:
				if !h.backs[inv.OrderID] {
					h.lastMove = r.at
				}
				h.backs[inv.OrderID] = true
			}
		}
		if d.seenRALC[e.EventID] {
			continue
		}
		d.seenRALC[e.EventID] = true
		d.orderAt[inv.OrderID] = inv.Facility
		if d.homeOf(inv.OrderID) == inv.Facility {
			continue // taken back: the home centre fulfils it as planned
		}
		c, ok := scenario.CentreOf(inv.Facility)
		if !ok {
			continue
		}
		at := now.Add(12 * time.Hour)
		f := linkd.Event{
			EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: "FULF",
			EventDateTime: linkd.Time{Time: at}, EventCreatedDateTime: linkd.Time{Time: at},
			Inventory:               &linkd.InventoryLine{Facility: c.Party, SKU: inv.SKU, Quantity: inv.Quantity, OrderID: inv.OrderID},
			CarrierBookingReference: e.CarrierBookingReference, EquipmentReference: e.EquipmentReference,
			Residency: []string{"EU"},
		}
		d.extra = append(d.extra, scenario.Step{At: at, Origin: c.Party, Event: f})
		sort.SliceStable(d.extra, func(i, j int) bool { return d.extra[i].At.Before(d.extra[j].At) })
	}
}

// progress prints where the lane stands.
func (d *driver) progress() {
	d.lastProg = time.Now()
	rep, _, all, _ := d.tr.figures()
	dayN := d.cursor.Sub(d.from).Hours() / 24
	d.say.line("· %s · day %.1f of %s · %s events recorded · %s verified at peers · lag %s · p99 %s",
		d.cursor.UTC().Format("Mon 02 Jan 15:04"), dayN, days(d.o.Duration), thousands(int64(d.recorded)), thousands(int64(rep)),
		thousands(d.w.lag()), ms(all.P99))
}

func (d *driver) saveState() {
	d.lastSaved = time.Now()
	through := d.cursor
	for _, q := range d.queued {
		if len(q) > 0 && q[0].At.Before(through) {
			through = q[0].At
		}
	}
	if through.After(d.st.Through) {
		d.st.Through = through
	}
	if err := d.st.write(d.o.Dir); err != nil {
		d.say.line("(could not save the demo's position: %v)", err)
	}
}

// waitConverged waits until every node holds every log it links to at its
// origin's size.
func (d *driver) waitConverged(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b := d.w.behind()
		if len(b) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not replicated after %v: %s", timeout, strings.Join(b[:min(3, len(b))], "; "))
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// faultOn reports whether a fault is on, or the lane is still recovering
// from one.
func (d *driver) faultOn() bool {
	for _, f := range d.faults {
		if f.active || f.watching {
			return true
		}
	}
	return false
}

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func list(s []string) string {
	switch len(s) {
	case 0:
		return "none"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
