package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every serialised secret, per Standard Webhooks.
const SecretPrefix = "whsec_"

// Secret lengths in bytes. Standard Webhooks allows 24 to 64; DCSA's
// reference implementation wants at least 32 for sha256, so NewSecret makes
// 32 and both kinds of receiver accept it.
const (
	MinSecretLen = 24
	MaxSecretLen = 64
	newSecretLen = 32
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's
// clock, either way, before Verify rejects it.
const DefaultTolerance = 5 * time.Minute

// maxIDLen bounds a webhook-id; ids are ours (event and subscription), so
// this only catches mistakes.
const maxIDLen = 256

// Secret is an HMAC-SHA256 key shared with one subscriber. It never prints:
// fmt, slog and encoding/json show "whsec_[redacted]" or refuse, so a secret
// logged or serialised by mistake does not leak. Encode gives the
// serialised form on purpose.
type Secret []byte

// NewSecret returns a fresh random secret in its serialised form: whsec_
// followed by the standard base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, newSecretLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return Secret(b).Encode(), nil
}

// ParseSecret decodes a serialised secret: whsec_ followed by the standard
// (padded) base64 of 24 to 64 bytes. Its errors never repeat the secret.
func ParseSecret(s string) (Secret, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret: must start with " + SecretPrefix)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("webhook secret: not standard base64 after %s (bad byte at offset %d)", SecretPrefix, int64(ce)+int64(len(SecretPrefix)))
		}
		return nil, fmt.Errorf("webhook secret: not standard base64 after %s", SecretPrefix)
	}
	if len(b) < MinSecretLen || len(b) > MaxSecretLen {
		return nil, fmt.Errorf("webhook secret: decodes to %d bytes; it must be %d to %d", len(b), MinSecretLen, MaxSecretLen)
	}
	return Secret(b), nil
}

// Encode returns the serialised secret, whsec_ and base64. Show it to the
// subscriber once, when it is made; store it only where secrets belong.
func (s Secret) Encode() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s)
}

const redacted = SecretPrefix + "[redacted]"

// String returns a redacted placeholder, never the key.
func (s Secret) String() string { return redacted }

// GoString returns a redacted placeholder, never the key.
func (s Secret) GoString() string { return "webhook.Secret(" + redacted + ")" }

// Format prints the redacted placeholder for every verb, including %x and %d.
func (s Secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue keeps the key out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON refuses: a []byte would otherwise encode as the base64 key.
// Serialise with Encode where a secret must be stored.
func (s Secret) MarshalJSON() ([]byte, error) {
	return nil, errors.New("webhook secret: refusing to encode a secret as JSON; use Secret.Encode where it must be stored")
}

// Sign returns the signature headers for one attempt: webhook-id,
// webhook-timestamp (ts in unix seconds), webhook-signature with one
// "v1,<base64>" per secret, space-separated, and Notification-Signature.
//
// Secrets are newest first. During a rotation the caller passes the new
// secret and the old one, so a receiver that knows either verifies.
// Notification-Signature is computed with secrets[0] only: DCSA Track &
// Trace 2.2 defines it as one "<signature-type>=<signature>" value, DCSA's
// reference receiver rejects a request with more than one, and DCSA rotates
// by replacing the secret (PUT /v2/event-subscriptions/{id}/secret), after
// which the subscriber holds only the new one.
func Sign(secrets []Secret, id string, ts time.Time, body []byte) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook sign: no secret")
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	for i, s := range secrets {
		if len(s) < MinSecretLen || len(s) > MaxSecretLen {
			return nil, fmt.Errorf("webhook sign: secret %d is %d bytes; it must be %d to %d", i, len(s), MinSecretLen, MaxSecretLen)
		}
	}
	unix := strconv.FormatInt(ts.Unix(), 10)

	prefix := []byte(id + "." + unix + ".")
	sig := make([]byte, 0, len(secrets)*48)
	var sum [sha256.Size]byte
	for i, s := range secrets {
		if i > 0 {
			sig = append(sig, ' ')
		}
		sig = append(sig, "v1,"...)
		m := hmac.New(sha256.New, s)
		m.Write(prefix)
		m.Write(body)
		sig = base64.StdEncoding.AppendEncode(sig, m.Sum(sum[:0]))
	}

	m := hmac.New(sha256.New, secrets[0])
	m.Write(body)
	h := make(http.Header, 4)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, unix)
	h.Set(HeaderSignature, string(sig))
	h.Set(HeaderNotificationSignature, "sha256="+hex.EncodeToString(m.Sum(sum[:0])))
	return h, nil
}

// signed returns the Standard Webhooks MAC of "id.unix.body" under key.
func signed(key Secret, id, unix string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + unix + "."))
	m.Write(body)
	return m.Sum(nil)
}

// checkID enforces what Standard Webhooks asks of ids (no '.') and what an
// HTTP header value and the space-separated signature list can carry.
func checkID(id string) error {
	if id == "" {
		return errors.New("webhook sign: empty webhook-id")
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("webhook sign: webhook-id is %d bytes; at most %d", len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == ',' {
			return fmt.Errorf("webhook sign: webhook-id has %q at byte %d; use printable ASCII without spaces, commas or dots", c, i)
		}
	}
	return nil
}

// Errors from Verify and VerifyDCSA. They wrap these, so test with errors.Is.
var (
	ErrMissingHeader = errors.New("webhook verify: missing header")
	ErrTimestamp     = errors.New("webhook verify: timestamp outside tolerance")
	ErrNoMatch       = errors.New("webhook verify: no signature matches")
)

// Verify checks a received request the way a subscriber should: the
// webhook-timestamp must be within tolerance of now (0 means
// DefaultTolerance), and some v1 signature in webhook-signature must match
// the HMAC under some secret. Comparisons are constant-time. Unknown
// signature versions (such as v1a) are skipped.
func Verify(secrets []Secret, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, unix, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), strings.Join(h.Values(HeaderSignature), " ")
	switch {
	case id == "":
		return fmt.Errorf("%w %s", ErrMissingHeader, HeaderID)
	case unix == "":
		return fmt.Errorf("%w %s", ErrMissingHeader, HeaderTimestamp)
	case strings.TrimSpace(sigs) == "":
		return fmt.Errorf("%w %s", ErrMissingHeader, HeaderSignature)
	}
	sec, err := strconv.ParseInt(unix, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrTimestamp, HeaderTimestamp, unix)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance {
		return fmt.Errorf("%w: %s is %s old; tolerance %s", ErrTimestamp, HeaderTimestamp, d.Truncate(time.Second), tolerance)
	} else if -d > tolerance {
		return fmt.Errorf("%w: %s is %s in the future; tolerance %s", ErrTimestamp, HeaderTimestamp, (-d).Truncate(time.Second), tolerance)
	}

	want := make([][]byte, len(secrets))
	for i, s := range secrets {
		want[i] = signed(s, id, unix, body)
	}
	for _, f := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(f, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// VerifyDCSA checks the Notification-Signature of a received request: one
// "sha256=<hex HMAC-SHA256 of the body>" value matching some secret. It has
// no timestamp, so it cannot catch a replay; prefer Verify.
func VerifyDCSA(secrets []Secret, h http.Header, body []byte) error {
	vs := h.Values(HeaderNotificationSignature)
	if len(vs) == 0 {
		return fmt.Errorf("%w %s", ErrMissingHeader, HeaderNotificationSignature)
	}
	if len(vs) > 1 {
		return fmt.Errorf("%w: %d %s headers; DCSA allows one", ErrNoMatch, len(vs), HeaderNotificationSignature)
	}
	typ, hx, ok := strings.Cut(strings.TrimSpace(vs[0]), "=")
	if !ok || !strings.EqualFold(typ, "sha256") {
		return fmt.Errorf("%w: %s is not sha256=<hex>", ErrNoMatch, HeaderNotificationSignature)
	}
	got, err := hex.DecodeString(hx)
	if err != nil {
		return fmt.Errorf("%w: %s is not sha256=<hex>", ErrNoMatch, HeaderNotificationSignature)
	}
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write(body)
		if hmac.Equal(got, m.Sum(nil)) {
			return nil
		}
	}
	return ErrNoMatch
}
