package peers_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/peers"
)

// server is this node's HTTPS listener on loopback as internal/node sets it
// up: its own certificate, client certificates requested but not required.
// Each request answers the peer Identify finds, or 401 with its message.
func (h *harness) server(own *node) *httptest.Server {
	h.t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Resumed", fmt.Sprint(r.TLS.DidResume))
		p, err := h.d.Identify(r.TLS)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, linkd.ErrorCode(err)+": "+linkd.ErrorMessage(err))
			return
		}
		io.WriteString(w, p.Party.ID)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{own.cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	srv.StartTLS()
	h.t.Cleanup(srv.Close)
	return srv
}

// call makes one request on a new connection with conf and returns the
// status, the body and whether the TLS session was resumed.
func call(t *testing.T, url string, conf *tls.Config) (int, string, bool) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Resumed") == "true"
}

// cardAt is the node's card with the endpoint it really serves at.
func cardAt(n *node, srv *httptest.Server) peers.Peer {
	c := n.card()
	c.Endpoint = srv.URL
	return c
}

func TestIdentify(t *testing.T) {
	h := newHarness(t)
	me, tn, oc := newNode(t, self), newNode(t, terminal), newNode(t, carrier)
	srv := h.server(me)
	myCard := cardAt(me, srv)
	h.put(tn.card())

	want := func(t *testing.T, conf *tls.Config, status int, parts ...string) {
		t.Helper()
		got, body, _ := call(t, srv.URL, conf)
		if got != status {
			t.Fatalf("status %d (%s), want %d", got, body, status)
		}
		for _, p := range parts {
			if !strings.Contains(body, p) {
				t.Errorf("answer %q does not say %q", body, p)
			}
		}
	}

	t.Run("pinned partner", func(t *testing.T) {
		want(t, peers.ClientTLS(myCard, tn.cert), http.StatusOK, terminal.ID)
	})
	t.Run("no client certificate", func(t *testing.T) {
		want(t, &tls.Config{InsecureSkipVerify: true}, http.StatusUnauthorized, "unauthorized", "no client certificate")
	})
	t.Run("party not in the directory", func(t *testing.T) {
		want(t, peers.ClientTLS(myCard, oc.cert), http.StatusUnauthorized, "unauthorized", `"oceanic-lines"`, "not in this node's directory")
	})
	t.Run("wrong certificate for its party", func(t *testing.T) {
		// Anyone can make a certificate that names haiphong-terminal.
		impostor, _ := makeCert(t, terminal.ID, certOpts{})
		want(t, peers.ClientTLS(myCard, impostor), http.StatusUnauthorized, "unauthorized", `"haiphong-terminal"`, "not the certificate pinned")
	})
	t.Run("certificate naming no party", func(t *testing.T) {
		anon, _ := makeCert(t, terminal.ID, certOpts{noURI: true})
		want(t, peers.ClientTLS(myCard, anon), http.StatusUnauthorized, "unauthorized", "names no party")
	})
	t.Run("pinned certificate of another party", func(t *testing.T) {
		// The carrier presents the terminal's certificate without its key:
		// the handshake itself fails, so nothing reaches Identify.
		stolen := tls.Certificate{Certificate: tn.cert.Certificate, PrivateKey: oc.cert.PrivateKey}
		tr := &http.Transport{TLSClientConfig: peers.ClientTLS(myCard, stolen), DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		if resp, err := (&http.Client{Transport: tr}).Get(srv.URL); err == nil {
			resp.Body.Close()
			t.Fatalf("a certificate without its key got status %d", resp.StatusCode)
		}
	})

	t.Run("rotated", func(t *testing.T) {
		old := tn.cert
		rotated := *tn
		rotated.cert, rotated.pem = makeCert(t, terminal.ID, certOpts{})
		h.put(rotated.card())
		want(t, peers.ClientTLS(myCard, old), http.StatusUnauthorized, "not the certificate pinned")
		want(t, peers.ClientTLS(myCard, rotated.cert), http.StatusOK, terminal.ID)
		h.put(tn.card()) // and back
		want(t, peers.ClientTLS(myCard, tn.cert), http.StatusOK, terminal.ID)
	})

	t.Run("removed", func(t *testing.T) {
		// A session the client resumes after the removal is refused too.
		conf := peers.ClientTLS(myCard, tn.cert)
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		if status, body, _ := call(t, srv.URL, conf); status != http.StatusOK {
			t.Fatalf("before removal: %d %s", status, body)
		}
		if err := h.d.Remove(terminal.ID); err != nil {
			t.Fatal(err)
		}
		status, body, resumed := call(t, srv.URL, conf)
		if status != http.StatusUnauthorized || !strings.Contains(body, "not in this node's directory") {
			t.Fatalf("after removal: %d %s, want 401 saying the party is not in the directory", status, body)
		}
		if !resumed {
			t.Log("the session was not resumed; only a full handshake was checked")
		}
		want(t, peers.ClientTLS(myCard, tn.cert), http.StatusUnauthorized, "not in this node's directory")
	})

	t.Run("restart keeps the pin", func(t *testing.T) {
		h.put(tn.card())
		h.reopen()
		want(t, peers.ClientTLS(myCard, tn.cert), http.StatusOK, terminal.ID)
		impostor, _ := makeCert(t, terminal.ID, certOpts{})
		want(t, peers.ClientTLS(myCard, impostor), http.StatusUnauthorized, "not the certificate pinned")
	})

	t.Run("pinned certificate expired", func(t *testing.T) {
		h.clock.Add(4 * 365 * 24 * time.Hour)
		defer h.clock.Add(-4 * 365 * 24 * time.Hour)
		want(t, peers.ClientTLS(myCard, tn.cert), http.StatusUnauthorized, "expired")
	})
}

func TestClientTLSPinsTheServer(t *testing.T) {
	tn, me := newNode(t, terminal), newNode(t, self)
	// The partner's node: it serves its certificate and reports the client
	// certificate it saw.
	serve := func(cert tls.Certificate) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.PeerCertificates) == 0 {
				io.WriteString(w, "no client certificate")
				return
			}
			id, err := peers.PartyOf(r.TLS.PeerCertificates[0])
			fmt.Fprint(w, id, err)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	dial := func(card peers.Peer) (string, error) {
		tr := &http.Transport{TLSClientConfig: peers.ClientTLS(card, me.cert), DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(card.Endpoint)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	wantRefused := func(t *testing.T, err error, says string) {
		t.Helper()
		var le *linkd.Error
		if !errors.As(err, &le) || le.Code != linkd.EUnauthorized || !strings.Contains(le.Message, says) {
			t.Fatalf("dial: %v, want an unauthorized error saying %q", err, says)
		}
	}

	t.Run("pinned", func(t *testing.T) {
		srv := serve(tn.cert)
		// The URL names 127.0.0.1; the pin, not the name, decides.
		got, err := dial(cardAt(tn, srv))
		if err != nil {
			t.Fatalf("dial the pinned server: %v", err)
		}
		if got != self.ID+"<nil>" {
			t.Fatalf("the server saw client %q, want our certificate naming %s", got, self.ID)
		}
	})
	t.Run("another certificate for the same party", func(t *testing.T) {
		impostor, _ := makeCert(t, terminal.ID, certOpts{})
		srv := serve(impostor)
		_, err := dial(cardAt(tn, srv))
		wantRefused(t, err, "not the one pinned")
	})
	t.Run("pinned certificate expired", func(t *testing.T) {
		old, oldPEM := makeCert(t, terminal.ID, certOpts{notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
		srv := serve(old)
		card := cardAt(tn, srv)
		card.CertPEM = oldPEM
		_, err := dial(card)
		wantRefused(t, err, "expired")
	})
	t.Run("card without a usable certificate", func(t *testing.T) {
		srv := serve(tn.cert)
		card := cardAt(tn, srv)
		card.CertPEM = "garbage"
		_, err := dial(card)
		wantRefused(t, err, "no usable certificate")
	})
}

// TestIdentifyWhileChanging runs Identify against Put and Remove of the same
// party: every answer is either the party or a refusal, never another
// party's card or a torn one. Run it with -race.
func TestIdentifyWhileChanging(t *testing.T) {
	h := newHarness(t)
	tn := newNode(t, terminal)
	rotated := *tn
	rotated.cert, rotated.pem = makeCert(t, terminal.ID, certOpts{})
	h.put(tn.card())
	cs := func(n *node) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{n.cert.Leaf}}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var okCount [2]int
	for i, n := range []*node{tn, &rotated} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := h.d.Identify(cs(n))
				switch {
				case err == nil && p.Party.ID == terminal.ID && p.CertPEM == n.pem:
					okCount[i]++
				case err == nil:
					t.Errorf("identified as %s with certificate %.40q, want %s with the presented one", p.Party.ID, p.CertPEM, terminal.ID)
					return
				case linkd.ErrorCode(err) != linkd.EUnauthorized:
					t.Errorf("refused with %v, want unauthorized", err)
					return
				}
			}
		}()
	}
	for range 50 {
		h.put(rotated.card())
		h.put(tn.card())
		if err := h.d.Remove(terminal.ID); err != nil {
			t.Fatal(err)
		}
		h.put(tn.card())
	}
	close(stop)
	wg.Wait()
	// The final state is the first card: it is accepted, the rotated one not.
	if _, err := h.d.Identify(cs(tn)); err != nil {
		t.Errorf("after the churn, the pinned certificate is refused: %v", err)
	}
	if _, err := h.d.Identify(cs(&rotated)); err == nil {
		t.Error("after the churn, a replaced certificate is accepted")
	}
	t.Logf("accepted %d and %d times during the churn", okCount[0], okCount[1])
}
