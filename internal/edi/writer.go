package edi

import (
	"strings"
	"unicode/utf8"
)

// edifactWriter writes EDIFACT segments, releasing service characters in
// values.
type edifactWriter struct {
	b       []byte
	d       Delimiters
	nl      bool   // a line break after each segment
	latin1  bool   // encode text as ISO 8859-1 (UNOC) rather than UTF-8
	n       int    // segments written since the count was last reset
	scratch []byte // reused by esc
}

func (w *edifactWriter) una() {
	d := w.d
	rel, rep := d.Release, d.Repetition
	if rel == 0 {
		rel = ' '
	}
	if rep == 0 {
		rep = ' '
	}
	w.b = append(w.b, 'U', 'N', 'A', d.Component, d.Element, d.Decimal, rel, rep, d.Segment)
	if w.nl {
		w.b = append(w.b, '\n')
	}
}

// seg writes a segment: each element is a list of components. Trailing
// empty components and elements are left out.
func (w *edifactWriter) seg(tag string, elems ...[]string) {
	w.b = append(w.b, tag...)
	last := len(elems)
	for last > 0 && allEmpty(elems[last-1]) {
		last--
	}
	for _, el := range elems[:last] {
		w.b = append(w.b, w.d.Element)
		n := len(el)
		for n > 0 && el[n-1] == "" {
			n--
		}
		for j, c := range el[:n] {
			if j > 0 {
				w.b = append(w.b, w.d.Component)
			}
			w.esc(c)
		}
	}
	w.b = append(w.b, w.d.Segment)
	if w.nl {
		w.b = append(w.b, '\n')
	}
	w.n++
}

func (w *edifactWriter) esc(v string) {
	d := w.d
	for _, r := range v {
		if r < utf8.RuneSelf {
			c := byte(r)
			if c == d.Component || c == d.Element || c == d.Segment || (c == d.Release && c != 0) || (c == d.Repetition && c != 0) {
				w.b = append(w.b, d.Release)
			}
			if c < 0x20 || c == 0x7f {
				c = ' ' // no control characters in EDIFACT text
			}
			w.b = append(w.b, c)
			continue
		}
		if w.latin1 {
			if r < 0x100 && r >= 0xA0 {
				w.b = append(w.b, byte(r))
			} else {
				w.b = append(w.b, ' ')
			}
			continue
		}
		w.b = utf8.AppendRune(w.b, r)
	}
}

func allEmpty(el []string) bool {
	for _, c := range el {
		if c != "" {
			return false
		}
	}
	return true
}

// x12Writer writes X12 segments. X12 has no release character: a
// delimiter inside a value becomes a space.
type x12Writer struct {
	b  []byte
	d  Delimiters
	nl bool
	n  int
}

func (w *x12Writer) seg(tag string, elems ...[]string) {
	w.b = append(w.b, tag...)
	last := len(elems)
	for last > 0 && allEmpty(elems[last-1]) {
		last--
	}
	for _, el := range elems[:last] {
		w.b = append(w.b, w.d.Element)
		n := len(el)
		for n > 0 && el[n-1] == "" {
			n--
		}
		for j, c := range el[:n] {
			if j > 0 {
				w.b = append(w.b, w.d.Component)
			}
			w.val(c)
		}
	}
	w.end()
}

func (w *x12Writer) end() {
	w.b = append(w.b, w.d.Segment)
	if w.nl && w.d.Segment != '\n' {
		w.b = append(w.b, '\n')
	}
	w.n++
}

func (w *x12Writer) val(v string) {
	d := w.d
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == d.Element || c == d.Component || c == d.Segment || (c == d.Repetition && c != 0) || c < 0x20 || c == 0x7f {
			c = ' '
		}
		w.b = append(w.b, c)
	}
}

// isa writes an ISA: fixed width, each field padded with spaces.
func (w *x12Writer) isa(fields [16]string) {
	w.b = append(w.b, "ISA"...)
	for k, f := range fields {
		w.b = append(w.b, w.d.Element)
		wd := isaFields[k]
		switch {
		case k == 15:
			w.b = append(w.b, w.d.Component)
			continue
		case k == 10 && w.d.Repetition != 0:
			w.b = append(w.b, w.d.Repetition) // ISA11 is the separator itself
			continue
		}
		if len(f) > wd {
			f = f[:wd]
		}
		w.val(f)
		w.b = append(w.b, strings.Repeat(" ", wd-len(f))...)
	}
	w.end()
}

// e1 makes simple elements from values.
func e1(vs ...string) [][]string {
	out := make([][]string, len(vs))
	for i, v := range vs {
		out[i] = []string{v}
	}
	return out
}
