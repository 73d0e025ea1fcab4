// Package rules is the core of linkd's rules engine: a rule is a filter over
// events (DCSA field lists and a CEL condition, expr.Filter) with an action,
// and the Engine decides, for one trigger event and the state of its
// shipment, what every rule would do. It records nothing and sends nothing:
// the node records the events of each Decision on its own log and hands the
// webhook calls to its delivery code.
//
// # Actions
//
//   - record: a new event from a template (RecordAction). It copies the
//     trigger's shipment keys (unless copyReferences is false), its party
//     list, visibility and residency, so a derived event reaches no one the
//     trigger did not, and takes the trigger's eventDateTime, never the clock.
//   - webhook: a call of a configured URL signed with a named secret.
//   - reallocate and restore: the inventory re-allocation of the lane,
//     planned by a Planner (internal/allocation) for a customs HOLD and its
//     RELS.
//
// # Determinism
//
// Decide is a pure function of the rules, the trigger, the shipment state
// and the planner's answers: it reads no clock, no randomness and no
// configuration beyond what New was given. Every event it returns has
// EventID = EventID(self, rule id, trigger id, index), CausedBy = [trigger
// id] and Origin = self, and passes linkd.CheckBatch for self; index is 0 for
// a record action and the position in the planner's list otherwise. So a node
// that runs the same trigger again (after a crash, on another replica, in a
// replay) derives the same ids, and its log, idempotent by event id, records
// nothing twice.
//
// # Loop guard
//
// No rule triggers on an event its own node recorded because of a rule. Rule
// events are recognisable from their id alone: the second half of the UUID
// is a SHA-256 tag over (origin, cause, first half), so RuleMade checks an
// event with one hash, whichever rule made it and even if that rule has been
// removed or renamed since. This stops every local chain, including two rules
// that would feed each other (HOLD → PENU → HOLD …). Rules still react to
// rule-made events of other parties: a customs rule's HOLD must reach the
// distribution centre's re-allocation. A cycle between the rules of two
// parties is not caught here; a hop count would need a field in the event.
// Use subscriptions, not rules, to be notified of a node's own rule events.
package rules

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
)

// Rule is a condition over events and what to do when an event meets it.
type Rule struct {
	// ID names the rule in decisions, event ids and the CLI: lowercase
	// letters, digits and inner hyphens, at most 63. Changing it changes the
	// ids of the events the rule records.
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"` // for people; at most 200 bytes
	// When selects the trigger events: field lists and an optional CEL
	// condition over event and shipment.
	When   expr.Filter `json:"when" yaml:"when"`
	Action Action      `json:"action" yaml:"action"`
	// Paused rules are kept but never decide; Replay still runs them.
	Paused bool `json:"paused,omitempty" yaml:"paused,omitempty"`
}

// Action is what a rule does: exactly one of its fields is set.
//
//	action:
//	  reallocate: {}
type Action struct {
	Record     *RecordAction  `json:"record,omitempty" yaml:"record,omitempty"`
	Webhook    *WebhookAction `json:"webhook,omitempty" yaml:"webhook,omitempty"`
	Reallocate *PlanAction    `json:"reallocate,omitempty" yaml:"reallocate,omitempty"`
	Restore    *PlanAction    `json:"restore,omitempty" yaml:"restore,omitempty"`
}

// Kind is the name of the action that is set ("record", "webhook",
// "reallocate", "restore"), "" when none is.
func (a Action) Kind() string {
	switch {
	case a.Record != nil:
		return "record"
	case a.Webhook != nil:
		return "webhook"
	case a.Reallocate != nil:
		return "reallocate"
	case a.Restore != nil:
		return "restore"
	}
	return ""
}

// RecordAction is the template of an event to record on the local log.
type RecordAction struct {
	EventType           linkd.EventType `json:"eventType" yaml:"eventType"`
	EventClassifierCode string          `json:"eventClassifierCode" yaml:"eventClassifierCode"` // PLN, EST or ACT
	// EventTypeCode is the code within the event type's family: it becomes
	// shipmentEventTypeCode for SHIPMENT, equipmentEventTypeCode for
	// EQUIPMENT, and so on.
	EventTypeCode      string `json:"eventTypeCode" yaml:"eventTypeCode"`
	Reason             string `json:"reason,omitempty" yaml:"reason,omitempty"`
	DocumentTypeCode   string `json:"documentTypeCode,omitempty" yaml:"documentTypeCode,omitempty"`
	EmptyIndicatorCode string `json:"emptyIndicatorCode,omitempty" yaml:"emptyIndicatorCode,omitempty"` // EMPTY or LADEN; EQUIPMENT events need it
	// CopyReferences copies the trigger's carrierBookingReference,
	// transportDocumentReference, equipmentReference and references.
	// Default (nil) true; an event without them names no shipment.
	CopyReferences *bool `json:"copyReferences,omitempty" yaml:"copyReferences,omitempty"`
}

// WebhookAction calls a URL. The engine only decides the call; the node's
// delivery code signs it with the secret and sends it.
type WebhookAction struct {
	URL    string `json:"url" yaml:"url"`       // http or https
	Secret string `json:"secret" yaml:"secret"` // the name of the signing secret in the node's configuration, not the secret
}

// PlanAction asks the Planner; it has no options yet.
type PlanAction struct{}

// Planner plans the inventory re-allocation of a distribution centre
// (internal/allocation's *allocation.Book implements it). Reallocate answers
// a customs hold of an inbound shipment with the events that move the orders
// allocated against it to other centres with stock; Restore answers its
// release with the events that reverse what still makes sense. self is the
// id of the party whose node asks.
//
// Both must be deterministic: the same trigger and the same planner state
// give the same events in the same order. The engine overwrites each
// returned event's EventID, CausedBy and Origin, fills a zero EventDateTime
// with the trigger's, and refuses the whole answer if any event is then
// invalid. Decide calls the planner from the caller's goroutine; a planner
// shared by concurrent Decide calls must be safe for concurrent use.
type Planner interface {
	Reallocate(trigger *linkd.Event, self string) []linkd.Event
	Restore(trigger *linkd.Event, self string) []linkd.Event
}

// Decision is what one rule decided for one trigger.
type Decision struct {
	RuleID   string        `json:"ruleID"`
	Events   []linkd.Event `json:"events,omitempty"`   // to record on the local log, in order
	Webhooks []WebhookCall `json:"webhooks,omitempty"` // to deliver
}

// WebhookCall is one webhook the node should deliver.
type WebhookCall struct {
	// ID identifies the delivery: derived from the node, rule and trigger, so
	// a decision taken again yields the same ID and receivers can drop
	// repeats.
	ID      string `json:"id"`
	RuleID  string `json:"ruleID"`
	URL     string `json:"url"`
	Secret  string `json:"secret"`  // name of the signing secret
	EventID string `json:"eventID"` // the trigger
}

// Validate checks r on its own, as a rule file or the API gives it, and
// returns a *linkd.ValidationError naming the field of each problem (id,
// when.expression, action.record.eventTypeCode …), or nil. A record
// template is rendered against a sample trigger and the result must pass
// linkd's event validation. Whether a planner is available is New's check.
func (r Rule) Validate() error {
	_, err := compile(r, checkParty)
	return err
}

// checkParty is the origin rule templates are checked with before the
// node's own party is known.
const checkParty = "rules-check"

// maxName bounds Rule.Name.
const maxName = 200

// compiled is a validated rule ready to decide.
type compiled struct {
	rule  Rule
	match *expr.Matcher
}

func compile(r Rule, self string) (*compiled, error) {
	var probs []linkd.Problem
	add := func(field, reason string) { probs = append(probs, linkd.Problem{Field: field, Reason: reason}) }
	if r.ID == "" {
		add("id", "required: lowercase letters, digits and inner hyphens")
	} else if why := checkID(r.ID); why != "" {
		add("id", why)
	}
	if len(r.Name) > maxName {
		add("name", fmt.Sprintf("%d bytes; at most %d", len(r.Name), maxName))
	}
	m, err := expr.CompileFilter(r.When)
	if err != nil {
		for _, p := range problemsOf(err) {
			add("when."+p.Field, p.Reason)
		}
	}
	probs = append(probs, checkAction(r, self)...)
	if len(probs) > 0 {
		return nil, &linkd.ValidationError{Problems: probs}
	}
	return &compiled{rule: r, match: m}, nil
}

func checkAction(r Rule, self string) []linkd.Problem {
	a := r.Action
	n := 0
	for _, set := range []bool{a.Record != nil, a.Webhook != nil, a.Reallocate != nil, a.Restore != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return []linkd.Problem{{Field: "action", Reason: fmt.Sprintf("give exactly one of record, webhook, reallocate, restore (found %d)", n)}}
	}
	switch {
	case a.Record != nil:
		return checkTemplate(r.ID, a.Record, self)
	case a.Webhook != nil:
		return checkWebhook(a.Webhook)
	}
	return nil
}

// templateFields maps the fields of a rendered event to the template field
// that set them, for errors that name what the user wrote.
var templateFields = map[string]string{
	"eventType": "eventType", "eventClassifierCode": "eventClassifierCode",
	"shipmentEventTypeCode": "eventTypeCode", "transportEventTypeCode": "eventTypeCode",
	"equipmentEventTypeCode": "eventTypeCode", "inventoryEventTypeCode": "eventTypeCode",
	"reason": "reason", "documentTypeCode": "documentTypeCode", "emptyIndicatorCode": "emptyIndicatorCode",
}

func checkTemplate(ruleID string, t *RecordAction, self string) []linkd.Problem {
	const at = "action.record"
	var probs []linkd.Problem
	if !slices.Contains(linkd.EventTypes, t.EventType) {
		// Without a known family the code cannot be placed; say so once.
		return []linkd.Problem{{Field: at + ".eventType", Reason: fmt.Sprintf("%q: want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY", t.EventType)}}
	}
	id := ruleID
	if checkID(id) != "" {
		id = "rule" // the id's own problem is reported elsewhere
	}
	e := render(t, id, &sampleTrigger, self)
	if err := linkd.CheckBatch([]linkd.Event{e}, linkd.Party{ID: self}); err != nil {
		for _, p := range problemsOf(err) {
			if f, ok := templateFields[p.Field]; ok {
				probs = append(probs, linkd.Problem{Field: at + "." + f, Reason: p.Reason})
			} else if p.Field == "" && !t.copies() {
				probs = append(probs, linkd.Problem{Field: at + ".copyReferences", Reason: "false leaves the recorded event without the trigger's shipment keys: " + p.Reason})
			} else {
				probs = append(probs, linkd.Problem{Field: at, Reason: fmt.Sprintf("the recorded event would be invalid: %s", p)})
			}
		}
	}
	return probs
}

func checkWebhook(w *WebhookAction) []linkd.Problem {
	var probs []linkd.Problem
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		probs = append(probs, linkd.Problem{Field: "action.webhook.url", Reason: "required: an http or https URL"})
	case len(w.URL) > 2048:
		probs = append(probs, linkd.Problem{Field: "action.webhook.url", Reason: fmt.Sprintf("%d bytes; at most 2048", len(w.URL))})
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		probs = append(probs, linkd.Problem{Field: "action.webhook.url", Reason: fmt.Sprintf("%q is not an absolute http or https URL", clip(w.URL))})
	case u.User != nil:
		probs = append(probs, linkd.Problem{Field: "action.webhook.url", Reason: "must not carry credentials; name a secret instead"})
	case u.Fragment != "":
		probs = append(probs, linkd.Problem{Field: "action.webhook.url", Reason: "must not have a fragment"})
	}
	if w.Secret == "" {
		probs = append(probs, linkd.Problem{Field: "action.webhook.secret", Reason: "required: the name of the signing secret in the node's configuration"})
	} else if why := checkID(w.Secret); why != "" {
		probs = append(probs, linkd.Problem{Field: "action.webhook.secret", Reason: why + " (a secret's name, not its value)"})
	}
	return probs
}

func (t *RecordAction) copies() bool { return t.CopyReferences == nil || *t.CopyReferences }

// render makes the event a record action asks for.
func render(t *RecordAction, ruleID string, trigger *linkd.Event, self string) linkd.Event {
	e := linkd.Event{
		EventID:             EventID(self, ruleID, trigger.EventID, 0),
		EventType:           t.EventType,
		EventClassifierCode: t.EventClassifierCode,
		EventDateTime:       trigger.EventDateTime,
		Reason:              t.Reason,
		DocumentTypeCode:    t.DocumentTypeCode,
		EmptyIndicatorCode:  t.EmptyIndicatorCode,
		Origin:              self,
		Parties:             slices.Clone(trigger.Parties),
		Visibility:          slices.Clone(trigger.Visibility),
		Residency:           slices.Clone(trigger.Residency),
		CausedBy:            []string{trigger.EventID},
	}
	switch t.EventType {
	case linkd.Shipment:
		e.ShipmentEventTypeCode = t.EventTypeCode
	case linkd.Transport:
		e.TransportEventTypeCode = t.EventTypeCode
	case linkd.Equipment:
		e.EquipmentEventTypeCode = t.EventTypeCode
	case linkd.Inventory:
		e.InventoryEventTypeCode = t.EventTypeCode
	}
	if t.copies() {
		e.CarrierBookingReference = trigger.CarrierBookingReference
		e.TransportDocumentReference = trigger.TransportDocumentReference
		e.EquipmentReference = trigger.EquipmentReference
		e.References = slices.Clone(trigger.References)
	}
	return e
}

// sampleTrigger is what templates are rendered against at load time: an
// actual customs hold naming all three shipment keys.
var sampleTrigger = linkd.Event{
	EventID:                    "00000000-0000-4000-8000-000000000000",
	EventType:                  linkd.Shipment,
	EventClassifierCode:        "ACT",
	EventDateTime:              linkd.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	ShipmentEventTypeCode:      "HOLD",
	DocumentTypeCode:           "CUS",
	CarrierBookingReference:    "SAMPLEBOOKING",
	TransportDocumentReference: "SAMPLEBL",
	EquipmentReference:         "MSKU1234565",
	Origin:                     "sample-customs",
	Parties:                    []linkd.ShipmentParty{{Party: "sample-customs", Role: linkd.RoleCustoms}, {Party: "sample-carrier", Role: linkd.RoleCarrier}},
}

// problemsOf returns the problems of a validation error, or the error's
// message as one problem without a field.
func problemsOf(err error) []linkd.Problem {
	if ve, ok := err.(*linkd.ValidationError); ok {
		return ve.Problems
	}
	return []linkd.Problem{{Reason: linkd.ErrorMessage(err)}}
}

// checkID returns why s is not a rule or secret id, or "".
func checkID(s string) string {
	ok := s != "" && len(s) <= 63
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
	}
	if !ok {
		return fmt.Sprintf("%q: use lowercase letters, digits and inner hyphens, at most 63", clip(s))
	}
	return ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
