// Package linkd holds the domain of a linked supply-chain log: events and
// their validation, the canonical encoding and salted commitment that become a
// Merkle leaf, parties and their jurisdictions, checkpoints, proof bundles and
// the error codes every layer speaks. It imports only the standard library;
// storage, networking and cryptographic formats live under internal/.
package linkd

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// EventType is the DCSA event family.
type EventType string

const (
	Shipment  EventType = "SHIPMENT"
	Transport EventType = "TRANSPORT"
	Equipment EventType = "EQUIPMENT"
	// Inventory is linkd's own family, beyond DCSA: a distribution centre's
	// stock positions and the orders it allocates against inbound shipments.
	Inventory EventType = "INVENTORY"
)

// Event is one immutable fact recorded by one party (its origin). Field names
// follow DCSA Track & Trace 2.2 where DCSA has the field; the fields after
// "linkd" are this system's own. An event is never edited: a correction is a
// new event that names the old one in RetractedEventID or SupersedesEventID.
type Event struct {
	EventID              string    `json:"eventID,omitempty"` // UUID; derived from the content when absent
	EventType            EventType `json:"eventType"`
	EventClassifierCode  string    `json:"eventClassifierCode"`           // PLN, EST or ACT
	EventDateTime        Time      `json:"eventDateTime"`                 // when it happened (or is planned/expected)
	EventCreatedDateTime Time      `json:"eventCreatedDateTime,omitzero"` // when the source system created it

	// SHIPMENT events.
	ShipmentEventTypeCode string `json:"shipmentEventTypeCode,omitempty"`
	DocumentTypeCode      string `json:"documentTypeCode,omitempty"`
	DocumentID            string `json:"documentID,omitempty"`
	Reason                string `json:"reason,omitempty"`

	// TRANSPORT events.
	TransportEventTypeCode string `json:"transportEventTypeCode,omitempty"`
	DelayReasonCode        string `json:"delayReasonCode,omitempty"`

	// EQUIPMENT events.
	EquipmentEventTypeCode string `json:"equipmentEventTypeCode,omitempty"`
	EmptyIndicatorCode     string `json:"emptyIndicatorCode,omitempty"` // EMPTY or LADEN
	ISOEquipmentCode       string `json:"ISOEquipmentCode,omitempty"`

	// INVENTORY events.
	InventoryEventTypeCode string         `json:"inventoryEventTypeCode,omitempty"`
	Inventory              *InventoryLine `json:"inventory,omitempty"`

	// A party's verdict on a trade document, named by its hash (SHIPMENT
	// events with a documentTypeCode).
	Attestation *Attestation `json:"attestation,omitempty"`

	// The shipment this event is about: at least one of the three keys.
	CarrierBookingReference    string      `json:"carrierBookingReference,omitempty"`
	TransportDocumentReference string      `json:"transportDocumentReference,omitempty"`
	EquipmentReference         string      `json:"equipmentReference,omitempty"` // ISO 6346 container number
	References                 []Reference `json:"references,omitempty"`

	EventLocation *Location      `json:"eventLocation,omitempty"`
	TransportCall *TransportCall `json:"transportCall,omitempty"`

	// linkd.
	Origin            string          `json:"origin,omitempty"`     // the recording party; set by its node
	Parties           []ShipmentParty `json:"parties,omitempty"`    // the shipment's party list as the origin knows it
	Visibility        []string        `json:"visibility,omitempty"` // narrows entitlement to these parties
	Residency         []string        `json:"residency,omitempty"`  // jurisdictions where the payload may be stored
	CausedBy          []string        `json:"causedBy,omitempty"`   // ids of the events that led to this one
	RetractedEventID  string          `json:"retractedEventID,omitempty"`
	SupersedesEventID string          `json:"supersedesEventID,omitempty"`
	HLC               HLC             `json:"hlc,omitempty"` // hybrid logical clock stamp; set by the node
	// Source is the legacy message a gateway translated the event from.
	Source *Source `json:"source,omitempty"`
}

// Clone returns a deep copy of e: changing either one's lists or nested
// parts leaves the other as it was. (Strings are immutable and shared.)
func (e *Event) Clone() Event {
	c := *e
	c.References = slices.Clone(e.References)
	c.Parties = slices.Clone(e.Parties)
	c.Visibility = slices.Clone(e.Visibility)
	c.Residency = slices.Clone(e.Residency)
	c.CausedBy = slices.Clone(e.CausedBy)
	c.Inventory = clonePtr(e.Inventory)
	c.Attestation = clonePtr(e.Attestation)
	c.EventLocation = clonePtr(e.EventLocation)
	c.Source = clonePtr(e.Source)
	if e.TransportCall != nil {
		tc := *e.TransportCall
		tc.Location = clonePtr(tc.Location)
		tc.Vessel = clonePtr(tc.Vessel)
		c.TransportCall = &tc
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// Source is an event's lineage when the EDI gateway made it: the interchange
// it was read from, so anyone can trace the event back to the partner's file.
type Source struct {
	Syntax                   string `json:"syntax"`                     // EDIFACT or X12
	MessageType              string `json:"messageType"`                // IFTSTA, 214 or 315
	Sender                   string `json:"sender,omitempty"`           // the interchange sender's id (UNB 0004, ISA06)
	InterchangeControlNumber string `json:"interchangeControlNumber"`   // UNB 0020 or ISA13
	MessageReference         string `json:"messageReference,omitempty"` // UNH 0062 or ST02
	InterchangeSHA256        string `json:"interchangeSHA256"`          // hex SHA-256 of the original interchange's bytes
}

// Syntaxes and message types a Source may name.
var (
	SourceSyntaxes     = map[string]string{"EDIFACT": "UN/EDIFACT", "X12": "ANSI ASC X12"}
	SourceMessageTypes = map[string]string{"IFTSTA": "international multimodal status report", "214": "transportation carrier shipment status", "315": "status details (ocean)"}
)

// Attestation is a party's verdict on a trade document it holds, which it
// names by the SHA-256 of the document's bytes. The event's documentTypeCode
// says what kind of document it is and its reason says why a document was
// rejected.
type Attestation struct {
	DocumentSHA256 string `json:"documentSHA256"` // lowercase hex
	Verdict        string `json:"verdict"`        // ISSUED, CHECKED, ACCEPTED or REJECTED
}

// Verdicts an Attestation may give.
var Verdicts = map[string]string{
	"ISSUED": "issued by this party", "CHECKED": "checked", "ACCEPTED": "accepted", "REJECTED": "rejected",
}

// InventoryLine is the body of an INVENTORY event: units of one SKU at one
// facility (a distribution centre's party id), and for allocations the order
// they are promised to. The event's shipment keys name the inbound shipment
// an allocation depends on; a stock position (STCK) names none.
type InventoryLine struct {
	Facility     string `json:"facility"`               // the centre holding the stock or serving the order
	SKU          string `json:"sku"`                    // the retailer's stock-keeping unit
	Quantity     int64  `json:"quantity"`               // units: on hand (STCK) or of the order (ALOC, RALC, FULF)
	OrderID      string `json:"orderID,omitempty"`      // the customer order (ALOC, RALC, FULF)
	FromFacility string `json:"fromFacility,omitempty"` // where a re-allocated order was served before (RALC)
}

// TypeCode is the event's code within its family (shipmentEventTypeCode,
// transportEventTypeCode, …), "" if the family is unknown.
func (e *Event) TypeCode() string {
	switch e.EventType {
	case Shipment:
		return e.ShipmentEventTypeCode
	case Transport:
		return e.TransportEventTypeCode
	case Equipment:
		return e.EquipmentEventTypeCode
	case Inventory:
		return e.InventoryEventTypeCode
	}
	return ""
}

// CodeMeaning is the plain meaning of the event's type code ("on hold",
// "loaded", "re-allocated"), "" if unknown.
func (e *Event) CodeMeaning() string {
	if t, ok := eventCodeTables[e.EventType]; ok {
		return t[e.TypeCode()]
	}
	return ""
}

// Reference is a DCSA reference (referenceType FF, SI, PO, CR, AKG, AAO, ECR,
// CSI, BID, SAC) with its value.
type Reference struct {
	ReferenceType  string `json:"referenceType"`
	ReferenceValue string `json:"referenceValue"`
}

// Location is a DCSA location: a UN/LOCODE and optionally a facility.
type Location struct {
	LocationName             string `json:"locationName,omitempty"`
	UNLocationCode           string `json:"UNLocationCode,omitempty"`
	FacilityCode             string `json:"facilityCode,omitempty"`
	FacilityCodeListProvider string `json:"facilityCodeListProvider,omitempty"` // SMDG or BIC
	Latitude                 string `json:"latitude,omitempty"`
	Longitude                string `json:"longitude,omitempty"`
}

// TransportCall is where and on what a transport or equipment event happened.
type TransportCall struct {
	TransportCallID     string    `json:"transportCallID,omitempty"`
	CarrierServiceCode  string    `json:"carrierServiceCode,omitempty"`
	CarrierVoyageNumber string    `json:"carrierVoyageNumber,omitempty"`
	ModeOfTransport     string    `json:"modeOfTransport,omitempty"` // VESSEL, RAIL, TRUCK, BARGE
	Location            *Location `json:"location,omitempty"`
	Vessel              *Vessel   `json:"vessel,omitempty"`
}

// Vessel identifies a ship.
type Vessel struct {
	VesselIMONumber string `json:"vesselIMONumber,omitempty"`
	VesselName      string `json:"vesselName,omitempty"`
	VesselFlag      string `json:"vesselFlag,omitempty"`
	VesselCallSign  string `json:"vesselCallSignNumber,omitempty"`
}

// ShipmentParty is one party on a shipment's party list.
type ShipmentParty struct {
	Party string `json:"party"`
	Role  Role   `json:"role"`
}

// Time is an instant with the zone offset it was given in. It marshals as
// RFC 3339 and keeps the offset, so the canonical encoding of an event is the
// same on every node that decodes it.
type Time struct{ time.Time }

// ParseTime parses an RFC 3339 date-time; the zone (Z or ±hh:mm) is required.
func ParseTime(s string) (Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Time{}, fmt.Errorf("want an RFC 3339 date-time with zone, such as 2026-11-03T08:15:00+07:00")
	}
	return Time{t}, nil
}

// String is the canonical text of t: RFC 3339 with the original offset and
// no trailing fractional zeros; "" for the zero Time.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, t.String()), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("want an RFC 3339 date-time string")
	}
	if s == "" {
		*t = Time{}
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// IsZero reports whether t was not given.
func (t Time) IsZero() bool { return t.Time.IsZero() }

// HLC is a hybrid logical clock stamp: milliseconds since the Unix epoch in
// the high 48 bits and a logical counter in the low 16. Stamps from one clock
// strictly increase, and a clock that has seen a stamp issues larger ones.
type HLC uint64

// MakeHLC packs a wall time in milliseconds and a logical counter.
func MakeHLC(wallMillis int64, logical uint16) HLC {
	return HLC(uint64(wallMillis)<<16 | uint64(logical))
}

// WallMillis is the physical part in milliseconds since the Unix epoch.
func (h HLC) WallMillis() int64 { return int64(uint64(h) >> 16) }

// Logical is the counter that orders stamps within one millisecond.
func (h HLC) Logical() uint16 { return uint16(h) }

func (h HLC) String() string {
	return fmt.Sprintf("%s+%d", time.UnixMilli(h.WallMillis()).UTC().Format("2006-01-02T15:04:05.000Z"), h.Logical())
}

// Recorded is an event as a log holds it: the event, the salt of its
// commitment, and its position.
type Recorded struct {
	Event    Event  `json:"event"`
	Salt     []byte `json:"salt"`     // 32 random bytes; reveal only to parties entitled to the payload
	LogIndex int64  `json:"logIndex"` // position in the origin's log, from 0
}

// Commitment returns the leaf data of r: the salted commitment to its event.
func (r *Recorded) Commitment() [32]byte { return Commitment(AppendCanonical(nil, &r.Event), r.Salt) }

// Ack is what the log answers for each appended event once it is durable.
type Ack struct {
	EventID   string `json:"eventID"`
	LogIndex  int64  `json:"logIndex"`
	LeafHash  string `json:"leafHash"`            // base64 RFC 6962 leaf hash of the commitment
	Duplicate bool   `json:"duplicate,omitempty"` // the event was already recorded with the same content
}
