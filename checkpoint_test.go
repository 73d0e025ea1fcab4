package linkd_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func testHash() [32]byte {
	var h [32]byte
	for i := range h {
		h[i] = byte(0xa0 + i)
	}
	return h
}

func TestCheckpointRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cp   linkd.Checkpoint
		body string
	}{
		{"empty log", linkd.Checkpoint{Origin: linkd.LogOrigin("oceanic-lines")},
			"linkd.dev/log/oceanic-lines\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"},
		{"sized log", linkd.Checkpoint{Origin: "linkd.dev/log/eu-customs", Size: 1234567, Hash: testHash()},
			"linkd.dev/log/eu-customs\n1234567\n" + hashB64() + "\n"},
		{"largest size", linkd.Checkpoint{Origin: "o", Size: 1<<63 - 1, Hash: testHash()},
			"o\n9223372036854775807\n" + hashB64() + "\n"},
		{"extensions kept verbatim", linkd.Checkpoint{Origin: "linkd.dev/log/x", Size: 9, Hash: testHash(),
			Extensions: []string{"raft-term 7", " leading space and trailing ", "— unicode —"}},
			"linkd.dev/log/x\n9\n" + hashB64() + "\nraft-term 7\n leading space and trailing \n— unicode —\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cp.Body(); got != tt.body {
				t.Fatalf("Body() = %q, want %q", got, tt.body)
			}
			got, err := linkd.ParseCheckpoint(tt.body)
			if err != nil {
				t.Fatalf("ParseCheckpoint(Body()) error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.cp) {
				t.Errorf("ParseCheckpoint(Body()) = %+v, want %+v", got, tt.cp)
			}
		})
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	hash := hashB64()
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	tests := []struct {
		name   string
		text   string
		reason string
	}{
		{"empty", "", "does not end in a newline"},
		{"no trailing newline", "o\n1\n" + hash, "does not end in a newline"},
		{"one line", "o\n", "got 1 lines"},
		{"two lines", "o\n1\n", "got 2 lines"},
		{"empty origin", "\n1\n" + hash + "\n", "empty origin line"},
		{"negative size", "o\n-1\n" + hash + "\n", `size line "-1" is not a non-negative decimal number`},
		{"minus zero", "o\n-0\n" + hash + "\n", "not a non-negative decimal"},
		{"leading zero", "o\n05\n" + hash + "\n", `size line "05"`},
		{"plus sign", "o\n+5\n" + hash + "\n", `size line "+5"`},
		{"empty size", "o\n\n" + hash + "\n", `size line ""`},
		{"size with space", "o\n 5\n" + hash + "\n", "not a non-negative decimal"},
		{"hex size", "o\n0x10\n" + hash + "\n", "not a non-negative decimal"},
		{"size overflow", "o\n9223372036854775808\n" + hash + "\n", "not a non-negative decimal"},
		{"bad base64", "o\n1\n" + strings.Repeat("!", 44) + "\n", "root hash line is not the base64 of 32 bytes"},
		{"URL base64", "o\n1\n" + base64.URLEncoding.EncodeToString(bytesFF(32)) + "\n", "not the base64 of 32 bytes"},
		{"unpadded base64", "o\n1\n" + strings.TrimRight(hash, "=") + "\n", "not the base64 of 32 bytes"},
		{"hash of 31 bytes", "o\n1\n" + short + "\n", "not the base64 of 32 bytes"},
		{"hash of 33 bytes", "o\n1\n" + long + "\n", "not the base64 of 32 bytes"},
		{"empty hash", "o\n1\n\n", "not the base64 of 32 bytes"},
		{"carriage return in hash", "o\n1\n" + hash + "\r\n", "not the base64 of 32 bytes"},
		{"non-zero padding bits", "o\n1\n" + hash[:42] + "9=\n", "not the base64 of 32 bytes"},
		{"empty extension line", "o\n1\n" + hash + "\n\n", "empty extension line"},
		{"empty line between extensions", "o\n1\n" + hash + "\next\n\nmore\n", "empty extension line"},
		{"oversize", "o\n1\n" + hash + "\n" + strings.Repeat("e", linkd.MaxCheckpointBytes) + "\n", "over 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := linkd.ParseCheckpoint(tt.text)
			if err == nil {
				t.Fatalf("ParseCheckpoint(%q) = %+v, want an error", tt.text, c)
			}
			if !errors.Is(err, linkd.ErrBadCheckpoint) {
				t.Errorf("error %v does not wrap ErrBadCheckpoint", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error = %q, want it to contain %q", err, tt.reason)
			}
		})
	}
}

func bytesFF(n int) []byte { return []byte(strings.Repeat("\xff", n)) }

func TestParseCheckpointAtSizeLimit(t *testing.T) {
	head := "o\n1\n" + hashB64() + "\n"
	text := head + strings.Repeat("e", linkd.MaxCheckpointBytes-len(head)-1) + "\n"
	if len(text) != linkd.MaxCheckpointBytes {
		t.Fatalf("test body is %d bytes, want %d", len(text), linkd.MaxCheckpointBytes)
	}
	c, err := linkd.ParseCheckpoint(text)
	if err != nil {
		t.Fatalf("ParseCheckpoint of exactly MaxCheckpointBytes: %v", err)
	}
	if c.Body() != text {
		t.Errorf("Body() differs from the parsed text")
	}
}

func hashB64() string {
	h := testHash()
	return base64.StdEncoding.EncodeToString(h[:])
}
