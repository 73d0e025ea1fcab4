package expr

import (
	"fmt"
	"slices"
	"strings"

	celast "github.com/google/cel-go/common/ast"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/query"
)

// MaxFilterValues bounds each list of a Filter.
const MaxFilterValues = 256

// Filter selects events for a subscription or a rule: DCSA-style field lists
// and an optional CEL expression. Every non-empty list must match (AND); a
// list matches when any of its values does (OR); the expression, when given,
// must also give true. The zero Filter matches every event.
//
// As in DCSA's event query, a type-code list of one family admits only events
// of that family: shipmentEventTypeCodes: [HOLD] never matches a TRANSPORT
// event, so Validate refuses lists of two families at once.
type Filter struct {
	EventTypes                  []linkd.EventType `json:"eventTypes,omitempty" yaml:"eventTypes,omitempty"`
	EventClassifierCodes        []string          `json:"eventClassifierCodes,omitempty" yaml:"eventClassifierCodes,omitempty"` // PLN, EST, ACT
	ShipmentEventTypeCodes      []string          `json:"shipmentEventTypeCodes,omitempty" yaml:"shipmentEventTypeCodes,omitempty"`
	TransportEventTypeCodes     []string          `json:"transportEventTypeCodes,omitempty" yaml:"transportEventTypeCodes,omitempty"`
	EquipmentEventTypeCodes     []string          `json:"equipmentEventTypeCodes,omitempty" yaml:"equipmentEventTypeCodes,omitempty"`
	InventoryEventTypeCodes     []string          `json:"inventoryEventTypeCodes,omitempty" yaml:"inventoryEventTypeCodes,omitempty"`
	DocumentTypeCodes           []string          `json:"documentTypeCodes,omitempty" yaml:"documentTypeCodes,omitempty"`
	CarrierBookingReferences    []string          `json:"carrierBookingReferences,omitempty" yaml:"carrierBookingReferences,omitempty"`
	TransportDocumentReferences []string          `json:"transportDocumentReferences,omitempty" yaml:"transportDocumentReferences,omitempty"`
	EquipmentReferences         []string          `json:"equipmentReferences,omitempty" yaml:"equipmentReferences,omitempty"`
	// UNLocationCodes match the event's eventLocation, else its transport
	// call's location (query.Location).
	UNLocationCodes []string `json:"UNLocationCodes,omitempty" yaml:"UNLocationCodes,omitempty"`
	// Origins match the party that recorded the event.
	Origins []string `json:"origins,omitempty" yaml:"origins,omitempty"`
	// Parties match when any of them is on the event's party list.
	Parties []string `json:"parties,omitempty" yaml:"parties,omitempty"`
	// SKUs match the SKU of an INVENTORY event's line.
	SKUs []string `json:"skus,omitempty" yaml:"skus,omitempty"`
	// Expression is a CEL condition over event and shipment (see the package
	// comment); "" means none.
	Expression string `json:"expression,omitempty" yaml:"expression,omitempty"`
}

// ReadsShipment reports whether f's expression names the variable
// shipment, whose derived state costs a timeline read per event to
// provide: callers pass a nil state when it does not. An expression that
// does not parse reads nothing (Validate refuses it).
func (f Filter) ReadsShipment() bool {
	if f.Expression == "" {
		return false
	}
	parsed, iss := env.Parse(f.Expression)
	if iss.Err() != nil {
		return false
	}
	found := false
	celast.PreOrderVisit(parsed.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.IdentKind && e.AsIdent() == "shipment" {
			found = true
		}
	}))
	return found
}

// Validate checks every value of f and returns a *linkd.ValidationError
// naming the field of each problem (shipmentEventTypeCodes[1], expression),
// or nil.
func (f Filter) Validate() error {
	_, err := f.compile()
	return err
}

// Matcher is a compiled Filter. It is safe for concurrent use.
type Matcher struct {
	filter Filter

	eventTypes, classifiers                                  set
	shipmentCodes, transportCodes, equipmentCodes, invCodes  set
	documentTypes, bookings, documents, equipment, locations set
	origins, parties, skus                                   set
	prog                                                     *Program // nil without an expression
}

// CompileFilter validates f and compiles it into a Matcher. Errors are as
// Validate's.
func CompileFilter(f Filter) (*Matcher, error) { return f.compile() }

// Filter is the filter m was compiled from.
func (m *Matcher) Filter() Filter { return m.filter }

// Match reports whether in's event passes every field list and then, only
// if they all pass, the expression. Errors are the expression's (see
// Program.Match); the event then does not match.
func (m *Matcher) Match(in *Input) (bool, error) {
	if !m.matchFields(in.Event()) {
		return false, nil
	}
	if m.prog == nil {
		return true, nil
	}
	return m.prog.Match(in)
}

func (m *Matcher) matchFields(e *linkd.Event) bool {
	if !m.eventTypes.admits(string(e.EventType)) ||
		!m.classifiers.admits(e.EventClassifierCode) ||
		!m.documentTypes.admits(e.DocumentTypeCode) ||
		!m.bookings.admits(e.CarrierBookingReference) ||
		!m.documents.admits(e.TransportDocumentReference) ||
		!m.equipment.admits(e.EquipmentReference) ||
		!m.origins.admits(e.Origin) {
		return false
	}
	if !m.familyCode(e, linkd.Shipment, m.shipmentCodes, e.ShipmentEventTypeCode) ||
		!m.familyCode(e, linkd.Transport, m.transportCodes, e.TransportEventTypeCode) ||
		!m.familyCode(e, linkd.Equipment, m.equipmentCodes, e.EquipmentEventTypeCode) ||
		!m.familyCode(e, linkd.Inventory, m.invCodes, e.InventoryEventTypeCode) {
		return false
	}
	if m.locations.any() && !m.locations.has(query.Location(e)) {
		return false
	}
	if m.parties.any() && !slices.ContainsFunc(e.Parties, func(p linkd.ShipmentParty) bool { return m.parties.has(p.Party) }) {
		return false
	}
	if m.skus.any() && (e.Inventory == nil || !m.skus.has(e.Inventory.SKU)) {
		return false
	}
	return true
}

func (m *Matcher) familyCode(e *linkd.Event, family linkd.EventType, codes set, code string) bool {
	return !codes.any() || (e.EventType == family && codes.has(code))
}

// set is a list of values to match; the empty set admits everything.
type set struct {
	list []string
	m    map[string]struct{} // for long lists
}

func newSet(vals []string) set {
	s := set{list: vals}
	if len(vals) > 8 {
		s.m = make(map[string]struct{}, len(vals))
		for _, v := range vals {
			s.m[v] = struct{}{}
		}
	}
	return s
}

func (s set) any() bool { return len(s.list) > 0 }

func (s set) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	return slices.Contains(s.list, v)
}

func (s set) admits(v string) bool { return !s.any() || s.has(v) }

func (f Filter) compile() (*Matcher, error) {
	var c problems
	typeNames := make([]string, len(f.EventTypes))
	for i, t := range f.EventTypes {
		typeNames[i] = string(t)
	}
	c.list("eventTypes", typeNames, func(v string) string {
		if !slices.Contains(linkd.EventTypes, linkd.EventType(v)) {
			return fmt.Sprintf("unknown event type %q; want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY", clip(v))
		}
		return ""
	})
	c.codes("eventClassifierCodes", f.EventClassifierCodes, linkd.Classifiers)
	families := []struct {
		field string
		t     linkd.EventType
		codes []string
		table map[string]string
	}{
		{"shipmentEventTypeCodes", linkd.Shipment, f.ShipmentEventTypeCodes, linkd.ShipmentEventCodes},
		{"transportEventTypeCodes", linkd.Transport, f.TransportEventTypeCodes, linkd.TransportEventCodes},
		{"equipmentEventTypeCodes", linkd.Equipment, f.EquipmentEventTypeCodes, linkd.EquipmentEventCodes},
		{"inventoryEventTypeCodes", linkd.Inventory, f.InventoryEventTypeCodes, linkd.InventoryEventCodes},
	}
	first := ""
	for _, fam := range families {
		c.codes(fam.field, fam.codes, fam.table)
		if len(fam.codes) == 0 {
			continue
		}
		switch {
		case first != "":
			c.add(fam.field, fmt.Sprintf("cannot be combined with %s: an event has the type codes of one family only, so the filter would match nothing", first))
		case len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, fam.t):
			c.add(fam.field, fmt.Sprintf("matches only %s events, which eventTypes excludes", fam.t))
		}
		if first == "" {
			first = fam.field
		}
	}
	c.codes("documentTypeCodes", f.DocumentTypeCodes, linkd.DocumentTypeCodes)
	c.list("carrierBookingReferences", f.CarrierBookingReferences, textCheck(35))
	c.list("transportDocumentReferences", f.TransportDocumentReferences, textCheck(20))
	c.list("equipmentReferences", f.EquipmentReferences, checkContainerNumber)
	c.list("UNLocationCodes", f.UNLocationCodes, checkUNLocode)
	c.list("origins", f.Origins, checkPartyID)
	c.list("parties", f.Parties, checkPartyID)
	c.list("skus", f.SKUs, textCheck(35))
	if len(f.SKUs) > 0 && len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, linkd.Inventory) {
		c.add("skus", "matches only INVENTORY events, which eventTypes excludes")
	}
	var prog *Program
	if f.Expression != "" {
		p, err := Compile(f.Expression)
		if err != nil {
			c.add("expression", linkd.ErrorMessage(err))
		}
		prog = p
	}
	if len(c.probs) > 0 {
		return nil, &linkd.ValidationError{Problems: c.probs}
	}
	return &Matcher{
		filter:         f,
		eventTypes:     newSet(typeNames),
		classifiers:    newSet(f.EventClassifierCodes),
		shipmentCodes:  newSet(f.ShipmentEventTypeCodes),
		transportCodes: newSet(f.TransportEventTypeCodes),
		equipmentCodes: newSet(f.EquipmentEventTypeCodes),
		invCodes:       newSet(f.InventoryEventTypeCodes),
		documentTypes:  newSet(f.DocumentTypeCodes),
		bookings:       newSet(f.CarrierBookingReferences),
		documents:      newSet(f.TransportDocumentReferences),
		equipment:      newSet(f.EquipmentReferences),
		locations:      newSet(f.UNLocationCodes),
		origins:        newSet(f.Origins),
		parties:        newSet(f.Parties),
		skus:           newSet(f.SKUs),
		prog:           prog,
	}, nil
}

type problems struct{ probs []linkd.Problem }

func (c *problems) add(field, reason string) {
	c.probs = append(c.probs, linkd.Problem{Field: field, Reason: reason})
}

// list checks the length of a list and each value with check, which returns
// why a value is wrong or "".
func (c *problems) list(field string, vals []string, check func(string) string) {
	if len(vals) > MaxFilterValues {
		c.add(field, fmt.Sprintf("%d values; at most %d", len(vals), MaxFilterValues))
		return
	}
	for i, v := range vals {
		f := fmt.Sprintf("%s[%d]", field, i)
		if v == "" {
			c.add(f, "empty; leave the list out to match every value")
		} else if why := check(v); why != "" {
			c.add(f, why)
		}
	}
}

func (c *problems) codes(field string, vals []string, table map[string]string) {
	c.list(field, vals, func(v string) string {
		if _, ok := table[v]; !ok {
			return fmt.Sprintf("unknown code %q; one of %s", clip(v), codeList(table))
		}
		return ""
	})
}

func textCheck(max int) func(string) string {
	return func(v string) string {
		if len(v) > max {
			return fmt.Sprintf("%d bytes; at most %d", len(v), max)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] == 0x7f {
				return "contains a control character"
			}
		}
		if strings.TrimSpace(v) != v {
			return "has leading or trailing spaces"
		}
		return ""
	}
}

// checkUNLocode returns why s is not a UN/LOCODE (a country code and three
// letters or digits 2-9), or "".
func checkUNLocode(s string) string {
	if len(s) != 5 || !linkd.KnownCountry(s[:2]) {
		return fmt.Sprintf("%q is not a UN/LOCODE: want an ISO 3166 country code and 3 letters or digits 2-9 (DEHAM)", clip(s))
	}
	for i := 2; i < 5; i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '9') {
			return fmt.Sprintf("%q is not a UN/LOCODE: the location part takes A-Z and 2-9", s)
		}
	}
	return ""
}

// checkContainerNumber returns why s is not an ISO 6346 container number, or "".
func checkContainerNumber(s string) string {
	ok := len(s) == 11
	for i := 0; ok && i < 11; i++ {
		switch c := s[i]; {
		case i < 4:
			ok = c >= 'A' && c <= 'Z' && (i < 3 || c == 'U' || c == 'J' || c == 'Z')
		default:
			ok = c >= '0' && c <= '9'
		}
	}
	if !ok {
		return fmt.Sprintf("%q is not an ISO 6346 container number: want an owner code, U, J or Z, and 7 digits (MSKU1234565)", clip(s))
	}
	if want := linkd.ContainerCheckDigit(s[:10]); int(s[10]-'0') != want {
		return fmt.Sprintf("%q has check digit %c; ISO 6346 gives %d", s, s[10], want)
	}
	return ""
}

// checkPartyID returns why s is not a party id (lowercase letters, digits and
// inner hyphens, at most 63 characters), or "".
func checkPartyID(s string) string {
	ok := len(s) <= 63
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
	}
	if !ok {
		return fmt.Sprintf("%q is not a party id: use lowercase letters, digits and inner hyphens, at most 63", clip(s))
	}
	return ""
}

func codeList(table map[string]string) string {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
