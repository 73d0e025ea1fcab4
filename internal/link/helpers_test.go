package link_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/drain"
	"github.com/linkd-dev/linkd/internal/link"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var (
	shipper = linkd.Party{ID: "hanoi-electronics", Name: "Hanoi Electronics", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"VN", "ASEAN"}}
	carrier = linkd.Party{ID: "ocean-carrier", Name: "Ocean Carrier", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}}
	hamburg = linkd.Party{ID: "hamburg-dc", Name: "Hamburg DC", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"DE", "EU"}}
)

// testNode is one party's node reduced to what links need: a store, its log,
// a peer directory, a link manager and an mTLS listener on loopback.
type testNode struct {
	t       testing.TB
	party   linkd.Party
	dir     string
	skey    string
	vkey    string
	cert    tls.Certificate
	certPEM string

	db      *pebble.DB
	own     *partylog.Log
	logs    *partylog.Logs
	peers   *peers.Directory
	mgr     *link.Manager
	reg     *prometheus.Registry
	alerts  *alertLog
	srv     *http.Server
	ln      net.Listener
	addr    string // kept across restarts
	applied chan partylog.ApplyResult
	gate    *drain.Gate // requests being served by the running server
	opts    func(*link.Config)
}

func newTestNode(t testing.TB, p linkd.Party, opts func(*link.Config)) *testNode {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, party: p, dir: t.TempDir(), skey: skey, vkey: vkey, alerts: &alertLog{}, opts: opts}
	n.cert, n.certPEM = makeCert(t, p.ID)
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) start() {
	t := n.t
	t.Helper()
	var err error
	if n.db, err = store.Open(filepath.Join(n.dir, "data"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	var mgr *link.Manager
	n.own, err = partylog.Open(n.db, partylog.Config{Self: n.party, SigningKey: n.skey, KeepEntries: true,
		OnCommit: func(c partylog.CommitInfo) {
			if mgr != nil {
				mgr.Committed(c.Entries)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.logs = partylog.NewLogs(n.own, nil)
	if n.peers, err = peers.Open(n.db, n.party, nil); err != nil {
		t.Fatal(err)
	}
	n.reg = prometheus.NewRegistry()
	n.applied = make(chan partylog.ApplyResult, 1024)
	cfg := link.Config{
		Self: n.party, Logs: n.logs, Directory: n.peers, Cert: n.cert, Alerts: n.alerts,
		Metrics: link.NewMetrics(n.reg), RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		GossipEvery: 50 * time.Millisecond,
		OnApplied: func(origin string, from int64, res partylog.ApplyResult) {
			select {
			case n.applied <- res:
			default:
			}
		},
	}
	if n.opts != nil {
		n.opts(&cfg)
	}
	mgr = link.New(cfg)
	n.mgr = mgr
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if n.ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	n.addr = n.ln.Addr().String()
	h := mgr.Handler()
	n.gate = &drain.Gate{}
	n.srv = &http.Server{Handler: n.gate.Wrap(h), ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{n.cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}}
	go n.srv.ServeTLS(n.ln, "", "")
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
}

func (n *testNode) stop() {
	if n.srv == nil {
		return
	}
	// Close does not wait for handlers still running, which read the store
	// closed below: wait for them here.
	n.srv.Close()
	n.gate.Close(context.Background())
	n.mgr.Close()
	n.own.Close()
	n.db.Close()
	n.srv = nil
}

func (n *testNode) restart() {
	n.stop()
	n.start()
}

// restartWithKey restarts the node signing its log with another key (an
// evil twin of a party holds the party's real key).
func (n *testNode) restartWithKey(skey, vkey string) {
	n.stop()
	n.skey, n.vkey = skey, vkey
	n.start()
}

func (n *testNode) card() peers.Peer {
	return peers.Peer{Party: n.party, LogKey: n.vkey, CertPEM: n.certPEM, Endpoint: "https://" + n.addr}
}

// linkAll puts every node's card in every other node's directory.
func linkAll(t testing.TB, nodes ...*testNode) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if err := a.peers.Put(b.card()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := a.mgr.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func (n *testNode) append(events ...linkd.Event) []linkd.Ack {
	n.t.Helper()
	acks, err := n.own.Append(context.Background(), events)
	if err != nil {
		n.t.Fatalf("%s append: %v", n.party.ID, err)
	}
	return acks
}

// waitConverged waits until every node holds every other node's log at the
// origin's size and root.
func waitConverged(t testing.TB, timeout time.Duration, nodes ...*testNode) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var lag []string
		for _, origin := range nodes {
			want, _ := origin.own.TreeHash(origin.own.Size())
			for _, n := range nodes {
				if n == origin {
					continue
				}
				rep, ok := n.logs.Lookup(origin.party.ID)
				if !ok || rep.Size() != origin.own.Size() {
					size := int64(-1)
					if ok {
						size = rep.Size()
					}
					lag = append(lag, n.party.ID+" holds "+strconv.FormatInt(size, 10)+" of "+origin.party.ID+"'s "+strconv.FormatInt(origin.own.Size(), 10))
					continue
				}
				if got, _ := rep.TreeHash(rep.Size()); got != want {
					t.Fatalf("%s's replica of %s has root %x, the origin %x", n.party.ID, origin.party.ID, got[:8], want[:8])
				}
			}
		}
		if len(lag) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %v: %s", timeout, strings.Join(lag, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *testNode) counter(name string, labels ...string) float64 {
	mfs, err := n.reg.Gather()
	if err != nil {
		n.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			if m.Counter != nil {
				total += m.Counter.GetValue()
			} else if m.Gauge != nil {
				total += m.Gauge.GetValue()
			}
		}
	}
	return total
}

// storeContains reports whether any file of the node's store holds needle.
// Pebble compresses sstables with snappy, so callers flush first and compare
// with uncompressed L0 files, or plant needles long enough to survive.
func (n *testNode) storeContains(needle string) bool {
	n.t.Helper()
	if err := n.db.Flush(); err != nil {
		n.t.Fatal(err)
	}
	found := false
	filepath.WalkDir(filepath.Join(n.dir, "data"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), needle) {
			found = true
			return errors.New("found")
		}
		return nil
	})
	return found
}

// alertLog records alerts and holds in memory.
type alertLog struct {
	mu     sync.Mutex
	alerts []alert
	holds  map[string]string
}

type alert struct {
	kind, severity, peer, log, msg string
	evidence                       *linkd.Evidence
}

func (a *alertLog) Raise(kind, severity, peer, log, msg string, ev *linkd.Evidence) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = append(a.alerts, alert{kind, severity, peer, log, msg, ev})
}

func (a *alertLog) Hold(log, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holds == nil {
		a.holds = map[string]string{}
	}
	a.holds[log] = reason
}

func (a *alertLog) Held(log string) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.holds[log]
	return ok, r
}

func (a *alertLog) kinds() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, x := range a.alerts {
		out = append(out, x.kind)
	}
	return out
}

func (a *alertLog) find(kind string) (alert, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range a.alerts {
		if x.kind == kind {
			return x, true
		}
	}
	return alert{}, false
}

// makeCert makes a node certificate as `linkd init` does: ECDSA P-256,
// self-signed, naming the party in a linkd://party/<id> URI.
func makeCert(t testing.TB, id string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: "linkd", Host: "party", Path: "/" + id}},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, string(certPEM)
}
