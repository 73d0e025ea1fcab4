package edi

import (
	"fmt"
	"strings"

	"github.com/linkd-dev/linkd"
)

// MaxProblems bounds the problems one interchange reports; the rest are
// counted in the last one's reason.
const MaxProblems = 100

// Problem is one reason an interchange was rejected, at the most precise
// place known: segment, data element and component.
type Problem struct {
	Segment   int    `json:"segment"`             // 1-based position in the interchange; 0: the interchange as a whole
	Tag       string `json:"tag,omitempty"`       // the segment's tag
	Element   int    `json:"element,omitempty"`   // 1-based data element position; 0: the whole segment
	Component int    `json:"component,omitempty"` // 1-based component position; 0: the whole element
	Message   string `json:"message,omitempty"`   // reference of the message it is in (UNH 0062, ST02); "" outside one
	Reason    string `json:"reason"`
	// Field names the place in the notation of the interchange's syntax:
	// "segment 12 (STS) element 2.1" for EDIFACT, "segment 7 (B403)" for
	// X12.
	Field string `json:"field"`

	syntax string
	kind   kind
	scope  scope
	group  int // index of the functional group (X12 GS, EDIFACT UNG or the implicit one), -1 outside one
	msg    int // index of the message within the interchange, -1 outside one
	inMsg  int // position of the segment within its message (UNH, ST = 1)
}

// kind is what went wrong, in the terms the acknowledgements' code lists
// use.
type kind uint8

const (
	kSyntax         kind = iota // unspecified syntax error
	kDelimiters                 // wrong or clashing service characters
	kCharset                    // a character the interchange may not hold
	kTruncated                  // the interchange ends early
	kTooLong                    // a value over its length
	kTooMany                    // too many elements, components or repetitions
	kMissing                    // a mandatory value is absent
	kInvalid                    // a value that does not conform
	kUnknownCode                // a code value not in the table
	kDate                       // an invalid date
	kTime                       // an invalid time
	kUnsupported                // a message type, syntax or version the gateway does not read
	kRefMismatch                // header and trailer references differ
	kCountMismatch              // a control count that does not match
	kDuplicate                  // a message reference repeated
	kUnexpected                 // a segment where it may not be
	kMissingSegment             // a mandatory segment is absent
	kTooLarge                   // over a size limit
)

// scope is the level of the envelope a problem belongs to.
type scope uint8

const (
	scopeInterchange scope = iota
	scopeGroup
	scopeMessage
)

// place names the problem's place in the notation of its syntax.
func (p Problem) place() string {
	if p.Segment == 0 {
		return "interchange"
	}
	tag := p.Tag
	if tag == "" {
		// The reader stopped before the tag was read.
		if p.Element == 0 {
			return fmt.Sprintf("segment %d", p.Segment)
		}
		return fmt.Sprintf("segment %d element %d.%d", p.Segment, p.Element, p.Component)
	}
	if p.syntax == X12 {
		switch {
		case p.Element == 0:
			return fmt.Sprintf("segment %d (%s)", p.Segment, tag)
		case p.Component == 0:
			return fmt.Sprintf("segment %d (%s%02d)", p.Segment, tag, p.Element)
		default:
			return fmt.Sprintf("segment %d (%s%02d-%d)", p.Segment, tag, p.Element, p.Component)
		}
	}
	switch {
	case p.Element == 0:
		return fmt.Sprintf("segment %d (%s)", p.Segment, tag)
	case p.Component == 0:
		return fmt.Sprintf("segment %d (%s) element %d", p.Segment, tag, p.Element)
	default:
		return fmt.Sprintf("segment %d (%s) element %d.%d", p.Segment, tag, p.Element, p.Component)
	}
}

func (p Problem) String() string {
	if p.Field == "" {
		p.Field = p.place()
	}
	return p.Field + ": " + p.Reason
}

// Error is a rejected interchange: every problem found, in the order of the
// segments. It unwraps to a *linkd.ValidationError, so linkd.ErrorCode
// answers linkd.EInvalid and the HTTP layer lists each problem.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("edi: interchange rejected: ")
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap gives the problems as linkd validation problems, whose field is
// Problem.Field.
func (e *Error) Unwrap() error {
	probs := make([]linkd.Problem, len(e.Problems))
	for i, p := range e.Problems {
		probs[i] = linkd.Problem{Field: p.Field, Reason: p.Reason}
	}
	return &linkd.ValidationError{Problems: probs}
}

// problems collects the problems of one interchange, bounded by
// MaxProblems.
type problems struct {
	syntax  string
	list    []Problem
	dropped int
}

func (ps *problems) add(p Problem) {
	p.syntax = ps.syntax
	p.Field = p.place()
	if len(ps.list) >= MaxProblems {
		ps.dropped++
		return
	}
	ps.list = append(ps.list, p)
}

// at records a problem at element e, component c of seg (0 for the whole).
func (ps *problems) at(seg *Segment, e, c int, k kind, format string, args ...any) {
	ps.add(Problem{Segment: seg.Position, Tag: seg.Tag, Element: e, Component: c, kind: k, Reason: fmt.Sprintf(format, args...), group: -1, msg: -1})
}

func (ps *problems) empty() bool { return len(ps.list) == 0 }

// result returns the problems, the last saying how many were left out.
func (ps *problems) result() []Problem {
	out := ps.list
	if ps.dropped > 0 && len(out) > 0 {
		last := &out[len(out)-1]
		last.Reason += fmt.Sprintf(" (and %d more problems not listed)", ps.dropped)
	}
	return out
}

// tokenError is a tokenizer's single fatal problem.
func tokenError(syntax string, p Problem) *Error {
	p.syntax = syntax
	p.Field = p.place()
	p.group, p.msg = -1, -1
	return &Error{Problems: []Problem{p}}
}

// clip shortens a value quoted back in a reason.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
