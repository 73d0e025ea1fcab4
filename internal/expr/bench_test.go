package expr

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
)

const typical = `event.shipmentEventTypeCode == "HOLD" && event.eventLocation.UNLocationCode.startsWith("DE")`

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "evals/s")
}

// BenchmarkMatch is the typical filter on an event it matches (both sides
// evaluated).
func BenchmarkMatch(b *testing.B) {
	p := mustCompile(b, typical)
	in := NewInput(hold(), nil)
	for b.Loop() {
		if ok, err := p.Match(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	reportRate(b, 1)
}

// BenchmarkMatchMiss is the typical filter on a generated event it misses.
func BenchmarkMatchMiss(b *testing.B) {
	p := mustCompile(b, typical)
	e := scenario.NewGenerator(1, t0).Next()
	in := NewInput(&e, nil)
	for b.Loop() {
		if ok, err := p.Match(in); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	reportRate(b, 1)
}

// BenchmarkMatch1000 is one event against 1,000 programs sharing its Input.
func BenchmarkMatch1000(b *testing.B) {
	progs := make([]*Program, 1000)
	for i := range progs {
		progs[i] = mustCompile(b, fmt.Sprintf(`event.shipmentEventTypeCode == "HOLD" && event.eventLocation.UNLocationCode.startsWith("DE") && event.hlc != %d`, i))
	}
	e := hold()
	for b.Loop() {
		in := NewInput(e, nil)
		for _, p := range progs {
			if ok, err := p.Match(in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	}
	reportRate(b, len(progs))
}

func BenchmarkFilterMatch(b *testing.B) {
	m, err := CompileFilter(Filter{ShipmentEventTypeCodes: []string{"HOLD"}, Origins: []string{"eu-customs"}, Expression: typical})
	if err != nil {
		b.Fatal(err)
	}
	in := NewInput(hold(), nil)
	for b.Loop() {
		if ok, err := m.Match(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	reportRate(b, 1)
}

func BenchmarkNewInput(b *testing.B) {
	e := hold()
	s := &linkd.ShipmentState{Ref: "x", Status: linkd.StatusOnHold}
	b.ReportAllocs()
	for b.Loop() {
		_ = NewInput(e, s)
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		mustCompile(b, typical)
	}
}

// The alternative this package does not take: the event as a map built by
// JSON round trip, in an environment whose variable is map(string, dyn).
// Kept as the comparison for the figures above.

func BenchmarkNewInputJSONMap(b *testing.B) {
	e := hold()
	b.ReportAllocs()
	for b.Loop() {
		_ = jsonMap(b, e)
	}
}

func BenchmarkMatchJSONMap(b *testing.B) {
	env, err := cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		b.Fatal(err)
	}
	ast, iss := env.Compile(typical)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := env.Program(ast, cel.CostLimit(MaxCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]any{"event": jsonMap(b, hold())}
	for b.Loop() {
		if out, _, err := prg.Eval(vars); err != nil || out.Value() != true {
			b.Fatal(out, err)
		}
	}
	reportRate(b, 1)
}

func jsonMap(b *testing.B, e *linkd.Event) map[string]any {
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		b.Fatal(err)
	}
	return m
}
