package bench

import (
	"context"
	"testing"
)

// TestReallocationRounds runs five holds through the five-node lane: every
// round must end with each order re-allocated, split between Rotterdam and
// Antwerp, and each centre holding the re-allocations moved to it.
func TestReallocationRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	const rounds, orders = 5, 4
	res, err := Reallocation(context.Background(), ReallocationConfig{Dir: t.TempDir(), Rounds: rounds, Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rounds != rounds || res.Latency.N != rounds {
		t.Errorf("rounds %d, measured %d; want %d", res.Rounds, res.Latency.N, rounds)
	}
	if res.Orders != rounds*orders {
		t.Errorf("orders re-allocated: got %d, want %d", res.Orders, rounds*orders)
	}
	if res.BothCentres != rounds {
		t.Errorf("rounds reaching both centres: got %d, want %d", res.BothCentres, rounds)
	}
	if res.ToRotterdam != rounds*orders/2 || res.ToAntwerp != rounds*orders/2 {
		t.Errorf("moved to rotterdam %d, antwerp %d; want %d each", res.ToRotterdam, res.ToAntwerp, rounds*orders/2)
	}
}
