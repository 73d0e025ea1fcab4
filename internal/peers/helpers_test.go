package peers_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// The lane's parties: the node under test is the Hamburg distribution
// centre; the others are its partners.
var (
	self      = linkd.Party{ID: "hamburg-dc", Name: "Hamburg DC", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}}
	terminal  = linkd.Party{ID: "haiphong-terminal", Name: "Haiphong Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}}
	carrier   = linkd.Party{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG"}}
	customsEU = linkd.Party{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"DE", "EU"}}
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a Directory over a real Pebble in a temporary directory.
type harness struct {
	t     *testing.T
	dir   string
	clock *clock
	db    *pebble.DB
	d     *peers.Directory
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: &clock{t: time.Now()}}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(h.dir, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := peers.Open(db, self, nil)
	if err != nil {
		db.Close()
		h.t.Fatalf("open directory: %v", err)
	}
	peers.SetClock(d, h.clock.Now)
	h.db, h.d = db, d
}

func (h *harness) close() {
	h.t.Helper()
	if h.db != nil {
		if err := h.db.Close(); err != nil {
			h.t.Fatal(err)
		}
		h.db, h.d = nil, nil
	}
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

func (h *harness) put(p peers.Peer) {
	h.t.Helper()
	if err := h.d.Put(p); err != nil {
		h.t.Fatalf("put %s: %v", p.Party.ID, err)
	}
}

// node is a party's node as `linkd init` makes it: a log key and an ECDSA
// P-256 certificate naming the party.
type node struct {
	party linkd.Party
	vkey  string
	cert  tls.Certificate
	pem   string
}

// certOpts vary a certificate away from what `linkd init` makes.
type certOpts struct {
	uris                []*url.URL // nil: the party's URI
	noURI               bool
	notBefore, notAfter time.Time // zero: an hour ago, three years on
	key                 any       // nil: a new P-256 key
}

func newNode(t *testing.T, p linkd.Party) *node {
	t.Helper()
	_, vkey, err := tlog.GenerateKey(linkd.LogOrigin(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{party: p, vkey: vkey}
	n.cert, n.pem = makeCert(t, p.ID, certOpts{})
	return n
}

// makeCert makes a self-signed certificate for party id, as init's
// writeCert does unless o says otherwise.
func makeCert(t *testing.T, id string, o certOpts) (tls.Certificate, string) {
	t.Helper()
	key := o.key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: id},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(3 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{peers.PartyURI(id)},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if o.uris != nil {
		tmpl.URIs = o.uris
	}
	if o.noURI {
		tmpl.URIs = nil
	}
	if !o.notBefore.IsZero() {
		tmpl.NotBefore = o.notBefore
	}
	if !o.notAfter.IsZero() {
		tmpl.NotAfter = o.notAfter
	}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// card is the node's identity card, as `linkd peer card` prints it.
func (n *node) card() peers.Peer {
	return peers.Peer{Party: n.party, LogKey: n.vkey, CertPEM: n.pem, Endpoint: "https://" + n.party.ID + ".example:7443"}
}

// wantProblems fails unless err is a *linkd.ValidationError with a problem
// naming each of fields (and no others), and returns it.
func wantProblems(t *testing.T, err error, fields ...string) *linkd.ValidationError {
	t.Helper()
	ve, ok := err.(*linkd.ValidationError)
	if !ok {
		t.Fatalf("error %v (%T), want a validation error naming %v", err, err, fields)
	}
	var got []string
	for _, p := range ve.Problems {
		if !slices.Contains(got, p.Field) {
			got = append(got, p.Field)
		}
	}
	slices.Sort(got)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("problems name %v, want %v: %v", got, want, ve.Problems)
	}
	return ve
}

// wantUnauthorized fails unless err is an unauthorized *linkd.Error whose
// message contains each of parts.
func wantUnauthorized(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want unauthorized (%v)", parts)
	}
	if code := linkd.ErrorCode(err); code != linkd.EUnauthorized {
		t.Fatalf("error code %q (%v), want unauthorized", code, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}
