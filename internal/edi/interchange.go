package edi

import (
	"fmt"
	"strconv"
	"time"
)

// interchange is the envelope structure of a tokenized interchange.
type interchange struct {
	tok             *tokens
	header, trailer *Segment // UNB/ISA, UNZ/IEA
	sender          string   // UNB 0004 / ISA06
	senderQual      string   // UNB 0007 / ISA05
	recipient       string   // UNB 0010 / ISA08
	recipientQual   string   // UNB 0007 of S003 / ISA07
	control         string   // UNB 0020 / ISA13
	version         string   // EDIFACT syntax version (0002) / ISA12
	groups          []*group
	msgs            []*message
	explicitGroups  bool     // EDIFACT: UNG … UNE are used
	open            *message // the message the input ended in, when cut off
}

// group is a functional group: X12 GS … GE, EDIFACT UNG … UNE, or the
// implicit group of an EDIFACT interchange without UNG.
type group struct {
	header, trailer *Segment
	id              string // GS01 functional identifier / UNG 0038
	ref             string // GS06 / UNG 0048
	sender          string // GS02 / UNG S006
	recipient       string // GS03 / UNG S007
	version         string // GS08 / UNG S008
	msgs            []*message
	idx             int
}

// message is one EDIFACT message (UNH … UNT) or X12 transaction set
// (ST … SE).
type message struct {
	header, trailer *Segment
	typ             string    // IFTSTA, 214, 315
	ref             string    // UNH 0062 / ST02
	id              string    // EDIFACT S009 as type:version:release:agency; X12 ST03
	segs            []Segment // header … trailer (or the last segment read)
	group           *group
	idx             int
	statuses        int
	events          int
}

// maxElements are the data elements of the segments this gateway reads;
// more is an error (in EDIFACT usually an unreleased + in a value).
var maxElements = map[string]map[string]int{
	EDIFACT: {
		"UNB": 11, "UNG": 8, "UNH": 7, "UNT": 2, "UNE": 2, "UNZ": 2,
		"BGM": 4, "DTM": 1, "RFF": 1, "CNI": 3, "STS": 7, "LOC": 5, "TDT": 12, "EQD": 6, "FTX": 6,
	},
	X12: {
		"GS": 8, "ST": 3, "SE": 2, "GE": 2, "IEA": 2,
		"B4": 14, "N9": 7, "Q2": 16, "B10": 9, "L11": 5, "LX": 1, "AT7": 7, "MS1": 7, "MS2": 4, "N1": 6, "N4": 7,
	},
}

// checkShape reports segments with more data elements than they have.
func checkShape(ic *interchange, ps *problems) {
	limits := maxElements[ic.tok.syntax]
	owner := make([]*message, len(ic.tok.segs)+1)
	for _, m := range ic.msgs {
		for p := m.header.Position; p < m.header.Position+len(m.segs) && p < len(owner); p++ {
			owner[p] = m
		}
	}
	for i := range ic.tok.segs {
		s := &ic.tok.segs[i]
		max, ok := limits[s.Tag]
		if !ok || len(s.Elements) <= max {
			continue
		}
		hint := ""
		if ic.tok.syntax == EDIFACT {
			hint = fmt.Sprintf(" (a %q inside a value needs the release character %q before it)", ic.tok.delims.Element, ic.tok.delims.Release)
		}
		if m := owner[s.Position]; m != nil {
			ps.inMsg(m, s, max+1, 0, kTooMany, "%s has at most %d data elements; this one has %d%s", s.Tag, max, len(s.Elements), hint)
		} else {
			ps.at(s, max+1, 0, kTooMany, "%s has at most %d data elements; this one has %d%s", s.Tag, max, len(s.Elements), hint)
		}
	}
}

// inMsg records a problem at element e, component c of a segment of m.
func (ps *problems) inMsg(m *message, seg *Segment, e, c int, k kind, format string, args ...any) {
	p := Problem{Segment: seg.Position, Tag: seg.Tag, Element: e, Component: c, kind: k, Reason: fmt.Sprintf(format, args...),
		scope: scopeMessage, group: m.group.idx, msg: m.idx, Message: m.ref, inMsg: seg.Position - m.header.Position + 1}
	ps.add(p)
}

// inGroup records a problem at a segment of g's envelope.
func (ps *problems) inGroup(g *group, seg *Segment, e, c int, k kind, format string, args ...any) {
	ps.add(Problem{Segment: seg.Position, Tag: seg.Tag, Element: e, Component: c, kind: k, Reason: fmt.Sprintf(format, args...),
		scope: scopeGroup, group: g.idx, msg: -1})
}

// envelopeEDIFACT walks the segments of an EDIFACT interchange. It returns
// nil when there is no UNB to answer to. partial says the tokenizer stopped
// early, which has been reported: the end of the input is not checked.
func envelopeEDIFACT(tok *tokens, ps *problems, partial bool) *interchange {
	segs := tok.segs
	i := 0
	if len(segs) > 0 && segs[0].Tag == "UNA" {
		i = 1
	}
	if i >= len(segs) {
		ps.add(Problem{kind: kTruncated, Reason: "the interchange holds no segments after UNA", group: -1, msg: -1})
		return nil
	}
	unb := &segs[i]
	if unb.Tag != "UNB" {
		ps.at(unb, 0, 0, kUnexpected, "an EDIFACT interchange starts with UNB (after an optional UNA), not %s", unb.Tag)
		return nil
	}
	ic := &interchange{tok: tok, header: unb, control: unb.V(5, 1), version: unb.V(1, 2),
		sender: unb.V(2, 1), senderQual: unb.V(2, 2), recipient: unb.V(3, 1), recipientQual: unb.V(3, 2)}
	checkUNB(unb, ps)

	var g *group
	var m *message
	msgStart := 0
	refs := map[string]bool{}
	closeMsg := func(end int, trailer *Segment) {
		m.segs = segs[msgStart : end+1]
		m.trailer = trailer
		m = nil
	}
	implicit := func() *group {
		if g == nil {
			g = &group{idx: len(ic.groups)}
			ic.groups = append(ic.groups, g)
		}
		return g
	}
	for i++; i < len(segs); i++ {
		s := &segs[i]
		switch s.Tag {
		case "UNH":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "UNH of a new message inside message %s: the UNT of %s is missing", m.ref, m.ref)
				closeMsg(i-1, nil)
			}
			if ic.explicitGroups && (g == nil || g.trailer != nil) {
				ps.at(s, 0, 0, kUnexpected, "a message outside a functional group: this interchange uses UNG … UNE")
			}
			grp := implicit()
			m = &message{header: s, ref: s.V(1, 1), typ: s.V(2, 1), group: grp, idx: len(ic.msgs),
				id: s.V(2, 1) + ":" + s.V(2, 2) + ":" + s.V(2, 3) + ":" + s.V(2, 4)}
			msgStart = i
			grp.msgs = append(grp.msgs, m)
			ic.msgs = append(ic.msgs, m)
			checkUNH(m, s, refs, ps)
		case "UNT":
			if m == nil {
				ps.at(s, 0, 0, kUnexpected, "UNT without its UNH")
				continue
			}
			closeMsg(i, s)
			msg := ic.msgs[len(ic.msgs)-1]
			checkCount(msg, s, 1, "UNT", ps)
			if ref := s.V(2, 1); ref != msg.ref {
				ps.inMsg(msg, s, 2, 0, kRefMismatch, "UNT names message %q; its UNH names %q", clip(ref), clip(msg.ref))
			}
		case "UNG":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "UNG inside message %s: its UNT is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if g != nil && !ic.explicitGroups {
				ps.at(s, 0, 0, kUnexpected, "a functional group after messages outside one: groups and messages may not be mixed")
			} else if g != nil && g.trailer == nil {
				ps.inGroup(g, s, 0, 0, kMissingSegment, "UNG of a new group: the UNE of group %s is missing", g.ref)
			}
			ic.explicitGroups = true
			g = &group{header: s, idx: len(ic.groups), id: s.V(1, 1), sender: s.V(2, 1), recipient: s.V(3, 1), ref: s.V(5, 1), version: s.V(7, 1) + ":" + s.V(7, 2)}
			ic.groups = append(ic.groups, g)
			if g.ref == "" {
				ps.inGroup(g, s, 5, 0, kMissing, "the group reference number (0048) is missing")
			}
		case "UNE":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "UNE inside message %s: its UNT is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if g == nil || !ic.explicitGroups || g.trailer != nil {
				ps.at(s, 0, 0, kUnexpected, "UNE without its UNG")
				continue
			}
			g.trailer = s
			checkControlCount(s, len(g.msgs), "messages in the group", ps, func(e int, k kind, f string, a ...any) { ps.inGroup(g, s, e, 0, k, f, a...) })
			if ref := s.V(2, 1); ref != g.ref {
				ps.inGroup(g, s, 2, 0, kRefMismatch, "UNE names group %q; its UNG names %q", clip(ref), clip(g.ref))
			}
		case "UNZ":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "UNZ inside message %s: its UNT is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if ic.explicitGroups && g != nil && g.trailer == nil {
				ps.inGroup(g, s, 0, 0, kMissingSegment, "UNZ inside group %s: its UNE is missing", g.ref)
			}
			ic.trailer = s
			n, what := len(ic.msgs), "messages"
			if ic.explicitGroups {
				n, what = len(ic.groups), "functional groups"
			}
			checkControlCount(s, n, what, ps, func(e int, k kind, f string, a ...any) { ps.at(s, e, 0, k, f, a...) })
			if ref := s.V(2, 1); ref != ic.control {
				ps.at(s, 2, 0, kRefMismatch, "UNZ names interchange %q; its UNB names %q", clip(ref), clip(ic.control))
			}
			if i+1 < len(segs) {
				ps.at(&segs[i+1], 0, 0, kUnexpected, "a segment after UNZ: one interchange per import")
			}
			i = len(segs)
		case "UNB":
			ps.at(s, 0, 0, kUnexpected, "a second UNB: one interchange per import, and this one has no UNZ before it")
		default:
			if m == nil {
				ps.at(s, 0, 0, kUnexpected, "%s outside a message: data segments belong between UNH and UNT", s.Tag)
				continue
			}
		}
	}
	if partial {
		if m != nil {
			ic.open = m
			closeMsg(len(segs)-1, nil)
		}
		return ic
	}
	if m != nil {
		last := &segs[len(segs)-1]
		ps.inMsg(m, last, 0, 0, kTruncated, "the interchange ends inside message %s, without its UNT (truncated?)", m.ref)
		closeMsg(len(segs)-1, nil)
	}
	if ic.trailer == nil {
		last := &segs[len(segs)-1]
		ps.at(last, 0, 0, kTruncated, "the interchange ends without UNZ (truncated?)")
	}
	if len(ic.msgs) == 0 {
		ps.at(unb, 0, 0, kMissingSegment, "the interchange holds no message")
	}
	return ic
}

func checkUNB(unb *Segment, ps *problems) {
	id, ver := unb.V(1, 1), unb.V(1, 2)
	switch {
	case id == "":
		ps.at(unb, 1, 1, kMissing, "the syntax identifier (0001) is missing")
	case len(id) != 4 || id[:3] != "UNO" || id[3] < 'A' || id[3] > 'Y':
		ps.at(unb, 1, 1, kUnsupported, "syntax identifier %q: want UNOA … UNOY", clip(id))
	}
	if ver < "1" || ver > "4" || len(ver) != 1 {
		ps.at(unb, 1, 2, kUnsupported, "syntax version %q: this gateway reads versions 1 to 4", clip(ver))
	}
	for _, f := range []struct {
		e    int
		name string
	}{{2, "sender identification (0004)"}, {3, "recipient identification (0010)"}} {
		if v := unb.V(f.e, 1); v == "" {
			ps.at(unb, f.e, 1, kMissing, "the %s is missing", f.name)
		} else if len(v) > 35 {
			ps.at(unb, f.e, 1, kTooLong, "the %s has %d characters; at most 35", f.name, len(v))
		}
	}
	date, tm := unb.V(4, 1), unb.V(4, 2)
	if _, ok := parseDate(date); !ok || (ver == "4") != (len(date) == 8) {
		want := "YYMMDD"
		if ver == "4" {
			want = "CCYYMMDD"
		}
		ps.at(unb, 4, 1, kDate, "date of preparation %q: want %s", clip(date), want)
	}
	if _, ok := parseClock(tm); !ok || len(tm) != 4 {
		ps.at(unb, 4, 2, kTime, "time of preparation %q: want HHMM", clip(tm))
	}
	switch ref := unb.V(5, 1); {
	case ref == "":
		ps.at(unb, 5, 0, kMissing, "the interchange control reference (0020) is missing")
	case len(ref) > 14 || !alnumString(ref):
		ps.at(unb, 5, 0, kInvalid, "interchange control reference %q: want 1 to 14 letters or digits", clip(ref))
	}
}

func checkUNH(m *message, s *Segment, refs map[string]bool, ps *problems) {
	switch {
	case m.ref == "":
		ps.inMsg(m, s, 1, 0, kMissing, "the message reference number (0062) is missing")
	case len(m.ref) > 14:
		ps.inMsg(m, s, 1, 0, kTooLong, "message reference %q: at most 14 characters", clip(m.ref))
	case refs[m.ref]:
		ps.inMsg(m, s, 1, 0, kDuplicate, "message reference %s is used by an earlier message of this interchange", m.ref)
	}
	refs[m.ref] = true
	if m.typ == "" {
		ps.inMsg(m, s, 2, 1, kMissing, "the message type (0065) is missing")
	} else if m.typ != "IFTSTA" {
		ps.inMsg(m, s, 2, 1, kUnsupported, "message type %s: this gateway reads IFTSTA", clip(m.typ))
	}
	for c, name := range []string{2: "message version number (0052)", 3: "message release number (0054)", 4: "controlling agency (0051)"} {
		if name != "" && s.V(2, c) == "" {
			ps.inMsg(m, s, 2, c, kMissing, "the %s is missing", name)
		}
	}
}

// checkCount checks a message trailer's segment count in element e.
func checkCount(m *message, s *Segment, e int, trailer string, ps *problems) {
	v := s.V(e, 1)
	n, err := strconv.Atoi(v)
	switch {
	case v == "":
		ps.inMsg(m, s, e, 0, kMissing, "the number of segments is missing")
	case err != nil || n < 0:
		ps.inMsg(m, s, e, 0, kInvalid, "number of segments %q is not a number", clip(v))
	case n != len(m.segs):
		ps.inMsg(m, s, e, 0, kCountMismatch, "%s counts %d segments; the message has %d, %s to %s", trailer, n, len(m.segs), m.header.Tag, trailer)
	}
}

// checkControlCount checks a group or interchange trailer's count in
// element 1.
func checkControlCount(s *Segment, have int, what string, ps *problems, add func(e int, k kind, f string, a ...any)) {
	v := s.V(1, 1)
	n, err := strconv.Atoi(v)
	switch {
	case v == "":
		add(1, kMissing, "the control count is missing")
	case err != nil || n < 0:
		add(1, kInvalid, "control count %q is not a number", clip(v))
	case n != have:
		add(1, kCountMismatch, "%s counts %d %s; the interchange has %d", s.Tag, n, what, have)
	}
}

// envelopeX12 walks the segments of an X12 interchange; partial is as for
// envelopeEDIFACT.
func envelopeX12(tok *tokens, ps *problems, partial bool) *interchange {
	segs := tok.segs
	isa := &segs[0]
	ic := &interchange{tok: tok, header: isa, senderQual: isa.V(5, 1), sender: isa.V(6, 1), recipientQual: isa.V(7, 1),
		recipient: isa.V(8, 1), version: isa.V(12, 1), control: isa.V(13, 1)}
	checkISA(isa, ps)
	var g *group
	var m *message
	msgStart := 0
	closeMsg := func(end int, trailer *Segment) {
		m.segs = segs[msgStart : end+1]
		m.trailer = trailer
		m = nil
	}
	refs := map[string]bool{}
	for i := 1; i < len(segs); i++ {
		s := &segs[i]
		switch s.Tag {
		case "GS":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "GS inside transaction set %s: its SE is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if g != nil && g.trailer == nil {
				ps.inGroup(g, s, 0, 0, kMissingSegment, "GS of a new group: the GE of group %s is missing", g.ref)
			}
			g = &group{header: s, idx: len(ic.groups), id: s.V(1, 1), sender: s.V(2, 1), recipient: s.V(3, 1), ref: s.V(6, 1), version: s.V(8, 1)}
			ic.groups = append(ic.groups, g)
			refs = map[string]bool{}
			checkGS(g, s, ps)
		case "ST":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "ST of a new transaction set inside %s: the SE of %s is missing", m.ref, m.ref)
				closeMsg(i-1, nil)
			}
			if g == nil || g.trailer != nil {
				ps.at(s, 0, 0, kUnexpected, "ST outside a functional group: transaction sets belong between GS and GE")
				g = &group{idx: len(ic.groups), header: s}
				ic.groups = append(ic.groups, g)
			}
			m = &message{header: s, typ: s.V(1, 1), ref: s.V(2, 1), id: s.V(3, 1), group: g, idx: len(ic.msgs)}
			msgStart = i
			g.msgs = append(g.msgs, m)
			ic.msgs = append(ic.msgs, m)
			switch {
			case m.typ == "":
				ps.inMsg(m, s, 1, 0, kMissing, "the transaction set identifier (ST01) is missing")
			case m.typ != "214" && m.typ != "315":
				ps.inMsg(m, s, 1, 0, kUnsupported, "transaction set %s: this gateway reads 214 and 315", clip(m.typ))
			}
			switch {
			case len(m.ref) < 4 || len(m.ref) > 9:
				ps.inMsg(m, s, 2, 0, kInvalid, "transaction set control number %q: want 4 to 9 characters", clip(m.ref))
			case refs[m.ref]:
				ps.inMsg(m, s, 2, 0, kDuplicate, "transaction set control number %s is used by an earlier set of this group", m.ref)
			}
			refs[m.ref] = true
		case "SE":
			if m == nil {
				ps.at(s, 0, 0, kUnexpected, "SE without its ST")
				continue
			}
			closeMsg(i, s)
			msg := ic.msgs[len(ic.msgs)-1]
			checkCount(msg, s, 1, "SE", ps)
			if ref := s.V(2, 1); ref != msg.ref {
				ps.inMsg(msg, s, 2, 0, kRefMismatch, "SE names transaction set %q; its ST names %q", clip(ref), clip(msg.ref))
			}
		case "GE":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "GE inside transaction set %s: its SE is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if g == nil || g.trailer != nil {
				ps.at(s, 0, 0, kUnexpected, "GE without its GS")
				continue
			}
			g.trailer = s
			checkControlCount(s, len(g.msgs), "transaction sets in the group", ps, func(e int, k kind, f string, a ...any) { ps.inGroup(g, s, e, 0, k, f, a...) })
			if ref := s.V(2, 1); ref != g.ref {
				ps.inGroup(g, s, 2, 0, kRefMismatch, "GE names group %q; its GS names %q", clip(ref), clip(g.ref))
			}
		case "IEA":
			if m != nil {
				ps.inMsg(m, s, 0, 0, kMissingSegment, "IEA inside transaction set %s: its SE is missing", m.ref)
				closeMsg(i-1, nil)
			}
			if g != nil && g.trailer == nil {
				ps.inGroup(g, s, 0, 0, kMissingSegment, "IEA inside group %s: its GE is missing", g.ref)
			}
			ic.trailer = s
			checkControlCount(s, len(ic.groups), "functional groups", ps, func(e int, k kind, f string, a ...any) { ps.at(s, e, 0, k, f, a...) })
			if ref := s.V(2, 1); ref != ic.control {
				ps.at(s, 2, 0, kRefMismatch, "IEA names interchange %q; its ISA names %q", clip(ref), clip(ic.control))
			}
			if i+1 < len(segs) {
				ps.at(&segs[i+1], 0, 0, kUnexpected, "a segment after IEA: one interchange per import")
			}
			i = len(segs)
		case "ISA":
			ps.at(s, 0, 0, kUnexpected, "a second ISA: one interchange per import, and this one has no IEA before it")
		default:
			if m == nil {
				ps.at(s, 0, 0, kUnexpected, "%s outside a transaction set: data segments belong between ST and SE", s.Tag)
			}
		}
	}
	if partial {
		if m != nil {
			ic.open = m
			closeMsg(len(segs)-1, nil)
		}
		return ic
	}
	if m != nil {
		last := &segs[len(segs)-1]
		ps.inMsg(m, last, 0, 0, kTruncated, "the interchange ends inside transaction set %s, without its SE (truncated?)", m.ref)
		closeMsg(len(segs)-1, nil)
	}
	if ic.trailer == nil {
		ps.at(&segs[len(segs)-1], 0, 0, kTruncated, "the interchange ends without IEA (truncated?)")
	}
	if len(ic.msgs) == 0 {
		ps.at(isa, 0, 0, kMissingSegment, "the interchange holds no transaction set")
	}
	return ic
}

func checkISA(isa *Segment, ps *problems) {
	if v := isa.V(6, 1); v == "" {
		ps.at(isa, 6, 0, kMissing, "the interchange sender ID (ISA06) is blank")
	}
	if v := isa.V(8, 1); v == "" {
		ps.at(isa, 8, 0, kMissing, "the interchange receiver ID (ISA08) is blank")
	}
	if _, ok := parseDate(isa.Value(9, 1)); !ok {
		ps.at(isa, 9, 0, kDate, "interchange date %q: want YYMMDD", isa.Value(9, 1))
	}
	if _, ok := parseClock(isa.Value(10, 1)); !ok {
		ps.at(isa, 10, 0, kTime, "interchange time %q: want HHMM", isa.Value(10, 1))
	}
	if v := isa.Value(12, 1); !isDigits(v) {
		ps.at(isa, 12, 0, kInvalid, "interchange version %q: want 5 digits such as 00401", v)
	}
	if v := isa.Value(13, 1); !isDigits(v) {
		ps.at(isa, 13, 0, kInvalid, "interchange control number %q: want 9 digits", v)
	}
	if v := isa.Value(14, 1); v != "0" && v != "1" {
		ps.at(isa, 14, 0, kInvalid, "acknowledgment requested %q: want 0 or 1", v)
	}
	if v := isa.Value(15, 1); v != "P" && v != "T" && v != "I" {
		ps.at(isa, 15, 0, kInvalid, "usage indicator %q: want P, T or I", v)
	}
}

func checkGS(g *group, s *Segment, ps *problems) {
	if g.id == "" {
		ps.inGroup(g, s, 1, 0, kMissing, "the functional identifier code (GS01) is missing")
	}
	if g.ref == "" || len(g.ref) > 9 || !isDigits(g.ref) {
		ps.inGroup(g, s, 6, 0, kInvalid, "group control number %q: want 1 to 9 digits", clip(g.ref))
	}
	if _, ok := parseDate(s.V(4, 1)); !ok || len(s.V(4, 1)) != 8 {
		ps.inGroup(g, s, 4, 0, kDate, "group date %q: want CCYYMMDD", clip(s.V(4, 1)))
	}
	if _, ok := parseClock(s.V(5, 1)); !ok {
		ps.inGroup(g, s, 5, 0, kTime, "group time %q: want HHMM, HHMMSS or longer", clip(s.V(5, 1)))
	}
	if g.version == "" {
		ps.inGroup(g, s, 8, 0, kMissing, "the version (GS08) is missing")
	}
}

// parseDate reads YYMMDD or CCYYMMDD. Two-digit years are 2000-2069 or
// 1970-1999.
func parseDate(s string) (time.Time, bool) {
	if !isDigits(s) {
		return time.Time{}, false
	}
	var y int
	switch len(s) {
	case 6:
		y, _ = strconv.Atoi(s[:2])
		if y < 70 {
			y += 2000
		} else {
			y += 1900
		}
		s = s[2:]
	case 8:
		y, _ = strconv.Atoi(s[:4])
		s = s[4:]
	default:
		return time.Time{}, false
	}
	mo, _ := strconv.Atoi(s[:2])
	d, _ := strconv.Atoi(s[2:4])
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// parseClock reads HHMM, HHMMSS, or HHMMSS with decimal seconds (X12
// HHMMSSD, HHMMSSDD), as a duration since midnight.
func parseClock(s string) (time.Duration, bool) {
	if !isDigits(s) || len(s) < 4 || len(s) > 8 || len(s) == 5 {
		return 0, false
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[2:4])
	sec := 0
	if len(s) >= 6 {
		sec, _ = strconv.Atoi(s[4:6])
	}
	if h > 23 || m > 59 || sec > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	if len(s) > 6 {
		frac, _ := strconv.Atoi(s[6:])
		unit := time.Second / 10
		if len(s) == 8 {
			unit = time.Second / 100
		}
		d += time.Duration(frac) * unit
	}
	return d, true
}

func alnumString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}
