package linkd_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestDecodeEventsRejects(t *testing.T) {
	deep := strings.Repeat("[", linkd.MaxJSONDepth+1) + strings.Repeat("]", linkd.MaxJSONDepth+1)
	deepInEvent := `{"eventLocation":` + strings.Repeat(`{"a":`, linkd.MaxJSONDepth) + "1" + strings.Repeat("}", linkd.MaxJSONDepth) + "}"
	tests := []struct {
		name   string
		body   string
		field  string
		reason string
	}{
		{"empty body", "", "", "the body is empty"},
		{"only whitespace", " \n\t\r ", "", "the body is empty"},
		{"empty array", "[]", "", "the batch has no events"},
		{"empty array with spaces", " [ ] ", "", "the batch has no events"},
		{"malformed object", `{"eventType" "SHIPMENT"}`, "", "malformed JSON at byte"},
		{"malformed array", `[{"eventType":"SHIPMENT"},]`, "", "malformed JSON"},
		{"bare word", `SHIPMENT`, "", "malformed JSON"},
		{"truncated object", `{"eventType":"SHIPMENT"`, "", "truncated JSON"},
		{"truncated array", `[{"eventType":"SHIPMENT"}`, "", "truncated JSON"},
		{"truncated string", `{"eventType":"SHIP`, "", "truncated JSON"},
		{"unknown field", `{"eventType":"SHIPMENT","shipmentID":"x"}`, "shipmentID", "unknown field"},
		{"unknown field in the second event", `[{"eventType":"SHIPMENT"},{"colour":"red"}]`, "events[1].colour", "unknown field"},
		{"wrong type of a string field", `{"eventType":5}`, "eventType", "want linkd.EventType, got JSON number"},
		{"wrong type of a nested field", `[{},{"eventLocation":{"UNLocationCode":5}}]`, "events[1].eventLocation.UNLocationCode", "want string, got JSON number"},
		{"wrong type of a list", `{"references":{"referenceType":"PO"}}`, "references", "got JSON object"},
		{"wrong type of hlc", `[{"hlc":-1}]`, "events[0].hlc", "got JSON number"},
		{"object for a date-time", `{"eventDateTime":{}}`, "", "want an RFC 3339 date-time string"},
		{"a string for the whole event", `"SHIPMENT"`, "", "got JSON string"},
		{"a number in the array", `[{},42]`, "events[1]", "got JSON number"},
		{"date-time without zone", `{"eventDateTime":"2026-11-03T08:15:00"}`, "", "want an RFC 3339 date-time with zone"},
		{"date-time without zone in a batch", `[{},{"eventCreatedDateTime":"2026-11-03 08:15:00Z"}]`, "events[1]", "want an RFC 3339 date-time with zone"},
		{"date only", `{"eventDateTime":"2026-11-03"}`, "", "RFC 3339"},
		{"nesting deeper than MaxJSONDepth", deep, "", "JSON nested deeper than 16 levels"},
		{"nesting deeper inside an event", deepInEvent, "", "JSON nested deeper than 16 levels"},
		{"invalid UTF-8", "{\"reason\":\"caf\xe9\"}", "", "the body is not valid UTF-8"},
		{"trailing object", `{} {}`, "", "unexpected data after the JSON value"},
		{"trailing garbage", `[{}] x`, "", "unexpected data after the JSON value"},
		{"trailing array bracket", `{}]`, "", "unexpected data after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := linkd.DecodeEventsBytes([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeEventsBytes(%q) = %d events, want an error", tt.body, len(events))
			}
			if got := linkd.ErrorCode(err); got != linkd.EInvalid {
				t.Errorf("ErrorCode = %q, want %q", got, linkd.EInvalid)
			}
			probs := problemsOf(t, err)
			if !findProblem(probs, tt.field, tt.reason) {
				t.Errorf("DecodeEventsBytes(%q) problems = %v\nwant one at %q with reason containing %q", tt.body, probs, tt.field, tt.reason)
			}
			// DecodeEvents reads the same bytes from a reader and must agree.
			_, err2 := linkd.DecodeEvents(strings.NewReader(tt.body))
			if err2 == nil || err2.Error() != err.Error() {
				t.Errorf("DecodeEvents = %v, want %v as from DecodeEventsBytes", err2, err)
			}
		})
	}
}

func TestDecodeEventsReportsEveryBadEvent(t *testing.T) {
	_, err := linkd.DecodeEventsBytes([]byte(`[{"a":1},{},{"eventType":true},{"b":2}]`))
	probs := problemsOf(t, err)
	want := []string{"events[0].a", "events[2].eventType", "events[3].b"}
	if len(probs) != len(want) {
		t.Fatalf("problems = %v, want %d", probs, len(want))
	}
	for i, f := range want {
		if probs[i].Field != f {
			t.Errorf("problem %d at %q, want %q", i, probs[i].Field, f)
		}
	}
}

func TestDecodeEventsTooLarge(t *testing.T) {
	bigEvent := func() []byte {
		return []byte(`{"reason":"` + strings.Repeat("x", linkd.MaxEventBytes) + `"}`)
	}
	tests := []struct {
		name   string
		decode func() ([]linkd.Event, error)
	}{
		{"single event over MaxEventBytes", func() ([]linkd.Event, error) { return linkd.DecodeEventsBytes(bigEvent()) }},
		{"event in an array over MaxEventBytes", func() ([]linkd.Event, error) {
			return linkd.DecodeEventsBytes(append(append([]byte(`[{},`), bigEvent()...), ']'))
		}},
		{"batch over MaxBatchEvents", func() ([]linkd.Event, error) {
			body := "[" + strings.Repeat("{},", linkd.MaxBatchEvents) + "{}]"
			return linkd.DecodeEventsBytes([]byte(body))
		}},
		{"body over MaxBatchBytes", func() ([]linkd.Event, error) {
			// Spaces are valid JSON padding, so only the size can refuse it.
			r := io.MultiReader(strings.NewReader("[{}"), io.LimitReader(spaces{}, linkd.MaxBatchBytes), strings.NewReader("]"))
			return linkd.DecodeEvents(r)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := tt.decode()
			if got := linkd.ErrorCode(err); got != linkd.ETooLarge {
				t.Fatalf("got %d events, ErrorCode %q (%v), want %q", len(events), got, err, linkd.ETooLarge)
			}
		})
	}
}

// spaces is an endless reader of JSON whitespace.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestDecodeEventsAtTheLimits(t *testing.T) {
	// MaxBatchEvents events, and a body of exactly MaxBatchBytes, are accepted.
	body := "[" + strings.Repeat("{},", linkd.MaxBatchEvents-1) + "{}]"
	events, err := linkd.DecodeEventsBytes([]byte(body))
	if err != nil || len(events) != linkd.MaxBatchEvents {
		t.Errorf("batch of MaxBatchEvents: got %d events, err %v; want %d, nil", len(events), err, linkd.MaxBatchEvents)
	}
	pad := linkd.MaxBatchBytes - len("[{}]")
	r := io.MultiReader(strings.NewReader("[{}"), io.LimitReader(spaces{}, int64(pad)), strings.NewReader("]"))
	events, err = linkd.DecodeEvents(r)
	if err != nil || len(events) != 1 {
		t.Errorf("body of MaxBatchBytes: got %d events, err %v; want 1, nil", len(events), err)
	}
}

func TestDecodeEventsAccepts(t *testing.T) {
	ship := validShipment()
	shipJSON, err := json.Marshal(&ship)
	if err != nil {
		t.Fatal(err)
	}
	trans := validTransport()
	transJSON, err := json.Marshal(&trans)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want []linkd.Event
	}{
		{"single object", string(shipJSON), []linkd.Event{ship}},
		{"single object with whitespace", "\n\t " + string(shipJSON) + " \n", []linkd.Event{ship}},
		{"array of one", "[" + string(shipJSON) + "]", []linkd.Event{ship}},
		{"array of two", "[" + string(shipJSON) + ",\n" + string(transJSON) + "]", []linkd.Event{ship, trans}},
		{"DCSA example shape", `{
			"eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
			"eventDateTime": "2026-11-05T14:30:00.25+07:00",
			"equipmentEventTypeCode": "LOAD", "emptyIndicatorCode": "LADEN", "ISOEquipmentCode": "45G1",
			"equipmentReference": "CSQU3054383",
			"eventLocation": {"UNLocationCode": "VNHPH", "facilityCode": "HICT", "facilityCodeListProvider": "SMDG"},
			"transportCall": {"carrierVoyageNumber": "001W", "modeOfTransport": "VESSEL"},
			"residency": ["VN", "EU"]
		}`, []linkd.Event{validEquipment()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := linkd.DecodeEvents(strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("DecodeEvents() error = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("DecodeEvents() = %d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				g, w := linkd.AppendCanonical(nil, &got[i]), linkd.AppendCanonical(nil, &tt.want[i])
				if !bytes.Equal(g, w) {
					t.Errorf("event %d = %+v\nwant %+v", i, got[i], tt.want[i])
				}
				if probs := got[i].Validate(""); len(probs) != 0 {
					t.Errorf("event %d does not validate after decoding: %v", i, probs)
				}
			}
		})
	}
}

func TestDecodeEventsKeepsZoneOffset(t *testing.T) {
	events, err := linkd.DecodeEventsBytes([]byte(`{"eventDateTime":"2026-11-03T08:15:00.500+07:00","eventCreatedDateTime":"2026-11-03T01:15:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := events[0].EventDateTime.String(), "2026-11-03T08:15:00.5+07:00"; got != want {
		t.Errorf("eventDateTime = %q, want %q", got, want)
	}
	if got, want := events[0].EventCreatedDateTime.String(), "2026-11-03T01:15:00Z"; got != want {
		t.Errorf("eventCreatedDateTime = %q, want %q", got, want)
	}
	out, err := json.Marshal(events[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := `"eventDateTime":"2026-11-03T08:15:00.5+07:00"`; !strings.Contains(string(out), want) {
		t.Errorf("json.Marshal = %s, want it to contain %s", out, want)
	}
}

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestDecodeEventsReadError(t *testing.T) {
	_, err := linkd.DecodeEvents(errReader{})
	if got := linkd.ErrorCode(err); got != linkd.EInternal {
		t.Errorf("ErrorCode = %q, want %q", got, linkd.EInternal)
	}
	if got := linkd.ErrorMessage(err); got != "internal error" {
		t.Errorf("ErrorMessage = %q, want the generic internal text", got)
	}
}
