package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// reader is what event reads go through: every log the node holds.
type reader interface {
	Scan(ctx context.Context, q partylog.Query) (partylog.Page, error)
	GetByID(ctx context.Context, id string) (linkd.Recorded, error)
	CursorAfter(rec linkd.Recorded) string
}

// principal names who made a request, for audit fields.
func principal(r *http.Request) string {
	t := tokenOf(r.Context())
	if t.Name != "" {
		return t.Name + " (" + t.ID + ")"
	}
	return t.ID
}

func (s *Server) reader() reader {
	if s.cfg.Logs != nil {
		return s.cfg.Logs
	}
	return s.cfg.Log
}

func (s *Server) ingest(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
	if s.cfg.Ingest != nil {
		return s.cfg.Ingest(ctx, events)
	}
	return s.cfg.Log.Append(ctx, events)
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) error {
	var links any = []any{}
	if s.cfg.Links != nil {
		links = s.cfg.Links()
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": links})
	return nil
}

var errNoAlerts = linkd.Errorf(linkd.ENotFound, "this node keeps no alerts")

// listAlerts answers the open alerts, newest first; all=true adds the
// acknowledged ones.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Alerts == nil {
		return errNoAlerts
	}
	p := newParams(r)
	all := p.one("all")
	if err := p.err(); err != nil {
		return err
	}
	if all != "" && all != "true" && all != "false" {
		return linkd.Errorf(linkd.EInvalid, "all=%q: want true or false", clip(all))
	}
	list := s.cfg.Alerts.List(all == "true")
	if list == nil {
		list = []linkd.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": list})
	return nil
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Alerts == nil {
		return errNoAlerts
	}
	id := r.PathValue("id")
	if err := s.cfg.Alerts.Ack(id, principal(r)); err != nil {
		return err
	}
	a, err := s.cfg.Alerts.Get(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) listHolds(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Alerts == nil {
		return errNoAlerts
	}
	holds := s.cfg.Alerts.Holds()
	if holds == nil {
		holds = []linkd.LogHold{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"holds": holds})
	return nil
}

// releaseHold lets a held party's log in again, after an operator has dealt
// with the evidence that held it.
func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Alerts == nil {
		return errNoAlerts
	}
	party := r.PathValue("party")
	log := party
	if !strings.Contains(party, "/") {
		log = linkd.LogOrigin(party)
	}
	if err := s.cfg.Alerts.Release(log, principal(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) allocations(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Allocations == nil {
		return linkd.Errorf(linkd.ENotFound, "this node keeps no allocation state")
	}
	writeJSON(w, http.StatusOK, s.cfg.Allocations())
	return nil
}

func (s *Server) verification(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Verification == nil {
		return linkd.Errorf(linkd.ENotFound, "this node does not report verifications")
	}
	v, err := s.cfg.Verification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
