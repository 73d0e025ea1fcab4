package tlog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/linkd-dev/linkd"
)

// CheckRecord checks an RFC 6962 inclusion proof (x/mod's checker).
func CheckRecord(p []Hash, size int64, root Hash, index int64, leaf Hash) error {
	return tlog.CheckRecord(tlog.RecordProof(p), size, root, index, leaf)
}

// CheckTree checks an RFC 6962 consistency proof (x/mod's checker).
func CheckTree(p []Hash, size int64, root Hash, old int64, oldRoot Hash) error {
	return tlog.CheckTree(tlog.TreeProof(p), size, root, old, oldRoot)
}

// Verified is what a successful bundle verification establishes.
type Verified struct {
	Party      string
	EventID    string
	LogIndex   int64
	Checkpoint linkd.Checkpoint
	LeafHash   Hash
}

// VerifyBundle checks, offline, that the party holding the log key vkey
// recorded the bundle's event: the checkpoint is signed by that key, the
// event and salt hash to a leaf, and the proof leads from that leaf at the
// bundle's index to the checkpoint's root. The error says which step failed.
func VerifyBundle(b *linkd.ProofBundle, vkey string) (Verified, error) {
	if b.Format != linkd.BundleFormat {
		return Verified{}, &VerifyError{ErrMalformed, fmt.Sprintf("format %q is not %s", b.Format, linkd.BundleFormat)}
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return Verified{}, err
	}
	cp, err := OpenCheckpoint([]byte(b.Checkpoint), v)
	if err != nil {
		return Verified{}, err
	}
	if b.Event.Origin == "" {
		return Verified{}, &VerifyError{ErrMalformed, "the event names no origin party"}
	}
	if want := linkd.LogOrigin(b.Event.Origin); cp.Origin != want {
		return Verified{}, &VerifyError{ErrWrongLog, fmt.Sprintf("the event was recorded by %s, whose log is %q, but the checkpoint is for %q", b.Event.Origin, want, cp.Origin)}
	}
	if len(b.Salt) != linkd.SaltSize {
		return Verified{}, &VerifyError{ErrMalformed, fmt.Sprintf("the salt has %d bytes, want %d", len(b.Salt), linkd.SaltSize)}
	}
	proof := make([]Hash, len(b.InclusionProof))
	for i, h := range b.InclusionProof {
		if len(h) != len(Hash{}) {
			return Verified{}, &VerifyError{ErrMalformed, fmt.Sprintf("inclusion proof hash %d has %d bytes, want 32", i, len(h))}
		}
		copy(proof[i][:], h)
	}
	commit := linkd.Commitment(linkd.AppendCanonical(nil, &b.Event), b.Salt)
	leaf := Hash(linkd.LeafHash(commit))
	if err := VerifyInclusion(leaf, b.LogIndex, cp.Size, proof, cp.Hash); err != nil {
		if ve, ok := err.(*VerifyError); ok && ve.Kind == ErrNotIncluded && 0 <= b.LogIndex && b.LogIndex < cp.Size {
			ve.Detail = fmt.Sprintf("the event and salt hash to leaf %s, which the proof does not lead to the checkpoint's root at index %d of size %d: "+
				"the event or its salt differs from what %s recorded, or the proof belongs to another event", leaf, b.LogIndex, cp.Size, b.Event.Origin)
		}
		return Verified{}, err
	}
	return Verified{Party: b.Event.Origin, EventID: b.Event.EventID, LogIndex: b.LogIndex, Checkpoint: cp, LeafHash: leaf}, nil
}
