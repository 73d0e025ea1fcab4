package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// These tests run real nodes in-process, linked the way operators link them
// (each adds the other's card over the API), and look only at what the nodes'
// APIs answer: which events a partner's node shows, the links' state, and the
// cosignatures on a checkpoint.

var forwarding = linkd.Party{ID: "vn-forwarding", Name: "VN Forwarding", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN", "ASEAN"}}

// member is one running node of a linked test, with an admin client.
type member struct {
	party linkd.Party
	r     *running
	c     *client.Client
	http  *http.Client
	token string
	card  peers.Peer
}

// start inits and serves a node for p and reads its card.
func start(t *testing.T, p linkd.Party) *member {
	t.Helper()
	res, cfg := initNode(t, p, "127.0.0.1:0")
	r := serve(t, cfg)
	m := &member{party: p, r: r, c: adminClient(t, r, res, cfg), http: httpClient(roots(t, cfg), true), token: res.AdminToken}
	t.Cleanup(m.http.CloseIdleConnections)
	card, err := m.c.Card(context.Background())
	if err != nil {
		t.Fatalf("%s's card: %v", p.ID, err)
	}
	m.card = card
	return m
}

// pair links a and b: each adds the other's card.
func pair(t *testing.T, a, b *member) {
	t.Helper()
	if _, _, err := a.c.AddPeer(context.Background(), b.card); err != nil {
		t.Fatalf("%s adds %s: %v", a.party.ID, b.party.ID, err)
	}
	if _, _, err := b.c.AddPeer(context.Background(), a.card); err != nil {
		t.Fatalf("%s adds %s: %v", b.party.ID, a.party.ID, err)
	}
}

// get decodes the JSON answer of GET path, for endpoints the Go client has
// no method for.
func (m *member) get(t *testing.T, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %s", path, m.party.ID, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// link returns m's link to peer as GET /v1/links reports it.
func (m *member) link(t *testing.T, peer string) (link.Status, bool) {
	t.Helper()
	var body struct {
		Links []link.Status `json:"links"`
	}
	m.get(t, "/v1/links", &body)
	for _, l := range body.Links {
		if l.Peer == peer {
			return l, true
		}
	}
	return link.Status{}, false
}

// record posts events and returns their ids.
func (m *member) record(t *testing.T, events ...linkd.Event) []string {
	t.Helper()
	res, err := m.c.AppendEvents(context.Background(), events)
	if err != nil {
		t.Fatalf("%s records %d events: %v", m.party.ID, len(events), err)
	}
	var ids []string
	for _, a := range res.Acks {
		ids = append(ids, a.EventID)
	}
	return ids
}

// timeline returns the ids of the events m shows for a shipment, none if it
// knows no such shipment.
func (m *member) timeline(t *testing.T, ref string) []string {
	t.Helper()
	v, err := m.c.Shipment(context.Background(), ref)
	if linkd.ErrorCode(err) == linkd.ENotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("%s's shipment %s: %v", m.party.ID, ref, err)
	}
	var ids []string
	for _, e := range v.Timeline {
		ids = append(ids, e.Event.EventID)
	}
	return ids
}

// synced waits until peer has verified all of m's log, so whatever m shares
// with it has arrived and whatever m keeps from it never will by now.
func (m *member) synced(t *testing.T, peer *member) {
	t.Helper()
	eventually(t, peer.party.ID+" has verified all of "+m.party.ID+"'s log", func() bool {
		l, ok := m.link(t, peer.party.ID)
		return ok && l.Connected && l.Cursor == m.size(t)
	})
}

// size is the size of m's log, as its newest checkpoint says.
func (m *member) size(t *testing.T) int64 {
	t.Helper()
	cp, err := m.c.Checkpoint(context.Background(), 0)
	if err != nil {
		t.Fatalf("%s's checkpoint: %v", m.party.ID, err)
	}
	return cp.Size
}

var minute atomic.Int64

// booking is a SHIPMENT event on a booking naming parties (each in its
// lane role), as a party's system would post it. Each is a minute after the
// one before, so none is another's duplicate.
func booking(ref string, parties ...linkd.Party) linkd.Event {
	m := minute.Add(1)
	e := linkd.Event{
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "RECE",
		DocumentTypeCode: "BKG", DocumentID: ref, CarrierBookingReference: ref,
		EventDateTime: linkd.Time{Time: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)},
	}
	for _, p := range parties {
		e.Parties = append(e.Parties, linkd.ShipmentParty{Party: p.ID, Role: p.Roles[0]})
	}
	return e
}

func partiesOf(t *testing.T, m *member, id string) []string {
	t.Helper()
	rec, err := m.c.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("%s's event %s: %v", m.party.ID, id, err)
	}
	var out []string
	for _, p := range rec.Event.Parties {
		out = append(out, p.Party)
	}
	return out
}

// TestLinkedNodesShareShipments follows one shipment between two linked
// nodes: the events the terminal records naming the warehouse show up on the
// warehouse's node, the terminal's checkpoint comes back cosigned, and an
// event the terminal keeps to itself never leaves it.
func TestLinkedNodesShareShipments(t *testing.T) {
	t.Parallel() // each node's shutdown waits out its peers' HTTP/2 connections
	bg := context.Background()
	a, b := start(t, party), start(t, hamburg)
	pair(t, a, b)

	shared := a.record(t, booking("BKG-E2E", party, hamburg))
	a.synced(t, b) // the warehouse has verified the opening before more comes
	private := a.record(t, booking("BKG-PRIV", party))
	// A later event names no one: it goes to the shipment's list as the
	// terminal knows it.
	shared = append(shared, a.record(t, booking("BKG-E2E"))...)

	eventually(t, "the warehouse shows the terminal's events of BKG-E2E", func() bool {
		return slices.Equal(b.timeline(t, "BKG-E2E"), shared)
	})
	v, err := b.c.Shipment(bg, "BKG-E2E")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Timeline {
		if e.Event.Origin != party.ID {
			t.Errorf("event %s on the warehouse's timeline has origin %q, want %s", e.Event.EventID, e.Event.Origin, party.ID)
		}
	}
	if got := partiesOf(t, b, shared[1]); !slices.Equal(got, []string{party.ID, hamburg.ID}) {
		t.Errorf("the later event arrived with parties %v, want the shipment's list [%s %s]", got, party.ID, hamburg.ID)
	}
	page, err := b.c.ListEvents(bg, client.EventQuery{CarrierBookingReference: "BKG-E2E"})
	if err != nil || len(page.Events) != len(shared) {
		t.Errorf("the warehouse's GET /v1/events?carrierBookingReference=BKG-E2E = %d events (%v), want the terminal's %d", len(page.Events), err, len(shared))
	}

	// The links, as each node reports them.
	eventually(t, "the warehouse's link to the terminal is connected", func() bool {
		l, ok := b.link(t, party.ID)
		return ok && l.Connected && l.Endpoint == a.card.Endpoint
	})
	a.synced(t, b)
	l, _ := b.link(t, party.ID)
	if size := a.size(t); l.Replica != size {
		t.Errorf("the warehouse holds %d entries of the terminal's log, want all %d (the private one as a commitment)", l.Replica, size)
	}

	// The private event stays with the terminal...
	if page, err := a.c.ListEvents(bg, client.EventQuery{CarrierBookingReference: "BKG-PRIV"}); err != nil || len(page.Events) != 1 {
		t.Fatalf("the terminal's own BKG-PRIV events: %d, %v; want its one", len(page.Events), err)
	}
	// ...though the warehouse has verified everything the terminal logged.
	page, err = b.c.ListEvents(bg, client.EventQuery{CarrierBookingReference: "BKG-PRIV"})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("the warehouse's GET /v1/events?carrierBookingReference=BKG-PRIV = %d events (%v), want none", len(page.Events), err)
	}
	if _, err := b.c.Event(bg, private[0]); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Errorf("the warehouse's GET /v1/events/%s: %v, want not_found", private[0], err)
	}
	if _, err := b.c.Shipment(bg, "BKG-PRIV"); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Errorf("the warehouse's GET /v1/shipments/BKG-PRIV: %v, want not_found", err)
	}

	// Nothing went wrong that an operator must hear of.
	for _, m := range []*member{a, b} {
		var alerts struct {
			Alerts []linkd.Alert `json:"alerts"`
		}
		var holds struct {
			Holds []linkd.LogHold `json:"holds"`
		}
		m.get(t, "/v1/alerts?all=true", &alerts)
		m.get(t, "/v1/holds", &holds)
		if alerts.Alerts == nil || len(alerts.Alerts) != 0 || holds.Holds == nil || len(holds.Holds) != 0 {
			t.Errorf("%s's alerts %+v and holds %+v, want empty lists", m.party.ID, alerts.Alerts, holds.Holds)
		}
	}

	// The terminal's newest checkpoint, which the warehouse has verified (the
	// terminal's link says so), comes to carry the warehouse's cosignature,
	// and it verifies with the witness key on the warehouse's card.
	var why error
	if !poll(func() bool { why = cosigned(t, a, b, 0); return why == nil }) {
		var on []int64
		for size := int64(1); size <= a.size(t); size++ {
			if cosigned(t, a, b, size) == nil {
				on = append(on, size)
			}
		}
		t.Errorf("%v; the terminal shows the warehouse's cosignature on the checkpoints of sizes %v only", why, on)
	}
}

// poll is eventually for checks that say more than "gave up": it reports
// whether cond came to hold within the same deadline.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// cosigned checks that origin's checkpoint of size (0: the newest) carries
// witnessed's cosignature after the log's own signature, and that it
// verifies with the keys on their cards.
func cosigned(t *testing.T, origin, witnessed *member, size int64) error {
	t.Helper()
	cp, err := origin.c.Checkpoint(context.Background(), size)
	if err != nil {
		t.Fatalf("%s's checkpoint of size %d: %v", origin.party.ID, size, err)
	}
	logV, err := tlog.NewVerifier(origin.card.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	witV, err := witness.NewCosignatureVerifier(witnessed.card.WitnessKey)
	if err != nil {
		t.Fatalf("%s's card has no usable witness key %q: %v", witnessed.party.ID, witnessed.card.WitnessKey, err)
	}
	which := fmt.Sprintf("GET /v1/log/checkpoint?size=%d", cp.Size)
	if size == 0 {
		which = fmt.Sprintf("GET /v1/log/checkpoint (the newest, size %d)", cp.Size)
	}
	_, sigs, _ := strings.Cut(cp.Checkpoint, "\n\n")
	lines := strings.Split(strings.TrimSuffix(sigs, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "— "+linkd.LogOrigin(origin.party.ID)+" ") ||
		!strings.HasPrefix(lines[1], "— "+witness.KeyName(witnessed.party.ID)+" ") {
		return fmt.Errorf("%s on %s: signature lines %q, want its log's then %s's cosignature",
			which, origin.party.ID, lines, witnessed.party.ID)
	}
	names, err := witness.VerifyCosignatures([]byte(cp.Checkpoint), logV, witV)
	if err != nil || !slices.Contains(names, witness.KeyName(witnessed.party.ID)) {
		return fmt.Errorf("%s on %s: %s's cosignature does not verify with its card's witness key: %v, %v", which, origin.party.ID, witnessed.party.ID, names, err)
	}
	return nil
}

// TestLinkedNodesGrowAShipmentList: a party on a shipment's list that
// learnt of the shipment from its partner may add a party, and the partner's
// later events carry the addition.
func TestLinkedNodesGrowAShipmentList(t *testing.T) {
	t.Parallel() // each node's shutdown waits out its peers' HTTP/2 connections
	a, b := start(t, party), start(t, hamburg)
	pair(t, a, b)
	customs := linkd.Party{ID: "eu-customs", Roles: []linkd.Role{linkd.RoleCustoms}}

	opened := b.record(t, booking("BKG-Y", hamburg, party))
	eventually(t, "the terminal shows the warehouse's BKG-Y", func() bool {
		return slices.Equal(a.timeline(t, "BKG-Y"), opened)
	})
	added := a.record(t, booking("BKG-Y", customs))
	if got, want := partiesOf(t, a, added[0]), []string{customs.ID, party.ID, hamburg.ID}; !slices.Equal(got, want) {
		t.Fatalf("the terminal's addition was recorded with parties %v, want %v", got, want)
	}
	eventually(t, "the warehouse shows the terminal's addition", func() bool {
		return slices.Contains(b.timeline(t, "BKG-Y"), added[0])
	})
	later := b.record(t, booking("BKG-Y"))
	if got, want := partiesOf(t, b, later[0]), []string{customs.ID, party.ID, hamburg.ID}; !slices.Equal(got, want) {
		t.Errorf("the warehouse's later event carries parties %v, want %v with the terminal's addition", got, want)
	}
}

// TestOutsiderCannotJoinAShipment: the roster's rule is that a party not on
// a shipment's list may not add anyone, itself included. A forwarder not on
// the warehouse's BKG-Z, which therefore never received it, records an event
// on BKG-Z naming itself and the warehouse; its node, knowing no BKG-Z,
// takes that as opening the shipment. (Through the API this is the only way
// an outsider can try: a node receives only the events whose party list
// names it, so it never holds a list without its own party on it.) The warehouse must not take the
// forwarder onto BKG-Z because of it: its later BKG-Z events stay away from
// the forwarder.
func TestOutsiderCannotJoinAShipment(t *testing.T) {
	t.Parallel() // each node's shutdown waits out its peers' HTTP/2 connections
	b, c := start(t, hamburg), start(t, forwarding)
	pair(t, b, c)

	b.record(t, booking("BKG-Z", hamburg, party))
	b.synced(t, c)
	if got := c.timeline(t, "BKG-Z"); len(got) != 0 {
		t.Fatalf("the forwarder, not on BKG-Z, shows %v", got)
	}
	claim := c.record(t, booking("BKG-Z", forwarding, hamburg))
	eventually(t, "the warehouse shows the forwarder's BKG-Z event", func() bool {
		return slices.Contains(b.timeline(t, "BKG-Z"), claim[0])
	})
	later := b.record(t, booking("BKG-Z"))
	b.synced(t, c)
	if got := c.timeline(t, "BKG-Z"); slices.Contains(got, later[0]) {
		t.Errorf("the forwarder joined BKG-Z by naming itself: it holds the warehouse's later event %s (parties %v)", later[0], partiesOf(t, b, later[0]))
	}
}
