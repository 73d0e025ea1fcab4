package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/allocation"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/rules"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// reactor follows every event the node holds, local and replicated: it
// keeps the allocation book and runs the rules, recording what they decide
// on the node's own log. Its position is durable: after a crash it takes up
// the events it had not finished, and because a rule's events have ids
// derived from the rule and its trigger, deciding again records nothing
// twice.
type reactor struct {
	n      *Node
	feed   *subscribe.Feed
	book   *allocation.Book
	logger *slog.Logger

	mu        sync.RWMutex
	engine    *rules.Engine // guarded by mu; nil: no rules
	withState bool          // guarded by mu; some rule's expression reads the shipment
	edit      sync.Mutex    // serialises changes by the API
	fileRules []rules.Rule  // from the rules file, fixed at start

	secrets map[string][]webhook.Secret // rule webhook secrets by name
	sender  webhook.Sender

	cancel context.CancelFunc
	calls  sync.WaitGroup // rule webhooks being delivered
	done   chan struct{}
}

// reactorCursorKey holds the reactor's durable position in the feed.
var reactorCursorKey = []byte("Urules\x00")

// openReactor builds the allocation book from the held events and loads the
// rule file; Start begins following the feed.
func (n *Node) openReactor(cfg Config, party linkd.Party, logger *slog.Logger) error {
	r := &reactor{n: n, feed: n.feed, book: allocation.New(), logger: logger.With("component", "rules"), secrets: map[string][]webhook.Secret{}}
	for name, s := range cfg.Webhooks.Secrets {
		sec, err := webhook.ParseSecret(s)
		if err != nil {
			return fmt.Errorf("webhooks.secrets.%s: %w", name, err)
		}
		r.secrets[name] = []webhook.Secret{sec}
	}
	r.sender = webhook.NewClient(webhook.Options{Policy: cfg.Webhooks.Policy()})
	var list []rules.Rule
	if cfg.Rules != "" {
		var err error
		if list, err = rules.LoadFile(cfg.Path(cfg.Rules)); err != nil {
			return err
		}
	}
	r.fileRules = list
	n.reactor = r
	return r.reload()
}

// setRules replaces the rules the reactor runs.
func (r *reactor) setRules(party linkd.Party, list []rules.Rule) error {
	var en *rules.Engine
	if len(list) > 0 {
		var err error
		if en, err = rules.New(party, list, r.book); err != nil {
			return err
		}
	}
	withState := slices.ContainsFunc(list, func(rl rules.Rule) bool { return rl.When.ReadsShipment() })
	r.mu.Lock()
	r.engine, r.withState = en, withState
	r.mu.Unlock()
	if len(list) > 0 {
		r.logger.Info("rules loaded", "rules", len(list))
	}
	return nil
}

// fill applies every held event the book keeps (INVENTORY, HOLD, RELS),
// found through the type index rather than a scan of every log.
func (r *reactor) fill(ctx context.Context) error {
	values := []string{"SHIPMENT/HOLD", "SHIPMENT/RELS"}
	for code := range linkd.InventoryEventCodes {
		values = append(values, "INVENTORY/"+code)
	}
	slices.Sort(values)
	for _, v := range values {
		recs, _, err := partylog.Collect(ctx, r.n.logs, partylog.Query{Index: partylog.ByTypeCode, Value: v}, 0)
		if err != nil {
			return err
		}
		for i := range recs {
			r.book.Apply(&recs[i].Event)
		}
	}
	return nil
}

func (r *reactor) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
}

func (r *reactor) close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.calls.Wait() // they end with the context; none outlives the store
	}
}

func (r *reactor) cursor() (subscribe.Cursor, error) {
	v, closer, err := r.n.db.Get(reactorCursorKey)
	if errors.Is(err, pebble.ErrNotFound) {
		// First start: rules apply to what comes from now on.
		return r.feed.Head(), nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return subscribe.DecodeCursor(string(v))
}

func (r *reactor) run(ctx context.Context) {
	// The book is filled here, not at open: the replicas of the partners'
	// logs are open only once the links have started.
	if err := r.fill(ctx); err != nil {
		r.logger.Error("allocation book incomplete", "err", err)
	}
	cur, err := r.cursor()
	if err != nil {
		r.logger.Error("rules position unreadable; rules do not run", "err", err)
		return
	}
	r.feed.Follow(ctx, cur, func(it subscribe.Item) error { return r.react(ctx, it) }, func(c subscribe.Cursor) error {
		return r.n.db.Set(reactorCursorKey, []byte(c.Encode()), pebble.NoSync)
	}, r.logger)
}

// react applies one event to the book and runs the rules on it. An error
// leaves the reactor's position at the event, to be tried again.
func (r *reactor) react(ctx context.Context, it subscribe.Item) error {
	e := it.Event
	r.book.Apply(e)
	r.mu.RLock()
	en, withState := r.engine, r.withState
	r.mu.RUnlock()
	if en == nil {
		return nil
	}
	// The shipment's state costs a timeline read: only for rules that
	// read it.
	var state *linkd.ShipmentState
	if withState {
		state = r.n.shipmentStateUpTo(ctx, &linkd.Recorded{Event: *e, LogIndex: it.Index})
	}
	decisions, err := en.Decide(e, state)
	if err != nil {
		// A rule that fails on one event is skipped for it, the others
		// still act: say so, and go on.
		r.logger.Warn("a rule failed on an event", "event_id", e.EventID, "err", err)
	}
	for _, d := range decisions {
		if len(d.Events) > 0 {
			evs := slices.Clone(d.Events)
			for i := range evs {
				address(&evs[i], e)
			}
			start := time.Now()
			if _, err := r.n.ingest(ctx, evs); err != nil {
				if linkd.ErrorCode(err) == linkd.EInvalid || linkd.ErrorCode(err) == linkd.EForbidden {
					r.logger.Error("a rule's events were refused; not retried", "rule", d.RuleID, "event_id", e.EventID, "err", err)
					continue
				}
				return fmt.Errorf("record what rule %s decided: %w", d.RuleID, err)
			}
			// The book learns them from the feed, stamped and sequenced as
			// recorded: applying them here, unstamped, would order them
			// before what caused them.
			r.logger.Info("rule acted", "rule", d.RuleID, "trigger", e.EventID, "recorded", len(evs), "took", time.Since(start))
		}
		for _, w := range d.Webhooks {
			r.callWebhook(ctx, w, it)
		}
	}
	return nil
}

// address names who a rule's INVENTORY event concerns: the centres it moves
// an order between join the shipment's party list, and it keeps the
// trigger's residency unless the rule gave one.
func address(e *linkd.Event, trigger *linkd.Event) {
	if inv := e.Inventory; inv != nil {
		for _, f := range []string{inv.Facility, inv.FromFacility} {
			if f != "" && !slices.ContainsFunc(e.Parties, func(p linkd.ShipmentParty) bool { return p.Party == f }) {
				e.Parties = append(e.Parties, linkd.ShipmentParty{Party: f, Role: linkd.RoleWarehouse})
			}
		}
	}
	if len(e.Residency) == 0 {
		e.Residency = slices.Clone(trigger.Residency)
	}
}

// callWebhook delivers a rule's webhook in the background, at least once
// while the node runs; its failure is an alert.
func (r *reactor) callWebhook(ctx context.Context, w rules.WebhookCall, it subscribe.Item) {
	secrets, ok := r.secrets[w.Secret]
	if !ok {
		r.logger.Error("a rule names a webhook secret the configuration lacks", "rule", w.RuleID, "secret", w.Secret)
		return
	}
	body, err := subscribe.MarshalMessage(w.RuleID, it)
	if err != nil {
		return
	}
	r.calls.Add(1)
	go func() {
		defer r.calls.Done()
		out := webhook.Deliver(ctx, r.sender, webhook.Request{URL: w.URL, ID: w.ID, Body: body, Secrets: secrets}, webhook.Schedule{}, nil)
		if out.Dead {
			r.n.alerts.Raise(linkd.Alert{Kind: linkd.AlertDeliveryFailed, Severity: linkd.SeverityWarning,
				Message: fmt.Sprintf("rule %s could not call its webhook for event %s: %s", w.RuleID, w.EventID, out.Message)})
		}
	}()
}

// Allocations is the node's derived allocation state.
func (n *Node) Allocations() allocation.View { return n.reactor.book.Snapshot() }
