package partylog

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// scanAll pages through q with q.Limit events a page and returns every
// event, checking that each page but the last is full and only the last
// has no cursor.
func scanAll(t *testing.T, s Scanner, q Query) []linkd.Recorded {
	t.Helper()
	var all []linkd.Recorded
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the cursors never end")
		}
		p, err := s.Scan(context.Background(), q)
		if err != nil {
			t.Fatalf("scan %+v: %v", q, err)
		}
		all = append(all, p.Events...)
		if p.Next == "" {
			return all
		}
		if len(p.Events) != q.Limit {
			t.Fatalf("a page with a cursor after it holds %d events, want %d", len(p.Events), q.Limit)
		}
		q.Cursor = p.Next
	}
}

// TestScanReadsInTimeOrderAroundErasedEvents: a scan reads its page's events
// in log order but answers them in event-time order, with their own salts;
// events erased in the middle of a page leave room for the next ones, so
// every page but the last is full and paging finds each remaining event
// exactly once, for sealed records and records in the clear alike.
func TestScanReadsInTimeOrderAroundErasedEvents(t *testing.T) {
	ctx := context.Background()
	skey, _, _ := testKey(t)
	s := openSealed(t, t.TempDir(), skey)
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(7, 8))
	evs := events(44, 90)
	for i := range evs {
		// One B/L over three bookings, event times out of log order.
		evs[i].TransportDocumentReference = "BL-MIXED"
		evs[i].CarrierBookingReference = fmt.Sprintf("BKG-%d", i%3)
		evs[i].EventDateTime = linkd.Time{Time: base.Add(time.Duration(rng.IntN(500)) * time.Minute)}
	}
	type want struct {
		t     time.Time
		index int64
		id    string
	}
	var sealedWant, clearWant []want
	for start := 0; start < len(evs); start += 30 {
		batch := evs[start : start+30]
		sacks, err := s.log.Append(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		cacks := h.append(batch...)
		for i := range batch {
			w := want{batch[i].EventDateTime.Time, sacks[i].LogIndex, sacks[i].EventID}
			if batch[i].CarrierBookingReference != "BKG-1" {
				sealedWant = append(sealedWant, w)
			}
			clearWant = append(clearWant, want{w.t, cacks[i].LogIndex, cacks[i].EventID})
		}
	}
	if err := s.keys.Destroy("b:BKG-1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		log  *Log
		want []want
	}{{"sealed, a third erased", s.log, sealedWant}, {"clear", h.log, clearWant}} {
		slices.SortFunc(c.want, func(a, b want) int { return cmp.Or(a.t.Compare(b.t), cmp.Compare(a.index, b.index)) })
		for _, limit := range []int{1, 7, 29, MaxPageSize} {
			t.Run(fmt.Sprintf("%s/limit %d", c.name, limit), func(t *testing.T) {
				got := scanAll(t, c.log, Query{Index: ByTransportDocument, Value: "BL-MIXED", Limit: limit})
				if len(got) != len(c.want) {
					t.Fatalf("%d events, want %d", len(got), len(c.want))
				}
				for i, rec := range got {
					w := c.want[i]
					if rec.LogIndex != w.index || rec.Event.EventID != w.id || !rec.Event.EventDateTime.Equal(w.t) {
						t.Fatalf("event %d is %s at index %d (%s), want %s at index %d (%s)",
							i, rec.Event.EventID, rec.LogIndex, rec.Event.EventDateTime, w.id, w.index, w.t)
					}
					if rec.Commitment() != mustLeafData(t, c.log, rec.LogIndex) {
						t.Fatalf("event %d (index %d) does not hash to its leaf: its salt or payload is another's", i, rec.LogIndex)
					}
				}
			})
		}
	}
}
