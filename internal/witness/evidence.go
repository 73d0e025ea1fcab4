package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Kinds of evidence that proves nothing, besides tlog's ErrBadKey,
// ErrMalformed, ErrSignature and ErrWrongLog. A *tlog.VerifyError matches its
// kind with errors.Is.
var (
	// ErrConsistent: both checkpoints can be true; there is no contradiction.
	ErrConsistent = errors.New("no contradiction")
	// ErrBadProof: the consistency proof does not lead from the claimed
	// smaller root to the larger checkpoint, so it shows nothing about it.
	ErrBadProof = errors.New("proof does not verify")
)

// maxProofHashes bounds a consistency proof: one between trees of at most
// 2^63 leaves has fewer than 2×63 hashes.
const maxProofHashes = 128

// Check compares two signed checkpoints of the log of logVerifier and returns
// the evidence when they cannot both be true, or nil when they are
// consistent. Either may be the larger.
//
// For different sizes m < n, proofFromLarger must return the root at size m
// of the tree of the larger checkpoint and the consistency proof from size m
// to size n (from the peer that sent it, or from the entries replicated so
// far). Check verifies that proof before trusting it: a proof that does not
// verify proves nothing, and Check returns a *tlog.VerifyError of kind
// tlog.ErrInconsistent, which deserves an alert of its own but is not
// evidence. A checkpoint of the empty tree contradicts no larger one.
//
// The evidence's A is the smaller checkpoint. The caller fills Observed,
// ObservedBy and From.
func Check(logVerifier note.Verifier, a, b []byte, proofFromLarger func(m, n int64) (impliedRoot tlog.Hash, proof []tlog.Hash, err error)) (*linkd.Evidence, error) {
	ca, err := tlog.OpenCheckpoint(a, logVerifier)
	if err != nil {
		return nil, fmt.Errorf("check checkpoints: %w", err)
	}
	cb, err := tlog.OpenCheckpoint(b, logVerifier)
	if err != nil {
		return nil, fmt.Errorf("check checkpoints: %w", err)
	}
	if ca.Size > cb.Size {
		a, b, ca, cb = b, a, cb, ca
	}
	ev := &linkd.Evidence{Origin: ca.Origin, A: bytes.Clone(a), B: bytes.Clone(b)}
	switch {
	case ca.Size == cb.Size:
		if ca.Hash == cb.Hash {
			return nil, nil
		}
		return ev, nil
	case ca.Size == 0:
		return nil, nil
	case proofFromLarger == nil:
		return nil, fmt.Errorf("check checkpoints of %s: sizes %d and %d differ and no consistency proof can be had", ca.Origin, ca.Size, cb.Size)
	}
	implied, proof, err := proofFromLarger(ca.Size, cb.Size)
	if err != nil {
		return nil, fmt.Errorf("check checkpoints of %s: prove size %d in size %d: %w", ca.Origin, ca.Size, cb.Size, err)
	}
	if err := tlog.VerifyConsistency(ca.Size, implied, cb.Size, tlog.Hash(cb.Hash), proof); err != nil {
		return nil, fmt.Errorf("check checkpoints of %s: the proof from size %d to %d: %w", ca.Origin, ca.Size, cb.Size, err)
	}
	if implied == tlog.Hash(ca.Hash) {
		return nil, nil
	}
	ev.SmallerRoot = implied.String()
	ev.Proof = make([]string, len(proof))
	for i, h := range proof {
		ev.Proof[i] = h.String()
	}
	return ev, nil
}

// VerifyEvidence checks, offline, that ev proves that the log whose public
// key is logVKey signed two checkpoints that cannot both be true: both are
// signed by that key, both are of its log (the one ev.Origin names), and
// either they give one size two roots, or the consistency proof shows that
// the larger one's log had, at the smaller one's size, a root other than the
// smaller one's. It returns nil only then; otherwise a *tlog.VerifyError
// whose kind says why: tlog.ErrBadKey, tlog.ErrMalformed, tlog.ErrSignature,
// tlog.ErrWrongLog, ErrConsistent or ErrBadProof.
func VerifyEvidence(ev *linkd.Evidence, logVKey string) error {
	if ev == nil {
		return &tlog.VerifyError{Kind: tlog.ErrMalformed, Detail: "no evidence"}
	}
	v, err := tlog.NewVerifier(logVKey)
	if err != nil {
		return err
	}
	ca, err := tlog.OpenCheckpoint(ev.A, v)
	if err != nil {
		return prefixed(err, "checkpoint a: ")
	}
	cb, err := tlog.OpenCheckpoint(ev.B, v)
	if err != nil {
		return prefixed(err, "checkpoint b: ")
	}
	if ev.Origin != ca.Origin {
		return &tlog.VerifyError{Kind: tlog.ErrWrongLog, Detail: fmt.Sprintf("the evidence accuses log %q but its checkpoints are of %q", ev.Origin, ca.Origin)}
	}
	if ca.Size > cb.Size {
		ca, cb = cb, ca
	}
	if ca.Size == cb.Size {
		if ca.Hash == cb.Hash {
			return &tlog.VerifyError{Kind: ErrConsistent, Detail: fmt.Sprintf("both checkpoints give size %d the same root %s: they agree", ca.Size, tlog.Hash(ca.Hash))}
		}
		return nil
	}
	if ca.Size == 0 {
		return &tlog.VerifyError{Kind: ErrConsistent, Detail: "one checkpoint is of the empty tree, which every larger tree extends"}
	}
	if ev.SmallerRoot == "" {
		return &tlog.VerifyError{Kind: tlog.ErrMalformed, Detail: fmt.Sprintf("checkpoints of sizes %d and %d contradict each other only with the root the larger implies at size %d and a consistency proof; the evidence has none", ca.Size, cb.Size, ca.Size)}
	}
	implied, err := decodeHash(ev.SmallerRoot)
	if err != nil {
		return &tlog.VerifyError{Kind: tlog.ErrMalformed, Detail: "impliedRoot " + err.Error()}
	}
	if len(ev.Proof) > maxProofHashes {
		return &tlog.VerifyError{Kind: tlog.ErrMalformed, Detail: fmt.Sprintf("the proof has %d hashes; a consistency proof has fewer than %d", len(ev.Proof), maxProofHashes)}
	}
	proof := make([]tlog.Hash, len(ev.Proof))
	for i, s := range ev.Proof {
		if proof[i], err = decodeHash(s); err != nil {
			return &tlog.VerifyError{Kind: tlog.ErrMalformed, Detail: fmt.Sprintf("proof hash %d %v", i, err)}
		}
	}
	if implied == tlog.Hash(ca.Hash) {
		return &tlog.VerifyError{Kind: ErrConsistent, Detail: fmt.Sprintf("the size-%d checkpoint's root %s is the root that, by the evidence's own account, the size-%d checkpoint's log had at size %d: they agree", ca.Size, implied, cb.Size, ca.Size)}
	}
	if err := tlog.VerifyConsistency(ca.Size, implied, cb.Size, tlog.Hash(cb.Hash), proof); err != nil {
		return &tlog.VerifyError{Kind: ErrBadProof, Detail: fmt.Sprintf("the proof does not show that the size-%d checkpoint (root %s) extends a tree of size %d with root %s, so it shows no contradiction", cb.Size, tlog.Hash(cb.Hash), ca.Size, implied)}
	}
	return nil
}

// decodeHash decodes a hash in the one base64 form Hash.String writes.
func decodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != len(h) || base64.StdEncoding.EncodeToString(raw) != s {
		return h, errors.New("is not the base64 of 32 bytes")
	}
	copy(h[:], raw)
	return h, nil
}

// prefixed returns err with its detail prefixed, keeping its kind.
func prefixed(err error, prefix string) error {
	var ve *tlog.VerifyError
	if errors.As(err, &ve) {
		return &tlog.VerifyError{Kind: ve.Kind, Detail: prefix + ve.Detail}
	}
	return fmt.Errorf("%s%w", prefix, err)
}
