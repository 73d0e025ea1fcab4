package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/allocation"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/rules"
	"github.com/linkd-dev/linkd/internal/shipment"
)

// Rules added by the API live under 'R' id → rule JSON; the rule file's
// rules are read at start and cannot be changed by the API.
const prefixRule = 'R'

// RuleInfo is a rule as GET /v1/rules shows it.
type RuleInfo struct {
	rules.Rule
	Source string `json:"source"` // "file" (the node's rules file) or "api"
}

func (r *reactor) apiRules() ([]rules.Rule, error) {
	it, err := r.n.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixRule}, UpperBound: []byte{prefixRule + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []rules.Rule
	for ok := it.First(); ok; ok = it.Next() {
		var rule rules.Rule
		if err := json.Unmarshal(it.Value(), &rule); err != nil {
			return nil, fmt.Errorf("read rule %s: %w", it.Key()[1:], err)
		}
		out = append(out, rule)
	}
	return out, it.Error()
}

// reload runs the file's rules and the API's together.
func (r *reactor) reload() error {
	api, err := r.apiRules()
	if err != nil {
		return err
	}
	return r.setRules(r.n.Party(), append(slices.Clone(r.fileRules), api...))
}

// Rules lists the rules the node runs.
func (n *Node) Rules() ([]RuleInfo, error) {
	api, err := n.reactor.apiRules()
	if err != nil {
		return nil, err
	}
	out := []RuleInfo{}
	for _, r := range n.reactor.fileRules {
		out = append(out, RuleInfo{r, "file"})
	}
	for _, r := range api {
		out = append(out, RuleInfo{r, "api"})
	}
	return out, nil
}

// AddRule validates rule and runs it from now on, replacing an API rule
// with the same id; a rule file's id cannot be taken.
func (n *Node) AddRule(rule rules.Rule) (replaced bool, err error) {
	r := n.reactor
	r.edit.Lock()
	defer r.edit.Unlock()
	if slices.ContainsFunc(r.fileRules, func(f rules.Rule) bool { return f.ID == rule.ID }) {
		return false, linkd.Errorf(linkd.EConflict, "rule %s comes from the node's rules file; change it there", rule.ID)
	}
	api, err := r.apiRules()
	if err != nil {
		return false, err
	}
	replaced = slices.ContainsFunc(api, func(a rules.Rule) bool { return a.ID == rule.ID })
	api = slices.DeleteFunc(api, func(a rules.Rule) bool { return a.ID == rule.ID })
	all := append(append(slices.Clone(r.fileRules), api...), rule)
	// Validate the whole set before keeping anything.
	if _, err := rules.New(n.Party(), all, r.book); err != nil {
		return false, err
	}
	v, err := json.Marshal(rule)
	if err != nil {
		return false, err
	}
	if err := n.db.Set(append([]byte{prefixRule}, rule.ID...), v, pebble.Sync); err != nil {
		return false, err
	}
	return replaced, r.reload()
}

// DeleteRule removes an API rule.
func (n *Node) DeleteRule(id string) error {
	r := n.reactor
	r.edit.Lock()
	defer r.edit.Unlock()
	if slices.ContainsFunc(r.fileRules, func(f rules.Rule) bool { return f.ID == id }) {
		return linkd.Errorf(linkd.EConflict, "rule %s comes from the node's rules file; remove it there", id)
	}
	key := append([]byte{prefixRule}, id...)
	if _, closer, err := n.db.Get(key); errors.Is(err, pebble.ErrNotFound) {
		return linkd.Errorf(linkd.ENotFound, "no rule %s", id)
	} else if err != nil {
		return err
	} else {
		closer.Close()
	}
	if err := n.db.Delete(key, pebble.Sync); err != nil {
		return err
	}
	return r.reload()
}

// maxReplayEvents bounds the history one rule test reads.
const maxReplayEvents = 500_000

// TestRule replays rule over the events the node holds with event times in
// [from, to) (zero: unbounded), in timeline order, with an allocation book
// and shipment states that follow the history, and returns what it would
// have decided. It records nothing.
func (n *Node) TestRule(ctx context.Context, rule rules.Rule, from, to time.Time) ([]rules.Decision, int, error) {
	recs, more, err := partylog.Collect(ctx, n.logs, partylog.Query{Index: partylog.ByTime, From: from, To: to}, maxReplayEvents)
	if err != nil {
		return nil, 0, err
	}
	if more {
		return nil, 0, linkd.Errorf(linkd.EInvalid, "more than %d events in that range; narrow it with from and to", maxReplayEvents)
	}
	slices.SortFunc(recs, func(a, b linkd.Recorded) int { return shipment.CompareRecorded(&a, &b) })
	book := allocation.New()
	byShipment := map[string][]linkd.Recorded{}
	var history iter.Seq2[*linkd.Event, *linkd.ShipmentState] = func(yield func(*linkd.Event, *linkd.ShipmentState) bool) {
		for i := range recs {
			e := &recs[i].Event
			book.Apply(e)
			var st *linkd.ShipmentState
			if ref := shipmentKey(e); ref != "" {
				byShipment[ref] = append(byShipment[ref], recs[i])
				s, _ := shipment.Build(ref, byShipment[ref])
				st = &s
			}
			if !yield(e, st) {
				return
			}
		}
	}
	ds, err := rules.Replay(ctx, n.Party(), rule, history, book)
	return ds, len(recs), err
}

func shipmentKey(e *linkd.Event) string {
	for _, k := range []string{e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference} {
		if k != "" {
			return k
		}
	}
	return ""
}

// rulesAPI adapts the node to the HTTP API's rules endpoints.
type rulesAPI struct{ n *Node }

func (a rulesAPI) List() (any, error) { return a.n.Rules() }

func (a rulesAPI) Get(id string) (rules.Rule, bool) {
	list, err := a.n.Rules()
	if err != nil {
		return rules.Rule{}, false
	}
	for _, r := range list {
		if r.ID == id {
			return r.Rule, true
		}
	}
	return rules.Rule{}, false
}

func (a rulesAPI) Add(r rules.Rule) (bool, error) { return a.n.AddRule(r) }
func (a rulesAPI) Delete(id string) error         { return a.n.DeleteRule(id) }
func (a rulesAPI) Test(ctx context.Context, r rules.Rule, from, to time.Time) ([]rules.Decision, int, error) {
	return a.n.TestRule(ctx, r, from, to)
}
