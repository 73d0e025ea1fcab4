package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/query"
)

// Limits on query strings, so a request cannot make the node hold or scan
// an unbounded filter.
const (
	maxQueryValues = 64  // values in one list parameter
	maxQueryValue  = 200 // bytes of one value
)

// checkParams refuses unknown query parameters, naming each (unless the
// handler names them itself), and values that are not UTF-8, too long or
// lists of too many values.
// longParams are single values that may be long, with their limits: a CEL
// expression and a stream cursor (which grows with the logs it covers).
var longParams = map[string]int{"expression": 4096, "lastEventID": 64 << 10}

func checkParams(r *http.Request, allowed []string, anyName bool) error {
	if r.URL.RawQuery == "" {
		return nil // nothing to check, and most requests send no query
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return linkd.Errorf(linkd.EInvalid, "malformed query string: %v", err)
	}
	var probs []linkd.Problem
	for name, vals := range q {
		if !anyName && !slices.Contains(allowed, name) {
			reason := "unknown query parameter"
			if len(allowed) == 0 {
				reason += "; this endpoint takes none"
			} else {
				reason += "; known: " + strings.Join(allowed, ", ")
			}
			probs = append(probs, linkd.Problem{Field: clip(name), Reason: reason})
			continue
		}
		for _, v := range vals {
			if limit, ok := longParams[name]; ok {
				if len(v) > limit {
					probs = append(probs, linkd.Problem{Field: name, Reason: fmt.Sprintf("longer than %d bytes", limit)})
				} else if !utf8.ValidString(v) {
					probs = append(probs, linkd.Problem{Field: name, Reason: "not valid UTF-8"})
				}
				continue
			}
			switch {
			case !utf8.ValidString(v):
				probs = append(probs, linkd.Problem{Field: clip(name), Reason: "not valid UTF-8"})
			case len(v) > maxQueryValue*maxQueryValues:
				probs = append(probs, linkd.Problem{Field: clip(name), Reason: fmt.Sprintf("longer than %d bytes", maxQueryValue*maxQueryValues)})
			case strings.Count(v, ",") >= maxQueryValues:
				probs = append(probs, linkd.Problem{Field: clip(name), Reason: fmt.Sprintf("more than %d values", maxQueryValues)})
			case !strings.Contains(v, ",") && len(v) > maxQueryValue:
				probs = append(probs, linkd.Problem{Field: clip(name), Reason: fmt.Sprintf("longer than %d bytes", maxQueryValue)})
			}
		}
	}
	if len(probs) > 0 {
		slices.SortFunc(probs, func(a, b linkd.Problem) int { return strings.Compare(a.Field, b.Field) })
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// params reads typed values from a query string and collects every problem.
type params struct {
	q     url.Values
	probs []linkd.Problem
}

func newParams(r *http.Request) *params { return &params{q: r.URL.Query()} }

func (p *params) fail(name, format string, args ...any) {
	p.probs = append(p.probs, linkd.Problem{Field: name, Reason: fmt.Sprintf(format, args...)})
}

func (p *params) err() error {
	if len(p.probs) == 0 {
		return nil
	}
	return &linkd.ValidationError{Problems: p.probs}
}

// one returns a single-valued parameter; "" when absent.
func (p *params) one(name string) string {
	vals := p.q[name]
	switch {
	case len(vals) == 0:
		return ""
	case len(vals) > 1:
		p.fail(name, "given %d times; give it once", len(vals))
		return ""
	case len(vals[0]) > maxQueryValue:
		p.fail(name, "longer than %d bytes", maxQueryValue)
		return ""
	}
	return vals[0]
}

// list returns a list parameter: comma-separated values, and repeated
// parameters, merged.
func (p *params) list(name string) []string {
	var out []string
	for _, v := range p.q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) > maxQueryValues {
		p.fail(name, "%d values; at most %d", len(out), maxQueryValues)
		return nil
	}
	for _, s := range out {
		if len(s) > maxQueryValue {
			p.fail(name, "a value is longer than %d bytes", maxQueryValue)
			return nil
		}
	}
	return out
}

func (p *params) int(name string, min, max, def int64) int64 {
	s := p.one(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		p.fail(name, "want a whole number from %d to %d, not %q", min, max, clip(s))
		return def
	}
	return n
}

func (p *params) time(name string) time.Time {
	s := p.one(name)
	if s == "" {
		return time.Time{}
	}
	t, err := linkd.ParseTime(s)
	if err != nil {
		p.fail(name, "%v", err)
		return time.Time{}
	}
	return t.Time
}

func (p *params) eventTypes(name string) []linkd.EventType {
	var out []linkd.EventType
	for _, s := range p.list(name) {
		out = append(out, linkd.EventType(s))
	}
	return out
}

// v1EventParams are the filters of GET /v1/events: DCSA's field names, an
// event-time range, the recording party, and paging.
var v1EventParams = []string{
	"carrierBookingReference", "transportDocumentReference", "equipmentReference",
	"eventType", "shipmentEventTypeCode", "transportEventTypeCode", "equipmentEventTypeCode",
	"documentTypeCode", "eventClassifierCode", "UNLocationCode",
	"transportCallID", "vesselIMONumber", "carrierVoyageNumber", "carrierServiceCode",
	"origin", "from", "to", "limit", "cursor",
}

// commonFilter reads the filters /v1/events and /v2/events share.
func (p *params) commonFilter() query.Filter {
	return query.Filter{
		CarrierBookingReference:    p.one("carrierBookingReference"),
		TransportDocumentReference: p.one("transportDocumentReference"),
		EquipmentReference:         p.one("equipmentReference"),
		EventTypes:                 p.eventTypes("eventType"),
		ShipmentEventTypeCodes:     p.list("shipmentEventTypeCode"),
		TransportEventTypeCodes:    p.list("transportEventTypeCode"),
		EquipmentEventTypeCodes:    p.list("equipmentEventTypeCode"),
		DocumentTypeCodes:          p.list("documentTypeCode"),
		UNLocationCode:             p.one("UNLocationCode"),
		TransportCallID:            p.one("transportCallID"),
		VesselIMONumber:            p.one("vesselIMONumber"),
		CarrierVoyageNumber:        p.one("carrierVoyageNumber"),
		CarrierServiceCode:         p.one("carrierServiceCode"),
	}
}

func (p *params) v1Filter() query.Filter {
	f := p.commonFilter()
	f.ClassifierCodes = p.list("eventClassifierCode")
	f.Origins = p.list("origin")
	f.From, f.To = p.time("from"), p.time("to")
	return f
}
