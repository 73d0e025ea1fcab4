// Package demo runs linkd's demonstration: a party of the Vietnam→EU lane
// records a month of traffic in its own log, then proves and audits it, all
// offline on one machine. It grows with the product: today it shows the party
// log; the linked multi-party lane and the dashboard come with links.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Options configure Run.
type Options struct {
	Dir    string       // data directory; "" means linkd-demo under the system temp dir
	Fresh  bool         // remove an earlier run's data first
	Events int          // events to record; 0 means 20,000
	Out    io.Writer    // narration
	Logger *slog.Logger // node logs; nil discards them
}

// Party is the demo's recording party.
var Party = scenario.Terminal

// Summary is what a run did.
type Summary struct {
	Dir         string
	Recorded    int
	LogSize     int64
	Checkpoints int
	BundlePath  string
	KeyPath     string
}

// Run runs the demo. It stops cleanly when ctx ends; the data dir stays
// usable for the next run.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Dir == "" {
		o.Dir = filepath.Join(os.TempDir(), "linkd-demo")
	}
	if o.Events == 0 {
		o.Events = 20000
	}
	if o.Events < 1 || o.Events > 5_000_000 {
		return Summary{}, fmt.Errorf("demo: --events %d: want 1 to 5,000,000", o.Events)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	if o.Fresh {
		if err := os.RemoveAll(o.Dir); err != nil {
			return Summary{}, fmt.Errorf("demo: remove %s: %w", o.Dir, err)
		}
	}
	partyDir := filepath.Join(o.Dir, Party.ID)
	if err := os.MkdirAll(partyDir, 0o700); err != nil {
		return Summary{}, fmt.Errorf("demo: %w", err)
	}
	sum := Summary{Dir: o.Dir}

	say("linkd demo: the Vietnam→EU lane, as far as linkd has come")
	say("")
	skey, vkey, reused, err := loadOrMakeKey(partyDir)
	if err != nil {
		return sum, err
	}
	sum.KeyPath = filepath.Join(partyDir, "log.pub")
	db, err := store.Open(filepath.Join(partyDir, "store"), store.Options{Logger: o.Logger})
	if err != nil {
		return sum, fmt.Errorf("demo: %w (is another demo running on %s? stop it, or pass --dir)", err, o.Dir)
	}
	defer db.Close()
	l, err := partylog.Open(db, partylog.Config{Self: Party, SigningKey: skey, Logger: o.Logger})
	if err != nil {
		return sum, fmt.Errorf("demo: %w (start over with --fresh)", err)
	}
	defer l.Close()
	state := "a new"
	if reused {
		state = fmt.Sprintf("its existing (%d events; --fresh starts over)", l.Size())
	}
	say("[1/5] %s (%s) opens %s party log in %s", Party.Name, strings.Join(Party.Jurisdiction, "/"), state, partyDir)
	kp := strings.SplitN(vkey, "+", 3)
	say("      log key %s (key hash %s); public key in %s", kp[0], kp[1], sum.KeyPath)

	// A month of lane traffic, ending now.
	start := l.Size()
	gen := scenario.NewGenerator(uint64(start)+1, time.Now().Add(-45*24*time.Hour)).WithShipments(max(1, o.Events/60))
	const batch = 500
	say("[2/5] Recording a month of lane traffic: %s DCSA events in batches of %d ...", thousands(o.Events), batch)
	t0 := time.Now()
	batches := 0
	for done := 0; done < o.Events; {
		n := min(batch, o.Events-done)
		evs := gen.Batch(n)
		for i := range evs {
			// Unique per run and position, so a rerun records new events.
			evs[i].DocumentID = fmt.Sprintf("DEMO-%d-%d", start, done+i)
			if evs[i].EventType != linkd.Shipment {
				evs[i].DocumentID = ""
				evs[i].References = append(evs[i].References, linkd.Reference{ReferenceType: "CR", ReferenceValue: fmt.Sprintf("R%d-%d", start, done+i)})
			}
		}
		if _, err := l.Append(ctx, evs); err != nil {
			if errors.Is(err, context.Canceled) {
				say("      interrupted after %d events; every acknowledged event is durable", done)
			}
			return sum, fmt.Errorf("demo: record: %w", err)
		}
		done += n
		batches++
		if batches%20 == 0 {
			say("      %s events durable ...", thousands(done))
		}
	}
	el := time.Since(t0)
	sum.Recorded = o.Events
	sum.LogSize = l.Size()
	_, cp := l.Checkpoint()
	say("      %s events durable in %.2f s (%s events/s), %d signed checkpoints; log size %s, root %s",
		thousands(o.Events), el.Seconds(), thousands(int(float64(o.Events)/el.Seconds())), batches, thousands(int(cp.Size)), tlog.Hash(cp.Hash))

	// One container's story, from the equipment index.
	last, err := l.Get(ctx, l.Size()-1)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	container := last.Event.EquipmentReference
	for i := l.Size() - 2; container == "" && i >= 0; i-- {
		r, err := l.Get(ctx, i)
		if err != nil {
			return sum, fmt.Errorf("demo: %w", err)
		}
		container = r.Event.EquipmentReference
	}
	page, err := l.Scan(ctx, partylog.Query{Index: partylog.ByEquipment, Value: container, Limit: 12})
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	say("[3/5] Container %s's timeline, from the log's equipment index:", container)
	var pick linkd.Recorded
	for _, r := range page.Events {
		e := r.Event
		loc := ""
		if e.EventLocation != nil {
			loc = e.EventLocation.LocationName + " (" + e.EventLocation.UNLocationCode + ")"
		}
		say("      %s  %s %-4s %-12s %-34s log #%d", e.EventDateTime.Format("2006-01-02 15:04 -07:00"), e.EventClassifierCode,
			e.EquipmentEventTypeCode, linkd.EquipmentEventCodes[e.EquipmentEventTypeCode], loc, r.LogIndex)
		if e.EquipmentEventTypeCode == "LOAD" || pick.Event.EventID == "" {
			pick = r
		}
	}
	if page.Next != "" {
		say("      ... more on the next page")
	}

	// Prove one event to someone who trusts nobody.
	b, err := l.Bundle(ctx, pick.Event.EventID)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	sum.BundlePath = filepath.Join(o.Dir, "bundle.json")
	if err := writeJSON(sum.BundlePath, &b); err != nil {
		return sum, err
	}
	say("[4/5] Proving event %s (log #%d) offline, trusting only the terminal's public key:", b.Event.EventID, b.LogIndex)
	say("      $ linkd verify --key @%s %s", sum.KeyPath, sum.BundlePath)
	v, err := tlog.VerifyBundle(&b, vkey)
	if err != nil {
		return sum, fmt.Errorf("demo: the genuine bundle does not verify: %w", err)
	}
	say("      VERIFIED: %s recorded it at index %d of a log of size %d", v.Party, v.LogIndex, v.Checkpoint.Size)
	forged := b
	forged.Event.EventDateTime = linkd.Time{Time: b.Event.EventDateTime.Add(-6 * time.Hour)}
	forgedPath := filepath.Join(o.Dir, "bundle-forged.json")
	if err := writeJSON(forgedPath, &forged); err != nil {
		return sum, err
	}
	say("      A copy whose event time was moved back six hours (%s):", forgedPath)
	if _, err := tlog.VerifyBundle(&forged, vkey); err == nil {
		return sum, errors.New("demo: the forged bundle verified")
	} else {
		say("      NOT VERIFIED: %v", err)
	}

	// Audit.
	t0 = time.Now()
	rep, err := l.Audit(ctx, nil)
	if err != nil {
		return sum, fmt.Errorf("demo: audit: %w", err)
	}
	sum.Checkpoints = rep.Checkpoints
	say("[5/5] Audit: %s events re-hashed, the tree rebuilt to root %s, %d checkpoints consistent with it (%.2f s)",
		thousands(int(rep.Size)), rep.Root, rep.Checkpoints, time.Since(t0).Seconds())
	say("")
	say("Next in linkd: the other seven parties of the lane, linked and witnessing each other, with a live dashboard.")
	say("Data stays in %s; run again to add another month, or with --fresh to start over.", o.Dir)
	return sum, nil
}

func loadOrMakeKey(dir string) (skey, vkey string, reused bool, err error) {
	kp, pp := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.pub")
	if b, err := os.ReadFile(kp); err == nil {
		skey = strings.TrimSpace(string(b))
		vkey, err = tlog.PublicKey(skey)
		if err != nil {
			return "", "", false, fmt.Errorf("demo: %s: %w (start over with --fresh)", kp, err)
		}
		return skey, vkey, true, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, fmt.Errorf("demo: %w", err)
	}
	skey, vkey, err = tlog.GenerateKey(linkd.LogOrigin(Party.ID))
	if err != nil {
		return "", "", false, err
	}
	if err := os.WriteFile(kp, []byte(skey+"\n"), 0o600); err != nil {
		return "", "", false, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(pp, []byte(vkey+"\n"), 0o644); err != nil {
		return "", "", false, fmt.Errorf("demo: %w", err)
	}
	return skey, vkey, false, nil
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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
