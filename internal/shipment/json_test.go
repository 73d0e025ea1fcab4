package shipment

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// Strings that take every path of appendString and of encoding/json's
// escaping.
var jsonStrings = []string{
	"", "OCLVNHAM0000042", "a <b> & c", `quote " and \ backslash`, "tab\tnew\nline\r\x01\x1f\x7f",
	"Hải Phòng ünïcödé", "bad \xff\xfe utf-8", "line\u2028para\u2029", "emoji 🚢",
}

// fill sets the fields of the value v points at by reflection: every field
// when all is set, else each with probability 1/2. Filling by reflection
// means a field added to the view's types is filled too, so the comparison
// with Marshal fails until AppendJSON writes it.
func fill(rng *rand.Rand, v reflect.Value, all bool, depth int) {
	if depth > 6 {
		return
	}
	if v.Type() == reflect.TypeFor[linkd.Time]() {
		zone := time.FixedZone("", (rng.IntN(105)-48)*15*60) // -12:00 to +14:00
		t := time.Date(2026, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(3)*123_456_000, zone)
		v.Set(reflect.ValueOf(linkd.Time{Time: t}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(jsonStrings[rng.IntN(len(jsonStrings))])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(rng.Int64N(1<<40) - 1<<39)
	case reflect.Uint64:
		v.SetUint(rng.Uint64())
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem(), all, depth+1)
		v.Set(p)
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(rng, s.Index(i), all, depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if all || rng.IntN(2) == 0 {
				fill(rng, v.Field(i), all, depth+1)
			}
		}
	default:
		panic("fill: no case for " + v.Type().String())
	}
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	check := func(t *testing.T, v *linkd.ShipmentView) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSON(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON differs from Marshal\n got %s\nwant %s", got, want)
		}
	}
	t.Run("empty", func(t *testing.T) {
		check(t, &linkd.ShipmentView{})
		check(t, &linkd.ShipmentView{Timeline: []linkd.TimelineEntry{}})
	})
	t.Run("every field", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 1))
		for range 20 {
			var v linkd.ShipmentView
			fill(rng, reflect.ValueOf(&v).Elem(), true, 0)
			check(t, &v)
		}
	})
	t.Run("some fields", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(2, 2))
		for range 500 {
			var v linkd.ShipmentView
			fill(rng, reflect.ValueOf(&v).Elem(), false, 0)
			check(t, &v)
		}
	})
	t.Run("lane", func(t *testing.T) {
		st, tl := Build(booking, lane(t, 60))
		check(t, &linkd.ShipmentView{State: st, Timeline: tl, Truncated: true})
	})
}

func TestAppendJSONAppends(t *testing.T) {
	v := linkd.ShipmentView{State: State{Ref: booking, Status: Unknown}}
	got := AppendJSON([]byte("prefix "), &v)
	want, _ := json.Marshal(&v)
	if string(got) != "prefix "+string(want) {
		t.Fatalf("got %s, want the encoding after the prefix", got)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	st, tl := Build(booking, lane(b, 33))
	v := linkd.ShipmentView{State: st, Timeline: tl}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = AppendJSON(buf[:0], &v)
	}
	b.SetBytes(int64(len(buf)))
}
