package linkd

import "fmt"

// Sharing is what decides which parties an event may reach: its origin, the
// shipment parties it names, its visibility and its residency.
type Sharing struct {
	Origin     string
	Parties    []ShipmentParty
	Visibility []string
	Residency  []string
}

// Sharing returns e's sharing fields.
func (e *Event) Sharing() Sharing {
	return Sharing{Origin: e.Origin, Parties: e.Parties, Visibility: e.Visibility, Residency: e.Residency}
}

// DecodeSharing reads an event's Sharing from its canonical encoding and
// skips every other field without decoding it. A node's link senders call
// it for each record they read back from their own log for a peer (a
// catch-up reads a million): decoding the whole event, as DecodeCanonical
// does, was about a third of their work.
//
// It checks only the framing of what it reads and skips, not that the bytes
// are canonical: use it on records a log wrote after DecodeCanonical or
// validation accepted them, never on bytes that arrive from elsewhere.
// Errors wrap ErrNotCanonical.
func DecodeSharing(data []byte) (Sharing, error) {
	if len(data) > MaxEventBytes {
		return Sharing{}, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrNotCanonical, len(data), MaxEventBytes)
	}
	sc := scratches.Get().(*scratch)
	defer sc.release()
	d := decoder{data: data, cache: &sc.strs}
	version := d.byte()
	if (version < canonicalVersion || version > canonicalExtended) && d.err == nil {
		return Sharing{}, fmt.Errorf("%w: version %d, want %d to %d", ErrNotCanonical, version, canonicalVersion, canonicalExtended)
	}
	// The id, type and classifier, the two date-times and the twelve
	// codes and references that follow them (see appendCanonical).
	d.skip(17)
	d.skip(2 * d.count()) // references: type and value
	d.skipLocation()
	if d.option() { // the transport call
		d.skip(4)
		d.skipLocation()
		if d.option() { // its vessel
			d.skip(4)
		}
	}
	var s Sharing
	s.Origin = d.str()
	s.Parties = d.parties()
	s.Visibility = d.strs()
	s.Residency = d.strs()
	if d.err != nil {
		return Sharing{}, fmt.Errorf("%w: %v at byte %d", ErrNotCanonical, d.err, d.off)
	}
	return s, nil
}

// skip steps over n length-prefixed fields.
func (d *decoder) skip(n int) {
	for range n {
		if d.field(); d.err != nil {
			return
		}
	}
}

func (d *decoder) skipLocation() {
	if d.option() {
		d.skip(6)
	}
}
