package linkd_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func TestParseEvidence(t *testing.T) {
	ev := linkd.Evidence{
		Origin:      linkd.LogOrigin("haiphong-terminal"),
		A:           []byte("linkd.dev/log/haiphong-terminal\n10\n…\n\n— sig\n"),
		B:           []byte("linkd.dev/log/haiphong-terminal\n12\n…\n\n— sig\n"),
		SmallerRoot: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		Proof:       []string{"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		Observed:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		ObservedBy:  "rotterdam-dc",
		From:        "antwerp-dc",
	}
	data, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := linkd.ParseEvidence(data)
	if err != nil {
		t.Fatalf("ParseEvidence(%s) = %v", data, err)
	}
	if !bytes.Equal(got.A, ev.A) || !bytes.Equal(got.B, ev.B) || got.SmallerRoot != ev.SmallerRoot || !got.Observed.Equal(ev.Observed) || got.From != ev.From {
		t.Fatalf("ParseEvidence round trip = %+v, want %+v", got, ev)
	}
	// Who observed it is optional; the proof's parts are not renamed.
	var fields map[string]any
	json.Unmarshal(data, &fields)
	for _, k := range []string{"origin", "a", "b", "impliedRoot", "proof", "observed", "observedBy", "from"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("evidence JSON lacks %q: %s", k, data)
		}
	}
	bare, _ := json.Marshal(&linkd.Evidence{A: ev.A, B: ev.B})
	if strings.Contains(string(bare), "observed") || strings.Contains(string(bare), "proof") {
		t.Errorf("evidence without a proof or observer still names them: %s", bare)
	}
}

func TestParseEvidenceRejects(t *testing.T) {
	big := `{"origin":"x","a":"YQ==","b":"` + strings.Repeat("A", linkd.MaxEvidenceBytes) + `"}`
	deep := `{"origin":` + strings.Repeat("[", linkd.MaxJSONDepth+1) + strings.Repeat("]", linkd.MaxJSONDepth+1) + `}`
	cases := []struct {
		name, body, code, want string
	}{
		{"too large", big, linkd.ETooLarge, "over 65536 bytes"},
		{"invalid utf-8", "{\"origin\":\"\xff\"}", linkd.EInvalid, "not valid UTF-8"},
		{"too deep", deep, linkd.EInvalid, "nested deeper"},
		{"empty", "  ", linkd.EInvalid, "empty"},
		{"unknown field", `{"a":"YQ==","b":"Yg==","surprise":1}`, linkd.EInvalid, "surprise: unknown field"},
		{"trailing data", `{"a":"YQ==","b":"Yg=="} {}`, linkd.EInvalid, "after the JSON value"},
		{"not base64", `{"a":"!!","b":"Yg=="}`, linkd.EInvalid, "a"},
		{"no checkpoints", `{"origin":"x"}`, linkd.EInvalid, "a: required"},
		{"one checkpoint", `{"a":"YQ=="}`, linkd.EInvalid, "b: required"},
		{"null", `null`, linkd.EInvalid, "a: required"},
		{"a proof bundle", `{"format":"linkd-proof-bundle/v1","checkpoint":"x"}`, linkd.EInvalid, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := linkd.ParseEvidence([]byte(tc.body))
			if err == nil {
				t.Fatalf("ParseEvidence accepted it: %+v", ev)
			}
			if code := linkd.ErrorCode(err); code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseEvidence = %v (code %s); want code %s and %q", err, code, tc.code, tc.want)
			}
		})
	}
}
