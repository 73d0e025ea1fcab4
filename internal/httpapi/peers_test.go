package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// peersHarness is the API with a peer directory on its own Pebble and the
// node's card (the lane's terminal), whose endpoint is where the test server
// listens.
type peersHarness struct {
	*harness
	dir  *peers.Directory
	card peers.Peer
}

func newPeersHarness(t *testing.T) *peersHarness {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir, err := peers.Open(db, party, nil)
	if err != nil {
		t.Fatal(err)
	}
	ph := &peersHarness{dir: dir}
	ph.card = makeCard(t, party)
	ph.harness = newHarness(t, setup{api: func(c *httpapi.Config) {
		c.Peers = dir
		c.Card = func() (peers.Peer, error) {
			card := ph.card
			card.LogKey, card.Endpoint = ph.vkey, ph.srv.URL
			return card, nil
		}
	}})
	return ph
}

// makeCard makes a card for p as `linkd init` and `linkd peer card` would:
// a new log key and an ECDSA P-256 certificate naming the party.
func makeCard(t *testing.T, p linkd.Party) peers.Peer {
	t.Helper()
	_, vkey, err := tlog.GenerateKey(linkd.LogOrigin(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	return peers.Peer{Party: p, LogKey: vkey, CertPEM: makeCertPEM(t, p.ID), Endpoint: "https://" + p.ID + ".example:7443"}
}

func makeCertPEM(t *testing.T, id string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: id},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{peers.PartyURI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

var (
	carrier = linkd.Party{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG"}}
	hamburg = linkd.Party{ID: "hamburg-dc", Name: "Hamburg DC", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}}
)

func TestPeersAPI(t *testing.T) {
	h := newPeersHarness(t)
	oc, hh := makeCard(t, carrier), makeCard(t, hamburg)

	// Empty at first: a list, not null.
	r := h.get("/v1/peers", h.admin)
	r.wantStatus(t, http.StatusOK)
	if got := strings.TrimSpace(string(r.body)); got != `{"peers":[]}` {
		t.Fatalf("empty directory answers %s", got)
	}

	// Added: 201 with the card as stored.
	r = h.request("POST", "/v1/peers", h.admin, mustJSON(t, oc))
	r.wantStatus(t, http.StatusCreated)
	var stored peers.Peer
	r.decode(t, &stored)
	if stored.Party.ID != carrier.ID || stored.LogKey != oc.LogKey || stored.CertPEM != oc.CertPEM || stored.Endpoint != oc.Endpoint || stored.Added.IsZero() {
		t.Fatalf("POST answered %+v, want the carrier's card with its time added", stored)
	}
	if _, ok := h.dir.Get(carrier.ID); !ok {
		t.Fatal("the directory does not hold the added card")
	}

	// The same party again replaces its card: 200.
	moved := oc
	moved.Endpoint = "https://linkd2.oceanic.example:8443"
	r = h.request("POST", "/v1/peers", h.admin, mustJSON(t, moved))
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &stored)
	if stored.Endpoint != moved.Endpoint {
		t.Fatalf("replaced card has endpoint %s, want %s", stored.Endpoint, moved.Endpoint)
	}

	// Through the Go client.
	c := h.client(h.admin)
	got, replaced, err := c.AddPeer(ctx, hh)
	if err != nil || replaced || got.Party.ID != hamburg.ID {
		t.Fatalf("AddPeer(hamburg) = %s, replaced %v, %v; want a new card", got.Party.ID, replaced, err)
	}
	if _, replaced, err := c.AddPeer(ctx, hh); err != nil || !replaced {
		t.Fatalf("AddPeer(hamburg) again: replaced %v, %v; want replaced", replaced, err)
	}
	list, err := c.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.Party.ID)
	}
	if !slices.Equal(ids, []string{hamburg.ID, carrier.ID}) || list[1].Endpoint != moved.Endpoint {
		t.Fatalf("Peers = %v, want hamburg-dc then oceanic-lines with its new endpoint", ids)
	}
	one, err := c.Peer(ctx, carrier.ID)
	if err != nil || one.Endpoint != moved.Endpoint || one.Party.Name != carrier.Name {
		t.Fatalf("Peer(%s) = %+v, %v", carrier.ID, one, err)
	}

	// Removed: 204 without a body; then not found.
	r = h.request("DELETE", "/v1/peers/"+carrier.ID, h.admin, nil)
	r.wantStatus(t, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}
	if _, ok := h.dir.Get(carrier.ID); ok {
		t.Fatal("the directory still holds the removed card")
	}
	body := h.get("/v1/peers/"+carrier.ID, h.admin).wantError(t, http.StatusNotFound, linkd.ENotFound)
	if !strings.Contains(body.Error.Message, carrier.ID) {
		t.Errorf("not found message %q does not name the peer", body.Error.Message)
	}
	h.request("DELETE", "/v1/peers/"+carrier.ID, h.admin, nil).wantError(t, http.StatusNotFound, linkd.ENotFound)
	wantCode(t, c.RemovePeer(ctx, carrier.ID), http.StatusNotFound, linkd.ENotFound)
	if err := c.RemovePeer(ctx, hamburg.ID); err != nil {
		t.Fatalf("RemovePeer: %v", err)
	}
	if h.dir.Len() != 0 {
		t.Fatalf("%d peers left, want 0", h.dir.Len())
	}
	// A whole token where an id belongs is not echoed back.
	r = h.request("DELETE", "/v1/peers/"+h.admin, h.admin, nil)
	r.wantError(t, http.StatusNotFound, linkd.ENotFound)
	if strings.Contains(string(r.body), h.admin[len(h.admin)-43:]) {
		t.Errorf("the answer echoes the token: %s", r.body)
	}
}

func TestPeersAPIRefusesBadCards(t *testing.T) {
	h := newPeersHarness(t)
	oc := makeCard(t, carrier)
	edit := func(f func(p *peers.Peer)) string {
		p := oc
		f(&p)
		return string(mustJSON(t, p))
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
		fields     []string
		says       string
	}{
		{"this node's own card", edit(func(p *peers.Peer) { *p = h.card; p.LogKey, p.Endpoint = h.vkey, h.srv.URL }), 400, linkd.EInvalid, []string{"party.id"}, "own party"},
		{"certificate of another party", edit(func(p *peers.Peer) { p.CertPEM = makeCertPEM(t, hamburg.ID) }), 400, linkd.EInvalid, []string{"certPEM"}, "hamburg-dc"},
		{"log key of another party", edit(func(p *peers.Peer) { p.LogKey = h.vkey }), 400, linkd.EInvalid, []string{"logKey"}, ""},
		{"http endpoint", edit(func(p *peers.Peer) { p.Endpoint = "http://oceanic.example:80" }), 400, linkd.EInvalid, []string{"endpoint"}, ""},
		{"several problems", edit(func(p *peers.Peer) { p.Party.ID = "Oceanic"; p.Endpoint = "" }), 400, linkd.EInvalid, []string{"party.id", "logKey", "certPEM", "endpoint"}, ""},
		{"unknown field", `{"party":{"id":"oceanic-lines"},"publicKey":"x"}`, 400, linkd.EInvalid, nil, "publicKey"},
		{"not JSON", `party=oceanic-lines`, 400, linkd.EInvalid, nil, "peer card"},
		{"two cards", edit(func(*peers.Peer) {}) + edit(func(*peers.Peer) {}), 400, linkd.EInvalid, nil, "more than one"},
		{"too large", `{"certPEM":"` + strings.Repeat("A", 40<<10) + `"}`, 413, linkd.ETooLarge, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := h.request("POST", "/v1/peers", h.admin, tc.body).wantError(t, tc.status, tc.code, tc.fields...)
			if tc.says != "" && !strings.Contains(string(mustJSON(t, body)), tc.says) {
				t.Errorf("answer %+v does not say %q", body.Error, tc.says)
			}
			if h.dir.Len() != 0 {
				t.Fatalf("a refused card was stored: %d peers", h.dir.Len())
			}
		})
	}
	// The Go client sees the same problems.
	bad := oc
	bad.Endpoint = "https://oceanic.example:7443/linkd"
	_, _, err := h.client(h.admin).AddPeer(ctx, bad)
	wantCode(t, err, http.StatusBadRequest, linkd.EInvalid)
	if probs := client.Problems(err); len(probs) != 1 || probs[0].Field != "endpoint" {
		t.Errorf("client problems = %v, want one naming endpoint", probs)
	}
}

// TestPeersRoles: managing peers is for admins; cards, the node's own and
// its partners', are public material any role that reads the log may fetch
// (the dashboard draws the network from them).
func TestPeersRoles(t *testing.T) {
	h := newPeersHarness(t)
	oc := string(mustJSON(t, makeCard(t, carrier)))
	tokens := map[string]string{"admin": h.admin, "writer": h.writer, "reader": h.reader, "auditor": h.auditor}
	all := []string{"admin", "writer", "reader", "auditor"}
	for _, rt := range []struct {
		method, path, body string
		allowed            []string
	}{
		{"GET", "/v1/peers", "", all},
		{"POST", "/v1/peers", oc, []string{"admin"}},
		{"GET", "/v1/peers/" + carrier.ID, "", all},
		{"DELETE", "/v1/peers/" + carrier.ID, "", []string{"admin"}},
		{"GET", "/v1/node/card", "", all},
	} {
		for _, role := range all {
			t.Run(rt.method+" "+rt.path+" as "+role, func(t *testing.T) {
				var body any
				if rt.body != "" {
					body = rt.body
				}
				r := h.request(rt.method, rt.path, tokens[role], body)
				if slices.Contains(rt.allowed, role) {
					if r.status >= 300 && r.status != http.StatusNotFound {
						t.Fatalf("status %d, want the %s role let through; body %s", r.status, role, r.body)
					}
					return
				}
				body2 := r.wantError(t, http.StatusForbidden, linkd.EForbidden)
				if !strings.Contains(body2.Error.Message, "manage peers") {
					t.Errorf("message %q does not say what the role may not do", body2.Error.Message)
				}
			})
		}
	}
	h.get("/v1/node/card", "").wantError(t, http.StatusUnauthorized, linkd.EUnauthorized)
	// The refused writes left nothing behind: the admin's POST and DELETE
	// ran in that order, so the directory is empty.
	if h.dir.Len() != 0 {
		t.Errorf("%d peers after the role checks, want 0", h.dir.Len())
	}
}

func TestNodeCard(t *testing.T) {
	h := newPeersHarness(t)
	card, err := h.client(h.reader).Card(ctx)
	if err != nil {
		t.Fatalf("card as reader: %v", err)
	}
	if card.Party.ID != party.ID || card.LogKey != h.vkey || card.Endpoint != h.srv.URL || card.CertPEM != h.card.CertPEM || !card.Added.IsZero() {
		t.Fatalf("card = %+v", card)
	}
	// It holds no secret...
	raw := h.get("/v1/node/card", h.auditor)
	raw.wantStatus(t, http.StatusOK)
	if strings.Contains(string(raw.body), "PRIVATE") {
		t.Fatalf("the card holds private material: %s", raw.body)
	}
	var fields map[string]json.RawMessage
	raw.decode(t, &fields)
	for _, k := range []string{"party", "logKey", "certPEM", "endpoint"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("the card has no %q field: %s", k, raw.body)
		}
	}
	// ...and a partner's node accepts it as it comes.
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	partner, err := peers.Open(db, carrier, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := partner.Put(card); err != nil {
		t.Fatalf("the partner refuses this node's card: %v", err)
	}
}

func TestPeersWithoutDirectory(t *testing.T) {
	h := newHarness(t) // no directory and no card configured
	h.get("/v1/peers", h.admin).wantError(t, http.StatusNotFound, linkd.ENotFound)
	h.request("POST", "/v1/peers", h.admin, mustJSON(t, makeCard(t, carrier))).wantError(t, http.StatusNotFound, linkd.ENotFound)
	h.get("/v1/node/card", h.reader).wantError(t, http.StatusNotFound, linkd.ENotFound)
}
