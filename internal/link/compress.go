package link

import (
	"fmt"
	"io"

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

// readBody returns the frame bytes of a request body, decompressing it if
// its encoding says so.
func readBody(r io.Reader, encoding string) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxFrameBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	if len(raw) > MaxFrameBytes {
		return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
	}
	switch encoding {
	case "":
		return raw, nil
	case "zstd":
		out, err := zdec.DecodeAll(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrFrame, err)
		}
		if len(out) > MaxFrameBytes {
			return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown Content-Encoding %q", ErrFrame, encoding)
}
