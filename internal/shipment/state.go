package shipment

import (
	"cmp"
	"slices"

	"github.com/linkd-dev/linkd"
)

var (
	bookingStatus = map[string]Status{
		"RECE": BookingRequested, "REQS": BookingRequested, "SUBM": BookingRequested,
		"PENA": BookingRequested, "PENU": BookingRequested,
		"REJE": BookingRejected,
		"CONF": Booked, "APPR": Booked, "ISSU": Booked, "CMPL": Booked,
	}
	equipmentStatus = map[string]Status{
		"STUF": Stuffed, "PICK": PickedUp, "GTIN": GatedIn, "LOAD": Loaded,
		"DISC": Discharged, "GTOT": GatedOut, "DROP": Delivered, "STRP": Delivered,
	}
)

func bookingPhase(s Status) bool {
	return s == Unknown || s == BookingRequested || s == BookingRejected || s == Booked
}

func bookingDocument(code string) bool { return code == "" || code == "CBR" || code == "BKG" }

// place is where an event happened: its eventLocation, else its transport
// call's location.
func place(e *linkd.Event) *linkd.Location {
	if e.EventLocation != nil {
		return e.EventLocation
	}
	if e.TransportCall != nil {
		return e.TransportCall.Location
	}
	return nil
}

func placeKey(l *linkd.Location) string {
	switch {
	case l == nil:
		return ""
	case l.UNLocationCode != "":
		return l.UNLocationCode
	case l.FacilityCode != "":
		return l.FacilityCode
	}
	return l.LocationName
}

// walk is the state of one pass over the timeline.
type walk struct {
	tl    []Entry
	index map[key]int

	milestone    Status
	runFirst     *Entry // first event of the newest run of milestone
	completed    *Entry // in a run of deliveries, the one that delivered the last container
	ashore       bool   // the newest laden container move was not LOAD
	delivered    map[string]bool
	cancel       *Entry
	holds        []openHold
	explicitRels map[int]bool // positions of holds a RELS named in causedBy
	lastAct      *Entry
	lastPlace    *linkd.Location
	arrivals     []int
}

type openHold struct {
	pos  int
	open bool
}

func (w *walk) move(s Status, e *Entry) {
	if s != w.milestone {
		w.milestone, w.runFirst, w.completed = s, e, nil
	}
}

func derive(ref string, tl []Entry, index map[key]int) State {
	st := State{Ref: ref, Status: Unknown, Events: len(tl)}
	w := walk{tl: tl, index: index, milestone: Unknown}
	for i := range tl {
		e := &tl[i]
		if !e.Counts() {
			continue
		}
		ev := &e.Event
		st.Bookings = addUnique(st.Bookings, ev.CarrierBookingReference)
		st.TransportDocuments = addUnique(st.TransportDocuments, ev.TransportDocumentReference)
		st.Equipment = addUnique(st.Equipment, ev.EquipmentReference)
		for _, p := range ev.Parties {
			if !slices.Contains(st.Parties, p) {
				st.Parties = append(st.Parties, p)
			}
		}
		if ev.EventType == linkd.Transport && ev.TransportEventTypeCode == "ARRI" {
			w.arrivals = append(w.arrivals, i)
		}
		if ev.EventClassifierCode == "ACT" {
			w.actual(i)
		}
	}
	slices.Sort(st.Bookings)
	slices.Sort(st.TransportDocuments)
	slices.Sort(st.Equipment)
	slices.SortFunc(st.Parties, func(a, b linkd.ShipmentParty) int {
		return cmp.Or(cmp.Compare(a.Party, b.Party), cmp.Compare(a.Role, b.Role))
	})

	firstHold := -1
	for _, h := range w.holds {
		if h.open && !w.explicitRels[h.pos] {
			if firstHold < 0 {
				firstHold = h.pos
			}
			ev := &tl[h.pos].Event
			st.OpenHolds = append(st.OpenHolds, Hold{
				EventID: ev.EventID, Origin: ev.Origin, Since: ev.EventDateTime, Reason: ev.Reason,
				DocumentTypeCode: ev.DocumentTypeCode, EquipmentReference: ev.EquipmentReference,
			})
		}
	}

	var by *Entry
	switch {
	case w.cancel != nil:
		st.Status, by = Cancelled, w.cancel
	case len(st.OpenHolds) > 0:
		st.Status, by = OnHold, &tl[firstHold]
	case w.milestone == Delivered && w.completed != nil:
		st.Status, by = Delivered, w.completed
	case w.milestone == Delivered:
		st.Status, by = PartlyDelivered, w.runFirst
	case w.milestone != Unknown:
		st.Status, by = w.milestone, w.runFirst
	}
	if by != nil {
		t := by.Event.EventDateTime
		st.StatusSince, st.StatusEvent = &t, by.Event.EventID
	}
	if w.lastAct != nil {
		st.LastEvent = w.lastAct.Event.EventID
	}
	if w.lastPlace != nil {
		l := *w.lastPlace
		st.LastLocation = &l
	}
	st.ETA = w.eta()
	return st
}

// actual applies the ACT event at position i.
func (w *walk) actual(i int) {
	e := &w.tl[i]
	ev := &e.Event
	w.lastAct = e
	if l := place(ev); l != nil {
		w.lastPlace = l
	}
	switch ev.EventType {
	case linkd.Shipment:
		code := ev.ShipmentEventTypeCode
		switch {
		case code == "HOLD":
			w.holds = append(w.holds, openHold{pos: i, open: true})
		case code == "RELS":
			w.release(i)
			if !bookingPhase(w.milestone) {
				w.move(Released, e)
			}
		case code == "CANC" && bookingDocument(ev.DocumentTypeCode):
			if w.cancel == nil {
				w.cancel = e
			}
		case bookingDocument(ev.DocumentTypeCode) && bookingPhase(w.milestone):
			if s, ok := bookingStatus[code]; ok {
				w.move(s, e)
			}
		}
	case linkd.Transport:
		if w.ashore {
			return
		}
		switch ev.TransportEventTypeCode {
		case "ARRI":
			w.move(Arrived, e)
		case "DEPA":
			w.move(InTransit, e)
		}
	case linkd.Equipment:
		code := ev.EquipmentEventTypeCode
		if ev.EmptyIndicatorCode == "EMPTY" {
			if code == "PICK" && bookingPhase(w.milestone) {
				w.move(EmptyPickedUp, e)
			}
			return
		}
		s, ok := equipmentStatus[code]
		if !ok {
			return // INSP, RSEA, RMVD
		}
		w.ashore = code != "LOAD"
		if w.delivered == nil {
			w.delivered = map[string]bool{}
		}
		w.delivered[ev.EquipmentReference] = s == Delivered
		w.move(s, e)
		if s == Delivered && w.completed == nil && w.allDelivered() {
			w.completed = e
		}
	}
}

// release applies the RELS at position i to the holds.
func (w *walk) release(i int) {
	rels := &w.tl[i].Event
	named := false
	for _, id := range rels.CausedBy {
		j, ok := w.index[key{rels.Origin, id}]
		if !ok {
			continue
		}
		j = current(w.tl, w.index, j)
		h := &w.tl[j]
		if h.Counts() && h.Event.EventClassifierCode == "ACT" && h.Event.EventType == linkd.Shipment && h.Event.ShipmentEventTypeCode == "HOLD" {
			if w.explicitRels == nil {
				w.explicitRels = map[int]bool{}
			}
			w.explicitRels[j], named = true, true
		}
	}
	if named {
		return
	}
	for k := range w.holds {
		h := &w.tl[w.holds[k].pos].Event
		if h.Origin == rels.Origin &&
			(rels.DocumentTypeCode == "" || rels.DocumentTypeCode == h.DocumentTypeCode) &&
			(rels.EquipmentReference == "" || rels.EquipmentReference == h.EquipmentReference) {
			w.holds[k].open = false
		}
	}
}

func (w *walk) allDelivered() bool {
	for _, d := range w.delivered {
		if !d {
			return false
		}
	}
	return true
}

var classifierRank = map[string]int{"PLN": 1, "EST": 2, "ACT": 3}

// eta finds the destination and the best arrival there.
func (w *walk) eta() *Arrival {
	if len(w.arrivals) == 0 {
		return nil
	}
	// The timeline is in eventDateTime order, so the last ARRI is the latest-dated.
	dest := ""
	for k := len(w.arrivals) - 1; k >= 0 && dest == ""; k-- {
		dest = placeKey(place(&w.tl[w.arrivals[k]].Event))
	}
	if dest == "" {
		return nil
	}
	var best *Entry
	for _, i := range w.arrivals {
		e := &w.tl[i]
		if placeKey(place(&e.Event)) != dest {
			continue
		}
		if best == nil || newerArrival(e, best) {
			best = e
		}
	}
	return &Arrival{
		Location: dest, Time: best.Event.EventDateTime, Classifier: best.Event.EventClassifierCode,
		EventID: best.Event.EventID, Origin: best.Event.Origin,
	}
}

// newerArrival reports whether a is a better statement of the arrival than
// b: a better classifier, else recorded more recently.
func newerArrival(a, b *Entry) bool {
	if ra, rb := classifierRank[a.Event.EventClassifierCode], classifierRank[b.Event.EventClassifierCode]; ra != rb {
		return ra > rb
	}
	return cmp.Or(
		cmp.Compare(a.Event.HLC, b.Event.HLC),
		cmp.Compare(a.Event.Origin, b.Event.Origin),
		cmp.Compare(a.LogIndex, b.LogIndex),
		cmp.Compare(a.Event.EventID, b.Event.EventID),
	) > 0
}

func addUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// The view's types live in the root package, so the Go client can return
// them; these names keep this package's code short.
type (
	Status  = linkd.ShipmentStatus
	State   = linkd.ShipmentState
	Arrival = linkd.Arrival
	Hold    = linkd.Hold
	Entry   = linkd.TimelineEntry
)

const (
	Unknown          = linkd.StatusUnknown
	BookingRequested = linkd.StatusBookingRequested
	BookingRejected  = linkd.StatusBookingRejected
	Booked           = linkd.StatusBooked
	EmptyPickedUp    = linkd.StatusEmptyPickedUp
	Stuffed          = linkd.StatusStuffed
	PickedUp         = linkd.StatusPickedUp
	GatedIn          = linkd.StatusGatedIn
	Loaded           = linkd.StatusLoaded
	InTransit        = linkd.StatusInTransit
	Arrived          = linkd.StatusArrived
	Discharged       = linkd.StatusDischarged
	Released         = linkd.StatusReleased
	GatedOut         = linkd.StatusGatedOut
	PartlyDelivered  = linkd.StatusPartlyDelivered
	Delivered        = linkd.StatusDelivered
	OnHold           = linkd.StatusOnHold
	Cancelled        = linkd.StatusCancelled
)
