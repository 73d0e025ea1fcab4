package dcsa

import "github.com/linkd-dev/linkd"

// Event is a DCSA Track & Trace 2.2 event: one struct for the three event
// types, each field present only where its type has it.
type Event struct {
	EventID              string     `json:"eventID"`
	EventType            string     `json:"eventType"`
	EventClassifierCode  string     `json:"eventClassifierCode"`
	EventDateTime        linkd.Time `json:"eventDateTime"`
	EventCreatedDateTime linkd.Time `json:"eventCreatedDateTime,omitzero"`

	ShipmentEventTypeCode string `json:"shipmentEventTypeCode,omitempty"`
	DocumentTypeCode      string `json:"documentTypeCode,omitempty"`
	DocumentID            string `json:"documentID,omitempty"`
	Reason                string `json:"reason,omitempty"`

	TransportEventTypeCode string `json:"transportEventTypeCode,omitempty"`
	DelayReasonCode        string `json:"delayReasonCode,omitempty"`

	EquipmentEventTypeCode string `json:"equipmentEventTypeCode,omitempty"`
	EquipmentReference     string `json:"equipmentReference,omitempty"`
	ISOEquipmentCode       string `json:"ISOEquipmentCode,omitempty"`
	EmptyIndicatorCode     string `json:"emptyIndicatorCode,omitempty"`

	EventLocation      *linkd.Location     `json:"eventLocation,omitempty"`
	TransportCall      *TransportCall      `json:"transportCall,omitempty"`
	DocumentReferences []DocumentReference `json:"documentReferences,omitempty"`
	References         []linkd.Reference   `json:"references,omitempty"`
}

// DocumentReference links an event to a booking (BKG) or a transport
// document (TRD).
type DocumentReference struct {
	DocumentReferenceType  string `json:"documentReferenceType"`
	DocumentReferenceValue string `json:"documentReferenceValue"`
}

// TransportCall is DCSA's transport call, with the location's UN/LOCODE and
// facility lifted to the top as DCSA 2.2 has them.
type TransportCall struct {
	TransportCallID          string          `json:"transportCallID,omitempty"`
	CarrierServiceCode       string          `json:"carrierServiceCode,omitempty"`
	CarrierVoyageNumber      string          `json:"carrierVoyageNumber,omitempty"`
	ExportVoyageNumber       string          `json:"exportVoyageNumber,omitempty"`
	UNLocationCode           string          `json:"UNLocationCode,omitempty"`
	FacilityCode             string          `json:"facilityCode,omitempty"`
	FacilityCodeListProvider string          `json:"facilityCodeListProvider,omitempty"`
	ModeOfTransport          string          `json:"modeOfTransport,omitempty"`
	Location                 *linkd.Location `json:"location,omitempty"`
	Vessel                   *linkd.Vessel   `json:"vessel,omitempty"`
}

// FromEvent writes e in DCSA's shape.
func FromEvent(e *linkd.Event) Event {
	out := Event{
		EventID:                e.EventID,
		EventType:              string(e.EventType),
		EventClassifierCode:    e.EventClassifierCode,
		EventDateTime:          e.EventDateTime,
		EventCreatedDateTime:   e.EventCreatedDateTime,
		ShipmentEventTypeCode:  e.ShipmentEventTypeCode,
		DocumentTypeCode:       e.DocumentTypeCode,
		DocumentID:             e.DocumentID,
		Reason:                 e.Reason,
		TransportEventTypeCode: e.TransportEventTypeCode,
		DelayReasonCode:        e.DelayReasonCode,
		EquipmentEventTypeCode: e.EquipmentEventTypeCode,
		EquipmentReference:     e.EquipmentReference,
		ISOEquipmentCode:       e.ISOEquipmentCode,
		EmptyIndicatorCode:     e.EmptyIndicatorCode,
		EventLocation:          e.EventLocation,
		References:             e.References,
	}
	if e.CarrierBookingReference != "" {
		out.DocumentReferences = append(out.DocumentReferences, DocumentReference{"BKG", e.CarrierBookingReference})
	}
	if e.TransportDocumentReference != "" {
		out.DocumentReferences = append(out.DocumentReferences, DocumentReference{"TRD", e.TransportDocumentReference})
	}
	if tc := e.TransportCall; tc != nil {
		t := &TransportCall{
			TransportCallID:     tc.TransportCallID,
			CarrierServiceCode:  tc.CarrierServiceCode,
			CarrierVoyageNumber: tc.CarrierVoyageNumber,
			ExportVoyageNumber:  tc.CarrierVoyageNumber,
			ModeOfTransport:     tc.ModeOfTransport,
			Location:            tc.Location,
			Vessel:              tc.Vessel,
		}
		if tc.Location != nil {
			t.UNLocationCode = tc.Location.UNLocationCode
			t.FacilityCode = tc.Location.FacilityCode
			t.FacilityCodeListProvider = tc.Location.FacilityCodeListProvider
		}
		out.TransportCall = t
	}
	return out
}
