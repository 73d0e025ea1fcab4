package tlog_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// fixedKey returns a deterministic Ed25519 note key pair named name, encoded
// by x/mod rather than by the code under test, so fuzz seeds signed with it
// stay valid and PublicKey has an independent answer to match.
func fixedKey(t testing.TB, name string, seed byte) (skey, vkey string) {
	t.Helper()
	s := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	pub := ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatalf("NewEd25519VerifierKey(%q): %v", name, err)
	}
	hash, _, _ := strings.Cut(vkey[len(name)+1:], "+")
	skey = "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, s...))
	if _, err := note.NewSigner(skey); err != nil {
		t.Fatalf("x/mod rejects the fixed private key for %q: %v", name, err)
	}
	return skey, vkey
}

func mustSigner(t testing.TB, skey string) tlog.Signer {
	t.Helper()
	s, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustVerifier(t testing.TB, vkey string) tlog.Verifier {
	t.Helper()
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("NewVerifier(%q): %v", vkey, err)
	}
	return v
}

func mustSign(t testing.TB, cp linkd.Checkpoint, s tlog.Signer) []byte {
	t.Helper()
	msg, err := tlog.SignCheckpoint(cp, s)
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return msg
}

// signText signs arbitrary note text, for bodies SignCheckpoint would not make.
func signText(t testing.TB, text string, signers ...tlog.Signer) []byte {
	t.Helper()
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return msg
}

const (
	haiphong  = "haiphong-terminal"
	rotterdam = "rotterdam-carrier"
)

var (
	haiphongLog  = linkd.LogOrigin(haiphong)
	rotterdamLog = linkd.LogOrigin(rotterdam)
)

func testCheckpoint(origin string, size int64) linkd.Checkpoint {
	return linkd.Checkpoint{Origin: origin, Size: size, Hash: sha256.Sum256([]byte(fmt.Sprint(origin, size)))}
}

// keyPart is the base64 key material of a signed-note key: the field after
// name and hash (a name cannot hold '+', base64 can).
func keyPart(key string) string {
	f := strings.SplitN(strings.TrimPrefix(key, "PRIVATE+KEY+"), "+", 3)
	return f[len(f)-1]
}

func TestGenerateKey(t *testing.T) {
	for _, origin := range []string{haiphongLog, rotterdamLog, "example.com/a/b/c", "x", "linkd.dev/log/ünïcode"} {
		t.Run(origin, func(t *testing.T) {
			skey, vkey, err := tlog.GenerateKey(origin)
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			if !strings.HasPrefix(skey, "PRIVATE+KEY+"+origin+"+") {
				t.Errorf("private key %q does not start with PRIVATE+KEY+%s+", skey, origin)
			}
			got, err := tlog.PublicKey(skey)
			if err != nil {
				t.Fatalf("PublicKey: %v", err)
			}
			if got != vkey {
				t.Errorf("PublicKey(skey) = %q, want %q", got, vkey)
			}
			s := mustSigner(t, skey)
			v := mustVerifier(t, vkey)
			if s.Name() != origin || v.Name() != origin {
				t.Errorf("signer name %q, verifier name %q, want %q", s.Name(), v.Name(), origin)
			}
			// The keys work as a pair in x/mod's own note.Open.
			xv, err := note.NewVerifier(vkey)
			if err != nil {
				t.Fatalf("note.NewVerifier: %v", err)
			}
			msg := signText(t, "hello\n", s)
			if _, err := note.Open(msg, note.VerifierList(xv)); err != nil {
				t.Errorf("note.Open of a note signed with the generated key: %v", err)
			}
		})
	}
}

func TestGenerateKeyBadName(t *testing.T) {
	for _, origin := range []string{"", "a+b", "with space", "tab\there"} {
		if skey, _, err := tlog.GenerateKey(origin); err == nil {
			t.Errorf("GenerateKey(%q) = %q, want an error", origin, skey)
		}
	}
}

// TestPublicKeyPlus covers key material whose base64 holds '+', the
// character that also separates the fields of a signed-note key.
func TestPublicKeyPlus(t *testing.T) {
	var privPlus, pubPlus bool
	for i := 0; i < 1000 && !(privPlus && pubPlus); i++ {
		skey, vkey, err := tlog.GenerateKey(haiphongLog)
		if err != nil {
			t.Fatal(err)
		}
		sp, vp := strings.Contains(keyPart(skey), "+"), strings.Contains(keyPart(vkey), "+")
		if !sp && !vp {
			continue
		}
		privPlus, pubPlus = privPlus || sp, pubPlus || vp
		if got, err := tlog.PublicKey(skey); err != nil || got != vkey {
			t.Fatalf("PublicKey(%q) = %q, %v; want %q", skey, got, err, vkey)
		}
	}
	if !privPlus || !pubPlus {
		t.Fatalf("1000 keys and none with '+' in the private (%v) or public (%v) key material", privPlus, pubPlus)
	}

	// Fixed keys, encoded by x/mod: seed 0xfb encodes to "+/v7..." in base64.
	for _, seed := range []byte{0xfb, 0x3e, 0x00, 0xff} {
		skey, vkey := fixedKey(t, "linkd.dev/log/a/b", seed)
		if got, err := tlog.PublicKey(skey); err != nil || got != vkey {
			t.Errorf("PublicKey(%q) = %q, %v; want %q", skey, got, err, vkey)
		}
	}
}

func TestPublicKeyErrors(t *testing.T) {
	skey, vkey := fixedKey(t, haiphongLog, 1)
	noPrefix := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	tests := map[string]string{
		"empty":              "",
		"public key":         vkey,
		"no name":            "PRIVATE+KEY+",
		"missing key":        "PRIVATE+KEY+" + haiphongLog + "+00000000",
		"bad base64":         strings.TrimSuffix(skey, keyPart(skey)) + "!!!!",
		"short seed":         strings.TrimSuffix(skey, keyPart(skey)) + base64.StdEncoding.EncodeToString([]byte{1, 2, 3}),
		"another algorithm":  strings.TrimSuffix(skey, keyPart(skey)) + base64.StdEncoding.EncodeToString(append([]byte{2}, make([]byte, 32)...)),
		"lowercase prefix":   "private+key+" + noPrefix,
		"trailing seed byte": skey + "A",
	}
	for name, key := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := tlog.PublicKey(key); err == nil {
				t.Errorf("PublicKey(%q) = %q, want an error", key, got)
			}
		})
	}
}

func TestSignCheckpoint(t *testing.T) {
	skey, vkey := fixedKey(t, haiphongLog, 1)
	s := mustSigner(t, skey)
	xv, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]linkd.Checkpoint{
		"empty tree": {Origin: haiphongLog, Size: 0, Hash: sha256.Sum256(nil)},
		"size 5":     testCheckpoint(haiphongLog, 5),
		"big":        testCheckpoint(haiphongLog, 1<<62),
		"extensions": {Origin: haiphongLog, Size: 7, Hash: testCheckpoint(haiphongLog, 7).Hash, Extensions: []string{"timestamp 1790000000", "— witness line"}},
	}
	for name, cp := range tests {
		t.Run(name, func(t *testing.T) {
			msg := mustSign(t, cp, s)
			n, err := note.Open(msg, note.VerifierList(xv))
			if err != nil {
				t.Fatalf("note.Open: %v", err)
			}
			if got, want := len(n.Sigs), 1; got != want || n.Sigs[0].Name != haiphongLog {
				t.Errorf("note.Open verified %d signatures (%v), want %d by %s", got, n.Sigs, want, haiphongLog)
			}
			parsed, err := linkd.ParseCheckpoint(n.Text)
			if err != nil {
				t.Fatalf("ParseCheckpoint(%q): %v", n.Text, err)
			}
			if !reflect.DeepEqual(parsed, cp) {
				t.Errorf("ParseCheckpoint(note text) = %+v, want %+v", parsed, cp)
			}
			got, err := tlog.OpenCheckpoint(msg, mustVerifier(t, vkey))
			if err != nil {
				t.Fatalf("OpenCheckpoint: %v", err)
			}
			if !reflect.DeepEqual(got, cp) {
				t.Errorf("OpenCheckpoint = %+v, want %+v", got, cp)
			}
		})
	}
}

// alterSignature flips one bit of the signature bytes of the note's first
// signature line, keeping the line well-formed.
func alterSignature(t testing.TB, msg []byte) []byte {
	t.Helper()
	text, sigs, ok := bytes.Cut(msg, []byte("\n\n— "))
	if !ok {
		t.Fatalf("no signature block in %q", msg)
	}
	line, rest, _ := bytes.Cut(sigs, []byte("\n"))
	name, b64, _ := bytes.Cut(line, []byte(" "))
	raw, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0x80 // past the 4-byte key hash: the signature itself
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s\n\n— %s %s\n%s", text, name, base64.StdEncoding.EncodeToString(raw), rest)
	return out.Bytes()
}

// padTo signs a checkpoint whose note is exactly n bytes long, padding it
// with an extension line.
func padTo(t testing.TB, n int, cp linkd.Checkpoint, s tlog.Signer) []byte {
	t.Helper()
	cp.Extensions = []string{"pad "}
	base := len(mustSign(t, cp, s))
	cp.Extensions[0] += strings.Repeat("x", n-base)
	msg := mustSign(t, cp, s)
	if len(msg) != n {
		t.Fatalf("padded note is %d bytes, want %d", len(msg), n)
	}
	return msg
}

func TestOpenCheckpoint(t *testing.T) {
	skey, vkey := fixedKey(t, haiphongLog, 1)
	s := mustSigner(t, skey)
	v := mustVerifier(t, vkey)
	otherSkey, _ := fixedKey(t, rotterdamLog, 2)
	other := mustSigner(t, otherSkey)
	rogueSkey, rogueVkey := fixedKey(t, haiphongLog, 3) // same name, another key
	rogue := mustSigner(t, rogueSkey)

	cp := testCheckpoint(haiphongLog, 5)
	good := mustSign(t, cp, s)
	altered := bytes.Replace(good, []byte("\n5\n"), []byte("\n6\n"), 1)
	if bytes.Equal(altered, good) {
		t.Fatal("altering the size line changed nothing")
	}
	dupSig := append(append([]byte(nil), good...), good[bytes.Index(good, []byte("\n\n"))+2:]...)

	tests := []struct {
		name    string
		msg     []byte
		want    error // nil for success
		wantMsg []string
	}{
		{name: "genuine", msg: good},
		{name: "cosigned by another key", msg: signText(t, cp.Body(), s, other)},
		{name: "cosigned by another key first", msg: signText(t, cp.Body(), other, s)},
		{name: "signature line repeated", msg: dupSig},
		{name: "exactly at the size limit", msg: padTo(t, linkd.MaxCheckpointBytes, cp, s)},

		{name: "another party's key", msg: signText(t, cp.Body(), other), want: tlog.ErrSignature,
			wantMsg: []string{"no signature by key " + haiphongLog, "signed by: " + rotterdamLog}},
		{name: "another key with the log's name", msg: signText(t, cp.Body(), rogue), want: tlog.ErrSignature,
			wantMsg: []string{"signed by: " + haiphongLog, fmt.Sprintf("%08x", mustVerifier(t, rogueVkey).KeyHash())}},
		{name: "text altered", msg: altered, want: tlog.ErrSignature, wantMsg: []string{"altered"}},
		{name: "signature altered", msg: alterSignature(t, good), want: tlog.ErrSignature, wantMsg: []string{"altered"}},
		{name: "one good one bad signature by the key", msg: append(append([]byte(nil), alterSignature(t, good)...), good[bytes.Index(good, []byte("\n\n"))+2:]...),
			want: tlog.ErrSignature},
		{name: "not a note", msg: []byte("hello, world"), want: tlog.ErrMalformed, wantMsg: []string{"not a signed note"}},
		{name: "empty", msg: nil, want: tlog.ErrMalformed},
		{name: "body without signatures", msg: []byte(cp.Body() + "\n"), want: tlog.ErrMalformed},
		{name: "control character", msg: append([]byte("\x00"), good...), want: tlog.ErrMalformed},
		{name: "origin is not the key's name", msg: mustSign(t, testCheckpoint(rotterdamLog, 5), s), want: tlog.ErrWrongLog,
			wantMsg: []string{`log "` + rotterdamLog + `"`, `key is for "` + haiphongLog + `"`}},
		{name: "one byte over the size limit", msg: padTo(t, linkd.MaxCheckpointBytes+1, cp, s), want: tlog.ErrMalformed,
			wantMsg: []string{fmt.Sprint(linkd.MaxCheckpointBytes)}},
		{name: "body is not a checkpoint", msg: signText(t, "hello\n", s), want: tlog.ErrMalformed, wantMsg: []string{"malformed checkpoint"}},
		{name: "negative size", msg: signText(t, haiphongLog+"\n-1\n"+base64.StdEncoding.EncodeToString(cp.Hash[:])+"\n", s), want: tlog.ErrMalformed},
		{name: "short root", msg: signText(t, haiphongLog+"\n5\n"+base64.StdEncoding.EncodeToString(cp.Hash[:31])+"\n", s), want: tlog.ErrMalformed},
		{name: "empty extension", msg: signText(t, cp.Body()+"\n\n", s), want: tlog.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlog.OpenCheckpoint(tt.msg, v)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("OpenCheckpoint = %v, want success", err)
				}
				if got.Origin != cp.Origin || got.Size != cp.Size || got.Hash != cp.Hash {
					t.Errorf("OpenCheckpoint = %+v, want %+v", got, cp)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenCheckpoint = %+v, %v; want %v", got, err, tt.want)
			}
			for _, frag := range tt.wantMsg {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("OpenCheckpoint error %q does not say %q", err, frag)
				}
			}
		})
	}
}

func TestNewVerifierBadKey(t *testing.T) {
	skey, vkey := fixedKey(t, haiphongLog, 1)
	_, otherVkey := fixedKey(t, haiphongLog, 2)
	_, hash, _ := strings.Cut(strings.TrimSuffix(vkey, "+"+keyPart(vkey)), "+")
	tests := map[string]string{
		"empty":             "",
		"garbage":           "not a key at all",
		"private key":       skey,
		"truncated":         vkey[:len(vkey)-4],
		"hash of other key": strings.Replace(otherVkey, "+"+keyPart(otherVkey), "", 1) + "+" + keyPart(vkey),
		"wrong hash":        strings.Replace(vkey, "+"+hash+"+", "+00000000+", 1),
		"no name":           strings.TrimPrefix(vkey, haiphongLog),
	}
	for name, key := range tests {
		t.Run(name, func(t *testing.T) {
			if key == vkey {
				t.Fatalf("test key %q is the valid key", key)
			}
			v, err := tlog.NewVerifier(key)
			if !errors.Is(err, tlog.ErrBadKey) {
				t.Fatalf("NewVerifier(%q) = %v, %v; want ErrBadKey", key, v, err)
			}
			if want := "public key"; !strings.Contains(err.Error(), want) {
				t.Errorf("NewVerifier error %q does not say %q", err, want)
			}
		})
	}
}

func TestNewSignerBadKey(t *testing.T) {
	_, vkey := fixedKey(t, haiphongLog, 1)
	for _, key := range []string{"", "garbage", vkey} {
		if _, err := tlog.NewSigner(key); err == nil {
			t.Errorf("NewSigner(%q) succeeded, want an error", key)
		}
	}
}
