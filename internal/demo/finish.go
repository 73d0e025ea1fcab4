package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// finish waits for what the story still waits on, lets the last frames
// land, proves one event offline, stops the nodes and sums up.
func (d *driver) finish(ctx context.Context, sum Summary, wall time.Time) (Summary, error) {
	interrupted := func() (Summary, error) { return d.interrupted(sum, wall), nil }
	// A hold recorded near the end still gets its answer.
	if h := d.hold; h != nil && !h.recorded.IsZero() {
		for (!h.reach || (len(h.moves) == 0 && !h.noneTold)) && ctx.Err() == nil {
			d.followHold(d.cursor)
			sleep(ctx, 20*time.Millisecond)
		}
		d.followHold(d.cursor)
	}
	for _, f := range d.faults {
		if err := f.finish(ctx, d); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return sum, err
		}
	}
	if ctx.Err() != nil {
		return interrupted()
	}
	d.say.line("")
	t0 := time.Now()
	var pic lanePicture
	for {
		if err := d.waitConverged(ctx, max(drainWait-time.Since(t0), 0)); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			d.say.line("The lane has NOT converged %s after the window ended: %v.", drainWait, err)
			pic = d.w.picture()
			break
		}
		// Re-allocations that came after the window still count, and are
		// told. A rule reacting to the last frames may record events after
		// every copy caught up: those must reach the peers too.
		d.followHold(d.cursor)
		if pic = d.w.picture(); len(pic.behind) == 0 {
			break
		}
	}
	sum.Converged = len(pic.behind) == 0 && len(pic.forked) == 0
	switch {
	case len(pic.behind) > 0:
		d.say.line("The lane has NOT converged: %s.", strings.Join(pic.behind[:min(4, len(pic.behind))], "; "))
	case len(pic.held)+len(pic.forked) == 0:
		d.say.line("All nine nodes hold every log they link to at its origin's size and root (the last frames landed in %s).", ms(time.Since(t0)))
	default:
		d.say.line("Every node holds every other log at its origin's size and root, except:")
		for _, ln := range d.w.nodes {
			id := ln.party.ID
			if by := pic.held[id]; len(by) > 0 {
				d.say.line("  %s's log, held back by %s after they caught it equivocating (its entries since are refused until an operator releases it)", id, list(by))
			}
			if by := pic.forked[id]; len(by) > 0 {
				d.say.line("  %s's log, of which %s hold another history (the clone's) without having caught it", id, list(by))
			}
		}
	}
	d.saveState()
	if err := d.prove(ctx, &sum); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return sum, err
	}
	d.fill(&sum, wall)
	d.printSummary(&sum)
	return sum, nil
}

// prove writes a proof bundle of the customs hold (or, without one, of
// customs' newest event), verifies it the way 'linkd verify' does, shows a
// forged copy fails, and audits every party log.
func (d *driver) prove(ctx context.Context, sum *Summary) error {
	customs := d.w.node("eu-customs")
	l := customs.n.Log()
	if l.Size() == 0 {
		return nil
	}
	id := ""
	if d.hold != nil && !d.hold.recorded.IsZero() {
		id = d.hold.ack.EventID
	} else {
		rec, err := l.Get(ctx, l.Size()-1)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		id = rec.Event.EventID
	}
	b, err := l.Bundle(ctx, id)
	if err != nil {
		return fmt.Errorf("demo: proof of %s: %w", id, err)
	}
	sum.BundlePath = filepath.Join(d.o.Dir, "bundle.json")
	sum.KeyPath = customs.cfg.Path(customs.cfg.Keys.Log) + ".pub"
	if err := writeJSON(sum.BundlePath, &b); err != nil {
		return err
	}
	v, err := tlog.VerifyBundle(&b, l.PublicKey())
	if err != nil {
		return fmt.Errorf("demo: the genuine proof bundle does not verify: %w", err)
	}
	what := fmt.Sprintf("%s %s", b.Event.ShipmentEventTypeCode, b.Event.CarrierBookingReference)
	d.say.line("")
	d.say.line("Proof for someone who trusts no node: EU Customs' %s, entry %d of its log, in %s.", what, b.LogIndex, sum.BundlePath)
	d.say.line("  $ linkd verify --key @%s %s", sum.KeyPath, sum.BundlePath)
	d.say.line("  VERIFIED: %s recorded it at index %d of a log of size %d", v.Party, v.LogIndex, v.Checkpoint.Size)
	forged := b
	forged.Event.EventDateTime = linkd.Time{Time: b.Event.EventDateTime.Add(-48 * time.Hour)}
	forgedPath := filepath.Join(d.o.Dir, "bundle-forged.json")
	if err := writeJSON(forgedPath, &forged); err != nil {
		return err
	}
	if _, err := tlog.VerifyBundle(&forged, l.PublicKey()); err == nil {
		return fmt.Errorf("demo: a forged proof bundle verified")
	} else {
		d.say.line("  The same bundle with the event moved back 48 hours (%s): NOT VERIFIED: %v", forgedPath, err)
	}
	t0 := time.Now()
	var events, copied int64
	checkpoints, copies := 0, 0
	for _, ln := range d.w.nodes {
		rep, err := ln.n.Log().Audit(ctx, nil)
		if err != nil {
			return fmt.Errorf("demo: audit %s's log: %w", ln.party.ID, err)
		}
		events += rep.Size
		checkpoints += rep.Checkpoints
	}
	// Each node also audits its copies of its partners' logs, against the
	// partners' keys: what it holds is what they signed.
	for _, ln := range d.w.nodes {
		for _, r := range ln.n.Logs().Replicas() {
			rep, err := r.Audit(ctx, nil)
			if err != nil {
				return fmt.Errorf("demo: audit %s's copy of %s's log: %w", ln.party.ID, r.Party().ID, err)
			}
			copies++
			copied += rep.Size
			checkpoints += rep.Checkpoints
		}
	}
	d.say.line("Audit of the %d party logs and of the %d copies the nodes hold of their partners' logs: %s entries re-hashed, every tree rebuilt, %s signed checkpoints consistent with it (%s).",
		len(d.w.nodes), copies, thousands(events+copied), thousands(int64(checkpoints)), ms(time.Since(t0)))
	return nil
}

// fill stops the nodes and completes the summary from what they hold.
func (d *driver) fill(sum *Summary, wall time.Time) {
	sum.From, sum.To = d.from, d.cursor
	sum.History = d.history
	// Alerts and held logs are read before the nodes stop.
	sum.Alerts = map[string]int{}
	for _, ln := range d.w.nodes {
		if ln.n == nil {
			continue
		}
		for _, a := range ln.n.Alerts().List(true) {
			if !a.LastSeen.Before(d.runStart) {
				sum.Alerts[a.Kind]++
			}
		}
		sum.LogEntries += ln.n.Log().Size()
		sum.Recorded += int(ln.n.Log().Size() - d.startOwn[ln.party.ID])
	}
	sum.ByRules = max(0, sum.Recorded-d.recorded)
	for _, k := range []string{linkd.AlertVerificationFailed, linkd.AlertResidencyViolation, linkd.AlertEntitlementViolation} {
		sum.VerificationFailures += sum.Alerts[k]
	}
	if err := d.w.stopAll(); err != nil {
		d.say.line("(stopping the nodes: %v)", err)
	}
	rep, pay, all, clean := d.tr.figures()
	sum.Replicated, sum.Payloads = rep, pay
	sum.Propagation, sum.PropagationClean = all, clean
	if h := d.hold; h != nil {
		sum.Hold = Story{Booking: h.booking, Held: !h.recorded.IsZero(), HeldAt: h.heldAt, Released: h.released, ReachedBy: h.reachedBy, Payload: h.payloadAt}
		sum.Reallocated = len(h.moves)
	}
	for _, f := range d.faults {
		sum.Faults = append(sum.Faults, f.report)
	}
	sum.Wall = time.Since(wall)
	sum.RSS, sum.PeakRSS = memory()
}

func (d *driver) printSummary(s *Summary) {
	say := d.say.line
	say("")
	say("Summary: %s → %s of the lane's clock, %s of real time", simTime(s.From), simTime(s.To), s.Wall.Round(100*time.Millisecond))
	rec := fmt.Sprintf("%s, each by its party on its own node", thousands(int64(s.Recorded)))
	if s.History > 0 || s.ByRules > 0 {
		var parts []string
		if s.History > 0 {
			parts = append(parts, fmt.Sprintf("%s of them the lane's history", thousands(int64(s.History))))
		}
		if s.ByRules > 0 {
			parts = append(parts, fmt.Sprintf("%s decided by the nodes' rules", thousands(int64(s.ByRules))))
		}
		rec += " (" + strings.Join(parts, "; ") + ")"
	}
	say("  events recorded        %s; %s in the nine logs in all", rec, thousands(s.LogEntries))
	say("  events replicated      %s verified by peers: %s with their payload, %s as a commitment only (not entitled, or residency)",
		thousands(int64(s.Replicated)), thousands(int64(s.Payloads)), thousands(int64(s.Replicated-s.Payloads)))
	p := s.Propagation
	say("  propagation            p50 %s, p99 %s, max %s from the origin's ack to verified at a peer (%s deliveries)", ms(p.P50), ms(p.P99), ms(p.Max), thousands(int64(p.N)))
	if len(s.Faults) > 0 {
		c := s.PropagationClean
		say("                         p50 %s, p99 %s, max %s for events recorded while no fault was on", ms(c.P50), ms(c.P99), ms(c.Max))
	}
	say("  verification failures  %d", s.VerificationFailures)
	if len(s.Alerts) == 0 {
		say("  alerts raised          none")
	} else {
		var kinds []string
		for k, n := range s.Alerts {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
		slices.Sort(kinds)
		say("  alerts raised          %s", strings.Join(kinds, ", "))
	}
	switch h := s.Hold; {
	case h.Booking == "":
		say("  customs hold           none in this window")
	case !h.Held:
		say("  customs hold           %s: planned, not reached in this run", h.Booking)
	default:
		rel := "not released before the window ended"
		if h.Released {
			rel = "released 48 h later"
		}
		re := "none (no node re-allocated the held orders)"
		if s.Reallocated > 0 {
			re = fmt.Sprintf("%d orders, %s", s.Reallocated, d.hold.movesSummary)
		}
		say("  customs hold           %s held %s, %s; reached %d partners; re-allocation: %s", h.Booking, simTime(h.HeldAt), rel, len(h.ReachedBy), re)
	}
	for _, f := range s.Faults {
		status := "recovered"
		if f.Kind == FaultEvil {
			status = "caught"
		}
		if !f.Recovered {
			status = "NOT " + status
		}
		if !f.Injected {
			status, f.Detail = "not injected", "the window ended while the lane recovered from the fault before"
		}
		say("  fault %-16s %s: %s", f.Kind, status, f.Detail)
	}
	conv := "yes"
	if !s.Converged {
		conv = "NO"
	}
	say("  lane converged         %s", conv)
	if s.RSS > 0 {
		say("  memory                 %d MiB resident (peak %d MiB) for nine nodes in one process", s.RSS>>20, s.PeakRSS>>20)
	}
	say("  data                   %s (run again to continue the lane; --fresh starts over)", s.Dir)
}

// memory reads the process's resident and peak resident memory (Linux).
func memory() (rss, peak int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
