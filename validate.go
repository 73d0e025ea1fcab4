package linkd

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Size limits on one event. They bound every string a client can send, so a
// valid event's canonical encoding stays far below MaxEventBytes.
const (
	MaxEventBytes   = 1 << 20 // one event's JSON or canonical encoding
	MaxBatchEvents  = 10000   // events in one append
	MaxListLen      = 64      // references, parties, visibility, residency, causedBy
	maxShortString  = 35      // DCSA booking reference, voyage numbers
	maxMediumString = 100     // DCSA documentID, names, facility codes
	maxReasonString = 5000    // free text
)

// Validate checks the event's intrinsic rules and returns every problem, each
// with a field path under prefix ("" or "events[3]."). It does not look at
// the log: retraction targets and duplicate ids are checked when appending.
func (e *Event) Validate(prefix string) []Problem {
	v := validator{prefix: prefix, batch: -1}
	e.validate(&v)
	return v.probs
}

// validate adds e's problems to v. Field paths are built only for problems,
// so a valid event costs no formatting.
func (e *Event) validate(v *validator) {
	v.uuid("eventID", e.EventID, false)
	switch e.EventType {
	case Shipment, Transport, Equipment, Inventory:
	case "":
		v.add("eventType", "required: SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY")
	default:
		v.add("eventType", fmt.Sprintf("unknown event type %q; want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY", e.EventType))
	}
	v.code("eventClassifierCode", e.EventClassifierCode, Classifiers, true)
	if e.EventDateTime.IsZero() {
		v.add("eventDateTime", "required: an RFC 3339 date-time with zone")
	}
	v.year("eventDateTime", e.EventDateTime)
	v.year("eventCreatedDateTime", e.EventCreatedDateTime)

	// Exactly the code fields of the event's own type.
	typed := []struct {
		t          EventType
		field, val string
		table      map[string]string
	}{
		{Shipment, "shipmentEventTypeCode", e.ShipmentEventTypeCode, ShipmentEventCodes},
		{Transport, "transportEventTypeCode", e.TransportEventTypeCode, TransportEventCodes},
		{Equipment, "equipmentEventTypeCode", e.EquipmentEventTypeCode, EquipmentEventCodes},
		{Inventory, "inventoryEventTypeCode", e.InventoryEventTypeCode, InventoryEventCodes},
	}
	for _, f := range typed {
		if f.t == e.EventType {
			v.code(f.field, f.val, f.table, true)
		} else if f.val != "" {
			v.add(f.field, fmt.Sprintf("belongs to %s events, not %s", f.t, e.EventType))
		}
	}
	v.code("documentTypeCode", e.DocumentTypeCode, DocumentTypeCodes, false)
	v.text("documentID", e.DocumentID, maxMediumString)
	v.text("reason", e.Reason, maxReasonString)
	v.text("delayReasonCode", e.DelayReasonCode, 3)
	if e.EventType == Equipment {
		v.code("emptyIndicatorCode", e.EmptyIndicatorCode, EmptyIndicatorCodes, true)
		if e.EquipmentReference == "" {
			v.add("equipmentReference", "required for EQUIPMENT events: the ISO 6346 container number")
		}
	} else {
		v.code("emptyIndicatorCode", e.EmptyIndicatorCode, EmptyIndicatorCodes, false)
	}
	v.text("ISOEquipmentCode", e.ISOEquipmentCode, 4)
	if e.EventType == Transport && e.TransportCall == nil {
		v.add("transportCall", "required for TRANSPORT events")
	}

	v.inventory(e)
	v.attestation(e)
	v.source(e.Source)

	// The shipment keys. A stock position is about a centre, not a shipment.
	stock := e.EventType == Inventory && e.InventoryEventTypeCode == "STCK"
	if e.CarrierBookingReference == "" && e.TransportDocumentReference == "" && e.EquipmentReference == "" && !stock {
		v.add("", "names no shipment: give carrierBookingReference, transportDocumentReference or equipmentReference")
	}
	v.ref("carrierBookingReference", e.CarrierBookingReference, maxShortString)
	v.ref("transportDocumentReference", e.TransportDocumentReference, 20)
	if e.EquipmentReference != "" {
		if why := checkContainerNumber(e.EquipmentReference); why != "" {
			v.add("equipmentReference", why)
		}
	}
	v.listLen("references", len(e.References))
	for i, r := range e.References {
		v.item("references", i)
		v.code("referenceType", r.ReferenceType, ReferenceTypes, true)
		if r.ReferenceValue == "" {
			v.add("referenceValue", "required")
		}
		v.text("referenceValue", r.ReferenceValue, maxShortString)
	}
	v.item("", 0)

	if e.EventLocation != nil {
		v.location("eventLocation", e.EventLocation)
	}
	if tc := e.TransportCall; tc != nil {
		v.text("transportCall.transportCallID", tc.TransportCallID, maxMediumString)
		v.text("transportCall.carrierServiceCode", tc.CarrierServiceCode, 5)
		v.text("transportCall.carrierVoyageNumber", tc.CarrierVoyageNumber, 50)
		v.code("transportCall.modeOfTransport", tc.ModeOfTransport, ModesOfTransport, e.EventType == Transport)
		if tc.Location == nil {
			if e.EventType == Transport {
				v.add("transportCall.location", "required for TRANSPORT events")
			}
		} else {
			v.location("transportCall.location", tc.Location)
		}
		if vs := tc.Vessel; vs != nil {
			if vs.VesselIMONumber != "" {
				if why := checkIMO(vs.VesselIMONumber); why != "" {
					v.add("transportCall.vessel.vesselIMONumber", why)
				}
			}
			v.text("transportCall.vessel.vesselName", vs.VesselName, maxMediumString)
			if vs.VesselFlag != "" && !KnownCountry(vs.VesselFlag) {
				v.add("transportCall.vessel.vesselFlag", fmt.Sprintf("unknown ISO 3166 country %q", vs.VesselFlag))
			}
			v.text("transportCall.vessel.vesselCallSignNumber", vs.VesselCallSign, 10)
		}
	}

	// linkd's own fields.
	if e.Origin != "" {
		if why := checkPartyID(e.Origin); why != "" {
			v.add("origin", why)
		}
	}
	v.listLen("parties", len(e.Parties))
	// Lists are short (MaxListLen), so a scan beats a map.
	listed := func(id string, n int) bool {
		for _, q := range e.Parties[:n] {
			if q.Party == id {
				return true
			}
		}
		return false
	}
	for i, p := range e.Parties {
		v.item("parties", i)
		if why := checkPartyID(p.Party); why != "" {
			v.add("party", why)
		} else if listed(p.Party, i) {
			v.add("party", fmt.Sprintf("%s is listed twice", p.Party))
		}
		if !knownRole(p.Role) {
			v.add("role", fmt.Sprintf("unknown role %q; known: %s", p.Role, roleList()))
		}
	}
	v.item("", 0)
	v.listLen("visibility", len(e.Visibility))
	for i, p := range e.Visibility {
		v.item("visibility", i)
		if why := checkPartyID(p); why != "" {
			v.add("", why)
		} else if len(e.Parties) > 0 && !listed(p, len(e.Parties)) && p != e.Origin {
			v.add("", fmt.Sprintf("%s is not on the shipment's party list; visibility can only narrow it", p))
		}
	}
	v.item("", 0)
	v.listLen("residency", len(e.Residency))
	for i, r := range e.Residency {
		if !KnownJurisdiction(r) {
			v.item("residency", i)
			v.add("", fmt.Sprintf("unknown jurisdiction %q; use ISO 3166 country codes or EU, EEA, ASEAN", r))
		}
	}
	v.item("", 0)
	v.listLen("causedBy", len(e.CausedBy))
	for i, id := range e.CausedBy {
		v.item("causedBy", i)
		v.uuid("", id, true)
	}
	v.item("", 0)
	v.uuid("retractedEventID", e.RetractedEventID, false)
	v.uuid("supersedesEventID", e.SupersedesEventID, false)
	if e.RetractedEventID != "" && e.SupersedesEventID != "" {
		v.add("supersedesEventID", "an event either retracts or supersedes an earlier one, not both")
	}
	if e.EventID != "" && (e.EventID == e.RetractedEventID || e.EventID == e.SupersedesEventID) {
		v.add("eventID", "an event cannot retract or supersede itself")
	}
}

// CheckBatch validates a batch for appending to self's log: every event's own
// rules, the origin, residency against self's jurisdiction, and ids repeated
// within the batch. It returns a *ValidationError listing every problem.
func CheckBatch(events []Event, self Party) error {
	if len(events) == 0 {
		return &ValidationError{Problems: []Problem{{"", "the batch has no events"}}}
	}
	if len(events) > MaxBatchEvents {
		return &Error{Code: ETooLarge, Message: fmt.Sprintf("the batch has %d events; at most %d per append", len(events), MaxBatchEvents)}
	}
	var ids map[string]int
	v := validator{batch: -1}
	for i := range events {
		e := &events[i]
		if len(events) > 1 {
			v.batch = i
		}
		e.validate(&v)
		if e.Origin != "" && e.Origin != self.ID {
			v.add("origin", fmt.Sprintf("this node records events for %s only, not %s", self.ID, e.Origin))
		}
		if !self.Admits(e.Residency) {
			v.add("residency", fmt.Sprintf("%v excludes this node's jurisdiction %v: the payload may not be stored here", e.Residency, self.Jurisdiction))
		}
		if e.EventID != "" {
			if ids == nil {
				ids = make(map[string]int, len(events))
			}
			if j, dup := ids[e.EventID]; dup {
				v.add("eventID", fmt.Sprintf("repeats the id of events[%d] in the same batch", j))
			}
			ids[e.EventID] = i
		}
	}
	if len(v.probs) > 0 {
		return &ValidationError{Problems: v.probs}
	}
	return nil
}

// validator collects problems. A problem's field path is built when it is
// added: [events[batch].]prefix[list[idx].]sub.field.
type validator struct {
	batch  int    // the event's index in a batch, -1 for none
	list   string // a list whose item is being checked ("" for none)
	idx    int    // that item's index
	sub    string // a nested object being checked, such as "eventLocation"
	prefix string
	probs  []Problem
}

// maxQuantity bounds an inventory quantity (units of one SKU).
const maxQuantity = 1_000_000_000_000

// inventory checks the body of an INVENTORY event, and that other events
// carry none.
func (v *validator) inventory(e *Event) {
	inv := e.Inventory
	if e.EventType != Inventory {
		if inv != nil {
			v.add("inventory", fmt.Sprintf("belongs to INVENTORY events, not %s", e.EventType))
		}
		return
	}
	if inv == nil {
		v.add("inventory", "required for INVENTORY events: facility, sku and quantity")
		return
	}
	code := e.InventoryEventTypeCode
	if inv.Facility == "" {
		v.add("inventory.facility", "required: the party id of the centre")
	} else if why := checkPartyID(inv.Facility); why != "" {
		v.add("inventory.facility", why)
	}
	if inv.SKU == "" {
		v.add("inventory.sku", "required")
	}
	v.text("inventory.sku", inv.SKU, maxShortString)
	if inv.Quantity < 0 || inv.Quantity > maxQuantity {
		v.add("inventory.quantity", fmt.Sprintf("%d is out of range; want 0 to %d units", inv.Quantity, int64(maxQuantity)))
	} else if inv.Quantity == 0 && code != "STCK" {
		v.add("inventory.quantity", "must be at least 1 unit for an order")
	}
	v.text("inventory.orderID", inv.OrderID, maxShortString)
	switch code {
	case "STCK":
		if inv.OrderID != "" {
			v.add("inventory.orderID", "a stock position names no order")
		}
	case "ALOC", "RALC", "FULF":
		if inv.OrderID == "" {
			v.add("inventory.orderID", fmt.Sprintf("required for %s: the order the units are promised to", code))
		}
	}
	switch {
	case code == "RALC" && inv.FromFacility == "":
		v.add("inventory.fromFacility", "required for RALC: the centre the order moves from")
	case code == "RALC" && inv.FromFacility == inv.Facility:
		v.add("inventory.fromFacility", "is the same centre as facility; a re-allocation moves the order")
	case code != "RALC" && inv.FromFacility != "":
		v.add("inventory.fromFacility", "only RALC events name the centre an order moves from")
	case inv.FromFacility != "":
		if why := checkPartyID(inv.FromFacility); why != "" {
			v.add("inventory.fromFacility", why)
		}
	}
}

// attestation checks a document verdict: a SHIPMENT event that names the
// document's type, its hash and, for a rejection, the reason.
func (v *validator) attestation(e *Event) {
	a := e.Attestation
	if a == nil {
		return
	}
	if e.EventType != Shipment {
		v.add("attestation", fmt.Sprintf("belongs to SHIPMENT events, not %s", e.EventType))
	}
	if e.DocumentTypeCode == "" {
		v.add("documentTypeCode", "required with an attestation: the kind of document; one of "+codeList(DocumentTypeCodes))
	}
	if why := checkSHA256Hex(a.DocumentSHA256); why != "" {
		v.add("attestation.documentSHA256", why)
	}
	v.code("attestation.verdict", a.Verdict, Verdicts, true)
	if a.Verdict == "REJECTED" && e.Reason == "" {
		v.add("reason", "required when a document is REJECTED: say why")
	}
}

// source checks an event's EDI lineage.
func (v *validator) source(s *Source) {
	if s == nil {
		return
	}
	v.code("source.syntax", s.Syntax, SourceSyntaxes, true)
	v.code("source.messageType", s.MessageType, SourceMessageTypes, true)
	v.text("source.sender", s.Sender, maxShortString)
	if s.InterchangeControlNumber == "" {
		v.add("source.interchangeControlNumber", "required: UNB 0020 or ISA13")
	}
	v.text("source.interchangeControlNumber", s.InterchangeControlNumber, maxShortString)
	v.text("source.messageReference", s.MessageReference, maxShortString)
	if why := checkSHA256Hex(s.InterchangeSHA256); why != "" {
		v.add("source.interchangeSHA256", why)
	}
}

// checkSHA256Hex says what is wrong with a lowercase hex SHA-256, "" if nothing.
func checkSHA256Hex(h string) string {
	if len(h) != 64 {
		return fmt.Sprintf("want 64 lowercase hex digits of a SHA-256, got %d characters", len(h))
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "want 64 lowercase hex digits of a SHA-256"
		}
	}
	return ""
}

// item makes the following fields those of item i of list; "" ends it.
func (v *validator) item(list string, i int) { v.list, v.idx = list, i }

func (v *validator) add(field, reason string) {
	var b strings.Builder
	if v.batch >= 0 {
		b.WriteString("events[")
		b.WriteString(strconv.Itoa(v.batch))
		b.WriteString("].")
	}
	b.WriteString(v.prefix)
	if v.list != "" {
		b.WriteString(v.list)
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(v.idx))
		b.WriteString("].")
	}
	if v.sub != "" {
		b.WriteString(v.sub)
		b.WriteByte('.')
	}
	b.WriteString(field)
	v.probs = append(v.probs, Problem{strings.TrimSuffix(b.String(), "."), reason})
}

func (v *validator) code(field, val string, table map[string]string, required bool) {
	if val == "" {
		if required {
			v.add(field, "required; one of "+codeList(table))
		}
		return
	}
	if _, ok := table[val]; !ok {
		v.add(field, fmt.Sprintf("unknown code %q; one of %s", clip(val), codeList(table)))
	}
}

func (v *validator) text(field, val string, max int) {
	if len(val) > max {
		v.add(field, fmt.Sprintf("%d bytes; at most %d", len(val), max))
		return
	}
	for i := 0; i < len(val); i++ {
		if val[i] < 0x20 || val[i] == 0x7f {
			v.add(field, "contains a control character")
			return
		}
	}
}

func (v *validator) ref(field, val string, max int) {
	v.text(field, val, max)
	if strings.TrimSpace(val) != val {
		v.add(field, "has leading or trailing spaces")
	}
}

// Instants a day inside 1970-2200, whose year is in range in any zone.
var (
	yearsFrom  = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	yearsUntil = time.Date(2200, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
)

func (v *validator) year(field string, t Time) {
	if u := t.Unix(); u >= yearsFrom && u < yearsUntil {
		return
	}
	if !t.IsZero() && (t.Year() < 1970 || t.Year() > 2200) {
		v.add(field, fmt.Sprintf("year %d is outside 1970-2200", t.Year()))
	}
}

func (v *validator) listLen(field string, n int) {
	if n > MaxListLen {
		v.add(field, fmt.Sprintf("%d entries; at most %d", n, MaxListLen))
	}
}

func (v *validator) uuid(field, val string, required bool) {
	if val == "" {
		if required {
			v.add(field, "required")
		}
		return
	}
	if !IsUUID(val) {
		v.add(field, fmt.Sprintf("%q is not a UUID in canonical lowercase form", clip(val)))
	}
}

func (v *validator) location(path string, l *Location) {
	defer func(sub string) { v.sub = sub }(v.sub)
	v.sub = path
	v.text("locationName", l.LocationName, maxMediumString)
	if l.UNLocationCode == "" && l.FacilityCode == "" && l.LocationName == "" {
		v.add("", "names no place: give UNLocationCode, facilityCode or locationName")
	}
	if l.UNLocationCode != "" {
		if why := checkUNLocode(l.UNLocationCode); why != "" {
			v.add("UNLocationCode", why)
		}
	}
	v.text("facilityCode", l.FacilityCode, 6)
	if l.FacilityCode != "" && l.FacilityCodeListProvider == "" {
		v.add("facilityCodeListProvider", "required with facilityCode: SMDG or BIC")
	}
	v.code("facilityCodeListProvider", l.FacilityCodeListProvider, FacilityCodeListProviders, false)
	v.coord("latitude", l.Latitude, 90)
	v.coord("longitude", l.Longitude, 180)
}

func (v *validator) coord(field, val string, limit float64) {
	if val == "" {
		return
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil || len(val) > 20 || math.IsNaN(f) || f < -limit || f > limit {
		v.add(field, fmt.Sprintf("%q is not a decimal degree between -%g and %g", clip(val), limit, limit))
	}
}

// checkUNLocode returns why s is not a UN/LOCODE, or "". A UN/LOCODE is an
// ISO 3166 country code and three letters or digits 2–9.
func checkUNLocode(s string) string {
	if len(s) != 5 {
		return fmt.Sprintf("%q is not a UN/LOCODE: want 5 characters, a country code and 3 letters or digits 2-9 (VNHPH)", clip(s))
	}
	if !KnownCountry(s[:2]) {
		return fmt.Sprintf("%q is not a UN/LOCODE: %q is not an ISO 3166 country", s, s[:2])
	}
	for i := 2; i < 5; i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '9') {
			return fmt.Sprintf("%q is not a UN/LOCODE: the location part takes A-Z and 2-9", s)
		}
	}
	return ""
}

// checkContainerNumber returns why s is not an ISO 6346 container number
// (owner code, category U/J/Z, six digits, check digit), or "".
func checkContainerNumber(s string) string {
	if len(s) != 11 {
		return fmt.Sprintf("%q is not an ISO 6346 container number: want 4 letters and 7 digits (MSKU1234565)", clip(s))
	}
	for i := 0; i < 4; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return fmt.Sprintf("%q is not an ISO 6346 container number: the first 4 characters must be capital letters", s)
		}
	}
	if c := s[3]; c != 'U' && c != 'J' && c != 'Z' {
		return fmt.Sprintf("%q is not an ISO 6346 container number: the 4th letter must be U, J or Z", s)
	}
	for i := 4; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Sprintf("%q is not an ISO 6346 container number: the last 7 characters must be digits", s)
		}
	}
	if want := ContainerCheckDigit(s[:10]); int(s[10]-'0') != want {
		return fmt.Sprintf("%q has check digit %c; ISO 6346 gives %d", s, s[10], want)
	}
	return ""
}

// ContainerCheckDigit computes the ISO 6346 check digit of the first ten
// characters of a container number.
func ContainerCheckDigit(s string) int {
	sum := 0
	for i := 0; i < 10 && i < len(s); i++ {
		c := s[i]
		var n int
		if c >= '0' && c <= '9' {
			n = int(c - '0')
		} else {
			// Letters count from 10, skipping multiples of 11.
			n = 10 + int(c-'A')
			n += (n - 1) / 10
		}
		sum += n << i
	}
	return sum % 11 % 10
}

// checkIMO returns why s is not an IMO ship number (7 digits with check digit), or "".
func checkIMO(s string) string {
	if len(s) != 7 {
		return fmt.Sprintf("%q is not an IMO number: want 7 digits", clip(s))
	}
	sum := 0
	for i := 0; i < 7; i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Sprintf("%q is not an IMO number: want 7 digits", s)
		}
		if i < 6 {
			sum += int(s[i]-'0') * (7 - i)
		}
	}
	if sum%10 != int(s[6]-'0') {
		return fmt.Sprintf("%q fails the IMO check digit", s)
	}
	return ""
}

// IsUUID reports whether s is a UUID in canonical lowercase 8-4-4-4-12 form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func codeList(table map[string]string) string {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 12 {
		return strings.Join(keys[:12], ", ") + ", …"
	}
	return strings.Join(keys, ", ")
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
