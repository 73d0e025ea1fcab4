package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/rules"
)

// RulesAPI is the node's rules as the API manages them.
type RulesAPI interface {
	List() (any, error)
	// Get returns a rule the node runs.
	Get(id string) (rules.Rule, bool)
	Add(r rules.Rule) (replaced bool, err error)
	Delete(id string) error
	// Test replays r over held events with event times in [from, to).
	Test(ctx context.Context, r rules.Rule, from, to time.Time) ([]rules.Decision, int, error)
}

var errNoRules = linkd.Errorf(linkd.ENotFound, "this node runs no rules engine")

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Rules == nil {
		return errNoRules
	}
	list, err := s.cfg.Rules.List()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": list})
	return nil
}

func (s *Server) putRule(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Rules == nil {
		return errNoRules
	}
	var rule rules.Rule
	if err := decodeBody(w, r, 64<<10, &rule, "a rule"); err != nil {
		return err
	}
	if err := rule.Validate(); err != nil {
		return err
	}
	replaced, err := s.cfg.Rules.Add(rule)
	if err != nil {
		return err
	}
	s.logger.Info("rule added", "rule", rule.ID, "replaced", replaced, "by", principal(r))
	status := http.StatusCreated
	if replaced {
		status = http.StatusOK
	}
	writeJSON(w, status, rule)
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Rules == nil {
		return errNoRules
	}
	if err := s.cfg.Rules.Delete(r.PathValue("id")); err != nil {
		return err
	}
	s.logger.Info("rule deleted", "rule", r.PathValue("id"), "by", principal(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testRule answers what a rule (given, or named by id) would have done over
// the node's recorded history.
func (s *Server) testRule(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Rules == nil {
		return errNoRules
	}
	var req struct {
		RuleID string      `json:"ruleID,omitempty"`
		Rule   *rules.Rule `json:"rule,omitempty"`
		From   linkd.Time  `json:"from,omitzero"`
		To     linkd.Time  `json:"to,omitzero"`
	}
	if err := decodeBody(w, r, 64<<10, &req, `{"ruleID": "…"} or {"rule": {…}}, with optional from and to`); err != nil {
		return err
	}
	var rule rules.Rule
	switch {
	case req.Rule != nil && req.RuleID != "":
		return linkd.Errorf(linkd.EInvalid, "give ruleID or rule, not both")
	case req.Rule != nil:
		rule = *req.Rule
		if err := rule.Validate(); err != nil {
			return err
		}
	case req.RuleID != "":
		var ok bool
		if rule, ok = s.cfg.Rules.Get(req.RuleID); !ok {
			return linkd.Errorf(linkd.ENotFound, "no rule %s", clip(req.RuleID))
		}
	default:
		return linkd.Errorf(linkd.EInvalid, "which rule? give ruleID or rule")
	}
	ds, n, err := s.cfg.Rules.Test(r.Context(), rule, req.From.Time, req.To.Time)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []rules.Decision{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": rule.ID, "events": n, "decisions": ds})
	return nil
}
