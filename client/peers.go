package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/linkd-dev/linkd/internal/peers"
)

// Peers lists the node's directory of partners, ordered by party id (admin).
func (c *Client) Peers(ctx context.Context) ([]peers.Peer, error) {
	var out struct {
		Peers []peers.Peer `json:"peers"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/peers", nil, nil, &out)
	return out.Peers, err
}

// Peer returns the card of one partner, or a not_found error (admin).
func (c *Client) Peer(ctx context.Context, id string) (peers.Peer, error) {
	var p peers.Peer
	_, err := c.do(ctx, http.MethodGet, "/v1/peers/"+url.PathEscape(id), nil, nil, &p)
	return p, err
}

// AddPeer puts a partner's card into the node's directory (admin) and
// returns it as stored. replaced reports that the party had a card, which
// this one replaced: that is how a partner's certificate or keys are
// rotated. A bad card is an invalid error whose Problems name each field.
func (c *Client) AddPeer(ctx context.Context, card peers.Peer) (stored peers.Peer, replaced bool, err error) {
	status, _, err := c.doStatus(ctx, http.MethodPost, "/v1/peers", nil, card, &stored)
	return stored, status == http.StatusOK, err
}

// RemovePeer removes a partner from the directory (admin); its certificate
// is refused from then on.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/peers/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// Card returns the node's own card, the public material its partners add
// with AddPeer (any role that may read the log).
func (c *Client) Card(ctx context.Context) (peers.Peer, error) {
	var p peers.Peer
	_, err := c.do(ctx, http.MethodGet, "/v1/node/card", nil, nil, &p)
	return p, err
}
