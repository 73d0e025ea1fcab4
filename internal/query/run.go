package query

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Log is what Run reads: a party log's index scans.
type Log interface {
	Scan(ctx context.Context, q partylog.Query) (partylog.Page, error)
	CursorAfter(rec linkd.Recorded) string
}

// Limits of one page.
const (
	DefaultLimit = 100
	MaxLimit     = partylog.MaxPageSize
	// scanBudget bounds the events one request examines when filters reject
	// most of what the chosen index yields; the page then ends early with a
	// cursor, so a sparse query costs many cheap requests, never one that
	// walks the whole log.
	scanBudget = 10 * MaxLimit
)

// Plan is the index scan that serves a filter, and whether every scanned
// event still needs Match.
type Plan struct {
	Index      partylog.Index
	Value      string
	PostFilter bool
}

// PlanFor picks the most selective index for f: a shipment reference, then a
// location, then a single event code, else the time index.
func PlanFor(f *Filter) Plan {
	rest := *f
	rest.From, rest.To = time.Time{}, time.Time{} // the scan applies the event-time range itself
	var p Plan
	switch {
	case f.CarrierBookingReference != "":
		p = Plan{Index: partylog.ByBooking, Value: f.CarrierBookingReference}
		rest.CarrierBookingReference = ""
	case f.TransportDocumentReference != "":
		p = Plan{Index: partylog.ByTransportDocument, Value: f.TransportDocumentReference}
		rest.TransportDocumentReference = ""
	case f.EquipmentReference != "":
		p = Plan{Index: partylog.ByEquipment, Value: f.EquipmentReference}
		rest.EquipmentReference = ""
	case f.UNLocationCode != "":
		p = Plan{Index: partylog.ByLocation, Value: f.UNLocationCode}
		rest.UNLocationCode = ""
	default:
		if t, code, ok := singleCode(f); ok {
			p = Plan{Index: partylog.ByTypeCode, Value: string(t) + "/" + code}
			rest.EventTypes, rest.ShipmentEventTypeCodes, rest.TransportEventTypeCodes, rest.EquipmentEventTypeCodes = nil, nil, nil, nil
		} else {
			p = Plan{Index: partylog.ByTime}
		}
	}
	p.PostFilter = rest.key() != (&Filter{}).key()
	return p
}

// singleCode reports whether f asks for exactly one event code of one family.
func singleCode(f *Filter) (linkd.EventType, string, bool) {
	var t linkd.EventType
	var code string
	n := 0
	for _, c := range []struct {
		t     linkd.EventType
		codes []string
	}{{linkd.Shipment, f.ShipmentEventTypeCodes}, {linkd.Transport, f.TransportEventTypeCodes}, {linkd.Equipment, f.EquipmentEventTypeCodes}} {
		if len(c.codes) > 0 {
			n++
			t = c.t
			if len(c.codes) == 1 {
				code = c.codes[0]
			}
		}
	}
	if n != 1 || code == "" {
		return "", "", false
	}
	for _, et := range f.EventTypes {
		if et == t {
			return t, code, true
		}
	}
	return t, code, len(f.EventTypes) == 0
}

// Run returns one page of the events matching f, in event-time order,
// starting after cursor ("" for the first page). limit 0 means DefaultLimit.
func Run(ctx context.Context, log Log, f Filter, cursor string, limit int) (linkd.EventPage, error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return linkd.EventPage{}, &linkd.ValidationError{Problems: []linkd.Problem{{Field: "limit", Reason: "want 1 to 1000"}}}
	}
	if err := f.Validate(); err != nil {
		return linkd.EventPage{}, err
	}
	plan := PlanFor(&f)
	tag := f.tag()
	inner, err := openCursor(cursor, tag)
	if err != nil {
		return linkd.EventPage{}, err
	}
	page := linkd.EventPage{Events: []linkd.Recorded{}}
	scanned := 0
	for {
		chunk := limit - len(page.Events)
		if plan.PostFilter {
			chunk = MaxLimit // scan ahead; the page ends at the last event kept
		}
		p, err := log.Scan(ctx, partylog.Query{Index: plan.Index, Value: plan.Value, From: f.From, To: f.To, Cursor: inner, Limit: chunk})
		if err != nil {
			return linkd.EventPage{}, err
		}
		for _, rec := range p.Events {
			scanned++
			if plan.PostFilter && !f.Match(&rec.Event) {
				continue
			}
			page.Events = append(page.Events, rec)
			if len(page.Events) == limit {
				break
			}
		}
		switch {
		case len(page.Events) == limit:
			// More may follow unless this scan ended the index exactly here.
			last := page.Events[len(page.Events)-1]
			if p.Next != "" || last.LogIndex != p.Events[len(p.Events)-1].LogIndex {
				page.Next = sealCursor(tag, log.CursorAfter(last))
			}
			return page, nil
		case p.Next == "":
			return page, nil
		case scanned >= scanBudget:
			page.Next = sealCursor(tag, p.Next)
			return page, nil
		}
		inner = p.Next
	}
}

// tag binds a cursor to the filter it pages through.
func (f *Filter) tag() [8]byte {
	s := sha256.Sum256([]byte(f.key()))
	return [8]byte(s[:8])
}

func sealCursor(tag [8]byte, inner string) string {
	return base64.RawURLEncoding.EncodeToString(append(tag[:], inner...))
}

func openCursor(c string, tag [8]byte) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) <= len(tag) || len(c) > 256 {
		return "", linkd.Errorf(linkd.EInvalid, "malformed paging cursor: pass back the cursor of the previous page unchanged")
	}
	if [8]byte(b[:8]) != tag {
		return "", linkd.Errorf(linkd.EInvalid, "the paging cursor belongs to a query with other filters: repeat the query's filters unchanged, or start again without a cursor")
	}
	return string(b[8:]), nil
}
