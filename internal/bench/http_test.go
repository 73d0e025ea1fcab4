package bench

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// TestHTTPIngestCountsWhatTheNodeHolds runs bench http's scenarios through
// both clients against a real node: every acknowledged event must be in the
// node's log, and the figures must count exactly those.
func TestHTTPIngestCountsWhatTheNodeHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes")
	}
	for _, goClient := range []bool{false, true} {
		res, err := HTTPIngest(context.Background(), IngestConfig{Dir: t.TempDir(), Events: 120,
			Scenarios: []IngestScenario{{Batch: 1, Clients: 4}, {Batch: 10, Clients: 3}}, GoClient: goClient})
		if err != nil {
			t.Fatalf("go client %v: %v", goClient, err)
		}
		for i, want := range []int{120, 120} {
			if r := res[i]; r.Events != want || r.EventsPerSec <= 0 || r.Fsyncs < 1 || r.Fsyncs > int64(want) {
				t.Errorf("go client %v, %s: %d events, %.0f/s, %d fsyncs; want %d events in 1..%d fsyncs",
					goClient, r.Scenario, r.Events, r.EventsPerSec, r.Fsyncs, want, want)
			}
		}
	}
}

// TestCheckAcks: the load generator counts an answer only if it
// acknowledges every event of its request as new.
func TestCheckAcks(t *testing.T) {
	ack := `{"eventID":"e1","logIndex":4,"leafHash":"h"}`
	for _, tc := range []struct {
		status int
		body   string
		want   string // "" for no error, else part of it
	}{
		{201, `{"acks":[` + ack + `,` + ack + `],"size":6}`, ""},
		{200, `{"acks":[` + ack + `,` + ack + `],"size":6}`, ""},
		{201, `{"acks":[` + ack + `],"size":5}`, "acknowledged 1 events of 2"},
		{201, `{"acks":[` + ack + `,{"eventID":"e2","logIndex":5,"leafHash":"h","duplicate":true}],"size":6}`, "duplicate"},
		{400, `{"code":"invalid","message":"events[0].eventType: missing"}`, "status 400"},
		{503, ``, "status 503"},
	} {
		err := checkAcks(tc.status, []byte(tc.body), 2)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%d %s: %v; want no error", tc.status, tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%d %s: %v; want an error about %q", tc.status, tc.body, err, tc.want)
		}
	}
}

// TestShipmentTimesQueries runs bench shipment on a small node: every
// query finds a timeline of about 40 events, the figures are ordered, the
// server's CPU time per query (where measured) is within its time, and a
// second run on the same directory opens the events the first stored.
func TestShipmentTimesQueries(t *testing.T) {
	dir := t.TempDir()
	res, err := Shipment(context.Background(), ShipmentConfig{Dir: dir, Events: 2000, Queries: 60})
	if err != nil {
		t.Fatal(err)
	}
	// The node opened empty; a second run reuses it, opening its events.
	again, err := Shipment(context.Background(), ShipmentConfig{Dir: dir, Events: 2000, Queries: 5, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.OpenEvents != 0 || again.OpenEvents != 2000 || !(res.OpenSeconds > 0 && again.OpenSeconds > 0) || again.LoadEventsPerS != 0 {
		t.Fatalf("opened with %d then %d events stored (%.3f, %.3f s), the second loading at %.0f events/s; want 0 then 2000, no load",
			res.OpenEvents, again.OpenEvents, res.OpenSeconds, again.OpenSeconds, again.LoadEventsPerS)
	}
	if res.Events != 2000 || res.Queries != 60 || res.Warmup != 500 || res.AvgTimeline < 30 || res.AvgTimeline > 50 {
		t.Fatalf("%d events, %d queries after %d to warm up, %.1f events a timeline; want 2000, 60 after 500, and about 40",
			res.Events, res.Queries, res.Warmup, res.AvgTimeline)
	}
	if !(0 < res.ServerP50 && res.ServerP50 <= res.ServerP99 && res.ServerP99 <= res.ServerMax) ||
		!(0 < res.LoopbackP50 && res.LoopbackP50 <= res.LoopbackP99) {
		t.Fatalf("latencies out of order: %+v", res)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// A query's CPU time is at most its wall time, so each order statistic
	// is too (with a little room for the two clocks' reads).
	const slack = 0.05
	if !(0 < res.ServerCPUP50 && res.ServerCPUP50 <= res.ServerCPUP99) ||
		res.ServerCPUP50 > res.ServerP50+slack || res.ServerCPUP99 > res.ServerP99+slack {
		t.Fatalf("server CPU per query p50 %.3f p99 %.3f ms against wall p50 %.3f p99 %.3f: want 0 < cpu ≤ wall",
			res.ServerCPUP50, res.ServerCPUP99, res.ServerP50, res.ServerP99)
	}
}
