package httpapi

import (
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
)

// maxTokenTTL bounds a token's lifetime when one is given.
const maxTokenTTL = 10 * 365 * 24 * time.Hour

func tokenInfo(t access.Token) linkd.TokenInfo {
	return linkd.TokenInfo{ID: t.ID, Name: t.Name, Role: string(t.Role), Created: t.Created, ExpiresAt: t.ExpiresAt, Revoked: t.Revoked}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.cfg.Tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]linkd.TokenInfo, len(toks))
	for i, t := range toks {
		out[i] = tokenInfo(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req linkd.TokenRequest
	if err := decodeBody(w, r, 4<<10, &req, "a JSON object with name, role and optionally ttl"); err != nil {
		return err
	}
	var probs []linkd.Problem
	role, err := access.ParseRole(req.Role)
	if err != nil {
		probs = append(probs, linkd.Problem{Field: "role", Reason: linkd.ErrorMessage(err)})
	}
	var ttl time.Duration
	if req.TTL != "" {
		ttl, err = time.ParseDuration(req.TTL)
		if err != nil || ttl <= 0 || ttl > maxTokenTTL {
			probs = append(probs, linkd.Problem{Field: "ttl", Reason: "want a positive Go duration up to 87600h, such as 720h"})
		}
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	secret, tok, err := s.cfg.Tokens.Create(r.Context(), req.Name, role, ttl)
	if err != nil {
		return err
	}
	s.logger.Info("token created", "token_id", tok.ID, "role", tok.Role, "by", tokenOf(r.Context()).ID)
	writeJSON(w, http.StatusCreated, linkd.NewToken{Token: secret, Info: tokenInfo(tok)})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.cfg.Tokens.Revoke(r.Context(), id); err != nil {
		return err
	}
	s.logger.Info("token revoked", "token_id", id, "by", tokenOf(r.Context()).ID)
	tok, err := s.cfg.Tokens.Get(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenInfo(tok))
	return nil
}
