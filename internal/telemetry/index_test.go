package telemetry

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func sc(b byte, sampled bool) trace.SpanContext {
	cfg := trace.SpanContextConfig{TraceID: trace.TraceID{b}, SpanID: trace.SpanID{b}}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}

func TestIndexFindsTheAppendsOfAFrame(t *testing.T) {
	x := NewIndex(3)
	x.Add(0, 9, sc(1, true))
	x.Add(10, 10, sc(2, false)) // not sampled: not kept
	x.Add(11, 19, sc(3, true))
	x.Add(20, 29, sc(4, true))
	if got := x.Lookup(5, 12, 16); len(got) != 2 || got[0].TraceID()[0] != 1 || got[1].TraceID()[0] != 3 {
		t.Fatalf("Lookup(5, 12) = %v, want the traces of 0..9 and 11..19", got)
	}
	if got := x.Lookup(10, 11, 16); len(got) != 0 {
		t.Errorf("Lookup(10, 11) = %v, want none (the append of 10 was not sampled)", got)
	}
	if got := x.Lookup(0, 30, 1); len(got) != 1 {
		t.Errorf("Lookup with max 1 = %d traces", len(got))
	}
	// A fourth range pushes out the oldest.
	x.Add(30, 39, sc(5, true))
	if got := x.Lookup(0, 10, 16); len(got) != 0 {
		t.Errorf("Lookup(0, 10) after the ring wrapped = %v, want none", got)
	}
	if got := x.Lookup(0, 40, 16); len(got) != 3 || got[0].TraceID()[0] != 3 || got[2].TraceID()[0] != 5 {
		t.Errorf("Lookup(0, 40) = %v, want the three newest, oldest first", got)
	}
	var nilIndex *Index
	nilIndex.Add(0, 1, sc(1, true))
	if got := nilIndex.Lookup(0, 2, 16); got != nil {
		t.Errorf("a nil index found %v", got)
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	got, ok := ParseTraceparent(tp)
	if !ok || Traceparent(got) != tp {
		t.Fatalf("ParseTraceparent(%q) = %v, %v; back to %q", tp, got, ok, Traceparent(got))
	}
	for _, bad := range []string{"", "00-xyz", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if _, ok := ParseTraceparent(bad); ok {
			t.Errorf("ParseTraceparent(%q) accepted it", bad)
		}
	}
}
