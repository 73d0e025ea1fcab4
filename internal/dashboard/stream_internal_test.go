package dashboard

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestSSEReader(t *testing.T) {
	in := ": comment\r\n\r\nid: 7\r\nevent: event\r\ndata: {\"a\":1}\r\n\r\n" +
		"data: line one\ndata:line two\n\n" +
		"id\nevent: node\n\n" + // no data: not a message
		"id: 9\ndata: x"
	r := newSSEReader(strings.NewReader(in))
	want := []sseMessage{
		{id: "7", hasID: true, event: "event", data: []string{`{"a":1}`}},
		{data: []string{"line one", "line two"}},
	}
	for i, w := range want {
		got, err := r.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("message %d = %+v, want %+v", i, got, w)
		}
	}
	// An unterminated message at the end of the stream is not dispatched.
	if m, err := r.next(); err != io.EOF {
		t.Errorf("after the last message: %+v, %v; want io.EOF", m, err)
	}
}

func TestSSEReaderRefusesHugeLines(t *testing.T) {
	r := newSSEReader(strings.NewReader("data: " + strings.Repeat("x", maxSSELine+1) + "\n\n"))
	if _, err := r.next(); err != errLongLine {
		t.Errorf("next = %v, want errLongLine", err)
	}
}

func TestNoStream(t *testing.T) {
	tests := []struct {
		statuses []int
		n        int
		want     int
		none     bool
	}{
		{[]int{200, 404}, 2, 0, false},
		{[]int{404, 404}, 2, 404, true},
		{[]int{404, 0}, 2, 404, true},
		{[]int{401, 401}, 2, 401, true},
		{[]int{0, 0}, 2, 502, true}, // every node down
		{[]int{401, 500}, 2, 502, true},
		{[]int{404}, 2, 0, false}, // one node has not answered yet
	}
	for _, tt := range tests {
		got, none := noStream(tt.statuses, tt.n)
		if none != tt.none || got != tt.want {
			t.Errorf("noStream(%v, %d) = %d, %v; want %d, %v", tt.statuses, tt.n, got, none, tt.want, tt.none)
		}
	}
}
