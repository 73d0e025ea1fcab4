// Package scenario generates realistic traffic for the Vietnam→EU lane:
// bookings, container moves and vessel calls shaped as DCSA Track & Trace
// events, deterministic for a given seed. Benchmarks, tests and the demo use
// it so they exercise the same shapes of data a real lane produces.
package scenario

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/linkd-dev/linkd"
)

// Place is a port or inland location of the lane.
type Place struct {
	Name     string
	LOCODE   string
	Facility string // SMDG terminal code
	Lat, Lon string
}

// Lane places, origin to destination.
var (
	Hanoi     = Place{"Hanoi", "VNHAN", "", "21.0285", "105.8542"}
	Haiphong  = Place{"Haiphong Lach Huyen", "VNHPH", "HICT", "20.8449", "106.6881"}
	Singapore = Place{"Singapore Pasir Panjang", "SGSIN", "PPT", "1.2644", "103.7550"}
	Hamburg   = Place{"Hamburg Burchardkai", "DEHAM", "CTB", "53.5461", "9.9167"}
	Rotterdam = Place{"Rotterdam Maasvlakte", "NLRTM", "ECT", "51.9548", "4.0467"}
	Antwerp   = Place{"Antwerp Deurganck", "BEANR", "DPW", "51.2775", "4.2622"}
)

// Parties of the lane, as their shipment party lists name them.
var LaneParties = []linkd.ShipmentParty{
	{Party: "hanoi-electronics", Role: linkd.RoleShipper},
	{Party: "haiphong-terminal", Role: linkd.RoleTerminal},
	{Party: "oceanic-lines", Role: linkd.RoleCarrier},
	{Party: "vn-forwarding", Role: linkd.RoleForwarder},
	{Party: "eu-customs", Role: linkd.RoleCustoms},
	{Party: "dc-hamburg", Role: linkd.RoleWarehouse},
}

// ContainerNumber returns a valid ISO 6346 number for owner code (3 letters
// and U) and serial.
func ContainerNumber(owner string, serial int) string {
	s := fmt.Sprintf("%s%06d", owner, serial%1000000)
	return fmt.Sprintf("%s%d", s, linkd.ContainerCheckDigit(s))
}

// Generator makes events deterministically from a seed.
type Generator struct {
	rng       *rand.Rand
	base      time.Time
	n         int
	shipments int
	progress  map[string]int // container → next step of its journey
}

// NewGenerator returns a generator whose event times start at base, spread
// over 5,000 shipments of three containers each.
func NewGenerator(seed uint64, base time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), base: base, shipments: 5000, progress: map[string]int{}}
}

// WithShipments sets how many shipments the traffic is spread over: fewer
// shipments give each container a longer history.
func (g *Generator) WithShipments(n int) *Generator {
	g.shipments = max(1, n)
	return g
}

var equipmentSteps = []struct {
	code, empty string
	at          Place
}{
	{"PICK", "EMPTY", Hanoi}, {"STUF", "LADEN", Hanoi}, {"GTIN", "LADEN", Haiphong},
	{"LOAD", "LADEN", Haiphong}, {"DISC", "LADEN", Singapore}, {"LOAD", "LADEN", Singapore},
	{"DISC", "LADEN", Hamburg}, {"INSP", "LADEN", Hamburg}, {"GTOT", "LADEN", Hamburg}, {"DROP", "LADEN", Hamburg},
}

// Next returns the next event: mostly container moves, with vessel calls and
// booking milestones mixed in, about 900 bytes of JSON each.
func (g *Generator) Next() linkd.Event {
	g.n++
	shipment := g.rng.IntN(g.shipments)
	booking := fmt.Sprintf("OCLVNHAM%07d", shipment)
	bl := fmt.Sprintf("OCLU%010d", shipment*7+3)
	container := ContainerNumber("OCLU", shipment*3+g.rng.IntN(3))
	at := g.base.Truncate(time.Second).Add(time.Duration(g.n) * 37 * time.Second).In(time.FixedZone("ICT", 7*3600))
	voyage := fmt.Sprintf("%03dW", shipment/50)
	vessel := &linkd.Vessel{VesselIMONumber: "9778791", VesselName: "Oceanic Harmony", VesselFlag: "SG", VesselCallSign: "9V5432"}
	e := linkd.Event{
		EventClassifierCode:        "ACT",
		EventDateTime:              linkd.Time{Time: at},
		EventCreatedDateTime:       linkd.Time{Time: at.Add(90 * time.Second)},
		CarrierBookingReference:    booking,
		TransportDocumentReference: bl,
		References: []linkd.Reference{
			{ReferenceType: "PO", ReferenceValue: fmt.Sprintf("PO-EU-%06d", shipment)},
			{ReferenceType: "FF", ReferenceValue: fmt.Sprintf("VNF-%06d", shipment)},
		},
		Parties:   LaneParties,
		Residency: nil,
	}
	switch r := g.rng.IntN(10); {
	case r < 7:
		// Each container moves through its journey in order; a new trip
		// starts when one ends.
		k := g.progress[container]
		g.progress[container] = k + 1
		step := equipmentSteps[k%len(equipmentSteps)]
		trip := time.Duration(k/len(equipmentSteps)) * 35 * 24 * time.Hour
		at = g.base.Truncate(time.Second).Add(time.Duration(shipment%240)*time.Hour + trip +
			time.Duration(k%len(equipmentSteps))*62*time.Hour).In(at.Location())
		e.EventDateTime = linkd.Time{Time: at}
		e.EventCreatedDateTime = linkd.Time{Time: at.Add(90 * time.Second)}
		e.EventType = linkd.Equipment
		e.EquipmentEventTypeCode = step.code
		e.EmptyIndicatorCode = step.empty
		e.EquipmentReference = container
		e.ISOEquipmentCode = "45G1"
		e.EventLocation = location(step.at)
		e.TransportCall = &linkd.TransportCall{CarrierServiceCode: "AEX1", CarrierVoyageNumber: voyage, ModeOfTransport: "VESSEL"}
	case r < 9:
		port := []Place{Haiphong, Singapore, Hamburg}[g.rng.IntN(3)]
		e.EventType = linkd.Transport
		e.TransportEventTypeCode = []string{"ARRI", "DEPA"}[g.rng.IntN(2)]
		e.EventClassifierCode = []string{"ACT", "EST", "PLN"}[g.rng.IntN(3)]
		e.TransportCall = &linkd.TransportCall{
			TransportCallID: fmt.Sprintf("TC-%s-%s", port.LOCODE, voyage), CarrierServiceCode: "AEX1",
			CarrierVoyageNumber: voyage, ModeOfTransport: "VESSEL", Location: location(port), Vessel: vessel,
		}
	default:
		e.EventType = linkd.Shipment
		e.ShipmentEventTypeCode = []string{"RECE", "CONF", "ISSU", "APPR"}[g.rng.IntN(4)]
		e.DocumentTypeCode = "BKG"
		e.DocumentID = booking
		e.Reason = "Booking for consumer electronics, 1,250 cartons of tablets and accessories"
	}
	return e
}

// Batch returns the next n events.
func (g *Generator) Batch(n int) []linkd.Event {
	out := make([]linkd.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func location(p Place) *linkd.Location {
	l := &linkd.Location{LocationName: p.Name, UNLocationCode: p.LOCODE, Latitude: p.Lat, Longitude: p.Lon}
	if p.Facility != "" {
		l.FacilityCode, l.FacilityCodeListProvider = p.Facility, "SMDG"
	}
	return l
}

// Terminal is the Haiphong terminal, the lane party whose log the demo and
// the benchmarks write.
var Terminal = linkd.Party{ID: "haiphong-terminal", Name: "Haiphong Lach Huyen Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}}
