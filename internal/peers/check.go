package peers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Size limits of a card's fields. A certificate made by `linkd init` is
// about 800 bytes of PEM, a verifier key under 100 bytes.
const (
	maxCertPEM  = 16 << 10
	maxKey      = 1 << 10
	maxEndpoint = 2 << 10
)

// PartyURI is the URI name a node's certificate carries for its party:
// linkd://party/<id>. `linkd init` puts it in every certificate it makes.
func PartyURI(id string) *url.URL { return &url.URL{Scheme: "linkd", Host: "party", Path: "/" + id} }

// PartyOf returns the party a certificate speaks for: the id in its one
// linkd://party/<id> URI name. A certificate with none, or with more than
// one, is an error that says so.
func PartyOf(cert *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range cert.URIs {
		if u.Scheme == "linkd" && u.Host == "party" {
			ids = append(ids, strings.TrimPrefix(u.Path, "/"))
		}
	}
	switch len(ids) {
	case 0:
		return "", errors.New("it names no party: it has no linkd://party/<id> URI name ('linkd init' makes certificates with one)")
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("it names %d parties (%s); a node's certificate names exactly one", len(ids), clip(strings.Join(ids, ", ")))
}

// Validate checks a card as of time now and returns a *linkd.ValidationError
// that names every bad field:
//
//   - party: a valid party (linkd.Party.Validate), fields prefixed "party.";
//   - logKey: a signed-note verifier key named linkd.LogOrigin(party.id);
//   - witnessKey: empty, or an Ed25519 signed-note verifier key (type 0x01,
//     or 0x04 as C2SP tlog-cosignature names it);
//   - certPEM: one PEM certificate with an ECDSA P-256 key, valid at now,
//     naming party.id in its linkd://party/<id> URI;
//   - endpoint: see CheckEndpoint.
//
// Added is not checked: the directory sets it.
func (p Peer) Validate(now time.Time) error {
	var probs []linkd.Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, linkd.Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if err := p.Party.Validate(); err != nil {
		var ve *linkd.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, pr := range ve.Problems {
			add("party."+pr.Field, "%s", pr.Reason)
		}
	}
	id := p.Party.ID

	switch {
	case p.LogKey == "":
		add("logKey", "required: the partner's log verifier key (its keys/log.key.pub)")
	case len(p.LogKey) > maxKey:
		add("logKey", "longer than %d bytes", maxKey)
	default:
		if v, err := tlog.NewVerifier(p.LogKey); err != nil {
			add("logKey", "%v", err)
		} else if want := linkd.LogOrigin(id); v.Name() != want {
			add("logKey", "is the key of log %q, but party %q's log is %q", clip(v.Name()), clip(id), want)
		}
	}

	if p.WitnessKey != "" {
		if reason := checkWitnessKey(p.WitnessKey); reason != "" {
			add("witnessKey", "%s", reason)
		}
	}

	if p.CertPEM == "" {
		add("certPEM", "required: the partner node's TLS certificate (its tls/node.crt)")
	} else if leaf, reason := parseCert(p.CertPEM); leaf == nil {
		add("certPEM", "%s", reason)
	} else {
		if named, err := PartyOf(leaf); err != nil {
			add("certPEM", "the certificate cannot be pinned for a party: %v", err)
		} else if named != id {
			add("certPEM", "the certificate names party %q, but the card is for %q", clip(named), clip(id))
		}
		if now.After(leaf.NotAfter) {
			add("certPEM", "the certificate expired at %s; ask the partner for a card with its new certificate", leaf.NotAfter.UTC().Format(time.RFC3339))
		} else if now.Before(leaf.NotBefore) {
			add("certPEM", "the certificate is not valid before %s; check this node's clock", leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}

	if reason := CheckEndpoint(p.Endpoint); reason != "" {
		add("endpoint", "%s", reason)
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// parseCert parses a card's certificate: exactly one PEM CERTIFICATE block
// holding an X.509 certificate with an ECDSA P-256 key. It returns the
// certificate, or nil and why not.
func parseCert(s string) (*x509.Certificate, string) {
	if len(s) > maxCertPEM {
		return nil, fmt.Sprintf("longer than %d bytes; a card holds one certificate", maxCertPEM)
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, "not PEM: want the -----BEGIN CERTIFICATE----- block of the partner's tls/node.crt"
	}
	if block.Type != "CERTIFICATE" {
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, "this is a private key, not a certificate: it must never leave its node; ask the partner for its card ('linkd peer card')"
		}
		return nil, fmt.Sprintf("holds a %q PEM block, want CERTIFICATE", clip(block.Type))
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, "holds more than one PEM block; a card pins exactly one certificate, the node's own"
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Sprintf("not an X.509 certificate: %v", err)
	}
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Sprintf("the certificate's key is %s; linkd nodes use ECDSA P-256 ('linkd init' makes one)", keyKind(cert))
	}
	return cert, ""
}

func keyKind(cert *x509.Certificate) string {
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		return "ECDSA " + k.Curve.Params().Name
	}
	return cert.PublicKeyAlgorithm.String()
}

// certPEM encodes a certificate as one PEM block.
func certPEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

// CheckEndpoint returns why s is not a peer endpoint, or "" when it is one:
// an absolute https URL with a host and an explicit port, and nothing else
// (no user, path, query or fragment), such as https://linkd.hict.vn:7443.
func CheckEndpoint(s string) string {
	const want = "want https://host:port, such as https://linkd.example.com:7443"
	if s == "" {
		return "required: " + want
	}
	if len(s) > maxEndpoint {
		return fmt.Sprintf("longer than %d bytes", maxEndpoint)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL: " + want
	}
	switch {
	case u.Scheme != "https":
		return fmt.Sprintf("scheme %q: %s", clip(u.Scheme), want)
	case u.Opaque != "" || u.Hostname() == "":
		return "no host: " + want
	case u.User != nil:
		return "must not carry a user or password: " + want
	case u.Port() == "":
		return "no port: " + want
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must have no path, query or fragment: " + want
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q is not 1 to 65535", clip(u.Port()))
	}
	return ""
}

// Signed-note key types a witness key may have: a plain Ed25519 note key, or
// the Ed25519 cosignature/v1 key of C2SP tlog-cosignature.
const (
	algEd25519       = 0x01
	algCosignatureV1 = 0x04
)

// checkWitnessKey returns why s is not a witness verifier key, or "". It
// checks the signed-note form name+hash+base64(type||key) and the key hash,
// and that the key is Ed25519.
func checkWitnessKey(s string) string {
	const form = "want a signed-note verifier key, name+hash+base64 (C2SP tlog-cosignature, Ed25519)"
	if len(s) > maxKey {
		return fmt.Sprintf("longer than %d bytes", maxKey)
	}
	name, rest, ok1 := strings.Cut(s, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return form
	}
	hash, herr := hex.DecodeString(hash16)
	key, kerr := base64.StdEncoding.DecodeString(key64)
	if herr != nil || len(hash) != 4 || kerr != nil || len(key) == 0 {
		return form
	}
	if key[0] != algEd25519 && key[0] != algCosignatureV1 {
		return fmt.Sprintf("key type 0x%02x; a witness key is Ed25519 (type 0x04, or 0x01)", key[0])
	}
	if len(key) != 1+32 {
		return fmt.Sprintf("the Ed25519 key is %d bytes, want 32", len(key)-1)
	}
	// The hash is the first four bytes of SHA-256(name "\n" type||key).
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	if binary.BigEndian.Uint32(sum[:4]) != binary.BigEndian.Uint32(hash) {
		return "the key hash does not match the name and key: the key was altered or mistyped"
	}
	return ""
}
