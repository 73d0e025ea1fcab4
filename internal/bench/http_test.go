package bench

import (
	"context"
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
