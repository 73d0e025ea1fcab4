package linkd_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/linkd-dev/linkd"
)

// TestDecodeSharing reads the sharing fields of events of every shape —
// lane traffic, each kind of DCSA event, INVENTORY, attested and EDI-sourced
// events, with and without locations, transport calls and vessels — and
// checks that they are those DecodeCanonical reads, and that a truncated
// encoding is refused or, cut after the residency, read whole.
func TestDecodeSharing(t *testing.T) {
	attested := validAttestation()
	sourced := validShipment()
	sourced.Source = &linkd.Source{Syntax: "EDIFACT", MessageType: "IFTSTA", Sender: "OCEANIC", InterchangeControlNumber: "42"}
	sourced.Visibility = []string{"oceanic-lines"}
	sourced.Residency = []string{"EU", "VN"}
	events := append(generated(200), validShipment(), validTransport(), validEquipment(), validReallocation(), validStock(), attested, sourced, linkd.Event{})
	for i := range events {
		e := &events[i]
		enc := linkd.AppendCanonical(nil, e)
		got, err := linkd.DecodeSharing(enc)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		want := e.Sharing()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d: DecodeSharing = %+v, want %+v", i, got, want)
		}
		// A cut encoding is refused, or, cut after the residency, read
		// whole: never read wrong.
		refused := 0
		for n := range len(enc) {
			s, err := linkd.DecodeSharing(enc[:n])
			switch {
			case errors.Is(err, linkd.ErrNotCanonical):
				refused++
			case err != nil:
				t.Fatalf("event %d cut to %d of %d bytes: error %v does not wrap ErrNotCanonical", i, n, len(enc), err)
			case !reflect.DeepEqual(s, want):
				t.Fatalf("event %d cut to %d of %d bytes: DecodeSharing = %+v, want %+v or an error", i, n, len(enc), s, want)
			}
		}
		if refused == 0 {
			t.Fatalf("event %d: no cut refused", i)
		}
	}
}
