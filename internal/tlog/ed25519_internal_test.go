package tlog

import (
	"strings"
	"testing"
)

// TestNewVerifierExpands checks that NewVerifier gives every Ed25519 key an
// expanded verifier, including keys whose base64 holds a '+' (about half).
func TestNewVerifierExpands(t *testing.T) {
	plus := 0
	for range 64 {
		_, vkey, err := GenerateKey("example.com/log")
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
	}
	if plus == 0 {
		t.Fatal("no key of 64 had a '+' in its base64")
	}
}

// TestNewSignerIsFast checks that NewSigner signs with curve25519-voi under
// every Ed25519 key, including keys whose base64 holds a '+'.
func TestNewSignerIsFast(t *testing.T) {
	plus := 0
	for range 64 {
		skey, _, err := GenerateKey("example.com/log")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(skey, "+") > 4 {
			plus++
		}
		s, err := NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(noteSigner); !ok {
			t.Fatalf("NewSigner(a key) is a %T, not curve25519-voi's", s)
		}
	}
	if plus == 0 {
		t.Fatal("no key of 64 had a '+' in its base64")
	}
}
