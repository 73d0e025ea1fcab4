package edi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Acknowledgement types.
const (
	AckCONTRL = "CONTRL"
	Ack997    = "997"
	Ack999    = "999"
	AckTA1    = "TA1"
)

// acknowledge makes the acknowledgement of an interchange: positive when
// probs is empty, else negative, naming each problem where the syntax's
// acknowledgement can.
func acknowledge(ic *interchange, probs []Problem, opts Options) ([]byte, string) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now().UTC()
	if ic.tok.syntax == EDIFACT {
		return contrl(ic, probs, opts, t), AckCONTRL
	}
	return x12Ack(ic, probs, opts, t)
}

// msgProblems returns the problems of message m: those for its header or
// trailer (or its missing trailer: a truncation), and those of segments
// inside it.
func msgProblems(m *message, probs []Problem) (envelope, inside []Problem) {
	last := m.header.Position + len(m.segs) - 1
	for _, p := range probs {
		if p.scope != scopeMessage || p.msg != m.idx {
			continue
		}
		if p.kind == kTruncated || p.Segment == m.header.Position || (m.trailer != nil && p.Segment == m.trailer.Position) || p.Segment < m.header.Position || p.Segment > last {
			envelope = append(envelope, p)
		} else {
			inside = append(inside, p)
		}
	}
	return envelope, inside
}

// trailerTag is the tag to name for an envelope problem: the missing
// trailer's when the problem is that it is missing.
func trailerTag(p Problem, trailer string) string {
	if p.kind == kMissingSegment || p.kind == kTruncated {
		return trailer
	}
	return p.Tag
}

// contrl makes a CONTRL (syntax and service report) for an EDIFACT
// interchange: UCI for the interchange, UCF for each explicit group, UCM
// for each message with UCS and UCD for the segments and elements in error.
func contrl(ic *interchange, probs []Problem, opts Options, now time.Time) []byte {
	version := ic.version
	if len(version) != 1 || version < "1" || version > "4" {
		version = "3"
	}
	charset := ic.header.V(1, 1)
	if len(charset) != 4 || !strings.HasPrefix(charset, "UNO") {
		charset = "UNOC"
	}
	d := defaultEDIFACT
	if version == "4" {
		d.Repetition = '*'
	}
	w := &edifactWriter{d: d, nl: ic.tok.newline, latin1: charset == "UNOC"}
	w.una()
	ctrl := ackControl(opts.AckControlNumber, ic.control, 14)
	date := now.Format("060102")
	if version == "4" {
		date = now.Format("20060102")
	}
	w.seg("UNB", []string{charset, version}, []string{ic.recipient, ic.recipientQual}, []string{ic.sender, ic.senderQual},
		[]string{date, now.Format("1504")}, []string{ctrl})
	w.n = 0
	id := []string{"CONTRL", "D", "3", "UN"}
	if version == "4" {
		id = []string{"CONTRL", "4", "1", "UN"}
	}
	w.seg("UNH", []string{"1"}, id)
	action := "7" // this level acknowledged, and the lower ones unless rejected
	if len(probs) > 0 {
		action = "4" // this level and all lower levels rejected
	}
	uci := [][]string{{ic.control}, {ic.sender, ic.senderQual}, {ic.recipient, ic.recipientQual}, {action}}
	for _, p := range probs {
		if p.scope == scopeInterchange {
			tag := p.Tag
			if p.kind == kTruncated && p.Element == 0 {
				tag = "UNZ" // the trailer that is missing
			}
			uci = append(uci, []string{edifactCode(p)}, []string{tag}, s011(p))
			break
		}
	}
	w.seg("UCI", uci...)
	for _, g := range ic.groups {
		if ic.explicitGroups {
			ucf := [][]string{{g.ref}, {g.sender}, {g.recipient}, {action}}
			for _, p := range probs {
				if p.scope == scopeGroup && p.group == g.idx {
					ucf = append(ucf, []string{edifactCode(p)}, []string{trailerTag(p, "UNE")}, s011(p))
					break
				}
			}
			w.seg("UCF", ucf...)
		}
		for _, m := range g.msgs {
			env, inside := msgProblems(m, probs)
			ucm := [][]string{{m.ref}, strings.Split(m.id, ":"), {action}}
			if len(env) > 0 {
				p := env[0]
				ucm = append(ucm, []string{edifactCode(p)}, []string{trailerTag(p, "UNT")}, s011(p))
			}
			w.seg("UCM", ucm...)
			for i := 0; i < len(inside); {
				j := i
				for j < len(inside) && inside[j].Segment == inside[i].Segment {
					j++
				}
				ucs := [][]string{{strconv.Itoa(inside[i].inMsg)}}
				for _, p := range inside[i:j] {
					if p.Element == 0 {
						ucs = append(ucs, []string{edifactCode(p)})
						break
					}
				}
				w.seg("UCS", ucs...)
				for _, p := range inside[i:j] {
					if p.Element > 0 {
						w.seg("UCD", []string{edifactCode(p)}, s011(p))
					}
				}
				i = j
			}
		}
	}
	w.seg("UNT", []string{strconv.Itoa(w.n + 1)}, []string{"1"})
	w.seg("UNZ", []string{"1"}, []string{ctrl})
	return w.b
}

// s011 is a data element identification: position in the segment and
// component position.
func s011(p Problem) []string {
	if p.Element == 0 {
		return nil
	}
	if p.Component == 0 {
		return []string{strconv.Itoa(p.Element)}
	}
	return []string{strconv.Itoa(p.Element), strconv.Itoa(p.Component)}
}

// edifactCode is the syntax error code (UN/EDIFACT 0085) of a problem.
func edifactCode(p Problem) string {
	if p.kind == kUnsupported && p.Tag == "UNB" && p.Element == 1 {
		return "2" // syntax version or level not supported
	}
	switch p.kind {
	case kDelimiters:
		return "20" // character invalid as service character
	case kCharset:
		return "21" // invalid character(s)
	case kTooLong:
		return "39" // data element too long
	case kTooMany:
		return "16" // too many constituents
	case kMissing, kMissingSegment, kTruncated:
		return "13" // missing
	case kInvalid, kUnknownCode, kDate, kTime:
		return "12" // invalid value
	case kUnsupported:
		return "14" // value not supported in this position
	case kRefMismatch:
		return "28" // references do not match
	case kCountMismatch:
		return "29" // control count does not match number of instances received
	case kDuplicate:
		return "26" // duplicate detected
	case kUnexpected:
		return "15" // not supported in this position
	}
	return "18" // unspecified error
}

// ackControl is the acknowledgement interchange's control number: the one
// given, else the acknowledged one's, fitted to n characters (digits only
// for X12's 9).
func ackControl(given, orig string, n int) string {
	c := given
	if c == "" {
		c = orig
	}
	if n == 9 {
		var digits []byte
		for i := 0; i < len(c); i++ {
			if c[i] >= '0' && c[i] <= '9' {
				digits = append(digits, c[i])
			}
		}
		if len(digits) > 9 {
			digits = digits[len(digits)-9:]
		}
		return fmt.Sprintf("%09s", string(digits))
	}
	if c == "" || len(c) > n || !alnumString(c) {
		return "1"
	}
	return c
}

// x12Ack makes the acknowledgement of an X12 interchange: a TA1 when the
// interchange envelope itself is in error, else one 997 (or 999) per
// functional group with AK3/AK4 (IK3/IK4) for each segment and element in
// error.
func x12Ack(ic *interchange, probs []Problem, opts Options, now time.Time) ([]byte, string) {
	d := ic.tok.delims
	w := &x12Writer{d: d, nl: ic.tok.newline}
	ctrl := ackControl(opts.AckControlNumber, ic.control, 9)
	version := ic.version
	if len(version) != 5 || !isDigits(version) {
		version = "00401"
	}
	rep := "U"
	if d.Repetition != 0 {
		rep = string(d.Repetition)
	}
	usage := ic.header.V(15, 1)
	if usage != "T" && usage != "I" {
		usage = "P"
	}
	w.isa([16]string{"00", "", "00", "", firstOf(ic.recipientQual, "ZZ"), ic.recipient, firstOf(ic.senderQual, "ZZ"), ic.sender,
		now.Format("060102"), now.Format("1504"), rep, version, ctrl, "0", usage, ""})
	for _, p := range probs {
		if p.scope == scopeInterchange {
			w.seg("TA1", e1(ic.control, ic.header.Value(9, 1), ic.header.Value(10, 1), "R", ta1Code(p))...)
			w.seg("IEA", e1("0", ctrl)...)
			return w.b, AckTA1
		}
	}
	kind := opts.X12Ack
	if kind != Ack997 && kind != Ack999 {
		kind = Ack997
		if len(ic.groups) > 0 && ic.groups[0].version >= "005010" {
			kind = Ack999
		}
	}
	gsVersion := "004010"
	if kind == Ack999 {
		gsVersion = "005010X231A1"
	}
	gctrl := strings.TrimLeft(ctrl, "0")
	if gctrl == "" {
		gctrl = "1"
	}
	g0s, g0r := ic.sender, ic.recipient
	if len(ic.groups) > 0 && ic.groups[0].sender != "" {
		g0s, g0r = ic.groups[0].sender, ic.groups[0].recipient
	}
	w.seg("GS", e1("FA", g0r, g0s, now.Format("20060102"), now.Format("1504"), gctrl, "X", gsVersion)...)
	seg3, seg4, seg5 := "AK3", "AK4", "AK5"
	if kind == Ack999 {
		seg3, seg4, seg5 = "IK3", "IK4", "IK5"
	}
	accepted := len(probs) == 0
	for n, g := range ic.groups {
		w.n = 0
		setRef := fmt.Sprintf("%04d", n+1)
		if kind == Ack999 {
			w.seg("ST", e1("999", setRef, "005010X231A1")...)
			w.seg("AK1", e1(g.id, g.ref, g.version)...)
		} else {
			w.seg("ST", e1("997", setRef)...)
			w.seg("AK1", e1(g.id, g.ref)...)
		}
		for _, m := range g.msgs {
			if kind == Ack999 {
				w.seg("AK2", e1(m.typ, m.ref, m.id)...)
			} else {
				w.seg("AK2", e1(m.typ, m.ref)...)
			}
			env, inside := msgProblems(m, probs)
			for i := 0; i < len(inside); {
				j := i
				for j < len(inside) && inside[j].Segment == inside[i].Segment {
					j++
				}
				p0 := inside[i]
				code := "8" // segment has data element errors
				for _, p := range inside[i:j] {
					if p.Element == 0 {
						code = ak3Code(p.kind)
						break
					}
				}
				w.seg(seg3, e1(p0.Tag, strconv.Itoa(p0.inMsg), "", code)...)
				for _, p := range inside[i:j] {
					if p.Element == 0 {
						continue
					}
					pos := []string{strconv.Itoa(p.Element)}
					if p.Component > 0 {
						pos = append(pos, strconv.Itoa(p.Component))
					}
					w.seg(seg4, pos, []string{elementRef(p.Tag, p.Element)}, []string{ak4Code(p.kind)}, []string{badData(ic, p)})
				}
				i = j
			}
			ak5 := []string{"A"}
			if !accepted {
				ak5 = []string{"R"}
				seen := map[string]bool{}
				for _, p := range env {
					if c := ak5Code(p.kind); !seen[c] && len(ak5) < 6 {
						seen[c] = true
						ak5 = append(ak5, c)
					}
				}
				if len(inside) > 0 && !seen["5"] && len(ak5) < 6 {
					ak5 = append(ak5, "5") // one or more segments in error
				}
			}
			w.seg(seg5, e1(ak5...)...)
		}
		ak9 := []string{"A", strconv.Itoa(len(g.msgs)), strconv.Itoa(len(g.msgs)), strconv.Itoa(len(g.msgs))}
		if g.trailer != nil {
			ak9[1] = g.trailer.V(1, 1)
		}
		if !accepted {
			ak9[0], ak9[3] = "R", "0"
			for _, p := range probs {
				if p.scope == scopeGroup && p.group == g.idx && len(ak9) < 9 {
					if c := ak9Code(p.kind); c != "" && !contains(ak9[4:], c) {
						ak9 = append(ak9, c)
					}
				}
			}
		}
		w.seg("AK9", e1(ak9...)...)
		w.seg("SE", e1(strconv.Itoa(w.n+1), setRef)...)
	}
	w.seg("GE", e1(strconv.Itoa(len(ic.groups)), gctrl)...)
	w.seg("IEA", e1("1", ctrl)...)
	return w.b, kind
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// badData is a copy of the value in error, for AK404/IK404.
func badData(ic *interchange, p Problem) string {
	if p.Segment < 1 || p.Segment > len(ic.tok.segs) {
		return ""
	}
	s := &ic.tok.segs[p.Segment-1]
	c := p.Component
	if c == 0 {
		c = 1
	}
	v := s.Value(p.Element, c)
	if len(v) > 99 {
		v = v[:99]
	}
	return v
}

// ak3Code is the segment syntax error code (X12 720) of a problem.
func ak3Code(k kind) string {
	switch k {
	case kUnexpected:
		return "2" // unexpected segment
	case kMissingSegment, kTruncated:
		return "3" // mandatory segment missing
	}
	return "8" // segment has data element errors
}

// ak4Code is the data element syntax error code (X12 723) of a problem.
func ak4Code(k kind) string {
	switch k {
	case kMissing:
		return "1" // mandatory data element missing
	case kTooMany:
		return "3" // too many data elements
	case kTooLong:
		return "5" // data element too long
	case kCharset:
		return "6" // invalid character in data element
	case kDate:
		return "8" // invalid date
	case kTime:
		return "9" // invalid time
	}
	return "7" // invalid code value
}

// ak5Code is the transaction set syntax error code (X12 718) of a problem
// with its ST or SE.
func ak5Code(k kind) string {
	switch k {
	case kUnsupported:
		return "1" // transaction set not supported
	case kTruncated, kMissingSegment:
		return "2" // transaction set trailer missing
	case kRefMismatch:
		return "3" // control number in header and trailer do not match
	case kCountMismatch:
		return "4" // number of included segments does not match actual count
	case kDuplicate:
		return "23" // control number not unique within the functional group
	case kInvalid, kMissing:
		return "7" // missing or invalid transaction set control number
	}
	return "5" // one or more segments in error
}

// ak9Code is the functional group syntax error code (X12 716) of a
// problem with its GS or GE, "" if none fits.
func ak9Code(k kind) string {
	switch k {
	case kUnsupported:
		return "1" // functional group not supported
	case kMissingSegment, kTruncated:
		return "3" // functional group trailer missing
	case kRefMismatch:
		return "4" // group control number in header and trailer do not agree
	case kCountMismatch:
		return "5" // number of included transaction sets does not match actual count
	case kInvalid:
		return "6" // group control number violates syntax
	}
	return ""
}

// ta1Code is the interchange note code (X12 I18) of a problem with the
// interchange envelope.
func ta1Code(p Problem) string {
	if p.Tag == "ISA" {
		switch p.Element {
		case 6:
			return "006" // invalid interchange sender ID
		case 8:
			return "008" // invalid interchange receiver ID
		case 9:
			return "014" // invalid interchange date value
		case 10:
			return "015" // invalid interchange time value
		case 12:
			return "017" // invalid interchange version ID value
		case 13:
			return "018" // invalid interchange control number value
		case 14:
			return "019" // invalid acknowledgment requested value
		case 15:
			return "020" // invalid test indicator value
		}
	}
	switch p.kind {
	case kRefMismatch:
		return "001" // control numbers in header and trailer do not match
	case kCountMismatch:
		return "021" // invalid number of included groups value
	case kTruncated:
		return "023" // improper (premature) end-of-file
	case kDelimiters:
		return "026" // invalid data element separator
	}
	return "024" // invalid interchange content
}

// elementRefs are X12 data element reference numbers (for AK402/IK402) of
// the segments this gateway reads.
var elementRefs = map[string][]int{
	"B4":  {152, 71, 157, 373, 161, 159, 206, 207, 578, 24, 310, 309, 761},
	"AT7": {1650, 1651, 1652, 1651, 373, 337, 623},
	"N9":  {128, 127, 369, 373, 337, 623},
	"L11": {127, 128, 352},
	"Q2":  {597, 26, 373, 373, 373, 80, 81, 187, 55, 128, 127, 897, 182},
	"MS1": {19, 156, 26, 1654, 1655, 1280, 1280},
	"MS2": {140, 207, 40, 761},
	"B10": {127, 145, 140},
	"N4":  {19, 156, 116, 26, 309, 310},
	"ST":  {143, 329, 1705},
	"SE":  {96, 329},
}

func elementRef(tag string, e int) string {
	if refs := elementRefs[tag]; e >= 1 && e <= len(refs) {
		return strconv.Itoa(refs[e-1])
	}
	return ""
}
