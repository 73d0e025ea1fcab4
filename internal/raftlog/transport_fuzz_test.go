package raftlog

import (
	"bytes"
	"testing"
)

// The handshake is read from any peer that completed mutual TLS; its reader
// must never panic, and what it accepts writes back the same.
func FuzzReadHello(f *testing.F) {
	var b bytes.Buffer
	writeHello(&b, hello{proto: protoRaft, cluster: "c0ffee", member: "m1", advertise: "10.0.0.1:7444"})
	f.Add(b.Bytes())
	f.Add([]byte("LKDR\x01C\x00\x00\x00"))
	f.Add([]byte("LKDR\x02R"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := readHello(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := writeHello(&out, h); err != nil {
			t.Fatalf("an accepted handshake does not write back: %v", err)
		}
		again, err := readHello(&out)
		if err != nil || again != h {
			t.Fatalf("handshake %+v reads back as %+v (%v)", h, again, err)
		}
	})
}

// Member RPC frames likewise.
func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	writeFrame(&b, opPropose, []byte{1, 'A', 0})
	f.Add(b.Bytes())
	f.Add([]byte{opStatus, 0, 0, 0, 0})
	f.Add([]byte{opAdmin, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		kind, payload, err := readFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(payload) > maxRPCPayload {
			t.Fatalf("accepted a payload of %d bytes", len(payload))
		}
		var out bytes.Buffer
		writeFrame(&out, kind, payload)
		if !bytes.Equal(out.Bytes(), in[:5+len(payload)]) {
			t.Fatal("a frame does not write back to its bytes")
		}
	})
}
