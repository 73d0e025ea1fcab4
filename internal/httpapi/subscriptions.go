package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// maxSubscriptionBytes bounds a subscription request (a filter with a CEL
// expression of at most a few KiB).
const maxSubscriptionBytes = 64 << 10

var errNoSubscriptions = linkd.Errorf(linkd.ENotFound, "this node keeps no subscriptions")

func caller(r *http.Request) subscribe.Caller {
	t := tokenOf(r.Context())
	return subscribe.Caller{ID: t.ID, Admin: t.Role == access.Admin}
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	var req subscribe.Request
	if err := decodeBody(w, r, maxSubscriptionBytes, &req, "a subscription request"); err != nil {
		return err
	}
	c, err := s.cfg.Subscriptions.Create(r.Context(), caller(r).ID, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/subscriptions/"+c.Subscription.ID)
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	list, err := s.cfg.Subscriptions.List(caller(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": list})
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	sub, err := s.cfg.Subscriptions.Get(caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.Subscriptions.View(sub))
	return nil
}

func (s *Server) pauseSubscription(paused bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.Subscriptions == nil {
			return errNoSubscriptions
		}
		v, err := s.cfg.Subscriptions.SetPaused(caller(r), r.PathValue("id"), paused)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	if err := s.cfg.Subscriptions.Delete(caller(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	var body struct {
		Secret string `json:"secret,omitempty"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, 4<<10, &body, `{"secret": "whsec_…"} or nothing`); err != nil {
			return err
		}
	}
	secret, err := s.cfg.Subscriptions.RotateSecret(caller(r), r.PathValue("id"), body.Secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret})
	return nil
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	p := newParams(r)
	limit := 100
	if v := p.one("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return linkd.Errorf(linkd.EInvalid, "limit=%q: want 1 to 1000", clip(v))
		}
		limit = n
	}
	if err := p.err(); err != nil {
		return err
	}
	list, err := s.cfg.Subscriptions.DeadLetters(caller(r), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": list})
	return nil
}

// subscriptionEvents streams a stream subscription's events (SSE).
func (s *Server) subscriptionEvents(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	sub, err := s.cfg.Subscriptions.Get(caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if sub.Delivery != subscribe.Stream {
		return linkd.Errorf(linkd.EInvalid, "subscription %s delivers to a webhook; only stream subscriptions are read here", sub.ID)
	}
	if sub.Paused {
		return linkd.Errorf(linkd.EConflict, "subscription %s is paused; resume it first", sub.ID)
	}
	m, err := expr.CompileFilter(sub.Filter)
	if err != nil {
		return err
	}
	cur, err := subscribe.ParseFrom(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	if cur == nil && r.URL.Query().Get("from") == "" {
		// Where the subscription began (now or start, as created).
		if cur, err = s.cfg.Subscriptions.StartOf(sub.ID); err != nil {
			return err
		}
	}
	return s.cfg.Subscriptions.Stream(r.Context(), w, subscribe.StreamOptions{Matcher: m, Cursor: cur, SubID: sub.ID})
}

// streamParams are the query parameters of GET /v1/stream besides the
// filter's own: where to start.
var streamParams = map[string]bool{"from": true, "lastEventID": true}

// stream is an ad hoc SSE stream: the filter comes in the query string,
// each field a comma-separated list (expression is one CEL string).
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Subscriptions == nil {
		return errNoSubscriptions
	}
	f, err := filterFromQuery(r)
	if err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	m, err := expr.CompileFilter(f)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventID")
	}
	cur, err := subscribe.ParseFrom(last, q.Get("from"))
	if err != nil {
		return err
	}
	return s.cfg.Subscriptions.Stream(r.Context(), w, subscribe.StreamOptions{Matcher: m, Cursor: cur})
}

// filterFromQuery reads a subscription filter from query parameters named
// as its JSON fields: lists comma-separated, expression as is. Unknown
// parameters are refused by the filter's own decoding.
func filterFromQuery(r *http.Request) (expr.Filter, error) {
	obj := map[string]any{}
	for name, vals := range r.URL.Query() {
		if streamParams[name] {
			continue
		}
		if len(vals) != 1 {
			return expr.Filter{}, linkd.Errorf(linkd.EInvalid, "%s is given %d times; give it once, with values separated by commas", clip(name), len(vals))
		}
		if name == "expression" {
			obj[name] = vals[0]
		} else {
			parts := strings.Split(vals[0], ",")
			for i := range parts {
				parts[i] = strings.TrimSpace(parts[i])
			}
			obj[name] = parts
		}
	}
	raw, _ := json.Marshal(obj)
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var f expr.Filter
	if err := dec.Decode(&f); err != nil {
		return expr.Filter{}, linkd.Errorf(linkd.EInvalid, "the stream's filter parameters are not valid: %v", err)
	}
	return f, nil
}
