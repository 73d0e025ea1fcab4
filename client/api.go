package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// AppendEvents records events as one all-or-nothing batch and returns one
// ack per event once all are durable.
func (c *Client) AppendEvents(ctx context.Context, events []linkd.Event) (linkd.AppendResult, error) {
	var res linkd.AppendResult
	_, err := c.do(ctx, http.MethodPost, "/v1/events", nil, events, &res)
	return res, err
}

// AppendJSON records the events in a JSON body (one object or an array) as
// given, so the node's own decoder judges it.
func (c *Client) AppendJSON(ctx context.Context, body []byte) (linkd.AppendResult, error) {
	var res linkd.AppendResult
	_, err := c.do(ctx, http.MethodPost, "/v1/events", nil, body, &res)
	return res, err
}

// EventQuery filters GET /v1/events. Lists match any of their values; set
// fields must all match.
type EventQuery struct {
	CarrierBookingReference    string
	TransportDocumentReference string
	EquipmentReference         string
	EventTypes                 []string
	ShipmentEventTypeCodes     []string
	TransportEventTypeCodes    []string
	EquipmentEventTypeCodes    []string
	ClassifierCodes            []string
	UNLocationCode             string
	Origins                    []string
	From, To                   time.Time // on eventDateTime; zero is unbounded
	Limit                      int       // 0: the node's default (100)
	Cursor                     string    // Next of the previous page
}

func (q EventQuery) values() url.Values {
	v := url.Values{}
	set := func(name, s string) {
		if s != "" {
			v.Set(name, s)
		}
	}
	list := func(name string, s []string) { set(name, strings.Join(s, ",")) }
	set("carrierBookingReference", q.CarrierBookingReference)
	set("transportDocumentReference", q.TransportDocumentReference)
	set("equipmentReference", q.EquipmentReference)
	list("eventType", q.EventTypes)
	list("shipmentEventTypeCode", q.ShipmentEventTypeCodes)
	list("transportEventTypeCode", q.TransportEventTypeCodes)
	list("equipmentEventTypeCode", q.EquipmentEventTypeCodes)
	list("eventClassifierCode", q.ClassifierCodes)
	set("UNLocationCode", q.UNLocationCode)
	list("origin", q.Origins)
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// ListEvents returns one page of events.
func (c *Client) ListEvents(ctx context.Context, q EventQuery) (linkd.EventPage, error) {
	var page linkd.EventPage
	_, err := c.do(ctx, http.MethodGet, "/v1/events", q.values(), nil, &page)
	return page, err
}

// Event returns one event by id.
func (c *Client) Event(ctx context.Context, id string) (linkd.Recorded, error) {
	var rec linkd.Recorded
	_, err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, nil, &rec)
	return rec, err
}

// Proof returns the proof bundle of one event, for `linkd verify`.
func (c *Client) Proof(ctx context.Context, id string) (linkd.ProofBundle, error) {
	var b linkd.ProofBundle
	_, err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id)+"/proof", nil, nil, &b)
	return b, err
}

// Shipment returns a shipment's merged timeline and derived state; ref is a
// booking, a transport document (B/L) or a container number.
func (c *Client) Shipment(ctx context.Context, ref string) (linkd.ShipmentView, error) {
	var s linkd.ShipmentView
	_, err := c.do(ctx, http.MethodGet, "/v1/shipments/"+url.PathEscape(ref), nil, nil, &s)
	return s, err
}

// Checkpoint returns the newest signed checkpoint, or the one issued at size
// when size > 0.
func (c *Client) Checkpoint(ctx context.Context, size int64) (linkd.CheckpointInfo, error) {
	var q url.Values
	if size > 0 {
		q = url.Values{"size": {strconv.FormatInt(size, 10)}}
	}
	var info linkd.CheckpointInfo
	_, err := c.do(ctx, http.MethodGet, "/v1/log/checkpoint", q, nil, &info)
	return info, err
}

// InclusionProof returns the audit path of leaf index in the tree of size.
func (c *Client) InclusionProof(ctx context.Context, index, size int64) (linkd.InclusionProof, error) {
	var p linkd.InclusionProof
	q := url.Values{"index": {strconv.FormatInt(index, 10)}, "size": {strconv.FormatInt(size, 10)}}
	_, err := c.do(ctx, http.MethodGet, "/v1/log/proof/inclusion", q, nil, &p)
	return p, err
}

// ConsistencyProof returns the proof that the tree of size old is a prefix
// of the tree of size.
func (c *Client) ConsistencyProof(ctx context.Context, old, size int64) (linkd.ConsistencyProof, error) {
	var p linkd.ConsistencyProof
	q := url.Values{"old": {strconv.FormatInt(old, 10)}, "size": {strconv.FormatInt(size, 10)}}
	_, err := c.do(ctx, http.MethodGet, "/v1/log/proof/consistency", q, nil, &p)
	return p, err
}

// CreateToken makes an access token; its secret is in the answer only.
// ttl 0 never expires.
func (c *Client) CreateToken(ctx context.Context, name, role string, ttl time.Duration) (linkd.NewToken, error) {
	req := linkd.TokenRequest{Name: name, Role: role}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	var t linkd.NewToken
	_, err := c.do(ctx, http.MethodPost, "/v1/tokens", nil, req, &t)
	return t, err
}

// ListTokens lists every token, revoked ones included.
func (c *Client) ListTokens(ctx context.Context) ([]linkd.TokenInfo, error) {
	var out struct {
		Tokens []linkd.TokenInfo `json:"tokens"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token by id; it stops working at once.
func (c *Client) RevokeToken(ctx context.Context, id string) (linkd.TokenInfo, error) {
	var t linkd.TokenInfo
	_, err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil, &t)
	return t, err
}

// Ready reports whether the node takes writes (GET /readyz).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
	return err
}
