package tlog

import (
	"strings"
	"testing"
)

// TestKeysUseCurve25519Voi checks that NewVerifier gives every Ed25519 key
// an expanded verifier and NewSigner a curve25519-voi signer, including
// keys whose base64 holds a '+' (about half).
func TestKeysUseCurve25519Voi(t *testing.T) {
	plus := 0
	for range 64 {
		skey, vkey, err := GenerateKey("example.com/log")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(vkey, "+") > 2 {
			plus++
		}
		v, err := NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.(noteVerifier); !ok {
			t.Fatalf("NewVerifier(%q) is a %T, not an expanded key", vkey, v)
		}
		s, err := NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(noteSigner); !ok {
			t.Fatalf("NewSigner(the private key of %q) is a %T, not curve25519-voi's", vkey, s)
		}
	}
	if plus == 0 {
		t.Fatal("no key of 64 had a '+' in its base64")
	}
}
