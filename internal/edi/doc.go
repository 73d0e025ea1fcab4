// Package edi is linkd's legacy gateway: it reads UN/EDIFACT and ANSI X12
// interchanges of shipment status (IFTSTA, X12 214 and 315), turns them into
// DCSA-shaped linkd events, acknowledges them (CONTRL, 997, 999, TA1), and
// writes IFTSTA and X12 315 back out of recorded events for partners who
// want EDI rather than JSON.
//
// It promises:
//
//   - The content decides the syntax: an interchange starting with UNA or UNB
//     is EDIFACT, one starting with ISA is X12. Delimiters come from the
//     interchange itself (UNA, or the defaults; the fixed-length ISA).
//   - All or nothing. Translate either returns every event of the
//     interchange, each checked with linkd's own validation, or none, with
//     every problem found (up to MaxProblems), each naming its segment
//     number, tag, element and component position, and a negative
//     acknowledgement that says the same in the partner's syntax.
//   - Determinism. The same bytes with the same Options give the same events,
//     ids included (see Options.Origin), so importing an interchange twice
//     records it once; the same events and Envelope give the same bytes out.
//   - Lineage. Every event carries its linkd.Source: syntax, message type,
//     sender, interchange control number, message reference and the SHA-256
//     of the interchange's bytes.
//   - Bounds. Input is limited in bytes, segments, elements, components,
//     repetitions and value length (Limits); past a limit the answer is a
//     precise error, never a panic or an unbounded allocation. Every reader
//     of untrusted bytes here has a fuzz target.
//
// The status-code tables (which EDI code becomes which DCSA event) are in
// codes.go and documented in docs/edi.md; a test keeps the two in step.
//
// The package holds no state and starts no goroutines: every function is
// safe to call concurrently.
package edi
