package link

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func sampleFrame() []byte {
	var w frameWriter
	w.begin("ocean-carrier", 41, []byte("linkd.dev/log/ocean-carrier\n42\nAAAA\n\n— sig\n"), "00-trace")
	w.leaf(tlog.Hash{7})
	w.event(bytes.Repeat([]byte{9}, linkd.SaltSize), []byte("canonical event bytes"))
	return append([]byte(nil), w.finish()...)
}

func TestFrameRoundTrip(t *testing.T) {
	f, err := DecodeFrame(bytes.NewReader(sampleFrame()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != "ocean-carrier" || f.From != 41 || f.Trace != "00-trace" || len(f.Entries) != 2 {
		t.Fatalf("decoded %+v", f)
	}
	if f.Entries[0].Leaf != (tlog.Hash{7}) || f.Entries[0].Canon != nil {
		t.Fatalf("leaf entry %+v", f.Entries[0])
	}
	if string(f.Entries[1].Canon) != "canonical event bytes" || f.Entries[1].Salt[0] != 9 {
		t.Fatalf("payload entry %+v", f.Entries[1])
	}
}

func TestFrameDecoderRefusesBadInput(t *testing.T) {
	good := sampleFrame()
	cases := map[string][]byte{
		"empty":          nil,
		"wrong magic":    append([]byte("XXXX"), good[4:]...),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"unknown tag":    bytes.Replace(good, []byte{tagLeaf, 7}, []byte{0x05, 7}, 1),
		"huge count":     append([]byte("LKF1\x00\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, b := range cases {
		if _, err := DecodeFrame(bytes.NewReader(b)); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: err = %v, want a malformed-frame error", name, err)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(sampleFrame())
	f.Add([]byte("LKF1"))
	f.Add(append([]byte("LKF1\x01a\x00\x00\x00\x01\x01"), make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		var w frameWriter
		w.begin(fr.Origin, fr.From, fr.Note, fr.Trace)
		for _, e := range fr.Entries {
			if e.Canon == nil {
				w.leaf(e.Leaf)
			} else {
				w.event(e.Salt, e.Canon)
			}
		}
		again, err := DecodeFrame(bytes.NewReader(w.finish()))
		if err != nil || again.Origin != fr.Origin || len(again.Entries) != len(fr.Entries) {
			t.Fatalf("re-encoded frame does not decode the same: %v", err)
		}
	})
}

// TestReadBodyTakesAnyChunkingAndBoundsTheSize: a body read a byte at a time
// is the frame sent; one over MaxFrameBytes is refused as too large, as is a
// small body that decompresses past it.
func TestReadBodyTakesAnyChunkingAndBoundsTheSize(t *testing.T) {
	frame := sampleFrame()
	for _, enc := range []string{"", "zstd"} {
		body := frame
		if enc == "zstd" {
			body = compressFrame(nil, frame)
		}
		got, release, err := readBody(iotest.OneByteReader(bytes.NewReader(body)), enc)
		if err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		if !bytes.Equal(got, frame) {
			t.Errorf("%q: read %d bytes that differ from the %d sent", enc, len(got), len(frame))
		}
		release()
	}
	huge := io.LimitReader(zeros{}, MaxFrameBytes+1)
	if _, _, err := readBody(huge, ""); linkd.ErrorCode(err) != linkd.ETooLarge {
		t.Errorf("a body over the limit: %v, want too large", err)
	}
	bomb := compressFrame(nil, make([]byte, MaxFrameBytes+1))
	if _, _, err := readBody(bytes.NewReader(bomb), "zstd"); err == nil || len(bomb) > MaxFrameBytes {
		t.Errorf("%d compressed bytes that expand past the limit were taken (%v)", len(bomb), err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
