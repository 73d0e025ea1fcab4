package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/webhook"
)

// testSecret is the subscription's secret in tests.
var testSecret = func() webhook.Secret {
	k, err := webhook.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32)))
	if err != nil {
		panic(err)
	}
	return k
}()

const testBody = `{"eventID":"3cecb101-7a1a-43a4-9d62-e88a131651e2","eventType":"EQUIPMENT","equipmentEventTypeCode":"LOAD"}`

func request(url string) webhook.Request {
	return webhook.Request{
		URL:     url,
		ID:      "evt_0192b6f4-7d2a-7c1e-9f3a-3b5c7d9e1f20",
		Body:    []byte(testBody),
		Secrets: []webhook.Secret{testSecret},
	}
}

// seen is one request a test receiver got.
type seen struct {
	header http.Header
	body   []byte
	valid  error // webhook.Verify's verdict at arrival
}

// receiver records every request it gets and checks its signature the way
// a subscriber would.
type receiver struct {
	mu   sync.Mutex
	reqs []seen // guarded by mu
}

func (rc *receiver) record(r *http.Request) seen {
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	s := seen{header: r.Header.Clone(), body: body.Bytes()}
	s.valid = webhook.Verify([]webhook.Secret{testSecret}, r.Header, s.body, time.Now(), 0)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, s)
	rc.mu.Unlock()
	return s
}

func (rc *receiver) all() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seen(nil), rc.reqs...)
}

// checkAllSigned asserts the receiver saw n requests (n < 0: at least one),
// every one validly signed, with the body sent and one webhook-id.
func (rc *receiver) checkAllSigned(t *testing.T, n int) {
	t.Helper()
	reqs := rc.all()
	if (n >= 0 && len(reqs) != n) || len(reqs) == 0 {
		t.Fatalf("receiver saw %d requests, want %d", len(reqs), n)
	}
	id := reqs[0].header.Get("webhook-id")
	for i, s := range reqs {
		if s.valid != nil {
			t.Errorf("request %d: signature does not verify: %v", i, s.valid)
		}
		if err := webhook.VerifyDCSA([]webhook.Secret{testSecret}, s.header, s.body); err != nil {
			t.Errorf("request %d: Notification-Signature does not verify: %v", i, err)
		}
		if string(s.body) != testBody {
			t.Errorf("request %d: body %q, want %q", i, s.body, testBody)
		}
		if got := s.header.Get("webhook-id"); got != id {
			t.Errorf("request %d: webhook-id %q, want %q on every attempt", i, got, id)
		}
		if got := s.header.Get("User-Agent"); got != webhook.UserAgent {
			t.Errorf("request %d: User-Agent %q", i, got)
		}
	}
}

// fakeDNS serves A queries for any name with addr over real UDP on
// loopback, and returns a resolver that asks it. AAAA queries get an empty
// answer. It exists so a test can make a name resolve where it likes.
func fakeDNS(t *testing.T, addr netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, err := dnsAnswer(buf[:n], addr); err == nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// dnsAnswer builds the response to a one-question DNS query (RFC 1035 §4).
func dnsAnswer(q []byte, addr netip.Addr) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, errors.New("not a one-question query")
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil, errors.New("short question")
	}
	qend := i + 5
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])

	resp := append([]byte(nil), q[:qend]...)
	binary.BigEndian.PutUint16(resp[2:4], 0x8580) // response, authoritative, recursion desired and available
	binary.BigEndian.PutUint16(resp[8:10], 0)     // no authority records
	binary.BigEndian.PutUint16(resp[10:12], 0)    // no additional records (drops the query's EDNS OPT)
	const typeA = 1
	if qtype != typeA || !addr.Is4() {
		binary.BigEndian.PutUint16(resp[6:8], 0)
		return resp, nil
	}
	binary.BigEndian.PutUint16(resp[6:8], 1)
	a := addr.As4()
	resp = append(resp,
		0xc0, 12, // name: pointer to the question's
		0, typeA, 0, 1, // type A, class IN
		0, 0, 0, 60, // TTL
		0, 4, a[0], a[1], a[2], a[3])
	return resp, nil
}
