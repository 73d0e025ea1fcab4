package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/internal/webhook"
)

type specVector struct {
	Secret           string `json:"secret"`
	ID               string `json:"id"`
	Timestamp        int64  `json:"timestamp"`
	Body             string `json:"body"`
	WebhookSignature string `json:"webhook_signature"`
}

type rotationVector struct {
	Secrets               []string `json:"secrets"`
	ID                    string   `json:"id"`
	Timestamp             int64    `json:"timestamp"`
	Body                  string   `json:"body"`
	WebhookSignature      string   `json:"webhook_signature"`
	NotificationSignature string   `json:"notification_signature"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustSecret(t testing.TB, s string) webhook.Secret {
	t.Helper()
	k, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return k
}

// TestStandardWebhooksVector checks Sign and Verify against the vector in
// the Standard Webhooks reference library's own tests.
func TestStandardWebhooksVector(t *testing.T) {
	var v specVector
	readJSON(t, "testdata/standard-webhooks.json", &v)
	key := mustSecret(t, v.Secret)
	ts := time.Unix(v.Timestamp, 0)

	h, err := webhook.Sign([]webhook.Secret{key}, v.ID, ts, []byte(v.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get(webhook.HeaderSignature); got != v.WebhookSignature {
		t.Errorf("webhook-signature = %q, want %q", got, v.WebhookSignature)
	}
	if got, want := h.Get(webhook.HeaderID), v.ID; got != want {
		t.Errorf("webhook-id = %q, want %q", got, want)
	}
	if got, want := h.Get(webhook.HeaderTimestamp), strconv.FormatInt(v.Timestamp, 10); got != want {
		t.Errorf("webhook-timestamp = %q, want %q", got, want)
	}

	// A receiver holding the spec's headers verifies them.
	recv := http.Header{}
	recv.Set("webhook-id", v.ID)
	recv.Set("webhook-timestamp", strconv.FormatInt(v.Timestamp, 10))
	recv.Set("webhook-signature", v.WebhookSignature)
	if err := webhook.Verify([]webhook.Secret{key}, recv, []byte(v.Body), ts.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify(spec headers) = %v, want nil", err)
	}
}

// TestRotationVector checks our own vector: two secrets, newest first, both
// signatures present, and a receiver that knows either one verifies.
func TestRotationVector(t *testing.T) {
	var v rotationVector
	readJSON(t, "testdata/rotation.json", &v)
	newKey, oldKey := mustSecret(t, v.Secrets[0]), mustSecret(t, v.Secrets[1])
	ts := time.Unix(v.Timestamp, 0)
	body := []byte(v.Body)

	h, err := webhook.Sign([]webhook.Secret{newKey, oldKey}, v.ID, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get(webhook.HeaderSignature); got != v.WebhookSignature {
		t.Errorf("webhook-signature = %q, want %q", got, v.WebhookSignature)
	}
	if got := strings.Fields(h.Get(webhook.HeaderSignature)); len(got) != 2 {
		t.Errorf("webhook-signature has %d signatures, want 2 (one per secret)", len(got))
	}
	if got := h.Get(webhook.HeaderNotificationSignature); got != v.NotificationSignature {
		t.Errorf("Notification-Signature = %q, want %q", got, v.NotificationSignature)
	}

	now := ts.Add(30 * time.Second)
	for _, tc := range []struct {
		name string
		keys []webhook.Secret
	}{
		{"receiver knows only the old secret", []webhook.Secret{oldKey}},
		{"receiver knows only the new secret", []webhook.Secret{newKey}},
		{"receiver knows both", []webhook.Secret{oldKey, newKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := webhook.Verify(tc.keys, h, body, now, 0); err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
		})
	}

	// DCSA's header carries the newest secret only (see Sign).
	if err := webhook.VerifyDCSA([]webhook.Secret{newKey}, h, body); err != nil {
		t.Errorf("VerifyDCSA(new) = %v, want nil", err)
	}
	if err := webhook.VerifyDCSA([]webhook.Secret{oldKey}, h, body); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("VerifyDCSA(old) = %v, want ErrNoMatch", err)
	}
	if err := webhook.VerifyDCSA([]webhook.Secret{newKey}, h, append(body, ' ')); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("VerifyDCSA(tampered body) = %v, want ErrNoMatch", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	var v rotationVector
	readJSON(t, "testdata/rotation.json", &v)
	newKey, oldKey := mustSecret(t, v.Secrets[0]), mustSecret(t, v.Secrets[1])
	other := mustSecret(t, "whsec_"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	ts := time.Unix(v.Timestamp, 0)
	body := []byte(v.Body)
	signedH, err := webhook.Sign([]webhook.Secret{newKey, oldKey}, v.ID, ts, body)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		edit   func(h http.Header) []byte // returns the body the receiver sees
		keys   []webhook.Secret
		now    time.Time
		tol    time.Duration
		want   error // nil: must verify
		inText string
	}{
		{name: "untouched", want: nil},
		{name: "tampered body", edit: func(http.Header) []byte { return bytes.Replace(body, []byte("LOAD"), []byte("DISC"), 1) }, want: webhook.ErrNoMatch},
		{name: "body with trailing newline", edit: func(http.Header) []byte { return append(append([]byte{}, body...), '\n') }, want: webhook.ErrNoMatch},
		{name: "tampered id", edit: func(h http.Header) []byte { h.Set("webhook-id", v.ID+"x"); return body }, want: webhook.ErrNoMatch},
		{name: "tampered timestamp within tolerance", edit: func(h http.Header) []byte {
			h.Set("webhook-timestamp", strconv.FormatInt(v.Timestamp+1, 10))
			return body
		}, want: webhook.ErrNoMatch},
		{name: "wrong secret", keys: []webhook.Secret{other}, want: webhook.ErrNoMatch},
		{name: "no secrets", keys: []webhook.Secret{}, want: webhook.ErrNoMatch},
		{name: "only unknown versions", edit: func(h http.Header) []byte {
			h.Set("webhook-signature", strings.ReplaceAll(h.Get("webhook-signature"), "v1,", "v1a,"))
			return body
		}, want: webhook.ErrNoMatch},
		{name: "garbage signature", edit: func(h http.Header) []byte { h.Set("webhook-signature", "v1,!!!! v1 v1,"); return body }, want: webhook.ErrNoMatch},
		{name: "one good signature among bad ones", edit: func(h http.Header) []byte {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz "+h.Get("webhook-signature"))
			return body
		}, want: nil},
		{name: "stale by a second past tolerance", now: ts.Add(5*time.Minute + time.Second), want: webhook.ErrTimestamp, inText: "old"},
		{name: "exactly at tolerance", now: ts.Add(5 * time.Minute), want: nil},
		{name: "future beyond tolerance", now: ts.Add(-5*time.Minute - time.Second), want: webhook.ErrTimestamp, inText: "future"},
		{name: "stale under a custom tolerance", now: ts.Add(31 * time.Second), tol: 30 * time.Second, want: webhook.ErrTimestamp},
		{name: "timestamp not a number", edit: func(h http.Header) []byte { h.Set("webhook-timestamp", "2026-01-01T00:00:00Z"); return body }, want: webhook.ErrTimestamp},
		{name: "missing id", edit: func(h http.Header) []byte { h.Del("webhook-id"); return body }, want: webhook.ErrMissingHeader, inText: "webhook-id"},
		{name: "missing timestamp", edit: func(h http.Header) []byte { h.Del("webhook-timestamp"); return body }, want: webhook.ErrMissingHeader, inText: "webhook-timestamp"},
		{name: "missing signature", edit: func(h http.Header) []byte { h.Del("webhook-signature"); return body }, want: webhook.ErrMissingHeader, inText: "webhook-signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := signedH.Clone()
			b := body
			if tc.edit != nil {
				b = tc.edit(h)
			}
			keys := tc.keys
			if keys == nil {
				keys = []webhook.Secret{oldKey}
			}
			now := tc.now
			if now.IsZero() {
				now = ts.Add(10 * time.Second)
			}
			err := webhook.Verify(keys, h, b, now, tc.tol)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.inText) {
				t.Errorf("Verify error %q does not say %q", err, tc.inText)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xAB}, n)) }
	tests := []struct {
		in      string
		wantLen int    // 0: want an error
		errText string // part of the error
	}{
		{in: "whsec_" + b64(24), wantLen: 24},
		{in: "whsec_" + b64(32), wantLen: 32},
		{in: "whsec_" + b64(64), wantLen: 64},
		{in: b64(32), errText: "must start with whsec_"},
		{in: "WHSEC_" + b64(32), errText: "must start with whsec_"},
		{in: "whsec_", errText: "decodes to 0 bytes"},
		{in: "whsec_" + b64(16), errText: "decodes to 16 bytes; it must be 24 to 64"},
		{in: "whsec_" + b64(65), errText: "decodes to 65 bytes"},
		{in: "whsec_" + strings.TrimRight(b64(32), "="), errText: "not standard base64"},
		{in: "whsec_" + strings.ReplaceAll(b64(32), "q", "-"), errText: "not standard base64"},
		{in: "whsec_ " + b64(32), errText: "not standard base64"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			k, err := webhook.ParseSecret(tc.in)
			if tc.wantLen > 0 {
				if err != nil {
					t.Fatalf("ParseSecret: %v", err)
				}
				if len(k) != tc.wantLen {
					t.Errorf("len = %d, want %d", len(k), tc.wantLen)
				}
				if k.Encode() != tc.in {
					t.Errorf("Encode() does not round-trip")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseSecret(%q) = nil error, want %q", tc.in, tc.errText)
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("error %q does not say %q", err, tc.errText)
			}
			if body := strings.TrimPrefix(tc.in, "whsec_"); len(body) > 8 && strings.Contains(err.Error(), body[:8]) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two NewSecret calls returned the same secret")
	}
	k := mustSecret(t, a)
	if len(k) != 32 {
		t.Errorf("NewSecret makes %d bytes, want 32 (DCSA's minimum for sha256)", len(k))
	}
}

// TestSecretNeverPrints: a secret logged or serialised by mistake must not
// leak its key.
func TestSecretNeverPrints(t *testing.T) {
	s, _ := webhook.NewSecret()
	k := mustSecret(t, s)
	enc := strings.TrimPrefix(s, "whsec_")
	hexKey := fmt.Sprintf("%x", []byte(k))

	var outs []string
	for _, verb := range []string{"%v", "%s", "%x", "%X", "%d", "%q", "%#v", "%+v"} {
		outs = append(outs, fmt.Sprintf(verb, k))
	}
	outs = append(outs, fmt.Sprint(struct{ K webhook.Secret }{k}), fmt.Sprintf("%v", []webhook.Secret{k}))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", k, "secrets", []webhook.Secret{k})
	outs = append(outs, buf.String())
	for _, out := range outs {
		if strings.Contains(out, enc) || strings.Contains(out, hexKey) || strings.Contains(strings.ToLower(out), hexKey) {
			t.Errorf("secret leaked in %q", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("output %q lacks the redaction marker", out)
		}
	}
	if b, err := json.Marshal(struct{ K webhook.Secret }{k}); err == nil {
		t.Errorf("json.Marshal(secret) = %s, want an error", b)
	}
}

func TestSignRejects(t *testing.T) {
	k := mustSecret(t, "whsec_"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	ts := time.Unix(1767225600, 0)
	for _, tc := range []struct {
		name    string
		secrets []webhook.Secret
		id      string
		errText string
	}{
		{"no secrets", nil, "evt_1", "no secret"},
		{"short secret", []webhook.Secret{k[:16]}, "evt_1", "16 bytes"},
		{"empty id", []webhook.Secret{k}, "", "empty webhook-id"},
		{"dot in id", []webhook.Secret{k}, "evt.1", "'.'"},
		{"space in id", []webhook.Secret{k}, "evt 1", "' '"},
		{"comma in id", []webhook.Secret{k}, "evt,1", "','"},
		{"newline in id", []webhook.Secret{k}, "evt\r\nX-Evil: 1", "'\\r'"},
		{"non-ASCII id", []webhook.Secret{k}, "évt", "byte 0"},
		{"long id", []webhook.Secret{k}, strings.Repeat("a", 257), "257 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := webhook.Sign(tc.secrets, tc.id, ts, []byte("{}"))
			if err == nil {
				t.Fatalf("Sign = %v, want an error", h)
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("error %q does not say %q", err, tc.errText)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	k := mustSecret(b, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(1767225600, 0)
	secrets := []webhook.Secret{k}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.Sign(secrets, "evt_0192b6f4-7d2a-7c1e-9f3a-3b5c7d9e1f20", ts, body); err != nil {
			b.Fatal(err)
		}
	}
}
