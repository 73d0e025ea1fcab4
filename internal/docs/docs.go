// Package docs keeps a party's trade documents — commercial invoices,
// packing lists, bills of lading, certificates of origin, phytosanitary
// certificates, as PDF, JSON or XML — and shares them with exactly the
// parties entitled to them.
//
// A document is named by the SHA-256 of its bytes. Its record (type,
// shipment, issuer, visibility, residency, state) lives in the node's Pebble
// database under keys that start with 'F'; its bytes live in a file of their
// own under the documents directory, encrypted under the shipment's data key
// (internal/shred), so erasing a shipment destroys the key and the bytes
// cannot be read back anywhere, while the hash, and every attestation that
// names it, stay valid.
//
// It promises:
//
//   - Nothing half-stored: bytes are streamed to a temporary file, encrypted,
//     hashed and synced, and become visible by one rename only after the size
//     limit, the hash and the media type check out. A record is written only
//     after its file is in place, and an upload whose ISSUED event is not
//     durable is rolled back (on restart too).
//   - No plaintext at rest: every byte of a document on disk, final or in
//     transit, is AES-256-GCM ciphertext under a key derived from its
//     shipment's key.
//   - Vertical partitioning: a document is served to a peer only if the
//     peer's party is entitled to its type on its shipment (the shipment's
//     document-access matrix, by role, narrowed by the document's
//     visibility) and its jurisdiction is admitted by the document's
//     residency; any other request is answered as if the document did not
//     exist. A node fetches only what it is itself entitled to and admitted
//     to hold. When a shipment's matrix or party list widens, the issuer
//     shares its documents again with the parties newly entitled; a
//     narrowing recalls no copy, but the issuer serves no one it no longer
//     entitles.
//   - Attestations are events: a party's verdict on a document (ISSUED,
//     CHECKED, ACCEPTED, REJECTED) is a SHIPMENT event on its own log naming
//     the document's hash, so it is signed, replicated and provable like any
//     other event; the access matrix and erasure are carried by events too,
//     so every node that holds a shipment's events reaches the same answer.
package docs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Document is a trade document's record on a node.
type Document struct {
	SHA256     string   `json:"sha256"`           // lowercase hex of the bytes' SHA-256
	Type       string   `json:"documentTypeCode"` // INV, PKL, TRD, COO, PHY, …
	MediaType  string   `json:"mediaType,omitempty"`
	Size       int64    `json:"size"`
	DocumentID string   `json:"documentID,omitempty"` // the issuer's own number for it (invoice number)
	Shipment   Shipment `json:"shipment"`
	Issuer     string   `json:"issuer"` // the party whose ISSUED event shared it
	// Visibility narrows who may hold it to these parties (and the
	// issuer), within the shipment's access matrix; empty: the matrix alone.
	// It is the audience of the ISSUED events that shared it; on the
	// issuer's node it grows when the document is shared again with parties
	// a widened matrix or party list entitles.
	Visibility []string `json:"visibility,omitempty"`
	// Named is the issuer's own narrowing of who may hold it, the upload's
	// visibility, on the issuer's node only: a re-share stays within it.
	// Empty: the matrix alone.
	Named []string `json:"named,omitempty"`
	// Reshares says, on the issuer's node, that Named was kept at upload,
	// so a widening may share the document again. A record from before
	// re-sharing existed does not know the upload's narrowing, and is never
	// shared beyond its first audience.
	Reshares bool `json:"reshares,omitempty"`
	// Residency lists the jurisdictions where its bytes may be stored;
	// empty: anywhere.
	Residency     []string   `json:"residency,omitempty"`
	IssuedEventID string     `json:"issuedEventID"`
	Issued        linkd.Time `json:"issued"` // the ISSUED event's eventDateTime
	State         State      `json:"state"`
	Updated       time.Time  `json:"updated"`
	// Note says why a document is erased, or why fetching it keeps failing.
	Note string `json:"note,omitempty"`
}

// State is where a document stands on one node.
type State string

const (
	// Pending: the issuer's node holds the bytes and is recording the
	// ISSUED event; a crash here rolls the upload back.
	Pending State = "pending"
	// Fetching: a peer's ISSUED event named it and this node is entitled to
	// it; the bytes are on their way from the issuer's node.
	Fetching State = "fetching"
	// Available: the bytes are here, hash-checked.
	Available State = "available"
	// Erased: its shipment was erased; the key and the bytes are gone, the
	// record and every attestation of the hash remain.
	Erased State = "erased"
)

// Shipment names the shipment a document belongs to by the references
// events use; at least one is set.
type Shipment struct {
	CarrierBookingReference    string `json:"carrierBookingReference,omitempty"`
	TransportDocumentReference string `json:"transportDocumentReference,omitempty"`
	EquipmentReference         string `json:"equipmentReference,omitempty"`
}

// ShipmentOf returns the references of an event.
func ShipmentOf(e *linkd.Event) Shipment {
	return Shipment{e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference}
}

// IsZero reports whether s names no reference.
func (s Shipment) IsZero() bool { return s == Shipment{} }

// refKeys are s's references as key ids, kind-prefixed: booking b:, B/L t:,
// container q:.
func (s Shipment) refKeys() []string {
	var out []string
	if s.CarrierBookingReference != "" {
		out = append(out, "b:"+s.CarrierBookingReference)
	}
	if s.TransportDocumentReference != "" {
		out = append(out, "t:"+s.TransportDocumentReference)
	}
	if s.EquipmentReference != "" {
		out = append(out, "q:"+s.EquipmentReference)
	}
	return out
}

// KeyID is the id of the shipment's data key (internal/shred) that a
// document of s is encrypted under: its first reference of booking, B/L,
// container, kind-prefixed ("b:BKG-1"). Every node derives the same id from
// the same ISSUED event. The party log can seal a shipment's event payloads
// under the same id, so one erasure destroys both.
func (s Shipment) KeyID() string {
	if ks := s.refKeys(); len(ks) > 0 {
		return ks[0]
	}
	return ""
}

// keyIDs are the data key ids of each of s's references.
func (s Shipment) keyIDs() []string { return s.refKeys() }

// shares reports whether s and o have a reference of the same kind and value.
func (s Shipment) shares(o Shipment) bool {
	for _, k := range s.refKeys() {
		if slices.Contains(o.refKeys(), k) {
			return true
		}
	}
	return false
}

func (s Shipment) String() string {
	return strings.Join(s.refKeys(), " ")
}

// event fills the references of e from s.
func (s Shipment) event(e *linkd.Event) {
	e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference =
		s.CarrierBookingReference, s.TransportDocumentReference, s.EquipmentReference
}

// Types are the document types a node accepts: every DCSA document type
// code and linkd's own trade documents (linkd.DocumentTypeCodes).
func KnownType(code string) bool {
	_, ok := linkd.DocumentTypeCodes[code]
	return ok
}

// CheckSHA256 says what is wrong with a document hash, nil if nothing.
func CheckSHA256(h string) error {
	if len(h) != 64 {
		return linkd.Errorf(linkd.EInvalid, "document hash %q: want the 64 lowercase hex digits of its SHA-256", clip(h))
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return linkd.Errorf(linkd.EInvalid, "document hash %q: want the 64 lowercase hex digits of its SHA-256", clip(h))
		}
	}
	return nil
}

// Verdicts map an attestation's verdict to the shipmentEventTypeCode of the
// event that records it.
var verdictCodes = map[string]string{"ISSUED": "ISSU", "CHECKED": "RECE", "ACCEPTED": "APPR", "REJECTED": "REJE"}

// VerdictCode is the shipmentEventTypeCode an attestation with verdict is
// recorded with, "" for an unknown verdict.
func VerdictCode(verdict string) string { return verdictCodes[verdict] }

// errNotFound is the answer for a document this node does not hold or may
// not show; the same words whichever it is.
func errNotFound(sha string) error {
	return linkd.Errorf(linkd.ENotFound, "no document with sha256 %s on this node", clip(sha))
}

// ErasedError is returned for the bytes of an erased document. The HTTP
// layer answers it with 410 Gone.
type ErasedError struct {
	SHA256 string
	Note   string
}

func (e *ErasedError) Error() string {
	return fmt.Sprintf("document %s was erased: %s", e.SHA256, e.Note)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
