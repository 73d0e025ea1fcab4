// Package bench measures linkd the way its users will feel it: durable
// events per second and acknowledgement latency on real stores, with the
// figures printed for `linkd bench`. It never asserts on time; it reports.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// IngestScenario is one shape of load: clients appending batches of a size.
type IngestScenario struct {
	Batch   int // events per Append
	Clients int // concurrent appenders
}

func (s IngestScenario) String() string {
	c := "clients"
	if s.Clients == 1 {
		c = "client"
	}
	return fmt.Sprintf("batch %d, %d %s", s.Batch, s.Clients, c)
}

// DefaultIngest is the set: batches of 1, 100 and 1,000 from one
// client and from four, 64 concurrent single-event writers, and 64 clients
// sending batches of 100.
var DefaultIngest = []IngestScenario{
	{1, 1}, {100, 1}, {1000, 1}, {100, 4}, {1000, 4}, {1, 64}, {100, 64},
}

// IngestResult is the measurement of one scenario.
type IngestResult struct {
	Scenario     string     `json:"scenario"`
	Batch        int        `json:"batch"`
	Clients      int        `json:"clients"`
	Events       int        `json:"events"`
	Seconds      float64    `json:"seconds"`
	EventsPerSec float64    `json:"eventsPerSecond"`
	P50Millis    float64    `json:"p50AckMillis"`
	P99Millis    float64    `json:"p99AckMillis"`
	Fsyncs       int64      `json:"fsyncedBatches"`
	Store        *StoreLoad `json:"store,omitempty"` // set by Ingest, which owns its store
}

// StoreLoad is what a run left its Pebble store to do, read from the
// store's metrics once the log is closed. A run of a few hundred thousand
// events ends before most compactions: their debt is work a longer run
// pays for, so a steady ingest is slower than the figure above it.
type StoreLoad struct {
	WrittenPerEvent float64 `json:"writtenBytesPerEvent"` // by flushes, ingestions and compactions, per event
	MovedBytes      uint64  `json:"movedBytes"`           // tables moved to a lower level without a rewrite
	DebtBytes       uint64  `json:"compactionDebtBytes"`  // Pebble's estimate of the compactions still owed
	L0Tables        int64   `json:"l0Tables"`
}

func storeLoad(m *pebble.Metrics, events int) *StoreLoad {
	t := m.Total()
	return &StoreLoad{
		WrittenPerEvent: float64(t.TableBytesFlushed+t.TableBytesIngested+t.TableBytesCompacted) / float64(max(events, 1)),
		MovedBytes:      t.TableBytesMoved,
		DebtBytes:       m.Compact.EstimatedDebt,
		L0Tables:        m.Levels[0].TablesCount,
	}
}

// IngestConfig configures Ingest.
type IngestConfig struct {
	Dir       string           // where the run's temporary directory goes ("" for the system's); removed after
	Events    int              // events per scenario; 0 means DefaultIngestEvents (20,000 for batch 1 with one client)
	Scenarios []IngestScenario // nil means DefaultIngest
	Progress  io.Writer        // receives a line as each scenario starts; nil for none
	// GoClient makes bench http send through the client package (Go's
	// net/http) rather than the lean load generator (loadgen.go).
	GoClient bool
}

// Ingest runs each scenario against a fresh party log on a real Pebble
// store and reports durable events per second and ack latency.
func Ingest(ctx context.Context, cfg IngestConfig) ([]IngestResult, EventShape, error) {
	if cfg.Scenarios == nil {
		cfg.Scenarios = DefaultIngest
	}
	// A fresh directory each run, under Dir if given: a store left by an
	// earlier run holds another key and other events.
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-ingest-")
	if err != nil {
		return nil, EventShape{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	most := 0
	for _, s := range cfg.Scenarios {
		most = max(most, eventsFor(cfg, s))
	}
	events := uniqueEvents(most)
	shape := measureShape(events)
	var out []IngestResult
	for i, s := range cfg.Scenarios {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "running %s ...\n", s)
		}
		r, err := ingestOne(ctx, filepath.Join(dir, strconv.Itoa(i)), s, events[:eventsFor(cfg, s)])
		if err != nil {
			return out, shape, fmt.Errorf("bench %s: %w", s, err)
		}
		out = append(out, r)
	}
	return out, shape, nil
}

// DefaultIngestEvents is how many events a scenario appends by default:
// enough for the store to flush its memtable (64 MiB, about 60,000 events)
// several times and start compacting, as it does under steady load. A run
// that fits in one memtable pays for neither and reads about 40% faster.
const DefaultIngestEvents = 250_000

func eventsFor(cfg IngestConfig, s IngestScenario) int {
	n := cfg.Events
	if n == 0 {
		n = DefaultIngestEvents
		if s.Batch == 1 && s.Clients == 1 {
			n = 20000
		}
	}
	return n / (s.Batch * s.Clients) * s.Batch * s.Clients // whole batches per client
}

// EventShape describes the events a benchmark wrote.
type EventShape struct {
	AvgJSONBytes      int `json:"avgJSONBytes"`
	AvgCanonicalBytes int `json:"avgCanonicalBytes"`
}

func measureShape(events []linkd.Event) EventShape {
	var j, c int
	n := min(len(events), 2000)
	for i := range n {
		b, _ := json.Marshal(&events[i])
		j += len(b)
		c += len(linkd.AppendCanonical(nil, &events[i]))
	}
	if n == 0 {
		return EventShape{}
	}
	return EventShape{AvgJSONBytes: j / n, AvgCanonicalBytes: c / n}
}

// uniqueEvents makes n realistic lane events with distinct ids.
func uniqueEvents(n int) []linkd.Event {
	g := scenario.NewGenerator(42, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC))
	ev := g.Batch(n)
	for i := range ev {
		ev[i].EventID = fmt.Sprintf("0190%04x-%04x-7%03x-8%03x-%012x", i>>16&0xffff, i&0xffff, i&0xfff, i>>12&0xfff, i)
	}
	return ev
}

var benchParty = scenario.Terminal

func ingestOne(ctx context.Context, dir string, s IngestScenario, events []linkd.Event) (IngestResult, error) {
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(benchParty.ID))
	if err != nil {
		return IngestResult{}, err
	}
	var res IngestResult
	err = withBenchLog(dir, skey, func(db *pebble.DB, l *partylog.Log) error {
		runtime.GC()
		per := len(events) / s.Clients
		lat := make([][]time.Duration, s.Clients)
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < s.Clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				mine := events[c*per : (c+1)*per]
				lat[c] = make([]time.Duration, 0, per/s.Batch)
				for i := 0; i+s.Batch <= len(mine); i += s.Batch {
					t0 := time.Now()
					if _, err := l.Append(ctx, mine[i:i+s.Batch]); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					lat[c] = append(lat[c], time.Since(t0))
				}
			}(c)
		}
		wg.Wait()
		// Closing writes what the log defers (its index entries), so the
		// time covers all the work of the events acknowledged.
		if err := l.Close(); err != nil {
			return err
		}
		elapsed := time.Since(start)
		if p := failed.Load(); p != nil {
			return *p
		}
		all := slices.Concat(lat...)
		slices.Sort(all)
		n := int(l.Size())
		res = IngestResult{
			Scenario: s.String(), Batch: s.Batch, Clients: s.Clients,
			Events: n, Seconds: elapsed.Seconds(), EventsPerSec: float64(n) / elapsed.Seconds(),
			P50Millis: ms(percentile(all, 50)), P99Millis: ms(percentile(all, 99)),
			Fsyncs: l.Stats().Batches.Load(),
			Store:  storeLoad(db.Metrics(), n),
		}
		return nil
	})
	return res, err
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// PrintIngest writes results as a table a person reads.
func PrintIngest(w io.Writer, results []IngestResult, shape EventShape) {
	fmt.Fprintf(w, "durable ingest into one party log: Pebble store, fsync per group commit, %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "events: DCSA-shaped lane events, %d bytes of JSON (%d canonical) on average\n\n", shape.AvgJSONBytes, shape.AvgCanonicalBytes)
	fmt.Fprintf(w, "%-24s %9s %12s %11s %11s %9s\n", "scenario", "events", "events/s", "p50 ack", "p99 ack", "fsyncs")
	for _, r := range results {
		fmt.Fprintf(w, "%-24s %9d %12.0f %8.2f ms %8.2f ms %9d\n", r.Scenario, r.Events, r.EventsPerSec, r.P50Millis, r.P99Millis, r.Fsyncs)
	}
	fmt.Fprintf(w, "\nthe store after each scenario: bytes its flushes, ingestions and compactions wrote per event,\n")
	fmt.Fprintf(w, "tables moved down without a rewrite, and the compactions still owed (work a longer run pays for)\n\n")
	fmt.Fprintf(w, "%-24s %14s %11s %13s %10s\n", "scenario", "written/event", "moved", "debt", "L0 tables")
	for _, r := range results {
		if s := r.Store; s != nil {
			fmt.Fprintf(w, "%-24s %12.0f B %8.0f MB %10.0f MB %10d\n", r.Scenario, s.WrittenPerEvent, mb(s.MovedBytes), mb(s.DebtBytes), s.L0Tables)
		}
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
