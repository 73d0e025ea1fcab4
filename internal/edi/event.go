package edi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// builder makes the events of one interchange.
type builder struct {
	origin string
	zone   *time.Location
	ic     *interchange
	sha    string
	ps     *problems
	events []linkd.Event
	// scratch is the draft being filled; see draft.
	scratch draft
}

// at is where an event's field came from, so a problem linkd's validation
// finds in it is reported at its segment, element and component.
type at struct {
	seg  *Segment
	e, c int
}

// draft is an event being made from one status segment.
type draft struct {
	ev     linkd.Event
	from   []origin // where each field came from
	status *Segment
	msg    *message
}

// origin is where one field of an event came from.
type origin struct {
	field string // its path, as linkd's validation names it
	at    at
}

// draft returns the builder's draft, emptied for a new event: one draft
// serves every event in turn, as each is emitted before the next begins.
func (b *builder) draft(m *message, status *Segment) *draft {
	d := &b.scratch
	d.ev, d.from, d.msg, d.status = linkd.Event{}, d.from[:0], m, status
	return d
}

func (d *draft) set(field string, seg *Segment, e, c int) {
	if seg != nil {
		d.from = append(d.from, origin{field, at{seg, e, c}})
	}
}

// locate returns where a validation problem's field came from: the longest
// recorded field path that is the field or a prefix of it (the last one
// recorded of equal paths).
func (d *draft) locate(field string) (at, bool) {
	best := -1
	for i, o := range d.from {
		f := o.field
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			if best < 0 || len(f) >= len(d.from[best].field) {
				best = i
			}
		}
	}
	if best < 0 {
		return at{}, false
	}
	return d.from[best].at, true
}

// emit validates the draft's event, places each problem at its origin, and
// keeps the event. idx tells events made from one status segment apart.
func (b *builder) emit(d *draft, idx int) {
	m := d.msg
	d.ev.Source = &linkd.Source{
		Syntax: b.ic.tok.syntax, MessageType: m.typ, Sender: b.ic.sender,
		InterchangeControlNumber: b.ic.control, MessageReference: m.ref, InterchangeSHA256: b.sha,
	}
	if b.ic.tok.syntax == X12 {
		d.set("source.sender", b.ic.header, 6, 0)
		d.set("source.interchangeControlNumber", b.ic.header, 13, 0)
		d.set("source.messageReference", m.header, 2, 0)
	} else {
		d.set("source.sender", b.ic.header, 2, 1)
		d.set("source.interchangeControlNumber", b.ic.header, 5, 0)
		d.set("source.messageReference", m.header, 1, 0)
	}
	if b.origin != "" {
		d.ev.EventID = eventID(b.origin, b.sha, d.status.Position, idx)
	}
	probs := d.ev.Validate("")
	for _, p := range probs {
		if a, ok := d.locate(p.Field); ok {
			b.ps.inMsg(m, a.seg, a.e, a.c, kInvalid, "%s: %s", fieldName(p.Field), p.Reason)
			continue
		}
		b.ps.inMsg(m, d.status, 0, 0, kInvalid, "the event it makes is invalid: %s", p.String())
	}
	if len(probs) == 0 {
		b.events = append(b.events, d.ev)
		m.events++
	}
}

func fieldName(f string) string {
	if f == "" {
		return "event"
	}
	return f
}

// eventID is the id of the idx-th event made from the status segment at
// position seg of the interchange with hash sha, recorded by origin: a
// UUIDv8, the same on every import of the same bytes.
func eventID(origin, sha string, seg, idx int) string {
	h := sha256.New()
	h.Write([]byte("linkd.edi.event-id.v1\x00"))
	h.Write([]byte(origin))
	h.Write([]byte{0})
	h.Write([]byte(sha))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(seg), 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(idx), 10))
	var u [32]byte
	h.Sum(u[:0])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// keys are the shipment keys and references a status names, each with
// where it came from.
type keys struct {
	booking, bl   string
	bookingAt     at
	blAt          at
	refs          []linkd.Reference
	refsAt        []at
	container     string // X12 N9*EQ
	containerAt   at
	shipmentID    string // X12 B1002
	shipmentIDAt  at
	haveBooking   bool
	haveBL        bool
	haveContainer bool
}

func (k *keys) setBooking(v string, a at) {
	if !k.haveBooking && v != "" {
		k.booking, k.bookingAt, k.haveBooking = v, a, true
	}
}

func (k *keys) setBL(v string, a at) {
	if !k.haveBL && v != "" {
		k.bl, k.blAt, k.haveBL = v, a, true
	}
}

func (k *keys) addRef(typ, v string, a at) {
	for _, r := range k.refs {
		if r.ReferenceType == typ && r.ReferenceValue == v {
			return
		}
	}
	k.refs = append(k.refs, linkd.Reference{ReferenceType: typ, ReferenceValue: v})
	k.refsAt = append(k.refsAt, a)
}

// merge fills what k lacks from outer (a status's keys from its
// consignment's, then the message's).
func (k *keys) merge(outer *keys) {
	k.setBooking(outer.booking, outer.bookingAt)
	k.setBL(outer.bl, outer.blAt)
	if !k.haveContainer && outer.haveContainer {
		k.container, k.containerAt, k.haveContainer = outer.container, outer.containerAt, true
	}
	if k.shipmentID == "" {
		k.shipmentID, k.shipmentIDAt = outer.shipmentID, outer.shipmentIDAt
	}
	for i, r := range outer.refs {
		k.addRef(r.ReferenceType, r.ReferenceValue, outer.refsAt[i])
	}
}

// apply puts the keys on a draft.
func (k *keys) apply(d *draft) {
	if k.haveBooking {
		d.ev.CarrierBookingReference = k.booking
		d.set("carrierBookingReference", k.bookingAt.seg, k.bookingAt.e, k.bookingAt.c)
	}
	if k.haveBL {
		d.ev.TransportDocumentReference = k.bl
		d.set("transportDocumentReference", k.blAt.seg, k.blAt.e, k.blAt.c)
	}
	for i, r := range k.refs {
		d.ev.References = append(d.ev.References, r)
		a := k.refsAt[i]
		d.set(fmt.Sprintf("references[%d]", i), a.seg, a.e, a.c)
	}
	if k.shipmentID != "" {
		d.ev.References = append(d.ev.References, linkd.Reference{ReferenceType: "CSI", ReferenceValue: k.shipmentID})
		d.set(fmt.Sprintf("references[%d]", len(d.ev.References)-1), k.shipmentIDAt.seg, k.shipmentIDAt.e, k.shipmentIDAt.c)
	}
}

// equipment is one container a status is about.
type equipment struct {
	number string
	at     at
	iso    string
	isoAt  at
	empty  string // EMPTY, LADEN or ""
}

// place is where a status happened.
type place struct {
	loc linkd.Location
	at  at // the segment and element of the UN/LOCODE or name
}

func (p *place) empty() bool {
	return p == nil || p.loc.UNLocationCode == "" && p.loc.LocationName == "" && p.loc.FacilityCode == ""
}

// status is what one status segment and its group say, gathered by the
// message's mapping before the events are built.
type status struct {
	m          Mapping
	classifier string
	when       time.Time
	whenAt     at
	keys       keys
	place      *place
	mode       string
	voyage     string
	voyageAt   at
	vessel     *linkd.Vessel
	vesselAt   map[string]at // vessel field → origin
	equipment  []equipment
	reason     string
	reasonAt   at
}

// build makes the drafts of one status and emits them.
func (b *builder) build(m *message, seg *Segment, st *status) {
	mp := st.m
	base := func() *draft {
		d := b.draft(m, seg)
		e := &d.ev
		e.EventType = mp.Type
		e.EventClassifierCode = st.classifier
		e.EventDateTime = linkd.Time{Time: st.when}
		d.set("eventDateTime", st.whenAt.seg, st.whenAt.e, st.whenAt.c)
		switch mp.Type {
		case linkd.Shipment:
			e.ShipmentEventTypeCode = mp.Code
			e.DocumentTypeCode = mp.DocType
			switch {
			case st.keys.haveBL:
				e.DocumentID = st.keys.bl
				d.set("documentID", st.keys.blAt.seg, st.keys.blAt.e, st.keys.blAt.c)
			case st.keys.haveBooking:
				e.DocumentID = st.keys.booking
				d.set("documentID", st.keys.bookingAt.seg, st.keys.bookingAt.e, st.keys.bookingAt.c)
			}
			if st.reason != "" {
				e.Reason = st.reason
				d.set("reason", st.reasonAt.seg, st.reasonAt.e, st.reasonAt.c)
			}
		case linkd.Transport:
			e.TransportEventTypeCode = mp.Code
		case linkd.Equipment:
			e.EquipmentEventTypeCode = mp.Code
		}
		st.keys.apply(d)
		if !st.place.empty() {
			loc := st.place.loc
			if mp.Type == linkd.Transport {
				d.ensureCall()
				d.ev.TransportCall.Location = &loc
				d.set("transportCall.location", st.place.at.seg, st.place.at.e, st.place.at.c)
			} else {
				e.EventLocation = &loc
				d.set("eventLocation", st.place.at.seg, st.place.at.e, st.place.at.c)
			}
		}
		if st.mode != "" && mp.Type != linkd.Shipment {
			d.ensureCall()
			d.ev.TransportCall.ModeOfTransport = st.mode
			if st.voyage != "" {
				d.ev.TransportCall.CarrierVoyageNumber = st.voyage
				d.set("transportCall.carrierVoyageNumber", st.voyageAt.seg, st.voyageAt.e, st.voyageAt.c)
			}
			if st.vessel != nil {
				v := *st.vessel
				d.ev.TransportCall.Vessel = &v
				for f, a := range st.vesselAt {
					d.set("transportCall.vessel."+f, a.seg, a.e, a.c)
				}
			}
		}
		return d
	}
	setEquipment := func(d *draft, q equipment) {
		d.ev.EquipmentReference = q.number
		d.set("equipmentReference", q.at.seg, q.at.e, q.at.c)
	}
	if mp.Type != linkd.Equipment {
		d := base()
		if len(st.equipment) == 1 {
			setEquipment(d, st.equipment[0])
		} else if !st.keys.haveBooking && !st.keys.haveBL && st.keys.haveContainer {
			d.ev.EquipmentReference = st.keys.container
			d.set("equipmentReference", st.keys.containerAt.seg, st.keys.containerAt.e, st.keys.containerAt.c)
		}
		b.emit(d, 0)
		return
	}
	eqs := st.equipment
	if len(eqs) == 0 && st.keys.haveContainer {
		eqs = []equipment{{number: st.keys.container, at: st.keys.containerAt}}
	}
	if len(eqs) == 0 {
		b.ps.inMsg(m, seg, 0, 0, kMissingSegment, "an equipment status (%s %s) needs the container it is about: %s", mp.Code, strings.ToLower(mp.Meaning), equipmentHint(b.ic.tok.syntax, m.typ))
		return
	}
	for i, q := range eqs {
		d := base()
		setEquipment(d, q)
		d.ev.EmptyIndicatorCode = firstOf(q.empty, mp.Empty, "LADEN")
		if q.iso != "" {
			d.ev.ISOEquipmentCode = q.iso
			d.set("ISOEquipmentCode", q.isoAt.seg, q.isoAt.e, q.isoAt.c)
		}
		b.emit(d, i)
	}
}

func equipmentHint(syntax, typ string) string {
	switch {
	case syntax == EDIFACT:
		return "give EQD+CN with the container number"
	case typ == "315":
		return "give B407 and B408 (or N9*EQ)"
	}
	return "give MS2 with the container number"
}

func (d *draft) ensureCall() {
	if d.ev.TransportCall == nil {
		d.ev.TransportCall = &linkd.TransportCall{}
	}
}

// needs checks what a status's event family requires before building.
func (b *builder) needs(m *message, seg *Segment, st *status, hint string) bool {
	if st.m.Type == linkd.Transport {
		if st.mode == "" {
			b.ps.inMsg(m, seg, 0, 0, kMissingSegment, "a transport status (%s) needs the mode of transport: %s", st.m.Code, hint)
			return false
		}
		if st.place.empty() {
			b.ps.inMsg(m, seg, 0, 0, kMissingSegment, "a transport status (%s) needs the place it happened: %s", st.m.Code, placeHint(b.ic.tok.syntax, m.typ))
			return false
		}
	}
	return true
}

func placeHint(syntax, typ string) string {
	switch {
	case syntax == EDIFACT:
		return "give LOC+175 with the UN/LOCODE"
	case typ == "315":
		return "give B411 with B412 UN, or B406"
	}
	return "give MS1, or an N1 loop of the stop with N4 and a UN/LOCODE"
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// containerNumber assembles an ISO 6346 number from an X12 equipment
// initial, number and optional check digit: a 7-digit number carries its
// check digit; a 6-digit one takes the given check digit or the computed
// one.
func containerNumber(initial, number, check string) string {
	initial, number, check = strings.TrimSpace(initial), strings.TrimSpace(number), strings.TrimSpace(check)
	s := initial + number
	if len(initial) == 4 && len(number) == 6 && isDigits(number) {
		if check == "" {
			return s + strconv.Itoa(linkd.ContainerCheckDigit(s))
		}
		return s + check
	}
	return s
}

// looksLikeLocode reports whether s has the shape of a UN/LOCODE.
func looksLikeLocode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(i >= 2 && c >= '2' && c <= '9') {
			return false
		}
	}
	return true
}

// parseEDIFACTTime reads a DTM value in format f (UN/EDIFACT 2379):
// 102, 203, 204, 303 or 304; without a format its length decides. Values
// without a zone are in zone.
func parseEDIFACTTime(v, f string, zone *time.Location) (time.Time, error) {
	if f == "" {
		switch len(v) {
		case 8:
			f = "102"
		case 12:
			f = "203"
		case 14:
			f = "204"
		}
	}
	digits := map[string]int{"102": 8, "203": 12, "204": 14, "303": 12, "304": 14}[f]
	if digits == 0 {
		return time.Time{}, fmt.Errorf("date/time format %q: this gateway reads 102, 203, 204, 303 and 304", clip(f))
	}
	if len(v) < digits || !isDigits(v[:digits]) {
		return time.Time{}, fmt.Errorf("%q is not in format %s (%s)", clip(v), f, formatShape[f])
	}
	loc := zone
	rest := v[digits:]
	switch f {
	case "303", "304":
		z, err := parseZone(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %v", clip(v), err)
		}
		loc = z
	default:
		if rest != "" {
			return time.Time{}, fmt.Errorf("%q is not in format %s (%s)", clip(v), f, formatShape[f])
		}
	}
	day, ok := parseDate(v[:8])
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a calendar date", clip(v))
	}
	var clock time.Duration
	if digits > 8 {
		if clock, ok = parseClock(v[8:digits]); !ok {
			return time.Time{}, fmt.Errorf("%q is not a time of day", clip(v))
		}
	}
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc).Add(clock), nil
}

var formatShape = map[string]string{"102": "CCYYMMDD", "203": "CCYYMMDDHHMM", "204": "CCYYMMDDHHMMSS", "303": "CCYYMMDDHHMM and a zone", "304": "CCYYMMDDHHMMSS and a zone"}

// parseZone reads the zone of formats 303 and 304: Z, UTC, GMT, ±hh,
// ±hhmm or ±hh:mm.
func parseZone(s string) (*time.Location, error) {
	switch s {
	case "Z", "UTC", "GMT", "UT":
		return time.UTC, nil
	case "":
		return nil, fmt.Errorf("the format names a time zone and none follows the time")
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return nil, fmt.Errorf("time zone %q: want Z, UTC, ±hh or ±hhmm", clip(s))
	}
	d := strings.ReplaceAll(s[1:], ":", "")
	if !isDigits(d) || (len(d) != 2 && len(d) != 4) {
		return nil, fmt.Errorf("time zone %q: want Z, UTC, ±hh or ±hhmm", clip(s))
	}
	h, _ := strconv.Atoi(d[:2])
	mi := 0
	if len(d) == 4 {
		mi, _ = strconv.Atoi(d[2:])
	}
	if h > 14 || mi > 59 {
		return nil, fmt.Errorf("time zone %q is out of range", clip(s))
	}
	return fixedZone(sign * (h*3600 + mi*60)), nil
}

// fixedZone returns a zone of offset seconds east of UTC. Its name is
// empty so that times in it print their offset.
func fixedZone(offset int) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	return time.FixedZone("", offset)
}

// x12Zones are X12 time codes (element 623) with a fixed offset.
var x12Zones = map[string]int{
	"UT": 0, "GM": 0, "ES": -5, "ED": -4, "CS": -6, "CD": -5, "MS": -7, "MD": -6, "PS": -8, "PD": -7, "HS": -10,
}

// x12Places are X12 time codes that name a place's local time, changing
// with daylight saving.
var x12Places = map[string]string{"ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver", "PT": "America/Los_Angeles"}

// x12Zone returns the zone of an X12 time code; "" and LT (local time) are
// zone.
func x12Zone(code string, zone *time.Location) (*time.Location, error) {
	if code == "" || code == "LT" {
		return zone, nil
	}
	if h, ok := x12Zones[code]; ok {
		return fixedZone(h * 3600), nil
	}
	if name, ok := x12Places[code]; ok {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("time code %s needs the time zone database (%s); use a fixed code such as ES or ED", code, name)
		}
		return loc, nil
	}
	return nil, fmt.Errorf("time code %q: this gateway reads LT, UT, GM, ES, ED, CS, CD, MS, MD, PS, PD, HS, ET, CT, MT and PT", clip(code))
}
