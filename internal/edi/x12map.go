package edi

import (
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// x12Time reads an X12 date (CCYYMMDD) and time (HHMM, HHMMSS …) in the
// zone of time code, reporting a bad part at its element.
func (b *builder) x12Time(m *message, s *Segment, de, te, ce int) (time.Time, bool) {
	date, clock, code := s.V(de, 1), s.V(te, 1), s.V(ce, 1)
	if date == "" {
		b.ps.inMsg(m, s, de, 0, kMissing, "the status date is missing")
		return time.Time{}, false
	}
	day, ok := parseDate(date)
	if !ok || len(date) != 8 {
		b.ps.inMsg(m, s, de, 0, kDate, "date %q: want CCYYMMDD", clip(date))
		return time.Time{}, false
	}
	var tod time.Duration
	if clock != "" {
		if tod, ok = parseClock(clock); !ok {
			b.ps.inMsg(m, s, te, 0, kTime, "time %q: want HHMM or HHMMSS", clip(clock))
			return time.Time{}, false
		}
	}
	zone := b.zone
	if ce > 0 {
		z, err := x12Zone(code, b.zone)
		if err != nil {
			b.ps.inMsg(m, s, ce, 0, kInvalid, "%v", err)
			return time.Time{}, false
		}
		zone = z
	}
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, zone).Add(tod), true
}

// n9 reads a reference: qualifier in element qe, value in ve (N9 and L11
// put them in opposite orders).
func (b *builder) n9(m *message, s *Segment, qe, ve int, k *keys) {
	q, v := s.V(qe, 1), s.V(ve, 1)
	if q == "" || v == "" {
		return
	}
	a := at{s, ve, 0}
	switch q {
	case "BN":
		k.setBooking(v, a)
	case "BM":
		k.setBL(v, a)
	case "EQ":
		if !k.haveContainer {
			k.container, k.containerAt, k.haveContainer = strings.ReplaceAll(v, " ", ""), a, true
		}
	default:
		if t := dcsaRef(q, x12Refs); t != "" {
			k.addRef(t, v, a)
		}
	}
}

// x315 maps a 315 (status details, ocean): one status, in B4.
func (b *builder) x315(m *message) {
	var b4, q2 *Segment
	var k keys
	for i := range m.segs {
		s := &m.segs[i]
		switch s.Tag {
		case "B4":
			if b4 != nil {
				b.ps.inMsg(m, s, 0, 0, kUnexpected, "a second B4: a 315 reports one status; send one transaction set per status")
				continue
			}
			b4 = s
		case "N9":
			b.n9(m, s, 1, 2, &k)
		case "Q2":
			if q2 == nil {
				q2 = s
			}
		}
	}
	if b4 == nil {
		if m.trailer != nil {
			b.ps.inMsg(m, m.header, 0, 0, kMissingSegment, "no B4: a 315 reports its status in B4")
		}
		return
	}
	m.statuses++
	code := b4.V(3, 1)
	if code == "" {
		b.ps.inMsg(m, b4, 3, 0, kMissing, "the shipment status code (B403) is missing")
		return
	}
	mp, ok := Ocean[code]
	if !ok {
		b.ps.inMsg(m, b4, 3, 0, kUnknownCode, "unknown status code %q: this gateway maps the 315 codes listed in docs/edi.md", clip(code))
		return
	}
	when, ok := b.x12Time(m, b4, 4, 5, 0)
	if !ok {
		return
	}
	st := &status{m: mp, keys: k, when: when, whenAt: at{b4, 4, 0}, classifier: firstOf(mp.Classifier, "ACT"), mode: mp.Mode}

	// Where: B411 with B412 UN is a UN/LOCODE; B406 the place's name.
	p := &place{}
	if id, q := b4.V(11, 1), b4.V(12, 1); id != "" && q == "UN" {
		p.loc.UNLocationCode, p.at = id, at{b4, 11, 0}
	}
	if name := b4.V(6, 1); name != "" && name != p.loc.UNLocationCode {
		p.loc.LocationName = name
		if p.at.seg == nil {
			p.at = at{b4, 6, 0}
		}
	}
	st.place = p

	if b4.V(7, 1) != "" || b4.V(8, 1) != "" {
		q := equipment{number: containerNumber(b4.V(7, 1), b4.V(8, 1), b4.V(13, 1)), at: at{b4, 8, 0}, iso: b4.V(10, 1), isoAt: at{b4, 10, 0}}
		switch b4.V(9, 1) {
		case "E":
			q.empty = "EMPTY"
		case "L":
			q.empty = "LADEN"
		}
		st.equipment = []equipment{q}
	}
	if q2 != nil {
		if st.mode == "" {
			st.mode = "VESSEL" // Q2 is an ocean vessel's details
		}
		if v := q2.V(9, 1); v != "" {
			st.voyage, st.voyageAt = v, at{q2, 9, 0}
		}
		v := &linkd.Vessel{VesselName: q2.V(13, 1), VesselFlag: q2.V(2, 1)}
		st.vesselAt = map[string]at{"vesselName": {q2, 13, 0}, "vesselFlag": {q2, 2, 0}}
		if id := q2.V(1, 1); id != "" && q2.V(12, 1) == "L" {
			v.VesselIMONumber = id
			st.vesselAt["vesselIMONumber"] = at{q2, 1, 0}
		}
		if *v != (linkd.Vessel{}) {
			st.vessel = v
		}
	}
	if !b.needs(m, b4, st, "") {
		return
	}
	b.build(m, b4, st)
}

// stop is an N1 loop of a 214: a party and its place.
type stop struct {
	qual string // N101: SF, SH (pickup), ST, CN (delivery) …
	n4   *Segment
}

// x214 maps a 214 (transportation carrier shipment status): any number of
// statuses, each an AT7 in an LX loop with its MS1 (place) and MS2
// (equipment).
func (b *builder) x214(m *message) {
	var hdr, lx keys
	var stops []stop
	var cur *Segment // the current AT7
	var ms1, ms2 *Segment
	inLX := false
	flush := func() {
		if cur != nil {
			b.at7(m, cur, ms1, ms2, &lx, &hdr, stops)
			cur, ms1, ms2 = nil, nil, nil
		}
	}
	for i := range m.segs {
		s := &m.segs[i]
		switch s.Tag {
		case "B10":
			if v := s.V(1, 1); v != "" {
				hdr.setBL(v, at{s, 1, 0})
			}
			if v := s.V(2, 1); v != "" {
				hdr.shipmentID, hdr.shipmentIDAt = v, at{s, 2, 0}
			}
		case "L11":
			if inLX {
				b.n9(m, s, 2, 1, &lx)
			} else {
				b.n9Header(m, s, &hdr)
			}
		case "N1":
			if !inLX {
				stops = append(stops, stop{qual: s.V(1, 1)})
			}
		case "N4":
			if !inLX && len(stops) > 0 && stops[len(stops)-1].n4 == nil {
				stops[len(stops)-1].n4 = s
			}
		case "LX":
			flush()
			inLX, lx = true, keys{}
		case "AT7":
			flush()
			cur = s
		case "MS1":
			if cur != nil && ms1 == nil {
				ms1 = s
			}
		case "MS2":
			if cur != nil && ms2 == nil {
				ms2 = s
			}
		}
	}
	flush()
	if m.statuses == 0 && m.trailer != nil {
		b.ps.inMsg(m, m.header, 0, 0, kMissingSegment, "the transaction set reports no status: a 214 carries each in AT7")
	}
}

// n9Header reads a header L11, whose BM outranks B1001 (the carrier's own
// reference).
func (b *builder) n9Header(m *message, s *Segment, hdr *keys) {
	if s.V(2, 1) == "BM" && s.V(1, 1) != "" {
		hdr.bl, hdr.blAt, hdr.haveBL = s.V(1, 1), at{s, 1, 0}, true
		return
	}
	b.n9(m, s, 2, 1, hdr)
}

func (b *builder) at7(m *message, s, ms1, ms2 *Segment, lx, hdr *keys, stops []stop) {
	m.statuses++
	code, ce := s.V(1, 1), 1
	if code == "" {
		code, ce = s.V(3, 1), 3
	}
	if code == "" {
		b.ps.inMsg(m, s, 1, 0, kMissing, "the shipment status code (AT701) and appointment status code (AT703) are both missing")
		return
	}
	mp, ok := Truck[code]
	if !ok {
		b.ps.inMsg(m, s, ce, 0, kUnknownCode, "unknown status code %q: this gateway maps the 214 codes listed in docs/edi.md", clip(code))
		return
	}
	when, ok := b.x12Time(m, s, 5, 6, 7)
	if !ok {
		return
	}
	st := &status{m: mp, keys: *lx, when: when, whenAt: at{s, 5, 0}, classifier: firstOf(mp.Classifier, "ACT"), mode: mp.Mode}
	st.keys.refs = append([]linkd.Reference(nil), lx.refs...)
	st.keys.refsAt = append([]at(nil), lx.refsAt...)
	st.keys.merge(hdr)

	p := &place{}
	if mp.Stop != "" {
		for _, sp := range stops {
			if sp.n4 == nil || stopKind(sp.qual) != mp.Stop {
				continue
			}
			if id := sp.n4.V(6, 1); id != "" && sp.n4.V(5, 1) == "UN" {
				p.loc.UNLocationCode, p.at = id, at{sp.n4, 6, 0}
			}
			if p.loc.LocationName == "" {
				p.loc.LocationName = joinPlace(sp.n4.V(1, 1), sp.n4.V(2, 1), sp.n4.V(4, 1))
				if p.at.seg == nil {
					p.at = at{sp.n4, 1, 0}
				}
			}
			break
		}
	}
	if ms1 != nil {
		if name := joinPlace(ms1.V(1, 1), ms1.V(2, 1), ms1.V(3, 1)); name != "" {
			p.loc.LocationName = name
			if p.at.seg == nil || p.loc.UNLocationCode == "" {
				p.at = at{ms1, 1, 0}
			}
		}
	}
	st.place = p

	if ms2 != nil {
		number := containerNumber(ms2.V(1, 1), ms2.V(2, 1), ms2.V(4, 1))
		// A trailer's number is no ISO 6346 container number; only an
		// equipment status must name a container.
		if mp.Type == linkd.Equipment || validContainer(number) {
			st.equipment = []equipment{{number: number, at: at{ms2, 2, 0}}}
		}
	}
	if !b.needs(m, s, st, "") {
		return
	}
	b.build(m, s, st)
}

func stopKind(qual string) string {
	switch qual {
	case "SF", "SH":
		return "pickup"
	case "ST", "CN":
		return "delivery"
	}
	return ""
}

func joinPlace(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ", ")
}

// validContainer reports whether s is an ISO 6346 container number with a
// correct check digit.
func validContainer(s string) bool {
	if len(s) != 11 || s[3] != 'U' && s[3] != 'J' && s[3] != 'Z' {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	if !isDigits(s[4:]) {
		return false
	}
	return int(s[10]-'0') == linkd.ContainerCheckDigit(s[:10])
}
