package edi

import (
	"strings"

	"github.com/linkd-dev/linkd"
)

// stsGroup is one STS and the segments after it, up to the next STS, CNI
// or UNT.
type stsGroup struct {
	seg   *Segment
	refs  keys
	dtms  []*Segment
	locs  []*Segment // before the TDT
	tlocs []*Segment // in the TDT's group
	tdt   *Segment
	eqds  []*Segment
	ftx   []*Segment
}

// iftsta maps an IFTSTA message. References (RFF) and containers (EQD)
// count for the status they follow, else for the consignment (CNI) they
// are in, else for the whole message; a status takes the nearest.
func (b *builder) iftsta(m *message) {
	var hdr, cni keys
	var cniEqds []*Segment
	var st *stsGroup
	inCNI := false
	flush := func() {
		if st != nil {
			b.iftstaStatus(m, st, &cni, &hdr, cniEqds)
			st = nil
		}
	}
	for i := range m.segs {
		s := &m.segs[i]
		switch s.Tag {
		case "CNI":
			flush()
			inCNI, cni, cniEqds = true, keys{}, nil
			if v := s.V(2, 1); v != "" {
				cni.setBL(v, at{s, 2, 1})
			}
		case "STS":
			flush()
			st = &stsGroup{seg: s}
		case "RFF":
			target := &hdr
			if st != nil {
				target = &st.refs
			} else if inCNI {
				target = &cni
			}
			b.rff(m, s, target)
		case "DTM":
			if st != nil {
				st.dtms = append(st.dtms, s)
			}
		case "LOC":
			if st != nil && st.tdt == nil {
				st.locs = append(st.locs, s)
			} else if st != nil {
				st.tlocs = append(st.tlocs, s)
			}
		case "TDT":
			if st != nil && st.tdt == nil {
				st.tdt = s
			}
		case "EQD":
			if st != nil {
				st.eqds = append(st.eqds, s)
			} else if inCNI {
				cniEqds = append(cniEqds, s)
			}
		case "FTX":
			if st != nil {
				st.ftx = append(st.ftx, s)
			}
		}
	}
	flush()
	if m.statuses == 0 && m.trailer != nil {
		b.ps.inMsg(m, m.header, 0, 0, kMissingSegment, "the message reports no status: IFTSTA carries each in STS")
	}
}

// rff reads RFF+qualifier:value into k.
func (b *builder) rff(m *message, s *Segment, k *keys) {
	q, v := s.V(1, 1), s.V(1, 2)
	if q == "" {
		b.ps.inMsg(m, s, 1, 1, kMissing, "the reference qualifier (1153) is missing")
		return
	}
	if v == "" {
		b.ps.inMsg(m, s, 1, 2, kMissing, "reference %s has no value (1154)", q)
		return
	}
	a := at{s, 1, 2}
	switch q {
	case "BN":
		k.setBooking(v, a)
	case "BM":
		k.setBL(v, a)
	default:
		if t := dcsaRef(q, rffRefs); t != "" {
			k.addRef(t, v, a)
		}
	}
}

func (b *builder) iftstaStatus(m *message, g *stsGroup, cni, hdr *keys, cniEqds []*Segment) {
	m.statuses++
	s := g.seg
	code := s.V(2, 1)
	if code == "" {
		b.ps.inMsg(m, s, 2, 1, kMissing, "the status code (C555 4405) is missing")
		return
	}
	mp, ok := iftstaCode(code)
	if !ok {
		b.ps.inMsg(m, s, 2, 1, kUnknownCode, "unknown status code %q: this gateway maps the Recommendation 24 codes and the ocean codes listed in docs/edi.md", clip(code))
		return
	}
	st := &status{m: mp, keys: g.refs}
	st.keys.merge(cni)
	st.keys.merge(hdr)

	// When: the first date/time with a status qualifier.
	var dtm *Segment
	for _, d := range g.dtms {
		if _, ok := dtmClassifiers[d.V(1, 1)]; ok {
			dtm = d
			break
		}
	}
	if dtm == nil {
		b.ps.inMsg(m, s, 0, 0, kMissingSegment, "status %s has no date/time: give DTM with qualifier %s", code, strings.Join(dtmQualifierOrder, ", "))
		return
	}
	when, err := parseEDIFACTTime(dtm.V(1, 2), dtm.V(1, 3), b.zone)
	if err != nil {
		b.ps.inMsg(m, dtm, 1, 2, kDate, "%v", err)
		return
	}
	st.when, st.whenAt = when, at{dtm, 1, 2}
	st.classifier = firstOf(dtmClassifiers[dtm.V(1, 1)], mp.Classifier, "ACT")

	// Where: LOC+175 (activity location), else the first LOC of the
	// status, else the first of its transport details.
	var loc *Segment
	for _, l := range append(g.locs, g.tlocs...) {
		if l.V(1, 1) == "175" {
			loc = l
			break
		}
	}
	if loc == nil && len(g.locs) > 0 {
		loc = g.locs[0]
	}
	if loc == nil && len(g.tlocs) > 0 {
		loc = g.tlocs[0]
	}
	if loc != nil {
		st.place = edifactPlace(loc)
	}

	// How: the status code's mode, else the TDT's.
	st.mode = mp.Mode
	if t := g.tdt; t != nil {
		tdtMode := modeOf[t.V(3, 1)]
		if st.mode == "" {
			st.mode = tdtMode
		}
		if v := t.V(2, 1); v != "" {
			st.voyage, st.voyageAt = v, at{t, 2, 0}
		}
		st.vessel, st.vesselAt = tdtVessel(t)
		if st.mode == "" && mp.Type == linkd.Transport {
			b.ps.inMsg(m, t, 3, 1, kInvalid, "mode of transport %q: want 1 (sea), 2 (rail), 3 (road) or 8 (inland water)", clip(t.V(3, 1)))
			return
		}
	}

	// What: the containers of the status, else of the consignment.
	eqds := g.eqds
	if len(eqds) == 0 {
		eqds = cniEqds
	}
	for _, q := range eqds {
		if q.V(1, 1) != "CN" {
			continue // trailers, railcars: no ISO 6346 number
		}
		e := equipment{number: q.V(2, 1), at: at{q, 2, 1}, iso: q.V(3, 1), isoAt: at{q, 3, 1}}
		switch q.V(6, 1) {
		case "4":
			e.empty = "EMPTY"
		case "5":
			e.empty = "LADEN"
		}
		if e.number == "" {
			b.ps.inMsg(m, q, 2, 1, kMissing, "the container number (C237 8260) is missing")
			return
		}
		st.equipment = append(st.equipment, e)
	}

	if mp.Type == linkd.Shipment {
		var parts []string
		for _, f := range g.ftx {
			for _, c := range f.Components(4) {
				parts = append(parts, c)
			}
			if st.reasonAt.seg == nil {
				st.reasonAt = at{f, 4, 0}
			}
		}
		st.reason = strings.Join(parts, "")
	}
	if !b.needs(m, s, st, "give TDT with C220 8067 (1 sea, 2 rail, 3 road, 8 inland water)") {
		return
	}
	b.build(m, s, st)
}

// edifactPlace reads LOC: C517 (3225 id, 1131 code list, 3055 agency, 3224
// name) and C519 (3223 facility, 1131, 3055 agency: 306 is SMDG).
func edifactPlace(l *Segment) *place {
	p := &place{}
	id, list, agency, name := l.V(2, 1), l.V(2, 2), l.V(2, 3), l.V(2, 4)
	switch {
	case id != "" && (agency == "6" || list == "139" || looksLikeLocode(id)):
		p.loc.UNLocationCode = id
		p.at = at{l, 2, 1}
		p.loc.LocationName = name
	case id != "" && name == "":
		p.loc.LocationName = id
		p.at = at{l, 2, 1}
	default:
		p.loc.LocationName = name
		p.at = at{l, 2, 4}
	}
	if fac := l.V(3, 1); fac != "" {
		switch {
		case l.V(3, 3) == "306" || l.V(3, 2) == "SMDG":
			p.loc.FacilityCode, p.loc.FacilityCodeListProvider = fac, "SMDG"
		case l.V(3, 2) == "BIC":
			p.loc.FacilityCode, p.loc.FacilityCodeListProvider = fac, "BIC"
		}
		if p.at.seg == nil {
			p.at = at{l, 3, 1}
		}
	}
	return p
}

// tdtVessel reads TDT C222: 8213 the vessel's id (an IMO number with agency
// 11, Lloyd's, or code list 146; a call sign with code list 103), 8212 its
// name, 8453 its flag.
func tdtVessel(t *Segment) (*linkd.Vessel, map[string]at) {
	id, list, agency, name, flag := t.V(8, 1), t.V(8, 2), t.V(8, 3), t.V(8, 4), t.V(8, 5)
	if id == "" && name == "" && flag == "" {
		return nil, nil
	}
	v := &linkd.Vessel{VesselName: name, VesselFlag: flag}
	from := map[string]at{"vesselName": {t, 8, 4}, "vesselFlag": {t, 8, 5}}
	switch {
	case id == "":
	case list == "103":
		v.VesselCallSign = id
		from["vesselCallSignNumber"] = at{t, 8, 1}
	case agency == "11" || list == "146" || (len(id) == 7 && isDigits(id)):
		v.VesselIMONumber = id
		from["vesselIMONumber"] = at{t, 8, 1}
	}
	return v, from
}
