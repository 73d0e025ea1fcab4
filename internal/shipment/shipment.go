// Package shipment merges the events of one shipment, from one or many
// parties' logs, into a timeline and derives the shipment's state from it:
// status, open holds, arrival at the destination, last position, references
// and party list. It backs GET /v1/shipments/{ref}.
//
// Build is a pure function of the set of records it is given. The same
// records in any order, with any of them repeated, give a deep-equal timeline
// and State. (Copies of an event decoded separately may hold its zone offset
// in different time.Location values; the results then encode identically.)
// Build reads no clock and no configuration. That is what lets
// every node holding the same events show the same shipment state however
// links delivered them (strong eventual consistency). The caller decides
// which records belong to the shipment (for instance by the booking, B/L and
// container indexes); Build does not filter them by ref.
//
// # Timeline
//
// An event is identified by its origin and event id. The same event seen
// twice (twice in the input, or from two links) appears once. If two records
// with one origin and id disagree, which a verified log never allows, the
// first in timeline order is kept. The timeline is a total order, independent
// of input order, by:
//
//  1. eventDateTime, as an instant (the zone offset does not matter);
//  2. HLC stamp;
//  3. origin;
//  4. log index;
//  5. event id;
//  6. canonical encoding, which only two different records that agree on
//     all of the above ever reach.
//
// Plans and estimates sit at the time they plan or estimate.
//
// # Corrections
//
// A party corrects only its own events, and only events it recorded earlier.
// An event naming RetractedEventID or SupersedesEventID applies to the event
// with that id and the same origin whose (HLC, log index) is smaller. A
// reference to anything else (another party's event, a later event, an event
// not in the set) has no effect.
//
//   - A retracted event stays in the timeline with RetractedBy set.
//   - A superseded event stays in the timeline with SupersededBy set; its
//     successor takes its place in the derived state. When several events
//     supersede one, the most recently recorded is its successor, and the
//     earlier successors are superseded by that one too.
//   - A retraction event itself states no fact. It stays in the timeline but
//     counts for nothing, whether or not its target is present.
//   - A retracted correction has no effect: retracting a retraction restores
//     its target; retracting a successor restores what it superseded.
//
// An entry counts for the derived state (Entry.Counts) when it is not
// retracted, not superseded and not a retraction. Everything below reads
// only entries that count.
//
// # Status
//
// Only actual (ACT) events move the status; plans and estimates never do.
// Walking the timeline in order, each ACT milestone sets the milestone
// status, so the newest milestone wins and a late-arriving event slots into
// its place in time instead of overriding newer facts:
//
//	BOOKING_REQUESTED  shipment RECE, REQS, SUBM, PENA or PENU of the booking
//	BOOKING_REJECTED   shipment REJE of the booking
//	BOOKED             shipment CONF, APPR, ISSU or CMPL of the booking
//	EMPTY_PICKED_UP    equipment PICK of an EMPTY container
//	STUFFED            equipment STUF
//	PICKED_UP          equipment PICK of a laden container
//	GATED_IN           equipment GTIN
//	LOADED             equipment LOAD
//	IN_TRANSIT         transport DEPA
//	ARRIVED            transport ARRI
//	DISCHARGED         equipment DISC
//	RELEASED           shipment RELS (cargo released by customs or the carrier)
//	GATED_OUT          equipment GTOT
//	DELIVERED          equipment DROP of a laden container, or STRP
//
// with these conditions:
//
//   - "Of the booking" means documentTypeCode CBR, BKG or none. Booking
//     events and PICK of an empty container move the status only during the
//     booking phase (UNKNOWN, BOOKING_REQUESTED, BOOKING_REJECTED, BOOKED):
//     once cargo moves, a booking amendment or a late confirmation does not
//     send the shipment back. Events about other documents (SI, B/L, VGM …)
//     do not move the status.
//   - Other moves of an empty container (its return after delivery, say)
//     are equipment logistics, not the cargo's journey: they leave the status.
//     An equipment event without an emptyIndicatorCode counts as laden.
//   - RELS moves the status only after the booking phase.
//   - A vessel's ARRI and DEPA move the status only while the cargo may be on
//     board: not when the newest laden container move is anything but LOAD.
//     So the vessel arriving at the port of loading while the container waits
//     at the gate, or leaving after discharge, changes nothing. A node that
//     holds no container moves at all (one entitled only to the carrier's
//     events) lets every ARRI and DEPA count.
//   - INSP, RSEA and RMVD record something done to a container, not a step
//     of its journey: they leave the status.
//   - DELIVERED means every container: a container belongs to the shipment
//     once a laden move names it, and is delivered when its newest laden
//     move is a delivery. When the newest milestone is a delivery and some
//     container is not delivered, the status is PARTLY_DELIVERED.
//
// Over the milestone status, in order of precedence:
//
//	CANCELLED  an ACT CANC of the booking. It is final: later events do
//	           not undo it; only retracting or superseding the CANC does.
//	           CANC of another document does not cancel the shipment.
//	ON_HOLD    while any hold is open (see Holds).
//	UNKNOWN    no milestone yet: no events, or only plans and estimates.
//
// StatusSince and StatusEvent name the event that put the shipment into its
// status: for a milestone, the first event of the newest run of that status
// (LOADED on three containers stays LOADED since the first load, and
// PARTLY_DELIVERED dates from the first delivery); for DELIVERED, the
// delivery of the last container; for ON_HOLD, the earliest open hold; for
// CANCELLED, the earliest CANC.
//
// # Holds
//
// Each ACT shipment HOLD opens a hold, whatever document it is about. An ACT
// RELS closes holds of its own origin only, so no party can lift another's
// hold (a shipper cannot release a customs hold):
//
//   - If its causedBy names holds of its origin (directly, or an event since
//     superseded by a hold), it closes exactly those, wherever they sit in
//     the timeline.
//   - Otherwise it closes every open hold of its origin that precedes it in
//     the timeline and is in its scope: the RELS's documentTypeCode and
//     equipmentReference, where given, must equal the hold's. A RELS that
//     gives neither releases all of its origin's earlier holds; one naming a
//     container does not release a hold on the whole shipment.
//
// Reason text is free and never matched. A superseded hold is replaced by its
// successor (a HOLD with a corrected reason stays open under the new id; a
// successor of another kind ends it); a retracted hold was never open. Open
// holds are listed in timeline order.
//
// # ETA
//
// The destination is the place (UN/LOCODE, else facility code, else name) of
// the latest-dated transport ARRI event of any classifier: the last port call
// the plans, estimates and facts know of. ETA is the arrival there: the ACT
// ARRI once it exists, else an EST, else a PLN; among several of the best
// classifier, the most recently recorded (highest HLC, then origin, log index
// and event id) wins, so a newer estimate replaces an older one whatever
// times they name. Arrival.Classifier says which kind it is.
//
// # Other fields
//
// LastEvent and LastLocation are the newest ACT event and the place of the
// newest ACT event that has one (eventLocation, else transportCall.location),
// of any kind. Bookings, TransportDocuments and Equipment are every reference
// the counting events name, sorted. Parties is the union of the (party, role)
// pairs the counting events declare, sorted by party then role; a party with
// two roles appears twice.
package shipment

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/linkd-dev/linkd"
)

// Compare orders entries as a timeline does: by eventDateTime, HLC, origin,
// log index, event id and finally canonical encoding. It returns 0 only for
// entries whose events are identical and share a log index.
func Compare(a, b *Entry) int { return compare(&a.Event, a.LogIndex, &b.Event, b.LogIndex) }

// CompareRecorded orders recorded events as a timeline does (Compare).
func CompareRecorded(a, b *linkd.Recorded) int {
	return compare(&a.Event, a.LogIndex, &b.Event, b.LogIndex)
}

func compare(a *linkd.Event, ai int64, b *linkd.Event, bi int64) int {
	if c := a.EventDateTime.Compare(b.EventDateTime.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.HLC, b.HLC); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	if c := cmp.Compare(ai, bi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.EventID, b.EventID); c != 0 {
		return c
	}
	return bytes.Compare(linkd.AppendCanonical(nil, a), linkd.AppendCanonical(nil, b))
}

// Build merges records of one shipment into its timeline and derives its
// state, by the rules of the package comment. ref is only echoed in
// State.Ref. The records are not modified; the timeline's events share their
// slices and pointers, so neither should be modified afterwards. With no
// records, Build returns State{Ref: ref, Status: Unknown} and a nil timeline.
func Build(ref string, records []linkd.Recorded) (State, []Entry) {
	tl, index := merge(records)
	correct(tl, index)
	return derive(ref, tl, index), tl
}

// key identifies an event: ids are unique per origin, and corrections only
// reach within one origin.
type key struct{ origin, id string }

func keyOf(e *linkd.Event) key {
	if e.EventID == "" {
		// Never so for recorded events; keep unidentified events apart by content.
		return key{e.Origin, "\x00" + string(linkd.AppendCanonical(nil, e))}
	}
	return key{e.Origin, e.EventID}
}

// merge sorts the records into timeline order and drops repeats of an event,
// returning the timeline and each event's position in it.
func merge(records []linkd.Recorded) ([]Entry, map[key]int) {
	if len(records) == 0 {
		return nil, nil
	}
	// Sort small keys holding the leading fields of the order, so most
	// comparisons are of integers; compare settles the rest.
	type sortKey struct {
		sec  int64
		nsec int32
		hlc  linkd.HLC
		r    *linkd.Recorded
	}
	order := make([]sortKey, len(records))
	for i := range records {
		r := &records[i]
		order[i] = sortKey{r.Event.EventDateTime.Unix(), int32(r.Event.EventDateTime.Nanosecond()), r.Event.HLC, r}
	}
	slices.SortFunc(order, func(a, b sortKey) int {
		if c := cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.hlc, b.hlc)); c != 0 {
			return c
		}
		return compare(&a.r.Event, a.r.LogIndex, &b.r.Event, b.r.LogIndex)
	})
	tl := make([]Entry, 0, len(order))
	index := make(map[key]int, len(order))
	for _, o := range order {
		r := o.r
		k := keyOf(&r.Event)
		if _, dup := index[k]; dup {
			continue
		}
		index[k] = len(tl)
		tl = append(tl, Entry{Event: r.Event, LogIndex: r.LogIndex})
	}
	return tl, index
}

// recordedBefore reports whether a was recorded before b by their origin
// (both are of one origin): HLC stamps increase along a log, and the log
// index orders events whose node set no stamp.
func recordedBefore(a, b *Entry) bool {
	if a.Event.HLC != b.Event.HLC {
		return a.Event.HLC < b.Event.HLC
	}
	return a.LogIndex < b.LogIndex
}

// target returns the position of the event that tl[i] may correct under id.
func target(tl []Entry, index map[key]int, i int, id string) (int, bool) {
	j, ok := index[key{tl[i].Event.Origin, id}]
	if !ok || !recordedBefore(&tl[j], &tl[i]) {
		return 0, false
	}
	return j, true
}

// correct sets RetractedBy and SupersededBy. It visits entries from the most
// recently recorded back, so whether an entry is itself retracted is settled
// (by entries recorded after it) before its own correction is applied, and
// since corrections only reach earlier entries there are no cycles.
func correct(tl []Entry, index map[key]int) {
	order := make([]int, 0, len(tl))
	for i := range tl {
		if tl[i].Event.RetractedEventID != "" || tl[i].Event.SupersedesEventID != "" {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return
	}
	slices.SortFunc(order, func(a, b int) int {
		if recordedBefore(&tl[a], &tl[b]) {
			return 1
		}
		if recordedBefore(&tl[b], &tl[a]) {
			return -1
		}
		return cmp.Compare(b, a) // equal stamps: later in the timeline first
	})
	for _, i := range order {
		e := &tl[i]
		if e.RetractedBy != "" {
			continue // a retracted correction has no effect
		}
		if id := e.Event.RetractedEventID; id != "" {
			if j, ok := target(tl, index, i, id); ok && tl[j].RetractedBy == "" {
				tl[j].RetractedBy = e.Event.EventID
			}
			continue
		}
		j, ok := target(tl, index, i, e.Event.SupersedesEventID)
		if !ok {
			continue
		}
		if tl[j].SupersededBy == "" {
			tl[j].SupersededBy = e.Event.EventID
		} else if e.SupersededBy == "" {
			// A later successor of the same event replaces this one too.
			e.SupersededBy = tl[j].SupersededBy
		}
	}
}

// current follows the supersession chain from position j to the version of
// the event that counts now.
func current(tl []Entry, index map[key]int, j int) int {
	for tl[j].SupersededBy != "" {
		j = index[key{tl[j].Event.Origin, tl[j].SupersededBy}]
	}
	return j
}
