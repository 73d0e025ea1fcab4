package peers_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func TestPutValidates(t *testing.T) {
	h := newHarness(t)
	tn := newNode(t, terminal)
	_, otherLogKey, _ := tlog.GenerateKey(linkd.LogOrigin(carrier.ID))
	carrierCert, carrierPEM := makeCert(t, carrier.ID, certOpts{})
	_, noURIPEM := makeCert(t, terminal.ID, certOpts{noURI: true})
	_, twoURIPEM := makeCert(t, terminal.ID, certOpts{uris: []*url.URL{peers.PartyURI(terminal.ID), peers.PartyURI(carrier.ID)}})
	_, expiredPEM := makeCert(t, terminal.ID, certOpts{notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	_, futurePEM := makeCert(t, terminal.ID, certOpts{notBefore: time.Now().Add(48 * time.Hour)})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, p384PEM := makeCert(t, terminal.ID, certOpts{key: p384})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, rsaPEM := makeCert(t, terminal.ID, certOpts{key: rsaKey})
	keyDER, _ := x509.MarshalPKCS8PrivateKey(carrierCert.PrivateKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	witness := witnessKey(t, "witness.haiphong-terminal", 0x04)

	for _, tc := range []struct {
		name   string
		edit   func(p *peers.Peer)
		fields []string // none: the card is accepted
		says   string
	}{
		{"as made", func(p *peers.Peer) {}, nil, ""},
		{"with a witness key", func(p *peers.Peer) { p.WitnessKey = witness }, nil, ""},
		{"with a plain Ed25519 witness key", func(p *peers.Peer) { p.WitnessKey = witnessKey(t, "w", 0x01) }, nil, ""},
		{"endpoint with an IP", func(p *peers.Peer) { p.Endpoint = "https://192.0.2.10:7443" }, nil, ""},
		{"endpoint with IPv6", func(p *peers.Peer) { p.Endpoint = "https://[2001:db8::1]:7443" }, nil, ""},

		{"self", func(p *peers.Peer) { p.Party = self }, []string{"party.id", "logKey", "certPEM"}, "own party"},
		{"bad party id", func(p *peers.Peer) { p.Party.ID = "Haiphong Terminal" }, []string{"party.id", "logKey", "certPEM"}, "party id"},
		{"no jurisdiction", func(p *peers.Peer) { p.Party.Jurisdiction = nil }, []string{"party.jurisdiction"}, ""},
		{"unknown role", func(p *peers.Peer) { p.Party.Roles = []linkd.Role{"pirate"} }, []string{"party.roles[0]"}, ""},

		{"no log key", func(p *peers.Peer) { p.LogKey = "" }, []string{"logKey"}, "required"},
		{"log key of another party", func(p *peers.Peer) { p.LogKey = otherLogKey }, []string{"logKey"}, linkd.LogOrigin(carrier.ID)},
		{"log key not a key", func(p *peers.Peer) { p.LogKey = "ssh-ed25519 AAAA" }, []string{"logKey"}, "verifier key"},
		{"private log key", func(p *peers.Peer) { p.LogKey = "PRIVATE+KEY+" + p.LogKey }, []string{"logKey"}, ""},

		{"witness key garbage", func(p *peers.Peer) { p.WitnessKey = "witness" }, []string{"witnessKey"}, "signed-note"},
		{"witness key altered", func(p *peers.Peer) { p.WitnessKey = alterKey(witness) }, []string{"witnessKey"}, "hash"},
		{"witness key of another type", func(p *peers.Peer) { p.WitnessKey = witnessKey(t, "w", 0x06) }, []string{"witnessKey"}, "type 0x06"},

		{"no certificate", func(p *peers.Peer) { p.CertPEM = "" }, []string{"certPEM"}, "required"},
		{"certificate not PEM", func(p *peers.Peer) { p.CertPEM = "MIIB..." }, []string{"certPEM"}, "not PEM"},
		{"a private key", func(p *peers.Peer) { p.CertPEM = keyPEM }, []string{"certPEM"}, "private key"},
		{"certificate of another party", func(p *peers.Peer) { p.CertPEM = carrierPEM }, []string{"certPEM"}, `names party "oceanic-lines"`},
		{"certificate naming no party", func(p *peers.Peer) { p.CertPEM = noURIPEM }, []string{"certPEM"}, "linkd://party/"},
		{"certificate naming two parties", func(p *peers.Peer) { p.CertPEM = twoURIPEM }, []string{"certPEM"}, "2 parties"},
		{"expired certificate", func(p *peers.Peer) { p.CertPEM = expiredPEM }, []string{"certPEM"}, "expired"},
		{"certificate not yet valid", func(p *peers.Peer) { p.CertPEM = futurePEM }, []string{"certPEM"}, "not valid before"},
		{"P-384 certificate", func(p *peers.Peer) { p.CertPEM = p384PEM }, []string{"certPEM"}, "P-256"},
		{"RSA certificate", func(p *peers.Peer) { p.CertPEM = rsaPEM }, []string{"certPEM"}, "P-256"},
		{"a chain", func(p *peers.Peer) { p.CertPEM = tn.pem + carrierPEM }, []string{"certPEM"}, "more than one"},
		{"certificate altered", func(p *peers.Peer) { p.CertPEM = strings.Replace(p.CertPEM, "MII", "MIJ", 1) }, []string{"certPEM"}, ""},

		{"no endpoint", func(p *peers.Peer) { p.Endpoint = "" }, []string{"endpoint"}, "required"},
		{"http endpoint", func(p *peers.Peer) { p.Endpoint = "http://haiphong.example:7443" }, []string{"endpoint"}, "https"},
		{"endpoint without port", func(p *peers.Peer) { p.Endpoint = "https://haiphong.example" }, []string{"endpoint"}, "no port"},
		{"endpoint with a path", func(p *peers.Peer) { p.Endpoint = "https://haiphong.example:7443/v1" }, []string{"endpoint"}, "no path"},
		{"endpoint with a query", func(p *peers.Peer) { p.Endpoint = "https://haiphong.example:7443?x=1" }, []string{"endpoint"}, "no path"},
		{"endpoint with a user", func(p *peers.Peer) { p.Endpoint = "https://admin:pw@haiphong.example:7443" }, []string{"endpoint"}, "user"},
		{"endpoint port 0", func(p *peers.Peer) { p.Endpoint = "https://haiphong.example:0" }, []string{"endpoint"}, "port"},
		{"endpoint not absolute", func(p *peers.Peer) { p.Endpoint = "haiphong.example:7443" }, []string{"endpoint"}, ""},

		{"everything wrong", func(p *peers.Peer) { *p = peers.Peer{} }, []string{"party.id", "party.jurisdiction", "logKey", "certPEM", "endpoint"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := tn.card()
			tc.edit(&card)
			before := h.d.Len()
			err := h.d.Put(card)
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				got, ok := h.d.Get(card.Party.ID)
				if !ok || got.Endpoint != card.Endpoint || got.WitnessKey != card.WitnessKey {
					t.Fatalf("get after put = %+v, %v", got, ok)
				}
				return
			}
			ve := wantProblems(t, err, tc.fields...)
			if tc.says != "" && !strings.Contains(ve.Error(), tc.says) {
				t.Errorf("%v does not say %q", ve, tc.says)
			}
			if h.d.Len() != before {
				t.Errorf("%d peers after a refused card, want %d", h.d.Len(), before)
			}
		})
	}
}

func TestDirectoryKeepsCards(t *testing.T) {
	h := newHarness(t)
	tn, oc, eu := newNode(t, terminal), newNode(t, carrier), newNode(t, customsEU)
	events, cancel := h.d.Subscribe()
	defer cancel()
	// Cards added out of order list by id; each Put wakes a subscriber.
	for _, n := range []*node{oc, tn, eu} {
		h.put(n.card())
		select {
		case <-events:
		default:
			t.Fatalf("no change signalled after adding %s", n.party.ID)
		}
	}
	ids := func() string {
		var s []string
		for _, p := range h.d.List() {
			s = append(s, p.Party.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(); got != "eu-customs,haiphong-terminal,oceanic-lines" || h.d.Len() != 3 {
		t.Fatalf("list = %s (%d), want eu-customs,haiphong-terminal,oceanic-lines", got, h.d.Len())
	}
	got, ok := h.d.Get(terminal.ID)
	if !ok || got.LogKey != tn.vkey || got.CertPEM != tn.pem || got.Party.Name != terminal.Name || !got.Added.Equal(h.clock.Now()) {
		t.Fatalf("get %s = %+v, %v; want its card added at %s", terminal.ID, got, ok, h.clock.Now())
	}
	sum := sha256.Sum256(tn.cert.Certificate[0])
	if got.Fingerprint() != fmt.Sprintf("%x", sum) {
		t.Errorf("fingerprint %s, want %x", got.Fingerprint(), sum)
	}
	// What Get returns is a copy.
	got.Party.Jurisdiction[0] = "XX"
	if again, _ := h.d.Get(terminal.ID); again.Party.Jurisdiction[0] != "VN" {
		t.Errorf("changing a returned card changed the directory: %v", again.Party.Jurisdiction)
	}

	// They survive a restart, byte for byte.
	before := h.d.List()
	h.reopen()
	after := h.d.List()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after reopening:\n%v\nwant\n%v", after, before)
	}

	// Remove, and it stays removed after a restart.
	if err := h.d.Remove(carrier.ID); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if got := ids(); got != "eu-customs,haiphong-terminal" {
		t.Fatalf("after removing oceanic-lines and reopening: %s", got)
	}
	err := h.d.Remove(carrier.ID)
	if linkd.ErrorCode(err) != linkd.ENotFound || !strings.Contains(err.Error(), carrier.ID) {
		t.Errorf("removing a removed peer: %v, want not_found naming it", err)
	}
	if err := h.d.Remove("lkd_abcdefghij_secret"); linkd.ErrorCode(err) != linkd.ENotFound || strings.Contains(err.Error(), "secret") {
		t.Errorf("removing a non-id: %v, want not_found that does not echo it", err)
	}

	// A replaced card is the new one, after a restart too.
	rotated := tn.card()
	rotated.Endpoint = "https://linkd2.hict.vn:8443"
	h.clock.Add(time.Hour)
	h.put(rotated)
	h.reopen()
	if got, _ := h.d.Get(terminal.ID); got.Endpoint != rotated.Endpoint || !got.Added.Equal(h.clock.Now()) || h.d.Len() != 2 {
		t.Errorf("after replacing and reopening: %+v (%d peers)", got, h.d.Len())
	}
}

func TestSubscribe(t *testing.T) {
	h := newHarness(t)
	tn := newNode(t, terminal)
	events, cancel := h.d.Subscribe()
	// Many changes before the reader looks are one wake-up.
	h.put(tn.card())
	h.put(tn.card())
	if err := h.d.Remove(terminal.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
	default:
		t.Fatal("no wake-up after three changes")
	}
	select {
	case <-events:
		t.Fatal("a second wake-up for changes the reader already woke for")
	default:
	}
	// A refused card changes nothing and wakes no one.
	bad := tn.card()
	bad.Endpoint = ""
	if h.d.Put(bad) == nil {
		t.Fatal("a card without endpoint was accepted")
	}
	select {
	case <-events:
		t.Fatal("a refused card woke the subscriber")
	default:
	}
	cancel()
	cancel()
	if _, open := <-events; open {
		t.Fatal("the channel is open after cancel")
	}
	h.put(tn.card()) // no subscriber left; must not block or panic
}

func TestOpenRefusesCorruptRecord(t *testing.T) {
	h := newHarness(t)
	h.put(newNode(t, terminal).card())
	if err := h.db.Set([]byte("Poceanic-lines"), []byte(`{"v":1,"party":{"id":"haiphong-terminal"}}`), nil); err != nil {
		t.Fatal(err)
	}
	h.close()
	db, err := store.Open(h.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = peers.Open(db, self, nil)
	if err == nil || !strings.Contains(err.Error(), "Poceanic-lines") {
		t.Fatalf("open with a record under the wrong id: %v, want an error naming its key", err)
	}
}

// witnessKey returns a signed-note verifier key of the given type over a new
// Ed25519 key.
func witnessKey(t *testing.T, name string, typ byte) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{typ}, pub...)
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	return fmt.Sprintf("%s+%x+%s", name, sum[:4], base64.StdEncoding.EncodeToString(key))
}

// alterKey flips a bit of a verifier key's key bytes, keeping its form.
func alterKey(vkey string) string {
	i := strings.LastIndex(vkey, "+")
	raw, _ := base64.StdEncoding.DecodeString(vkey[i+1:])
	raw[len(raw)-1] ^= 1
	return vkey[:i+1] + base64.StdEncoding.EncodeToString(raw)
}
