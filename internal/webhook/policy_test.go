package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/webhook"
)

func TestCheckAddr(t *testing.T) {
	loop := webhook.Policy{AllowLoopback: true}
	priv := webhook.Policy{AllowPrivate: true}
	allow := webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24"), netip.MustParsePrefix("169.254.169.254/32")}}
	tests := []struct {
		addr    string
		p       webhook.Policy
		kind    string // "": admitted
		setting string
		reason  string // part of Reason
	}{
		// Public unicast: admitted.
		{addr: "8.8.8.8"},
		{addr: "1.1.1.1"},
		{addr: "93.184.216.34"},
		{addr: "172.32.0.1"},  // just past 172.16/12
		{addr: "100.128.0.1"}, // just past 100.64/10
		{addr: "2606:4700:4700::1111"},
		{addr: "::ffff:8.8.8.8"},       // mapped public
		{addr: "64:ff9b::8.8.8.8"},     // NAT64 of public
		{addr: "2002:808:808::1"},      // 6to4 of 8.8.8.8
		{addr: "2a00:1450:4001::200e"}, // public v6

		// Loopback.
		{addr: "127.0.0.1", kind: "loopback", setting: "webhooks.allow_loopback"},
		{addr: "127.255.255.254", kind: "loopback", setting: "webhooks.allow_loopback"},
		{addr: "::1", kind: "loopback", setting: "webhooks.allow_loopback"},
		{addr: "::ffff:127.0.0.1", kind: "loopback", setting: "webhooks.allow_loopback", reason: "IPv4-mapped form of 127.0.0.1"},
		{addr: "2002:7f00:1::1", kind: "loopback", reason: "6to4 form of 127.0.0.1"},
		{addr: "127.0.0.1", p: loop},
		{addr: "::1", p: loop},
		{addr: "::ffff:127.0.0.1", p: loop},
		{addr: "127.0.0.1", p: priv, kind: "loopback"},

		// Private, CGNAT, unique local.
		{addr: "10.0.0.5", kind: "private", setting: "webhooks.allow_private"},
		{addr: "172.16.0.1", kind: "private"},
		{addr: "172.31.255.255", kind: "private"},
		{addr: "192.168.1.1", kind: "private"},
		{addr: "100.64.0.1", kind: "private", reason: "carrier-grade NAT"},
		{addr: "100.127.255.255", kind: "private"},
		{addr: "198.18.0.1", kind: "private"},
		{addr: "fc00::1", kind: "private", reason: "unique local"},
		{addr: "fd12:3456:789a::1", kind: "private"},
		{addr: "fec0::1", kind: "private"},
		{addr: "::ffff:10.0.0.5", kind: "private", reason: "IPv4-mapped form of 10.0.0.5"},
		{addr: "::ffff:100.64.0.1", kind: "private"},
		{addr: "64:ff9b::10.0.0.5", kind: "private", reason: "NAT64 form of 10.0.0.5"},
		{addr: "64:ff9b:1::1", kind: "private"},
		{addr: "10.0.0.5", p: priv},
		{addr: "100.64.0.1", p: priv},
		{addr: "fc00::1", p: priv},
		{addr: "::ffff:192.168.0.1", p: priv},
		{addr: "10.0.0.5", p: loop, kind: "private"},

		// Metadata: refused whatever the switches say.
		{addr: "169.254.169.254", kind: "metadata", reason: "cloud metadata"},
		{addr: "::ffff:169.254.169.254", kind: "metadata", reason: "IPv4-mapped form of 169.254.169.254"},
		{addr: "::ffff:a9fe:a9fe", kind: "metadata"},
		{addr: "64:ff9b::a9fe:a9fe", kind: "metadata"},
		{addr: "169.254.170.2", kind: "metadata"},
		{addr: "fd00:ec2::254", p: priv, kind: "metadata"},
		{addr: "100.100.100.200", p: priv, kind: "metadata"},
		{addr: "169.254.169.254", p: webhook.Policy{AllowPrivate: true, AllowLoopback: true, AllowHTTP: true}, kind: "metadata"},

		// Link-local.
		{addr: "169.254.1.1", kind: "link-local"},
		{addr: "fe80::1", kind: "link-local"},
		{addr: "fe80::1%eth0", kind: "link-local"},
		{addr: "::ffff:169.254.1.1", kind: "link-local"},
		{addr: "169.254.1.1", p: priv, kind: "link-local"},

		// Unspecified, this network, multicast, broadcast, reserved.
		{addr: "0.0.0.0", kind: "unspecified"},
		{addr: "::", kind: "unspecified"},
		{addr: "::ffff:0.0.0.0", kind: "unspecified"},
		{addr: "0.1.2.3", kind: "reserved", reason: "this network"},
		{addr: "224.0.0.1", kind: "multicast"},
		{addr: "239.255.255.250", kind: "multicast"},
		{addr: "ff02::1", kind: "multicast"},
		{addr: "ff05::1:3", kind: "multicast"},
		{addr: "::ffff:224.0.0.251", kind: "multicast"},
		{addr: "255.255.255.255", kind: "broadcast"},
		{addr: "::ffff:255.255.255.255", kind: "broadcast"},
		{addr: "240.0.0.1", kind: "reserved"},
		{addr: "192.0.2.1", kind: "reserved", reason: "documentation"},
		{addr: "2001:db8::1", kind: "reserved", reason: "documentation"},
		{addr: "::127.0.0.1", kind: "reserved", reason: "IPv4-compatible"},
		{addr: "2001:0:4136:e378:8000:63bf:3fff:fdd2", kind: "reserved", reason: "Teredo"},

		// The operator's allow list admits anything inside it, nothing outside.
		{addr: "10.20.0.7", p: allow},
		{addr: "::ffff:10.20.0.7", p: allow},
		{addr: "10.20.1.1", p: allow, kind: "private"},
		{addr: "169.254.169.254", p: allow},
		{addr: "169.254.169.253", p: allow, kind: "link-local"},
	}
	for _, tc := range tests {
		name := tc.addr
		switch {
		case tc.p.AllowLoopback:
			name += "/allow_loopback"
		case tc.p.AllowPrivate:
			name += "/allow_private"
		case tc.p.Allow != nil:
			name += "/allow_list"
		}
		t.Run(name, func(t *testing.T) {
			err := webhook.CheckAddr(netip.MustParseAddr(tc.addr), tc.p)
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("CheckAddr = %v, want admitted", err)
				}
				return
			}
			var de *webhook.DestinationError
			if !errors.As(err, &de) {
				t.Fatalf("CheckAddr = %v, want a *DestinationError of kind %s", err, tc.kind)
			}
			if de.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q (%v)", de.Kind, tc.kind, err)
			}
			if tc.setting != "" && de.Setting != tc.setting {
				t.Errorf("Setting = %q, want %q", de.Setting, tc.setting)
			}
			if !strings.Contains(de.Reason, tc.reason) {
				t.Errorf("Reason %q does not say %q", de.Reason, tc.reason)
			}
			if !strings.Contains(err.Error(), "callback "+netip.MustParseAddr(tc.addr).String()) {
				t.Errorf("error %q does not name the address", err)
			}
			if want := "webhooks.allow"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say how to allow it", err)
			}
		})
	}
}

func TestCheckAddrMessage(t *testing.T) {
	err := webhook.CheckAddr(netip.MustParseAddr("10.0.0.5"), webhook.Policy{})
	const want = "callback 10.0.0.5 is a private address; the node's operator can allow private destinations with webhooks.allow_private"
	if err == nil || err.Error() != want {
		t.Errorf("CheckAddr(10.0.0.5) = %v\nwant %s", err, want)
	}
	err = webhook.CheckAddr(netip.MustParseAddr("169.254.169.254"), webhook.Policy{AllowPrivate: true})
	const want2 = "callback 169.254.169.254 is a cloud metadata address; webhooks never go there unless the node's operator lists the address in webhooks.allow"
	if err == nil || err.Error() != want2 {
		t.Errorf("CheckAddr(169.254.169.254) = %v\nwant %s", err, want2)
	}
}

func TestCheckURL(t *testing.T) {
	httpOK := webhook.Policy{AllowHTTP: true}
	loop := webhook.Policy{AllowLoopback: true}
	tests := []struct {
		url     string
		p       webhook.Policy
		errText string // "": admitted
		kind    string // kind of *DestinationError, if one
	}{
		{url: "https://example.com/hook"},
		{url: "https://example.com:8443/hook?tenant=42#frag"},
		{url: "HTTPS://Example.COM/hook"},
		{url: "https://8.8.8.8/hook"},
		{url: "https://[2606:4700:4700::1111]:443/hook"},
		{url: "https://xn--bcher-kva.example/hook"},
		{url: "https://123.example/hook"},
		{url: "http://example.com/hook", p: httpOK},
		{url: "http://example.com/hook", errText: "uses http; only https is allowed unless the node's operator sets webhooks.allow_http"},
		{url: "ftp://example.com/hook", errText: `scheme "ftp" is not https`},
		{url: "example.com/hook", errText: "must be absolute"},
		{url: "//example.com/hook", errText: "must be absolute"},
		{url: "https:example.com", errText: "must be absolute"},
		{url: "https://user:hunter2@example.com/hook", errText: "must not carry a user name or password"},
		{url: "https://user@example.com/hook", errText: "must not carry a user name or password"},
		{url: "https:///hook", errText: "has no host"},
		{url: "https://:443/hook", errText: "has no host"},
		{url: "https://example.com:0/hook", errText: `port "0" is not 1 to 65535`},
		{url: "https://example.com:70000/hook", errText: `port "70000"`},
		{url: "https://example.com:/hook", errText: "empty port"},
		{url: "https://exa mple.com/hook", errText: "does not parse"},
		{url: "https://user:hunter2@exa mple.com/hook", errText: "does not parse"},
		{url: "https://10.0.0.5/hook", errText: "callback 10.0.0.5 is a private address; the node's operator can allow private destinations with webhooks.allow_private", kind: "private"},
		{url: "https://10.0.0.5/hook", p: webhook.Policy{AllowPrivate: true}},
		{url: "https://100.64.1.2/hook", errText: "carrier-grade NAT", kind: "private"},
		{url: "https://169.254.169.254/latest/meta-data/", errText: "cloud metadata", kind: "metadata"},
		{url: "https://[::ffff:169.254.169.254]/", errText: "IPv4-mapped form of 169.254.169.254", kind: "metadata"},
		{url: "https://[::ffff:a9fe:a9fe]/", errText: "cloud metadata", kind: "metadata"},
		{url: "https://[fd00:ec2::254]/", p: webhook.Policy{AllowPrivate: true}, errText: "cloud metadata", kind: "metadata"},
		{url: "https://[::1]:8443/", errText: "loopback", kind: "loopback"},
		{url: "https://127.0.0.1:8443/", errText: "webhooks.allow_loopback", kind: "loopback"},
		{url: "https://127.0.0.1:8443/", p: loop},
		{url: "https://0.0.0.0/", errText: "unspecified", kind: "unspecified"},
		{url: "https://[::]/", errText: "unspecified", kind: "unspecified"},
		{url: "https://224.0.0.1/", errText: "multicast", kind: "multicast"},
		{url: "https://255.255.255.255/", errText: "broadcast", kind: "broadcast"},
		{url: "https://[fe80::1%25eth0]/", errText: "zone"},
		{url: "https://localhost:8443/", errText: "callback host localhost is a loopback name", kind: "loopback"},
		{url: "https://LocalHost./", errText: "loopback name", kind: "loopback"},
		{url: "https://api.localhost/", errText: "loopback name", kind: "loopback"},
		{url: "https://localhost:8443/", p: loop},
		{url: "https://localhost:8443/", p: webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		{url: "https://127.1/", errText: "neither a dotted-quad address nor a DNS name"},
		{url: "https://2130706433/", errText: "neither a dotted-quad"},
		{url: "https://0x7f000001/", errText: "neither a dotted-quad"},
		{url: "https://0x7f.0x1/", errText: "neither a dotted-quad"},
		{url: "https://1.2.3.4.5/", errText: "neither a dotted-quad"},
		{url: "https://example.123/", errText: "neither a dotted-quad"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := webhook.CheckURL(tc.url, tc.p)
			if tc.errText == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL = nil, want an error saying %q", tc.errText)
			}
			if code := linkd.ErrorCode(err); code != linkd.EInvalid {
				t.Errorf("code = %q, want %q", code, linkd.EInvalid)
			}
			msg := linkd.ErrorMessage(err)
			if !strings.Contains(msg, tc.errText) {
				t.Errorf("message %q does not say %q", msg, tc.errText)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats the password", err)
			}
			var de *webhook.DestinationError
			if got := errors.As(err, &de); got != (tc.kind != "") {
				t.Errorf("errors.As(*DestinationError) = %v, want %v", got, tc.kind != "")
			} else if got && de.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", de.Kind, tc.kind)
			}
		})
	}
}

// TestDialTimeEnforcement: a host name that passes CheckURL but resolves to
// a loopback address is refused when dialled, unless loopback is allowed.
// This is the DNS rebinding defence: the address checked is the one dialled.
func TestDialTimeEnforcement(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	resolver := fakeDNS(t, netip.MustParseAddr("127.0.0.1"))
	target := "http://rebind.example:" + port + "/hook"

	if err := webhook.CheckURL(target, webhook.Policy{AllowHTTP: true}); err != nil {
		t.Fatalf("CheckURL(%s) = %v; a name is not resolved when the subscription is made", target, err)
	}

	t.Run("refused", func(t *testing.T) {
		c := webhook.NewClient(webhook.Options{Policy: webhook.Policy{AllowHTTP: true}, Resolver: resolver})
		t.Cleanup(func() { c.Close() })
		r := c.Send(context.Background(), request(target))
		if r.OK || r.Retry {
			t.Errorf("OK=%v Retry=%v, want a failed attempt not worth retrying", r.OK, r.Retry)
		}
		var de *webhook.DestinationError
		if !errors.As(r.Err, &de) {
			t.Fatalf("Err = %v, want a *DestinationError", r.Err)
		}
		if de.Kind != "loopback" || de.Host != "rebind.example" || de.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("DestinationError = %+v", de)
		}
		if want := "callback host rebind.example resolves to 127.0.0.1, a loopback address"; !strings.Contains(r.Err.Error(), want) {
			t.Errorf("Err %q does not say %q", r.Err, want)
		}
		// The owner learns the name is refused, not the node's view of it.
		if want := "callback host rebind.example resolves to a loopback address; the node's operator can allow loopback destinations with webhooks.allow_loopback"; r.Message != want {
			t.Errorf("Message = %q\nwant %q", r.Message, want)
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("receiver saw %d requests, want 0", n)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		c := webhook.NewClient(webhook.Options{Policy: webhook.Policy{AllowHTTP: true, AllowLoopback: true}, Resolver: resolver})
		t.Cleanup(func() { c.Close() })
		r := c.Send(context.Background(), request(target))
		if !r.OK || r.Status != http.StatusNoContent {
			t.Fatalf("Send = %+v, want 204 delivered", r)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("receiver saw %d requests, want 1", n)
		}
	})
}

// TestLocalhostRefusedBeforeDial: "localhost" is refused by name, and an
// http URL to it never reaches the receiver.
func TestLocalhostRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	target := "http://localhost:" + u.Port() + "/hook"

	c := webhook.NewClient(webhook.Options{Policy: webhook.Policy{AllowHTTP: true}})
	t.Cleanup(func() { c.Close() })
	r := c.Send(context.Background(), request(target))
	var de *webhook.DestinationError
	if r.OK || r.Retry || !errors.As(r.Err, &de) || de.Kind != "loopback" {
		t.Errorf("Send(%s) = %+v, want refused as loopback", target, r)
	}
	if hits.Load() != 0 {
		t.Errorf("receiver was hit")
	}
}
