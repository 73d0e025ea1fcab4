package peers

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// Identify returns the peer a TLS client is: the one whose pinned
// certificate is byte for byte the client's leaf certificate and whose party
// is the one that certificate names. The node's server requests client
// certificates without requiring them (tls.RequestClientCert), since users
// come with bearer tokens instead, and the TLS handshake has already proved
// the client holds the certificate's key; chains are never consulted, only
// the pin.
//
// Otherwise it returns a *linkd.Error with code unauthorized whose message
// says why: no client certificate, a certificate that names no party, one
// that names a party not in the directory, one that is not the certificate
// pinned for the party it names, or a pinned certificate outside its
// validity period. It reads memory only: one SHA-256 of the certificate and
// a map lookup.
func (d *Directory) Identify(cs *tls.ConnectionState) (Peer, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Peer{}, unauthorized("no client certificate: a peer must present its node's TLS certificate, the one on its card")
	}
	leaf := cs.PeerCertificates[0]
	named, err := PartyOf(leaf)
	if err != nil {
		return Peer{}, unauthorized("the client certificate (sha256 %s) cannot identify a peer: %v", short(leaf), err)
	}
	fp := sha256.Sum256(leaf.Raw)
	d.mu.RLock()
	e := d.byCert[fp]
	pinned := d.byID[named]
	d.mu.RUnlock()
	switch {
	case e != nil && e.peer.Party.ID == named:
		// The pin matched; Put checked that it names its party, so the
		// second test only guards the map against a future bug.
	case pinned == nil:
		return Peer{}, unauthorized("the client certificate names party %q, which is not in this node's directory; its operator must add the party's card ('linkd peer add')", clip(named))
	default:
		return Peer{}, unauthorized("the client certificate names party %q but is not the certificate pinned for it (presented sha256 %s, pinned %x); if %s rotated its certificate, add its new card", clip(named), short(leaf), pinned.fp[:8], named)
	}
	if err := checkValidity(e.leaf, d.now()); err != nil {
		return Peer{}, unauthorized("the certificate pinned for party %q %v", named, err)
	}
	return e.peer.clone(), nil
}

// ClientTLS returns the TLS configuration for dialing peer p's node: it
// presents own as the client certificate (for the peer's Identify) and
// accepts the server only if its leaf certificate is byte for byte p's
// pinned CertPEM, names p's party and is within its validity period. No
// certificate authority or host name is consulted: the pin replaces both, so
// the endpoint may be an IP address or a name the certificate does not list.
// A card whose CertPEM does not parse yields a configuration that refuses
// every server, saying why.
func ClientTLS(p Peer, own tls.Certificate) *tls.Config {
	pinned, reason := parseCert(p.CertPEM)
	id := p.Party.ID
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Always offer our certificate: picking from Certificates would skip
		// a self-signed one if the server ever named acceptable CAs.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &own, nil },
		// The pin below does the verification; see the doc comment.
		InsecureSkipVerify: true,
		// VerifyConnection runs on resumed sessions too, unlike
		// VerifyPeerCertificate.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if pinned == nil {
				return unauthorized("the card of peer %q has no usable certificate: %s", clip(id), reason)
			}
			if len(cs.PeerCertificates) == 0 {
				return unauthorized("the node at %s presented no certificate", cs.ServerName)
			}
			leaf := cs.PeerCertificates[0]
			if !bytes.Equal(leaf.Raw, pinned.Raw) {
				return unauthorized("the server presented certificate sha256 %s, not the one pinned for peer %q (sha256 %s); if %s rotated its certificate, add its new card", short(leaf), clip(id), short(pinned), clip(id))
			}
			if named, err := PartyOf(leaf); err != nil || named != id {
				return unauthorized("the certificate pinned for peer %q does not name it; add the party's card again", clip(id))
			}
			if err := checkValidity(leaf, time.Now()); err != nil {
				return unauthorized("the certificate of peer %q %v", clip(id), err)
			}
			return nil
		},
	}
}

// checkValidity says whether now is inside cert's validity period; the
// message continues a sentence that names the certificate.
func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.After(cert.NotAfter) {
		return fmt.Errorf("expired at %s; ask the partner for a card with its new certificate", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("is not valid before %s; check the clocks", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// short is the first 8 bytes of a certificate's SHA-256, in hex: enough to
// tell certificates apart in a message.
func short(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return fmt.Sprintf("%x", sum[:8])
}

func unauthorized(format string, args ...any) *linkd.Error {
	return linkd.Errorf(linkd.EUnauthorized, format, args...)
}
