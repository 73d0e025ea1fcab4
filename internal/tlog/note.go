package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
)

// Signer signs checkpoints (an Ed25519 note signer).
type Signer = note.Signer

// Verifier verifies checkpoint signatures.
type Verifier = note.Verifier

// GenerateKey makes an Ed25519 log key named origin. skey is the private key
// in signed-note form ("PRIVATE+KEY+origin+hash+…"), vkey the public one
// ("origin+hash+…") that partners and `linkd verify` use.
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generate log key: %w", err)
	}
	// x/mod does not check the name; a key it cannot parse back is useless.
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", "", fmt.Errorf("generate log key: %q cannot name a signed-note key (it must be non-empty, without spaces or '+'): %w", origin, err)
	}
	return skey, vkey, nil
}

// NewSigner parses a private key made by GenerateKey. Its name and key hash
// are x/mod's; it signs with curve25519-voi (see noteSigner).
func NewSigner(skey string) (Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("parse log signing key: %w", err)
	}
	return fastNoteSigner(s, skey), nil
}

// NewVerifier parses a public key made by GenerateKey.
func NewVerifier(vkey string) (Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, &VerifyError{Kind: ErrBadKey, Detail: fmt.Sprintf("the public key is not a signed-note verifier key (name+hash+base64): %v", err)}
	}
	return expandNoteVerifier(v, vkey), nil
}

// SignCheckpoint returns the checkpoint as a signed note.
func SignCheckpoint(cp linkd.Checkpoint, s Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: cp.Body()}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// Kinds of verification failure. A *VerifyError matches one with errors.Is.
var (
	ErrBadKey       = errors.New("bad public key")
	ErrMalformed    = errors.New("malformed input")
	ErrSignature    = errors.New("signature does not verify")
	ErrWrongLog     = errors.New("checkpoint is for another log")
	ErrNotIncluded  = errors.New("not included")
	ErrInconsistent = errors.New("inconsistent")
)

// VerifyError says why verification failed: a kind to branch on and a
// sentence for a person.
type VerifyError struct {
	Kind   error
	Detail string
}

func (e *VerifyError) Error() string        { return e.Detail }
func (e *VerifyError) Is(target error) bool { return target == e.Kind }

// OpenCheckpoint verifies a signed checkpoint note with v and parses it. The
// checkpoint's origin must be the key's name, as C2SP tlog-checkpoint asks.
func OpenCheckpoint(msg []byte, v Verifier) (linkd.Checkpoint, error) {
	if len(msg) > linkd.MaxCheckpointBytes {
		return linkd.Checkpoint{}, &VerifyError{ErrMalformed, fmt.Sprintf("the checkpoint is over %d bytes", linkd.MaxCheckpointBytes)}
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			names := ""
			for i, s := range unverified.Note.UnverifiedSigs {
				if i > 0 {
					names += ", "
				}
				names += fmt.Sprintf("%s (key hash %08x)", s.Name, s.Hash)
			}
			return linkd.Checkpoint{}, &VerifyError{ErrSignature, fmt.Sprintf("the checkpoint carries no signature by key %s (%08x); it is signed by: %s", v.Name(), v.KeyHash(), names)}
		case errors.As(err, &invalid):
			return linkd.Checkpoint{}, &VerifyError{ErrSignature, fmt.Sprintf("the checkpoint's signature by %s is invalid: its text or signature was altered", v.Name())}
		case err.Error() == "malformed note":
			return linkd.Checkpoint{}, &VerifyError{ErrMalformed, "the checkpoint is not a signed note (text, a blank line, then signature lines)"}
		}
		return linkd.Checkpoint{}, &VerifyError{ErrSignature, fmt.Sprintf("the checkpoint does not verify: %v", err)}
	}
	cp, err := linkd.ParseCheckpoint(n.Text)
	if err != nil {
		return linkd.Checkpoint{}, &VerifyError{ErrMalformed, err.Error()}
	}
	if cp.Origin != v.Name() {
		return linkd.Checkpoint{}, &VerifyError{ErrWrongLog, fmt.Sprintf("the checkpoint is for log %q but the key is for %q", cp.Origin, v.Name())}
	}
	return cp, nil
}

// VerifyInclusion checks that leaf is leaf number index of the tree with the
// given size and root.
func VerifyInclusion(leaf Hash, index, size int64, proof []Hash, root Hash) error {
	if index < 0 || index >= size {
		return &VerifyError{ErrNotIncluded, fmt.Sprintf("index %d is outside the checkpointed tree of size %d", index, size)}
	}
	if want := proofLen(index, size); len(proof) != want {
		return &VerifyError{ErrMalformed, fmt.Sprintf("the inclusion proof has %d hashes; index %d in a tree of size %d needs %d", len(proof), index, size, want)}
	}
	if err := CheckRecord(proof, size, root, index, leaf); err != nil {
		return &VerifyError{ErrNotIncluded, fmt.Sprintf("leaf %s does not lead to root %s at index %d of size %d", leaf, root, index, size)}
	}
	return nil
}

// VerifyConsistency checks that the tree (oldSize, oldRoot) is a prefix of
// (size, root).
func VerifyConsistency(oldSize int64, oldRoot Hash, size int64, root Hash, proof []Hash) error {
	switch {
	case oldSize < 0 || oldSize > size:
		return &VerifyError{ErrInconsistent, fmt.Sprintf("size %d cannot precede size %d", oldSize, size)}
	case oldSize == size:
		if oldRoot != root {
			return &VerifyError{ErrInconsistent, fmt.Sprintf("two different roots for size %d: %s and %s", size, oldRoot, root)}
		}
		if len(proof) != 0 {
			return &VerifyError{ErrMalformed, "a consistency proof between equal sizes has no hashes"}
		}
		return nil
	case oldSize == 0:
		if len(proof) != 0 {
			return &VerifyError{ErrMalformed, "a consistency proof from the empty tree has no hashes"}
		}
		return nil
	}
	if err := CheckTree(proof, size, root, oldSize, oldRoot); err != nil {
		return &VerifyError{ErrInconsistent, fmt.Sprintf("the tree of size %d (root %s) is not a prefix of size %d (root %s)", oldSize, oldRoot, size, root)}
	}
	return nil
}

// PublicKey returns the verifier key that matches a private key made by
// GenerateKey.
func PublicKey(skey string) (string, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>
	const prefix = "PRIVATE+KEY+"
	if !strings.HasPrefix(skey, prefix) {
		return "", fmt.Errorf("parse log signing key: not a signed-note private key")
	}
	parts := strings.SplitN(skey[len(prefix):], "+", 3)
	if len(parts) != 3 {
		return "", fmt.Errorf("parse log signing key: want name+hash+key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", fmt.Errorf("parse log signing key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[0], pub)
	if err != nil {
		return "", fmt.Errorf("derive log public key: %w", err)
	}
	return vkey, nil
}
