package edi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
)

var update = flag.Bool("update", false, "rewrite the golden files and fuzz seed corpora under testdata")

// The samples in testdata, written for these tests: realistic interchanges
// of a Vietnam → EU lane.
var samples = []string{
	"iftsta-carrier.edi",  // a carrier's IFTSTA with the ocean codes, one container through the lane
	"iftsta-terminal.edi", // a terminal's IFTSTA with Recommendation 24 codes, ISO 8859-1, no line breaks
	"315-carrier.x12",     // a carrier's 315s (004010) for the same kind of lane
	"214-drayage.x12",     // a haulier's 214 (004010): appointment, pick-up, delivery
	"315-v5010.x12",       // 315s in version 005010 with a repetition separator: acknowledged with a 999
}

// agreed is the zone the lane's partners agreed for times without one:
// Vietnam's, except for the European hauliers and carriers' European legs.
var agreed = time.FixedZone("", 7*3600)

var zones = map[string]*time.Location{
	"214-drayage.x12": time.FixedZone("", 3600),
	"315-v5010.x12":   time.FixedZone("", 3600),
}

// sampleOptions are options() with the sample's agreed zone.
func sampleOptions(name string) edi.Options {
	o := options()
	if z, ok := zones[name]; ok {
		o.Zone = z
	}
	return o
}

// ackTime is when the tests' acknowledgements are prepared.
var ackTime = time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)

func options() edi.Options {
	return edi.Options{Origin: "haiphong-terminal", Zone: agreed, Now: func() time.Time { return ackTime }}
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// translate translates data and fails unless it is accepted.
func translate(t testing.TB, data []byte, opts edi.Options) *edi.Result {
	t.Helper()
	res, err := edi.Translate(data, opts)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	if len(res.Events) == 0 {
		t.Fatal("translate: no events")
	}
	return res
}

// reject translates data and fails unless it is rejected; it returns the
// result and the problems.
func reject(t testing.TB, data []byte, opts edi.Options) (*edi.Result, []edi.Problem) {
	t.Helper()
	res, err := edi.Translate(data, opts)
	if err == nil {
		t.Fatalf("translate accepted the interchange with %d events; want a rejection", len(res.Events))
	}
	var ee *edi.Error
	if !errors.As(err, &ee) {
		t.Fatalf("error %T (%v), want *edi.Error", err, err)
	}
	if linkd.ErrorCode(err) != linkd.EInvalid {
		t.Errorf("linkd.ErrorCode = %q, want %q", linkd.ErrorCode(err), linkd.EInvalid)
	}
	if res == nil || len(res.Events) != 0 {
		t.Fatalf("a rejected interchange gave events: %+v", res)
	}
	if len(ee.Problems) == 0 || len(res.Problems) != len(ee.Problems) {
		t.Fatalf("problems: error has %d, result %d", len(ee.Problems), len(res.Problems))
	}
	return res, ee.Problems
}

// golden compares got with the golden file, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -run %s -update to create it): %v", t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got\n%s\nwant\n%s\n(run with -update if the change is meant)", name, got, want)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// segments splits an acknowledgement into its segments for assertions.
func segments(ack []byte, term byte) []string {
	var out []string
	for _, s := range bytes.Split(ack, []byte{term}) {
		if v := strings.TrimSpace(string(s)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func hasSegment(segs []string, want string) bool {
	for _, s := range segs {
		if s == want {
			return true
		}
	}
	return false
}
