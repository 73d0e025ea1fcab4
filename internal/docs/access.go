package docs

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shipment"
)

// The document-access matrix says, per shipment, which roles may hold each
// type of document. Its defaults are DefaultRoles; a party on the
// shipment's list changes one row by recording an access event:
//
//	eventType SHIPMENT, shipmentEventTypeCode CONF, documentTypeCode <type>,
//	the shipment's references, reason "linkd:document-access roles=<r1>,<r2>"
//
// ("roles=" with none leaves documents of that type to their issuer). Every
// node folds the access events it holds of a shipment in timeline order
// (shipment.CompareRecorded), later rows replacing earlier ones, and counts
// only those whose origin is on the shipment's party list, so every node
// that holds the same events computes the same matrix. Access events go to
// every party on the shipment (no visibility, no residency): who may see
// what is not itself a secret among them.
//
// Erasure is carried the same way:
//
//	eventType SHIPMENT, shipmentEventTypeCode VOID, the shipment's
//	references, reason "linkd:erase" or "linkd:erase <why>"
//
// and is acted on by every node that receives it from a party on the
// shipment's list.
const (
	accessMarker = "linkd:document-access "
	eraseMarker  = "linkd:erase"
	accessCode   = "CONF"
	eraseCode    = "VOID"
)

// DefaultRoles is the access matrix every shipment starts with: per trade
// document type, the roles that may hold it. The commercial invoice is the
// trade parties' and customs' business, not the carrier's or the
// terminal's; the terminal sees the bill of lading it releases cargo
// against. Other DCSA document types go to every role.
var DefaultRoles = map[string][]linkd.Role{
	"INV": {linkd.RoleShipper, linkd.RoleConsignee, linkd.RoleForwarder, linkd.RoleCustoms},
	"PKL": {linkd.RoleShipper, linkd.RoleConsignee, linkd.RoleForwarder, linkd.RoleCarrier, linkd.RoleCustoms, linkd.RoleWarehouse},
	"TRD": {linkd.RoleShipper, linkd.RoleConsignee, linkd.RoleForwarder, linkd.RoleCarrier, linkd.RoleCustoms, linkd.RoleTerminal},
	"COO": {linkd.RoleShipper, linkd.RoleConsignee, linkd.RoleForwarder, linkd.RoleCustoms},
	"PHY": {linkd.RoleShipper, linkd.RoleConsignee, linkd.RoleForwarder, linkd.RoleCustoms},
}

// Matrix is one shipment's document-access matrix.
type Matrix struct {
	rows map[string]AccessRow // set by events; types absent use DefaultRoles
}

// AccessRow is one document type's row of a shipment's matrix.
type AccessRow struct {
	DocumentTypeCode string       `json:"documentTypeCode"`
	Roles            []linkd.Role `json:"roles"`
	// SetBy is the event that set the row and its origin; empty for a
	// default row.
	SetBy   string `json:"setBy,omitempty"`
	SetByID string `json:"setByEventID,omitempty"`
}

// Roles returns the roles that may hold documents of type code.
func (m Matrix) Roles(code string) []linkd.Role {
	if r, ok := m.rows[code]; ok {
		return r.Roles
	}
	if r, ok := DefaultRoles[code]; ok {
		return r
	}
	return linkd.Roles
}

// Row returns the row of type code.
func (m Matrix) Row(code string) AccessRow {
	if r, ok := m.rows[code]; ok {
		return r
	}
	return AccessRow{DocumentTypeCode: code, Roles: m.Roles(code)}
}

// Allows reports whether role may hold documents of type code.
func (m Matrix) Allows(code string, role linkd.Role) bool {
	return role != "" && slices.Contains(m.Roles(code), role)
}

// FoldMatrix computes a shipment's matrix from the events held of it (any
// order; access events among them are applied in timeline order). onList
// says whether a party is on the shipment's list; other parties' access
// events are ignored.
func FoldMatrix(recs []linkd.Recorded, onList func(party string) bool) Matrix {
	var access []*linkd.Recorded
	for i := range recs {
		if _, _, ok := parseAccess(&recs[i].Event); ok {
			access = append(access, &recs[i])
		}
	}
	sort.SliceStable(access, func(i, j int) bool { return shipment.CompareRecorded(access[i], access[j]) < 0 })
	m := Matrix{rows: map[string]AccessRow{}}
	for _, r := range access {
		if !onList(r.Event.Origin) {
			continue
		}
		code, roles, _ := parseAccess(&r.Event)
		m.rows[code] = AccessRow{DocumentTypeCode: code, Roles: roles, SetBy: r.Event.Origin, SetByID: r.Event.EventID}
	}
	return m
}

// AccessEvent returns the event that sets type code's row of sh's matrix to
// roles.
func AccessEvent(sh Shipment, code string, roles []linkd.Role, at time.Time) linkd.Event {
	e := linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: accessCode,
		DocumentTypeCode: code, EventDateTime: linkd.Time{Time: at},
		Reason: accessMarker + "roles=" + joinRoles(roles),
	}
	sh.event(&e)
	return e
}

// parseAccess reads an access event: the type and the roles it sets.
func parseAccess(e *linkd.Event) (string, []linkd.Role, bool) {
	if e.EventType != linkd.Shipment || e.ShipmentEventTypeCode != accessCode || e.DocumentTypeCode == "" {
		return "", nil, false
	}
	rest, ok := strings.CutPrefix(e.Reason, accessMarker+"roles=")
	if !ok {
		return "", nil, false
	}
	var roles []linkd.Role
	for _, r := range strings.Split(rest, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if !slices.Contains(linkd.Roles, linkd.Role(r)) {
				return "", nil, false
			}
			roles = append(roles, linkd.Role(r))
		}
	}
	return e.DocumentTypeCode, roles, true
}

// CheckRoles says what is wrong with a matrix row's roles, nil if nothing.
func CheckRoles(roles []linkd.Role) error {
	for _, r := range roles {
		if !slices.Contains(linkd.Roles, r) {
			return linkd.Errorf(linkd.EInvalid, "roles: unknown role %q; known: %s", clip(string(r)), joinRoles(linkd.Roles))
		}
	}
	return nil
}

func joinRoles(roles []linkd.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// ErasureEvent returns the event that erases shipment sh, saying why.
func ErasureEvent(sh Shipment, why string, at time.Time) linkd.Event {
	reason := eraseMarker
	if why = strings.TrimSpace(why); why != "" {
		reason += " " + why
	}
	e := linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: eraseCode,
		EventDateTime: linkd.Time{Time: at}, Reason: reason,
	}
	sh.event(&e)
	return e
}

// IsErasure reports whether e erases its shipment, and why.
func IsErasure(e *linkd.Event) (string, bool) {
	if e.EventType != linkd.Shipment || e.ShipmentEventTypeCode != eraseCode {
		return "", false
	}
	if e.Reason == eraseMarker {
		return "", true
	}
	why, ok := strings.CutPrefix(e.Reason, eraseMarker+" ")
	return why, ok
}

// roleOf is party's role on a shipment's list, "" if it is not on it.
func roleOf(list []linkd.ShipmentParty, party string) linkd.Role {
	for _, p := range list {
		if p.Party == party {
			return p.Role
		}
	}
	return ""
}

// audience is who a new document of type code goes to: the issuer, and
// every party on the list whose role the matrix allows, narrowed to
// visibility when that is given.
func audience(list []linkd.ShipmentParty, m Matrix, code, issuer string, visibility []string) []string {
	out := []string{issuer}
	for _, p := range list {
		if p.Party == issuer || !m.Allows(code, p.Role) {
			continue
		}
		if len(visibility) > 0 && !slices.Contains(visibility, p.Party) {
			continue
		}
		out = append(out, p.Party)
	}
	slices.Sort(out)
	return out
}

// describeRoles is a row's roles for messages.
func describeRoles(roles []linkd.Role) string {
	if len(roles) == 0 {
		return "no role (the issuer only)"
	}
	return fmt.Sprintf("roles %s", joinRoles(roles))
}
