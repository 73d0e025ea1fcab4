package httpapi

import (
	"net/http"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/peers"
)

// maxCardBytes bounds the body of POST /v1/peers. A card made by `linkd peer
// card` is about 1.5 KiB; the certificate alone may be up to 16 KiB.
const maxCardBytes = 32 << 10

var errNoDirectory = linkd.Errorf(linkd.ENotFound, "this node keeps no peer directory")

// peerList answers GET /v1/peers.
type peerList struct {
	Peers []peers.Peer `json:"peers"`
}

func (s *Server) listPeers(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Peers == nil {
		return errNoDirectory
	}
	writeJSON(w, http.StatusOK, peerList{Peers: s.cfg.Peers.List()})
	return nil
}

// putPeer adds a partner's card, or replaces the card of the same party
// (how a partner's certificate or keys are rotated). The answer is the card
// as stored: 201 when the party is new, 200 when its card was replaced.
func (s *Server) putPeer(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Peers == nil {
		return errNoDirectory
	}
	var card peers.Peer
	if err := decodeBody(w, r, maxCardBytes, &card, "a peer card, the JSON object 'linkd peer card' prints"); err != nil {
		return err
	}
	// Two admins adding the same party at once may both see 201; the
	// directory keeps one card either way.
	_, existed := s.cfg.Peers.Get(card.Party.ID)
	if err := s.cfg.Peers.Put(card); err != nil {
		return err
	}
	stored, ok := s.cfg.Peers.Get(card.Party.ID)
	if !ok { // removed between Put and Get
		return linkd.Errorf(linkd.EConflict, "peer %q was removed while it was being added; add it again", card.Party.ID)
	}
	s.logger.Info("peer card put", "peer", stored.Party.ID, "replaced", existed, "by", tokenOf(r.Context()).ID)
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(w, status, stored)
	return nil
}

func (s *Server) getPeer(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Peers == nil {
		return errNoDirectory
	}
	id := r.PathValue("id")
	p, ok := s.cfg.Peers.Get(id)
	if !ok {
		return peers.NotFound(id)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) removePeer(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Peers == nil {
		return errNoDirectory
	}
	id := r.PathValue("id")
	if err := s.cfg.Peers.Remove(id); err != nil {
		return err
	}
	s.logger.Info("peer removed", "peer", id, "by", tokenOf(r.Context()).ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nodeCard answers this node's own card: the public material a partner's
// operator adds with 'linkd peer add'.
func (s *Server) nodeCard(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Card == nil {
		return linkd.Errorf(linkd.ENotFound, "this node has no card")
	}
	card, err := s.cfg.Card()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, card)
	return nil
}
