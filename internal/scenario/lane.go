package scenario

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// The lane's cast: the nine parties of the Vietnam→EU lane, each with the
// site that places its node on a map. Every party records only its own
// events; Lane says who records what.
var (
	Shipper          = linkd.Party{ID: "hanoi-electronics", Name: "Hanoi Electronics", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHAN"}
	HaiphongTerminal = linkd.Party{ID: Terminal.ID, Name: Terminal.Name, Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHPH"}
	Carrier          = linkd.Party{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}, Location: "SGSIN"}
	Forwarder        = linkd.Party{ID: "vn-forwarding", Name: "VN Forwarding", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHAN"}
	Customs          = linkd.Party{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"DE", "EU"}, Location: "DEHAM"}
	DCHamburg        = linkd.Party{ID: "dc-hamburg", Name: "DC Hamburg", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}, Location: "DEHAM"}
	DCRotterdam      = linkd.Party{ID: "dc-rotterdam", Name: "DC Rotterdam", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"NL", "EU"}, Location: "NLRTM"}
	DCAntwerp        = linkd.Party{ID: "dc-antwerp", Name: "DC Antwerp", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"BE", "EU"}, Location: "BEANR"}
	Retailer         = linkd.Party{ID: "eu-retailer", Name: "EU Retailer", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"NL", "EU"}, Location: "NLAMS"}
)

// Cast returns the lane's parties, origin to destination. The slices are
// fresh copies.
func Cast() []linkd.Party {
	out := []linkd.Party{Shipper, HaiphongTerminal, Carrier, Forwarder, Customs, DCHamburg, DCRotterdam, DCAntwerp, Retailer}
	for i := range out {
		out[i].Roles = slices.Clone(out[i].Roles)
		out[i].Jurisdiction = slices.Clone(out[i].Jurisdiction)
	}
	return out
}

// Centres are the retailer's distribution centres, each served through the
// port next to it.
// CentreRules is the rules file every distribution centre of the lane runs
// (docs/rules.md): an ACT customs HOLD of an inbound shipment re-allocates
// the orders the centre allocated against it to the other centres with
// stock, and the matching RELS takes back what still makes sense.
const CentreRules = `# The distribution centre's rules (see docs/rules.md).
rules:
  - id: reallocate-on-hold
    name: Re-allocate the orders of a shipment customs holds
    when:
      shipmentEventTypeCodes: [HOLD]
      documentTypeCodes: [CUS]
      eventClassifierCodes: [ACT]
    action:
      reallocate: {}
  - id: restore-on-release
    name: Take orders back when customs releases their shipment
    when:
      shipmentEventTypeCodes: [RELS]
      documentTypeCodes: [CUS]
      eventClassifierCodes: [ACT]
    action:
      restore: {}
`

var Centres = []Centre{
	{Party: DCRotterdam.ID, Port: Rotterdam, Site: Place{"DC Rotterdam Waalhaven", "NLRTM", "", "51.8910", "4.4280"}, Share: 3},
	{Party: DCHamburg.ID, Port: Hamburg, Site: Place{"DC Hamburg Billbrook", "DEHAM", "", "53.5370", "10.0910"}, Share: 4},
	{Party: DCAntwerp.ID, Port: Antwerp, Site: Place{"DC Antwerp Noord", "BEANR", "", "51.2630", "4.4010"}, Share: 3},
}

// Centre is a distribution centre of the lane.
type Centre struct {
	Party string
	Port  Place // where its containers are discharged
	Site  Place // where they are delivered
	Share int   // containers of each weekly sailing
}

// CentreOf returns the centre of a party id.
func CentreOf(party string) (Centre, bool) {
	for _, c := range Centres {
		if c.Party == party {
			return c, true
		}
	}
	return Centre{}, false
}

// SKUs are the retailer's stock-keeping units on the lane: consumer
// electronics made in Vietnam.
var SKUs = []string{
	"TAB-10-64GB", "TAB-10-128GB", "TAB-8-32GB", "PHN-A5-128GB", "PHN-A5-256GB",
	"PHN-A7-256GB", "EAR-BUDS-2", "EAR-PRO-ANC", "HDP-OVER-500", "SPK-BT-MINI",
	"SPK-BT-XL", "WCH-FIT-2", "WCH-SMART-4", "CHG-65W-GAN", "CHG-30W",
	"CBL-USBC-2M", "PWR-BANK-10K", "PWR-BANK-20K", "KBD-BT-SLIM", "MSE-BT-ERGO",
}

// Step is one event of the lane's calendar: the party that records it on
// its own node, and when (simulated time; the event's eventCreatedDateTime).
type Step struct {
	At     time.Time
	Origin string
	Event  linkd.Event
}

// Hold is a customs inspection of one booking: a HOLD where the release
// would have been, and the RELS Duration later.
type Hold struct {
	Booking  string        `json:"booking"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
}

// ContainersPerSailing is the containers (one booking each) on each weekly sailing.
const ContainersPerSailing = containersEach

const containersEach = 10

// Lane timing, relative to a sailing's departure from Haiphong (D).
const (
	week            = 7 * 24 * time.Hour
	day             = 24 * time.Hour
	bookingLead     = 12 * day // booking received
	journeyEnd      = 40 * day // the last fulfilment of a sailing's orders, at the latest
	ordersPer       = 6        // retailer orders allocated against each container
	historySailings = 5        // sailings already on their way when the lane's first window opens
	stockEvery      = 6 * time.Hour
	stockStagger    = 3 * time.Minute // between one SKU's position and the next
	stockHistory    = 24 * time.Hour  // stock positions recorded before the first window
)

// Lane is the calendar of the Vietnam→EU lane's traffic: an electronics
// retailer shipping about 50,000 units a month from Hanoi to its three EU
// distribution centres, ten containers (one booking each) on each weekly
// sailing. A feeder takes them from Haiphong to Singapore, where they are
// transhipped onto the mother vessel that calls Rotterdam, Hamburg and
// Antwerp. Each container's journey is the full DCSA sequence, each event
// recorded by the party that would record it: booking and vessel events by
// the carrier, stuffing by the shipper, gate-in and load by the terminal,
// shipping instructions by the forwarder, clearance by EU customs, delivery
// and stripping by the centre. The centres allocate retailer orders against
// inbound bookings (ALOC), fulfil them once the goods are in (FULF) and
// publish stock positions of 20 SKUs every six hours (STCK).
//
// The calendar is a pure function of the epoch, the seed and the holds:
// Between returns the same steps every time, so a run can stop anywhere and
// the next one continue where it stopped. The first window starts at the
// epoch with five sailings already at sea: History returns what they
// recorded before it.
//
// Lane is safe for concurrent use.
type Lane struct {
	epoch time.Time
	seed  uint64

	mu       sync.Mutex
	holds    map[string]Hold     // by booking; guarded by mu
	sailings map[int][]*shipment // by sailing number; guarded by mu
}

// NewLane returns the lane whose first window starts at epoch.
func NewLane(epoch time.Time, seed uint64) *Lane {
	return &Lane{epoch: epoch.UTC(), seed: seed, holds: map[string]Hold{}, sailings: map[int][]*shipment{}}
}

// Epoch is the start of the lane's first window.
func (l *Lane) Epoch() time.Time { return l.epoch }

// Start is when the lane's history begins: the first booking.
func (l *Lane) Start() time.Time { return l.departure(-historySailings).Add(-bookingLead) }

// departure is when sailing k leaves Haiphong: Saturdays 12:00 UTC (19:00
// in Haiphong), timed so that sailing -5 arrives in Hamburg 36 hours into
// the first window.
func (l *Lane) departure(k int) time.Time {
	return l.epoch.Add(5*day + 12*time.Hour + time.Duration(k)*week)
}

// Hold sets a customs inspection. Steps generated afterwards follow it.
func (l *Lane) Hold(h Hold) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holds[h.Booking] = h
	for k, ships := range l.sailings {
		for _, s := range ships {
			if s.booking == h.Booking {
				delete(l.sailings, k)
			}
		}
	}
}

// NextInspection returns the first booking for centre whose customs
// clearance falls at or after t: the shipment a customs hold at that time
// would stop. ok is false when none does within eight weeks.
func (l *Lane) NextInspection(t time.Time, centre string) (booking string, at time.Time, ok bool) {
	first := l.sailingAt(t.Add(-journeyEnd))
	for k := first; k < first+16; k++ {
		for _, s := range l.sailing(k) {
			if s.centre.Party != centre || s.clearance.Before(t) {
				continue
			}
			if !ok || s.clearance.Before(at) {
				booking, at, ok = s.booking, s.clearance, true
			}
		}
		if ok {
			return booking, at, true
		}
	}
	return "", time.Time{}, false
}

// Orders returns the orders the centre allocated against a booking, as
// the calendar has them.
func (l *Lane) Orders(booking string) []Order {
	serial := parseSerial(booking)
	if serial < 1 {
		return nil
	}
	for _, s := range l.sailing((serial-1)/containersEach - historySailings) {
		if s.booking == booking {
			return slices.Clone(s.orders)
		}
	}
	return nil
}

// Order is a retailer order allocated against an inbound booking.
type Order struct {
	ID       string
	Centre   string
	SKU      string
	Quantity int64
	Booking  string
	Fulfil   time.Time // when the centre ships it, if nothing moves it
	recorded time.Time // when the centre records the fulfilment
}

// sailingAt returns the number of the last sailing departing at or before t.
func (l *Lane) sailingAt(t time.Time) int {
	d := t.Sub(l.departure(0))
	k := int(d / week)
	if d < 0 && d%week != 0 {
		k--
	}
	return k
}

// History returns the steps recorded before the first window.
func (l *Lane) History() []Step { return l.Between(l.Start(), l.epoch) }

// Between returns the steps recorded in [from, to), in time order.
func (l *Lane) Between(from, to time.Time) []Step {
	var out []Step
	for k := max(-historySailings, l.sailingAt(from.Add(-journeyEnd))); !l.departure(k).Add(-bookingLead).After(to); k++ {
		for _, s := range l.sailing(k) {
			for _, st := range s.steps {
				if !st.At.Before(from) && st.At.Before(to) {
					st.Event = st.Event.Clone()
					out = append(out, st)
				}
			}
		}
	}
	// Stock positions, every six hours per centre and SKU.
	first := l.epoch.Add(-stockHistory)
	t := from
	if t.Before(first) {
		t = first
	}
	if r := t.Sub(first) % stockEvery; r != 0 {
		t = t.Add(stockEvery - r)
	}
	// A centre's warehouse system works through its SKUs one every three
	// minutes; positions from the round before `from` may still be due.
	for t = t.Add(-stockEvery); t.Before(to); t = t.Add(stockEvery) {
		for _, c := range Centres {
			for i, sku := range SKUs {
				if st := l.stock(c, sku, t, time.Duration(i)*stockStagger); !st.At.Before(from) && st.At.Before(to) && !t.Before(first) {
					out = append(out, st)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// StockAt is the units of sku on hand at a centre by the calendar, as its
// warehouse system knows them at t: a starting position, plus the
// containers stripped there, less the orders whose fulfilment it recorded
// before t.
func (l *Lane) StockAt(centre, sku string, t time.Time) int64 {
	ci := slices.IndexFunc(Centres, func(c Centre) bool { return c.Party == centre })
	if ci < 0 {
		return 0
	}
	rng := rand.New(rand.NewPCG(l.seed^0x51ac, uint64(ci)<<32|uint64(slices.Index(SKUs, sku))))
	n := int64(2500 + rng.IntN(2500))
	for k := -historySailings; !l.departure(k).After(t); k++ {
		for _, s := range l.sailing(k) {
			if s.centre.Party != centre {
				continue
			}
			if !s.stripped.After(t) {
				n += s.units[sku]
			}
			for _, o := range s.orders {
				if o.SKU == sku && o.recorded.Before(t) {
					n -= o.Quantity
				}
			}
		}
	}
	return max(0, n)
}

func (l *Lane) stock(c Centre, sku string, t time.Time, stagger time.Duration) Step {
	t = t.Add(stagger)
	at := t.Add(2 * time.Minute)
	e := linkd.Event{
		EventType:              linkd.Inventory,
		EventClassifierCode:    "ACT",
		EventDateTime:          linkd.Time{Time: t.In(zoneOf(c.Site))},
		EventCreatedDateTime:   linkd.Time{Time: at.In(zoneOf(c.Site))},
		InventoryEventTypeCode: "STCK",
		Inventory:              &linkd.InventoryLine{Facility: c.Party, SKU: sku, Quantity: l.StockAt(c.Party, sku, at)},
		EventLocation:          location(c.Site),
		// The retailer, the other centres (they plan re-allocations
		// against each other's stock) and the vendor.
		Parties: []linkd.ShipmentParty{
			{Party: c.Party, Role: linkd.RoleWarehouse},
			{Party: Retailer.ID, Role: linkd.RoleConsignee},
			{Party: Shipper.ID, Role: linkd.RoleShipper},
		},
	}
	for _, o := range Centres {
		if o.Party != c.Party {
			e.Parties = append(e.Parties, linkd.ShipmentParty{Party: o.Party, Role: linkd.RoleWarehouse})
		}
	}
	return Step{At: at, Origin: c.Party, Event: e}
}

// shipment is one booking's journey.
type shipment struct {
	booking, bl, container string
	centre                 Centre
	units                  map[string]int64 // by SKU
	clearance              time.Time        // customs clears (or holds) it
	stripped               time.Time        // goods in stock at the centre
	orders                 []Order
	steps                  []Step
}

// Vessels of the service: the feeder and the mother vessels, in weekly turn.
var (
	feeder        = linkd.Vessel{VesselIMONumber: imo(941288), VesselName: "Oceanic Mekong", VesselFlag: "VN", VesselCallSign: "XVMK7"}
	motherVessels = []linkd.Vessel{
		{VesselIMONumber: "9778791", VesselName: "Oceanic Harmony", VesselFlag: "SG", VesselCallSign: "9V5432"},
		{VesselIMONumber: imo(977912), VesselName: "Oceanic Horizon", VesselFlag: "SG", VesselCallSign: "9V5433"},
		{VesselIMONumber: imo(978034), VesselName: "Oceanic Serenity", VesselFlag: "SG", VesselCallSign: "9V5434"},
		{VesselIMONumber: imo(978146), VesselName: "Oceanic Pioneer", VesselFlag: "SG", VesselCallSign: "9V5435"},
		{VesselIMONumber: imo(978258), VesselName: "Oceanic Meridian", VesselFlag: "SG", VesselCallSign: "9V5436"},
	}
)

// imo returns the IMO number with the check digit of six digits.
func imo(six int) string {
	s := fmt.Sprintf("%06d", six)
	sum := 0
	for i := 0; i < 6; i++ {
		sum += int(s[i]-'0') * (7 - i)
	}
	return fmt.Sprintf("%s%d", s, sum%10)
}

// Shipment parties: everyone on the lane. The centres are all on every
// inbound shipment because the retailer's planners may move its orders
// between them.
var shipmentParties = func() []linkd.ShipmentParty {
	var out []linkd.ShipmentParty
	for _, p := range []linkd.Party{Shipper, Forwarder, Carrier, HaiphongTerminal, Customs, DCHamburg, DCRotterdam, DCAntwerp, Retailer} {
		out = append(out, linkd.ShipmentParty{Party: p.ID, Role: p.Roles[0]})
	}
	return out
}()

// sailing returns the shipments of sailing k, generating them once.
func (l *Lane) sailing(k int) []*shipment {
	if k < -historySailings {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sailings[k]; ok {
		return s
	}
	s := l.generate(k)
	l.sailings[k] = s
	return s
}

// generate makes sailing k's shipments. Called with mu held.
func (l *Lane) generate(k int) []*shipment {
	d := l.departure(k)
	srng := rand.New(rand.NewPCG(l.seed, uint64(int64(k)+1<<20)))
	voyage := fmt.Sprintf("%03dW", 45+k)
	mother := motherVessels[((k%len(motherVessels))+len(motherVessels))%len(motherVessels)]
	departed := d.Add(time.Duration(srng.IntN(90)) * time.Minute)
	arriveSIN := departed.Add(3*day + time.Duration(srng.IntN(8))*time.Hour)
	leaveSIN := d.Add(5*day + 12*time.Hour + time.Duration(srng.IntN(6))*time.Hour)
	arrive := map[string]time.Time{ // mother vessel's calls
		Rotterdam.LOCODE: d.Add(29*day + time.Duration(srng.IntN(12)-6)*time.Hour),
		Hamburg.LOCODE:   d.Add(31*day + time.Duration(srng.IntN(12)-6)*time.Hour),
		Antwerp.LOCODE:   d.Add(33*day + time.Duration(srng.IntN(12)-6)*time.Hour),
	}
	var out []*shipment
	i := 0
	for _, c := range Centres {
		for j := 0; j < c.Share; j++ {
			serial := (k+historySailings)*containersEach + i + 1
			i++
			rng := rand.New(rand.NewPCG(l.seed^uint64(serial), 0x6b61))
			s := &shipment{
				booking:   fmt.Sprintf("OCLVN%s%07d", c.Port.LOCODE[2:], serial),
				bl:        fmt.Sprintf("OCLU%010d", 7000000+serial),
				container: ContainerNumber("OCLU", 300000+serial),
				centre:    c,
				units:     map[string]int64{},
			}
			b := builder{s: s, rng: rng}
			b.journey(l, d, departed, arriveSIN, leaveSIN, arrive[c.Port.LOCODE], voyage, mother)
			out = append(out, s)
		}
	}
	return out
}

// builder appends one shipment's steps.
type builder struct {
	s   *shipment
	rng *rand.Rand
}

func (b *builder) jitter(min, max time.Duration) time.Duration {
	return min + time.Duration(b.rng.Int64N(int64(max-min)+1)).Truncate(time.Minute)
}

// add records an actual event by origin that happened at `at`, reported a
// few minutes later.
func (b *builder) add(origin string, at time.Time, e linkd.Event, place Place) {
	b.addAt(origin, at.Add(b.jitter(time.Minute, 9*time.Minute)), at, e, place)
}

// addAt records e by origin at rec, about something at `at` (a plan or an
// estimate is recorded before the time it names).
func (b *builder) addAt(origin string, rec, at time.Time, e linkd.Event, place Place) {
	s := b.s
	z := zoneOf(place)
	rec = rec.Truncate(time.Second)
	e.EventDateTime = linkd.Time{Time: at.In(z).Truncate(time.Second)}
	e.EventCreatedDateTime = linkd.Time{Time: rec.In(z)}
	e.CarrierBookingReference = s.booking
	if e.EventType != linkd.Inventory {
		e.TransportDocumentReference = s.bl
	}
	ref := s.booking[len(s.booking)-7:]
	e.References = append(e.References,
		linkd.Reference{ReferenceType: "PO", ReferenceValue: "PO-EU-" + ref},
		linkd.Reference{ReferenceType: "FF", ReferenceValue: "VNF-" + ref})
	e.Parties = shipmentParties
	s.steps = append(s.steps, Step{At: rec, Origin: origin, Event: e})
}

func (b *builder) doc(code, doc, reason string) linkd.Event {
	e := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: code, DocumentTypeCode: doc, Reason: reason}
	switch doc {
	case "BKG":
		e.DocumentID = b.s.booking
	case "TRD":
		e.DocumentID = b.s.bl
	}
	return e
}

func (b *builder) box(code, empty string, p Place, call *linkd.TransportCall) linkd.Event {
	return linkd.Event{
		EventType: linkd.Equipment, EventClassifierCode: "ACT", EquipmentEventTypeCode: code, EmptyIndicatorCode: empty,
		EquipmentReference: b.s.container, ISOEquipmentCode: "45G1", EventLocation: location(p), TransportCall: call,
	}
}

func vesselCall(p Place, voyage string, v linkd.Vessel) *linkd.TransportCall {
	return &linkd.TransportCall{
		TransportCallID:    fmt.Sprintf("TC-%s-%s-%s", p.LOCODE, v.VesselIMONumber, voyage),
		CarrierServiceCode: "AEX1", CarrierVoyageNumber: voyage, ModeOfTransport: "VESSEL", Location: location(p), Vessel: &v,
	}
}

func transport(code, classifier string, call *linkd.TransportCall) linkd.Event {
	return linkd.Event{EventType: linkd.Transport, EventClassifierCode: classifier, TransportEventTypeCode: code, TransportCall: call}
}

// journey builds the steps of one container from its booking to the last
// fulfilment of the orders allocated against it.
func (b *builder) journey(l *Lane, d, departed, arriveSIN, leaveSIN, arriveEU time.Time, voyage string, mother linkd.Vessel) {
	s := b.s
	c := s.centre
	car, term, fwd := Carrier.ID, HaiphongTerminal.ID, Forwarder.ID
	feederHPH := vesselCall(Haiphong, voyage, feeder)
	feederSIN := vesselCall(Singapore, voyage, feeder)
	motherSIN := vesselCall(Singapore, voyage, mother)
	motherEU := vesselCall(c.Port, voyage, mother)

	// What the container carries: two or three SKUs, about 1,150 units.
	n := 2 + b.rng.IntN(2)
	perm := b.rng.Perm(len(SKUs))[:n]
	total := int64(1050 + b.rng.IntN(200))
	var skus []string
	for i, p := range perm {
		q := total / int64(n)
		if i == n-1 {
			q = total - q*int64(n-1)
		}
		s.units[SKUs[p]] = q
		skus = append(skus, SKUs[p])
	}
	slices.Sort(skus)
	var lines []string
	for _, sku := range skus {
		lines = append(lines, fmt.Sprintf("%d x %s", s.units[sku], sku))
	}
	cargo := fmt.Sprintf("consumer electronics for %s: %s", c.Party, strings.Join(lines, ", "))

	// The booking, by the carrier: it opens the shipment and names its parties.
	received := d.Add(-bookingLead).Add(b.jitter(0, 8*time.Hour))
	b.add(car, received, b.doc("RECE", "BKG", "Booking of one 40' container, "+cargo), Hanoi)
	confirmed := received.Add(b.jitter(4*time.Hour, 20*time.Hour))
	b.add(car, confirmed, b.doc("CONF", "BKG", ""), Hanoi)
	b.addAt(car, confirmed.Add(10*time.Minute), d, transport("DEPA", "PLN", feederHPH), Haiphong)

	// Shipping instructions, by the forwarder: the commercial detail is not
	// the terminal's or the centres' business.
	si := d.Add(-6 * day).Add(b.jitter(0, 6*time.Hour))
	e := b.doc("SUBM", "SHI", "Shipping instructions: "+cargo)
	e.Visibility = []string{Shipper.ID, Forwarder.ID, Carrier.ID, Customs.ID, Retailer.ID}
	b.add(fwd, si, e, Hanoi)

	// Empty pick-up at the carrier's Hanoi depot, stuffing at the factory,
	// gate-in and load at the terminal.
	pick := d.Add(-5 * day).Add(b.jitter(0, 10*time.Hour))
	b.add(car, pick, b.box("PICK", "EMPTY", Hanoi, nil), Hanoi)
	stuf := pick.Add(b.jitter(16*time.Hour, 26*time.Hour))
	b.add(Shipper.ID, stuf, b.box("STUF", "LADEN", Hanoi, nil), Hanoi)
	gtin := stuf.Add(b.jitter(18*time.Hour, 40*time.Hour))
	b.add(term, gtin, b.box("GTIN", "LADEN", Haiphong, nil), Haiphong)
	issued := d.Add(-2 * day).Add(b.jitter(0, 8*time.Hour))
	b.add(car, issued, b.doc("ISSU", "TRD", ""), Hanoi)
	b.add(term, d.Add(-b.jitter(2*time.Hour, 8*time.Hour)), b.box("LOAD", "LADEN", Haiphong, feederHPH), Haiphong)

	// The feeder to Singapore; transhipment onto the mother vessel.
	b.add(car, departed, transport("DEPA", "ACT", feederHPH), Haiphong)
	b.addAt(car, departed.Add(15*time.Minute), arriveSIN, transport("ARRI", "EST", feederSIN), Singapore)
	b.add(car, arriveSIN, transport("ARRI", "ACT", feederSIN), Singapore)
	b.add(car, arriveSIN.Add(b.jitter(4*time.Hour, 12*time.Hour)), b.box("DISC", "LADEN", Singapore, feederSIN), Singapore)
	b.add(car, leaveSIN.Add(-b.jitter(3*time.Hour, 20*time.Hour)), b.box("LOAD", "LADEN", Singapore, motherSIN), Singapore)
	b.add(car, leaveSIN, transport("DEPA", "ACT", motherSIN), Singapore)

	// The carrier's estimates of the arrival, as the voyage goes on.
	for i, at := 0, leaveSIN.Add(15*time.Minute); at.Before(arriveEU.Add(-2 * day)); i, at = i+1, at.Add(5*day) {
		drift := time.Duration(b.rng.IntN(13)-6) * time.Hour
		if i == 0 {
			drift = 0
		}
		b.addAt(car, at, arriveEU.Add(drift), transport("ARRI", "EST", motherEU), c.Port)
	}

	// The centre allocates retailer orders against the container at sea.
	orders := b.orders(skus, leaveSIN)

	// Arrival, discharge, customs, gate-out and delivery to the centre.
	b.add(car, arriveEU, transport("ARRI", "ACT", motherEU), c.Port)
	disc := arriveEU.Add(b.jitter(4*time.Hour, 16*time.Hour))
	b.add(car, disc, b.box("DISC", "LADEN", c.Port, motherEU), c.Port)
	s.clearance = disc.Add(b.jitter(3*time.Hour, 8*time.Hour)).Truncate(time.Minute)
	released := s.clearance
	// The import declaration's Movement Reference Number: EU customs data,
	// stored only in the EU.
	serial := parseSerial(s.booking)
	mrn := fmt.Sprintf("%02dDE%s%07d%c", s.clearance.Year()%100, "HZA4Q9", serial, 'A'+rune(serial%26))
	customs := func(code, reason string, at time.Time) {
		e := b.doc(code, "CUS", reason)
		e.DocumentID = mrn
		e.EquipmentReference = s.container
		e.EventLocation = location(c.Port)
		e.Residency = []string{"EU"}
		b.add(Customs.ID, at, e, c.Port)
	}
	if h, held := l.holds[s.booking]; held { // mu is held: see generate
		customs("HOLD", "customs inspection", h.At)
		released = h.At.Add(h.Duration)
		customs("RELS", "customs inspection completed: released for free circulation", released)
	} else {
		customs("RELS", "import declaration accepted: released for free circulation", released)
	}
	gtot := released.Add(b.jitter(4*time.Hour, 10*time.Hour))
	b.add(car, gtot, b.box("GTOT", "LADEN", c.Port, nil), c.Port)
	drop := gtot.Add(b.jitter(3*time.Hour, 6*time.Hour))
	b.add(c.Party, drop, b.box("DROP", "LADEN", c.Site, nil), c.Site)
	s.stripped = drop.Add(b.jitter(4*time.Hour, 10*time.Hour))
	b.add(c.Party, s.stripped, b.box("STRP", "LADEN", c.Site, nil), c.Site)

	// Fulfilment once the goods are in.
	for i := range orders {
		o := &orders[i]
		o.Fulfil = s.stripped.Add(b.jitter(8*time.Hour, 60*time.Hour))
		b.add(c.Party, o.Fulfil, b.inventory("FULF", o), c.Site)
		o.recorded = s.steps[len(s.steps)-1].At
	}
	s.orders = orders
}

// orders splits the container's units into retailer orders and records
// their allocations against it.
func (b *builder) orders(skus []string, leaveSIN time.Time) []Order {
	s := b.s
	var out []Order
	per := map[string]int{}
	for i := 0; i < ordersPer; i++ {
		per[skus[i%len(skus)]]++
	}
	seq := 0
	for _, sku := range skus {
		n := per[sku]
		left := s.units[sku]
		for j := 0; j < n; j++ {
			q := left / int64(n-j)
			left -= q
			seq++
			o := Order{
				ID:     fmt.Sprintf("SO-%s-%d", s.booking[len(s.booking)-7:], seq),
				Centre: s.centre.Party, SKU: sku, Quantity: q, Booking: s.booking,
			}
			b.add(s.centre.Party, leaveSIN.Add(b.jitter(2*day, 12*day)), b.inventory("ALOC", &o), s.centre.Site)
			out = append(out, o)
		}
	}
	return out
}

// inventory is an order event of the centre: EU residency, since retailer
// orders are its customers' business.
func (b *builder) inventory(code string, o *Order) linkd.Event {
	return linkd.Event{
		EventType: linkd.Inventory, EventClassifierCode: "ACT", InventoryEventTypeCode: code,
		Inventory:          &linkd.InventoryLine{Facility: o.Centre, SKU: o.SKU, Quantity: o.Quantity, OrderID: o.ID},
		EquipmentReference: b.s.container, EventLocation: location(b.s.centre.Site),
		Residency: []string{"EU"},
	}
}

// parseSerial is the serial number a booking ends in, or -1.
func parseSerial(booking string) int {
	if len(booking) < 7 {
		return -1
	}
	n := 0
	for _, c := range booking[len(booking)-7:] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// zoneOf is the local time of a place, by country (winter time in Europe).
func zoneOf(p Place) *time.Location {
	switch p.LOCODE[:2] {
	case "VN":
		return time.FixedZone("ICT", 7*3600)
	case "SG":
		return time.FixedZone("SGT", 8*3600)
	default:
		return time.FixedZone("CET", 3600)
	}
}
