package link

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/linkd-dev/linkd"
)

// Frames travel zstd-compressed (Content-Encoding: zstd): events of one
// lane repeat their locations, codes and vessels, so a frame shrinks to a
// fraction of its payload bytes. The receiver decompresses into at most
// MaxFrameBytes, so a small body cannot expand into a large one.
var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxFrameBytes), zstd.WithDecoderMaxWindow(MaxFrameBytes), zstd.WithDecoderConcurrency(0))
)

func compressFrame(dst, frame []byte) []byte { return zenc.EncodeAll(frame, dst[:0]) }

// frameCache keeps the newest frame a sender compressed, for the senders
// that follow with the same bytes: peers that keep up, and may hold the same
// payloads, are sent identical frames of each commit, which need compressing
// only once.
type frameCache struct {
	mu  sync.Mutex
	raw []byte // guarded by mu
	z   []byte // raw compressed; guarded by mu, and never modified once set
}

func (c *frameCache) forget() {
	c.mu.Lock()
	c.raw, c.z = nil, nil
	c.mu.Unlock()
}

// compress returns frame compressed. The result is shared: never modify it.
// Senders woken by the same commit come here together; the first
// compresses while the others wait for its result, which takes less than
// compressing again.
func (c *frameCache) compress(frame []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(c.raw, frame) {
		c.raw, c.z = append(c.raw[:0], frame...), compressFrame(nil, frame)
	}
	return c.z
}

// frameBufs holds the buffers of frames being received, so that a frame
// costs the receiver no allocation for its bytes: as they came, and
// decompressed. Buffers grown past maxPooledFrame (a peer catching up) are
// left to the garbage collector.
var frameBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledFrame = 1 << 20

func putFrameBuf(b *[]byte) {
	if cap(*b) <= maxPooledFrame {
		*b = (*b)[:0]
		frameBufs.Put(b)
	}
}

// readBody returns the frame bytes of a request body, decompressing it if
// its encoding says so. The bytes are valid until release is called.
func readBody(r io.Reader, encoding string) (frame []byte, release func(), err error) {
	raw := frameBufs.Get().(*[]byte)
	*raw, err = linkd.ReadAtMost(*raw, r, MaxFrameBytes+1)
	if err != nil {
		putFrameBuf(raw)
		return nil, nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	if len(*raw) > MaxFrameBytes {
		putFrameBuf(raw)
		return nil, nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
	}
	switch encoding {
	case "":
		return *raw, func() { putFrameBuf(raw) }, nil
	case "zstd":
		out := frameBufs.Get().(*[]byte)
		*out, err = zdec.DecodeAll(*raw, (*out)[:0])
		putFrameBuf(raw)
		if err != nil {
			putFrameBuf(out)
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrFrame, err)
		}
		if len(*out) > MaxFrameBytes {
			putFrameBuf(out)
			return nil, nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
		}
		return *out, func() { putFrameBuf(out) }, nil
	}
	putFrameBuf(raw)
	return nil, nil, fmt.Errorf("%w: unknown Content-Encoding %q", ErrFrame, encoding)
}
