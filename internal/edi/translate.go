package edi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/linkd-dev/linkd"
)

// Options shape a translation.
type Options struct {
	// Origin is the party that will record the events. Each event's id is
	// derived from it, the interchange's hash and the status's position,
	// so an import of the same bytes gives the same ids. "" leaves the ids
	// empty (for showing events that will not be recorded).
	Origin string
	// Zone is the zone of date-times the interchange gives without one:
	// X12 (without a time code, or with LT) and EDIFACT formats 102, 203
	// and 204. It is the trading partner's, by agreement. Nil means UTC.
	Zone *time.Location
	// Now is the acknowledgement's preparation time; nil means time.Now.
	Now func() time.Time
	// Limits bound the input; zero fields take the defaults.
	Limits Limits
	// X12Ack chooses the acknowledgement of an X12 interchange: "997" or
	// "999". "" means 999 for a group of version 005010 or later, else 997.
	X12Ack string
	// AckControlNumber is the control number of the acknowledgement
	// interchange. "" reuses the acknowledged interchange's (so the same
	// input gets the same acknowledgement).
	AckControlNumber string
}

// Summary describes a translated interchange; it is the JSON a node answers
// about one.
type Summary struct {
	Syntax        string    `json:"syntax"`                // EDIFACT or X12; "" when neither
	Sender        string    `json:"sender,omitempty"`      // UNB 0004, ISA06
	Recipient     string    `json:"recipient,omitempty"`   // UNB 0010, ISA08
	ControlNumber string    `json:"interchange,omitempty"` // UNB 0020, ISA13
	SHA256        string    `json:"sha256"`                // of the interchange's bytes
	Segments      int       `json:"segments"`
	Statuses      int       `json:"statuses"` // status segments read: STS, B4, AT7
	Messages      []Message `json:"messages"`
	AckType       string    `json:"acknowledgementType,omitempty"` // CONTRL, 997, 999 or TA1; "" when none could be made
	Problems      []Problem `json:"problems,omitempty"`
}

// Message describes one message (EDIFACT) or transaction set (X12).
type Message struct {
	Type      string `json:"type"`      // IFTSTA, 214, 315 (or what the interchange said)
	Reference string `json:"reference"` // UNH 0062, ST02
	Segments  int    `json:"segments"`
	Statuses  int    `json:"statuses"`
	Events    int    `json:"events"`
	Accepted  bool   `json:"accepted"`
}

// Result is a translated interchange.
type Result struct {
	Summary
	// Events are the events of the interchange in the order of its status
	// segments (one per container for equipment statuses); nil when it is
	// rejected.
	Events []linkd.Event
	// Ack is the acknowledgement interchange to send back to the sender:
	// positive, or negative with every problem. Nil when the interchange's
	// header could not be read, so there is no one to address it to.
	Ack []byte
}

// Detect says which syntax data is in, by its first segment: UNA or UNB is
// EDIFACT, ISA is X12.
func Detect(data []byte) (string, error) {
	i := skipSpace(data, 0)
	rest := data[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("UNA")), bytes.HasPrefix(rest, []byte("UNB")):
		return EDIFACT, nil
	case bytes.HasPrefix(rest, []byte("ISA")):
		return X12, nil
	case len(rest) == 0:
		return "", tokenError("", Problem{kind: kTruncated, Reason: "the interchange is empty"})
	}
	return "", tokenError("", Problem{Segment: 1, kind: kSyntax, Reason: "neither UN/EDIFACT (which starts with UNA or UNB) nor ANSI X12 (which starts with ISA)"})
}

// Translate reads an interchange and returns its events, or none. Either
// way the Result describes it and carries the acknowledgement. The error is
// an *Error listing every problem when the interchange is rejected.
func Translate(data []byte, opts Options) (*Result, error) {
	sum := sha256.Sum256(data)
	res := &Result{Summary: Summary{SHA256: hex.EncodeToString(sum[:]), Messages: []Message{}}}
	syntax, err := Detect(data)
	if err != nil {
		res.Problems = err.(*Error).Problems
		return res, err
	}
	res.Syntax = syntax
	var tok *tokens
	var terr *Error
	if syntax == EDIFACT {
		tok, terr = readEDIFACT(data, opts.Limits)
	} else {
		tok, terr = readX12(data, opts.Limits)
	}
	ps := &problems{syntax: syntax}
	var ic *interchange
	if tok != nil && len(tok.segs) > 0 && (terr == nil || headerRead(tok)) {
		if syntax == EDIFACT {
			ic = envelopeEDIFACT(tok, ps, terr != nil)
		} else {
			ic = envelopeX12(tok, ps, terr != nil)
		}
	}
	if terr != nil {
		p := terr.Problems[0]
		if ic != nil && ic.open != nil && p.Segment > 0 {
			m := ic.open
			p.scope, p.group, p.msg, p.Message, p.inMsg = scopeMessage, m.group.idx, m.idx, m.ref, p.Segment-m.header.Position+1
		}
		// The reader stopped here: what the envelope said about the end of
		// the input is its echo.
		ps.list = append([]Problem{p}, ps.list...)
	}
	if ic == nil {
		res.Problems = ps.result()
		if tok != nil {
			res.Segments = len(tok.segs)
		}
		return res, &Error{Problems: res.Problems}
	}
	res.Sender, res.Recipient, res.ControlNumber, res.Segments = ic.sender, ic.recipient, ic.control, len(tok.segs)
	checkShape(ic, ps)

	zone := opts.Zone
	if zone == nil {
		zone = time.UTC
	}
	b := &builder{origin: opts.Origin, zone: zone, ic: ic, sha: res.SHA256, ps: ps}
	statuses := 0
	for i := range tok.segs {
		switch tok.segs[i].Tag {
		case "STS", "B4", "AT7":
			statuses++
		}
	}
	b.events = make([]linkd.Event, 0, statuses+statuses/4) // equipment statuses may name several containers
	for _, m := range ic.msgs {
		if m.trailer == nil {
			continue // cut off: its segments are not all there
		}
		switch m.typ {
		case "IFTSTA":
			if syntax == EDIFACT {
				b.iftsta(m)
			}
		case "315":
			if syntax == X12 {
				b.x315(m)
			}
		case "214":
			if syntax == X12 {
				b.x214(m)
			}
		}
	}
	sortProblems(ps.list)
	rejected := !ps.empty()
	for _, m := range ic.msgs {
		res.Statuses += m.statuses
		res.Messages = append(res.Messages, Message{Type: m.typ, Reference: m.ref, Segments: len(m.segs), Statuses: m.statuses, Events: m.events, Accepted: !rejected})
	}
	res.Problems = ps.result()
	res.Ack, res.AckType = acknowledge(ic, res.Problems, opts)
	if rejected {
		for i := range res.Messages {
			res.Messages[i].Events = 0
		}
		return res, &Error{Problems: res.Problems}
	}
	res.Events = b.events
	return res, nil
}

// headerRead reports whether the tokenizer got as far as the interchange
// header (UNB, ISA), so a negative acknowledgement can be addressed.
func headerRead(t *tokens) bool {
	for _, s := range t.segs {
		if s.Tag == "UNB" || s.Tag == "ISA" {
			return true
		}
	}
	return false
}

// sortProblems orders problems by segment, then element and component,
// keeping the order they were found in otherwise.
func sortProblems(ps []Problem) {
	// Insertion sort: the list is short and mostly in order already.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && before(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func before(a, b Problem) bool {
	if a.Segment != b.Segment {
		return a.Segment < b.Segment
	}
	if a.Element != b.Element {
		return a.Element < b.Element
	}
	return a.Component < b.Component
}
