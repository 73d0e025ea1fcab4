package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/linkd-dev/linkd"
)

// TestAppendResultJSON checks that the hand-written answer of POST
// /v1/events is byte for byte what json.Marshal writes, and that it steps
// aside for strings json.Marshal would escape.
func TestAppendResultJSON(t *testing.T) {
	tests := []struct {
		name  string
		res   linkd.AppendResult
		plain bool
	}{
		{"one ack", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "0b5c3a2e-8f1d-4c6a-9e7b-2d4f6a8c0e13", LogIndex: 7, LeafHash: "n2Q6V+0f/AbC=="}}, Size: 8}, true},
		{"duplicates and zeros", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "a", Duplicate: true}, {}, {EventID: "b", LogIndex: 1 << 62}}, Size: -1}, true},
		{"no acks", linkd.AppendResult{Acks: []linkd.Ack{}, Size: 3}, true},
		{"nil acks", linkd.AppendResult{Size: 3}, false},
		{"html characters", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "<a&b>"}}}, false},
		{"quote", linkd.AppendResult{Acks: []linkd.Ack{{LeafHash: `a"b`}}}, false},
		{"backslash", linkd.AppendResult{Acks: []linkd.Ack{{EventID: `a\b`}}}, false},
		{"control", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "a\nb"}}}, false},
		{"non-ASCII", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "é"}}}, false},
		{"delete", linkd.AppendResult{Acks: []linkd.Ack{{EventID: "\x7f"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := appendResultJSON([]byte("x"), &tt.res)
			if ok != tt.plain {
				t.Fatalf("appendResultJSON ok = %v, want %v", ok, tt.plain)
			}
			if !ok {
				return
			}
			want, err := json.Marshal(tt.res)
			if err != nil {
				t.Fatal(err)
			}
			if want := "x" + string(want) + "\n"; string(got) != want {
				t.Errorf("appendResultJSON = %s\nwant %s", got, want)
			}
		})
	}
}
