package shipment

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// AppendJSON appends the JSON encoding of v to dst: byte for byte what
// encoding/json's Marshal gives (TestAppendJSONMatchesMarshal holds it to
// that, every field filled), without reflection. A shipment view is tens of
// events; Marshal spent about as long encoding one as the store spent
// reading its events.
func AppendJSON(dst []byte, v *linkd.ShipmentView) []byte {
	dst = slices.Grow(dst, 1024+1200*len(v.Timeline)) // an event takes about 1,100 bytes
	dst = append(dst, `{"state":`...)
	dst = appendState(dst, &v.State)
	dst = append(dst, `,"timeline":`...)
	if v.Timeline == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range v.Timeline {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendEntry(dst, &v.Timeline[i])
		}
		dst = append(dst, ']')
	}
	if v.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	return append(dst, '}')
}

// jsonWriter appends one object's members, each after a comma but the first.
type jsonWriter struct {
	b     []byte
	first bool
}

func object(dst []byte) jsonWriter { return jsonWriter{append(dst, '{'), true} }

func (w *jsonWriter) end() []byte { return append(w.b, '}') }

// name appends the member name, which must need no escaping.
func (w *jsonWriter) name(n string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(append(append(w.b, '"'), n...), `":`...)
}

func (w *jsonWriter) str(n, s string) {
	w.name(n)
	w.b = appendString(w.b, s)
}

// strOmit is a string member tagged omitempty.
func (w *jsonWriter) strOmit(n, s string) {
	if s != "" {
		w.str(n, s)
	}
}

func (w *jsonWriter) int(n string, v int64) {
	w.name(n)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jsonWriter) time(n string, t linkd.Time) {
	w.name(n)
	w.b = append(w.b, '"')
	if !t.IsZero() { // as Time.MarshalJSON: the zero Time is ""
		w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	}
	w.b = append(w.b, '"')
}

// strs is a []string member tagged omitempty.
func (w *jsonWriter) strs(n string, list []string) {
	if len(list) == 0 {
		return
	}
	w.name(n)
	w.b = append(w.b, '[')
	for i, s := range list {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) parties(n string, list []linkd.ShipmentParty) {
	if len(list) == 0 {
		return
	}
	w.name(n)
	w.b = append(w.b, '[')
	for i := range list {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		p := object(w.b)
		p.str("party", list[i].Party)
		p.str("role", string(list[i].Role))
		w.b = p.end()
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) location(n string, l *linkd.Location) {
	if l == nil {
		return
	}
	w.name(n)
	o := object(w.b)
	o.strOmit("locationName", l.LocationName)
	o.strOmit("UNLocationCode", l.UNLocationCode)
	o.strOmit("facilityCode", l.FacilityCode)
	o.strOmit("facilityCodeListProvider", l.FacilityCodeListProvider)
	o.strOmit("latitude", l.Latitude)
	o.strOmit("longitude", l.Longitude)
	w.b = o.end()
}

func appendState(dst []byte, s *linkd.ShipmentState) []byte {
	w := object(dst)
	w.str("ref", s.Ref)
	w.str("status", string(s.Status))
	if s.StatusSince != nil {
		w.time("statusSince", *s.StatusSince)
	}
	w.strOmit("statusEvent", s.StatusEvent)
	w.strOmit("lastEvent", s.LastEvent)
	w.location("lastLocation", s.LastLocation)
	if a := s.ETA; a != nil {
		w.name("eta")
		o := object(w.b)
		o.str("location", a.Location)
		o.time("time", a.Time)
		o.str("classifier", a.Classifier)
		o.str("eventID", a.EventID)
		o.str("origin", a.Origin)
		w.b = o.end()
	}
	if len(s.OpenHolds) > 0 {
		w.name("openHolds")
		w.b = append(w.b, '[')
		for i := range s.OpenHolds {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			h := &s.OpenHolds[i]
			o := object(w.b)
			o.str("eventID", h.EventID)
			o.str("origin", h.Origin)
			o.time("since", h.Since)
			o.strOmit("reason", h.Reason)
			o.strOmit("documentTypeCode", h.DocumentTypeCode)
			o.strOmit("equipmentReference", h.EquipmentReference)
			w.b = o.end()
		}
		w.b = append(w.b, ']')
	}
	w.strs("carrierBookingReferences", s.Bookings)
	w.strs("transportDocumentReferences", s.TransportDocuments)
	w.strs("equipmentReferences", s.Equipment)
	w.parties("parties", s.Parties)
	w.int("events", int64(s.Events))
	return w.end()
}

func appendEntry(dst []byte, e *linkd.TimelineEntry) []byte {
	w := object(dst)
	w.name("event")
	w.b = appendEvent(w.b, &e.Event)
	w.int("logIndex", e.LogIndex)
	w.strOmit("retractedBy", e.RetractedBy)
	w.strOmit("supersededBy", e.SupersededBy)
	return w.end()
}

func appendEvent(dst []byte, e *linkd.Event) []byte {
	w := object(dst)
	w.strOmit("eventID", e.EventID)
	w.str("eventType", string(e.EventType))
	w.str("eventClassifierCode", e.EventClassifierCode)
	w.time("eventDateTime", e.EventDateTime)
	if !e.EventCreatedDateTime.IsZero() {
		w.time("eventCreatedDateTime", e.EventCreatedDateTime)
	}
	w.strOmit("shipmentEventTypeCode", e.ShipmentEventTypeCode)
	w.strOmit("documentTypeCode", e.DocumentTypeCode)
	w.strOmit("documentID", e.DocumentID)
	w.strOmit("reason", e.Reason)
	w.strOmit("transportEventTypeCode", e.TransportEventTypeCode)
	w.strOmit("delayReasonCode", e.DelayReasonCode)
	w.strOmit("equipmentEventTypeCode", e.EquipmentEventTypeCode)
	w.strOmit("emptyIndicatorCode", e.EmptyIndicatorCode)
	w.strOmit("ISOEquipmentCode", e.ISOEquipmentCode)
	w.strOmit("inventoryEventTypeCode", e.InventoryEventTypeCode)
	if l := e.Inventory; l != nil {
		w.name("inventory")
		o := object(w.b)
		o.str("facility", l.Facility)
		o.str("sku", l.SKU)
		o.int("quantity", l.Quantity)
		o.strOmit("orderID", l.OrderID)
		o.strOmit("fromFacility", l.FromFacility)
		w.b = o.end()
	}
	if a := e.Attestation; a != nil {
		w.name("attestation")
		o := object(w.b)
		o.str("documentSHA256", a.DocumentSHA256)
		o.str("verdict", a.Verdict)
		w.b = o.end()
	}
	w.strOmit("carrierBookingReference", e.CarrierBookingReference)
	w.strOmit("transportDocumentReference", e.TransportDocumentReference)
	w.strOmit("equipmentReference", e.EquipmentReference)
	if len(e.References) > 0 {
		w.name("references")
		w.b = append(w.b, '[')
		for i := range e.References {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			o := object(w.b)
			o.str("referenceType", e.References[i].ReferenceType)
			o.str("referenceValue", e.References[i].ReferenceValue)
			w.b = o.end()
		}
		w.b = append(w.b, ']')
	}
	w.location("eventLocation", e.EventLocation)
	if c := e.TransportCall; c != nil {
		w.name("transportCall")
		o := object(w.b)
		o.strOmit("transportCallID", c.TransportCallID)
		o.strOmit("carrierServiceCode", c.CarrierServiceCode)
		o.strOmit("carrierVoyageNumber", c.CarrierVoyageNumber)
		o.strOmit("modeOfTransport", c.ModeOfTransport)
		o.location("location", c.Location)
		if v := c.Vessel; v != nil {
			o.name("vessel")
			vo := object(o.b)
			vo.strOmit("vesselIMONumber", v.VesselIMONumber)
			vo.strOmit("vesselName", v.VesselName)
			vo.strOmit("vesselFlag", v.VesselFlag)
			vo.strOmit("vesselCallSignNumber", v.VesselCallSign)
			o.b = vo.end()
		}
		w.b = o.end()
	}
	w.strOmit("origin", e.Origin)
	w.parties("parties", e.Parties)
	w.strs("visibility", e.Visibility)
	w.strs("residency", e.Residency)
	w.strs("causedBy", e.CausedBy)
	w.strOmit("retractedEventID", e.RetractedEventID)
	w.strOmit("supersedesEventID", e.SupersedesEventID)
	if e.HLC != 0 {
		w.name("hlc")
		w.b = strconv.AppendUint(w.b, uint64(e.HLC), 10)
	}
	if s := e.Source; s != nil {
		w.name("source")
		o := object(w.b)
		o.str("syntax", s.Syntax)
		o.str("messageType", s.MessageType)
		o.strOmit("sender", s.Sender)
		o.str("interchangeControlNumber", s.InterchangeControlNumber)
		o.strOmit("messageReference", s.MessageReference)
		o.str("interchangeSHA256", s.InterchangeSHA256)
		w.b = o.end()
	}
	return w.end()
}

// appendString appends s as a JSON string. Printable ASCII other than the
// quote, the backslash and the characters encoding/json escapes for HTML
// (<, >, &) is copied; a string with anything else, rare in events, is
// left to encoding/json so that escapes and invalid UTF-8 come out as
// Marshal writes them.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
