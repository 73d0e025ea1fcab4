package raftlog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/testnet"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var party = scenario.Terminal

// creds are a party's shared secrets: its log key and TLS certificate.
type creds struct {
	skey  string
	cert  tls.Certificate
	roots *x509.CertPool
}

func newCreds(t testing.TB, partyID string) creds {
	t.Helper()
	skey, _, err := tlog.GenerateKey(linkd.LogOrigin(party.ID))
	if err != nil {
		t.Fatal(err)
	}
	cert, leaf := selfSigned(t, partyID)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return creds{skey: skey, cert: cert, roots: roots}
}

// selfSigned makes an ECDSA certificate naming partyID, as linkd init does.
func selfSigned(t testing.TB, partyID string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: partyID},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: "linkd", Host: "party", Path: "/" + partyID}},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// tm is one member in a test: its directory survives close and reopen.
type tm struct {
	t      testing.TB
	id     string
	dir    string
	listen string
	creds  creds
	boot   bool
	tweak  func(*Config)
	db     *pebble.DB
	m      *Member
	logs   *logTail
	// started is set once the member has opened: its address is then in
	// the cluster's configuration and must stay.
	started bool
}

func newTM(t testing.TB, c creds, id string, boot bool) *tm {
	t.Helper()
	x := &tm{t: t, id: id, dir: filepath.Join(t.TempDir(), id), listen: testnet.FreeAddr(t), creds: c, boot: boot, logs: &logTail{}}
	t.Cleanup(x.close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log, the last %d lines:\n%s", id, logTailLines, x.logs.String())
		}
	})
	return x
}

// logTailLines is how many of a member's newest log lines a failed test
// shows.
const logTailLines = 300

// logTail keeps a member's newest log lines, for a failed test to show:
// what Raft and the member did is what explains a failure seen once in CI.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	if len(l.lines) > 2*logTailLines {
		l.lines = append(l.lines[:0], l.lines[len(l.lines)-logTailLines:]...)
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-logTailLines):], "\n")
}

func (x *tm) config() Config {
	cfg := Config{
		MemberID: x.id, Dir: filepath.Join(x.dir, "raft"), Listen: x.listen, API: "https://" + x.id + ".example:7443",
		Party: party.ID, Cert: x.creds.cert, Roots: x.creds.roots, Bootstrap: x.boot,
		HeartbeatTimeout: 200 * time.Millisecond, LeaderWait: time.Second, ProposeTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(x.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if x.tweak != nil {
		x.tweak(&cfg)
	}
	return cfg
}

func (x *tm) open() error {
	x.t.Helper()
	db, err := store.Open(filepath.Join(x.dir, "store"), store.Options{})
	if err != nil {
		return err
	}
	m, err := Open(db, partylog.Config{Self: party, SigningKey: x.creds.skey}, x.config())
	if err != nil {
		db.Close()
		return err
	}
	x.db, x.m = db, m
	return nil
}

func (x *tm) start() *tm {
	x.t.Helper()
	err := x.open()
	// freeAddr's port is free when chosen, not when the member listens:
	// another test process can take it in between. A member that has never
	// started is known to no one yet, so it can take another port.
	for tries := 0; err != nil && errors.Is(err, syscall.EADDRINUSE) && !x.started && tries < 3; tries++ {
		x.listen = testnet.FreeAddr(x.t)
		err = x.open()
	}
	if err != nil {
		x.t.Fatalf("open %s: %v", x.id, err)
	}
	x.started = true
	return x
}

func (x *tm) close() {
	if x.m != nil {
		x.m.Close()
		x.db.Close()
		x.m, x.db = nil, nil
	}
}

func (x *tm) log() *partylog.Log { return x.m.Log() }

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// joinToken reads the token the bootstrapping member wrote.
func joinToken(t testing.TB, boot *tm) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(boot.dir, "raft", "join-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// join adds x to the cluster through member via, as `linkd node --join`
// does: a dry run to learn the cluster, a claim, the join.
func join(t testing.TB, via, x *tm, token string) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	req := JoinRequest{Member: x.id, RaftAddress: x.m.Advertise(), API: x.m.cfg.API, Token: token, DryRun: true}
	res, err := via.m.Join(ctx, req)
	if err != nil {
		t.Fatalf("join %s (dry run): %v", x.id, err)
	}
	if err := x.m.Claim(res.Cluster); err != nil {
		t.Fatal(err)
	}
	req.DryRun = false
	if _, err := via.m.Join(ctx, req); err != nil {
		t.Fatalf("join %s: %v", x.id, err)
	}
	if err := x.m.WaitReady(ctx); err != nil {
		t.Fatalf("%s not ready after joining: %v", x.id, err)
	}
}

// cluster3 starts a bootstrapped member and joins two more.
func cluster3(t testing.TB, tweak func(*Config)) (creds, []*tm) {
	t.Helper()
	c := newCreds(t, party.ID)
	ms := []*tm{newTM(t, c, "m1", true), newTM(t, c, "m2", false), newTM(t, c, "m3", false)}
	for _, x := range ms {
		x.tweak = tweak
	}
	ms[0].start()
	if err := ms[0].m.WaitReady(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	tok := joinToken(t, ms[0])
	for _, x := range ms[1:] {
		x.start()
		join(t, ms[0], x, tok)
	}
	return c, ms
}

func events(seed uint64, n int) []linkd.Event {
	return scenario.NewGenerator(seed, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)).Batch(n)
}

// converged waits until every given member has applied as far as the most
// advanced one and returns their checkpoint, which must be the same note.
func converged(t testing.TB, ms ...*tm) []byte {
	t.Helper()
	var top uint64
	for _, x := range ms {
		top = max(top, x.log().Applied())
	}
	ctx := ctxT(t, 20*time.Second)
	var notes []string
	for _, x := range ms {
		if err := x.log().WaitApplied(ctx, top); err != nil {
			t.Fatalf("%s did not apply up to index %d (at %d): %v", x.id, top, x.log().Applied(), err)
		}
		n, _ := x.log().Checkpoint()
		notes = append(notes, string(n))
	}
	for i, n := range notes[1:] {
		if n != notes[0] {
			t.Fatalf("after index %d, %s and %s hold different checkpoints:\n%s\n---\n%s", top, ms[0].id, ms[i+1].id, notes[0], n)
		}
	}
	return []byte(notes[0])
}
