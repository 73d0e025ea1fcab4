// Package subscribe delivers the node's events to the people and systems
// that asked for them: subscriptions with DCSA-style field filters and CEL
// expressions, delivered as Server-Sent Events streams or as signed webhooks.
//
// Every event the node holds, its own and its partners' alike, enters the
// feed (Feed). Each webhook subscription has a durable cursor into it and
// one goroutine that delivers the matching events in log order, at least
// once: a delivery is retried with backoff until the receiver takes it or
// the retry horizon passes, when it goes to the subscription's dead letters
// and an alert is raised. A receiver that fails holds up only its own
// subscription.
//
// A webhook's body is JSON, or for partners who want EDI an IFTSTA or X12
// 315 interchange (see internal/edi), signed the same way; events the
// format cannot express are skipped and counted. Streams are JSON.
package subscribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// Config configures a Manager.
type Config struct {
	DB     *pebble.DB
	Feed   *Feed
	Self   linkd.Party
	Logger *slog.Logger

	// Policy says which webhook destinations are allowed (default: public
	// addresses over HTTPS only).
	Policy webhook.Policy
	// Client sends webhook attempts; nil means webhook.NewClient(Policy).
	Client webhook.Sender
	// Schedule is the retry schedule; zero fields take webhook's defaults.
	Schedule webhook.Schedule
	// Overlap is how long a rotated-out secret still signs; 0 means 24 h.
	Overlap time.Duration
	// MaxSubscriptions bounds how many subscriptions the node keeps; 0
	// means 10,000. MaxPerOwner bounds those of one token; 0 means 1,000.
	MaxSubscriptions, MaxPerOwner int
	// MaxStreams bounds the streams open at once; 0 means 256.
	MaxStreams int

	// State returns the derived state of the shipment an event is about, for
	// filters whose expression reads `shipment`; nil means none.
	State func(ctx context.Context, e *linkd.Event) *linkd.ShipmentState
	// Alert is called when deliveries are dead-lettered; nil means none.
	Alert func(linkd.Alert)
	// Metrics counts deliveries; nil means none.
	Metrics *Metrics
}

// Manager keeps the node's subscriptions and runs their deliveries.
type Manager struct {
	cfg   Config
	st    store
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	deadN uint64

	create sync.Mutex        // serialises Create and Delete, so the limits hold
	owners map[string]string // owner of every stored subscription, by id; guarded by create

	mu      sync.Mutex
	running map[string]*worker // webhook deliverers by subscription id; guarded by mu
	streams int                // open streams; guarded by mu
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
	status *Status
}

// Status is how a webhook subscription's deliveries are going.
type Status struct {
	mu        sync.Mutex
	Delivered int64     `json:"delivered"`
	Failed    int64     `json:"failedAttempts"`
	Dead      int64     `json:"deadLettered"`
	LastError string    `json:"lastError,omitempty"`
	LastOK    time.Time `json:"lastDelivered,omitzero"`
	Pending   string    `json:"retrying,omitempty"` // the event being retried
	Skipped   int64     `json:"skipped,omitempty"`  // events the format cannot express
}

// New opens the subscriptions in cfg.DB. Start begins delivering.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = 24 * time.Hour
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = 10000
	}
	if cfg.MaxPerOwner == 0 {
		cfg.MaxPerOwner = 1000
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 256
	}
	if cfg.Client == nil {
		cfg.Client = webhook.NewClient(webhook.Options{Policy: cfg.Policy})
	}
	m := &Manager{cfg: cfg, st: store{cfg.DB}, log: cfg.Logger.With("component", "subscribe"), running: map[string]*worker{}, owners: map[string]string{}}
	if cfg.DB != nil {
		subs, err := m.st.list()
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			m.owners[s.ID] = s.Owner
		}
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	m.deadN = uint64(time.Now().UnixNano())
	return m, nil
}

// Start begins delivering every active webhook subscription.
func (m *Manager) Start() error {
	subs, err := m.st.list()
	if err != nil {
		return err
	}
	for _, s := range subs {
		if s.Delivery == Webhook && !s.Paused {
			if err := m.startWorker(s); err != nil {
				m.log.Error("subscription cannot start", "subscription", s.ID, "err", err)
			}
		}
	}
	return nil
}

// Close stops every delivery; cursors keep where each got.
func (m *Manager) Close() {
	m.stop()
	m.wg.Wait()
}

// Request is what a client asks for when it creates a subscription.
type Request struct {
	Name     string      `json:"name,omitempty"`
	Filter   expr.Filter `json:"filter"`
	Delivery string      `json:"delivery"`         // stream or webhook
	URL      string      `json:"url,omitempty"`    // webhook callback
	Secret   string      `json:"secret,omitempty"` // whsec_…; "" lets the node make one
	From     string      `json:"from,omitempty"`   // "start": every event held; "" or "now": only new ones
	// Format is a webhook's body: json (or ""), iftsta or x12-315. EDI
	// formats need EDIRecipient, the partner's interchange id (UNB 0010,
	// ISA08); EDISender is this node's ("" means its party id in capitals).
	Format       string `json:"format,omitempty"`
	EDISender    string `json:"ediSender,omitempty"`
	EDIRecipient string `json:"ediRecipient,omitempty"`
}

// Created is the answer to a creation: the subscription and, for webhooks,
// its signing secret, shown this once.
type Created struct {
	Subscription View   `json:"subscription"`
	Secret       string `json:"secret,omitempty"`
}

// View is a subscription as its owner sees it: no secrets.
type View struct {
	ID       string      `json:"id"`
	Name     string      `json:"name,omitempty"`
	Owner    string      `json:"owner"`
	Filter   expr.Filter `json:"filter"`
	Delivery string      `json:"delivery"`
	URL      string      `json:"url,omitempty"`
	Paused   bool        `json:"paused"`
	Created  time.Time   `json:"created"`
	Status   *StatusView `json:"status,omitempty"`
	// Format is what the deliveries carry: json, iftsta or x12-315, from
	// EDISender to EDIRecipient for the EDI formats.
	Format       string `json:"format"`
	EDISender    string `json:"ediSender,omitempty"`
	EDIRecipient string `json:"ediRecipient,omitempty"`
}

// StatusView is a snapshot of Status.
type StatusView struct {
	Delivered int64     `json:"delivered"`
	Failed    int64     `json:"failedAttempts"`
	Dead      int64     `json:"deadLettered"`
	LastError string    `json:"lastError,omitempty"`
	LastOK    time.Time `json:"lastDelivered,omitzero"`
	Retrying  string    `json:"retrying,omitempty"`
	Lag       int64     `json:"lag"`               // entries of the feed not yet passed
	Skipped   int64     `json:"skipped,omitempty"` // matching events the subscription's EDI format cannot express
}

// Create validates r and stores a new subscription owned by owner.
func (m *Manager) Create(ctx context.Context, owner string, r Request) (Created, error) {
	var probs []linkd.Problem
	add := func(f, why string) { probs = append(probs, linkd.Problem{Field: f, Reason: why}) }
	if len(r.Name) > 200 {
		add("name", "longer than 200 characters")
	}
	if err := r.Filter.Validate(); err != nil {
		return Created{}, err
	}
	if _, err := expr.CompileFilter(r.Filter); err != nil {
		return Created{}, err
	}
	switch r.From {
	case "", "now", "start":
	default:
		add("from", fmt.Sprintf("%q: want now or start", clip(r.From)))
	}
	sub := &Subscription{ID: newID(), Name: r.Name, Owner: owner, Filter: r.Filter, Delivery: r.Delivery, Created: time.Now().UTC()}
	for _, p := range m.checkFormat(r, sub) {
		add(p.Field, p.Reason)
	}
	var secret string
	switch r.Delivery {
	case Stream:
		if r.URL != "" || r.Secret != "" {
			add("url", "a stream subscription has no callback; use delivery webhook")
		}
	case Webhook:
		if r.URL == "" {
			add("url", "required for a webhook: the https URL to POST events to")
		} else if err := webhook.CheckURL(r.URL, m.cfg.Policy); err != nil {
			add("url", reason(err))
		}
		secret = r.Secret
		if secret == "" {
			s, err := webhook.NewSecret()
			if err != nil {
				return Created{}, err
			}
			secret = s
		} else if _, err := webhook.ParseSecret(secret); err != nil {
			add("secret", reason(err))
		}
		sub.URL = r.URL
		sub.Secrets = []SigningSecret{{Secret: secret}}
	case "":
		add("delivery", "required: stream or webhook")
	default:
		add("delivery", fmt.Sprintf("%q: want stream or webhook", clip(r.Delivery)))
	}
	if len(probs) > 0 {
		return Created{}, &linkd.ValidationError{Problems: probs}
	}
	m.create.Lock()
	defer m.create.Unlock()
	if len(m.owners) >= m.cfg.MaxSubscriptions {
		return Created{}, linkd.Errorf(linkd.EConflict, "the node keeps at most %d subscriptions; delete some first", m.cfg.MaxSubscriptions)
	}
	mine := 0
	for _, o := range m.owners {
		if o == owner {
			mine++
		}
	}
	if mine >= m.cfg.MaxPerOwner {
		return Created{}, linkd.Errorf(linkd.EConflict, "token %s has %d subscriptions, the most one token may have; delete some first", owner, mine)
	}
	cur := m.cfg.Feed.Head()
	if r.From == "start" {
		cur = Cursor{}
	}
	if err := m.st.put(sub, cur, true); err != nil {
		return Created{}, err
	}
	m.owners[sub.ID] = owner
	m.log.Info("subscription created", "subscription", sub.ID, "owner", owner, "delivery", sub.Delivery)
	if sub.Delivery == Webhook {
		if err := m.startWorker(sub); err != nil {
			return Created{}, err
		}
	}
	return Created{Subscription: m.view(sub), Secret: secret}, nil
}

// Caller is who asks: a token id, and whether it may see every
// subscription (an admin).
type Caller struct {
	ID    string
	Admin bool
}

// Get returns a subscription its owner (or an admin) may see; others get
// not_found, as if it did not exist.
func (m *Manager) Get(c Caller, id string) (*Subscription, error) {
	sub, err := m.st.get(id)
	if err != nil {
		return nil, err
	}
	if sub.Owner != c.ID && !c.Admin {
		return nil, linkd.Errorf(linkd.ENotFound, "no subscription %s", clip(id))
	}
	return sub, nil
}

// View returns what the owner sees of sub.
func (m *Manager) View(sub *Subscription) View { return m.view(sub) }

func (m *Manager) view(sub *Subscription) View {
	v := View{ID: sub.ID, Name: sub.Name, Owner: sub.Owner, Filter: sub.Filter, Delivery: sub.Delivery, URL: sub.URL, Paused: sub.Paused, Created: sub.Created,
		Format: FormatJSON, EDISender: sub.EDISender, EDIRecipient: sub.EDIRecipient}
	if sub.Format != "" {
		v.Format = sub.Format
	}
	if sub.Delivery == Webhook {
		sv := &StatusView{}
		m.mu.Lock()
		w := m.running[sub.ID]
		m.mu.Unlock()
		if w != nil {
			w.status.mu.Lock()
			sv.Delivered, sv.Failed, sv.Dead, sv.LastError, sv.LastOK, sv.Retrying = w.status.Delivered, w.status.Failed, w.status.Dead, w.status.LastError, w.status.LastOK, w.status.Pending
			sv.Skipped = w.status.Skipped
			w.status.mu.Unlock()
		}
		if cur, err := m.st.cursor(sub.ID); err == nil {
			sv.Lag = m.lag(cur)
		}
		v.Status = sv
	}
	return v
}

func (m *Manager) lag(cur Cursor) int64 {
	var n int64
	for p, size := range m.cfg.Feed.Head() {
		if d := size - cur[p]; d > 0 {
			n += d
		}
	}
	return n
}

// List returns the subscriptions the caller may see.
func (m *Manager) List(c Caller) ([]View, error) {
	subs, err := m.st.list()
	if err != nil {
		return nil, err
	}
	out := []View{}
	for _, s := range subs {
		if s.Owner == c.ID || c.Admin {
			out = append(out, m.view(s))
		}
	}
	return out, nil
}

// SetPaused pauses or resumes a subscription. A paused webhook keeps its
// cursor: on resume it delivers what it missed.
func (m *Manager) SetPaused(c Caller, id string, paused bool) (View, error) {
	sub, err := m.Get(c, id)
	if err != nil {
		return View{}, err
	}
	if sub.Paused != paused {
		sub.Paused = paused
		if err := m.st.put(sub, nil, true); err != nil {
			return View{}, err
		}
		if sub.Delivery == Webhook {
			if paused {
				m.stopWorker(id)
			} else if err := m.startWorker(sub); err != nil {
				return View{}, err
			}
		}
		m.log.Info("subscription paused", "subscription", id, "paused", paused)
	}
	return m.view(sub), nil
}

// Delete removes a subscription, its cursor and its dead letters.
func (m *Manager) Delete(c Caller, id string) error {
	if _, err := m.Get(c, id); err != nil {
		return err
	}
	m.stopWorker(id)
	m.create.Lock()
	defer m.create.Unlock()
	if err := m.st.delete(id); err != nil {
		return err
	}
	delete(m.owners, id)
	m.log.Info("subscription deleted", "subscription", id)
	return nil
}

// RotateSecret gives a webhook subscription a new secret (made by the node
// when secret is "") and keeps the old one signing for the overlap, so the
// receiver can switch without missing a delivery.
func (m *Manager) RotateSecret(c Caller, id, secret string) (string, error) {
	sub, err := m.Get(c, id)
	if err != nil {
		return "", err
	}
	if sub.Delivery != Webhook {
		return "", linkd.Errorf(linkd.EInvalid, "subscription %s is a stream; only webhooks have secrets", id)
	}
	if secret == "" {
		if secret, err = webhook.NewSecret(); err != nil {
			return "", err
		}
	} else if _, err := webhook.ParseSecret(secret); err != nil {
		return "", &linkd.ValidationError{Problems: []linkd.Problem{{Field: "secret", Reason: err.Error()}}}
	}
	now := time.Now().UTC()
	keep := []SigningSecret{{Secret: secret}}
	for i, s := range sub.Secrets {
		if i == 0 {
			s.Expires = now.Add(m.cfg.Overlap)
		}
		if s.Expires.After(now) {
			keep = append(keep, s)
		}
	}
	sub.Secrets = keep
	if err := m.st.put(sub, nil, true); err != nil {
		return "", err
	}
	if !sub.Paused {
		m.stopWorker(id)
		if err := m.startWorker(sub); err != nil {
			return "", err
		}
	}
	m.log.Info("subscription secret rotated", "subscription", id, "overlap", m.cfg.Overlap)
	return secret, nil
}

// StartOf is where a stream subscription's readers begin when they name no
// position: the head of the feed when it was created (or the beginning,
// created with from start).
func (m *Manager) StartOf(id string) (Cursor, error) { return m.st.cursor(id) }

// DeadLetters returns the newest dead letters of a subscription.
func (m *Manager) DeadLetters(c Caller, id string, limit int) ([]DeadLetter, error) {
	if _, err := m.Get(c, id); err != nil {
		return nil, err
	}
	return m.st.dead(id, limit)
}

// Message is the body of a delivery, on webhooks and streams alike.
type Message struct {
	SubscriptionID string       `json:"subscriptionID,omitempty"`
	Event          *linkd.Event `json:"event"`
	Position       Position     `json:"position"`
	Checkpoint     Checkpoint   `json:"checkpoint"`
}

// Position is an event's place in its origin's log.
type Position struct {
	Origin string `json:"origin"`
	Index  int64  `json:"index"`
}

// MarshalMessage is the JSON body delivering it, for senders outside the
// package (a rule's webhook).
func MarshalMessage(subID string, it Item) ([]byte, error) { return json.Marshal(message(subID, it)) }

func message(subID string, it Item) Message {
	return Message{SubscriptionID: subID, Event: it.Event, Position: Position{Origin: it.Party, Index: it.Index}, Checkpoint: it.Checkpoint}
}

// input builds the expression input of an item, with its shipment's state
// when some matcher reads it.
func (m *Manager) input(ctx context.Context, it Item, withState bool) *expr.Input {
	var st *linkd.ShipmentState
	if withState && m.cfg.State != nil {
		st = m.cfg.State(ctx, it.Event)
	}
	return expr.NewInput(it.Event, st)
}

func (m *Manager) startWorker(sub *Subscription) error {
	matcher, err := expr.CompileFilter(sub.Filter)
	if err != nil {
		return err
	}
	var secrets []webhook.Secret
	now := time.Now()
	for _, s := range sub.Secrets {
		if !s.Expires.IsZero() && s.Expires.Before(now) {
			continue
		}
		sec, err := webhook.ParseSecret(s.Secret)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", sub.ID, err)
		}
		secrets = append(secrets, sec)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return linkd.Errorf(linkd.EUnavailable, "the node is shutting down")
	}
	if _, ok := m.running[sub.ID]; ok {
		return nil
	}
	ctx, cancel := context.WithCancel(m.ctx)
	w := &worker{cancel: cancel, done: make(chan struct{}), status: &Status{}}
	m.running[sub.ID] = w
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(w.done)
		m.deliver(ctx, sub, matcher, secrets, w.status)
	}()
	return nil
}

func (m *Manager) stopWorker(id string) {
	m.mu.Lock()
	w := m.running[id]
	delete(m.running, id)
	m.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// readBatch bounds the entries a deliverer reads from the feed at once.
const readBatch = 256

// deliver runs one webhook subscription until ctx ends.
func (m *Manager) deliver(ctx context.Context, sub *Subscription, matcher *expr.Matcher, secrets []webhook.Secret, st *Status) {
	log := m.log.With("subscription", sub.ID)
	cur, err := m.st.cursor(sub.ID)
	if err != nil {
		log.Error("subscription cursor unreadable; not delivering", "err", err)
		return
	}
	withState := sub.Filter.ReadsShipment()
	m.cfg.Feed.Follow(ctx, cur, func(it Item) error {
		ok, err := matcher.Match(m.input(ctx, it, withState))
		if err != nil {
			// An expression that fails on one event (a missing field,
			// the cost limit) does not match it; say so once per event.
			log.Warn("filter failed on an event; not delivered", "event_id", it.Event.EventID, "err", err)
			return nil
		}
		if !ok {
			return nil
		}
		return m.deliverOne(ctx, sub, secrets, st, it)
	}, func(c Cursor) error { return m.st.saveCursor(sub.ID, c) }, log)
}

// deliverOne delivers one event, with retries, or dead-letters it. It
// returns an error only when ctx ended, leaving the cursor at the event.
func (m *Manager) deliverOne(ctx context.Context, sub *Subscription, secrets []webhook.Secret, st *Status, it Item) error {
	id := "evt_" + it.Party + "_" + strconv.FormatInt(it.Index, 10) + "_" + sub.ID
	body, contentType, err := m.body(sub, id, it)
	if err != nil {
		return err
	}
	if body == nil {
		// The format cannot express this event (an INVENTORY event as
		// IFTSTA): nothing to deliver, and the cursor moves on.
		st.mu.Lock()
		st.Skipped++
		st.mu.Unlock()
		m.log.Debug("event not expressible in the subscription's format; skipped", "subscription", sub.ID, "event_id", it.Event.EventID, "format", sub.Format)
		return nil
	}
	req := webhook.Request{URL: sub.URL, ID: id, Body: body, ContentType: contentType, Secrets: secrets,
		Header: map[string][]string{"Subscription-Id": {sub.ID}}}
	st.mu.Lock()
	st.Pending = it.Event.EventID
	st.mu.Unlock()
	start := time.Now()
	out := webhook.Deliver(ctx, m.cfg.Client, req, m.cfg.Schedule, func(r webhook.Result) {
		if !r.OK {
			st.mu.Lock()
			st.Failed++
			st.LastError = r.Message
			st.mu.Unlock()
			m.cfg.Metrics.attempt(false)
		} else {
			m.cfg.Metrics.attempt(true)
		}
	})
	st.mu.Lock()
	st.Pending = ""
	st.mu.Unlock()
	switch {
	case out.Delivered:
		st.mu.Lock()
		st.Delivered++
		st.LastOK = time.Now().UTC()
		st.mu.Unlock()
		m.cfg.Metrics.delivered(time.Since(start))
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	m.mu.Lock()
	m.deadN++
	seq := m.deadN
	m.mu.Unlock()
	d := DeadLetter{Seq: seq, Party: it.Party, Index: it.Index, EventID: it.Event.EventID, Attempts: out.Attempts, Reason: out.Message, At: time.Now().UTC()}
	if err := m.st.addDead(sub.ID, d); err != nil {
		m.log.Error("record dead letter", "subscription", sub.ID, "err", err)
	}
	st.mu.Lock()
	st.Dead++
	st.mu.Unlock()
	m.cfg.Metrics.dead()
	m.log.Warn("delivery dead-lettered", "subscription", sub.ID, "event_id", it.Event.EventID, "attempts", out.Attempts, "reason", out.Message)
	if out.Last.Gone {
		// 410: the receiver wants no more (Standard Webhooks). Pause rather
		// than delete, so its owner sees why and can resume.
		go func() {
			if _, err := m.SetPaused(Caller{ID: sub.Owner}, sub.ID, true); err != nil {
				m.log.Error("pause a gone webhook", "subscription", sub.ID, "err", err)
			}
		}()
	}
	if m.cfg.Alert != nil {
		m.cfg.Alert(linkd.Alert{Kind: linkd.AlertDeliveryFailed, Severity: linkd.SeverityWarning,
			Message: fmt.Sprintf("subscription %s gave up delivering event %s to its webhook after %d attempts: %s; see GET /v1/subscriptions/%s/dead-letters", sub.ID, it.Event.EventID, out.Attempts, out.Message, sub.ID)})
	}
	return nil
}

// body is what a delivery of it carries, in the subscription's format, and
// its media type. A nil body means the format cannot express the event.
func (m *Manager) body(sub *Subscription, id string, it Item) ([]byte, string, error) {
	if sub.Format == "" || sub.Format == FormatJSON {
		b, err := json.Marshal(message(sub.ID, it))
		return b, "application/json", err
	}
	f := edi.Format(sub.Format)
	// Prepared at the time the origin recorded the event, so every retry
	// sends the same bytes with the same control number.
	prepared := time.Now().UTC()
	if it.Event.HLC != 0 {
		prepared = time.UnixMilli(it.Event.HLC.WallMillis()).UTC()
	}
	env := edi.Envelope{Sender: sub.EDISender, Recipient: sub.EDIRecipient, ControlNumber: edi.ControlNumber(id), Time: prepared}
	if env.Sender == "" {
		env.Sender = strings.ToUpper(m.cfg.Self.ID)
	}
	data, _, err := edi.Render(f, []linkd.Recorded{{Event: *it.Event, LogIndex: it.Index}}, env)
	if err != nil {
		return nil, "", fmt.Errorf("subscription %s: render %s: %w", sub.ID, f, err)
	}
	return data, f.ContentType(), nil
}

// checkFormat checks a request's format and EDI addressing, and sets them
// on sub.
func (m *Manager) checkFormat(r Request, sub *Subscription) []linkd.Problem {
	var probs []linkd.Problem
	add := func(f, why string) { probs = append(probs, linkd.Problem{Field: f, Reason: why}) }
	switch r.Format {
	case "", FormatJSON:
		if r.EDISender != "" || r.EDIRecipient != "" {
			add("ediRecipient", "only for format iftsta or x12-315")
		}
		return probs
	case FormatIFTSTA, FormatX12315:
	default:
		add("format", fmt.Sprintf("%q: want json, iftsta or x12-315", clip(r.Format)))
		return probs
	}
	if r.Delivery == Stream {
		add("format", "a stream delivers JSON only (Server-Sent Events); use delivery webhook for iftsta or x12-315")
		return probs
	}
	f := edi.Format(r.Format)
	sender := r.EDISender
	if sender == "" {
		sender = strings.ToUpper(m.cfg.Self.ID)
	}
	if r.EDIRecipient == "" {
		add("ediRecipient", fmt.Sprintf("required for format %s: the partner's interchange id (UNB 0010, ISA08)", f))
	} else if err := edi.CheckEnvelope(f, edi.Envelope{Sender: "X", Recipient: r.EDIRecipient}); err != nil {
		add("ediRecipient", strings.TrimPrefix(err.Error(), "edi: "))
	}
	if err := edi.CheckEnvelope(f, edi.Envelope{Sender: sender, Recipient: "X"}); err != nil {
		why := strings.TrimPrefix(err.Error(), "edi: ")
		if r.EDISender == "" {
			why += "; give ediSender, this node's interchange id"
		}
		add("ediSender", why)
	}
	sub.Format, sub.EDISender, sub.EDIRecipient = r.Format, r.EDISender, r.EDIRecipient
	return probs
}

// reason is an error's words for a problem's reason: a domain error's
// message without its code.
func reason(err error) string {
	var le *linkd.Error
	if errors.As(err, &le) {
		return le.Message
	}
	return err.Error()
}
