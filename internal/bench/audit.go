package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// AuditConfig configures Audit.
type AuditConfig struct {
	Dir      string // where the log's store goes, in a fresh directory removed after; "" means the system temp dir
	Events   int    // events the log holds; 0 means 1,000,000
	Batch    int    // events a group commit takes, so a signed checkpoint each; 0 means 100
	Progress io.Writer
}

// AuditResult is the time of a full audit of one party log.
type AuditResult struct {
	Events       int64   `json:"events"`
	Checkpoints  int     `json:"checkpoints"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"eventsPerSecond"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	LoadPerSec   float64 `json:"loadEventsPerSecond"`
}

// Audit fills a party log (sealed records, as a node keeps them) with
// Events lane events in appends of Batch, closes and reopens it as a
// restarted node would, and times Log.Audit over it: every record opened,
// checked and hashed to its stored leaf, every stored tree hash rebuilt,
// and every checkpoint ever signed verified against the root the rebuilt
// tree has at its size.
func Audit(ctx context.Context, cfg AuditConfig) (AuditResult, error) {
	if cfg.Events == 0 {
		cfg.Events = 1_000_000
	}
	if cfg.Batch == 0 {
		cfg.Batch = 100
	}
	if cfg.Events < 1 || cfg.Batch < 1 || cfg.Batch > linkd.MaxBatchEvents {
		return AuditResult{}, fmt.Errorf("audit: want at least one event in appends of 1 to %d (got %d in %d)", linkd.MaxBatchEvents, cfg.Events, cfg.Batch)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-audit-")
	if err != nil {
		return AuditResult{}, err
	}
	defer os.RemoveAll(dir)
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(benchParty.ID))
	if err != nil {
		return AuditResult{}, err
	}

	var res AuditResult
	// Load, then close: the audit reads the store as a node that restarted.
	err = withBenchLog(dir, skey, func(_ *pebble.DB, l *partylog.Log) error {
		gen := scenario.NewGenerator(7, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)).WithShipments(max(cfg.Events/40, 1))
		stop := progress(cfg.Progress, func() string { return fmt.Sprintf("loaded %d of %d events", l.Size(), cfg.Events) })
		defer stop()
		t0 := time.Now()
		for done := 0; done < cfg.Events; {
			n := min(cfg.Batch, cfg.Events-done)
			if _, err := l.Append(ctx, gen.Batch(n)); err != nil {
				return err
			}
			done += n
		}
		res.LoadPerSec = float64(cfg.Events) / time.Since(t0).Seconds()
		return nil
	})
	if err != nil {
		return AuditResult{}, fmt.Errorf("audit: load: %w", err)
	}
	err = withBenchLog(dir, skey, func(db *pebble.DB, l *partylog.Log) error {
		// The load leaves compactions owed; a node audited in production
		// has long paid them, so they are let run first rather than share
		// the processors with the audit.
		if err := settle(ctx, db, cfg.Progress); err != nil {
			return err
		}
		var done atomic.Int64
		stop := progress(cfg.Progress, func() string { return fmt.Sprintf("audited %d of %d events", done.Load(), l.Size()) })
		defer stop()
		c0, t0 := cpuTime(), time.Now()
		rep, err := l.Audit(ctx, func(d, _ int64) { done.Store(d) })
		if err != nil {
			return err
		}
		elapsed := time.Since(t0)
		res.Events, res.Checkpoints = rep.Size, rep.Checkpoints
		res.Seconds, res.CPUSeconds = elapsed.Seconds(), (cpuTime() - c0).Seconds()
		res.EventsPerSec = float64(rep.Size) / elapsed.Seconds()
		return nil
	})
	if err != nil {
		return AuditResult{}, err
	}
	return res, nil
}

// withBenchLog opens the party log in dir as a node keeps it (its records
// sealed under their shipments' keys), calls fn, and closes it.
func withBenchLog(dir string, skey string, fn func(*pebble.DB, *partylog.Log) error) (err error) {
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	keys, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		return err
	}
	defer keys.Close()
	l, err := partylog.Open(db, partylog.Config{Self: benchParty, SigningKey: skey, Sealer: docs.EventSealer{Keys: keys}})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	return fn(db, l)
}

// settle waits until the store has run no flush or compaction for a second
// (at most two minutes), so that work a load left owed does not share the
// processors with what is timed next.
func settle(ctx context.Context, db *pebble.DB, w io.Writer) error {
	deadline := time.Now().Add(2 * time.Minute)
	quietSince := time.Now()
	announced := false
	for time.Now().Before(deadline) {
		m := db.Metrics()
		if m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0 {
			quietSince = time.Now()
			if !announced && w != nil {
				fmt.Fprintln(w, "waiting for the store's compactions to finish ...")
				announced = true
			}
		} else if time.Since(quietSince) >= time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// PrintAudit prints Audit's result.
func PrintAudit(w io.Writer, r AuditResult) {
	fmt.Fprintf(w, "audit of one party log: %d events, %d signed checkpoints (loaded at %.0f events/s)\n", r.Events, r.Checkpoints, r.LoadPerSec)
	fmt.Fprintf(w, "  %.2f s, %.0f events/s, %.2f CPU-seconds\n", r.Seconds, r.EventsPerSec, r.CPUSeconds)
}
