package expr

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

var (
	ict = time.FixedZone("ICT", 7*3600)
	t0  = time.Date(2026, 11, 3, 8, 15, 0, 0, ict) // 01:15 UTC
	box = scenario.ContainerNumber("OCLU", 126)
)

func at(h float64) linkd.Time { return linkd.Time{Time: t0.Add(time.Duration(h * float64(time.Hour)))} }

// hold is a customs hold at Hamburg, as EU customs records it.
func hold() *linkd.Event {
	return &linkd.Event{
		EventID:                    "0192f3a0-0000-7000-8000-000000000001",
		EventType:                  linkd.Shipment,
		EventClassifierCode:        "ACT",
		EventDateTime:              at(0),
		ShipmentEventTypeCode:      "HOLD",
		DocumentTypeCode:           "CUS",
		Reason:                     "physical inspection",
		CarrierBookingReference:    "OCLVNHAM0000042",
		TransportDocumentReference: "OCLU0000000297",
		EquipmentReference:         box,
		EventLocation:              &linkd.Location{LocationName: "Hamburg", UNLocationCode: "DEHAM"},
		Origin:                     "eu-customs",
		Parties:                    scenario.LaneParties,
		HLC:                        linkd.MakeHLC(t0.UnixMilli(), 3),
	}
}

// departure is a vessel departure from Haiphong, located only by its transport call.
func departure() *linkd.Event {
	return &linkd.Event{
		EventID:                 "0192f3a0-0000-7000-8000-000000000002",
		EventType:               linkd.Transport,
		EventClassifierCode:     "ACT",
		EventDateTime:           at(-300),
		TransportEventTypeCode:  "DEPA",
		CarrierBookingReference: "OCLVNHAM0000042",
		TransportCall: &linkd.TransportCall{
			CarrierVoyageNumber: "001W", ModeOfTransport: "VESSEL",
			Location: &linkd.Location{UNLocationCode: "VNHPH"},
			Vessel:   &linkd.Vessel{VesselIMONumber: "9778791", VesselName: "Oceanic Harmony"},
		},
		Origin:  "oceanic-lines",
		Parties: scenario.LaneParties[:3],
	}
}

// allocation is a distribution centre's allocation of an order against the shipment.
func allocation() *linkd.Event {
	return &linkd.Event{
		EventID:                 "0192f3a0-0000-7000-8000-000000000003",
		EventType:               linkd.Inventory,
		EventClassifierCode:     "ACT",
		EventDateTime:           at(-1),
		InventoryEventTypeCode:  "ALOC",
		Inventory:               &linkd.InventoryLine{Facility: "dc-hamburg", SKU: "TAB-10-BLK", Quantity: 40, OrderID: "ORD-1"},
		CarrierBookingReference: "OCLVNHAM0000042",
		Origin:                  "dc-hamburg",
	}
}

func mustCompile(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p
}
