package linkd

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"
)

// The canonical encoding of an event is the byte string its commitment and
// content digest are computed over. It is length-prefixed (no delimiters to
// escape, no field can run into the next), fixed in field order, and has
// exactly one form per event: DecodeCanonical refuses anything that would
// not come back byte for byte from AppendCanonical.
//
//	event   = version(1) fields...
//	string  = uvarint(len) bytes
//	list    = uvarint(count) item...
//	option  = 0x00 | 0x01 value
//	hlc     = uint64 big-endian
//
// Version 2 is version 1 with the INVENTORY fields before the clock stamp,
// which stays last; an event without
// them is encoded as version 1, so logs written before INVENTORY existed
// keep their bytes, ids and commitments. Version 3 is version 2 with the
// attestation and the source after the INVENTORY fields, used only by events
// that have one of them.
const (
	canonicalVersion   = 1
	canonicalInventory = 2
	canonicalExtended  = 3
)

// Domain separators, so a commitment, a content digest and an id can never be
// confused with one another or with another system's hash of the same bytes.
const (
	commitDomain  = "linkd.commit.v1\x00"
	contentDomain = "linkd.content.v1\x00"
	idDomain      = "linkd.event-id.v1\x00"
)

// SaltSize is the length of an event's commitment salt.
const SaltSize = 32

// AppendCanonical appends the canonical encoding of e to b.
func AppendCanonical(b []byte, e *Event) []byte {
	b, _ = appendCanonical(b, e, e.EventID, e.Origin, e.HLC)
	return b
}

// AppendCanonicalID appends the canonical encoding of e to b and returns it
// with e's id. An event without one is encoded with the id DeriveEventID(e.Origin, e)
// returns: the encoding is built once for both, which is what a log does
// with every event submitted without an id.
func AppendCanonicalID(b []byte, e *Event) ([]byte, string) {
	if e.EventID != "" {
		return AppendCanonical(b, e), e.EventID
	}
	// Encode without id, origin and clock stamp, as DeriveEventID does, then
	// splice the id and origin in: each was encoded as one zero length byte.
	start := len(b)
	b, originAt := appendCanonical(b, e, "", "", 0)
	id := eventID(e.Origin, b[start:])
	end := len(b)
	idLen := uvarintLen(len(id)) + len(id)
	originLen := uvarintLen(len(e.Origin)) + len(e.Origin)
	grown := end + idLen - 1 + originLen - 1
	b = slices.Grow(b, grown-end)[:grown]
	copy(b[originAt+idLen-1+originLen:], b[originAt+1:end]) // what follows the origin
	putStr(b[originAt+idLen-1:], e.Origin)
	copy(b[start+1+idLen:], b[start+2:originAt]) // between the id and the origin
	putStr(b[start+1:], id)
	binary.BigEndian.PutUint64(b[len(b)-8:], uint64(e.HLC))
	return b, id
}

func uvarintLen(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(n))
}

// putStr writes s as appendStr does at the start of b, which has room.
func putStr(b []byte, s string) {
	n := binary.PutUvarint(b, uint64(len(s)))
	copy(b[n:], s)
}

// appendCanonical appends the canonical encoding of e with the given id,
// origin and clock stamp in place of e's, and returns where the origin's
// encoding starts in the result.
func appendCanonical(b []byte, e *Event, id, origin string, hlc HLC) ([]byte, int) {
	extended := e.Attestation != nil || e.Source != nil
	inventory := extended || e.InventoryEventTypeCode != "" || e.Inventory != nil
	switch {
	case extended:
		b = append(b, canonicalExtended)
	case inventory:
		b = append(b, canonicalInventory)
	default:
		b = append(b, canonicalVersion)
	}
	b = appendStr(b, id)
	b = appendStr(b, string(e.EventType))
	b = appendStr(b, e.EventClassifierCode)
	b = appendTime(b, e.EventDateTime)
	b = appendTime(b, e.EventCreatedDateTime)
	b = appendStr(b, e.ShipmentEventTypeCode)
	b = appendStr(b, e.DocumentTypeCode)
	b = appendStr(b, e.DocumentID)
	b = appendStr(b, e.Reason)
	b = appendStr(b, e.TransportEventTypeCode)
	b = appendStr(b, e.DelayReasonCode)
	b = appendStr(b, e.EquipmentEventTypeCode)
	b = appendStr(b, e.EmptyIndicatorCode)
	b = appendStr(b, e.ISOEquipmentCode)
	b = appendStr(b, e.CarrierBookingReference)
	b = appendStr(b, e.TransportDocumentReference)
	b = appendStr(b, e.EquipmentReference)
	b = binary.AppendUvarint(b, uint64(len(e.References)))
	for _, r := range e.References {
		b = appendStr(b, r.ReferenceType)
		b = appendStr(b, r.ReferenceValue)
	}
	b = appendLocation(b, e.EventLocation)
	if tc := e.TransportCall; tc == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendStr(b, tc.TransportCallID)
		b = appendStr(b, tc.CarrierServiceCode)
		b = appendStr(b, tc.CarrierVoyageNumber)
		b = appendStr(b, tc.ModeOfTransport)
		b = appendLocation(b, tc.Location)
		if v := tc.Vessel; v == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendStr(b, v.VesselIMONumber)
			b = appendStr(b, v.VesselName)
			b = appendStr(b, v.VesselFlag)
			b = appendStr(b, v.VesselCallSign)
		}
	}
	originAt := len(b)
	b = appendStr(b, origin)
	b = binary.AppendUvarint(b, uint64(len(e.Parties)))
	for _, p := range e.Parties {
		b = appendStr(b, p.Party)
		b = appendStr(b, string(p.Role))
	}
	b = appendStrs(b, e.Visibility)
	b = appendStrs(b, e.Residency)
	b = appendStrs(b, e.CausedBy)
	b = appendStr(b, e.RetractedEventID)
	b = appendStr(b, e.SupersedesEventID)
	if inventory {
		b = appendStr(b, e.InventoryEventTypeCode)
		if inv := e.Inventory; inv == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendStr(b, inv.Facility)
			b = appendStr(b, inv.SKU)
			b = binary.BigEndian.AppendUint64(b, uint64(inv.Quantity))
			b = appendStr(b, inv.OrderID)
			b = appendStr(b, inv.FromFacility)
		}
	}
	if extended {
		if a := e.Attestation; a == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendStr(b, a.DocumentSHA256)
			b = appendStr(b, a.Verdict)
		}
		if s := e.Source; s == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendStr(b, s.Syntax)
			b = appendStr(b, s.MessageType)
			b = appendStr(b, s.Sender)
			b = appendStr(b, s.InterchangeControlNumber)
			b = appendStr(b, s.MessageReference)
			b = appendStr(b, s.InterchangeSHA256)
		}
	}
	// The clock stamp is always the last 8 bytes: the log encodes an event
	// once and patches its stamp in when it sequences the batch.
	b = binary.BigEndian.AppendUint64(b, uint64(hlc))
	return b, originAt
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrs(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

func appendLocation(b []byte, l *Location) []byte {
	if l == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendStr(b, l.LocationName)
	b = appendStr(b, l.UNLocationCode)
	b = appendStr(b, l.FacilityCode)
	b = appendStr(b, l.FacilityCodeListProvider)
	b = appendStr(b, l.Latitude)
	b = appendStr(b, l.Longitude)
	return b
}

// appendTime appends t.String() as appendStr would, formatting straight
// into b. time.RFC3339Nano text is at most 35 bytes (a few more for a year
// past 9999), so its length prefix is the one byte kept for it.
func appendTime(b []byte, t Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	at := len(b)
	b = t.AppendFormat(append(b, 0), time.RFC3339Nano)
	b[at] = byte(len(b) - at - 1)
	return b
}

// ErrNotCanonical is returned (wrapped) by DecodeCanonical for bytes that are
// not the canonical encoding of any event.
var ErrNotCanonical = errors.New("not a canonical event encoding")

// DecodeCanonical decodes the canonical encoding of an event. It accepts only
// the exact bytes AppendCanonical produces for the result.
//
// It proves that as it reads, with no second encoding to compare: each
// field has one spelling, so the bytes are canonical when every length
// prefix is minimal, every date-time is written as appendTime writes it, and
// the version is the lowest that holds the event's fields. FuzzDecodeCanonical
// holds this to the definition: a lenient decode (DecodeStored) that
// re-encodes to the same bytes is exactly what DecodeCanonical accepts.
//
// Short strings come from a pooled cache shared with the JSON decoder
// (stringCache): party ids, roles, codes, places and references repeat from
// event to event, and each was an allocation of its own.
func DecodeCanonical(data []byte) (Event, error) { return decodeCanonical(data, true, false) }

// DecodeStored decodes the canonical encoding of an event that this node
// checked when it stored it: its own appends, and the events of its peers
// that it verified before storing them. It is DecodeCanonical without the
// checks that prove the bytes canonical (minimal length prefixes, date-times
// as written, the lowest version); the bytes still must decode whole, with
// nothing left over. Bytes from anywhere else (a peer's frame, a file, an
// audit of the store) go through DecodeCanonical.
func DecodeStored(data []byte) (Event, error) { return decodeCanonical(data, false, false) }

// CheckCanonical reports whether data is the canonical encoding of an
// event, as DecodeCanonical would, with the same error, but keeps nothing:
// its strings are views of data while it checks and its lists and places
// are stepped over, so it allocates nothing. An audit that reads every
// record of a log uses it.
func CheckCanonical(data []byte) error {
	_, err := decodeCanonical(data, true, true)
	return err
}

func decodeCanonical(data []byte, strict, view bool) (Event, error) {
	if len(data) > MaxEventBytes {
		return Event{}, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrNotCanonical, len(data), MaxEventBytes)
	}
	sc := scratches.Get().(*scratch)
	defer sc.release()
	d := decoder{data: data, cache: &sc.strs, strict: strict, view: view}
	var e Event
	version := d.byte()
	if (version < canonicalVersion || version > canonicalExtended) && d.err == nil {
		return Event{}, fmt.Errorf("%w: version %d, want %d to %d", ErrNotCanonical, version, canonicalVersion, canonicalExtended)
	}
	e.EventID = d.str()
	e.EventType = EventType(d.str())
	e.EventClassifierCode = d.str()
	e.EventDateTime = d.time()
	e.EventCreatedDateTime = d.time()
	e.ShipmentEventTypeCode = d.str()
	e.DocumentTypeCode = d.str()
	e.DocumentID = d.str()
	e.Reason = d.str()
	e.TransportEventTypeCode = d.str()
	e.DelayReasonCode = d.str()
	e.EquipmentEventTypeCode = d.str()
	e.EmptyIndicatorCode = d.str()
	e.ISOEquipmentCode = d.str()
	e.CarrierBookingReference = d.str()
	e.TransportDocumentReference = d.str()
	e.EquipmentReference = d.str()
	if n := d.count(); n > 0 && view {
		d.skip(2 * n)
	} else if n > 0 {
		e.References = make([]Reference, n)
		for i := range e.References {
			e.References[i] = Reference{d.str(), d.str()}
		}
	}
	e.EventLocation = d.location()
	if d.option() {
		tc := &sc.call // a view keeps nothing, so it fills the scratch's
		if !view {
			tc = &TransportCall{}
		}
		tc.TransportCallID = d.str()
		tc.CarrierServiceCode = d.str()
		tc.CarrierVoyageNumber = d.str()
		tc.ModeOfTransport = d.str()
		tc.Location = d.location()
		if d.option() {
			v := &sc.vessel
			if !view {
				v = &Vessel{}
			}
			*v = Vessel{d.str(), d.str(), d.str(), d.str()}
			tc.Vessel = v
		}
		if !view {
			e.TransportCall = tc
		}
	}
	e.Origin = d.str()
	e.Parties = d.parties()
	e.Visibility = d.strs()
	e.Residency = d.strs()
	e.CausedBy = d.strs()
	e.RetractedEventID = d.str()
	e.SupersedesEventID = d.str()
	inventory, extended := false, false
	if version >= canonicalInventory {
		e.InventoryEventTypeCode = d.str()
		inventory = e.InventoryEventTypeCode != ""
		if d.option() {
			inv := &InventoryLine{Facility: d.str(), SKU: d.str()}
			inv.Quantity = int64(d.uint64())
			inv.OrderID = d.str()
			inv.FromFacility = d.str()
			e.Inventory = inv
			inventory = true
		}
	}
	if version == canonicalExtended {
		if d.option() {
			e.Attestation = &Attestation{DocumentSHA256: d.str(), Verdict: d.str()}
			extended = true
		}
		if d.option() {
			e.Source = &Source{Syntax: d.str(), MessageType: d.str(), Sender: d.str(),
				InterchangeControlNumber: d.str(), MessageReference: d.str(), InterchangeSHA256: d.str()}
			extended = true
		}
	}
	e.HLC = HLC(d.uint64())
	if d.err != nil {
		return Event{}, fmt.Errorf("%w: %v at byte %d", ErrNotCanonical, d.err, d.off)
	}
	if d.off != len(data) {
		return Event{}, fmt.Errorf("%w: %d trailing bytes", ErrNotCanonical, len(data)-d.off)
	}
	// appendCanonical writes the lowest version that holds the event.
	switch {
	case !strict:
	case version == canonicalExtended && !extended:
		return Event{}, fmt.Errorf("%w: version %d without an attestation or a source, which is written as version %d or %d",
			ErrNotCanonical, version, canonicalVersion, canonicalInventory)
	case version == canonicalInventory && !inventory:
		return Event{}, fmt.Errorf("%w: version %d without INVENTORY fields, which is written as version %d",
			ErrNotCanonical, version, canonicalVersion)
	}
	return e, nil
}

type decoder struct {
	data   []byte
	off    int
	err    error
	cache  *stringCache
	strict bool // refuse every spelling but the canonical one (DecodeCanonical)
	view   bool // strings are views of data and lists are stepped over, for a check that keeps nothing (CheckCanonical)
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.data) {
		d.fail("truncated")
		return 0
	}
	c := d.data[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		d.fail("bad length prefix")
		return 0
	}
	if d.strict && n > 1 && d.data[d.off+n-1] == 0 {
		// A last byte of 0 adds nothing: fewer bytes hold the value.
		d.fail("length prefix %d in %d bytes, not the fewest", v, n)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) str() string {
	b := d.field()
	if d.view {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return d.cache.get(b)
}

// field returns the bytes of the next length-prefixed field, a view of data.
func (d *decoder) field() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.data)-d.off) {
		d.fail("string of %d bytes runs past the end", n)
		return nil
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) count() int {
	n := d.uvarint()
	if n > MaxListLen {
		d.fail("list of %d entries, over %d", n, MaxListLen)
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 || d.view {
		d.skip(n)
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) parties() []ShipmentParty {
	n := d.count()
	if n == 0 || d.view {
		d.skip(2 * n)
		return nil
	}
	ps := make([]ShipmentParty, n)
	for i := range ps {
		ps[i] = ShipmentParty{d.str(), Role(d.str())}
	}
	return ps
}

func (d *decoder) option() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad option byte")
		return false
	}
}

func (d *decoder) location() *Location {
	if !d.option() {
		return nil
	}
	if d.view {
		d.skip(6)
		return nil
	}
	return &Location{d.str(), d.str(), d.str(), d.str(), d.str(), d.str()}
}

// time decodes a date-time from its bytes, with no string made for them:
// AppendCanonical writes RFC 3339 (time.RFC3339Nano), which
// time.Time.UnmarshalText reads. A strict decoder refuses any other
// spelling UnmarshalText takes (see timeSpelledCanonically), and the zero
// time, which is written as no bytes at all.
func (d *decoder) time() Time {
	b := d.field()
	if len(b) == 0 {
		return Time{}
	}
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		d.fail("bad date-time %q", clip(string(b)))
		return Time{}
	}
	if d.strict && (!timeSpelledCanonically(b) || t.IsZero()) {
		d.fail("date-time %q is not in canonical form (RFC 3339 as linkd writes it: Z for UTC, no trailing zeros in the fraction)", clip(string(b)))
	}
	return Time{t}
}

// timeSpelledCanonically reports whether b, which time.Time.UnmarshalText
// read, is what time.Time.AppendFormat with time.RFC3339Nano writes for the
// time it read: YYYY-MM-DDTHH:MM:SS, a fraction of 1 to 9 digits not ending
// in 0 if any, then Z, or an offset other than ±00:00 with minutes under 60.
// The parse has checked the digits and the ranges of the date and the time
// of day, and the format writes those fields back as they were, so only the
// fraction and the zone have other spellings. It is several times cheaper
// than formatting the time to compare, which an audit would do for two
// date-times of every event. FuzzTimeSpelling holds it to the format.
func timeSpelledCanonically(b []byte) bool {
	const date = len("2006-01-02T15:04:05")
	if len(b) <= date || b[10] != 'T' {
		return false
	}
	zone := b[date:]
	if zone[0] == '.' {
		n := 1
		for n < len(zone) && '0' <= zone[n] && zone[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 || zone[n-1] == '0' {
			return false
		}
		zone = zone[n:]
	}
	switch {
	case len(zone) == 1:
		return zone[0] == 'Z'
	case len(zone) == len("+07:00"):
		// The parse takes minutes up to 60 in an offset; the format
		// carries 60 into the hour.
		return (zone[0] == '+' || zone[0] == '-') && string(zone[1:]) != "00:00" && zone[4] <= '5'
	}
	return false
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.data)-d.off < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.data[d.off:])
	d.off += 8
	return v
}

// Commitment is the salted commitment to an event's canonical encoding: the
// data of its Merkle leaf. Without the salt it reveals nothing about the
// payload, even one drawn from a small set of likely events.
func Commitment(canonical, salt []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(commitDomain))
	h.Write(salt)
	h.Write(canonical)
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// LeafHash is the RFC 6962 leaf hash of a commitment: SHA-256(0x00 || c).
func LeafHash(commitment [32]byte) [32]byte {
	var b [33]byte
	copy(b[1:], commitment[:])
	return sha256.Sum256(b[:])
}

// ContentDigest identifies what a client submitted, leaving out the fields the
// node fills in (origin, clock stamp). Two appends with one event id are the
// same event exactly when their content digests match.
func ContentDigest(e *Event) [32]byte {
	c := *e
	c.Origin, c.HLC = "", 0
	h := sha256.New()
	h.Write([]byte(contentDomain))
	h.Write(AppendCanonical(nil, &c))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// DeriveEventID returns the id of an event submitted without one: a UUIDv8
// from its origin and content, so a retried submission gets the same id and
// is recorded once.
func DeriveEventID(origin string, e *Event) string {
	enc, _ := appendCanonical(nil, e, "", "", 0)
	return eventID(origin, enc)
}

// eventID derives an id from an origin and the canonical encoding of an
// event without id, origin and clock stamp.
func eventID(origin string, enc []byte) string {
	h := sha256.New()
	h.Write([]byte(idDomain))
	h.Write([]byte(origin))
	h.Write([]byte{0})
	h.Write(enc)
	var u [32]byte
	h.Sum(u[:0])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var x [36]byte
	hex.Encode(x[0:8], u[0:4])
	hex.Encode(x[9:13], u[4:6])
	hex.Encode(x[14:18], u[6:8])
	hex.Encode(x[19:23], u[8:10])
	hex.Encode(x[24:36], u[10:16])
	x[8], x[13], x[18], x[23] = '-', '-', '-', '-'
	return string(x[:])
}
