package shipment

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/linkd-dev/linkd"
)

// adversarial returns n records drawn from small domains, so that event
// times, stamps, origins and log indexes collide, one origin's id is reused
// for different content, and corrections and releases point anywhere:
// across origins, forward in time, at events that are missing. Nothing here
// need be valid; Build must still be a function of the set.
func adversarial(rng *rand.Rand, n int) []linkd.Recorded {
	origins := []string{"a", "b", "c"}
	ids := make([]string, n/2+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	places := []*linkd.Location{loc(haiphong), loc(singapore), loc(hamburgPort), nil}
	var out []linkd.Recorded
	for range n {
		e := linkd.Event{
			EventID:                 pick(ids),
			Origin:                  pick(origins),
			EventClassifierCode:     pick([]string{"ACT", "ACT", "EST", "PLN"}),
			EventDateTime:           at(float64(rng.IntN(4))),
			HLC:                     linkd.HLC(rng.IntN(4)),
			CarrierBookingReference: pick([]string{booking, "", "OCLVNHAM0000043"}),
			EquipmentReference:      pick([]string{boxA, boxB, ""}),
		}
		if rng.IntN(2) == 0 {
			// The same instant in another zone: equal in the order, not in the encoding.
			e.EventDateTime = linkd.Time{Time: e.EventDateTime.UTC()}
		}
		switch rng.IntN(3) {
		case 0:
			e.EventType = linkd.Shipment
			e.ShipmentEventTypeCode = pick([]string{"HOLD", "HOLD", "RELS", "RELS", "CANC", "CONF", "RECE", "REJE", "ISSU"})
			e.DocumentTypeCode = pick([]string{"", "BKG", "CUS", "TRD"})
			if rng.IntN(3) == 0 {
				e.CausedBy = []string{pick(ids)}
			}
		case 1:
			e.EventType = linkd.Transport
			e.TransportEventTypeCode = pick([]string{"ARRI", "DEPA"})
			e.TransportCall = &linkd.TransportCall{ModeOfTransport: "VESSEL", Location: places[rng.IntN(len(places))]}
		default:
			e.EventType = linkd.Equipment
			e.EquipmentEventTypeCode = pick([]string{"PICK", "STUF", "GTIN", "LOAD", "DISC", "GTOT", "DROP", "STRP", "INSP"})
			e.EmptyIndicatorCode = pick([]string{"LADEN", "LADEN", "EMPTY"})
			e.EventLocation = places[rng.IntN(len(places))]
		}
		switch rng.IntN(6) {
		case 0:
			e.RetractedEventID = pick(ids)
		case 1:
			e.SupersedesEventID = pick(ids)
		}
		e.Parties = []linkd.ShipmentParty{{Party: e.Origin, Role: linkd.Role(pick([]string{"carrier", "terminal"}))}}
		out = append(out, linkd.Recorded{Event: e, LogIndex: int64(rng.IntN(3))})
		if rng.IntN(8) == 0 {
			// Another record claiming the same origin, id, time, stamp and index.
			c := out[len(out)-1]
			c.Event.Reason = "conflicting copy"
			out = append(out, c)
		}
	}
	return out
}

// TestDeterminismAdversarial checks the order-independence property on
// records built to collide at every level of the order.
func TestDeterminismAdversarial(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	statuses := map[Status]bool{}
	for set := range 300 {
		recs := adversarial(rng, 4+rng.IntN(40))
		wantState, wantTL := Build(booking, recs)
		statuses[wantState.Status] = true
		for i := range 10 {
			in := slices.Clone(recs)
			for range rng.IntN(len(recs)) {
				in = append(in, recs[rng.IntN(len(recs))])
			}
			rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
			st, tl := Build(booking, in)
			if !reflect.DeepEqual(st, wantState) {
				t.Fatalf("set %d, shuffle %d: state differs\n got %+v\nwant %+v", set, i, st, wantState)
			}
			if !reflect.DeepEqual(tl, wantTL) {
				t.Fatalf("set %d, shuffle %d: timeline differs", set, i)
			}
		}
	}
	// The sets must reach the interesting states, or the property says little.
	for _, s := range []Status{Unknown, OnHold, Cancelled, Delivered, PartlyDelivered, Loaded, InTransit} {
		if !statuses[s] {
			t.Errorf("no adversarial set reached %s; reached %v", s, statuses)
		}
	}
}
