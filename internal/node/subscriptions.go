package node

import (
	"context"
	"log/slog"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/shipment"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// openSubscriptions opens the feed of every log the node holds and the
// subscriptions that read it. Deliveries start with Serve.
func (n *Node) openSubscriptions(cfg Config, party linkd.Party, logger *slog.Logger) error {
	n.feed = subscribe.NewFeed(n.logs)
	var err error
	n.subs, err = subscribe.New(subscribe.Config{
		DB: n.db, Feed: n.feed, Self: party, Logger: logger,
		Policy:  webhook.Policy{AllowPrivate: cfg.Webhooks.AllowPrivate, AllowLoopback: cfg.Webhooks.AllowLoopback, AllowHTTP: cfg.Webhooks.AllowHTTP},
		State:   n.shipmentState,
		Metrics: subscribe.NewMetrics(n.metrics.Registry()),
		Alert: func(a linkd.Alert) {
			if _, err := n.alerts.Raise(a); err != nil {
				logger.Error("could not record an alert", "kind", a.Kind, "err", err)
			}
		},
	})
	return err
}

// shipmentState derives the state of the shipment e names from every event
// the node holds about it; nil when e names none.
func (n *Node) shipmentState(ctx context.Context, e *linkd.Event) *linkd.ShipmentState {
	for _, k := range []struct {
		ix  partylog.Index
		ref string
	}{{partylog.ByBooking, e.CarrierBookingReference}, {partylog.ByTransportDocument, e.TransportDocumentReference}, {partylog.ByEquipment, e.EquipmentReference}} {
		if k.ref == "" {
			continue
		}
		var recs []linkd.Recorded
		q := partylog.Query{Index: k.ix, Value: k.ref, Limit: partylog.MaxPageSize}
		for len(recs) < maxStateEvents {
			p, err := n.logs.Scan(ctx, q)
			if err != nil {
				return nil
			}
			recs = append(recs, p.Events...)
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		st, _ := shipment.Build(k.ref, recs)
		return &st
	}
	return nil
}

// maxStateEvents bounds the events read to derive one shipment's state for
// a filter or a rule.
const maxStateEvents = 10000
