package edi

import "strings"

// Syntaxes an interchange may be written in; they are also the values of
// linkd.Source.Syntax.
const (
	EDIFACT = "EDIFACT"
	X12     = "X12"
)

// Segment is one segment of an interchange as a tokenizer read it: its tag,
// its place, and its data elements with release characters resolved and the
// text decoded to UTF-8.
type Segment struct {
	Tag      string
	Position int // 1-based position in the interchange (an EDIFACT UNA counts as segment 1)
	Offset   int // byte offset of its first byte in the interchange
	// Elements are the data elements after the tag: Elements[0] is data
	// element 1 (EDIFACT's first element after the tag, X12's B401).
	Elements []Element
}

// Element is one data element: its repetitions (usually one), each a list
// of components (usually one).
type Element [][]string

// Value returns component c (from 1) of the first repetition of data
// element e (from 1), "" when absent.
func (s *Segment) Value(e, c int) string {
	if e < 1 || e > len(s.Elements) {
		return ""
	}
	el := s.Elements[e-1]
	if len(el) == 0 || c < 1 || c > len(el[0]) {
		return ""
	}
	return el[0][c-1]
}

// V is Value with surrounding spaces trimmed: X12 pads fixed fields and
// senders of both syntaxes pad codes.
func (s *Segment) V(e, c int) string { return strings.TrimSpace(s.Value(e, c)) }

// Components returns the components of the first repetition of element e.
func (s *Segment) Components(e int) []string {
	if e < 1 || e > len(s.Elements) || len(s.Elements[e-1]) == 0 {
		return nil
	}
	return s.Elements[e-1][0]
}

// Delimiters are the service characters of an interchange. Release and
// Repetition are 0 when the interchange uses none.
type Delimiters struct {
	Component  byte
	Element    byte
	Decimal    byte // EDIFACT only
	Release    byte // EDIFACT only
	Repetition byte
	Segment    byte
}

// Limits bound what a tokenizer accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes      int // bytes in one interchange; default 16 MiB
	MaxSegments   int // segments in one interchange; default 200,000
	MaxElements   int // data elements in one segment; default 99
	MaxComponents int // components in one data element; default 64
	MaxRepeats    int // repetitions of one data element; default 99
	MaxValueBytes int // bytes in one component; default 1,024
}

// Default limits.
const (
	DefaultMaxBytes      = 16 << 20
	DefaultMaxSegments   = 200_000
	DefaultMaxElements   = 99
	DefaultMaxComponents = 64
	DefaultMaxRepeats    = 99
	DefaultMaxValueBytes = 1024
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxSegments <= 0 {
		l.MaxSegments = DefaultMaxSegments
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	if l.MaxComponents <= 0 {
		l.MaxComponents = DefaultMaxComponents
	}
	if l.MaxRepeats <= 0 {
		l.MaxRepeats = DefaultMaxRepeats
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	return l
}

// slabs hand out the slices of many segments from a few large arrays, so a
// large interchange costs a few allocations rather than one per value.
// A slice handed out stays valid when a slab grows: it keeps the old array.
type slabs struct {
	comps []string
	reps  [][]string
	elems []Element
}

func (s *slabs) comp(v string) { s.comps = append(s.comps, v) }

// endRep closes the repetition whose components start at from.
func (s *slabs) endRep(from int) {
	s.reps = append(s.reps, s.comps[from:len(s.comps):len(s.comps)])
}

// endElem closes the element whose repetitions start at from.
func (s *slabs) endElem(from int) {
	s.elems = append(s.elems, Element(s.reps[from:len(s.reps):len(s.reps)]))
}

// elemsFrom returns the elements closed since from.
func (s *slabs) elemsFrom(from int) []Element {
	return s.elems[from:len(s.elems):len(s.elems)]
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipSpace returns the offset of the first byte at or after i that is not
// white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// validTag reports whether t is a segment tag: n1 to n2 capital letters or
// digits, starting with a letter.
func validTag(t string, n1, n2 int) bool {
	if len(t) < n1 || len(t) > n2 || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
