package linkd

// The view of a shipment: its merged timeline and the state derived from it
// (internal/shipment builds both; GET /v1/shipments/{ref} answers them).
// Every field is a deterministic function of the set of events, so every
// node holding the same events shows the same view.

// ShipmentView answers GET /v1/shipments/{ref}.
type ShipmentView struct {
	State    ShipmentState   `json:"state"`
	Timeline []TimelineEntry `json:"timeline"`
	// Truncated is set when the reference names more events than one view
	// holds; the timeline then has the oldest of them.
	Truncated bool `json:"truncated,omitempty"`
}

// ShipmentStatus is where a shipment stands, a short machine code. The
// package comment of internal/shipment says which events set each one.
type ShipmentStatus string

const (
	StatusUnknown          ShipmentStatus = "UNKNOWN"           // no milestone yet: no events, or only plans and estimates
	StatusBookingRequested ShipmentStatus = "BOOKING_REQUESTED" // the booking was requested, received or is pending
	StatusBookingRejected  ShipmentStatus = "BOOKING_REJECTED"  // the carrier rejected the booking
	StatusBooked           ShipmentStatus = "BOOKED"            // the carrier confirmed the booking
	StatusEmptyPickedUp    ShipmentStatus = "EMPTY_PICKED_UP"   // an empty container was picked up to be stuffed
	StatusStuffed          ShipmentStatus = "STUFFED"           // cargo was packed into a container
	StatusPickedUp         ShipmentStatus = "PICKED_UP"         // a laden container was picked up
	StatusGatedIn          ShipmentStatus = "GATED_IN"          // a laden container entered a terminal
	StatusLoaded           ShipmentStatus = "LOADED"            // a container was loaded onto a vessel, train, barge or truck
	StatusInTransit        ShipmentStatus = "IN_TRANSIT"        // the vessel carrying the cargo departed
	StatusArrived          ShipmentStatus = "ARRIVED"           // the vessel carrying the cargo arrived
	StatusDischarged       ShipmentStatus = "DISCHARGED"        // a container was discharged
	StatusReleased         ShipmentStatus = "RELEASED"          // customs or the carrier released the cargo
	StatusGatedOut         ShipmentStatus = "GATED_OUT"         // a laden container left a terminal
	StatusPartlyDelivered  ShipmentStatus = "PARTLY_DELIVERED"  // some containers delivered, others not yet
	StatusDelivered        ShipmentStatus = "DELIVERED"         // every container delivered
	StatusOnHold           ShipmentStatus = "ON_HOLD"           // a hold is open
	StatusCancelled        ShipmentStatus = "CANCELLED"         // the booking was cancelled
)

// ShipmentState is what the events of a shipment say about it. Every field is a
// deterministic function of the set of events (see internal/shipment).
type ShipmentState struct {
	Ref          string         `json:"ref"`                    // the reference asked for
	Status       ShipmentStatus `json:"status"`                 // never empty
	StatusSince  *Time          `json:"statusSince,omitempty"`  // eventDateTime of StatusEvent; nil when UNKNOWN
	StatusEvent  string         `json:"statusEvent,omitempty"`  // id of the event that set Status
	LastEvent    string         `json:"lastEvent,omitempty"`    // id of the newest ACT event
	LastLocation *Location      `json:"lastLocation,omitempty"` // place of the newest ACT event that names one
	ETA          *Arrival       `json:"eta,omitempty"`          // arrival at the destination; nil when no ARRI names one
	OpenHolds    []Hold         `json:"openHolds,omitempty"`    // in timeline order

	Bookings           []string        `json:"carrierBookingReferences,omitempty"`    // sorted
	TransportDocuments []string        `json:"transportDocumentReferences,omitempty"` // sorted
	Equipment          []string        `json:"equipmentReferences,omitempty"`         // sorted
	Parties            []ShipmentParty `json:"parties,omitempty"`                     // sorted by party, then role

	Events int `json:"events"` // distinct events in the timeline, retracted and superseded ones included
}

// Arrival is the shipment's arrival at its destination and the event that
// states it.
type Arrival struct {
	Location   string `json:"location"`   // UN/LOCODE; facility code or name when the event gives none
	Time       Time   `json:"time"`       // the ARRI event's eventDateTime
	Classifier string `json:"classifier"` // ACT once arrived, else EST, else PLN
	EventID    string `json:"eventID"`
	Origin     string `json:"origin"`
}

// Hold is an open hold on the shipment.
type Hold struct {
	EventID            string `json:"eventID"`
	Origin             string `json:"origin"` // the party that placed it, and the only one that can release it
	Since              Time   `json:"since"`
	Reason             string `json:"reason,omitempty"`
	DocumentTypeCode   string `json:"documentTypeCode,omitempty"`   // CUS for a customs inspection
	EquipmentReference string `json:"equipmentReference,omitempty"` // the container held, if only one
}

// TimelineEntry is one event of a timeline with what later events did to it.
type TimelineEntry struct {
	Event        Event  `json:"event"`                  // includes Origin and HLC
	LogIndex     int64  `json:"logIndex"`               // position in its origin's log
	RetractedBy  string `json:"retractedBy,omitempty"`  // id of the event that retracted it; the most recently recorded of several
	SupersededBy string `json:"supersededBy,omitempty"` // id of the event that replaced it; the most recently recorded of several
}

// Counts reports whether the entry counts for the derived state: it is not
// retracted, not superseded, and not itself a retraction.
func (e *TimelineEntry) Counts() bool {
	return e.RetractedBy == "" && e.SupersededBy == "" && e.Event.RetractedEventID == ""
}
