// Package webhook gets one event to one subscriber's HTTPS endpoint safely:
// signed, to an address the node's operator allows, bounded in time and
// size, and retried on a schedule until it is delivered or given up.
//
// It promises:
//
//   - Every request is signed per Standard Webhooks (webhook-id,
//     webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of
//     "id.timestamp.body">), once per secret so a secret can be rotated
//     without downtime, and carries the DCSA Track & Trace 2.2
//     Notification-Signature (sha256=<hex HMAC-SHA256 of the body>) by the
//     newest secret. See Sign.
//   - No request reaches a loopback, link-local (including cloud metadata),
//     private, multicast or otherwise special address unless the Policy
//     allows it. The check runs on the resolved address at dial time, so a
//     DNS answer that changes between CheckURL and the dial (DNS rebinding)
//     cannot get around it. Proxies from the environment are never used.
//   - Redirects are never followed; a 3xx is a failed attempt.
//   - One attempt is bounded: dial, TLS handshake, response headers and the
//     whole attempt each have a timeout, and at most MaxResponseBody bytes of
//     the answer are read.
//   - Result.Message is safe to show the subscription's owner: it never holds
//     a secret, and it names a resolved address only when the owner wrote it.
//     Result.Err has the detail for the node's log.
//   - Deliver retries with capped exponential backoff and full jitter,
//     honours Retry-After, re-signs every attempt with a fresh timestamp and
//     the same webhook-id (the receiver's idempotency key), and gives up at a
//     horizon. It sleeps on the time package, so testing/synctest controls it.
//
// What this package does not do: remember anything. Queueing, persistence of
// pending deliveries and dead letters belong to internal/subscribe.
package webhook

import (
	"context"
	"net/http"
	"time"
)

// Header names. Go canonicalises them on the wire (Webhook-Id); HTTP header
// names are case-insensitive, so receivers see the same header.
const (
	HeaderID                    = "webhook-id"
	HeaderTimestamp             = "webhook-timestamp"
	HeaderSignature             = "webhook-signature"
	HeaderNotificationSignature = "Notification-Signature"
)

// UserAgent is sent with every request.
const UserAgent = "linkd-webhook/1"

// A Request is one delivery: the same Request is sent on every attempt,
// re-signed each time.
type Request struct {
	// URL is the subscriber's callback. It is checked with CheckURL before
	// every attempt, and its resolved address at dial time.
	URL string

	// ID is the webhook-id: unique per event and subscription, the same on
	// every retry, so the receiver can use it as an idempotency key. It must
	// be printable ASCII without spaces, commas or dots (the dot separates
	// the signed fields), at most 256 bytes.
	ID string

	// Body is sent as is and signed byte for byte.
	Body []byte

	// ContentType is the Content-Type of Body; "" means application/json.
	ContentType string

	// Secrets sign the request, newest first. Every secret adds a v1
	// signature to webhook-signature; Secrets[0] alone makes the
	// Notification-Signature. At least one is required.
	Secrets []Secret

	// Header holds extra headers, such as DCSA's Subscription-ID and
	// API-Version. It may not set the signature headers, Content-Type,
	// Content-Length, Host, User-Agent or hop-by-hop headers.
	Header http.Header

	// Time is the signing time; the zero Time means now. Deliver sets it
	// before every attempt.
	Time time.Time
}

// A Result says how one attempt went.
type Result struct {
	// Attempt is the attempt's number, from 1; Send leaves it 0 and Deliver
	// fills it in.
	Attempt int

	// Status is the HTTP status the receiver answered, 0 if there was no
	// answer (refused destination, network error, timeout).
	Status int

	// OK is true for a 2xx answer: the event is delivered.
	OK bool

	// Retry is true when another attempt may succeed; see Retryable for the
	// table. It is false when OK.
	Retry bool

	// RetryAfter is the wait the receiver asked for with Retry-After
	// (delta-seconds or an HTTP-date), 0 if it asked for none.
	RetryAfter time.Duration

	// Gone is true when the receiver answered 410 Gone: per Standard
	// Webhooks it wants no more deliveries, and the subscription should be
	// disabled.
	Gone bool

	// Message says what went wrong in words safe to show the subscription's
	// owner. It is "" when OK, unless the answer was cut off.
	Message string

	// Err is the failure with detail for the node's log (it may name
	// resolved addresses); nil when OK. It wraps the cause, so errors.Is and
	// errors.As work (for example with *DestinationError or
	// context.DeadlineExceeded).
	Err error

	// Elapsed is how long the attempt took.
	Elapsed time.Duration
}

// A Sender makes one attempt. *Client is the real one; Deliver takes the
// interface so its schedule can be tested in a synctest bubble without
// network I/O. Send must be safe to call from many goroutines, must not
// retry on its own, and must return when ctx ends.
type Sender interface {
	Send(ctx context.Context, req Request) Result
}
