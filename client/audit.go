package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/linkd-dev/linkd"
)

// Audit has the node audit its own log (POST /v1/log/audit; an auditor or
// admin token) and returns what it found. progress, if not nil, is called
// with the events checked so far as the node reports them. An audit that
// finds a problem is a result with OK false, not an error; errors are for
// an audit that did not run or did not finish (another one running is
// linkd.EConflict). The call has no overall deadline: an audit of a large
// log takes minutes; cancel ctx to give it up, which stops it on the node.
func (c *Client) Audit(ctx context.Context, progress func(done, total int64)) (linkd.AuditResult, error) {
	return c.AuditLogOf(ctx, "", progress)
}

// AuditLogOf is Audit of the log of party that the node holds: its copy of
// a linked partner's log, checked against the partner's key, or with party
// "" the node's own. A party whose log the node does not hold is
// linkd.ENotFound.
func (c *Client) AuditLogOf(ctx context.Context, party string, progress func(done, total int64)) (linkd.AuditResult, error) {
	var q url.Values
	if party != "" {
		q = url.Values{"party": {party}}
	}
	req, err := c.request(ctx, http.MethodPost, "/v1/log/audit", q, nil)
	if err != nil {
		return linkd.AuditResult{}, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.streamClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return linkd.AuditResult{}, ctx.Err()
		}
		return linkd.AuditResult{}, c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return linkd.AuditResult{}, errorFrom(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4<<10), 1<<20)
	for sc.Scan() {
		var line linkd.AuditLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return linkd.AuditResult{}, fmt.Errorf("audit: the node sent a line that is not JSON: %w", err)
		}
		if line.Result != nil {
			return *line.Result, nil
		}
		if progress != nil {
			progress(line.Done, line.Total)
		}
	}
	if ctx.Err() != nil {
		return linkd.AuditResult{}, ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return linkd.AuditResult{}, &linkd.Error{Code: linkd.EUnavailable, Message: "the node's answer to the audit broke off", Err: err}
	}
	return linkd.AuditResult{}, &linkd.Error{Code: linkd.EUnavailable, Message: "the node's answer to the audit ended without a result: see its log"}
}
