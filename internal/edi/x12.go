package edi

import (
	"bytes"
	"fmt"
)

// isaLen is the length of the fixed-length ISA segment with its terminator.
const isaLen = 106

// isaFields are the widths of ISA01 … ISA16.
var isaFields = [16]int{2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1}

// ReadX12 splits an ANSI X12 interchange into its segments. The delimiters
// come from the fixed-length ISA: the element separator is its 4th
// character, the component separator its 105th and the segment terminator
// its 106th; from version 00402 on, ISA11 is the repetition separator. A
// line break after a segment terminator is allowed. Text must be UTF-8.
//
// The error, if any, is an *Error with one problem naming the segment,
// element and component where reading stopped.
func ReadX12(data []byte, lim Limits) ([]Segment, Delimiters, error) {
	t, err := readX12(data, lim)
	if err != nil {
		return nil, Delimiters{}, err
	}
	return t.segs, t.delims, nil
}

func readX12(data []byte, lim Limits) (*tokens, *Error) {
	lim = lim.withDefaults()
	fail := func(p Problem) *Error { return tokenError(X12, p) }
	if len(data) > lim.MaxBytes {
		return nil, fail(Problem{kind: kTooLarge, Reason: fmt.Sprintf("the interchange is %d bytes; at most %d", len(data), lim.MaxBytes)})
	}
	i := skipSpace(data, 0)
	if !bytes.HasPrefix(data[i:], []byte("ISA")) {
		return nil, fail(Problem{Segment: 1, kind: kSyntax, Reason: "an X12 interchange starts with ISA"})
	}
	if len(data)-i < isaLen {
		return nil, fail(Problem{Segment: 1, Tag: "ISA", kind: kTruncated,
			Reason: fmt.Sprintf("ISA is %d characters long with its terminator; the interchange has %d (truncated?)", isaLen, len(data)-i)})
	}
	isa := data[i : i+isaLen]
	d := Delimiters{Element: isa[3], Component: isa[104], Segment: isa[105]}
	at := 3
	for k, w := range isaFields {
		if isa[at] != d.Element {
			return nil, fail(Problem{Segment: 1, Tag: "ISA", Element: k, kind: kDelimiters,
				Reason: fmt.Sprintf("ISA is fixed-length: the element separator %q belongs at character %d (before ISA%02d), found %q", d.Element, at+1, k+1, isa[at])})
		}
		at += 1 + w
	}
	for _, c := range []struct {
		name string
		b    byte
		elem int
	}{{"element separator", d.Element, 0}, {"component separator (ISA16)", d.Component, 16}, {"segment terminator", d.Segment, 0}} {
		if isAlnum(c.b) || c.b == ' ' || c.b == 0 {
			return nil, fail(Problem{Segment: 1, Tag: "ISA", Element: c.elem, kind: kDelimiters,
				Reason: fmt.Sprintf("the %s is %q; a delimiter may not be a letter, digit, space or NUL", c.name, c.b)})
		}
	}
	if d.Component == d.Element || d.Segment == d.Element || d.Segment == d.Component {
		return nil, fail(Problem{Segment: 1, Tag: "ISA", Element: 16, kind: kDelimiters,
			Reason: fmt.Sprintf("the element separator %q, component separator %q and segment terminator %q must differ", d.Element, d.Component, d.Segment)})
	}
	if rep := isa[82]; string(isa[84:89]) >= "00402" && !isAlnum(rep) && rep != ' ' && rep != d.Element && rep != d.Component && rep != d.Segment {
		d.Repetition = rep
	}
	t := &tokens{syntax: X12, delims: d, charset: X12}
	r := reader{data: data, raw: string(data), t: t, lim: lim, i: i}
	// ISA by its fixed positions: its values may hold the component
	// separator (ISA16 is that very character).
	r.sl.comps = make([]string, 0, 16)
	at = i + 4
	for _, w := range isaFields {
		v := r.raw[at : at+w]
		for k := 0; k < len(v); k++ {
			if c := v[k]; c < 0x20 || c >= 0x7f {
				return nil, fail(Problem{Segment: 1, Tag: "ISA", Element: len(r.sl.elems) + 1, kind: kCharset,
					Reason: fmt.Sprintf("byte 0x%02X: ISA holds printable ASCII only", c)})
			}
		}
		r.sl.comp(v)
		r.sl.endRep(len(r.sl.comps) - 1)
		r.sl.endElem(len(r.sl.reps) - 1)
		at += w + 1
	}
	t.segs = append(t.segs, Segment{Tag: "ISA", Position: 1, Offset: i, Elements: r.sl.elemsFrom(0)})
	r.i = i + isaLen
	if err := r.run(r.x12Segment); err != nil {
		return t, err // with the segments read before the error
	}
	return t, nil
}

// x12Segment reads one X12 segment at r.i.
func (r *reader) x12Segment(pos int) *Error {
	d := &r.t.delims
	s := segmentState{pos: pos, start: r.i, valStart: r.i, comp: 1, elemFrom: len(r.sl.elems), repFrom: len(r.sl.reps), compFrom: len(r.sl.comps), tagElements: 1}
	for i := r.i; i < len(r.data); i++ {
		c := r.data[i]
		switch {
		case c == d.Segment:
			end := i
			if c == '\n' && end > s.valStart && r.data[end-1] == '\r' {
				end-- // CR LF line ends with LF as the terminator
			}
			if err := r.endValue(&s, end); err != nil {
				return err
			}
			if err := r.endRep(&s); err != nil {
				return err
			}
			if err := r.endElem(&s); err != nil {
				return err
			}
			if err := r.finish(&s, 2, 3); err != nil {
				return err
			}
			r.i = i + 1
			return nil
		case c == d.Component:
			if err := r.endValue(&s, i); err != nil {
				return err
			}
		case c == d.Repetition && c != 0:
			if err := r.endValue(&s, i); err != nil {
				return err
			}
			if err := r.endRep(&s); err != nil {
				return err
			}
		case c == d.Element:
			if err := r.endValue(&s, i); err != nil {
				return err
			}
			if err := r.endRep(&s); err != nil {
				return err
			}
			if err := r.endElem(&s); err != nil {
				return err
			}
		case c == '\r' && d.Segment == '\n' && i+1 < len(r.data) && r.data[i+1] == '\n':
			// CR LF line ends with LF as the terminator: the CR is dropped
			// when the segment ends.
		case c == '\r' || c == '\n':
			return r.problem(&s, kSyntax, "a line break inside the segment: end each segment with %q before a line break", d.Segment)
		case c < 0x20 || c == 0x7f:
			return r.problem(&s, kCharset, "control character 0x%02X (binary data?)", c)
		case c >= 0x80:
			s.high = true
		}
	}
	if len(r.data)-s.start >= 2 && s.elem == 0 {
		for n := 3; n >= 2; n-- {
			if len(r.data)-s.start >= n && validTag(r.raw[s.start:s.start+n], n, n) {
				s.tag = r.raw[s.start : s.start+n]
				break
			}
		}
	}
	s.elem = 0 // the segment is cut off: no element to blame
	return r.problem(&s, kTruncated, "the interchange ends inside this segment, before its terminator %q (truncated?)", d.Segment)
}
