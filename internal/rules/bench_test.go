package rules

import "testing"

// BenchmarkDecide is one customs hold against the lane's four rules: a
// re-allocation of three orders, a recorded event and a webhook, each
// validated.
func BenchmarkDecide(b *testing.B) {
	en := mustEngine(b, holdRules(), newBook())
	h := customsHold()
	st := stateOf(h)
	for b.Loop() {
		if ds, err := en.Decide(h, st); err != nil || len(ds) != 3 {
			b.Fatal(ds, err)
		}
	}
}

// BenchmarkDecideMiss is a generated event that no rule matches.
func BenchmarkDecideMiss(b *testing.B) {
	en := mustEngine(b, holdRules(), newBook())
	e := customsHold()
	e.ShipmentEventTypeCode = "CONF"
	for b.Loop() {
		if ds, err := en.Decide(e, nil); err != nil || len(ds) != 0 {
			b.Fatal(ds, err)
		}
	}
}
