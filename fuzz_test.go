package linkd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ and are written by
// go test -run TestFuzzSeedCorpus -update. Without -update the test checks
// that the seeds which should be valid still are, so the corpus keeps
// starting the fuzzer from inputs that reach deep into the decoders.

type seed struct {
	name  string
	value any // []byte or string
	valid bool
}

func canonicalSeeds() []seed {
	golden, _ := goldenEvent()
	gen := generated(3)
	zero := linkd.Event{}
	enc := func(e linkd.Event) []byte { return linkd.AppendCanonical(nil, &e) }
	full := enc(golden)
	nonMinimal := append([]byte{full[0], 0x80 | full[1], 0x00}, full[2:]...)
	return []seed{
		{"valid-transport", full, true},
		{"valid-zero", enc(zero), true},
		{"valid-equipment", enc(gen[0]), true},
		{"valid-shipment", enc(validShipment()), true},
		{"truncated", full[:len(full)-1], false},
		{"trailing-byte", append(bytes.Clone(full), 0), false},
		{"bad-version", append([]byte{2}, full[1:]...), false},
		{"non-minimal-varint", nonMinimal, false},
	}
}

func jsonSeeds() []seed {
	ship, tr, eq := validShipment(), validTransport(), validEquipment()
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	return []seed{
		{"valid-object", []byte(mustJSON(ship)), true},
		{"valid-array", []byte("[" + mustJSON(tr) + ",\n" + mustJSON(eq) + "]"), true},
		{"valid-null", []byte("null"), true},
		{"unknown-field", []byte(`[{},{"eventLocation":{"x":1},"colour":"red"}]`), false},
		{"wrong-type", []byte(`{"eventType":5,"references":[{"referenceType":true}]}`), false},
		{"deep", []byte(strings.Repeat("[", 17) + strings.Repeat("]", 17)), false},
		{"no-zone", []byte(`{"eventDateTime":"2026-11-03T08:15:00"}`), false},
		{"invalid-utf8", []byte("{\"reason\":\"caf\xe9\"}"), false},
		{"trailing", []byte(`{} {}`), false},
		{"empty-array", []byte(`[]`), false},
		{"escapes", []byte(`{"reason":"\u00e9\ud800\\\"","eventDateTime":"2026-11-03T08:15:00.000000001-09:30"}`), true},
		// Where the fast decoder hands over to the reference.
		{"null-members", []byte(`[{"eventID":null,"references":[null],"inventory":{"quantity":null},"hlc":null,"visibility":[null]}]`), true},
		{"duplicate-key", []byte(`{"eventLocation":{"UNLocationCode":"VNHPH"},"eventLocation":{"facilityCode":"HICT"}}`), true},
		{"folded-key", []byte(`{"EVENTTYPE":"SHIPMENT","hLc":7}`), true},
		{"integers", []byte(`{"hlc":18446744073709551615,"inventory":{"quantity":-1.5e3}}`), false},
	}
}

func checkpointSeeds() []seed {
	cp := linkd.Checkpoint{Origin: linkd.LogOrigin("oceanic-lines"), Size: 42, Hash: testHash()}
	withExt := cp
	withExt.Extensions = []string{"raft-term 7", "— x —"}
	return []seed{
		{"valid", cp.Body(), true},
		{"valid-extensions", withExt.Body(), true},
		{"valid-empty-log", linkd.Checkpoint{Origin: "o"}.Body(), true},
		{"no-newline", strings.TrimSuffix(cp.Body(), "\n"), false},
		{"leading-zero", strings.Replace(cp.Body(), "\n42\n", "\n042\n", 1), false},
		{"cr-in-hash", strings.Replace(cp.Body(), "=\n", "=\r\n", 1), false},
		{"empty-extension", cp.Body() + "\n", false},
	}
}

func seedFile(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", v)
	case string:
		return fmt.Sprintf("go test fuzz v1\nstring(%q)\n", v)
	}
	panic("unsupported seed type")
}

func TestFuzzSeedCorpus(t *testing.T) {
	corpora := []struct {
		fuzz  string
		seeds []seed
		valid func(v any) error
	}{
		{"FuzzDecodeCanonical", canonicalSeeds(), func(v any) error { _, err := linkd.DecodeCanonical(v.([]byte)); return err }},
		{"FuzzDecodeEventsBytes", jsonSeeds(), func(v any) error { _, err := linkd.DecodeEventsBytes(v.([]byte)); return err }},
		{"FuzzDecodeEventsFast", jsonSeeds(), func(v any) error { _, err := linkd.DecodeEventsBytes(v.([]byte)); return err }},
		{"FuzzParseCheckpoint", checkpointSeeds(), func(v any) error { _, err := linkd.ParseCheckpoint(v.(string)); return err }},
	}
	for _, c := range corpora {
		dir := filepath.Join("testdata", "fuzz", c.fuzz)
		for _, s := range c.seeds {
			t.Run(c.fuzz+"/"+s.name, func(t *testing.T) {
				if err := c.valid(s.value); (err == nil) != s.valid {
					t.Errorf("seed decodes with error %v; want valid=%v", err, s.valid)
				}
				path := filepath.Join(dir, s.name)
				if *update {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(seedFile(s.value)), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("seed file missing (go test -run TestFuzzSeedCorpus -update): %v", err)
				}
				if string(got) != seedFile(s.value) {
					t.Errorf("%s is stale; regenerate with -update", path)
				}
			})
		}
	}
}

func FuzzDecodeCanonical(f *testing.F) {
	for _, e := range generated(8) {
		f.Add(linkd.AppendCanonical(nil, &e))
	}
	// Date-times in other spellings of the same time, for the fuzzer to
	// start from: the strict decode refuses each by its spelling.
	for _, spelling := range []string{"2026-11-03T08:15:00+00:00", "2026-11-03T08:15:00.50Z", "2026-11-03T08:15:00,5Z",
		"0001-01-01T00:00:00Z", "2026-11-03T08:15:00.123456789+05:30", "2026-11-03t08:15:00z"} {
		// The zero event's eventDateTime is its fourth string, at byte 4.
		b := linkd.AppendCanonical(nil, &linkd.Event{})
		f.Add(slices.Concat(b[:4], []byte{byte(len(spelling))}, []byte(spelling), b[5:]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// DecodeStored, which skips the checks of the spelling, never
		// panics. The bytes are canonical, by definition, when what it
		// decodes encodes to them again.
		stored, serr := linkd.DecodeStored(data)
		if serr != nil && !errors.Is(serr, linkd.ErrNotCanonical) {
			t.Fatalf("DecodeStored error %v does not wrap ErrNotCanonical", serr)
		}
		canonical := serr == nil && bytes.Equal(linkd.AppendCanonical(nil, &stored), data)
		e, err := linkd.DecodeCanonical(data)
		// CheckCanonical, which keeps nothing, gives the same answer.
		if cerr := linkd.CheckCanonical(data); (cerr == nil) != (err == nil) || cerr != nil && cerr.Error() != err.Error() {
			t.Fatalf("CheckCanonical = %v, DecodeCanonical = %v", cerr, err)
		}
		if err != nil {
			if !errors.Is(err, linkd.ErrNotCanonical) {
				t.Fatalf("error %v does not wrap ErrNotCanonical", err)
			}
			if canonical {
				t.Fatalf("DecodeCanonical refused canonical bytes %x: %v", data, err)
			}
			return
		}
		if !canonical {
			t.Fatalf("DecodeCanonical accepted bytes %x that are not canonical: DecodeStored = %v", data, serr)
		}
		if re := linkd.AppendCanonical(nil, &e); !bytes.Equal(re, data) {
			t.Fatalf("decoded event re-encodes differently\n got %x\nwant %x", re, data)
		}
	})
}

// FuzzTimeSpelling holds the canonical decoder's check of a date-time's
// spelling to its definition: of the texts time.Time.UnmarshalText reads,
// exactly those that time.Time.AppendFormat writes back byte for byte.
func FuzzTimeSpelling(f *testing.F) {
	for _, s := range []string{"2026-11-03T08:15:00Z", "2026-11-03T08:15:00+00:00", "2026-11-03T08:15:00-00:00",
		"2026-11-03T08:15:00.5Z", "2026-11-03T08:15:00.50Z", "2026-11-03T08:15:00,5Z", "2026-11-03T08:15:00.000000001+05:30",
		"2026-11-03T08:15:00.1234567891Z", "2026-11-03t08:15:00z", "0000-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999999999+14:00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tm time.Time
		if tm.UnmarshalText(b) != nil {
			return
		}
		want := bytes.Equal(tm.AppendFormat(nil, time.RFC3339Nano), b)
		if got := linkd.TimeSpelledCanonically(b); got != want {
			t.Fatalf("TimeSpelledCanonically(%q) = %v, want %v: AppendFormat writes %q", b, got, want, tm.AppendFormat(nil, time.RFC3339Nano))
		}
	})
}

func FuzzDecodeEventsBytes(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := linkd.DecodeEventsBytes(data)
		if err != nil {
			if code := linkd.ErrorCode(err); code != linkd.EInvalid && code != linkd.ETooLarge {
				t.Fatalf("ErrorCode = %q (%v), want invalid or too_large", code, err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatalf("no error and no events")
		}
		for i := range events {
			e := &events[i]
			if overLongList(e) {
				// Validate refuses these, so they never reach a log; the
				// canonical decoder bounds lists for the same reason.
				continue
			}
			enc := linkd.AppendCanonical(nil, e)
			back, err := linkd.DecodeCanonical(enc)
			if err != nil {
				t.Fatalf("event %d: DecodeCanonical(AppendCanonical(e)) error = %v", i, err)
			}
			if re := linkd.AppendCanonical(nil, &back); !bytes.Equal(re, enc) {
				t.Fatalf("event %d: canonical round trip changed the encoding\n got %x\nwant %x", i, re, enc)
			}
			// The event survives being sent on as JSON.
			body, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("event %d: json.Marshal error = %v", i, err)
			}
			again, err := linkd.DecodeEventsBytes(body)
			if err != nil {
				t.Fatalf("event %d: decoding its own JSON %s: %v", i, body, err)
			}
			if re := linkd.AppendCanonical(nil, &again[0]); !bytes.Equal(re, enc) {
				t.Fatalf("event %d: canonical encoding changed through JSON %s", i, body)
			}
		}
	})
}

func overLongList(e *linkd.Event) bool {
	for _, n := range []int{len(e.References), len(e.Parties), len(e.Visibility), len(e.Residency), len(e.CausedBy)} {
		if n > linkd.MaxListLen {
			return true
		}
	}
	return false
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		c, err := linkd.ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, linkd.ErrBadCheckpoint) {
				t.Fatalf("error %v does not wrap ErrBadCheckpoint", err)
			}
			return
		}
		if body := c.Body(); body != text {
			t.Fatalf("Body() = %q, want the parsed text %q", body, text)
		}
		again, err := linkd.ParseCheckpoint(c.Body())
		if err != nil {
			t.Fatalf("ParseCheckpoint(Body()) error = %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("ParseCheckpoint(Body()) = %+v, want %+v", again, c)
		}
	})
}

// FuzzDecodeSharing checks that DecodeSharing never panics, that its errors
// wrap ErrNotCanonical, and that for every canonical encoding it reads what
// DecodeCanonical reads.
func FuzzDecodeSharing(f *testing.F) {
	for _, e := range generated(8) {
		f.Add(linkd.AppendCanonical(nil, &e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := linkd.DecodeSharing(data)
		if err != nil && !errors.Is(err, linkd.ErrNotCanonical) {
			t.Fatalf("error %v does not wrap ErrNotCanonical", err)
		}
		e, cerr := linkd.DecodeCanonical(data)
		if cerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("DecodeSharing refused a canonical encoding: %v", err)
		}
		want := e.Sharing()
		if !reflect.DeepEqual(s, want) {
			t.Fatalf("DecodeSharing = %+v, DecodeCanonical's fields are %+v", s, want)
		}
	})
}
