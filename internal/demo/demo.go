// Package demo runs `linkd demo`: the Vietnam→EU lane on one machine, with
// no external service and no internet. Nine parties each get a real node —
// its own directory, keys, Pebble store and mutual-TLS listener on
// loopback — linked as the lane's partners are. A driver plays a month of
// an electronics retailer's traffic (internal/scenario's calendar), each
// event recorded by the party that would record it, on that party's own
// node; the nodes replicate, verify, witness and enforce residency among
// themselves exactly as they would across organisations. EU customs holds
// one container for a 48-hour inspection; the demo watches for the
// distribution centres' reaction (re-allocating the held orders, which is
// the nodes' rules engine's job, wired in laneRules) and says plainly
// whether it came. Optional faults (a node killed, the lane partitioned, a
// node that equivocates) show what the lane detects and how it recovers.
//
// The demo narrates in sentences, serves the lane's dashboard, and ends
// with a summary measured from the nodes: events recorded and replicated,
// propagation latency from origin acknowledgement to verification at each
// peer, verification failures and alerts. Its data directory survives: the
// next run continues the lane where this one stopped.
//
// What it promises: every figure and sentence reports what the nodes did,
// never what the script intended; a step of the story that does not happen
// is reported as not happening. Ctrl-C stops every node cleanly at any
// point, and the next run continues from what was durable.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// Faults the demo can inject.
const (
	FaultKill      = "kill"      // dc-rotterdam's node stops mid-run and comes back
	FaultPartition = "partition" // Asia and Europe cannot reach each other for a while
	FaultEvil      = "evil"      // a clone of vn-forwarding's node shows Europe another history
)

// Faults lists the faults in the order a run injects them.
var Faults = []string{FaultKill, FaultPartition, FaultEvil}

// Defaults.
const (
	DefaultDuration  = 30 * 24 * time.Hour // a month of the lane
	DefaultSpeed     = 4.0                 // simulated hours per real second: a month in three minutes
	DefaultDashboard = "127.0.0.1:8080"
)

// Options configure Run.
type Options struct {
	// Dir is the data directory: one subdirectory per party's node, the
	// simulation's state and the nodes' log. "" means linkd-demo in the
	// system's temporary directory. An earlier run's data is continued.
	Dir string
	// Fresh deletes an earlier run's data first (only a directory that
	// holds nothing but a demo's data).
	Fresh bool
	// Duration is the simulated time this run covers. 0 means 30 days.
	Duration time.Duration
	// Speed is simulated hours per real second. 0 means 4: a 30-day month
	// in 3 minutes.
	Speed float64
	// Faults to inject, from Faults.
	Faults []string
	// Dashboard is the host:port the dashboard is served on over plain
	// HTTP; "" or "off" serves none. Use a loopback address.
	Dashboard string
	// Epoch is when a new lane's first window starts. Zero means 00:00 UTC
	// on the Monday of this week. A continued lane keeps its own.
	Epoch time.Time
	// ReallocationWait is how long (real time) after a customs hold the
	// demo waits for a centre's re-allocation before saying there was none.
	// 0 means 10 s.
	ReallocationWait time.Duration
	// Out receives the narration. Nil discards it.
	Out io.Writer
	// Logger receives the nodes' own logs. Nil means the file nodes.log in
	// the data directory.
	Logger *slog.Logger
}

// logFile is where the nodes' own logs go by default.
const logFile = "nodes.log"

// Summary is what a run did, as the nodes report it.
type Summary struct {
	Dir         string
	Continued   bool      // the run continued an earlier run's lane
	From, To    time.Time // the simulated window the run covered
	Interrupted bool      // stopped early by its context (Ctrl-C)
	Wall        time.Duration

	History  int // events of the lane's history recorded before the window (first run only)
	Recorded int // events the nine logs gained this run, history included
	ByRules  int // of them, those the nodes' rules recorded (re-allocations)
	// Replicated is the entries of this run that peers verified and stored:
	// one per event and peer. Payloads of them carried the event itself;
	// the rest, only its salted commitment (not entitled, or residency).
	Replicated, Payloads int
	// Propagation is from the origin's acknowledgement to verified and
	// queryable at a peer, over every (entry, peer) of this run's entries;
	// PropagationClean over those recorded while no fault was on.
	Propagation, PropagationClean Latency
	// VerificationFailures is the frames peers refused this run for failing
	// verification, residency or entitlement (alerts of those kinds).
	VerificationFailures int
	// Alerts counts the alerts the nodes raised this run, by kind.
	Alerts map[string]int
	// Converged reports whether, at the end, every node held every log it
	// links to (and does not hold back) at its origin's size and root.
	Converged bool
	// LogEntries is the entries of all nine party logs, all runs.
	LogEntries int64

	Hold Story // the customs hold
	// Reallocated is the orders a centre re-allocated off the held
	// shipment, as RALC events verified at peers; 0 when none came.
	Reallocated int
	Faults      []FaultReport

	BundlePath, KeyPath string // a proof of the hold (or another event), verified offline
	RSS, PeakRSS        int64  // bytes of resident memory at the end, and the peak; 0 if unknown
}

// Latency summarises propagation delays.
type Latency struct {
	N             int
	P50, P99, Max time.Duration
}

// Story is what happened to the held container.
type Story struct {
	Booking   string
	Held      bool      // the HOLD was recorded
	HeldAt    time.Time // simulated
	Released  bool
	ReachedBy []string // customs' partners that verified the hold
	Payload   []string // of them, those holding its payload
}

// FaultReport is what an injected fault did.
type FaultReport struct {
	Kind      string
	Injected  bool
	Recovered bool   // the lane caught up (kill, partition) or caught the liar (evil)
	Detail    string // what the narration said about it
}

// Run runs the demo and returns its summary. It returns when the simulated
// window ends or ctx does; either way every node is stopped cleanly and the
// data directory can be continued.
func Run(ctx context.Context, o Options) (sum Summary, err error) {
	wall := time.Now()
	if err := o.check(); err != nil {
		return sum, err
	}
	say := &narrator{out: o.Out}

	// The dashboard's port first: a port in use is the most likely
	// mistake, and it should not cost setting up nine nodes.
	var dash net.Listener
	if o.Dashboard != "" && o.Dashboard != "off" {
		if dash, err = net.Listen("tcp", o.Dashboard); err != nil {
			return sum, listenError(o.Dashboard, "--dashboard", err)
		}
		defer dash.Close()
	}

	st, w, continued, err := setUp(ctx, &o, say)
	if err != nil {
		if w != nil {
			w.stopAll()
		}
		if ctx.Err() != nil {
			say.line("Stopped while setting up the nodes; the next run picks up from what is there.")
			return Summary{Dir: o.Dir, Interrupted: true}, nil
		}
		return sum, err
	}
	sum.Dir, sum.Continued = o.Dir, continued
	// Whatever happens, every node stops cleanly (stopping twice is a no-op).
	defer func() {
		if serr := w.stopAll(); serr != nil && err == nil {
			err = fmt.Errorf("demo: stop the nodes: %w", serr)
		}
	}()

	d := newDriver(o, say, w, st)
	if err := d.start(ctx); err != nil {
		if ctx.Err() != nil {
			return d.interrupted(sum, wall), nil
		}
		return sum, err
	}
	if dash != nil {
		srv := serveDashboard(dash, w)
		defer srv.Close()
		say.line("Dashboard: http://%s/ (the network map, live events, timelines, alerts)", dash.Addr())
		say.line("")
	}
	if err := d.run(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return d.interrupted(sum, wall), nil
		}
		return sum, err
	}
	return d.finish(ctx, sum, wall)
}

func (o *Options) check() error {
	if o.Dir == "" {
		o.Dir = filepath.Join(os.TempDir(), "linkd-demo")
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration < time.Hour || o.Duration > 5*365*24*time.Hour {
		return fmt.Errorf("--duration %v: want 1h to 5 years of simulated time", o.Duration)
	}
	if o.Speed == 0 {
		o.Speed = DefaultSpeed
	}
	if o.Speed < 0.01 || o.Speed > 100_000 {
		return fmt.Errorf("--speed %g: want 0.01 to 100000 simulated hours per second", o.Speed)
	}
	for _, f := range o.Faults {
		if !slices.Contains(Faults, f) {
			return fmt.Errorf("--fault %q: want one of %s", f, strings.Join(Faults, ", "))
		}
	}
	if o.Dashboard != "" && o.Dashboard != "off" {
		host, _, err := net.SplitHostPort(o.Dashboard)
		if err != nil {
			return fmt.Errorf("--dashboard %q: want host:port, such as 127.0.0.1:8080, or off", o.Dashboard)
		}
		// The dashboard's proxy reads every node with its token, over plain
		// HTTP: it is for this machine only.
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--dashboard %q: the dashboard shows every node's data without asking for a token, over plain HTTP; serve it on a loopback address such as 127.0.0.1:8080", o.Dashboard)
		}
	}
	if o.ReallocationWait == 0 {
		o.ReallocationWait = 10 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Epoch.IsZero() {
		now := time.Now().UTC()
		day := now.Truncate(24 * time.Hour)
		o.Epoch = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	}
	return nil
}

// setUp makes or reopens the lane's nine nodes and starts them, linked.
func setUp(ctx context.Context, o *Options, say *narrator) (*state, *network, bool, error) {
	if o.Fresh {
		ok, err := isDemoDir(o.Dir)
		if err != nil {
			return nil, nil, false, fmt.Errorf("demo: %w", err)
		}
		if !ok {
			return nil, nil, false, fmt.Errorf("--fresh: %s holds files that are not a linkd demo's; refusing to delete it (pass another --dir)", o.Dir)
		}
		if err := os.RemoveAll(o.Dir); err != nil {
			return nil, nil, false, fmt.Errorf("--fresh: remove %s: %w", o.Dir, err)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, nil, false, fmt.Errorf("demo: %w", err)
	}
	st, err := readState(o.Dir)
	continued := err == nil
	switch {
	case continued:
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, false, err
	case isOldDemo(o.Dir):
		return nil, nil, false, fmt.Errorf("%s holds the data of an older linkd demo (one party log) that this demo cannot continue; run with --fresh to start over, or pass another --dir", o.Dir)
	default:
		ok, err := isDemoDir(o.Dir)
		if err != nil {
			return nil, nil, false, fmt.Errorf("demo: %w", err)
		}
		if !ok {
			return nil, nil, false, fmt.Errorf("%s is not empty and holds no linkd demo; pass another --dir", o.Dir)
		}
		// Nothing, or the remains of a first run stopped while it set up.
		for _, p := range scenario.Cast() {
			if err := os.RemoveAll(filepath.Join(o.Dir, p.ID)); err != nil {
				return nil, nil, false, fmt.Errorf("demo: %w", err)
			}
		}
		st = &state{Version: stateVersion, Epoch: o.Epoch.UTC(), Seed: 1, HoldIDs: map[string]string{}}
	}

	w := &network{byID: map[string]*laneNode{}, proxies: map[[2]string]*faultnet.Proxy{}, asia: map[string]bool{}}
	logger := o.Logger
	if logger == nil {
		f, err := os.OpenFile(filepath.Join(o.Dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, w, false, fmt.Errorf("demo: %w", err)
		}
		w.logFile = f // closed once every node has stopped
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// A clone left by a run stopped during the evil fault.
	if err := os.RemoveAll(filepath.Join(o.Dir, twinDir)); err != nil {
		return nil, w, false, fmt.Errorf("demo: %w", err)
	}

	say.line("linkd demo: the Vietnam→EU lane, nine parties, each on its own node")
	say.line("")
	switch {
	case continued && st.Through.IsZero():
		say.line("Continuing the lane in %s: its nodes are set up, its history is not in yet (--fresh starts over).", o.Dir)
	case continued:
		say.line("Continuing the lane in %s: run %d, the lane's clock stands at %s (--fresh starts over).",
			o.Dir, st.Runs+1, simTime(st.Through))
	default:
		say.line("Setting up nine nodes in %s: for each party an Ed25519 log key, a witness key, an ECDSA", o.Dir)
		say.line("TLS certificate and its own Pebble store, the way 'linkd init' makes them.")
		for _, p := range scenario.Cast() {
			if err := ctx.Err(); err != nil {
				return nil, w, false, err
			}
			if err := initNode(ctx, filepath.Join(o.Dir, p.ID), p); err != nil {
				return nil, w, false, err
			}
		}
		if err := st.write(o.Dir); err != nil {
			return nil, w, false, err
		}
	}

	for _, p := range scenario.Cast() {
		ln, err := loadNode(filepath.Join(o.Dir, p.ID), p, logger)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, w, false, fmt.Errorf("%s: %s's node is missing (%v); start over with --fresh", o.Dir, p.ID, err)
			}
			return nil, w, false, fmt.Errorf("%s: %w (start over with --fresh)", o.Dir, err)
		}
		w.nodes = append(w.nodes, ln)
		w.byID[p.ID] = ln
		w.asia[p.ID] = !p.Admits([]string{"EU"})
	}
	return st, w, continued, nil
}

// interrupted is the summary of a run stopped by its context.
func (d *driver) interrupted(sum Summary, wall time.Time) Summary {
	d.say.line("")
	d.say.line("Stopped at %s of the lane's clock.", simTime(d.cursor))
	d.saveState()
	d.fill(&sum, wall)
	sum.Interrupted = true
	d.printSummary(&sum)
	d.say.line("Every node is closed cleanly; run again to continue from here.")
	return sum
}
