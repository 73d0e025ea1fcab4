package linkd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits on untrusted JSON.
const (
	MaxBatchBytes = 32 << 20 // one request body of events
	MaxJSONDepth  = 16       // nesting of objects and arrays
)

// DecodeEvents decodes one JSON event object, or an array of them, from r.
// It reads at most MaxBatchBytes, refuses invalid UTF-8, nesting deeper than
// MaxJSONDepth, unknown fields, events over MaxEventBytes and batches over
// MaxBatchEvents, and names the event and field of every problem. It does not
// run Validate.
func DecodeEvents(r io.Reader) ([]Event, error) {
	// The decoded events do not refer to the body, so its buffer goes back
	// to a pool for the next request.
	bp := bodyBuffers.Get().(*[]byte)
	data, err := ReadAtMost((*bp)[:0], r, MaxBatchBytes+1)
	defer func() {
		if cap(data) <= maxPooledBody {
			*bp = data[:0]
			bodyBuffers.Put(bp)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if len(data) > MaxBatchBytes {
		return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("the body is over %d bytes; send smaller batches", MaxBatchBytes)}
	}
	return DecodeEventsBytes(data)
}

// Request bodies are read into pooled buffers; one that grew beyond
// maxPooledBody (a rare, huge batch) is left to the garbage collector.
const maxPooledBody = 4 << 20

var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// ReadAtMost appends to buf what r yields until EOF or until n bytes are
// read, like io.ReadAll(io.LimitReader(r, n)) but into a buffer the caller
// provides (a pooled one, for request bodies and link frames).
func ReadAtMost(buf []byte, r io.Reader, n int) ([]byte, error) {
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 512), n-len(buf)))
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// DecodeEventsBytes is DecodeEvents over a byte slice. The events it
// returns do not refer to data, which the caller may reuse.
func DecodeEventsBytes(data []byte) ([]Event, error) {
	if events, ok := decodeEventsFast(data); ok {
		return events, nil
	}
	return decodeEventsReference(data)
}

// decodeEventsReference is the decoder built on encoding/json. Every body the
// fast decoder does not accept comes here, so it alone words every problem
// (see decodefast.go).
func decodeEventsReference(data []byte) ([]Event, error) {
	if !utf8.Valid(data) {
		return nil, &ValidationError{Problems: []Problem{{"", "the body is not valid UTF-8"}}}
	}
	if err := checkDepth(data, MaxJSONDepth); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &ValidationError{Problems: []Problem{{"", "the body is empty; send an event object or an array of them"}}}
	}
	if trimmed[0] != '[' {
		if len(trimmed) > MaxEventBytes {
			return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("the event is over %d bytes", MaxEventBytes)}
		}
		var e Event
		if err := decodeStrict(trimmed, &e); err != nil {
			return nil, &ValidationError{Problems: []Problem{jsonProblem("", err)}}
		}
		return []Event{e}, nil
	}
	var raws []json.RawMessage
	if err := decodeStrict(trimmed, &raws); err != nil {
		return nil, &ValidationError{Problems: []Problem{jsonProblem("", err)}}
	}
	if len(raws) == 0 {
		return nil, &ValidationError{Problems: []Problem{{"", "the batch has no events"}}}
	}
	if len(raws) > MaxBatchEvents {
		return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("the batch has %d events; at most %d per request", len(raws), MaxBatchEvents)}
	}
	events := make([]Event, len(raws))
	var probs []Problem
	for i, raw := range raws {
		prefix := fmt.Sprintf("events[%d]", i)
		if len(raw) > MaxEventBytes {
			return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("%s is over %d bytes", prefix, MaxEventBytes)}
		}
		if err := decodeStrict(raw, &events[i]); err != nil {
			probs = append(probs, jsonProblem(prefix, err))
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return events, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonProblem turns an encoding/json error into a Problem naming the field.
func jsonProblem(prefix string, err error) Problem {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return Problem{join(te.Field), fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	case errors.As(err, &se):
		return Problem{join(""), fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se.Error())}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Problem{join(name), "unknown field"}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return Problem{join(""), "truncated JSON"}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	// A field's own UnmarshalJSON error arrives without its name.
	if te == nil && strings.Contains(msg, "RFC 3339") {
		return Problem{join(""), "a date-time field: " + msg}
	}
	return Problem{join(""), msg}
}

// checkDepth refuses JSON nested deeper than max, scanning bytes only (so a
// hostile body cannot make the decoder recurse).
func checkDepth(data []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return &ValidationError{Problems: []Problem{{"", fmt.Sprintf("JSON nested deeper than %d levels", max)}}}
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
