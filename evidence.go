package linkd

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"
)

// Evidence is a portable proof that a log's owner signed two checkpoints that
// cannot both be true: a split view. Anyone holding the log's public key can
// check it offline (`linkd verify`), without trusting whoever handed it over,
// because everything it asserts is signed by the accused log or follows from
// RFC 6962 arithmetic.
//
// It proves one of two things:
//
//   - A and B have the same size and different roots; or
//   - A has size m, B a larger size n, and Proof is a consistency proof from
//     the tree (m, SmallerRoot) to B's tree, so B's log had root SmallerRoot
//     at size m, which is not A's root.
//
// A is the smaller checkpoint (or the first one of equal size). Observed,
// ObservedBy and From say who caught it; they are not part of the proof.
type Evidence struct {
	Origin string `json:"origin"` // the accused log, LogOrigin(party)
	A      []byte `json:"a"`      // a signed checkpoint note, exactly as received (base64 in JSON)
	B      []byte `json:"b"`      // the other signed checkpoint note, exactly as received

	// SmallerRoot is the base64 root of B's log at A's size, as B's tree
	// implies it; empty when the sizes are equal.
	SmallerRoot string `json:"impliedRoot,omitempty"`
	// Proof is the base64 RFC 6962 consistency proof from (A's size,
	// SmallerRoot) to B's checkpoint; empty when the sizes are equal.
	Proof []string `json:"proof,omitempty"`

	Observed   time.Time `json:"observed,omitzero"`    // when the contradiction was caught
	ObservedBy string    `json:"observedBy,omitempty"` // the party whose node caught it
	From       string    `json:"from,omitempty"`       // the party that sent the conflicting checkpoint
}

// MaxEvidenceBytes bounds an Evidence in JSON: two checkpoints of at most
// MaxCheckpointBytes in base64, a proof of at most 128 hashes, and room for
// the rest.
const MaxEvidenceBytes = 64 << 10

// ParseEvidence decodes an Evidence from JSON. It refuses input over
// MaxEvidenceBytes, invalid UTF-8, nesting deeper than MaxJSONDepth, unknown
// fields and trailing data. It checks the form only; whether the evidence
// proves anything is for the witness package to say.
func ParseEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceBytes {
		return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("the evidence is over %d bytes; a genuine one is a few kilobytes", MaxEvidenceBytes)}
	}
	if !utf8.Valid(data) {
		return nil, &ValidationError{Problems: []Problem{{"", "the evidence is not valid UTF-8"}}}
	}
	if err := checkDepth(data, MaxJSONDepth); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ValidationError{Problems: []Problem{{"", "the evidence is empty"}}}
	}
	var ev Evidence
	if err := decodeStrict(data, &ev); err != nil {
		return nil, &ValidationError{Problems: []Problem{jsonProblem("", err)}}
	}
	var probs []Problem
	if len(ev.A) == 0 {
		probs = append(probs, Problem{"a", "required: a signed checkpoint"})
	}
	if len(ev.B) == 0 {
		probs = append(probs, Problem{"b", "required: a signed checkpoint"})
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return &ev, nil
}
