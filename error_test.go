package linkd_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestErrorCodeAndMessage(t *testing.T) {
	ve := &linkd.ValidationError{Problems: []linkd.Problem{{Field: "eventType", Reason: "required"}}}
	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
	}{
		{"nil", nil, "", ""},
		{"domain error", linkd.Errorf(linkd.ENotFound, "no event %s", "abc"), linkd.ENotFound, "no event abc"},
		{"wrapped domain error", fmt.Errorf("append: %w", linkd.ErrWriteStopped), linkd.EUnavailable, linkd.ErrWriteStopped.Message},
		{"validation error", ve, linkd.EInvalid, "invalid: eventType: required"},
		{"wrapped validation error", fmt.Errorf("ingest: %w", ve), linkd.EInvalid, "invalid: eventType: required"},
		{"other error hides its text", errors.New("open /var/lib/linkd/secret: permission denied"), linkd.EInternal, "internal error"},
		{"domain error hides its cause", &linkd.Error{Code: linkd.EConflict, Message: "id reused", Err: io.ErrUnexpectedEOF}, linkd.EConflict, "id reused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := linkd.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode() = %q, want %q", got, tt.wantCode)
			}
			if got := linkd.ErrorMessage(tt.err); got != tt.wantMessage {
				t.Errorf("ErrorMessage() = %q, want %q", got, tt.wantMessage)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := fmt.Errorf("read: %w", &linkd.Error{Code: linkd.EInternal, Message: "read failed", Err: io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = false, want true", err)
	}
	if got, want := err.Error(), "read: internal: read failed: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidationErrorListsAtMostEight(t *testing.T) {
	var probs []linkd.Problem
	for i := range 10 {
		probs = append(probs, linkd.Problem{Field: fmt.Sprintf("f%d", i), Reason: "bad"})
	}
	probs[0].Field = "" // a problem of the whole event has no field
	got := (&linkd.ValidationError{Problems: probs}).Error()
	want := "invalid: bad; f1: bad; f2: bad; f3: bad; f4: bad; f5: bad; f6: bad; f7: bad; and 2 more"
	if got != want {
		t.Errorf("Error() = %q\nwant %q", got, want)
	}
	if strings.Contains(got, "f8") {
		t.Errorf("Error() lists the ninth problem: %q", got)
	}
}
