package webhook_test

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/webhook"
)

// FuzzVerify: Verify reads headers a stranger controls. It must never
// panic, must accept what Sign made, and must reject it after any change
// to the body.
func FuzzVerify(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("evt_1", "-1", "v1, v1,, ,v1 v1a,AAAA", []byte{})
	f.Add("a", "99999999999999999999", "v1,====", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		now := time.Unix(1614265330, 0)
		webhook.Verify([]webhook.Secret{testSecret}, h, body, now, 0)

		signed, err := webhook.Sign([]webhook.Secret{testSecret}, id, now, body)
		if err != nil {
			return // an id Sign refuses
		}
		if err := webhook.Verify([]webhook.Secret{testSecret}, signed, body, now, 0); err != nil {
			t.Fatalf("Verify(Sign(...)) = %v", err)
		}
		if err := webhook.VerifyDCSA([]webhook.Secret{testSecret}, signed, body); err != nil {
			t.Fatalf("VerifyDCSA(Sign(...)) = %v", err)
		}
		changed := append(append([]byte{}, body...), 0)
		if err := webhook.Verify([]webhook.Secret{testSecret}, signed, changed, now, 0); !errors.Is(err, webhook.ErrNoMatch) {
			t.Fatalf("Verify(changed body) = %v, want ErrNoMatch", err)
		}
	})
}

// FuzzCheckURL: whatever CheckURL accepts under the default policy is an
// https URL with a host, no user info, and no refused address literal.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook", "https://10.0.0.5/", "https://[::ffff:169.254.169.254]/",
		"https://user:pw@example.com/", "https://localhost/", "https://127.1/", "http://example.com/",
		"https://[fe80::1%25eth0]/", "https://example.com:0/", "https:///x", "https://0x7f.1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := webhook.CheckURL(raw, webhook.Policy{})
		if err != nil {
			if strings.Contains(raw, "@") {
				if u, perr := url.Parse(raw); perr == nil && u.User != nil {
					if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
						t.Fatalf("error %q repeats the password", err)
					}
				}
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		if u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: scheme %q host %q user %v", raw, u.Scheme, u.Hostname(), u.User)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			if err := webhook.CheckAddr(a, webhook.Policy{}); err != nil {
				t.Fatalf("accepted %q with a refused address: %v", raw, err)
			}
		}
		if h := strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

// FuzzParseRetryAfter: a receiver's Retry-After never yields a negative
// wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "18446744073709551615", " 5 ", "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := webhook.ParseRetryAfter(v, time.Unix(1614265330, 0)); d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
	})
}
