package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/peers"
)

var hamburg = linkd.Party{ID: "hamburg-dc", Name: "Hamburg DC", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}}

// initNode runs Init for p with o's listen and hosts, and loads its config.
func initNode(t *testing.T, p linkd.Party, listen string, hosts ...string) (node.InitResult, node.Config) {
	t.Helper()
	res, err := node.Init(context.Background(), node.InitOptions{Dir: filepath.Join(t.TempDir(), p.ID), Party: p, Listen: listen, Hosts: hosts})
	if err != nil {
		t.Fatalf("init %s: %v", p.ID, err)
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatalf("load the config init wrote: %v", err)
	}
	return res, cfg
}

func adminClient(t *testing.T, r *running, res node.InitResult, cfg node.Config) *client.Client {
	t.Helper()
	c, err := client.New(r.url, client.Options{Token: res.AdminToken, CAFile: cfg.Path(cfg.Keys.TLSCert)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCardsLinkTwoNodes follows the operators' flow: each node's card, read
// from its API, is added to the other's directory; then each node pins the
// other's certificate in both directions of mutual TLS.
func TestCardsLinkTwoNodes(t *testing.T) {
	bg := context.Background()
	resA, cfgA := newNodeDir(t) // the terminal
	resB, cfgB := initNode(t, hamburg, "127.0.0.1:0")
	rA, rB := serve(t, cfgA), serve(t, cfgB)
	cA, cB := adminClient(t, rA, resA, cfgA), adminClient(t, rB, resB, cfgB)

	cardA, err := cA.Card(bg)
	if err != nil {
		t.Fatalf("A's card: %v", err)
	}
	if cardA.Party.ID != party.ID || cardA.Party.Name != party.Name || cardA.LogKey != resA.LogPublicKey ||
		cardA.Fingerprint() != resA.CertFingerprint || cardA.Endpoint != rA.url {
		t.Fatalf("A's card = %+v; want its party, init's log key %s and certificate %s, endpoint %s",
			cardA, resA.LogPublicKey, resA.CertFingerprint, rA.url)
	}
	cardB, err := cB.Card(bg)
	if err != nil {
		t.Fatalf("B's card: %v", err)
	}
	if _, _, err := cB.AddPeer(bg, cardA); err != nil {
		t.Fatalf("B adds A's card: %v", err)
	}
	if _, _, err := cA.AddPeer(bg, cardB); err != nil {
		t.Fatalf("A adds B's card: %v", err)
	}
	// A node refuses its own card.
	if _, _, err := cA.AddPeer(bg, cardA); linkd.ErrorCode(err) != linkd.EInvalid {
		t.Fatalf("A adds its own card: %v, want invalid", err)
	}

	// A dials B: B's node asks for a client certificate, A presents its own,
	// and A accepts B only with the certificate on B's card.
	ownA, err := tls.LoadX509KeyPair(cfgA.Path(cfgA.Keys.TLSCert), cfgA.Path(cfgA.Keys.TLSKey))
	if err != nil {
		t.Fatal(err)
	}
	conf := peers.ClientTLS(cardB, ownA)
	present := conf.GetClientCertificate
	asked := false
	conf.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		return present(cri)
	}
	conn, err := tls.Dial("tcp", rB.n.Addr(), conf)
	if err != nil {
		t.Fatalf("A dials B with B's pinned certificate: %v", err)
	}
	conn.Close()
	if !asked {
		t.Fatal("B's node did not ask for a client certificate: peers could not identify themselves")
	}
	// What A presents, B's directory identifies as A.
	leafA, err := peersLeaf(cardA)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := rB.n.Peers().Identify(&tls.ConnectionState{PeerCertificates: leafA}); err != nil || p.Party.ID != party.ID {
		t.Fatalf("B identifies A's certificate as %q, %v", p.Party.ID, err)
	}
	// A refuses B's node when the pin it holds for B is another certificate.
	wrong := cardB
	wrong.CertPEM = cardA.CertPEM
	_, err = tls.Dial("tcp", rB.n.Addr(), peers.ClientTLS(wrong, ownA))
	var le *linkd.Error
	if !errors.As(err, &le) || le.Code != linkd.EUnauthorized || !strings.Contains(le.Message, "not the one pinned") {
		t.Fatalf("dialing B with another pin: %v, want unauthorized", err)
	}

	// People still come without a certificate, with a token.
	if _, err := cB.Peers(bg); err != nil {
		t.Fatalf("a token client without a certificate: %v", err)
	}

	// B's directory survives B's restart.
	rB.stop(t)
	rB = serve(t, cfgB)
	got, ok := rB.n.Peers().Get(party.ID)
	if !ok || got.CertPEM != cardA.CertPEM || got.LogKey != cardA.LogKey {
		t.Fatalf("after B restarted, its card of A = %+v, %v", got, ok)
	}
}

// peersLeaf parses the certificate on a card, as the TLS stack hands it to
// the server.
func peersLeaf(p peers.Peer) ([]*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(p.CertPEM))
	if block == nil {
		return nil, errors.New("the card's certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	return []*x509.Certificate{cert}, err
}

// TestAdvertise checks the endpoint a node puts on its card.
func TestAdvertise(t *testing.T) {
	open := func(t *testing.T, cfg node.Config) *node.Node {
		t.Helper()
		n, err := node.Open(cfg, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	port := func(n *node.Node) string { return n.Addr()[strings.LastIndex(n.Addr(), ":")+1:] }

	t.Run("the listen address", func(t *testing.T) {
		_, cfg := initNode(t, party, "127.0.0.1:0")
		n := open(t, cfg)
		if card, err := n.Card(); err != nil || card.Endpoint != "https://"+n.Addr() {
			t.Fatalf("card endpoint %q, %v; want https://%s", card.Endpoint, err, n.Addr())
		}
	})
	t.Run("the host init was given", func(t *testing.T) {
		_, cfg := initNode(t, party, "0.0.0.0:0", "linkd.hict.vn", "203.0.113.7")
		n := open(t, cfg)
		if card, err := n.Card(); err != nil || card.Endpoint != "https://linkd.hict.vn:"+port(n) {
			t.Fatalf("card endpoint %q, %v; want https://linkd.hict.vn:%s", card.Endpoint, err, port(n))
		}
	})
	t.Run("an IP init was given", func(t *testing.T) {
		_, cfg := initNode(t, party, "0.0.0.0:0", "203.0.113.7")
		n := open(t, cfg)
		if card, err := n.Card(); err != nil || card.Endpoint != "https://203.0.113.7:"+port(n) {
			t.Fatalf("card endpoint %q, %v; want https://203.0.113.7:%s", card.Endpoint, err, port(n))
		}
	})
	t.Run("configured", func(t *testing.T) {
		_, cfg := initNode(t, party, "0.0.0.0:0", "linkd.hict.vn")
		cfg.Advertise = "https://edge.hict.vn:443"
		n := open(t, cfg)
		if card, err := n.Card(); err != nil || card.Endpoint != cfg.Advertise {
			t.Fatalf("card endpoint %q, %v; want the configured %s", card.Endpoint, err, cfg.Advertise)
		}
	})
	t.Run("every interface and no host", func(t *testing.T) {
		res, cfg := initNode(t, party, "0.0.0.0:0")
		n := open(t, cfg)
		_, err := n.Card()
		if linkd.ErrorCode(err) != linkd.ENotFound || !strings.Contains(err.Error(), "advertise") {
			t.Fatalf("card: %v, want not_found asking for advertise", err)
		}
		// The node serves its own party all the same, and says why over the API.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Serve(ctx) }()
		defer func() { cancel(); <-done }()
		c, err := client.New("https://127.0.0.1:"+port(n), client.Options{Token: res.AdminToken, CAFile: cfg.Path(cfg.Keys.TLSCert)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Card(context.Background())
		if linkd.ErrorCode(err) != linkd.ENotFound || !strings.Contains(linkd.ErrorMessage(err), "advertise") {
			t.Fatalf("GET /v1/node/card: %v, want not_found naming advertise", err)
		}
		if _, err := c.Peers(context.Background()); err != nil {
			t.Fatalf("the node without a card does not serve its directory: %v", err)
		}
	})
}
