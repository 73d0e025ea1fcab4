package faultnet_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/faultnet"
)

func TestPassesBytesUnchanged(t *testing.T) {
	p := newProxy(t, startEcho(t))
	c := dial(t, p.Addr())

	want := make([]byte, 1<<20)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c) // ends when the echo server half-closes
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes back, not the %d sent", len(got), len(want))
	}
	// The half-close travels behind the last byte, so the counts are final.
	if got, want := p.BytesUp(), int64(len(want)); got != want {
		t.Errorf("BytesUp = %d, want %d", got, want)
	}
	if got, want := p.BytesDown(), int64(len(want)); got != want {
		t.Errorf("BytesDown = %d, want %d", got, want)
	}
	if got := p.Conns(); got != 1 {
		t.Errorf("Conns = %d, want 1", got)
	}
}

func TestMutualTLSEndToEnd(t *testing.T) {
	const secret = "bill-of-lading-SECRET-7731"
	clientCert, clientCAs := newClientCert(t, "party-a")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s %s", r.TLS.PeerCertificates[0].Subject.CommonName, secret)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p := newProxy(t, srv.Listener.Addr().String(), faultnet.WithRecord())
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{clientCert}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	url := "https://" + p.Addr() + "/"

	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("get through proxy: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), "hello party-a "+secret; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
	if p.BytesUp() == 0 || p.BytesDown() == 0 {
		t.Errorf("BytesUp = %d, BytesDown = %d; want both above 0", p.BytesUp(), p.BytesDown())
	}
	if p.Contains([]byte(secret)) {
		t.Errorf("recorded TLS traffic contains %q in plaintext", secret)
	}

	t.Run("blackhole times the client out", func(t *testing.T) {
		p.Blackhole()
		defer p.Heal()
		client := &http.Client{Transport: tr, Timeout: 200 * time.Millisecond}
		_, err := client.Get(url)
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Fatalf("get through a blackhole: err %v, want a timeout", err)
		}
	})
}

func TestPartition(t *testing.T) {
	p := newProxy(t, startEcho(t))
	live := dial(t, p.Addr())
	echo(t, live, "before")

	p.Partition()
	expectReset(t, live)
	// The kernel completes the handshake and the proxy resets the connection,
	// sometimes before the dial returns, and a write may see the reset first,
	// leaving the read an EOF.
	if refused, err := net.DialTimeout("tcp", p.Addr(), waitLimit); err == nil {
		refused.Write([]byte("during"))
		expectCut(t, refused)
		refused.Close()
	}

	p.Heal()
	echo(t, dial(t, p.Addr()), "after")
	if got := p.Conns(); got != 3 {
		t.Errorf("Conns = %d, want 3", got)
	}
}

func TestDelay(t *testing.T) {
	const d = 50 * time.Millisecond
	p := newProxy(t, startEcho(t))
	c := dial(t, p.Addr())
	echo(t, c, "warm") // the proxy has dialled the target

	p.SetDelay(d, 0)
	start := time.Now()
	echo(t, c, "ping")
	// Each direction is delayed, so a round trip takes at least 2d. Only the
	// lower bound is asserted: a slow machine may take longer.
	if got := time.Since(start); got < 2*d {
		t.Errorf("round trip with delay %v took %v, want at least %v", d, got, 2*d)
	}
}

func TestJitterKeepsOrder(t *testing.T) {
	p := newProxy(t, startEcho(t), faultnet.WithSeed(1))
	p.SetDelay(2*time.Millisecond, 2*time.Millisecond)
	c := dial(t, p.Addr())

	var want bytes.Buffer
	for i := range 200 {
		msg := fmt.Sprintf("<%d>", i)
		want.WriteString(msg)
		if _, err := io.WriteString(c, msg); err != nil { // separate writes, separate chunks
			t.Fatal(err)
		}
	}
	readExactly(t, c, want.Bytes())
}

func TestDropRateOneResets(t *testing.T) {
	p := newProxy(t, startEcho(t))
	old := dial(t, p.Addr())
	echo(t, old, "before")

	p.SetDropRate(1)
	old.Write([]byte("x"))
	expectReset(t, old)
	fresh := dial(t, p.Addr())
	fresh.Write([]byte("y")) // the proxy cuts only once it has read a chunk
	expectReset(t, fresh)

	p.SetDropRate(0)
	echo(t, dial(t, p.Addr()), "after")
}

func TestBlackholeHoldsThenHeals(t *testing.T) {
	p := newProxy(t, startEcho(t))
	old := dial(t, p.Addr())
	echo(t, old, "before")

	p.Blackhole()
	old.Write([]byte("held-old"))
	fresh := dial(t, p.Addr()) // accepted, but the target is not dialled yet
	fresh.Write([]byte("held-new"))
	expectHung(t, old, 100*time.Millisecond)
	expectHung(t, fresh, 50*time.Millisecond)

	p.Heal()
	readExactly(t, old, []byte("held-old"))
	readExactly(t, fresh, []byte("held-new"))
}

func TestBandwidth(t *testing.T) {
	const bw = 64 << 10
	p := newProxy(t, startEcho(t))
	c := dial(t, p.Addr())
	echo(t, c, "warm")

	p.SetBandwidth(bw)
	msg := bytes.Repeat([]byte("b"), 16<<10)
	start := time.Now()
	go c.Write(msg)
	readExactly(t, c, msg)
	// The link sends 20ms slices, the first at once: every later byte waits
	// its turn. Only the lower bound is asserted.
	slice := bw / 50
	if got, want := time.Since(start), time.Duration(len(msg)-slice)*time.Second/bw; got < want {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", len(msg), bw, got, want)
	}
}

func TestRecord(t *testing.T) {
	p := newProxy(t, startEcho(t), faultnet.WithRecord())
	c := dial(t, p.Addr())
	echo(t, c, "shipment-42 ")
	echo(t, c, "departed")

	if !p.Contains([]byte("shipment-42 departed")) { // across two chunks
		t.Error("Contains(sent bytes) = false, want true")
	}
	if p.Contains([]byte("never sent")) {
		t.Error("Contains(unsent bytes) = true, want false")
	}
	up, down := p.Bytes()
	if got, want := string(up), "shipment-42 departed"; got != want {
		t.Errorf("up = %q, want %q", got, want)
	}
	if got, want := string(down), "shipment-42 departed"; got != want {
		t.Errorf("down = %q, want %q", got, want)
	}
	if p.Truncated() {
		t.Error("Truncated = true, want false")
	}
}

func TestRecordLimit(t *testing.T) {
	p := newProxy(t, startEcho(t), faultnet.WithRecordLimit(5))
	echo(t, dial(t, p.Addr()), "abcdefgh")

	up, down := p.Bytes()
	if got := len(up) + len(down); got != 5 {
		t.Errorf("recorded %d bytes (up %q, down %q), want 5", got, up, down)
	}
	if !p.Truncated() {
		t.Error("Truncated = false, want true")
	}
}

func TestRecordRequiresOption(t *testing.T) {
	p := newProxy(t, startEcho(t))
	defer func() {
		if recover() == nil {
			t.Error("Contains without WithRecord did not panic")
		}
	}()
	p.Contains([]byte("x"))
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	target := startEcho(t)
	before := runtime.NumGoroutine()

	p, err := faultnet.New(target)
	if err != nil {
		t.Fatal(err)
	}
	// Leave connections in every state Close must end: idle, with delayed
	// chunks in flight, and held by a blackhole before dialling.
	idle := dial(t, p.Addr())
	echo(t, idle, "idle")
	p.SetDelay(time.Hour, 0)
	delayed := dial(t, p.Addr())
	delayed.Write([]byte("delayed"))
	p.Blackhole()
	held := dial(t, p.Addr())
	held.Write([]byte("held"))
	if p.Active() != 3 {
		waitFor(t, func() bool { return p.Active() == 3 }, "3 active connections")
	}

	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := p.Active(); got != 0 {
		t.Errorf("Active after Close = %d, want 0", got)
	}
	// Close waited for the proxy's own goroutines, so none may be left now.
	buf := make([]byte, 1<<20)
	if stacks := buf[:runtime.Stack(buf, true)]; bytes.Contains(stacks, []byte("internal/faultnet.(*")) {
		t.Errorf("proxy goroutines still running after Close:\n%s", stacks)
	}
	for _, c := range []net.Conn{idle, delayed, held} {
		expectReset(t, c)
		c.Close()
	}
	// The echo server's goroutines for the cut connections end on their own.
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines back to the count before New")
}

// TestFaultsUnderLoad changes every fault while connections carry traffic, for
// the race detector; it asserts only that Close still ends everything.
func TestFaultsUnderLoad(t *testing.T) {
	target := startEcho(t)
	p, err := faultnet.New(target, faultnet.WithRecord(), faultnet.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	faults := []func(){
		p.Partition, p.Heal, p.Blackhole, p.Heal,
		func() { p.SetDelay(time.Millisecond, time.Millisecond) },
		func() { p.SetDropRate(0.1) },
		func() { p.SetBandwidth(1 << 20) },
		func() { p.SetDelay(0, 0); p.SetDropRate(0); p.SetBandwidth(0) },
		func() { p.Contains([]byte("x")); p.Bytes(); p.Active() },
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var c net.Conn
			for i := range 30 {
				if i%4 == 0 {
					faults[(w+i)%len(faults)]()
				}
				if c == nil {
					nc, err := net.Dial("tcp", p.Addr())
					if err != nil {
						continue
					}
					c = nc
				}
				if tryEcho(c, fmt.Sprintf("w%d-%d", w, i), 20*time.Millisecond) != nil {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := p.Active(); got != 0 {
		t.Errorf("Active after Close = %d, want 0", got)
	}
}

// waitFor polls cond until it holds or waitLimit passes. It is for state that
// settles in other processes' goroutines (the kernel, a server), where there
// is no event to wait on.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
