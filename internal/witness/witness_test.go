package witness_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

func TestGenerateKey(t *testing.T) {
	skey, vkey, err := witness.GenerateKey("rotterdam-dc")
	if err != nil {
		t.Fatal(err)
	}
	const name = "linkd.dev/witness/rotterdam-dc"
	if !strings.HasPrefix(skey, "PRIVATE+KEY+"+name+"+") || !strings.HasPrefix(vkey, name+"+") {
		t.Fatalf("keys %q, %q are not named %s", skey, vkey, name)
	}
	c, err := witness.NewCosigner(skey)
	if err != nil {
		t.Fatalf("NewCosigner(GenerateKey's key): %v", err)
	}
	v, err := witness.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatalf("NewCosignatureVerifier(GenerateKey's key): %v", err)
	}
	if c.Name() != name || v.Name() != name || c.KeyHash() != v.KeyHash() {
		t.Fatalf("cosigner %s/%08x and verifier %s/%08x do not match", c.Name(), c.KeyHash(), v.Name(), v.KeyHash())
	}
	// The key type is tlog-cosignature/v1 Ed25519 (0x04), which a log key
	// parser does not take for a log key.
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(vkey, "+", 3)[2])
	if len(raw) != 33 || raw[0] != 0x04 {
		t.Fatalf("vkey material %x: want 0x04 and a 32-byte Ed25519 key", raw)
	}
	if _, err := tlog.NewVerifier(vkey); err == nil {
		t.Fatal("a witness public key parsed as a log key")
	}
	if skey2, _, _ := witness.GenerateKey("rotterdam-dc"); skey2 == skey {
		t.Fatal("two generated keys are the same")
	}
	for _, party := range []string{"", "rotterdam dc", "rotterdam+dc", "rotterdam\x01dc"} {
		if _, _, err := witness.GenerateKey(party); err == nil || !strings.Contains(err.Error(), "cannot name a key") {
			t.Errorf("GenerateKey(%q) = %v, want an error saying it cannot name a key", party, err)
		}
	}
}

func TestParseKeysRejects(t *testing.T) {
	_, logVKey := fixedLogKey(t, haiphongLog, 1)
	skey, vkey, err := witness.GenerateKey("rotterdam-dc")
	if err != nil {
		t.Fatal(err)
	}
	// A key ID that does not match the key.
	wrongID := func(k string) string {
		i := len(k) - len(strings.SplitN(strings.TrimPrefix(k, "PRIVATE+KEY+"), "+", 3)[2]) - 1
		return k[:i-8] + "00000000" + k[i:]
	}
	logSKey := "PRIVATE+KEY+" + haiphongLog + "+" + strings.SplitN(logVKey, "+", 3)[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, bytes.Repeat([]byte{1}, 32)...))
	for _, tc := range []struct{ name, skey, want string }{
		{"log key", logSKey, "not an Ed25519 cosignature/v1 key"},
		{"wrong key id", wrongID(skey), "does not match the key"},
		{"public key", vkey, "not a signed-note private key"},
		{"garbage", "PRIVATE+KEY+x", "8-digit hex key ID"},
	} {
		if _, err := witness.NewCosigner(tc.skey); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCosigner(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, vkey, want string }{
		{"log key", logVKey, "not an Ed25519 cosignature/v1 key"},
		{"wrong key id", wrongID(vkey), "does not match the key"},
		{"not base64", "w+01234567+!!", "not base64"},
		{"bad name", "a b+01234567+BA==", "not a key name"},
	} {
		if _, err := witness.NewCosignatureVerifier(tc.vkey); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCosignatureVerifier(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

var sigLineRE = regexp.MustCompile(`^— linkd\.dev/witness/rotterdam-dc [A-Za-z0-9+/]+=*\n$`)

func TestCosignThenVerify(t *testing.T) {
	f := newFork(t)
	c, wv := newWitness(t, "rotterdam-dc")
	cp := f.cpB(t, 12)
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	line, err := witness.Cosign(cp, f.v, c, when)
	if err != nil {
		t.Fatal(err)
	}
	if !sigLineRE.Match(line) {
		t.Fatalf("cosignature line %q is not a note signature line of the witness", line)
	}
	// base64(key ID || timestamp || Ed25519 signature), per C2SP tlog-cosignature.
	raw, _ := base64.StdEncoding.DecodeString(strings.Fields(string(line))[2])
	if len(raw) != 4+8+64 || binary.BigEndian.Uint32(raw) != c.KeyHash() || int64(binary.BigEndian.Uint64(raw[4:])) != when.Unix() {
		t.Fatalf("cosignature %x: want key ID %08x, time %d and a 64-byte signature", raw, c.KeyHash(), when.Unix())
	}
	cosigned := witness.AddCosignatures(cp, line)
	if !bytes.HasPrefix(cosigned, cp) || !bytes.HasSuffix(cosigned, line) {
		t.Fatalf("AddCosignatures did not append the line after the log's signature:\n%s", cosigned)
	}
	got, err := witness.VerifyCosignatures(cosigned, f.v, wv)
	if err != nil || !slices.Equal(got, []string{"linkd.dev/witness/rotterdam-dc"}) {
		t.Fatalf("VerifyCosignatures = %v, %v; want the witness", got, err)
	}
	// x/mod's note.Open agrees.
	if n, err := note.Open(cosigned, note.VerifierList(f.v, wv)); err != nil || len(n.Sigs) != 2 {
		t.Fatalf("note.Open of the cosigned checkpoint: %v", err)
	}
	// The bare checkpoint has no cosignature.
	if got, err := witness.VerifyCosignatures(cp, f.v, wv); err != nil || len(got) != 0 {
		t.Fatalf("VerifyCosignatures(uncosigned) = %v, %v; want no witnesses", got, err)
	}
	// The cosignature covers the checkpoint: moved to another checkpoint, it
	// does not verify.
	moved := witness.AddCosignatures(f.cpB(t, 11), line)
	if got, err := witness.VerifyCosignatures(moved, f.v, wv); err != nil || len(got) != 0 {
		t.Fatalf("VerifyCosignatures(cosignature of size 12 on size 11) = %v, %v; want no witnesses", got, err)
	}
	// A tampered cosignature does not verify.
	bad := tamperLastSig(t, cosigned)
	if got, err := witness.VerifyCosignatures(bad, f.v, wv); err != nil || len(got) != 0 {
		t.Fatalf("VerifyCosignatures(tampered) = %v, %v; want no witnesses", got, err)
	}
	// Another witness's key does not verify it.
	_, other := newWitness(t, "antwerp-dc")
	if got, err := witness.VerifyCosignatures(cosigned, f.v, other); err != nil || len(got) != 0 {
		t.Fatalf("VerifyCosignatures(other witness) = %v, %v; want no witnesses", got, err)
	}
}

func TestCosignRefuses(t *testing.T) {
	f := newFork(t)
	c, _ := newWitness(t, "rotterdam-dc")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	other, _ := fixedLogKey(t, haiphongLog, 2)
	cases := []struct {
		name string
		cp   []byte
		kind error
	}{
		{"altered size", bytes.Replace(f.cpB(t, 12), []byte("\n12\n"), []byte("\n13\n"), 1), tlog.ErrSignature},
		{"signed by another key", signCheckpoint(t, other, haiphongLog, 12, f.b.roots[12]), tlog.ErrSignature},
		{"another log's checkpoint", signCheckpoint(t, f.signer, rotterdamLog, 12, f.b.roots[12]), tlog.ErrWrongLog},
		{"not a note", []byte("hello\n"), tlog.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line, err := witness.Cosign(tc.cp, f.v, c, now)
			if !errors.Is(err, tc.kind) || line != nil {
				t.Fatalf("Cosign = %q, %v; want no line and %v", line, err, tc.kind)
			}
		})
	}
	if _, err := witness.Cosign(f.cpB(t, 12), f.v, c, time.Unix(-1, 0)); err == nil || !strings.Contains(err.Error(), "before 1970") {
		t.Fatalf("Cosign before 1970 = %v, want an error", err)
	}
}

// katFile is testdata/cosignature-v1.txt: a cosignature made by
// transparency-dev/formats.
type katFile struct {
	logVKey, witnessSKey, witnessVKey string
	note                              []byte
}

func readKAT(t testing.TB) katFile {
	t.Helper()
	data, err := os.ReadFile("testdata/cosignature-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	head, msg, ok := bytes.Cut(data, []byte("\nnote:\n"))
	if !ok {
		t.Fatal("testdata/cosignature-v1.txt has no note: line")
	}
	k := katFile{note: msg}
	for _, l := range strings.Split(string(head), "\n") {
		key, val, _ := strings.Cut(l, " ")
		switch key {
		case "log-vkey":
			k.logVKey = val
		case "witness-skey":
			k.witnessSKey = val
		case "witness-vkey":
			k.witnessVKey = val
		}
	}
	return k
}

// A cosignature by another implementation of C2SP tlog-cosignature/v1
// verifies here, and Cosign, at the same time, makes the very same bytes.
func TestInteropWithFormats(t *testing.T) {
	k := readKAT(t)
	lv := mustVerifier(t, k.logVKey)
	wv, err := witness.NewCosignatureVerifier(k.witnessVKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := witness.VerifyCosignatures(k.note, lv, wv)
	if err != nil || !slices.Equal(got, []string{wv.Name()}) {
		t.Fatalf("VerifyCosignatures(formats' cosignature) = %v, %v; want %s", got, err, wv.Name())
	}

	n, err := note.Open(k.note, note.VerifierList(lv, wv))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(n.Sigs[1].Base64)
	when := time.Unix(int64(binary.BigEndian.Uint64(raw[4:12])), 0)
	c, err := witness.NewCosigner(k.witnessSKey)
	if err != nil {
		t.Fatal(err)
	}
	bare := []byte(n.Text + "\n— " + n.Sigs[0].Name + " " + n.Sigs[0].Base64 + "\n")
	line, err := witness.Cosign(bare, lv, c, when)
	if err != nil {
		t.Fatal(err)
	}
	if mine := witness.AddCosignatures(bare, line); !bytes.Equal(mine, k.note) {
		t.Fatalf("Cosign at %d made\n%s\nformats made\n%s", when.Unix(), mine, k.note)
	}

	// Tampering with formats' cosignature breaks it here too.
	bad := tamperLastSig(t, k.note)
	if got, err := witness.VerifyCosignatures(bad, lv, wv); err != nil || len(got) != 0 {
		t.Fatalf("VerifyCosignatures(tampered formats cosignature) = %v, %v; want no witnesses", got, err)
	}
}

func TestAddCosignatures(t *testing.T) {
	f := newFork(t)
	cp := f.cpB(t, 12)
	parties := []string{"rotterdam-dc", "antwerp-dc", "hamburg-dc"}
	var lines [][]byte
	var vs []note.Verifier
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cosigners := map[string]*witness.Cosigner{}
	for _, p := range parties {
		c, v := newWitness(t, p)
		cosigners[p] = c
		line, err := witness.Cosign(cp, f.v, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
		vs = append(vs, v)
	}

	// Arrival order does not matter, nor does adding one at a time.
	all := witness.AddCosignatures(cp, lines...)
	reversed := witness.AddCosignatures(cp, lines[2], lines[1], lines[0])
	oneByOne := witness.AddCosignatures(witness.AddCosignatures(witness.AddCosignatures(cp, lines[1]), lines[0]), lines[2])
	if !bytes.Equal(all, reversed) || !bytes.Equal(all, oneByOne) {
		t.Fatalf("AddCosignatures depends on order:\n%s\n%s\n%s", all, reversed, oneByOne)
	}
	// The log's signature stays first, then witnesses by name.
	sigs := strings.Split(strings.TrimSuffix(string(all[bytes.Index(all, []byte("\n\n"))+2:]), "\n"), "\n")
	var names []string
	for _, s := range sigs {
		names = append(names, strings.Fields(s)[1])
	}
	want := []string{haiphongLog, "linkd.dev/witness/antwerp-dc", "linkd.dev/witness/hamburg-dc", "linkd.dev/witness/rotterdam-dc"}
	if !slices.Equal(names, want) {
		t.Fatalf("signature lines by %v, want %v", names, want)
	}
	// Adding again changes nothing; garbage is dropped.
	if again := witness.AddCosignatures(all, lines[0], []byte("— nonsense\n"), []byte("hello"), []byte("— x !!!\n")); !bytes.Equal(again, all) {
		t.Fatalf("re-adding lines and garbage changed the note:\n%s", again)
	}
	got, err := witness.VerifyCosignatures(all, f.v, vs...)
	if err != nil || !slices.Equal(got, []string{"linkd.dev/witness/rotterdam-dc", "linkd.dev/witness/antwerp-dc", "linkd.dev/witness/hamburg-dc"}) {
		t.Fatalf("VerifyCosignatures = %v, %v; want all three in the order asked", got, err)
	}

	// A witness's later cosignature replaces its earlier one, whichever
	// arrives first.
	later, err := witness.Cosign(cp, f.v, cosigners["antwerp-dc"], t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newer := witness.AddCosignatures(all, later)
	if !bytes.Contains(newer, later) || bytes.Contains(newer, lines[1]) || bytes.Count(newer, []byte("\n— ")) != 4 {
		t.Fatalf("a later cosignature did not replace the earlier one:\n%s", newer)
	}
	if older := witness.AddCosignatures(newer, lines[1]); !bytes.Equal(older, newer) {
		t.Fatalf("an earlier cosignature displaced a later one:\n%s", older)
	}

	// What is not a signed note comes back unchanged.
	if got := witness.AddCosignatures([]byte("hello\n"), lines[0]); string(got) != "hello\n" {
		t.Fatalf("AddCosignatures(not a note) = %q", got)
	}
}

func TestVerifyCosignaturesRefusesBadCheckpoint(t *testing.T) {
	f := newFork(t)
	c, wv := newWitness(t, "rotterdam-dc")
	cp := f.cpB(t, 12)
	line, err := witness.Cosign(cp, f.v, c, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	cosigned := witness.AddCosignatures(cp, line)
	// The same witness asked for twice is named once.
	if got, err := witness.VerifyCosignatures(cosigned, f.v, wv, wv); err != nil || len(got) != 1 {
		t.Fatalf("VerifyCosignatures(same witness twice) = %v, %v; want it once", got, err)
	}
	altered := bytes.Replace(cosigned, []byte("\n12\n"), []byte("\n13\n"), 1)
	if got, err := witness.VerifyCosignatures(altered, f.v, wv); !errors.Is(err, tlog.ErrSignature) || got != nil {
		t.Fatalf("VerifyCosignatures(altered checkpoint) = %v, %v; want a signature error", got, err)
	}
	_, otherLog := fixedLogKey(t, haiphongLog, 2)
	if got, err := witness.VerifyCosignatures(cosigned, mustVerifier(t, otherLog), wv); !errors.Is(err, tlog.ErrSignature) || got != nil {
		t.Fatalf("VerifyCosignatures(with another log key) = %v, %v; want a signature error", got, err)
	}
}

// tamperLastSig flips one bit of the signature in the note's last signature
// line, keeping the line well-formed.
func tamperLastSig(t *testing.T, msg []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(bytes.TrimSuffix(msg, []byte("\n")), []byte("\n"))
	fields := strings.Fields(string(msg[i+1:]))
	raw, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	out := append(bytes.Clone(msg[:i+1]), fields[0]+" "+fields[1]+" "+base64.StdEncoding.EncodeToString(raw)+"\n"...)
	if bytes.Equal(out, msg) || len(out) != len(msg) {
		t.Fatalf("tampering went wrong:\n%s", out)
	}
	return out
}
