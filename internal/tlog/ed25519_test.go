package tlog_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"math/big"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd/internal/tlog"
)

// groupOrder is L, the order of Ed25519's prime-order subgroup.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// le32 is x as 32 little-endian bytes (x < 2^256).
func le32(x *big.Int) []byte {
	b := x.FillBytes(make([]byte, 32))
	slices.Reverse(b)
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edgePoints are encodings crypto/ed25519 treats specially or that sit at
// the edges of decoding: the identity, small-order points, non-canonical y
// (y ≥ p), a negative zero x, and y values that are on no point.
func edgePoints(t testing.TB) [][]byte {
	pts := [][]byte{
		mustHex(t, "0100000000000000000000000000000000000000000000000000000000000000"), // identity
		mustHex(t, "0100000000000000000000000000000000000000000000000000000000000080"), // identity, x sign bit set
		mustHex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // y = -1, order 2
		mustHex(t, "0000000000000000000000000000000000000000000000000000000000000000"), // y = 0, order 4
		mustHex(t, "0000000000000000000000000000000000000000000000000000000000000080"), // y = 0, other x
		mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // y = p ≡ 0, non-canonical
		mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // y = p+1 ≡ 1, non-canonical identity
		mustHex(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), // order 8
		mustHex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), // order 8
		mustHex(t, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), // y = 2^255-1, non-canonical
	}
	for y := int64(2); y < 12; y++ { // some of these are points, some not
		pts = append(pts, le32(big.NewInt(y)))
	}
	return pts
}

// edgeScalars are S values around what crypto/ed25519 accepts: zero, one,
// L-1, L and L+1 (non-canonical), and one with the top bits set.
func edgeScalars() [][]byte {
	l := groupOrder
	one := big.NewInt(1)
	top := new(big.Int).Lsh(one, 255)
	return [][]byte{
		le32(big.NewInt(0)), le32(one), le32(new(big.Int).Sub(l, one)),
		le32(l), le32(new(big.Int).Add(l, one)), le32(top.Sub(top, one)),
	}
}

// checkAgrees fails unless the expanded key decides (pub, msg, sig) as
// crypto/ed25519 does, and returns that decision.
func checkAgrees(t testing.TB, pub, msg, sig []byte) bool {
	t.Helper()
	key, ok := tlog.NewEd25519Key(pub)
	if ok != (len(pub) == ed25519.PublicKeySize) {
		t.Fatalf("NewEd25519Key(%d bytes) ok = %v", len(pub), ok)
	}
	if !ok {
		return false
	}
	want := ed25519.Verify(pub, msg, sig)
	if got := key.Verify(msg, sig); got != want {
		t.Fatalf("pub %x msg %q sig %x: expanded key says %v, crypto/ed25519 %v", pub, msg, sig, got, want)
	}
	return want
}

func TestEd25519AgreesWithStdlib(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("haiphong-terminal\n42\nroot\n")
	sig := ed25519.Sign(priv, msg)
	if !checkAgrees(t, pub, msg, sig) {
		t.Fatal("a valid signature does not verify")
	}
	// Every single-bit change of the signature, the message or the key.
	for i := range len(sig) * 8 {
		bad := slices.Clone(sig)
		bad[i/8] ^= 1 << (i % 8)
		if checkAgrees(t, pub, msg, bad) {
			t.Fatalf("signature with bit %d flipped verifies", i)
		}
	}
	for i := range len(msg) * 8 {
		bad := slices.Clone(msg)
		bad[i/8] ^= 1 << (i % 8)
		if checkAgrees(t, pub, bad, sig) {
			t.Fatalf("message with bit %d flipped verifies", i)
		}
	}
	for i := range len(pub) * 8 {
		bad := slices.Clone(pub)
		bad[i/8] ^= 1 << (i % 8)
		checkAgrees(t, bad, msg, sig)
	}
	// S + L: the same signature in a non-canonical form, which both refuse.
	be := slices.Clone(sig[32:])
	slices.Reverse(be)
	s := new(big.Int).SetBytes(be)
	malleable := append(slices.Clone(sig[:32]), le32(s.Add(s, groupOrder))...)
	if checkAgrees(t, pub, msg, malleable) {
		t.Fatal("the signature with S+L verifies")
	}
	// Small-order and non-canonical keys and R values with edge scalars:
	// crypto/ed25519 accepts some of these (an identity key and R with S = 0
	// verifies any message); what matters is that both decide alike.
	accepted := 0
	for _, a := range edgePoints(t) {
		for _, r := range edgePoints(t) {
			for _, sc := range edgeScalars() {
				for _, m := range [][]byte{nil, msg} {
					if checkAgrees(t, a, m, append(slices.Clone(r), sc...)) {
						accepted++
					}
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no edge case verifies; crypto/ed25519 accepts the identity key with R = identity and S = 0")
	}
	if _, ok := tlog.NewEd25519Key(pub[:31]); ok {
		t.Fatal("NewEd25519Key accepted a 31-byte key")
	}
}

func FuzzEd25519Agrees(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("cosignature/v1\ntime 1\nhaiphong-terminal\n1\nroot\n")
	f.Add([]byte(pub), msg, ed25519.Sign(priv, msg))
	pts, scs := edgePoints(f), edgeScalars()
	for i, a := range pts {
		f.Add(a, []byte(nil), append(slices.Clone(pts[(i+1)%len(pts)]), scs[i%len(scs)]...))
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		checkAgrees(t, pub, msg, sig)
	})
}

// BenchmarkVerifyCheckpoint measures a peer's check of a partner's signed
// checkpoint, through x/mod's note verifier and through NewVerifier's
// expanded key.
func BenchmarkVerifyCheckpoint(b *testing.B) {
	skey, vkey := fixedKey(b, haiphongLog, 1)
	msg := mustSign(b, testCheckpoint(haiphongLog, 1234567), mustSigner(b, skey))
	xmod, err := note.NewVerifier(vkey)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    tlog.Verifier
	}{{"x-mod", xmod}, {"expanded", mustVerifier(b, vkey)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tlog.OpenCheckpoint(msg, c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSignerMatchesStdlib checks that NewSigner's signatures are x/mod's
// (crypto/ed25519's) byte for byte, under keys whose base64 holds a '+' and
// keys whose does not, for messages of 0 to 300 bytes (past two SHA-512
// blocks) and a checkpoint, and that its name and key hash are x/mod's.
func TestSignerMatchesStdlib(t *testing.T) {
	msg := make([]byte, 300)
	for i := range msg {
		msg[i] = byte(i*7 + 3)
	}
	plus := 0
	for k := range 24 {
		skey, vkey, err := tlog.GenerateKey("example.com/log")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(keyPart(skey), "+") {
			plus++
		}
		want, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		got := mustSigner(t, skey)
		if got.Name() != want.Name() || got.KeyHash() != want.KeyHash() {
			t.Fatalf("key %d: name %q hash %08x, x/mod says %q %08x", k, got.Name(), got.KeyHash(), want.Name(), want.KeyHash())
		}
		for n := 0; n <= len(msg); n += 1 + n/16 {
			a, err := got.Sign(msg[:n])
			if err != nil {
				t.Fatal(err)
			}
			b, err := want.Sign(msg[:n])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("key %d, message of %d bytes: signature %x, crypto/ed25519 gives %x", k, n, a, b)
			}
		}
		signed := mustSign(t, testCheckpoint("example.com/log", int64(k+1)), got)
		if _, err := tlog.OpenCheckpoint(signed, mustVerifier(t, vkey)); err != nil {
			t.Fatalf("key %d: the checkpoint it signed does not verify: %v", k, err)
		}
	}
	if plus == 0 {
		t.Fatal("no key of 24 had a '+' in its base64")
	}
}

// BenchmarkSignCheckpoint measures the signature a log makes for every
// group it commits, through x/mod's note signer and through NewSigner's.
func BenchmarkSignCheckpoint(b *testing.B) {
	skey, _ := fixedKey(b, haiphongLog, 1)
	xmod, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	cp := testCheckpoint(haiphongLog, 1234567)
	for _, c := range []struct {
		name string
		s    tlog.Signer
	}{{"x-mod", xmod}, {"voi", mustSigner(b, skey)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tlog.SignCheckpoint(cp, c.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
