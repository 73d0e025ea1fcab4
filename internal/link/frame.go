package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// A frame carries a run of one log's entries from its origin to a peer, with
// the origin's signed checkpoint at the run's end. The entries are a batch
// proof: appended to the tree the peer has verified so far, they must give
// the checkpoint's root, which proves the new checkpoint consistent with the
// old and every payload in it included, with no proof hashes on the wire.
//
// Binary layout (integers are unsigned varints):
//
//	magic "LKF1"
//	origin   len, bytes     party id of the log
//	from     n              index of the first entry
//	note     len, bytes     signed checkpoint of size from+count
//	trace    len, bytes     W3C traceparents of traced appends among the entries, comma-separated; may be empty
//	count    n
//	count entries, each:
//	  0x00 leaf(32)                       commitment only
//	  0x01 salt(32) len canonical event   payload
const frameMagic = "LKF1"

// Limits on what a frame decoder accepts.
const (
	MaxFrameBytes   = 32 << 20
	MaxFrameEntries = 100_000
	maxNoteBytes    = 8 << 10
	maxTraceBytes   = 1024
	// MaxFrameTraces bounds the traces one frame carries on (55 bytes each).
	MaxFrameTraces = 16
)

const (
	tagLeaf    = 0x00
	tagPayload = 0x01
)

// Frame is one decoded frame.
type Frame struct {
	Origin  string
	From    int64
	Note    []byte
	Trace   string
	Entries []partylog.RemoteEntry
}

// ErrFrame is the kind of every frame decoding error.
var ErrFrame = errors.New("malformed frame")

// frameWriter encodes a frame into a buffer, entry by entry.
type frameWriter struct {
	buf     []byte
	countAt int // where the entry count's placeholder starts
	count   int
	payload int // bytes of canonical events written
}

// begin starts a frame. The count is patched in by finish.
func (w *frameWriter) begin(origin string, from int64, note []byte, trace string) {
	w.buf = append(w.buf[:0], frameMagic...)
	w.buf = appendBytes(w.buf, []byte(origin))
	w.buf = binary.AppendUvarint(w.buf, uint64(from))
	w.buf = appendBytes(w.buf, note)
	w.buf = appendBytes(w.buf, []byte(trace))
	w.countAt = len(w.buf)
	w.buf = append(w.buf, make([]byte, binary.MaxVarintLen32)...)
	w.count, w.payload = 0, 0
}

func (w *frameWriter) leaf(h tlog.Hash) {
	w.buf = append(append(w.buf, tagLeaf), h[:]...)
	w.count++
}

func (w *frameWriter) event(salt, canon []byte) {
	w.buf = append(append(w.buf, tagPayload), salt...)
	w.buf = appendBytes(w.buf, canon)
	w.count++
	w.payload += len(canon)
}

// finish patches the entry count in and returns the encoded frame. The
// count's slot is a fixed five-byte varint so nothing moves.
func (w *frameWriter) finish() []byte {
	putFixedUvarint(w.buf[w.countAt:w.countAt+binary.MaxVarintLen32], uint64(w.count))
	return w.buf
}

// putFixedUvarint writes v as a varint of exactly len(b) bytes, padding with
// continuation bytes; every varint reader decodes it as v.
func putFixedUvarint(b []byte, v uint64) {
	for i := range b {
		c := byte(v & 0x7f)
		v >>= 7
		if i < len(b)-1 {
			c |= 0x80
		}
		b[i] = c
	}
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// DecodeFrame reads one frame of at most MaxFrameBytes from r.
func DecodeFrame(r io.Reader) (*Frame, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFrameBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	if len(b) > MaxFrameBytes {
		return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
	}
	return parseFrame(b)
}

// parseFrame decodes the frame that is all of b. The note and the entries'
// salts and encodings are slices of b, not copies.
func parseFrame(b []byte) (*Frame, error) {
	d := &frameReader{b: b}
	f := d.frame()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) > 0 {
		return nil, fmt.Errorf("%w: bytes after the last entry", ErrFrame)
	}
	return f, nil
}

type frameReader struct {
	b   []byte // what is left to read
	err error
}

func (d *frameReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrFrame}, args...)...)
	}
}

func (d *frameReader) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail("%s: truncated", what)
		return 0
	case n < 0:
		d.fail("%s: varint overflows a 64-bit integer", what)
		return 0
	}
	d.b = d.b[n:]
	if v > max {
		d.fail("%s %d is over the limit of %d", what, v, max)
		return 0
	}
	return v
}

// take returns the next n bytes.
func (d *frameReader) take(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("%s: truncated", what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *frameReader) bytes(what string, max int) []byte {
	n := d.uvarint(what+" length", uint64(max))
	return d.take(what, int(n))
}

func (d *frameReader) frame() *Frame {
	if magic := d.take("magic", len(frameMagic)); d.err == nil && string(magic) != frameMagic {
		d.fail("not a linkd frame (magic %q)", magic)
	}
	f := &Frame{}
	f.Origin = string(d.bytes("origin", 63))
	f.From = int64(d.uvarint("from", 1<<62))
	f.Note = d.bytes("checkpoint", maxNoteBytes)
	f.Trace = string(d.bytes("trace", maxTraceBytes))
	n := d.uvarint("entry count", MaxFrameEntries)
	if d.err != nil {
		return nil
	}
	// Every entry takes at least 33 bytes: a count beyond what is left
	// does not size the entries.
	f.Entries = make([]partylog.RemoteEntry, 0, min(n, uint64(len(d.b)/33)))
	for i := uint64(0); i < n && d.err == nil; i++ {
		tag := d.take("entry tag", 1)
		var e partylog.RemoteEntry
		switch {
		case d.err != nil:
		case tag[0] == tagLeaf:
			copy(e.Leaf[:], d.take("leaf hash", len(e.Leaf)))
		case tag[0] == tagPayload:
			e.Salt = d.take("salt", linkd.SaltSize)
			e.Canon = d.bytes("event", linkd.MaxEventBytes)
		default:
			d.fail("entry %d: unknown tag %#x", i, tag[0])
		}
		f.Entries = append(f.Entries, e)
	}
	if d.err != nil {
		return nil
	}
	return f
}
