package client

import (
	"context"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/rules"
)

// RuleInfo is a rule the node runs and where it comes from ("file" or
// "api").
type RuleInfo struct {
	rules.Rule
	Source string `json:"source"`
}

// Rules lists the rules the node runs.
func (c *Client) Rules(ctx context.Context) ([]RuleInfo, error) {
	var out struct {
		Rules []RuleInfo `json:"rules"`
	}
	_, err := c.do(ctx, "GET", "/v1/rules", nil, nil, &out)
	return out.Rules, err
}

// AddRule adds a rule, or replaces the API rule with its id.
func (c *Client) AddRule(ctx context.Context, r rules.Rule) error {
	_, err := c.do(ctx, "POST", "/v1/rules", nil, r, nil)
	return err
}

// DeleteRule removes a rule added by the API.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/rules/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// RuleTest is what a rule would have done over recorded history.
type RuleTest struct {
	Rule      string           `json:"rule"`
	Events    int              `json:"events"` // events replayed
	Decisions []rules.Decision `json:"decisions"`
}

// TestRule replays a rule (r, or the node's rule id) over the events the
// node holds with event times in [from, to); zero times are unbounded.
func (c *Client) TestRule(ctx context.Context, id string, r *rules.Rule, from, to time.Time) (RuleTest, error) {
	body := map[string]any{}
	if r != nil {
		body["rule"] = r
	} else {
		body["ruleID"] = id
	}
	if !from.IsZero() {
		body["from"] = linkd.Time{Time: from}
	}
	if !to.IsZero() {
		body["to"] = linkd.Time{Time: to}
	}
	var out RuleTest
	_, err := c.do(ctx, "POST", "/v1/rule-tests", nil, body, &out)
	return out, err
}
