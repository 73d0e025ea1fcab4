package expr_test

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
)

// FuzzCompile: any expression a client sends is compiled or refused with an
// invalid error, and a compiled one evaluates without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`event.shipmentEventTypeCode == "HOLD"`,
		`event.eventLocation.UNLocationCode.startsWith("DE") && shipment.status == "ON_HOLD"`,
		`[1,2,3].all(x, [1,2].exists(y, x > y))`,
		`event.inventory.quantity > 10 || size(event.references) > 0`,
		`event.`, `((((`, `"\xff"`,
	} {
		f.Add(s)
	}
	e := &linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "HOLD",
		EventDateTime: linkd.Time{Time: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, CarrierBookingReference: "B1"}
	in := expr.NewInput(e, nil)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := expr.Compile(src)
		if err != nil {
			if linkd.ErrorCode(err) != linkd.EInvalid {
				t.Fatalf("Compile(%q) error %v, want an invalid error", src, err)
			}
			return
		}
		p.Match(in)
	})
}
