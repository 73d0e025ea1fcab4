package linkd_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
)

// BenchmarkCheckBatch measures validation of a batch of 100 valid events of
// each family, the part of an append that runs before the log sees it.
func BenchmarkCheckBatch(b *testing.B) {
	self := linkd.Party{ID: "oceanic-lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"VN", "EU"}}
	batch := make([]linkd.Event, 0, 100)
	for i := 0; len(batch) < 100; i++ {
		for _, mk := range []func() linkd.Event{validShipment, validTransport, validEquipment} {
			e := mk()
			e.EventID, e.Origin = "", ""
			batch = append(batch, e)
		}
	}
	batch = batch[:100]
	if err := linkd.CheckBatch(batch, self); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := linkd.CheckBatch(batch, self); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
