package linkd

import (
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The fast event decoder.
//
// decodeEventsFast decodes a request body in one pass over its bytes, with
// no reflection, for the bodies it fully understands: well-formed JSON made
// of the Event fields by their exact names, each given once, with values of
// the field's own JSON type (or null where encoding/json ignores it). For
// those it returns exactly what the reference decoder (decodeEventsReference,
// built on encoding/json) returns, checks included: valid UTF-8, nesting,
// sizes, unknown fields.
//
// Anything else — a syntax error, an unknown or duplicate field, a key that
// only matches a field case-insensitively, a wrong type, a number that is not
// a plain integer, a bad date-time, a size limit — makes it answer ok=false
// without trying to explain, and DecodeEventsBytes runs the reference decoder
// on the same bytes for its precise, field-named problems. So every error a
// client sees still comes from one implementation, and the fast one only has
// to be right about what it accepts (FuzzDecodeEventsFast holds it to that).
//
// Accepted bodies nest four levels at most (a batch, an event, its transport
// call, the call's location), far inside MaxJSONDepth; every object and array
// that could go deeper is refused as unknown.

// decodeEventsFast returns the events of data and true, or false if only the
// reference decoder can answer.
func decodeEventsFast(data []byte) ([]Event, bool) {
	sc := scratches.Get().(*scratch)
	defer sc.release()
	d := fastDecoder{data: data, sc: sc}
	d.ws()
	if d.pos == len(data) {
		return nil, false
	}
	if data[d.pos] != '[' {
		if len(data)-d.pos > MaxEventBytes {
			return nil, false
		}
		events := make([]Event, 1)
		if !d.event(&events[0]) || !d.end() {
			return nil, false
		}
		return events, true
	}
	d.pos++
	d.ws()
	if d.peek() == ']' {
		return nil, false // the reference says the batch is empty
	}
	var events []Event
	for {
		if len(events) == MaxBatchEvents {
			return nil, false // one more: the reference says the batch is too large
		}
		events = append(events, Event{})
		start := d.pos
		if !d.event(&events[len(events)-1]) || d.pos-start > MaxEventBytes {
			return nil, false
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
			continue
		case ']':
			d.pos++
			if !d.end() {
				return nil, false
			}
			return events, true
		}
		return nil, false
	}
}

// fastDecoder reads JSON from data at pos. Its methods return false when the
// input leaves the grammar it accepts; pos is then meaningless.
type fastDecoder struct {
	data []byte
	pos  int
	sc   *scratch
}

// scratch is a decoder's reusable memory: lists are gathered here and
// copied out at their exact length, and short strings are shared.
type scratch struct {
	strs     stringCache
	strings  []string
	refs     []Reference
	parties  []ShipmentParty
	unquoted []byte
	call     TransportCall // CheckCanonical's, kept by no one (see release)
	vessel   Vessel
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// maxScratch bounds the list and buffer capacity a scratch keeps between
// bodies, so one huge event does not pin its memory in the pool.
const maxScratch = 1 << 10

func (sc *scratch) release() {
	if cap(sc.strings) > maxScratch || cap(sc.refs) > maxScratch || cap(sc.parties) > maxScratch ||
		cap(sc.unquoted) > 64*maxScratch {
		sc.strings, sc.refs, sc.parties, sc.unquoted = nil, nil, nil, nil
	}
	// CheckCanonical's strings are views of the bytes it checked: drop
	// them, so the pool does not keep those bytes alive.
	sc.call, sc.vessel = TransportCall{}, Vessel{}
	scratches.Put(sc)
}

// stringCache shares short strings between the events of a body and the
// bodies after it: party ids, roles, codes and places repeat in nearly
// every event, and each would otherwise be an allocation. It is direct
// mapped, so a miss just replaces the slot; strings are immutable, so
// sharing them is safe.
type stringCache [256]string

const maxCachedString = 32

func (c *stringCache) get(b []byte) string {
	n := len(b)
	if n == 0 || n > maxCachedString {
		return string(b)
	}
	// A few bytes pick the slot: codes and ids that share a length differ
	// at their ends or middle, and a collision only costs an allocation.
	h := uint(n)*0x9e3779b1 ^ uint(b[0])<<3 ^ uint(b[n-1])<<9 ^ uint(b[n/2])<<15
	slot := &c[(h^h>>16)%uint(len(c))]
	if *slot == string(b) {
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

// peek returns the byte at pos, or 0 at the end (0 is never valid there).
func (d *fastDecoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// ws skips JSON whitespace.
func (d *fastDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\r', '\n':
			d.pos++
		default:
			return
		}
	}
}

// end reports whether only whitespace follows.
func (d *fastDecoder) end() bool {
	d.ws()
	return d.pos == len(d.data)
}

// null consumes a JSON null if one is next.
func (d *fastDecoder) null() bool {
	if len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

// object reads the members of a JSON object, calling member for each key
// with pos at its value; member returns a bit naming the field (so a
// repeated key is refused) and whether it read the value. Keys with escapes
// are refused: encoding/json would unescape them before matching.
func (d *fastDecoder) object(member func(key []byte) (uint64, bool)) bool {
	if d.peek() != '{' {
		return false
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return true
	}
	var seen uint64
	for {
		if d.peek() != '"' {
			return false
		}
		data := d.data
		start := d.pos + 1
		i := start
		for i < len(data) && plainASCII[data[i]] {
			i++
		}
		if i == len(data) || data[i] != '"' {
			return false
		}
		key := data[start:i]
		d.pos = i + 1
		d.ws()
		if d.peek() != ':' {
			return false
		}
		d.pos++
		d.ws()
		bit, ok := member(key)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case '}':
			d.pos++
			return true
		default:
			return false
		}
	}
}

// array reads the elements of a JSON array, calling elem with pos at each.
func (d *fastDecoder) array(elem func() bool) bool {
	if d.peek() != '[' {
		return false
	}
	d.pos++
	d.ws()
	if d.peek() == ']' {
		d.pos++
		return true
	}
	for {
		if !elem() {
			return false
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case ']':
			d.pos++
			return true
		default:
			return false
		}
	}
}

// readString reads a JSON string into *s; null leaves *s as it is.
func (d *fastDecoder) readString(s *string) bool {
	if d.null() {
		return true
	}
	raw, escaped, ok := d.rawString()
	if !ok {
		return false
	}
	if !escaped {
		*s = d.sc.strs.get(raw)
		return true
	}
	d.sc.unquoted, ok = unescape(d.sc.unquoted[:0], raw)
	*s = d.sc.strs.get(d.sc.unquoted)
	return ok
}

// readStrings reads a JSON array of strings into *list; null leaves it nil and
// a null element is "".
func (d *fastDecoder) readStrings(list *[]string) bool {
	if d.null() {
		return true
	}
	out := d.sc.strings[:0]
	ok := d.array(func() bool {
		out = append(out, "")
		return d.readString(&out[len(out)-1])
	})
	d.sc.strings = out
	*list = append([]string{}, out...)
	return ok
}

// plainASCII marks the bytes that stand for themselves in a JSON string:
// printable ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// rawString reads a JSON string and returns the bytes between its quotes,
// whether they hold escapes, and false if the string is malformed: a
// control character, a bad escape, invalid UTF-8 or no closing quote.
func (d *fastDecoder) rawString() (raw []byte, escaped, ok bool) {
	if d.peek() != '"' {
		return nil, false, false
	}
	start := d.pos + 1
	data := d.data
	i := start
	for i < len(data) {
		c := data[i]
		if plainASCII[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			return data[start:i], escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				return nil, false, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || hex4(data[i+2:i+6]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, false
			}
			i += size
		}
	}
	return nil, false, false
}

// hex4 is the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unescape appends the contents of a well-formed JSON string to b, decoding
// its escapes as encoding/json does: a \u surrogate pair is one rune, and a
// lone or mismatched surrogate is U+FFFD.
func unescape(b, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b = append(b, raw[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(raw[i+2:])); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return b, false
		}
		i += 2
	}
	return b, true
}

// readTime reads an RFC 3339 date-time string as Time.UnmarshalJSON does. A
// string with escapes, and null (which UnmarshalJSON refuses), are left to
// the reference decoder.
func (d *fastDecoder) readTime(t *Time) bool {
	raw, escaped, ok := d.rawString()
	if !ok || escaped {
		return false
	}
	if len(raw) == 0 {
		*t = Time{}
		return true
	}
	v, err := ParseTime(string(raw))
	if err != nil {
		return false
	}
	*t = v
	return true
}

// readInt64 reads a JSON integer (no fraction or exponent) into *n; null leaves
// *n as it is.
func (d *fastDecoder) readInt64(n *int64) bool {
	if d.null() {
		return true
	}
	neg := d.peek() == '-'
	start := d.pos
	if neg {
		d.pos++
	}
	if !d.digits() {
		return false
	}
	v, err := strconv.ParseInt(string(d.data[start:d.pos]), 10, 64)
	if err != nil {
		return false
	}
	*n = v
	return true
}

// readUint64 reads a non-negative JSON integer into *n; null leaves *n as it is.
func (d *fastDecoder) readUint64(n *uint64) bool {
	if d.null() {
		return true
	}
	start := d.pos
	if !d.digits() {
		return false
	}
	v, err := strconv.ParseUint(string(d.data[start:d.pos]), 10, 64)
	if err != nil {
		return false
	}
	*n = v
	return true
}

// digits reads the integer part of a JSON number: 0, or a digit 1-9 and
// more digits. A fraction or exponent after it is refused by the caller's
// next structural check.
func (d *fastDecoder) digits() bool {
	switch c := d.peek(); {
	case c == '0':
		d.pos++
		return true
	case c < '1' || c > '9':
		return false
	}
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return true
}

// event reads one Event object.
func (d *fastDecoder) event(e *Event) bool {
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "eventID":
			return 1 << 0, d.readString(&e.EventID)
		case "eventType":
			return 1 << 1, d.readString((*string)(&e.EventType))
		case "eventClassifierCode":
			return 1 << 2, d.readString(&e.EventClassifierCode)
		case "eventDateTime":
			return 1 << 3, d.readTime(&e.EventDateTime)
		case "eventCreatedDateTime":
			return 1 << 4, d.readTime(&e.EventCreatedDateTime)
		case "shipmentEventTypeCode":
			return 1 << 5, d.readString(&e.ShipmentEventTypeCode)
		case "documentTypeCode":
			return 1 << 6, d.readString(&e.DocumentTypeCode)
		case "documentID":
			return 1 << 7, d.readString(&e.DocumentID)
		case "reason":
			return 1 << 8, d.readString(&e.Reason)
		case "transportEventTypeCode":
			return 1 << 9, d.readString(&e.TransportEventTypeCode)
		case "delayReasonCode":
			return 1 << 10, d.readString(&e.DelayReasonCode)
		case "equipmentEventTypeCode":
			return 1 << 11, d.readString(&e.EquipmentEventTypeCode)
		case "emptyIndicatorCode":
			return 1 << 12, d.readString(&e.EmptyIndicatorCode)
		case "ISOEquipmentCode":
			return 1 << 13, d.readString(&e.ISOEquipmentCode)
		case "inventoryEventTypeCode":
			return 1 << 14, d.readString(&e.InventoryEventTypeCode)
		case "inventory":
			return 1 << 15, d.inventory(&e.Inventory)
		case "attestation":
			return 1 << 16, d.attestation(&e.Attestation)
		case "carrierBookingReference":
			return 1 << 17, d.readString(&e.CarrierBookingReference)
		case "transportDocumentReference":
			return 1 << 18, d.readString(&e.TransportDocumentReference)
		case "equipmentReference":
			return 1 << 19, d.readString(&e.EquipmentReference)
		case "references":
			return 1 << 20, d.references(&e.References)
		case "eventLocation":
			return 1 << 21, d.location(&e.EventLocation)
		case "transportCall":
			return 1 << 22, d.transportCall(&e.TransportCall)
		case "origin":
			return 1 << 23, d.readString(&e.Origin)
		case "parties":
			return 1 << 24, d.parties(&e.Parties)
		case "visibility":
			return 1 << 25, d.readStrings(&e.Visibility)
		case "residency":
			return 1 << 26, d.readStrings(&e.Residency)
		case "causedBy":
			return 1 << 27, d.readStrings(&e.CausedBy)
		case "retractedEventID":
			return 1 << 28, d.readString(&e.RetractedEventID)
		case "supersedesEventID":
			return 1 << 29, d.readString(&e.SupersedesEventID)
		case "hlc":
			return 1 << 30, d.readUint64((*uint64)(&e.HLC))
		case "source":
			return 1 << 31, d.source(&e.Source)
		}
		return 0, false
	})
}

func (d *fastDecoder) inventory(p **InventoryLine) bool {
	if d.null() {
		return true
	}
	v := new(InventoryLine)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "facility":
			return 1 << 0, d.readString(&v.Facility)
		case "sku":
			return 1 << 1, d.readString(&v.SKU)
		case "quantity":
			return 1 << 2, d.readInt64(&v.Quantity)
		case "orderID":
			return 1 << 3, d.readString(&v.OrderID)
		case "fromFacility":
			return 1 << 4, d.readString(&v.FromFacility)
		}
		return 0, false
	})
}

func (d *fastDecoder) attestation(p **Attestation) bool {
	if d.null() {
		return true
	}
	v := new(Attestation)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "documentSHA256":
			return 1 << 0, d.readString(&v.DocumentSHA256)
		case "verdict":
			return 1 << 1, d.readString(&v.Verdict)
		}
		return 0, false
	})
}

func (d *fastDecoder) references(list *[]Reference) bool {
	if d.null() {
		return true
	}
	out := d.sc.refs[:0]
	ok := d.array(func() bool {
		out = append(out, Reference{})
		v := &out[len(out)-1]
		if d.null() {
			return true
		}
		return d.object(func(key []byte) (uint64, bool) {
			switch string(key) {
			case "referenceType":
				return 1 << 0, d.readString(&v.ReferenceType)
			case "referenceValue":
				return 1 << 1, d.readString(&v.ReferenceValue)
			}
			return 0, false
		})
	})
	d.sc.refs = out
	*list = append([]Reference{}, out...)
	return ok
}

func (d *fastDecoder) parties(list *[]ShipmentParty) bool {
	if d.null() {
		return true
	}
	out := d.sc.parties[:0]
	ok := d.array(func() bool {
		out = append(out, ShipmentParty{})
		v := &out[len(out)-1]
		if d.null() {
			return true
		}
		return d.object(func(key []byte) (uint64, bool) {
			switch string(key) {
			case "party":
				return 1 << 0, d.readString(&v.Party)
			case "role":
				return 1 << 1, d.readString((*string)(&v.Role))
			}
			return 0, false
		})
	})
	d.sc.parties = out
	*list = append([]ShipmentParty{}, out...)
	return ok
}

func (d *fastDecoder) location(p **Location) bool {
	if d.null() {
		return true
	}
	v := new(Location)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "locationName":
			return 1 << 0, d.readString(&v.LocationName)
		case "UNLocationCode":
			return 1 << 1, d.readString(&v.UNLocationCode)
		case "facilityCode":
			return 1 << 2, d.readString(&v.FacilityCode)
		case "facilityCodeListProvider":
			return 1 << 3, d.readString(&v.FacilityCodeListProvider)
		case "latitude":
			return 1 << 4, d.readString(&v.Latitude)
		case "longitude":
			return 1 << 5, d.readString(&v.Longitude)
		}
		return 0, false
	})
}

func (d *fastDecoder) transportCall(p **TransportCall) bool {
	if d.null() {
		return true
	}
	v := new(TransportCall)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "transportCallID":
			return 1 << 0, d.readString(&v.TransportCallID)
		case "carrierServiceCode":
			return 1 << 1, d.readString(&v.CarrierServiceCode)
		case "carrierVoyageNumber":
			return 1 << 2, d.readString(&v.CarrierVoyageNumber)
		case "modeOfTransport":
			return 1 << 3, d.readString(&v.ModeOfTransport)
		case "location":
			return 1 << 4, d.location(&v.Location)
		case "vessel":
			return 1 << 5, d.vessel(&v.Vessel)
		}
		return 0, false
	})
}

func (d *fastDecoder) vessel(p **Vessel) bool {
	if d.null() {
		return true
	}
	v := new(Vessel)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "vesselIMONumber":
			return 1 << 0, d.readString(&v.VesselIMONumber)
		case "vesselName":
			return 1 << 1, d.readString(&v.VesselName)
		case "vesselFlag":
			return 1 << 2, d.readString(&v.VesselFlag)
		case "vesselCallSignNumber":
			return 1 << 3, d.readString(&v.VesselCallSign)
		}
		return 0, false
	})
}

func (d *fastDecoder) source(p **Source) bool {
	if d.null() {
		return true
	}
	v := new(Source)
	*p = v
	return d.object(func(key []byte) (uint64, bool) {
		switch string(key) {
		case "syntax":
			return 1 << 0, d.readString(&v.Syntax)
		case "messageType":
			return 1 << 1, d.readString(&v.MessageType)
		case "sender":
			return 1 << 2, d.readString(&v.Sender)
		case "interchangeControlNumber":
			return 1 << 3, d.readString(&v.InterchangeControlNumber)
		case "messageReference":
			return 1 << 4, d.readString(&v.MessageReference)
		case "interchangeSHA256":
			return 1 << 5, d.readString(&v.InterchangeSHA256)
		}
		return 0, false
	})
}
