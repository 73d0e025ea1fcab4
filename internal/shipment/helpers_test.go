package shipment

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// The lane's parties, as origins.
const (
	carrier  = "oceanic-lines"
	terminal = "haiphong-terminal"
	hub      = "singapore-terminal"
	hamburg  = "hamburg-terminal"
	customs  = "eu-customs"
	shipper  = "hanoi-electronics"
	dc       = "dc-hamburg"
)

const (
	booking = "OCLVNHAM0000042"
	bl      = "OCLU0000000297"
)

var (
	ict  = time.FixedZone("ICT", 7*3600)
	t0   = time.Date(2026, 11, 2, 8, 0, 0, 0, ict)
	boxA = scenario.ContainerNumber("OCLU", 126)
	boxB = scenario.ContainerNumber("OCLU", 127)
)

// at is t0 plus h hours.
func at(h float64) linkd.Time { return linkd.Time{Time: t0.Add(time.Duration(h * float64(time.Hour)))} }

func loc(p scenario.Place) *linkd.Location {
	l := &linkd.Location{LocationName: p.Name, UNLocationCode: p.LOCODE, Latitude: p.Lat, Longitude: p.Lon}
	if p.Facility != "" {
		l.FacilityCode, l.FacilityCodeListProvider = p.Facility, "SMDG"
	}
	return l
}

func keys(e linkd.Event) linkd.Event {
	e.CarrierBookingReference, e.TransportDocumentReference = booking, bl
	return e
}

// ship is an actual shipment event about document doc.
func ship(code, doc string, h float64) linkd.Event {
	return keys(linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", EventDateTime: at(h),
		ShipmentEventTypeCode: code, DocumentTypeCode: doc, Parties: scenario.LaneParties,
	})
}

// vessel is a vessel call event of the given classifier.
func vessel(code, classifier string, p scenario.Place, h float64) linkd.Event {
	return keys(linkd.Event{
		EventType: linkd.Transport, EventClassifierCode: classifier, EventDateTime: at(h),
		TransportEventTypeCode: code,
		TransportCall: &linkd.TransportCall{
			TransportCallID: "TC-" + p.LOCODE + "-001W", CarrierServiceCode: "AEX1", CarrierVoyageNumber: "001W",
			ModeOfTransport: "VESSEL", Location: loc(p),
			Vessel: &linkd.Vessel{VesselIMONumber: "9778791", VesselName: "Oceanic Harmony", VesselFlag: "SG"},
		},
	})
}

// box is an actual move of a laden container.
func box(code, container string, p scenario.Place, h float64) linkd.Event {
	return keys(linkd.Event{
		EventType: linkd.Equipment, EventClassifierCode: "ACT", EventDateTime: at(h),
		EquipmentEventTypeCode: code, EmptyIndicatorCode: "LADEN", EquipmentReference: container,
		ISOEquipmentCode: "45G1", EventLocation: loc(p),
	})
}

func empty(e linkd.Event) linkd.Event { e.EmptyIndicatorCode = "EMPTY"; return e }

func classified(c string, e linkd.Event) linkd.Event { e.EventClassifierCode = c; return e }

// logs records events as the parties' nodes would: each origin's log gives
// log indexes from 0, and one hybrid clock, advancing with every event
// across all parties, stamps them, so the order of add calls is the order
// of recording. With perParty, each party has its own clock instead, all
// starting at t0 and ticking a millisecond per event, so stamps of
// different parties collide as real ones do.
type logs struct {
	t        testing.TB
	wall     int64
	perParty bool
	size     map[string]int64
	recs     []linkd.Recorded
}

func newLogs(t testing.TB) *logs {
	return &logs{t: t, wall: t0.UnixMilli(), size: map[string]int64{}}
}

// add records e on origin's log and returns it as recorded, with its id.
func (l *logs) add(origin string, e linkd.Event) linkd.Event {
	l.t.Helper()
	e.Origin = origin
	if probs := e.Validate(""); len(probs) > 0 {
		l.t.Fatalf("test event is invalid: %v", probs)
	}
	if e.EventID == "" {
		e.EventID = linkd.DeriveEventID(origin, &e)
	}
	l.wall += 1000
	e.HLC = linkd.MakeHLC(l.wall, 0)
	if l.perParty {
		e.HLC = linkd.MakeHLC(t0.UnixMilli()+l.size[origin], 0)
	}
	l.recs = append(l.recs, linkd.Recorded{Event: e, LogIndex: l.size[origin]})
	l.size[origin]++
	return e
}

// retract records origin's retraction of the event id.
func (l *logs) retract(origin, id string, h float64) linkd.Event {
	l.t.Helper()
	e := ship("CONF", "BKG", h)
	e.RetractedEventID = id
	return l.add(origin, e)
}

func (l *logs) build() (State, []Entry) { return Build(booking, l.recs) }
