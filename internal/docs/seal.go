package docs

import (
	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shred"
)

// EventSealer seals the party log's event records (partylog.Sealer) under
// the data key of their shipment, the same key the shipment's documents are
// encrypted under, so one erasure destroys both. Two kinds of events stay in
// the clear because they must outlive the erasure: the erasure itself (every
// node acts on it, and it records who erased what and why) and attestations,
// whose payload is a document's hash and a verdict, so that anyone holding a
// copy of the document can still learn who issued and attested it.
type EventSealer struct{ *shred.Keys }

// KeyID is the key e's record is sealed under: its shipment's (Shipment.KeyID),
// or "" for an event of no shipment, an erasure or an attestation.
func (EventSealer) KeyID(e *linkd.Event) string {
	if e.Attestation != nil {
		return ""
	}
	if _, ok := IsErasure(e); ok {
		return ""
	}
	return ShipmentOf(e).KeyID()
}
