package bench

import (
	"context"
	"testing"
)

// TestWebhooksDeliverEverything records events on a node with webhook
// subscriptions to local receivers: every delivery the filters call for
// must arrive once with a valid signature, and nothing else.
func TestWebhooksDeliverEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and receivers")
	}
	for _, tc := range []struct {
		name     string
		matchAll bool
		want     int64
	}{
		{"one booking each", false, 50},
		{"all match", true, 20 * 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Webhooks(context.Background(), WebhooksConfig{Dir: t.TempDir(), Subs: 20, Events: 50, MatchAll: tc.matchAll, Receivers: 2, Batch: 10})
			if err != nil {
				t.Fatal(err)
			}
			if res.Events != 50 {
				t.Fatalf("events recorded: got %d, want 50 (the generator repeated one)", res.Events)
			}
			if res.Expected != tc.want || res.Delivered != tc.want {
				t.Errorf("deliveries: expected %d, delivered %d; want %d", res.Expected, res.Delivered, tc.want)
			}
			if res.Missing != 0 || res.Invalid != 0 || res.Unexpected != 0 {
				t.Errorf("missing %d, invalid signatures %d, unexpected %d; want none", res.Missing, res.Invalid, res.Unexpected)
			}
			if res.Latency.N != int(tc.want) {
				t.Errorf("latencies: got %d, want one per delivery (%d)", res.Latency.N, tc.want)
			}
		})
	}
}
