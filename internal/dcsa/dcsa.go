// Package dcsa speaks DCSA Track & Trace 2.2 at a node's edge: it reads the
// query parameters of GET /v2/events into a query.Filter and writes linkd
// events in DCSA's event shapes, without linkd's own fields (party lists,
// residency, causal links, clocks), so a DCSA client sees what it expects.
package dcsa

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/query"
)

// APIVersion is sent in the API-Version header of every /v2 answer.
const APIVersion = "2.2.0"

// Params are the query parameters GET /v2/events accepts.
var Params = []string{
	"eventType", "shipmentEventTypeCode", "documentTypeCode", "carrierBookingReference",
	"transportDocumentReference", "transportEventTypeCode", "transportCallID", "vesselIMONumber",
	"carrierVoyageNumber", "carrierServiceCode", "UNLocationCode", "equipmentEventTypeCode",
	"equipmentReference", "eventCreatedDateTime", "eventCreatedDateTime:gte", "eventCreatedDateTime:gt",
	"eventCreatedDateTime:lte", "eventCreatedDateTime:lt", "eventCreatedDateTime:eq", "limit", "cursor",
}

// unsupported are DCSA 2.2 parameters this node does not serve; naming them
// explains the 400 better than "unknown".
var unsupported = map[string]string{
	"bookingReference":    "use carrierBookingReference",
	"transportDocumentID": "use transportDocumentReference",
	"scheduleID":          "not kept by linkd",
	"exportVoyageNumber":  "use carrierVoyageNumber",
	"sort":                "events are always in event-time order",
}

// Query is a parsed GET /v2/events request.
type Query struct {
	Filter query.Filter
	Limit  int
	Cursor string
}

// ParseQuery reads a /v2/events query string. Every problem is reported
// with its parameter.
func ParseQuery(q url.Values) (Query, error) {
	var probs []linkd.Problem
	fail := func(name, format string, args ...any) {
		probs = append(probs, linkd.Problem{Field: name, Reason: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if why, ok := unsupported[name]; ok {
			fail(name, "not supported: %s", why)
		} else if !slices.Contains(Params, name) {
			fail(name, "unknown query parameter; known: %s", strings.Join(Params, ", "))
		}
	}
	one := func(name string) string {
		v := q[name]
		if len(v) > 1 {
			fail(name, "given %d times; give it once", len(v))
			return ""
		}
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	list := func(name string) []string {
		var out []string
		for _, v := range q[name] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	var out Query
	f := &out.Filter
	f.CarrierBookingReference = one("carrierBookingReference")
	f.TransportDocumentReference = one("transportDocumentReference")
	f.EquipmentReference = one("equipmentReference")
	for _, t := range list("eventType") {
		f.EventTypes = append(f.EventTypes, linkd.EventType(t))
	}
	// DCSA knows three event families; linkd's INVENTORY events are not
	// shown to a DCSA client, nor asked for by one.
	if len(f.EventTypes) == 0 {
		f.EventTypes = []linkd.EventType{linkd.Shipment, linkd.Transport, linkd.Equipment}
	} else if slices.Contains(f.EventTypes, linkd.Inventory) {
		fail("eventType", "INVENTORY is linkd's own, not DCSA's; ask GET /v1/events for it")
	}
	f.ShipmentEventTypeCodes = list("shipmentEventTypeCode")
	f.TransportEventTypeCodes = list("transportEventTypeCode")
	f.EquipmentEventTypeCodes = list("equipmentEventTypeCode")
	f.DocumentTypeCodes = list("documentTypeCode")
	f.UNLocationCode = one("UNLocationCode")
	f.TransportCallID = one("transportCallID")
	f.VesselIMONumber = one("vesselIMONumber")
	f.CarrierVoyageNumber = one("carrierVoyageNumber")
	f.CarrierServiceCode = one("carrierServiceCode")

	// eventCreatedDateTime with DCSA's comparison suffixes; the bare name
	// means :eq.
	for _, op := range []string{"", ":eq", ":gte", ":gt", ":lte", ":lt"} {
		name := "eventCreatedDateTime" + op
		s := one(name)
		if s == "" {
			continue
		}
		t, err := linkd.ParseTime(s)
		if err != nil {
			fail(name, "%v", err)
			continue
		}
		tt := t.Time
		switch op {
		case "", ":eq":
			f.CreatedFrom, f.CreatedTo = later(f.CreatedFrom, tt), earlier(f.CreatedTo, tt.Add(time.Nanosecond))
		case ":gte":
			f.CreatedFrom = later(f.CreatedFrom, tt)
		case ":gt":
			f.CreatedFrom = later(f.CreatedFrom, tt.Add(time.Nanosecond))
		case ":lte":
			f.CreatedTo = earlier(f.CreatedTo, tt.Add(time.Nanosecond))
		case ":lt":
			f.CreatedTo = earlier(f.CreatedTo, tt)
		}
	}
	if s := one("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > query.MaxLimit {
			fail("limit", "want a whole number from 1 to %d, not %q", query.MaxLimit, s)
		}
		out.Limit = n
	}
	out.Cursor = one("cursor")
	if len(probs) > 0 {
		return Query{}, &linkd.ValidationError{Problems: probs}
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
