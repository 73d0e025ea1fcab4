package linkd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/linkd-dev/linkd"
)

// checkFastAgrees fails t unless the fast decoder either declines data or
// returns exactly the events of the reference decoder, and unless
// DecodeEventsBytes answers as the reference does. It reports whether the
// fast decoder took data.
func checkFastAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	fast, ok := linkd.DecodeEventsFast(data)
	ref, refErr := linkd.DecodeEventsReference(data)
	if ok {
		if refErr != nil {
			t.Fatalf("fast decoder accepted %q; the reference refuses it: %v", data, refErr)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("fast decoder of %q = %#v\nreference = %#v", data, fast, ref)
		}
	}
	got, err := linkd.DecodeEventsBytes(data)
	if (err == nil) != (refErr == nil) || (err != nil && err.Error() != refErr.Error()) {
		t.Fatalf("DecodeEventsBytes(%q) error = %v, want the reference's %v", data, err, refErr)
	}
	if !reflect.DeepEqual(got, ref) {
		t.Fatalf("DecodeEventsBytes(%q) = %#v\nwant the reference's %#v", data, got, ref)
	}
	return ok
}

func mustMarshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeEventsFastAgrees(t *testing.T) {
	ship := mustMarshal(t, validShipment())
	realloc := mustMarshal(t, validReallocation())
	tests := []struct {
		name string
		body string
		fast bool // the fast decoder must take it
	}{
		{"shipment", ship, true},
		{"re-allocation with inventory and attestation", realloc, true},
		{"batch", "[" + ship + ",\n" + realloc + "]", true},
		{"whitespace everywhere", " \n[ {\t\"eventType\" : \"SHIPMENT\" ,\r\n\"references\" : [ { \"referenceType\" : \"PO\" } ] } ] \n", true},
		{"empty object", `{}`, true},
		{"empty lists", `{"references":[],"parties":[],"visibility":[],"residency":[],"causedBy":[]}`, true},
		{"null members", `{"eventID":null,"references":null,"eventLocation":null,"inventory":null,"hlc":null,"visibility":[null,"x"],"parties":[null]}`, true},
		{"escapes", `{"reason":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00 \ud800 \udc00x \ud800\u0041"}`, true},
		{"non-ASCII", `{"reason":"Hải Phòng → Hamburg ✓ 🚢"}`, true},
		{"integers", `{"hlc":18446744073709551615,"inventory":{"quantity":-9223372036854775808}}`, true},
		{"zero integers", `{"hlc":0,"inventory":{"quantity":-0}}`, true},
		{"empty date-time", `{"eventDateTime":""}`, true},
		{"date-times", `{"eventDateTime":"2026-11-03T08:15:00.123456789-09:30","eventCreatedDateTime":"2026-11-03T08:15:00Z"}`, true},
		{"every nested type", `{"transportCall":{"transportCallID":"T","location":{"locationName":"L","latitude":"1","longitude":"2"},"vessel":{"vesselIMONumber":"9","vesselCallSignNumber":"C"}},"source":{"syntax":"X12","messageType":"214","interchangeSHA256":"ab"}}`, true},

		// The fast decoder leaves these to the reference.
		{"null event", `null`, false},
		{"null in a batch", `[{},null]`, false},
		{"null date-time", `{"eventDateTime":null}`, false},
		{"escaped date-time", `{"eventDateTime":"2026-11-03T08:15:00\u002B07:00"}`, false},
		{"key in another case", `{"EventType":"SHIPMENT"}`, false},
		{"escaped key", `{"event\u0054ype":"SHIPMENT"}`, false},
		{"duplicate key", `{"eventType":"SHIPMENT","eventType":"TRANSPORT"}`, false},
		{"duplicate nested key", `{"transportCall":{"location":{"UNLocationCode":"A"},"location":{"facilityCode":"B"}}}`, false},
		{"duplicate object key", `{"eventLocation":{"UNLocationCode":"A"},"eventLocation":{"facilityCode":"B"}}`, false},
		{"duplicate list key", `{"references":[{"referenceType":"A"},{}],"references":[{"referenceValue":"B"}]}`, false},
		{"fraction", `{"inventory":{"quantity":1.0}}`, false},
		{"exponent", `{"hlc":1e3}`, false},
		{"negative hlc", `{"hlc":-1}`, false},
		{"overflow", `{"hlc":18446744073709551616}`, false},
		{"leading zero", `{"hlc":01}`, false},
		{"bool", `{"eventType":true}`, false},
		{"unknown field", `{"colour":"red"}`, false},
		{"unknown nested field", `{"eventLocation":{"x":1}}`, false},
		{"control character", "{\"reason\":\"a\tb\"}", false},
		{"bad escape", `{"reason":"\x41"}`, false},
		{"short unicode escape", `{"reason":"\u00e"}`, false},
		{"invalid UTF-8", "{\"reason\":\"caf\xe9\"}", false},
		{"invalid UTF-8 outside strings", "{\xe9}", false},
		{"truncated", `{"reason":"x"`, false},
		{"trailing", `{} {}`, false},
		{"trailing comma", `[{},]`, false},
		{"empty batch", `[]`, false},
		{"empty body", ``, false},
		{"bad date-time", `{"eventDateTime":"2026-11-03"}`, false},
		{"deep", strings.Repeat("[", 20) + strings.Repeat("]", 20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if took := checkFastAgrees(t, []byte(tt.body)); took != tt.fast {
				t.Errorf("fast decoder took %q: %v, want %v", tt.body, took, tt.fast)
			}
		})
	}
}

// TestDecodeEventsFastTakesRealisticBodies checks that the fast decoder
// takes what clients send, alone and in batches, compact and indented, so
// the speed it exists for does not silently go.
func TestDecodeEventsFastTakesRealisticBodies(t *testing.T) {
	events := append(generated(300), validShipment(), validTransport(), validEquipment(), validReallocation(), validStock())
	for i := range events {
		body := []byte(mustMarshal(t, events[i]))
		if !checkFastAgrees(t, body) {
			t.Fatalf("event %d: the fast decoder declined %s", i, body)
		}
	}
	batch := []byte(mustMarshal(t, events))
	if !checkFastAgrees(t, batch) {
		t.Fatal("the fast decoder declined a batch of valid events")
	}
	indented, err := json.MarshalIndent(events, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if !checkFastAgrees(t, indented) {
		t.Fatal("the fast decoder declined an indented batch")
	}
	got, _ := linkd.DecodeEventsFast(batch)
	for i := range got {
		if g, w := linkd.AppendCanonical(nil, &got[i]), linkd.AppendCanonical(nil, &events[i]); !bytes.Equal(g, w) {
			t.Fatalf("event %d decodes to\n%+v\nwant\n%+v", i, got[i], events[i])
		}
	}
}

// TestDecodeEventsFastLimits checks the size limits where the fast decoder
// must step aside: the reference's too_large errors still come out.
func TestDecodeEventsFastLimits(t *testing.T) {
	full := "[" + strings.Repeat("{},", linkd.MaxBatchEvents-1) + "{}]"
	if !checkFastAgrees(t, []byte(full)) {
		t.Error("the fast decoder declined a batch of MaxBatchEvents events")
	}
	over := "[" + strings.Repeat("{},", linkd.MaxBatchEvents) + "{}]"
	if checkFastAgrees(t, []byte(over)) {
		t.Error("the fast decoder took a batch over MaxBatchEvents")
	}
	pad := strings.Repeat(" ", linkd.MaxEventBytes)
	for _, body := range []string{`{"reason":"x"}` + pad, `[{},{"reason":"x"` + pad + `}]`} {
		if checkFastAgrees(t, []byte(body)) {
			t.Errorf("the fast decoder took a %d-byte event", len(body))
		}
		if _, err := linkd.DecodeEventsBytes([]byte(body)); linkd.ErrorCode(err) != linkd.ETooLarge {
			t.Errorf("DecodeEventsBytes of an event over MaxEventBytes: %v, want too_large", err)
		}
	}
	// Exactly MaxEventBytes is accepted.
	exact := `{"reason":"x"}`
	exact += strings.Repeat(" ", linkd.MaxEventBytes-len(exact))
	if !checkFastAgrees(t, []byte(exact)) {
		t.Error("the fast decoder declined an event of exactly MaxEventBytes")
	}
}

// FuzzDecodeEventsFast holds the fast decoder to the reference: whatever it
// takes, the reference takes too, with equal events.
func FuzzDecodeEventsFast(f *testing.F) {
	for _, e := range generated(4) {
		f.Add([]byte(mustMarshal(f, e)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastAgrees(t, data)
	})
}

func BenchmarkDecodeEvents(b *testing.B) {
	events := generated(100)
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"one", []byte(mustMarshal(b, events[1]))},
		{"batch100", []byte(mustMarshal(b, events))},
	} {
		n := 1
		if bc.body[0] == '[' {
			n = len(events)
		}
		for _, dec := range []struct {
			name string
			f    func([]byte) ([]linkd.Event, error)
		}{{"fast", linkd.DecodeEventsBytes}, {"reference", linkd.DecodeEventsReference}} {
			b.Run(bc.name+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(bc.body)))
				for b.Loop() {
					if _, err := dec.f(bc.body); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// TestDecodeEventsReaders checks that DecodeEvents reads a body the same
// however the reader splits it, and passes a read error on.
func TestDecodeEventsReaders(t *testing.T) {
	body := []byte(mustMarshal(t, generated(50)))
	want, err := linkd.DecodeEventsBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func() io.Reader{
		"one byte at a time": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
		"half reads":         func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) },
		"EOF with the data":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(body)) },
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			for range 3 { // pooled buffers are reused: decode more than once
				got, err := linkd.DecodeEvents(r())
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("DecodeEvents decoded other events than DecodeEventsBytes")
				}
			}
		})
	}
	_, err = linkd.DecodeEvents(iotest.TimeoutReader(iotest.HalfReader(bytes.NewReader(body))))
	if !errors.Is(err, iotest.ErrTimeout) || linkd.ErrorCode(err) != linkd.EInternal {
		t.Errorf("DecodeEvents with a failing reader: %v, want an internal error wrapping %v", err, iotest.ErrTimeout)
	}
}
