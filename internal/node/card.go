package node

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// Card returns this node's identity card for its partners, with advertise
// as its endpoint: the party from the config, the log's verifier key
// (derived from keys.log, so it cannot drift from the key that signs), and
// the TLS certificate from keys.tls_cert, which partners pin. It holds only
// public material. The card is checked as a partner's directory would check
// it, so a card this returns is one partners can add.
func (c Config) Card(advertise string) (peers.Peer, error) {
	skey, err := os.ReadFile(c.Path(c.Keys.Log))
	if err != nil {
		return peers.Peer{}, fmt.Errorf("node card: read log key: %w", err)
	}
	vkey, err := tlog.PublicKey(strings.TrimSpace(string(skey)))
	if err != nil {
		return peers.Peer{}, fmt.Errorf("node card: %w", err)
	}
	cert, err := readCert(c.Path(c.Keys.TLSCert))
	if err != nil {
		return peers.Peer{}, fmt.Errorf("node card: %w", err)
	}
	wvkey := ""
	if b, err := os.ReadFile(c.Path(c.Keys.Witness) + ".pub"); err == nil {
		if _, err := witness.NewCosignatureVerifier(strings.TrimSpace(string(b))); err == nil {
			wvkey = strings.TrimSpace(string(b))
		}
	}
	card := peers.Peer{
		WitnessKey: wvkey,
		Party:      c.PartyValue(),
		LogKey:     vkey,
		CertPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		Endpoint:   advertise,
	}
	if err := card.Validate(time.Now()); err != nil {
		return peers.Peer{}, fmt.Errorf("node card: partners would refuse it: %w", err)
	}
	return card, nil
}

// AdvertiseURL returns the https://host:port partners reach this node at.
// It is the config's advertise when set. Otherwise the host is the first
// name the TLS certificate was made for beyond localhost and loopback (the
// first `linkd init --host`), else the listen host, and the port is the one
// of addr, the address the node is bound to (so listen :0 works), else the
// listen port. A node that listens on every interface and whose certificate
// names no other host has no address to advertise: that is an error asking
// for advertise.
func (c Config) AdvertiseURL(addr string) (string, error) {
	if c.Advertise != "" {
		return c.Advertise, nil
	}
	lhost, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "0" {
		port = p
	}
	cert, err := readCert(c.Path(c.Keys.TLSCert))
	if err != nil {
		return "", err
	}
	host := ""
	for _, name := range cert.DNSNames {
		if name != "localhost" {
			host = name
			break
		}
	}
	for _, ip := range cert.IPAddresses {
		if host != "" {
			break
		}
		if !ip.IsLoopback() && !ip.IsUnspecified() {
			host = ip.String()
		}
	}
	if host == "" {
		if ip := net.ParseIP(lhost); lhost == "" || (ip != nil && ip.IsUnspecified()) {
			return "", fmt.Errorf("listen %s is every interface and the TLS certificate names no host beyond localhost: set advertise in the config to the https://host:port partners reach this node at", c.Listen)
		}
		host = lhost
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("TLS certificate %s holds no PEM CERTIFICATE block", path)
		}
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("TLS certificate %s: %w", path, err)
			}
			return cert, nil
		}
	}
}
