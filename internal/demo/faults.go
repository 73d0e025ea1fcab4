package demo

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// twinDir is where the evil fault's clone of a node lives while it runs.
const twinDir = "evil-twin"

// Fault timing.
const (
	recoverWait = 30 * time.Second // how long the lane may take to catch up after a fault ends
	catchWait   = 20 * time.Second // how long the lane may take to catch an equivocation
)

// fault is one injected fault and what the demo watches for afterwards.
type fault struct {
	kind      string
	at, until time.Time // simulated: injected at, ended at (evil: ends once caught)
	active    bool      // injected and not yet ended
	ended     bool
	watching  bool      // ended; waiting for the lane to recover
	injected  time.Time // real time
	endedAt   time.Time // real time
	report    FaultReport

	victim  string
	sizes   map[string]int64            // own log sizes when it ended
	before  map[string]map[string]int64 // replica sizes when it began: node → origin → size
	twin    *laneNode
	forkAt  int64
	forked  time.Time // real time both versions of the forked entry were recorded
	booking string

	caughtTold bool
	heldBefore []string // nodes that held the victim's log before the fault
}

// planFaults schedules the faults asked for across the window.
func (d *driver) planFaults() {
	span := d.to.Sub(d.from)
	at := func(f float64) time.Time { return d.from.Add(time.Duration(f * float64(span))).Truncate(time.Minute) }
	for _, k := range Faults {
		if !slices.Contains(d.o.Faults, k) {
			continue
		}
		f := &fault{kind: k, report: FaultReport{Kind: k}}
		switch k {
		case FaultKill:
			f.at, f.until, f.victim = at(0.25), at(0.33), scenario.DCRotterdam.ID
		case FaultPartition:
			f.at, f.until = at(0.45), at(0.55)
		case FaultEvil:
			f.at, f.until, f.victim = at(0.65), d.to, scenario.Forwarder.ID
		}
		d.faults = append(d.faults, f)
	}
}

// step moves the fault along the simulated clock.
func (f *fault) step(ctx context.Context, d *driver, now time.Time) error {
	switch {
	case !f.active && !f.ended && !now.Before(f.at) && !d.faultOn():
		// One fault at a time: a fault due while the lane still recovers
		// from the one before waits for it.
		f.active, f.injected = true, time.Now()
		f.report.Injected = true
		f.before = d.replicaSizes()
		return f.inject(ctx, d, now)
	case f.active && f.kind != FaultEvil && !now.Before(f.until):
		return f.end(ctx, d, now)
	case f.active && f.kind == FaultEvil:
		return f.watchEvil(ctx, d, now)
	case f.watching:
		f.checkRecovered(d, now)
	}
	return nil
}

// finish ends a fault the window ended before, and waits for the lane to
// recover from it.
func (f *fault) finish(ctx context.Context, d *driver) error {
	if f.active {
		if f.kind == FaultEvil {
			for f.active {
				if err := f.watchEvil(ctx, d, d.cursor); err != nil {
					return err
				}
				if f.active {
					if err := sleep(ctx, 20*time.Millisecond); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if err := f.end(ctx, d, d.cursor); err != nil {
			return err
		}
		// The steps a restarted node kept go in now.
		if _, err := d.record(ctx, nil, false); err != nil {
			return err
		}
	}
	for f.watching {
		f.checkRecovered(d, d.cursor)
		if f.watching {
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fault) inject(ctx context.Context, d *driver, now time.Time) error {
	switch f.kind {
	case FaultKill:
		ln := d.w.node(f.victim)
		d.say.at(now, "Fault injected: %s's node stops, its store closed and its %d links cut; its warehouse system holds its events until it is back.",
			f.victim, 2*(len(d.w.nodes)-1))
		return ln.stop()
	case FaultPartition:
		for _, p := range d.w.proxies {
			p.Partition()
		}
		var asia, europe []string
		for _, ln := range d.w.nodes {
			if d.w.asia[ln.party.ID] {
				asia = append(asia, ln.party.ID)
			} else {
				europe = append(europe, ln.party.ID)
			}
		}
		d.say.at(now, "Fault injected: the lane splits in two. Asia (%s) and Europe (%s) cannot reach each other: %d links cut. Both sides keep recording.",
			strings.Join(asia, ", "), strings.Join(europe, ", "), len(d.w.proxies))
	case FaultEvil:
		return f.injectEvil(ctx, d, now)
	}
	return nil
}

func (f *fault) end(ctx context.Context, d *driver, now time.Time) error {
	f.active, f.ended, f.watching, f.endedAt = false, true, true, time.Now()
	switch f.kind {
	case FaultKill:
		ln := d.w.node(f.victim)
		if err := ln.start(ctx); err != nil {
			return err
		}
		d.say.at(now, "%s's node restarts on the same port after %s down; %d events waited in its warehouse system and go in now.",
			f.victim, time.Since(f.injected).Round(100*time.Millisecond), len(d.queued[f.victim]))
	case FaultPartition:
		for _, p := range d.w.proxies {
			p.Heal()
		}
		d.say.at(now, "The partition heals after %s of real time.", time.Since(f.injected).Round(100*time.Millisecond))
	}
	f.sizes = map[string]int64{}
	for _, ln := range d.w.nodes {
		if ln.n != nil {
			f.sizes[ln.party.ID] = ln.n.Log().Size()
		}
	}
	return nil
}

// checkRecovered tells, once, that the lane caught up after the fault, or
// that it did not within recoverWait.
func (f *fault) checkRecovered(d *driver, now time.Time) {
	var missing []string
	crossed := int64(0)
	for _, ln := range d.w.nodes {
		for _, o := range d.w.nodes {
			if ln == o || !f.concerns(d, ln.party.ID, o.party.ID) {
				continue
			}
			if held, _ := ln.n.Alerts().Held(linkd.LogOrigin(o.party.ID)); held {
				continue
			}
			want := f.sizes[o.party.ID]
			if f.kind == FaultKill && o.party.ID == f.victim {
				want = o.n.Log().Size() // its queued events included
			}
			got := ln.replicaSize(o.party.ID)
			if got < want {
				missing = append(missing, fmt.Sprintf("%s has %d of %s's %d", ln.party.ID, max(got, 0), o.party.ID, want))
			}
			crossed += max(0, got-f.before[ln.party.ID][o.party.ID])
		}
	}
	took := time.Since(f.endedAt)
	switch {
	case len(missing) == 0:
		f.watching = false
		f.report.Recovered = true
		switch f.kind {
		case FaultKill:
			f.report.Detail = fmt.Sprintf("%s caught up %s entries in %s after its restart; every copy ends at its origin's size", f.victim, thousands(crossed), ms(took))
			d.say.at(now, "%s is back in step: %s entries crossed its links since it stopped, %s after the restart; no gap, no duplicate (every copy ends at its origin's size).",
				f.victim, thousands(crossed), ms(took))
		case FaultPartition:
			f.report.Detail = fmt.Sprintf("%s entries crossed between Asia and Europe in %s after the heal", thousands(crossed), ms(took))
			d.say.at(now, "The lane is whole again: %s entries crossed between Asia and Europe since the split, %s after it healed; no gap, no duplicate.",
				thousands(crossed), ms(took))
		}
	case took > recoverWait:
		f.watching = false
		f.report.Detail = fmt.Sprintf("not caught up %s after the fault ended: %s", recoverWait, strings.Join(missing[:min(3, len(missing))], "; "))
		d.say.at(now, "The lane has NOT caught up %s after the fault ended: %s.", recoverWait, strings.Join(missing[:min(3, len(missing))], "; "))
	}
}

// concerns reports whether the copy of origin's log at holder is one the
// fault cut off.
func (f *fault) concerns(d *driver, holder, origin string) bool {
	switch f.kind {
	case FaultKill:
		return holder == f.victim || origin == f.victim
	case FaultPartition:
		return d.w.asia[holder] != d.w.asia[origin]
	}
	return false
}

// replicaSizes returns every node's replica sizes now.
func (d *driver) replicaSizes() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, ln := range d.w.nodes {
		out[ln.party.ID] = map[string]int64{}
		if ln.n == nil {
			continue
		}
		for _, r := range ln.n.Logs().Replicas() {
			out[ln.party.ID][r.Party().ID] = r.Size()
		}
	}
	return out
}

// injectEvil clones the victim's node, with its real log key and
// certificate, and shows Europe the clone and Asia the real node; each then
// records a different version of the same amendment.
func (f *fault) injectEvil(ctx context.Context, d *driver, now time.Time) error {
	real := d.w.node(f.victim)
	f.heldBefore = d.w.heldBy(f.victim)
	d.say.at(now, "Fault injected: %s's node turns evil. Its operator starts a clone holding the party's real log key and", f.victim)
	d.say.line("                  certificate, points Europe's nodes at the clone and Asia's at the real node, and tells each a different story.")
	if err := real.stop(); err != nil {
		return err
	}
	// The party's own systems wait while its operator plays the two nodes:
	// the clone and the real node stand at the same size, so each side of
	// the lane can catch the other's version.
	d.holding[f.victim] = true
	twinPath := filepath.Join(d.o.Dir, twinDir)
	if err := os.RemoveAll(twinPath); err != nil {
		return err
	}
	if err := copyDir(real.dir, twinPath); err != nil {
		return fmt.Errorf("clone %s's node: %w", f.victim, err)
	}
	if err := real.start(ctx); err != nil {
		return err
	}
	twin, err := loadNode(twinPath, real.party, real.logger.With("clone", true))
	if err != nil {
		return err
	}
	twin.cfg.Listen = "127.0.0.1:0"
	if err := twin.start(ctx); err != nil {
		return err
	}
	f.twin, d.w.twin = twin, twin
	f.forkAt = real.n.Log().Size()
	d.tr.skip(f.victim, f.forkAt)
	twinCard, err := twin.card()
	if err != nil {
		return err
	}
	for _, ln := range d.w.nodes {
		if ln == real {
			continue
		}
		if d.w.asia[ln.party.ID] {
			if err := twin.n.Peers().Remove(ln.party.ID); err != nil {
				return err
			}
			continue
		}
		if err := real.n.Peers().Remove(ln.party.ID); err != nil {
			return err
		}
		if err := ln.n.Peers().Put(twinCard); err != nil {
			return err
		}
	}

	// The same amendment, two ways: the real one for Asia, a fraudulent one
	// (the cargo redirected) for Europe.
	booking, _, ok := d.lane.NextInspection(now.Add(24*time.Hour), scenario.DCRotterdam.ID)
	if !ok {
		booking = "OCLVNRTM0000001"
	}
	f.booking = booking
	amend := func(reason string) []linkd.Event {
		return []linkd.Event{{
			EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "SUBM", DocumentTypeCode: "SHI",
			EventDateTime: linkd.Time{Time: now}, EventCreatedDateTime: linkd.Time{Time: now},
			CarrierBookingReference: booking, Reason: reason,
			Visibility: []string{scenario.Shipper.ID, scenario.Forwarder.ID, scenario.Carrier.ID, scenario.Customs.ID, scenario.Retailer.ID},
		}}
	}
	if _, err := real.n.Ingest(ctx, amend("Shipping instructions amended: notify party EU Retailer, Amsterdam")); err != nil {
		return fmt.Errorf("record on %s: %w", f.victim, err)
	}
	d.recorded++
	if _, err := twin.n.Ingest(ctx, amend("Shipping instructions amended: consignee Baltic Trading OU, Tallinn; deliver to Muuga")); err != nil {
		return fmt.Errorf("record on the clone: %w", err)
	}
	f.forked = time.Now()
	d.say.at(now, "Both sign entry %d of %s's log: the real node a routine amendment of %s's shipping instructions, the clone", f.forkAt, f.victim, booking)
	d.say.line("                  one redirecting the cargo to Tallinn. Each side alone sees a valid, signed, consistent log.")
	return nil
}

// watchEvil waits for the lane to catch the equivocation, then shuts the
// clone down and puts the real node's cards back.
func (f *fault) watchEvil(ctx context.Context, d *driver, now time.Time) error {
	var caught []string
	var first time.Time
	var evidence *linkd.Evidence
	for _, ln := range d.w.nodes {
		if ln.n == nil {
			continue
		}
		for _, a := range ln.n.Alerts().List(true) {
			if a.Kind == linkd.AlertEquivocation && a.Log == linkd.LogOrigin(f.victim) && !a.LastSeen.Before(f.forked) {
				caught = append(caught, ln.party.ID)
				if first.IsZero() || a.Raised.Before(first) {
					first, evidence = a.Raised, a.Evidence
				}
				break
			}
		}
	}
	took := time.Since(f.forked)
	if len(caught) > 0 && !f.caughtTold {
		f.caughtTold = true
		sizes := ""
		if evidence != nil {
			sizes = fmt.Sprintf(" (of sizes %s and %s, both signed with its key; the pair is kept as evidence)", noteSize(evidence.A), noteSize(evidence.B))
		}
		d.say.at(now, "Caught %s after the fork: %s found two checkpoints of %s's log that cannot both be true%s,",
			ms(max(0, first.Sub(f.forked))), list(caught), f.victim, sizes)
		d.say.line("                  raised a critical alert and hold the log back: its new entries are refused until an operator releases it.")
	}
	switch {
	case len(caught) == 0 && took < catchWait:
		return nil
	case len(caught) > 0 && len(caught) < len(d.w.nodes)-1 && took < catchWait && time.Since(first) < 2500*time.Millisecond:
		return nil // nodes gossip every 2 s: give the rest of the lane its turn
	}
	f.active, f.ended = false, true
	if len(caught) == 0 {
		f.report.Detail = fmt.Sprintf("no node caught the equivocation within %s", catchWait)
		already := ""
		if len(f.heldBefore) > 0 {
			already = fmt.Sprintf(" (%s held its log back already, since an earlier run, and take none of its entries)", list(f.heldBefore))
		}
		d.say.at(now, "NOT caught: no node raised an equivocation alert about %s's log within %s%s.", f.victim, catchWait, already)
	} else {
		f.report.Recovered = true
		f.report.Detail = fmt.Sprintf("caught by %d nodes %s after the fork; held back by %s", len(caught), ms(max(0, first.Sub(f.forked))), list(d.w.heldBy(f.victim)))
	}
	if err := f.twin.stop(); err != nil {
		return err
	}
	d.w.twin = nil
	os.RemoveAll(f.twin.dir)
	if err := d.w.link(slices.Contains(d.o.Faults, FaultPartition)); err != nil {
		return err
	}
	d.holding[f.victim] = false
	held := d.w.heldBy(f.victim)
	if len(held) == len(d.w.nodes)-1 {
		d.say.at(now, "The clone is shut down and every node points at %s's real node again. All %d partners hold its log back, so its", f.victim, len(held))
		d.say.line("                  events from now on stay on its own node until an operator releases the hold.")
	} else {
		d.say.at(now, "The clone is shut down and every node points at %s's real node again; %s hold its log back,", f.victim, list(held))
		d.say.line("                  so %s's events from now on reach only the nodes that did not catch it.", f.victim)
	}
	return nil
}

// noteSize is the size line of a signed checkpoint.
func noteSize(note []byte) string {
	lines := strings.SplitN(string(note), "\n", 3)
	if len(lines) < 2 {
		return "?"
	}
	return lines[1]
}

// copyDir copies a stopped node's directory.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
