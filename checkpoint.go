package linkd

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Checkpoint is a log's size and root hash: the body of a C2SP tlog-checkpoint
// signed note.
type Checkpoint struct {
	Origin     string   // the log's name, LogOrigin(party)
	Size       int64    // number of leaves
	Hash       [32]byte // RFC 6962 root hash
	Extensions []string // optional extra lines, kept verbatim
}

// MaxCheckpointBytes bounds a checkpoint body and its signed note.
const MaxCheckpointBytes = 16 << 10

// Body returns the checkpoint's note text: origin, size, base64 root, and any
// extension lines, each ending in a newline.
func (c Checkpoint) Body() string {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// ErrBadCheckpoint is wrapped by ParseCheckpoint's errors.
var ErrBadCheckpoint = errors.New("malformed checkpoint")

// ParseCheckpoint parses a checkpoint body (the text of a signed note).
func ParseCheckpoint(text string) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
	}
	if len(text) > MaxCheckpointBytes {
		return bad("over %d bytes", MaxCheckpointBytes)
	}
	if !strings.HasSuffix(text, "\n") {
		return bad("does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return bad("want origin, size and root hash lines, got %d lines", len(lines))
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" {
		return bad("empty origin line")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return bad("size line %q is not a non-negative decimal number", clip(lines[1]))
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	// The decoder skips \r and ignores padding bits; demand the one
	// encoding Body writes, so a parsed checkpoint is the text it came from.
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return bad("root hash line is not the base64 of 32 bytes")
	}
	copy(c.Hash[:], root)
	for _, e := range lines[3:] {
		if e == "" {
			return bad("empty extension line")
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// ProofBundle is everything needed to check offline that a party recorded an
// event: the event and its salt, its index, an inclusion proof, and a signed
// checkpoint. `linkd verify` reads it; nodes serve it.
type ProofBundle struct {
	Format         string   `json:"format"`         // BundleFormat
	Checkpoint     string   `json:"checkpoint"`     // the signed note, C2SP tlog-checkpoint
	Event          Event    `json:"event"`          // as recorded, origin and hlc included
	Salt           []byte   `json:"salt"`           // base64
	LogIndex       int64    `json:"logIndex"`       // the event's leaf index
	InclusionProof [][]byte `json:"inclusionProof"` // base64 hashes, RFC 6962 audit path
}

// BundleFormat names the ProofBundle format version.
const BundleFormat = "linkd-proof-bundle/v1"
