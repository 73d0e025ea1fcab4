package httpapi

import (
	"context"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/shipment"
)

// maxTimeline bounds the events one shipment view gathers. A real shipment
// has tens; a reference shared by more (a reused container number over
// years) keeps the oldest maxTimeline and says so in Truncated.
const maxTimeline = 5000

// viewBufs holds buffers for shipment views once written: a 40-event
// timeline is about 25 KB of JSON, and growing a fresh buffer to it for
// every query made a third of the query's garbage. A buffer grown past
// maxPooledView (a timeline of hundreds of events) is left to the collector.
var viewBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledView = 256 << 10

// getShipment answers a shipment's merged timeline and derived state. ref
// is looked up as a booking, then a transport document, then a container:
// the first index that holds it wins.
func (s *Server) getShipment(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("ref")
	if ref == "" || len(ref) > 100 || !utf8.ValidString(ref) {
		return linkd.Errorf(linkd.EInvalid, "shipment reference: want a booking, B/L or container number of 1 to 100 characters")
	}
	for _, ix := range []partylog.Index{partylog.ByBooking, partylog.ByTransportDocument, partylog.ByEquipment} {
		recs, truncated, err := s.gather(r.Context(), ix, ref)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		state, timeline := shipment.Build(ref, recs)
		view := linkd.ShipmentView{State: state, Timeline: timeline, Truncated: truncated}
		buf := viewBufs.Get().(*[]byte)
		body := append(shipment.AppendJSON((*buf)[:0], &view), '\n')
		writeBody(w, http.StatusOK, body)
		if cap(body) <= maxPooledView {
			*buf = body
			viewBufs.Put(buf)
		}
		return nil
	}
	return linkd.Errorf(linkd.ENotFound, "no events name %q as a booking, B/L or container", clip(ref))
}

func (s *Server) gather(ctx context.Context, ix partylog.Index, ref string) ([]linkd.Recorded, bool, error) {
	return partylog.Collect(ctx, s.reader(), partylog.Query{Index: ix, Value: ref}, maxTimeline)
}
