package node

import (
	"context"
	"log/slog"
	"slices"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/shipment"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// openSubscriptions opens the feed of every log the node holds and the
// subscriptions that read it. Deliveries start with Serve.
func (n *Node) openSubscriptions(cfg Config, party linkd.Party, logger *slog.Logger) error {
	n.feed = subscribe.NewFeed(n.logs)
	if n.links != nil {
		// The senders keep the newest entries in memory too; an erasure
		// (which makes the documents service call Forget) drops them.
		n.feed.OnForget(n.links.Forget)
	}
	if n.cluster != nil {
		// A member's Raft log and snapshots hold appended events in the
		// clear until compacted; an erasure compacts them.
		n.feed.OnForget(n.cluster.Forget)
	}
	var err error
	n.subs, err = subscribe.New(subscribe.Config{
		DB: n.db, Feed: n.feed, Self: party, Logger: logger,
		Policy:  cfg.Webhooks.Policy(),
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
	return n.deriveState(ctx, e, nil)
}

// shipmentStateUpTo is the state from the events that come no later than
// trigger in timeline order (shipment.CompareRecorded): the state a rule
// sees is then the one a replay of the history sees.
func (n *Node) shipmentStateUpTo(ctx context.Context, trigger *linkd.Recorded) *linkd.ShipmentState {
	return n.deriveState(ctx, &trigger.Event, trigger)
}

func (n *Node) deriveState(ctx context.Context, e *linkd.Event, upTo *linkd.Recorded) *linkd.ShipmentState {
	for _, k := range []struct {
		ix  partylog.Index
		ref string
	}{{partylog.ByBooking, e.CarrierBookingReference}, {partylog.ByTransportDocument, e.TransportDocumentReference}, {partylog.ByEquipment, e.EquipmentReference}} {
		if k.ref == "" {
			continue
		}
		recs, _, err := partylog.Collect(ctx, n.logs, partylog.Query{Index: k.ix, Value: k.ref}, maxStateEvents)
		if err != nil {
			return nil
		}
		if upTo != nil {
			recs = slices.DeleteFunc(recs, func(r linkd.Recorded) bool { return shipment.CompareRecorded(&r, upTo) > 0 })
		}
		st, _ := shipment.Build(k.ref, recs)
		return &st
	}
	return nil
}

// maxStateEvents bounds the events read to derive one shipment's state for
// a filter or a rule.
const maxStateEvents = 10000
