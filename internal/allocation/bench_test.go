package allocation_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/allocation"
)

// benchLane records stock of 50 SKUs at three centres, 1,000 orders at
// Hamburg against the booking customs then holds, and returns the hold.
func benchLane(b *testing.B) (*lane, linkd.Event) {
	l := newLane(b)
	rng := rand.New(rand.NewPCG(1, 1))
	const skus = 50
	for i := range skus {
		sku := fmt.Sprintf("SKU-%03d", i)
		l.record(hamburg, stck(hamburg, sku, 200))
		l.record(rotterdam, stck(rotterdam, sku, int64(rng.IntN(150))))
		l.record(antwerp, stck(antwerp, sku, int64(rng.IntN(150))))
	}
	for i := range 1000 {
		sku := fmt.Sprintf("SKU-%03d", rng.IntN(skus))
		l.record(hamburg, aloc(hamburg, fmt.Sprintf("SO-%05d", i), sku, 1+int64(rng.IntN(12)), booking))
	}
	return l, l.record(customs, customsEvent("HOLD", "x-ray inspection"))
}

// BenchmarkReallocate plans a hold affecting 1,000 orders over 3 centres
// and 50 SKUs.
func BenchmarkReallocate(b *testing.B) {
	l, hold := benchLane(b)
	book := l.book()
	plan := book.PlanReallocation(&hold, hamburg)
	if len(plan.Moves)+len(plan.Unmoved) != 1000 || len(plan.Moves) == 0 || len(plan.Unmoved) == 0 {
		b.Fatalf("plan answers %d moved and %d unmoved; want 1000 with some of each", len(plan.Moves), len(plan.Unmoved))
	}
	b.ReportAllocs()
	for b.Loop() {
		book.Reallocate(&hold, hamburg)
	}
	b.ReportMetric(float64(len(plan.Moves)), "moves/op")
}

// BenchmarkApply measures how many events a Book folds per second: in
// canonical order (each folds as it arrives) and shuffled (the first read
// sorts and folds them all).
func BenchmarkApply(b *testing.B) {
	l, hold := benchLane(b)
	plan := l.book().PlanReallocation(&hold, hamburg)
	l.recordAll(hamburg, plan.Events)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, m := range plan.Moves {
		if rng.IntN(2) == 0 {
			l.record(m.To, fulf(m.To, m.OrderID, m.SKU, m.Quantity))
		}
	}
	for i := range 3000 {
		c := []string{hamburg, rotterdam, antwerp}[i%3]
		l.record(c, stck(c, fmt.Sprintf("SKU-%03d", rng.IntN(50)), int64(rng.IntN(300))))
	}
	shuffled := append([]linkd.Event(nil), l.events...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	for _, bc := range []struct {
		name   string
		events []linkd.Event
	}{{"in-order", l.events}, {"shuffled", shuffled}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				book := allocation.New()
				for i := range bc.events {
					book.Apply(&bc.events[i])
				}
				if book.Stock(hamburg, "SKU-000").OnHand < 0 { // a read: folds what is pending
					b.Fatal("negative stock position")
				}
				n += len(bc.events)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
