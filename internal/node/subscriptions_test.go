package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// TestPartnersEventsReachAWatcher: a stream on one node delivers an event a
// partner recorded, once it is replicated and verified, with the partner's
// log position; a default node refuses a webhook into its own network.
func TestPartnersEventsReachAWatcher(t *testing.T) {
	terminal, fwd := start(t, party), start(t, forwarding)
	pair(t, terminal, fwd)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan subscribe.Message, 4)
	watchErr := make(chan error, 1)
	go func() {
		q := url.Values{"shipmentEventTypeCodes": {"HOLD"}, "from": {"start"}}
		watchErr <- fwd.c.Watch(ctx, q, "", func(id string, m subscribe.Message) error {
			if id == "" {
				return errors.New("a message without an id cannot be resumed from")
			}
			got <- m
			return nil
		})
	}()

	open := booking("OCLVNHAM0000077", party, forwarding)
	hold := booking("OCLVNHAM0000077")
	hold.ShipmentEventTypeCode, hold.DocumentTypeCode, hold.Reason = "HOLD", "CUS", "customs inspection"
	ids := terminal.record(t, open, hold)

	select {
	case m := <-got:
		if m.Event.EventID != ids[1] || m.Position.Origin != party.ID || m.Position.Index != 1 {
			t.Fatalf("watcher got %s at %s #%d, want the HOLD %s at %s #1", m.Event.EventID, m.Position.Origin, m.Position.Index, ids[1], party.ID)
		}
		if m.Checkpoint.Size < 2 {
			t.Errorf("the delivery's checkpoint (size %d) does not cover its position", m.Checkpoint.Size)
		}
	case err := <-watchErr:
		t.Fatalf("watch ended: %v", err)
	case <-ctx.Done():
		t.Fatal("the partner's HOLD never reached the watcher")
	}

	_, err := fwd.c.CreateSubscription(context.Background(), subscribe.Request{Delivery: subscribe.Webhook, URL: "https://127.0.0.1:9999/hook"})
	if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "allow_loopback") {
		t.Errorf("a webhook to loopback on a default node: %v, want invalid naming webhooks.allow_loopback", err)
	}
}

// TestNodeServesItsDashboard: every node serves the dashboard of its own
// party, offline (no remote origin allowed by its policy).
func TestNodeServesItsDashboard(t *testing.T) {
	m := start(t, forwarding)
	resp, err := m.http.Get(m.r.url + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /dashboard/: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("dashboard CSP %q does not keep the page to its own origin", csp)
	}
	var cfg struct {
		Mode  string `json:"mode"`
		Nodes []struct {
			Party linkd.Party `json:"party"`
		} `json:"nodes"`
	}
	cresp, err := m.http.Get(m.r.url + "/dashboard/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer cresp.Body.Close()
	if err := json.NewDecoder(cresp.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != "node" || len(cfg.Nodes) != 1 || cfg.Nodes[0].Party.ID != forwarding.ID {
		t.Errorf("dashboard config %+v, want node mode for %s", cfg, forwarding.ID)
	}
}
