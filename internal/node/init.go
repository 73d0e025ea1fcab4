package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

// CertLifetime is how long a certificate made by Init is valid.
const CertLifetime = 3 * 365 * 24 * time.Hour

// InitOptions describe a new node.
type InitOptions struct {
	Dir    string      // created; must not exist or be empty
	Party  linkd.Party // who the node records for
	Listen string      // host:port; "" means the default 127.0.0.1:7443
	// Hosts are extra DNS names and IP addresses the TLS certificate is valid
	// for, beyond localhost, 127.0.0.1 and ::1.
	Hosts []string
}

// InitResult is what Init made.
type InitResult struct {
	ConfigPath      string
	AdminToken      string // shown once; the node stores only its hash
	AdminTokenID    string
	LogPublicKey    string // the verifier key of the log, note format
	CertFingerprint string // SHA-256 of the certificate, hex
}

// Init creates a node's data directory: the log's Ed25519 key, a TLS key and
// self-signed certificate, a commented config file, an empty store and the
// first admin token. On failure it removes what it created.
func Init(ctx context.Context, o InitOptions) (res InitResult, err error) {
	if err := o.Party.Validate(); err != nil {
		return InitResult{}, err
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return InitResult{}, linkd.Errorf(linkd.EConflict, "%s is not empty; a node is initialised once (use another directory, or remove this one to start over)", o.Dir)
	}
	_, statErr := os.Stat(o.Dir)
	created := os.IsNotExist(statErr)
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("create %s: %w", o.Dir, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Remove what Init made: the directory itself only if it was new.
		if created {
			os.RemoveAll(o.Dir)
			return
		}
		entries, _ := os.ReadDir(o.Dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(o.Dir, e.Name()))
		}
	}()
	cfg := Defaults()
	cfg.SetDir(o.Dir)
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.Party.Name == "" {
		o.Party.Name = o.Party.ID // also the certificate's organisation
	}
	cfg.Party = PartyConfig{ID: o.Party.ID, Name: o.Party.Name, Jurisdiction: o.Party.Jurisdiction, Location: o.Party.Location}
	for _, r := range o.Party.Roles {
		cfg.Party.Roles = append(cfg.Party.Roles, string(r))
	}
	if err := cfg.Validate(); err != nil {
		return InitResult{}, err
	}
	for _, d := range []string{"keys", "tls"} {
		if err := os.MkdirAll(cfg.Path(d), 0o700); err != nil {
			return InitResult{}, err
		}
	}

	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(o.Party.ID))
	if err != nil {
		return InitResult{}, err
	}
	if err := writeFileExcl(cfg.Path(cfg.Keys.Log), []byte(skey+"\n"), 0o600); err != nil {
		return InitResult{}, err
	}
	if err := writeFileExcl(cfg.Path(cfg.Keys.Log)+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return InitResult{}, err
	}
	wkey, wvkey, err := witness.GenerateKey(o.Party.ID)
	if err != nil {
		return InitResult{}, err
	}
	if err := writeFileExcl(cfg.Path(cfg.Keys.Witness), []byte(wkey+"\n"), 0o600); err != nil {
		return InitResult{}, err
	}
	if err := writeFileExcl(cfg.Path(cfg.Keys.Witness)+".pub", []byte(wvkey+"\n"), 0o644); err != nil {
		return InitResult{}, err
	}
	fp, err := writeCert(cfg.Path(cfg.Keys.TLSCert), cfg.Path(cfg.Keys.TLSKey), o.Party, append([]string{"localhost", "127.0.0.1", "::1"}, o.Hosts...))
	if err != nil {
		return InitResult{}, err
	}
	path := filepath.Join(o.Dir, "linkd.yaml")
	if err := writeConfig(path, cfg); err != nil {
		return InitResult{}, err
	}
	// The store is created now so the admin token exists before first start.
	db, err := store.Open(cfg.Path(cfg.Data), store.Options{})
	if err != nil {
		return InitResult{}, err
	}
	tokens, err := access.Open(db, access.Options{})
	if err != nil {
		db.Close()
		return InitResult{}, err
	}
	secret, tok, err := tokens.Bootstrap(ctx, "admin (created by linkd init)")
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return InitResult{}, err
	}
	return InitResult{ConfigPath: path, AdminToken: secret, AdminTokenID: tok.ID, LogPublicKey: vkey, CertFingerprint: fp}, nil
}

// writeCert makes an ECDSA P-256 key and a self-signed certificate for the
// party, valid for hosts, for both server and client use (peers present it
// in mutual TLS). The party id is in the subject and in a linkd://party/ URI
// name, so a peer can check whom a certificate speaks for.
func writeCert(certPath, keyPath string, p linkd.Party, hosts []string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: p.ID, Organization: []string{p.Name}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{PartyURI(p.ID)},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	if err := writeFileExcl(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", err
	}
	if err := writeFileExcl(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// PartyURI is the URI name a node's certificate carries for its party.
func PartyURI(id string) *url.URL { return &url.URL{Scheme: "linkd", Host: "party", Path: "/" + id} }

// writeFileExcl writes a new file and syncs it; it never replaces one.
func writeFileExcl(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return linkd.Errorf(linkd.EConflict, "%s exists; refusing to overwrite it", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}
