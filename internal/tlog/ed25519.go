package tlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/mod/sumdb/note"
)

// Ed25519Key is an Ed25519 public key expanded once for the many signatures
// it checks: a peer verifies every checkpoint of each partner's log, and an
// origin every cosignature its witnesses send. Verify accepts exactly what
// crypto/ed25519.Verify accepts (curve25519-voi's standard-library preset,
// checked against it by TestEd25519AgreesWithStdlib and FuzzEd25519Agrees)
// in about half the time, since the key's point is decoded and its
// multiples tabulated once rather than on every call.
type Ed25519Key struct {
	x *voi.ExpandedPublicKey // nil when pub is no point: nothing verifies
}

// stdlibRules are crypto/ed25519's verification rules: cofactorless, S
// below the group order, A as the standard library decodes it.
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// NewEd25519Key expands pub, which must be ed25519.PublicKeySize bytes. A key
// of the right size that is not a point on the curve makes a key under which
// no signature verifies, as with crypto/ed25519.
func NewEd25519Key(pub ed25519.PublicKey) (*Ed25519Key, bool) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, false
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return &Ed25519Key{}, true
	}
	return &Ed25519Key{x: x}, true
}

// Verify reports whether sig is k's signature of msg.
func (k *Ed25519Key) Verify(msg, sig []byte) bool {
	if k == nil || k.x == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyExpandedWithOptions(k.x, msg, sig, stdlibRules)
}

// noteVerifier is x/mod's Ed25519 note verifier with its Verify done by an
// expanded key; its name and key hash are x/mod's.
type noteVerifier struct {
	note.Verifier
	key *Ed25519Key
}

func (v noteVerifier) Verify(msg, sig []byte) bool { return v.key.Verify(msg, sig) }

// expandNoteVerifier returns v with an expanded key, or v itself if vkey's
// key material is not the 33 bytes of an Ed25519 note key (which
// note.NewVerifier, having accepted vkey, has already ruled out).
func expandNoteVerifier(v note.Verifier, vkey string) note.Verifier {
	// name+hash+base64: the name and hash hold no '+'; base64 may.
	_, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return v
	}
	key, ok := NewEd25519Key(raw[1:])
	if !ok {
		return v
	}
	return noteVerifier{Verifier: v, key: key}
}

// noteSigner is x/mod's Ed25519 note signer with its Sign done by
// curve25519-voi, whose fixed-base scalar multiplication (constant time, as
// a secret scalar needs) takes less than half of crypto/ed25519's time. A
// log signs a checkpoint for every group it commits, on the path every
// append waits on. Ed25519 signatures are deterministic (RFC 8032): both
// give the same bytes for the same key and message, which
// TestSignerMatchesStdlib checks.
type noteSigner struct {
	note.Signer
	key voi.PrivateKey
}

func (s noteSigner) Sign(msg []byte) ([]byte, error) { return voi.Sign(s.key, msg), nil }

// fastNoteSigner returns s signing with curve25519-voi, or s itself if
// skey's key material is not the 33 bytes of an Ed25519 note key (which
// note.NewSigner, having accepted skey, has already ruled out).
func fastNoteSigner(s note.Signer, skey string) note.Signer {
	// PRIVATE+KEY+name+hash+base64: the name and hash hold no '+'; base64 may.
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return s
	}
	_, rest, _ = strings.Cut(rest, "+")
	_, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return s
	}
	return noteSigner{Signer: s, key: voi.NewKeyFromSeed(raw[1:])}
}

// algEd25519 is the signed-note algorithm byte of Ed25519 keys.
const algEd25519 = 1
