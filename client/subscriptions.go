package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// CreateSubscription creates a subscription owned by the client's token.
// For a webhook, the answer carries its signing secret, shown this once.
func (c *Client) CreateSubscription(ctx context.Context, r subscribe.Request) (subscribe.Created, error) {
	var out subscribe.Created
	_, err := c.do(ctx, "POST", "/v1/subscriptions", nil, r, &out)
	return out, err
}

// Subscriptions lists the subscriptions the token may see.
func (c *Client) Subscriptions(ctx context.Context) ([]subscribe.View, error) {
	var out struct {
		Subscriptions []subscribe.View `json:"subscriptions"`
	}
	_, err := c.do(ctx, "GET", "/v1/subscriptions", nil, nil, &out)
	return out.Subscriptions, err
}

// Subscription returns one subscription with its delivery status.
func (c *Client) Subscription(ctx context.Context, id string) (subscribe.View, error) {
	var out subscribe.View
	_, err := c.do(ctx, "GET", "/v1/subscriptions/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// PauseSubscription pauses (or, with paused false, resumes) a subscription.
func (c *Client) PauseSubscription(ctx context.Context, id string, paused bool) (subscribe.View, error) {
	verb := "resume"
	if paused {
		verb = "pause"
	}
	var out subscribe.View
	_, err := c.do(ctx, "POST", "/v1/subscriptions/"+url.PathEscape(id)+"/"+verb, nil, nil, &out)
	return out, err
}

// DeleteSubscription deletes a subscription.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/subscriptions/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// RotateSecret gives a webhook subscription a new secret (the node makes
// one when secret is ""); the old one keeps signing during the overlap.
func (c *Client) RotateSecret(ctx context.Context, id, secret string) (string, error) {
	var body any
	if secret != "" {
		body = map[string]string{"secret": secret}
	}
	var out struct {
		Secret string `json:"secret"`
	}
	_, err := c.do(ctx, "POST", "/v1/subscriptions/"+url.PathEscape(id)+"/secret", nil, body, &out)
	return out.Secret, err
}

// DeadLetters lists a webhook subscription's newest dead letters.
func (c *Client) DeadLetters(ctx context.Context, id string) ([]subscribe.DeadLetter, error) {
	var out struct {
		DeadLetters []subscribe.DeadLetter `json:"deadLetters"`
	}
	_, err := c.do(ctx, "GET", "/v1/subscriptions/"+url.PathEscape(id)+"/dead-letters", nil, nil, &out)
	return out.DeadLetters, err
}

// Watch streams events matching the filter in q (query parameters of GET
// /v1/stream) and calls fn with each, with the id to resume after it, until
// ctx ends, fn returns an error, or the stream breaks. lastID resumes a
// stream ("" starts with new events, unless q has from=start).
func (c *Client) Watch(ctx context.Context, q url.Values, lastID string, fn func(id string, m subscribe.Message) error) error {
	return c.stream(ctx, "/v1/stream", q, lastID, fn)
}

// WatchSubscription streams a stream subscription's events.
func (c *Client) WatchSubscription(ctx context.Context, id, lastID string, fn func(id string, m subscribe.Message) error) error {
	return c.stream(ctx, "/v1/subscriptions/"+url.PathEscape(id)+"/events", nil, lastID, fn)
}

func (c *Client) stream(ctx context.Context, path string, q url.Values, lastID string, fn func(string, subscribe.Message) error) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	// A stream has no overall deadline: use the transport, not the client's
	// request timeout.
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &linkd.Error{Code: linkd.EUnavailable, Message: fmt.Sprintf("cannot reach the node at %s", c.base.Host), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorFrom(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), linkd.MaxEventBytes*2)
	id, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				var m subscribe.Message
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					return fmt.Errorf("stream: a message is not valid JSON: %w", err)
				}
				if err := fn(id, m); err != nil {
					return err
				}
			}
			data = ""
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data += line[6:]
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return &linkd.Error{Code: linkd.EUnavailable, Message: "the node closed the stream"}
}
