package partylog

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// hit is one index entry a scan takes: the position of an event.
type hit struct {
	pos   [positionLen]byte // time(8) log(4) index(8), as in the index key
	num   uint32
	index int64
}

// readHits appends the events at hits to dst, in the order of hits, leaving
// out those whose payload this node does not hold (erased, or a replica's
// entry held as its commitment only). It returns the position in hits of the
// last event it kept, or -1.
//
// The events of one index value (a shipment's, say) lie far apart in the
// log, each in a block of its own, and reading those blocks is most of a
// scan's cost (about 50 block reads and 70% of the CPU of a 40-event
// timeline at ten million events). readOrdered keeps the rest small: it
// reads in key order through one iterator, set in turn to bounds that hold
// just the event's key, so only the tables whose range holds the key are
// searched, no table's bloom filter is loaded (every record exists, so a
// filter cannot save a read), and nothing is positioned in the levels that
// do not hold the key, as an unbounded seek would.
func readHits(ctx context.Context, db *pebble.DB, sealer Sealer, hits []hit, dst []linkd.Recorded) ([]linkd.Recorded, int, error) {
	if len(hits) == 0 {
		return dst, -1, nil
	}
	order := make([]int32, len(hits))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(hits[a].num, hits[b].num); c != 0 {
			return c
		}
		return cmp.Compare(hits[a].index, hits[b].index)
	})
	base, in := len(dst), dst
	dst = slices.Grow(dst, len(hits))[:base+len(hits)]
	kept := make([]bool, len(hits))
	if err := readOrdered(ctx, db, sealer, hits, order, dst[base:], kept); err != nil {
		return nil, -1, err
	}
	// Close the gaps the missing left, keeping the order of hits.
	last, n := -1, base
	for i, k := range kept {
		if k {
			dst[n] = dst[base+i]
			n++
			last = i
		}
	}
	clear(dst[n:])
	if n == base {
		return in, -1, nil
	}
	return dst[:n], last, nil
}

// readOrdered reads the events at hits[i] for each i of order, which is in
// key order, into out[i], and sets kept[i] for those it holds.
func readOrdered(ctx context.Context, db *pebble.DB, sealer Sealer, hits []hit, order []int32, out []linkd.Recorded, kept []bool) error {
	// One iterator, bounded to each event's key in turn (see readHits).
	it, err := db.NewIterWithContext(ctx, &pebble.IterOptions{})
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer it.Close()
	var buf, key, upper []byte // opened sealed records; the key sought and its successor
	s := space{db: db, sealer: sealer}
	for _, i := range order {
		h := &hits[i]
		s.num = h.num
		key = s.appendKey(key[:0], prefixEvent, uint64(h.index))
		upper = s.appendKey(upper[:0], prefixEvent, uint64(h.index)+1)
		it.SetBounds(key, upper)
		var v []byte // nil: no record, which decodeRecord reports
		if it.First() {
			if v, err = it.ValueAndErr(); err != nil {
				return fmt.Errorf("read event %d: %w", h.index, err)
			}
		} else if err := it.Error(); err != nil {
			return fmt.Errorf("read event %d: %w", h.index, err)
		}
		var rec linkd.Recorded
		rec, err = s.decodeRecord(h.index, v, &buf, true)
		if IsErased(err) || linkd.ErrorCode(err) == linkd.ENotFound {
			continue // the index entries of an erased event outlive its payload
		}
		if err != nil {
			return err
		}
		out[i], kept[i] = rec, true
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}
