// Package query answers event queries over a party log: a Filter in the
// DCSA style (AND across fields, OR within a field's list), a planner that
// picks the most selective index of the log for it, and paging with cursors
// that stay valid while the log grows and refuse to be reused with another
// filter. The HTTP API's /v1/events and /v2/events both run on it, and
// subscriptions match events with the same Filter.
package query

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Filter selects events. Every set field must match (AND); a list matches
// when any of its values does (OR). The zero Filter matches every event.
type Filter struct {
	CarrierBookingReference    string
	TransportDocumentReference string
	EquipmentReference         string
	EventTypes                 []linkd.EventType
	ShipmentEventTypeCodes     []string
	TransportEventTypeCodes    []string
	EquipmentEventTypeCodes    []string
	DocumentTypeCodes          []string
	ClassifierCodes            []string // PLN, EST, ACT
	UNLocationCode             string   // eventLocation, else transportCall.location
	TransportCallID            string
	VesselIMONumber            string
	CarrierVoyageNumber        string
	CarrierServiceCode         string
	Origins                    []string // recording parties

	// Event time range: From ≤ eventDateTime < To; zero means unbounded.
	From, To time.Time
	// Creation time range on eventCreatedDateTime: CreatedFrom ≤ t < CreatedTo.
	// An event without a creation time never matches a set bound.
	CreatedFrom, CreatedTo time.Time
}

// Match reports whether e passes every condition of f.
func (f *Filter) Match(e *linkd.Event) bool {
	if !eq(f.CarrierBookingReference, e.CarrierBookingReference) ||
		!eq(f.TransportDocumentReference, e.TransportDocumentReference) ||
		!eq(f.EquipmentReference, e.EquipmentReference) ||
		!eq(f.UNLocationCode, Location(e)) ||
		!in(f.ClassifierCodes, e.EventClassifierCode) ||
		!in(f.DocumentTypeCodes, e.DocumentTypeCode) ||
		!in(f.Origins, e.Origin) {
		return false
	}
	if len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, e.EventType) {
		return false
	}
	// A code filter of one event family excludes events of the others, as
	// DCSA specifies (shipmentEventTypeCode=DRFT&equipmentEventTypeCode=GTIN
	// matches nothing).
	if len(f.ShipmentEventTypeCodes) > 0 && (e.EventType != linkd.Shipment || !slices.Contains(f.ShipmentEventTypeCodes, e.ShipmentEventTypeCode)) {
		return false
	}
	if len(f.TransportEventTypeCodes) > 0 && (e.EventType != linkd.Transport || !slices.Contains(f.TransportEventTypeCodes, e.TransportEventTypeCode)) {
		return false
	}
	if len(f.EquipmentEventTypeCodes) > 0 && (e.EventType != linkd.Equipment || !slices.Contains(f.EquipmentEventTypeCodes, e.EquipmentEventTypeCode)) {
		return false
	}
	if f.TransportCallID != "" || f.VesselIMONumber != "" || f.CarrierVoyageNumber != "" || f.CarrierServiceCode != "" {
		tc := e.TransportCall
		if tc == nil {
			return false
		}
		imo := ""
		if tc.Vessel != nil {
			imo = tc.Vessel.VesselIMONumber
		}
		if !eq(f.TransportCallID, tc.TransportCallID) || !eq(f.VesselIMONumber, imo) ||
			!eq(f.CarrierVoyageNumber, tc.CarrierVoyageNumber) || !eq(f.CarrierServiceCode, tc.CarrierServiceCode) {
			return false
		}
	}
	t := e.EventDateTime.Time
	if (!f.From.IsZero() && t.Before(f.From)) || (!f.To.IsZero() && !t.Before(f.To)) {
		return false
	}
	if !f.CreatedFrom.IsZero() || !f.CreatedTo.IsZero() {
		c := e.EventCreatedDateTime.Time
		if c.IsZero() || (!f.CreatedFrom.IsZero() && c.Before(f.CreatedFrom)) || (!f.CreatedTo.IsZero() && !c.Before(f.CreatedTo)) {
			return false
		}
	}
	return true
}

// Location is the UN/LOCODE an event happened at: its eventLocation, else its
// transport call's location; "" when it names none.
func Location(e *linkd.Event) string {
	if e.EventLocation != nil && e.EventLocation.UNLocationCode != "" {
		return e.EventLocation.UNLocationCode
	}
	if e.TransportCall != nil && e.TransportCall.Location != nil {
		return e.TransportCall.Location.UNLocationCode
	}
	return ""
}

// Validate checks the filter's values, naming the parameter of each problem.
func (f *Filter) Validate() error {
	var probs []linkd.Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, linkd.Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	for _, t := range f.EventTypes {
		if !slices.Contains(linkd.EventTypes, t) {
			add("eventType", "unknown event type %q; want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY", clip(string(t)))
		}
	}
	for _, c := range f.ClassifierCodes {
		if c != "PLN" && c != "EST" && c != "ACT" {
			add("eventClassifierCode", "unknown classifier %q; want PLN, EST or ACT", clip(c))
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		add("eventDateTime", "empty range: the start %s is not before the end %s", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		add("eventCreatedDateTime", "empty range: the start %s is not before the end %s", f.CreatedFrom.Format(time.RFC3339), f.CreatedTo.Format(time.RFC3339))
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// key is a canonical text of the filter, so a cursor can name the query it
// belongs to.
func (f *Filter) key() string {
	var b strings.Builder
	w := func(name string, vals ...string) {
		b.WriteString(name)
		b.WriteByte('=')
		for _, v := range vals {
			b.WriteString(v)
			b.WriteByte(',')
		}
		b.WriteByte(';')
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	types := make([]string, len(f.EventTypes))
	for i, t := range f.EventTypes {
		types[i] = string(t)
	}
	w("b", f.CarrierBookingReference)
	w("t", f.TransportDocumentReference)
	w("q", f.EquipmentReference)
	w("et", sorted(types)...)
	w("sc", sorted(f.ShipmentEventTypeCodes)...)
	w("tc", sorted(f.TransportEventTypeCodes)...)
	w("qc", sorted(f.EquipmentEventTypeCodes)...)
	w("dc", sorted(f.DocumentTypeCodes)...)
	w("cc", sorted(f.ClassifierCodes)...)
	w("l", f.UNLocationCode)
	w("call", f.TransportCallID, f.VesselIMONumber, f.CarrierVoyageNumber, f.CarrierServiceCode)
	w("o", sorted(f.Origins)...)
	w("time", ts(f.From), ts(f.To), ts(f.CreatedFrom), ts(f.CreatedTo))
	return b.String()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func eq(want, got string) bool { return want == "" || want == got }

func in(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
