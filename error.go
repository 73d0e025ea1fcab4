package linkd

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes are stable strings that clients branch on. The HTTP layer maps
// them to statuses and back, so a CLI user and a Go client see the error the
// node meant, never an internal detail.
const (
	EInvalid      = "invalid"      // the request is malformed or breaks a rule; fix it and retry
	ENotFound     = "not_found"    // no such thing, or the caller may not see it
	EConflict     = "conflict"     // the request contradicts recorded state (same id, other content)
	EUnauthorized = "unauthorized" // no valid credentials
	EForbidden    = "forbidden"    // valid credentials, not allowed
	ETooLarge     = "too_large"    // a size limit was exceeded
	ERateLimited  = "rate_limited" // too many requests for this token; retry after the given delay
	EUnavailable  = "unavailable"  // the node cannot serve this now (write path stopped, shutting down)
	EInternal     = "internal"     // a bug or an environment failure; the log has the detail
)

// Error is a domain error: a stable code and a message a person can act on.
// The message never carries internals; wrap the cause in Err for the log.
type Error struct {
	Code    string
	Message string
	Err     error // the underlying cause, for logs and errors.Is; never shown to peers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error (or *ValidationError) in
// err's chain, EInternal for any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return EInvalid
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the human message of err: the domain message when there
// is one, and a generic text for internal errors so nothing leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Problem is one violation found by validation: the JSON path of the field
// (events[2].eventLocation.UNLocationCode) and why it is wrong.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

// ValidationError lists every problem in a rejected event or batch. A batch
// with any problem is rejected whole.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid: ")
	for i, p := range e.Problems {
		if i == 8 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrWriteStopped is returned by a log whose write path stopped after a failed
// fsync. Nothing more is acknowledged until the process restarts and recovers
// from what is durable.
var ErrWriteStopped = &Error{Code: EUnavailable, Message: "the write path stopped after a storage sync failure; restart the node"}

// ErrClosed is returned by operations on a closed log.
var ErrClosed = &Error{Code: EUnavailable, Message: "the log is closed"}
