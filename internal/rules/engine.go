package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
)

// Engine decides what a node's rules do with each event. It is immutable
// after New; Decide is safe for concurrent use when the planner is.
type Engine struct {
	self    linkd.Party
	rules   []*compiled
	planner Planner
}

// New validates rules for the node of self and returns their engine. Rule ids
// must be unique; a reallocate or restore rule needs a planner. Errors are a
// *linkd.ValidationError whose fields name the rule (rules[2].when.expression)
// and whose reasons start with its id.
func New(self linkd.Party, rules []Rule, planner Planner) (*Engine, error) {
	if why := checkPartyID(self.ID); why != "" {
		return nil, linkd.Errorf(linkd.EInvalid, "rules: self: %s", why)
	}
	en := &Engine{self: self, planner: planner}
	var probs []linkd.Problem
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		add := func(field, reason string) { probs = append(probs, ruleProblem(i, r.ID, field, reason)) }
		if j, dup := seen[r.ID]; dup && r.ID != "" {
			add("id", fmt.Sprintf("repeats the id of rules[%d]", j))
		}
		seen[r.ID] = i
		if planner == nil && (r.Action.Reallocate != nil || r.Action.Restore != nil) {
			add("action."+r.Action.Kind(), "needs an inventory planner, and this node has none")
		}
		c, err := compile(r, self.ID)
		if err != nil {
			for _, p := range problemsOf(err) {
				add(p.Field, p.Reason)
			}
			continue
		}
		en.rules = append(en.rules, c)
	}
	if len(probs) > 0 {
		return nil, &linkd.ValidationError{Problems: probs}
	}
	return en, nil
}

// ruleProblem places a problem of rules[i] in a list of rules.
func ruleProblem(i int, id, field, reason string) linkd.Problem {
	f := fmt.Sprintf("rules[%d]", i)
	if field != "" {
		f += "." + field
	}
	if id != "" && checkID(id) == "" {
		reason = "rule " + id + ": " + reason
	}
	return linkd.Problem{Field: f, Reason: reason}
}

// Rules returns the engine's rules in order.
func (en *Engine) Rules() []Rule {
	out := make([]Rule, len(en.rules))
	for i, c := range en.rules {
		out[i] = c.rule
	}
	return out
}

// Decide returns what each active rule does with trigger, in rule order; a
// rule whose filter does not match contributes nothing, one that matches
// contributes a Decision even if it has nothing to do (a planner with no
// orders to move). state is the derived state of the shipment trigger names,
// including trigger itself; nil when it names none.
//
// A trigger this node recorded because of a rule (RuleMade, origin self)
// decides nothing: see the package comment. A rule that fails on this
// trigger (its expression errs, its planner returns an invalid event) is
// left out and its error, naming the rule, joined into the returned error;
// the other rules' decisions are still returned.
func (en *Engine) Decide(trigger *linkd.Event, state *linkd.ShipmentState) ([]Decision, error) {
	if !linkd.IsUUID(trigger.EventID) {
		return nil, linkd.Errorf(linkd.EInvalid, "rules: the trigger has no event id (%q); only recorded events trigger rules", trigger.EventID)
	}
	if trigger.Origin == en.self.ID && RuleMade(trigger) {
		return nil, nil
	}
	in := expr.NewInput(trigger, state)
	var out []Decision
	var errs []error
	for _, c := range en.rules {
		if c.rule.Paused {
			continue
		}
		d, ok, err := en.decide(c, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: rule %s: event %s: %w", c.rule.ID, trigger.EventID, err))
			continue
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, errors.Join(errs...)
}

func (en *Engine) decide(c *compiled, in *expr.Input) (Decision, bool, error) {
	ok, err := c.match.Match(in)
	if err != nil || !ok {
		return Decision{}, false, err
	}
	trigger := in.Event()
	r := c.rule
	d := Decision{RuleID: r.ID}
	switch a := r.Action; {
	case a.Record != nil:
		d.Events = []linkd.Event{render(a.Record, r.ID, trigger, en.self.ID)}
	case a.Webhook != nil:
		d.Webhooks = []WebhookCall{{
			ID:      deriveUUID(webhookDomain, en.self.ID, r.ID, trigger.EventID),
			RuleID:  r.ID,
			URL:     a.Webhook.URL,
			Secret:  a.Webhook.Secret,
			EventID: trigger.EventID,
		}}
	case a.Reallocate != nil:
		d.Events = en.stamp(r.ID, trigger, en.planner.Reallocate(trigger, en.self.ID))
	case a.Restore != nil:
		d.Events = en.stamp(r.ID, trigger, en.planner.Restore(trigger, en.self.ID))
	}
	if len(d.Events) > 0 {
		if err := linkd.CheckBatch(d.Events, en.self); err != nil {
			return Decision{}, false, fmt.Errorf("the %s action gives invalid events: %w", r.Action.Kind(), err)
		}
	}
	return d, true, nil
}

// stamp gives the planner's events their derived ids, cause and origin. It
// sets them on copies of the events, so the planner's own are not changed.
func (en *Engine) stamp(ruleID string, trigger *linkd.Event, planned []linkd.Event) []linkd.Event {
	if len(planned) == 0 {
		return nil
	}
	out := make([]linkd.Event, len(planned))
	for i, e := range planned {
		e.EventID = EventID(en.self.ID, ruleID, trigger.EventID, i)
		e.CausedBy = []string{trigger.EventID}
		e.Origin = en.self.ID
		if e.EventDateTime.IsZero() {
			e.EventDateTime = trigger.EventDateTime
		}
		out[i] = e
	}
	return out
}

// Domain separators of the hashes below.
const (
	eventDomain   = "linkd.rule-event.v1\x00"
	markDomain    = "linkd.rule-mark.v1\x00"
	webhookDomain = "linkd.rule-webhook.v1\x00"
)

// EventID is the id of the index-th event rule ruleID of party self records
// because of trigger. It passes linkd.IsUUID and is a UUIDv8:
//
//	head = SHA-256("linkd.rule-event.v1\x00" ‖ str(self) ‖ str(ruleID) ‖ str(triggerID) ‖ uvarint(index))[0:8]
//	       with the version nibble set to 8
//	tail = SHA-256("linkd.rule-mark.v1\x00" ‖ str(self) ‖ str(triggerID) ‖ head)[0:8]
//	       with the RFC 9562 variant bits set
//	str(s) = uvarint(len(s)) ‖ s
//
// The tail is the mark RuleMade checks. Changing this derivation would make a
// node that re-runs a trigger after an upgrade record its events twice.
func EventID(self, ruleID, triggerID string, index int) string {
	h := sha256.New()
	h.Write([]byte(eventDomain))
	writeStrings(h, self, ruleID, triggerID)
	h.Write(binary.AppendUvarint(nil, uint64(index)))
	var u [16]byte
	var sum [32]byte
	copy(u[:8], h.Sum(sum[:0]))
	u[6] = u[6]&0x0f | 0x80 // version 8
	tag := mark(self, triggerID, u[:8])
	copy(u[8:], tag[:8])
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return format(u)
}

// RuleMade reports whether e was recorded by a rule of its origin's node:
// its id carries the mark EventID puts there for one of its causes.
func RuleMade(e *linkd.Event) bool {
	if len(e.CausedBy) == 0 || !linkd.IsUUID(e.EventID) {
		return false
	}
	var u [16]byte
	hexID := e.EventID[0:8] + e.EventID[9:13] + e.EventID[14:18] + e.EventID[19:23] + e.EventID[24:36]
	if _, err := hex.Decode(u[:], []byte(hexID)); err != nil {
		return false
	}
	for _, cause := range e.CausedBy {
		tag := mark(e.Origin, cause, u[:8])
		if tag[0]&0x3f == u[8]&0x3f && string(tag[1:8]) == string(u[9:16]) {
			return true
		}
	}
	return false
}

func mark(origin, triggerID string, head []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(markDomain))
	writeStrings(h, origin, triggerID)
	h.Write(head)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// deriveUUID is a UUIDv8 from SHA-256 over domain and parts.
func deriveUUID(domain string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(domain))
	writeStrings(h, parts...)
	var sum [32]byte
	h.Sum(sum[:0])
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return format(u)
}

// writeStrings writes length-prefixed strings, so no two lists of parts hash
// alike.
func writeStrings(h hash.Hash, parts ...string) {
	for _, p := range parts {
		h.Write(binary.AppendUvarint(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
}

func format(u [16]byte) string {
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// checkPartyID returns why s is not a party id, or "".
func checkPartyID(s string) string {
	if why := checkID(s); why != "" {
		return "party id " + why
	}
	return ""
}
