package link_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

var base = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

var lane = []linkd.ShipmentParty{
	{Party: shipper.ID, Role: linkd.RoleShipper},
	{Party: carrier.ID, Role: linkd.RoleCarrier},
	{Party: hamburg.ID, Role: linkd.RoleConsignee},
}

// tagged returns n scenario events on one booking, each carrying canary in
// a reference so a byte scan can tell where its payload went.
func tagged(seed uint64, n int, booking, canary string, edit func(*linkd.Event)) []linkd.Event {
	evs := scenario.NewGenerator(seed, base).Batch(n)
	for i := range evs {
		evs[i].CarrierBookingReference = booking
		evs[i].References = append(evs[i].References, linkd.Reference{ReferenceType: "FF", ReferenceValue: fmt.Sprintf("%s-%03d", canary, i)})
		if edit != nil {
			edit(&evs[i])
		}
	}
	return evs
}

func TestLinksDeliverExactlyWhatEachPeerMayHold(t *testing.T) {
	s := newTestNode(t, shipper, nil)
	c := newTestNode(t, carrier, nil)
	h := newTestNode(t, hamburg, nil)
	linkAll(t, s, c, h)

	shared := func(e *linkd.Event) { e.Parties = lane }
	s.append(tagged(1, 20, "BKG-LANE", "CANARY-SHARED", shared)...)
	s.append(tagged(2, 5, "BKG-LANE", "CANARY-NARROW", func(e *linkd.Event) { shared(e); e.Visibility = []string{hamburg.ID} })...)
	s.append(tagged(3, 5, "BKG-LANE", "CANARY-PRIVATE", nil)...)
	h.append(tagged(4, 6, "BKG-LANE", "CANARY-EUONLY", func(e *linkd.Event) { shared(e); e.Residency = []string{"EU"} })...)
	c.append(tagged(5, 4, "BKG-LANE", "CANARY-CARRIER", shared)...)
	waitConverged(t, 10*time.Second, s, c, h)

	// What each node shows for the shipment: its own events and exactly the
	// payloads it may hold of the others'.
	count := func(n *testNode) map[string]int {
		page, err := n.logs.Scan(context.Background(), partylog.Query{Index: partylog.ByBooking, Value: "BKG-LANE", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range page.Events {
			ref := r.Event.References[len(r.Event.References)-1].ReferenceValue
			out[ref[:strings.LastIndex(ref, "-")]]++
		}
		return out
	}
	want := map[*testNode]map[string]int{
		s: {"CANARY-SHARED": 20, "CANARY-NARROW": 5, "CANARY-PRIVATE": 5, "CANARY-CARRIER": 4},
		c: {"CANARY-SHARED": 20, "CANARY-CARRIER": 4},
		h: {"CANARY-SHARED": 20, "CANARY-NARROW": 5, "CANARY-EUONLY": 6, "CANARY-CARRIER": 4},
	}
	for n, w := range want {
		if got := count(n); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s shows %v, want %v", n.party.ID, got, w)
		}
	}
	// No byte of a payload a node may not hold is anywhere in its store.
	forbidden := map[*testNode][]string{
		s: {"CANARY-EUONLY"},
		c: {"CANARY-EUONLY", "CANARY-NARROW", "CANARY-PRIVATE"},
		h: {"CANARY-PRIVATE"},
	}
	for n, canaries := range forbidden {
		for _, cn := range canaries {
			if n.storeContains(cn) {
				t.Errorf("%s's store holds bytes of %s", n.party.ID, cn)
			}
		}
	}
	if !h.storeContains("CANARY-EUONLY") || !c.storeContains("CANARY-SHARED") {
		t.Fatal("the canary scan finds nothing even where payloads belong: it proves nothing")
	}
	// The carrier verified the shipper's whole tree, holding hashes only of
	// the narrowed and private events.
	if got := c.counter("linkd_link_entries_total", "peer", shipper.ID, "direction", "in", "kind", "commitment"); got != 10 {
		t.Errorf("the carrier verified %v commitment-only entries of the shipper's, want 10", got)
	}
}

func TestLinkResumesAfterOutagesWithNoGapOrDuplicate(t *testing.T) {
	s := newTestNode(t, shipper, nil)
	c := newTestNode(t, carrier, nil)
	linkAll(t, s, c)
	shared := func(e *linkd.Event) { e.Parties = lane }
	s.append(tagged(1, 50, "BKG-OUT", "A", shared)...)
	waitConverged(t, 10*time.Second, s, c)

	// The receiver goes down; the origin keeps writing.
	c.stop()
	for i := range 10 {
		s.append(tagged(uint64(10+i), 30, "BKG-OUT", "B", shared)...)
	}
	time.Sleep(100 * time.Millisecond) // senders retry against a closed port
	c.start()
	waitConverged(t, 10*time.Second, s, c)

	// The origin restarts mid-stream.
	s.append(tagged(99, 40, "BKG-OUT", "C", shared)...)
	s.restart()
	s.append(tagged(100, 40, "BKG-OUT", "D", shared)...)
	waitConverged(t, 10*time.Second, s, c)

	page, err := c.logs.Scan(context.Background(), partylog.Query{Index: partylog.ByBooking, Value: "BKG-OUT", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range page.Events {
		if r.Event.Origin != shipper.ID {
			continue
		}
		if seen[r.LogIndex] {
			t.Fatalf("entry %d appears twice", r.LogIndex)
		}
		seen[r.LogIndex] = true
	}
	if int64(len(seen)) != s.own.Size() {
		t.Fatalf("the carrier shows %d of the shipper's %d events", len(seen), s.own.Size())
	}
}

// evil is a client that holds a linked peer's certificate and says what it
// likes.
func evilClient(n *testNode, cert tls.Certificate, pinned string) *http.Client {
	p := peers.Peer{Party: n.party, CertPEM: pinned}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: peers.ClientTLS(p, cert)}, Timeout: 5 * time.Second}
}

func post(t *testing.T, cl *http.Client, url string, body []byte) (int, link.FrameAck) {
	t.Helper()
	resp, err := cl.Post(url, "application/vnd.linkd.frame", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ack link.FrameAck
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &ack)
	return resp.StatusCode, ack
}

func TestLinkRefusesEvilPeersAndKeepsHonestLinks(t *testing.T) {
	s := newTestNode(t, shipper, nil)
	c := newTestNode(t, carrier, nil)
	h := newTestNode(t, hamburg, nil)
	linkAll(t, s, c, h)
	shared := func(e *linkd.Event) { e.Parties = lane }
	s.append(tagged(1, 8, "BKG-EVIL", "X", shared)...)
	waitConverged(t, 10*time.Second, s, c, h)

	// The shipper's node turns evil: it holds its key and certificate.
	evil := evilClient(c, s.cert, c.certPEM)
	url := "https://" + c.addr + "/v1/link/frames"
	otherKey, _, _ := tlog.GenerateKey(linkd.LogOrigin(shipper.ID))
	forger, _ := tlog.NewSigner(otherKey)
	_, cp := s.own.Checkpoint()

	t.Run("forged checkpoint", func(t *testing.T) {
		forged, _ := tlog.SignCheckpoint(linkd.Checkpoint{Origin: cp.Origin, Size: cp.Size + 1, Hash: cp.Hash}, forger)
		status, ack := post(t, evil, url, link.EncodeFrameForTest(shipper.ID, cp.Size, forged, []partylog.RemoteEntry{{Leaf: tlog.Hash{1}}}))
		if status != http.StatusUnprocessableEntity || !strings.Contains(ack.Message, "checkpoint") {
			t.Fatalf("forged checkpoint: %d %+v", status, ack)
		}
	})
	t.Run("another party's log", func(t *testing.T) {
		note, _ := h.own.Checkpoint()
		status, ack := post(t, evil, url, link.EncodeFrameForTest(hamburg.ID, 0, note, nil))
		if status != http.StatusForbidden || !strings.Contains(ack.Message, "only its own log") {
			t.Fatalf("another party's log: %d %+v", status, ack)
		}
	})
	t.Run("oversized and malformed frames", func(t *testing.T) {
		status, _ := post(t, evil, url, []byte("LKF1\xff\xff\xff\xff\xff\xff"))
		if status != http.StatusBadRequest {
			t.Fatalf("malformed frame: %d", status)
		}
	})
	t.Run("unknown certificate", func(t *testing.T) {
		stranger, _ := makeCert(t, shipper.ID) // claims the shipper, not pinned
		status, ack := post(t, evilClient(c, stranger, c.certPEM), url, link.EncodeFrameForTest(shipper.ID, 0, nil, nil))
		if status != http.StatusUnauthorized {
			t.Fatalf("unpinned certificate: %d %+v", status, ack)
		}
	})
	t.Run("rolled back log", func(t *testing.T) {
		// A second history of the shipper's log, signed with its real key,
		// shorter than what the carrier verified.
		rolled := newTestNode(t, shipper, nil)
		rolled.restartWithKey(s.skey, s.vkey)
		rolled.append(tagged(50, 5, "BKG-EVIL", "Y", shared)...)
		note, _ := rolled.own.Checkpoint()
		status, _ := post(t, evil, url, link.EncodeFrameForTest(shipper.ID, 5, note, nil))
		if status != http.StatusConflict {
			t.Fatalf("rolled-back checkpoint: %d", status)
		}
		a, ok := c.alerts.find("equivocation")
		if !ok || a.evidence == nil {
			t.Fatalf("no equivocation alert with evidence; alerts: %v", c.alerts.kinds())
		}
		if held, _ := c.alerts.Held(linkd.LogOrigin(shipper.ID)); !held {
			t.Fatal("the forked log is not held")
		}
	})
	if got := c.counter("linkd_link_refused_total", "peer", shipper.ID); got < 3 {
		t.Errorf("refusals counted for the shipper: %v, want at least 3", got)
	}
	// The honest link from Hamburg still works.
	h.append(tagged(60, 3, "BKG-EVIL", "Z", shared)...)
	waitConverged(t, 10*time.Second, h, c)
}

func TestGossipCatchesASplitView(t *testing.T) {
	// The shipper shows one history to the carrier and another to Hamburg.
	s := newTestNode(t, shipper, nil)
	twin := newTestNode(t, shipper, nil)
	twin.restartWithKey(s.skey, s.vkey)
	c := newTestNode(t, carrier, nil)
	h := newTestNode(t, hamburg, nil)
	for _, pair := range [][2]*testNode{{s, c}, {twin, h}} {
		if err := pair[0].peers.Put(pair[1].card()); err != nil {
			t.Fatal(err)
		}
		if err := pair[1].peers.Put(pair[0].card()); err != nil {
			t.Fatal(err)
		}
		pair[0].mgr.Sync()
		pair[1].mgr.Sync()
	}
	shared := func(e *linkd.Event) { e.Parties = lane }
	s.append(tagged(1, 10, "BKG-SPLIT", "P", shared)...)
	twin.append(tagged(2, 10, "BKG-SPLIT", "Q", shared)...)
	waitReplica(t, c, shipper.ID, 10)
	waitReplica(t, h, shipper.ID, 10)

	// The carrier and Hamburg link and gossip.
	if err := c.peers.Put(h.card()); err != nil {
		t.Fatal(err)
	}
	if err := h.peers.Put(c.card()); err != nil {
		t.Fatal(err)
	}
	c.mgr.Sync()
	h.mgr.Sync()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ca := c.alerts.find("equivocation")
		_, ha := h.alerts.find("equivocation")
		if ca || ha {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no equivocation caught; alerts: carrier %v, hamburg %v", c.alerts.kinds(), h.alerts.kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range []*testNode{c, h} {
		if a, ok := n.alerts.find("equivocation"); ok {
			if a.evidence == nil || a.evidence.Origin != linkd.LogOrigin(shipper.ID) {
				t.Fatalf("%s's alert carries no usable evidence: %+v", n.party.ID, a)
			}
			if held, _ := n.alerts.Held(linkd.LogOrigin(shipper.ID)); !held {
				t.Fatalf("%s does not hold the shipper's log", n.party.ID)
			}
		}
	}
}

// TestForkAtTheReceiversSizeIsCaught covers a fork no gossip shows: a
// carrier verified ten entries of the shipper's log from a clone holding the
// shipper's key, and the real shipper, with another ten, then reaches it.
// Its frames extend a tree the carrier does not have; the carrier must not
// take that for a bad frame but ask for the shipper's checkpoint at its size
// and catch the equivocation, with evidence of two checkpoints of one size.
func TestForkAtTheReceiversSizeIsCaught(t *testing.T) {
	s := newTestNode(t, shipper, nil)
	twin := newTestNode(t, shipper, nil)
	twin.restartWithKey(s.skey, s.vkey)
	c := newTestNode(t, carrier, nil)
	link2 := func(a, b *testNode) {
		t.Helper()
		if err := a.peers.Put(b.card()); err != nil {
			t.Fatal(err)
		}
		if err := b.peers.Put(a.card()); err != nil {
			t.Fatal(err)
		}
		a.mgr.Sync()
		b.mgr.Sync()
	}
	shared := func(e *linkd.Event) { e.Parties = lane }
	link2(twin, c)
	twin.append(tagged(2, 10, "BKG-TWIN", "Q", shared)...)
	waitReplica(t, c, shipper.ID, 10)

	// The carrier's directory now points at the real shipper, which has
	// recorded another ten entries and more since.
	if err := twin.peers.Remove(carrier.ID); err != nil {
		t.Fatal(err)
	}
	twin.mgr.Sync()
	s.append(tagged(1, 12, "BKG-TWIN", "P", shared)...)
	link2(s, c)

	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.alerts.find("equivocation"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no equivocation caught; carrier's alerts: %v", c.alerts.kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a, _ := c.alerts.find("equivocation")
	if a.evidence == nil {
		t.Fatal("the equivocation alert carries no evidence")
	}
	if err := witness.VerifyEvidence(a.evidence, s.vkey); err != nil {
		t.Fatalf("the evidence does not verify offline: %v", err)
	}
	for _, n := range [][]byte{a.evidence.A, a.evidence.B} {
		if cp, err := tlog.OpenCheckpoint(n, mustVerifier(t, s.vkey)); err != nil || cp.Size != 10 {
			t.Errorf("evidence checkpoint: size %d, err %v; want two checkpoints of size 10", cp.Size, err)
		}
	}
	if held, _ := c.alerts.Held(linkd.LogOrigin(shipper.ID)); !held {
		t.Error("the carrier does not hold the forked log")
	}
	if _, ok := c.alerts.find("verification_failed"); ok {
		t.Error("the carrier took the fork for a bad frame (verification_failed)")
	}
	// The real shipper learns that its key signed a history it never wrote.
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, ok := s.alerts.find(linkd.AlertKeyCompromise); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shipper raised no key_compromise alert; its alerts: %v", s.alerts.kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep, _ := c.logs.Lookup(shipper.ID); rep.Size() != 10 {
		t.Errorf("the carrier's replica of the shipper's log has %d entries, want the 10 it verified", rep.Size())
	}
}

func mustVerifier(t *testing.T, vkey string) tlog.Verifier {
	t.Helper()
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitReplica(t *testing.T, n *testNode, origin string, size int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rep, ok := n.logs.Lookup(origin); ok && rep.Size() >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %d entries of %s's log", n.party.ID, size, origin)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLinksConvergeThroughFaults runs three linked nodes through a fault
// proxy on every link while all three keep writing: partitions, a
// blackholed peer, delays and dropped connections. Once the faults heal,
// every node must hold every log at its origin's size and root, with no
// payload where it may not be.
func TestLinksConvergeThroughFaults(t *testing.T) {
	s := newTestNode(t, shipper, nil)
	c := newTestNode(t, carrier, nil)
	h := newTestNode(t, hamburg, nil)
	nodes := []*testNode{s, c, h}
	var proxies []*faultnet.Proxy
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			p, err := faultnet.New(b.addr, faultnet.WithSeed(int64(len(proxies)+1)), faultnet.WithRecord())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			proxies = append(proxies, p)
			card := b.card()
			card.Endpoint = "https://" + p.Addr()
			if err := a.peers.Put(card); err != nil {
				t.Fatal(err)
			}
		}
		a.mgr.Sync()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writers := make(chan struct{})
	shared := func(e *linkd.Event) { e.Parties = lane }
	go func() {
		defer close(writers)
		for i := 0; ctx.Err() == nil; i++ {
			n := nodes[i%3]
			edit, canary := shared, "CANARY-F"+n.party.ID[:3]
			if n == h && i%2 == 0 {
				edit, canary = func(e *linkd.Event) { shared(e); e.Residency = []string{"EU"} }, "CANARY-FEU"
			}
			if _, err := n.own.Append(ctx, tagged(uint64(i), 5, "BKG-FAULT", canary, edit)); err != nil && ctx.Err() == nil {
				t.Errorf("append: %v", err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	step := func(d time.Duration, f func(p *faultnet.Proxy, i int)) {
		for i, p := range proxies {
			f(p, i)
		}
		time.Sleep(d)
	}
	step(300*time.Millisecond, func(p *faultnet.Proxy, i int) {
		if i%2 == 0 {
			p.Partition()
		}
	})
	step(300*time.Millisecond, func(p *faultnet.Proxy, i int) { p.Heal(); p.SetDelay(5*time.Millisecond, 3*time.Millisecond) })
	step(400*time.Millisecond, func(p *faultnet.Proxy, i int) { p.SetDropRate(0.05) })
	step(300*time.Millisecond, func(p *faultnet.Proxy, i int) {
		p.SetDropRate(0)
		if i == 1 {
			p.Blackhole()
		}
	})
	step(200*time.Millisecond, func(p *faultnet.Proxy, i int) { p.Heal(); p.SetDelay(0, 0) })
	cancel()
	<-writers
	waitConverged(t, 20*time.Second, nodes...)

	if !h.storeContains("CANARY-FEU") {
		t.Fatal("Hamburg's store lacks its own EU-resident payloads: the canary scan proves nothing")
	}
	for _, n := range []*testNode{s, c} {
		if n.storeContains("CANARY-FEU") {
			t.Fatalf("%s's store holds bytes of an EU-resident payload", n.party.ID)
		}
	}
	for i, p := range proxies {
		if p.Contains([]byte("CANARY-F")) {
			t.Fatalf("proxy %d saw a payload in plaintext", i)
		}
	}
	if sends := s.counter("linkd_link_send_errors_total") + c.counter("linkd_link_send_errors_total") + h.counter("linkd_link_send_errors_total"); sends == 0 {
		t.Fatal("no send failed: the faults never reached the links")
	}
}

// A peer back from an outage is caught up at once, not at the end of the
// sender's backoff: it gossips when it starts, and that cuts the wait short.
func TestReturningPeerCutsTheBackoffShort(t *testing.T) {
	slow := func(c *link.Config) { c.RetryMin, c.RetryMax = time.Minute, time.Minute }
	s := newTestNode(t, shipper, slow)
	c := newTestNode(t, carrier, nil)
	linkAll(t, s, c)
	shared := func(e *linkd.Event) { e.Parties = lane }
	s.append(tagged(1, 5, "BKG-BACK", "A", shared)...)
	waitConverged(t, 10*time.Second, s, c)
	c.stop()
	s.append(tagged(2, 5, "BKG-BACK", "B", shared)...)
	time.Sleep(200 * time.Millisecond) // the shipper's sender fails and backs off for a minute
	c.start()
	waitConverged(t, 5*time.Second, s, c)
}

func TestUnreachablePeerRaisesAnAlert(t *testing.T) {
	s := newTestNode(t, shipper, func(c *link.Config) { c.UnreachableAfter = 300 * time.Millisecond })
	c := newTestNode(t, carrier, nil)
	linkAll(t, s, c)
	c.stop()
	s.append(tagged(1, 3, "BKG-DOWN", "A", func(e *linkd.Event) { e.Parties = lane })...)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if a, ok := s.alerts.find(linkd.AlertPeerUnreachable); ok {
			if a.peer != carrier.ID {
				t.Fatalf("unreachable alert names %q", a.peer)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no peer_unreachable alert; alerts: %v", s.alerts.kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
