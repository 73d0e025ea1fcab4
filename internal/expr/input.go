package expr

import (
	"github.com/google/cel-go/interpreter"

	"github.com/linkd-dev/linkd"
)

// Input is what expressions read for one event: the event and the state of
// its shipment. Build it once per event and pass it to every program; it
// wraps the two values without copying or converting them, so the caller must
// not change them while the Input is in use.
type Input struct {
	act activation
	// bounded is set when the event keeps to linkd's validation limits on
	// strings and lists, so programs proven cheap on such events may skip
	// cost tracking.
	bounded bool
}

// maxString bounds every string of a valid event (reason is the longest).
const maxString = 5000

// NewInput returns the input for e (required) and the state of the shipment
// e names; s may be nil when e names no shipment or its state is unknown,
// and every shipment field is then absent.
func NewInput(e *linkd.Event, s *linkd.ShipmentState) *Input {
	in := &Input{bounded: within(e)}
	in.act.event = object{st: eventType, ptr: e}
	in.act.shipment = object{st: stateType, ptr: s}
	return in
}

// Event is the event the input was built for.
func (in *Input) Event() *linkd.Event { return in.act.event.ptr.(*linkd.Event) }

// State is the shipment state the input was built with, possibly nil.
func (in *Input) State() *linkd.ShipmentState { return in.act.shipment.ptr.(*linkd.ShipmentState) }

// activation resolves the two variables without a map lookup.
type activation struct {
	event, shipment object
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return &a.event, true
	case "shipment":
		return &a.shipment, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// within reports whether every string of e is at most maxString bytes and
// every list at most linkd.MaxListLen entries, as sizes assumes.
func within(e *linkd.Event) bool {
	ok := true
	str := func(ss ...string) {
		for _, s := range ss {
			ok = ok && len(s) <= maxString
		}
	}
	loc := func(l *linkd.Location) {
		if l != nil {
			str(l.LocationName, l.UNLocationCode, l.FacilityCode, l.FacilityCodeListProvider, l.Latitude, l.Longitude)
		}
	}
	str(e.EventID, string(e.EventType), e.EventClassifierCode, e.ShipmentEventTypeCode, e.DocumentTypeCode,
		e.DocumentID, e.Reason, e.TransportEventTypeCode, e.DelayReasonCode, e.EquipmentEventTypeCode,
		e.EmptyIndicatorCode, e.ISOEquipmentCode, e.InventoryEventTypeCode, e.CarrierBookingReference,
		e.TransportDocumentReference, e.EquipmentReference, e.Origin, e.RetractedEventID, e.SupersedesEventID)
	for _, n := range []int{len(e.References), len(e.Parties), len(e.Visibility), len(e.Residency), len(e.CausedBy)} {
		ok = ok && n <= linkd.MaxListLen
	}
	if !ok {
		return false
	}
	for _, r := range e.References {
		str(r.ReferenceType, r.ReferenceValue)
	}
	for _, p := range e.Parties {
		str(p.Party, string(p.Role))
	}
	str(e.Visibility...)
	str(e.Residency...)
	str(e.CausedBy...)
	if inv := e.Inventory; inv != nil {
		str(inv.Facility, inv.SKU, inv.OrderID, inv.FromFacility)
	}
	loc(e.EventLocation)
	if tc := e.TransportCall; tc != nil {
		str(tc.TransportCallID, tc.CarrierServiceCode, tc.CarrierVoyageNumber, tc.ModeOfTransport)
		loc(tc.Location)
		if v := tc.Vessel; v != nil {
			str(v.VesselIMONumber, v.VesselName, v.VesselFlag, v.VesselCallSign)
		}
	}
	return ok
}
