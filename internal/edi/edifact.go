package edi

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// tokens is an interchange split into segments.
type tokens struct {
	syntax  string
	delims  Delimiters
	segs    []Segment
	newline bool   // the sender ends segments with a line break
	charset string // EDIFACT syntax identifier (UNOC …); X12 for X12 (UTF-8)
	una     bool   // the interchange gave its service characters in UNA
}

// ReadEDIFACT splits a UN/EDIFACT interchange into its segments. The
// service characters come from its UNA, or are the defaults (:+.? ' and,
// for syntax version 4, the repetition separator *). Text is decoded from
// the character set UNB names (UNOC is ISO 8859-1, UNOW and UNOY UTF-8;
// UNOA, UNOB and the others are read as ASCII). A line break after a
// segment terminator is allowed; anywhere else it is an error.
//
// The error, if any, is an *Error with one problem naming the segment,
// element and component where reading stopped.
func ReadEDIFACT(data []byte, lim Limits) ([]Segment, Delimiters, error) {
	t, err := readEDIFACT(data, lim)
	if err != nil {
		return nil, Delimiters{}, err
	}
	return t.segs, t.delims, nil
}

// defaultEDIFACT are the service characters of an interchange without UNA.
var defaultEDIFACT = Delimiters{Component: ':', Element: '+', Decimal: '.', Release: '?', Segment: '\''}

func readEDIFACT(data []byte, lim Limits) (*tokens, *Error) {
	lim = lim.withDefaults()
	fail := func(p Problem) *Error { return tokenError(EDIFACT, p) }
	if len(data) > lim.MaxBytes {
		return nil, fail(Problem{kind: kTooLarge, Reason: fmt.Sprintf("the interchange is %d bytes; at most %d", len(data), lim.MaxBytes)})
	}
	t := &tokens{syntax: EDIFACT, delims: defaultEDIFACT}
	i := skipSpace(data, 0)
	if bytes.HasPrefix(data[i:], []byte("UNA")) {
		t.una = true
		if len(data)-i < 9 {
			return nil, fail(Problem{Segment: 1, Tag: "UNA", kind: kTruncated,
				Reason: fmt.Sprintf("UNA gives 6 service characters after its tag; the interchange ends after %d", len(data)-i-3)})
		}
		a := data[i+3 : i+9]
		d := Delimiters{Component: a[0], Element: a[1], Decimal: a[2], Release: a[3], Repetition: a[4], Segment: a[5]}
		if d.Release == ' ' {
			d.Release = 0
		}
		if d.Repetition == ' ' {
			d.Repetition = 0
		}
		if p, ok := checkUNA(d, a); !ok {
			p.Segment, p.Tag, p.kind = 1, "UNA", kDelimiters
			return nil, fail(p)
		}
		t.delims = d
		t.segs = append(t.segs, Segment{Tag: "UNA", Position: 1, Offset: i})
		i += 9
	}
	r := reader{data: data, raw: string(data), t: t, lim: lim, i: i}
	if err := r.run(r.edifactSegment); err != nil {
		return t, err // with the segments read before the error
	}
	return t, nil
}

// checkUNA checks the service characters of a UNA: distinct, and none a
// letter, digit or space (the decimal mark aside, which is . or ,).
func checkUNA(d Delimiters, a []byte) (Problem, bool) {
	names := []string{"component data element separator", "data element separator", "decimal mark", "release character", "repetition separator", "segment terminator"}
	chars := []byte{d.Component, d.Element, 0, d.Release, d.Repetition, d.Segment}
	if d.Decimal != '.' && d.Decimal != ',' {
		return Problem{Element: 3, Reason: fmt.Sprintf("the decimal mark is %q; it is . or ,", a[2])}, false
	}
	for k, c := range chars {
		if k == 2 || (c == 0 && (k == 3 || k == 4)) {
			continue
		}
		if isAlnum(c) || c == ' ' {
			return Problem{Element: k + 1, Reason: fmt.Sprintf("the %s is %q; a service character may not be a letter, digit or space", names[k], c)}, false
		}
		for j := 0; j < k; j++ {
			if j != 2 && chars[j] == c {
				return Problem{Element: k + 1, Reason: fmt.Sprintf("the %s %q is also the %s", names[k], c, names[j])}, false
			}
		}
	}
	return Problem{}, true
}

// reader tokenizes segments of either syntax into t.
type reader struct {
	data []byte
	raw  string // data as a string: values are substrings of it
	t    *tokens
	lim  Limits
	i    int
	sl   slabs
}

// run reads segments with one until the input ends.
func (r *reader) run(one func(pos int) *Error) *Error {
	// Every value ends at a separator or terminator, so counting them
	// sizes the slabs once: no growing, no copying (release characters
	// only make the counts generous).
	d := r.t.delims
	rest := r.data[r.i:]
	segs := bytes.Count(rest, []byte{d.Segment}) + 1
	elems := bytes.Count(rest, []byte{d.Element}) + segs
	reps := elems
	if d.Repetition != 0 {
		reps += bytes.Count(rest, []byte{d.Repetition})
	}
	comps := reps + bytes.Count(rest, []byte{d.Component})
	segs = min(segs, r.lim.MaxSegments+1)
	r.sl.comps = make([]string, 0, comps)
	r.sl.reps = make([][]string, 0, reps)
	r.sl.elems = make([]Element, 0, elems)
	r.t.segs = append(make([]Segment, 0, segs+len(r.t.segs)), r.t.segs...)
	for {
		r.skipBreaks()
		if r.i >= len(r.data) {
			return nil
		}
		pos := len(r.t.segs) + 1
		if pos > r.lim.MaxSegments {
			return tokenError(r.t.syntax, Problem{Segment: pos, kind: kTooLarge,
				Reason: fmt.Sprintf("the interchange has more than %d segments", r.lim.MaxSegments)})
		}
		if err := one(pos); err != nil {
			return err
		}
	}
}

// skipBreaks skips line breaks between segments (unless a line break is
// the segment terminator itself) and notes that the sender uses them.
func (r *reader) skipBreaks() {
	seg := r.t.delims.Segment
	for r.i < len(r.data) {
		c := r.data[r.i]
		if (c != '\r' && c != '\n') || c == seg {
			return
		}
		r.t.newline = true
		r.i++
	}
}

// segmentState tracks the segment being read.
type segmentState struct {
	pos, start  int
	elemFrom    int // first element of the segment in the slabs
	repFrom     int // first repetition of the current element
	compFrom    int // first component of the current repetition
	valStart    int
	elem, comp  int // current element (0 is the tag) and component (1-based)
	reps        int // repetitions of the current element so far
	escaped     bool
	high        bool
	tag         string
	tagElements int
}

func (r *reader) problem(s *segmentState, k kind, format string, args ...any) *Error {
	p := Problem{Segment: s.pos, Tag: s.tag, kind: k, Reason: fmt.Sprintf(format, args...)}
	if s.elem > 0 {
		p.Element, p.Component = s.elem, s.comp
	}
	return tokenError(r.t.syntax, p)
}

// endValue closes the value that runs up to end.
func (r *reader) endValue(s *segmentState, end int) *Error {
	v := r.raw[s.valStart:end]
	if len(v) > r.lim.MaxValueBytes {
		return r.problem(s, kTooLong, "a value of %d bytes; at most %d", len(v), r.lim.MaxValueBytes)
	}
	if s.comp > r.lim.MaxComponents {
		return r.problem(s, kTooMany, "more than %d components in one data element", r.lim.MaxComponents)
	}
	if s.escaped {
		v = unescape(v, r.t.delims.Release)
	}
	if s.high {
		var err error
		if v, err = decodeText(v, r.t.charset); err != nil {
			return r.problem(s, kCharset, "%v", err)
		}
	}
	if s.elem == 0 && s.comp == 1 {
		s.tag = v
	}
	r.sl.comp(v)
	s.valStart, s.escaped, s.high = end+1, false, false
	s.comp++
	return nil
}

func (r *reader) endRep(s *segmentState) *Error {
	s.reps++
	if s.reps > r.lim.MaxRepeats {
		s.comp = 0
		return r.problem(s, kTooMany, "more than %d repetitions of one data element", r.lim.MaxRepeats)
	}
	r.sl.endRep(s.compFrom)
	s.compFrom = len(r.sl.comps)
	s.comp = 1
	return nil
}

func (r *reader) endElem(s *segmentState) *Error {
	r.sl.endElem(s.repFrom)
	s.repFrom = len(r.sl.reps)
	s.reps = 0
	s.elem++
	if s.elem > r.lim.MaxElements+1 {
		s.elem, s.comp = s.elem-1, 0
		return r.problem(s, kTooMany, "more than %d data elements in one segment", r.lim.MaxElements)
	}
	return nil
}

// finish closes the segment: the first element is its tag.
func (r *reader) finish(s *segmentState, n1, n2 int) *Error {
	elems := r.sl.elemsFrom(s.elemFrom)
	if !validTag(s.tag, n1, n2) {
		s.elem = 0
		if s.tag == "" {
			return r.problem(s, kSyntax, "an empty segment (no tag before the separator)")
		}
		return r.problem(s, kSyntax, "%q is not a segment tag: want %d to %d capital letters or digits", clip(s.tag), n1, n2)
	}
	if len(elems[0]) > 1 || len(elems[0][0]) > s.tagElements {
		s.elem = 0
		return r.problem(s, kSyntax, "segment tag %s has components or repetitions", s.tag)
	}
	if s.tag == "UNA" && r.t.syntax == EDIFACT {
		// The opening UNA is read before any segment; one later would be
		// written back as service characters, not as a segment.
		s.elem = 0
		return r.problem(s, kUnexpected, "UNA (the service string advice) may only open the interchange; here it is segment %d", s.pos)
	}
	r.t.segs = append(r.t.segs, Segment{Tag: s.tag, Position: s.pos, Offset: s.start, Elements: elems[1:]})
	return nil
}

// edifactSegment reads one EDIFACT segment at r.i.
func (r *reader) edifactSegment(pos int) *Error {
	d := &r.t.delims
	s := segmentState{pos: pos, start: r.i, valStart: r.i, comp: 1, elemFrom: len(r.sl.elems), repFrom: len(r.sl.reps), compFrom: len(r.sl.comps), tagElements: 1}
	// Syntax version 4 lets the tag carry a nesting indicator; we read
	// the tag alone.
	for i := r.i; i < len(r.data); i++ {
		c := r.data[i]
		switch {
		case c == d.Release && d.Release != 0:
			if i+1 >= len(r.data) {
				return r.problem(&s, kTruncated, "the release character %q is the interchange's last byte: it releases nothing (truncated?)", c)
			}
			i++
			if n := r.data[i]; n < 0x20 || n == 0x7f {
				return r.problem(&s, kCharset, "control character 0x%02X after the release character", n)
			} else if n >= 0x80 {
				s.high = true
			}
			s.escaped = true
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
		case c == d.Segment:
			if err := r.endValue(&s, i); err != nil {
				return err
			}
			if err := r.endRep(&s); err != nil {
				return err
			}
			if err := r.endElem(&s); err != nil {
				return err
			}
			if err := r.finish(&s, 3, 3); err != nil {
				return err
			}
			r.i = i + 1
			if s.tag == "UNB" {
				r.sawUNB()
			}
			return nil
		case c == '\r' || c == '\n':
			return r.problem(&s, kSyntax, "a line break inside the segment: end each segment with %q before a line break", d.Segment)
		case c < 0x20 || c == 0x7f:
			return r.problem(&s, kCharset, "control character 0x%02X (binary data?)", c)
		case c >= 0x80:
			s.high = true
		}
	}
	if s.tag == "" && s.elem == 0 && len(r.data)-s.start >= 3 && validTag(r.raw[s.start:s.start+3], 3, 3) {
		s.tag = r.raw[s.start : s.start+3]
	}
	s.elem = 0 // the segment is cut off: no element to blame
	return r.problem(&s, kTruncated, "the interchange ends inside this segment, before its terminator %q (truncated?)", d.Segment)
}

// sawUNB takes the character set and syntax version from the UNB just
// read: version 4 without UNA has the repetition separator *.
func (r *reader) sawUNB() {
	unb := &r.t.segs[len(r.t.segs)-1]
	r.t.charset = unb.V(1, 1)
	if !r.t.una && unb.V(1, 2) == "4" {
		r.t.delims.Repetition = '*'
	}
}

func unescape(s string, rel byte) string {
	b := make([]byte, 0, len(s))
	for j := 0; j < len(s); j++ {
		if s[j] == rel && j+1 < len(s) {
			j++
		}
		b = append(b, s[j])
	}
	return string(b)
}

// decodeText decodes a value with bytes over 0x7F from the interchange's
// character set to UTF-8.
func decodeText(v, charset string) (string, error) {
	switch charset {
	case "UNOC", "": // ISO 8859-1; before UNB, the likeliest
		b := make([]rune, 0, len(v))
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c >= 0x80 && c < 0xA0 {
				return "", fmt.Errorf("byte 0x%02X is a control character in ISO 8859-1 (UNOC)", c)
			}
			b = append(b, rune(c))
		}
		return string(b), nil
	case "UNOW", "UNOY", X12:
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("the value is not valid UTF-8")
		}
		return v, nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return "", fmt.Errorf("byte 0x%02X is outside the character set %s, which this gateway reads as ASCII", v[i], charset)
		}
	}
	return v, nil
}
