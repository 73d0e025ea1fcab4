// Package witness is what a linkd node does as a witness of its peers' logs:
// it cosigns their checkpoints in the C2SP tlog-cosignature/v1 format (Ed25519,
// timestamped, so standard witness tooling reads the signatures), checks which
// witnesses cosigned a checkpoint, and turns two checkpoints of one log that
// cannot both be true into a portable linkd.Evidence that anyone can verify
// offline with the log's public key. It does no I/O of its own.
//
// A cosignature states that, as of its time, the checkpoint is the largest
// tree the witness has seen of that log and is consistent with every earlier
// one it saw. Cosign checks only the log's signature; checking consistency
// (tlog.VerifyConsistency against the last checkpoint cosigned, and Check when
// it fails) is the caller's part of that promise.
package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd/internal/tlog"
)

// KeyName is the name of a party's witness key: "linkd.dev/witness/<party>".
// It appears in every cosignature line the party makes.
func KeyName(party string) string { return "linkd.dev/witness/" + party }

// algCosignatureV1 is the signed-note key type of an Ed25519
// tlog-cosignature/v1 key. It differs from a log key's (0x01), so a witness
// key cannot be mistaken for a log key or the other way round.
const algCosignatureV1 = 0x04

// Sizes in a cosignature: key ID, timestamp, Ed25519 signature.
const (
	keyIDSize     = 4
	timestampSize = 8
	cosigSize     = timestampSize + ed25519.SignatureSize
)

// maxSignatures is how many signature lines x/mod's note.Open accepts; a note
// with more is malformed everywhere.
const maxSignatures = 100

// GenerateKey makes a party's witness key, named KeyName(party). skey is the
// private key in signed-note form ("PRIVATE+KEY+linkd.dev/witness/…"), vkey
// the public one that peers configure to check the party's cosignatures.
func GenerateKey(party string) (skey, vkey string, err error) {
	name := KeyName(party)
	if party == "" || !validName(name) {
		return "", "", fmt.Errorf("generate witness key: %q cannot name a key (it must be non-empty, without spaces, control characters or '+')", party)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate witness key: %w", err)
	}
	skey, vkey = encodeKeys(name, priv.Seed())
	return skey, vkey, nil
}

// encodeKeys writes the signed-note forms of the witness key with this seed.
func encodeKeys(name string, seed []byte) (skey, vkey string) {
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	id := keyID(name, pub)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, seed...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
	return skey, vkey
}

// keyID is the C2SP tlog-cosignature key ID of an Ed25519 cosigner:
// SHA-256(name || "\n" || 0x04 || public key)[:4].
func keyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// validName reports whether name can name a signed-note key and survive
// note.Open: valid UTF-8, non-empty, no spaces, no control characters, no '+'.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.Contains(name, "+") &&
		strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r < 0x20 }) < 0
}

// Cosigner makes cosignatures with a witness key. It is safe for concurrent use.
type Cosigner struct {
	name string
	id   uint32
	key  ed25519.PrivateKey
}

// NewCosigner parses a private key made by GenerateKey.
func NewCosigner(skey string) (*Cosigner, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return nil, errors.New("parse witness signing key: not a signed-note private key")
	}
	name, hash, raw, err := splitKey(rest)
	if err != nil {
		return nil, fmt.Errorf("parse witness signing key: %w", err)
	}
	if len(raw) != 1+ed25519.SeedSize || raw[0] != algCosignatureV1 {
		return nil, errors.New("parse witness signing key: not an Ed25519 cosignature/v1 key (type 0x04)")
	}
	key := ed25519.NewKeyFromSeed(raw[1:])
	id := keyID(name, key.Public().(ed25519.PublicKey))
	if id != hash {
		return nil, fmt.Errorf("parse witness signing key: key ID %08x does not match the key (want %08x)", hash, id)
	}
	return &Cosigner{name: name, id: id, key: key}, nil
}

// Name is the key's name, KeyName(party).
func (c *Cosigner) Name() string { return c.name }

// KeyHash is the key's C2SP key ID.
func (c *Cosigner) KeyHash() uint32 { return c.id }

// Verifier returns the verifier of c's cosignatures.
func (c *Cosigner) Verifier() note.Verifier {
	return newVerifier(c.name, c.id, c.key.Public().(ed25519.PublicKey))
}

// NewCosignatureVerifier parses a witness public key made by GenerateKey (or
// any Ed25519 tlog-cosignature/v1 vkey, type 0x04).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, hash, raw, err := splitKey(vkey)
	if err != nil {
		return nil, fmt.Errorf("parse witness public key: %w", err)
	}
	if len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, errors.New("parse witness public key: not an Ed25519 cosignature/v1 key (type 0x04)")
	}
	pub := ed25519.PublicKey(raw[1:])
	if id := keyID(name, pub); id != hash {
		return nil, fmt.Errorf("parse witness public key: key ID %08x does not match the key (want %08x)", hash, id)
	}
	return newVerifier(name, hash, pub), nil
}

// splitKey parses "name+hash+base64".
func splitKey(k string) (name string, hash uint32, raw []byte, err error) {
	name, rest, _ := strings.Cut(k, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	if !validName(name) {
		return "", 0, nil, fmt.Errorf("%q is not a key name", name)
	}
	h, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || len(hash16) != 8 {
		return "", 0, nil, errors.New("want name+hash+key with an 8-digit hex key ID")
	}
	raw, err = base64.StdEncoding.DecodeString(key64)
	if err != nil {
		return "", 0, nil, errors.New("the key material is not base64")
	}
	return name, uint32(h), raw, nil
}

// verifier checks Ed25519 tlog-cosignature/v1 signatures.
type verifier struct {
	name string
	id   uint32
	key  *tlog.Ed25519Key
}

// newVerifier expands pub, which its callers have checked is
// ed25519.PublicKeySize bytes.
func newVerifier(name string, id uint32, pub ed25519.PublicKey) *verifier {
	key, _ := tlog.NewEd25519Key(pub)
	return &verifier{name: name, id: id, key: key}
}

func (v *verifier) Name() string    { return v.name }
func (v *verifier) KeyHash() uint32 { return v.id }

func (v *verifier) Verify(text, sig []byte) bool {
	if len(sig) != cosigSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > math.MaxInt64 {
		return false
	}
	return v.key.Verify(signedMessage(t, text), sig[timestampSize:])
}

// signedMessage is what a cosignature/v1 signs: a header line, a time line,
// then the whole checkpoint body.
func signedMessage(t uint64, text []byte) []byte {
	m := make([]byte, 0, 40+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, text...)
}

// Cosign checks that signedCheckpoint is a checkpoint signed by the log of
// logVerifier and returns c's cosignature of it at time now, as a note
// signature line ("— <name> <base64>\n") to add to the note with
// AddCosignatures. The error of a checkpoint that does not verify is a
// *tlog.VerifyError.
//
// Cosign does not check consistency with earlier checkpoints; see the package
// comment.
func Cosign(signedCheckpoint []byte, logVerifier note.Verifier, c *Cosigner, now time.Time) ([]byte, error) {
	if _, err := tlog.OpenCheckpoint(signedCheckpoint, logVerifier); err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	t := now.Unix()
	if t < 0 {
		return nil, fmt.Errorf("cosign: time %s is before 1970", now.UTC().Format(time.RFC3339))
	}
	text, _, _ := splitNote(signedCheckpoint)
	sig := make([]byte, keyIDSize, keyIDSize+cosigSize)
	binary.BigEndian.PutUint32(sig, c.id)
	sig = binary.BigEndian.AppendUint64(sig, uint64(t))
	sig = append(sig, ed25519.Sign(c.key, signedMessage(uint64(t), text))...)
	return []byte("— " + c.name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}

// splitNote splits a signed note into its text (ending in a newline) and its
// signature block, as note.Open does. ok is false when msg has no signature
// block.
func splitNote(msg []byte) (text, sigs []byte, ok bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, nil, false
	}
	text, sigs = msg[:i+1], msg[i+2:]
	if len(sigs) == 0 || sigs[len(sigs)-1] != '\n' {
		return nil, nil, false
	}
	return text, sigs, true
}

// sigLine is one parsed note signature line.
type sigLine struct {
	name string
	id   uint32
	sig  []byte // after the key ID
	line string // without the newline
}

// parseSigLine parses "— name base64" with or without its newline.
func parseSigLine(b []byte) (sigLine, bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	rest, ok := bytes.CutPrefix(b, []byte("— "))
	if !ok || bytes.IndexByte(rest, '\n') >= 0 {
		return sigLine{}, false
	}
	name, b64, _ := strings.Cut(string(rest), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	// The decoder skips \r and \n; demand the one encoding, which note.Open
	// also takes.
	if err != nil || !validName(name) || len(raw) <= keyIDSize || base64.StdEncoding.EncodeToString(raw) != b64 {
		return sigLine{}, false
	}
	return sigLine{name: name, id: binary.BigEndian.Uint32(raw), sig: raw[keyIDSize:], line: string(b)}, true
}

// timestamp is a cosignature/v1 line's time, or -1 when the line is not one.
func (s sigLine) timestamp() int64 {
	if len(s.sig) != cosigSize {
		return -1
	}
	t := binary.BigEndian.Uint64(s.sig)
	if t > math.MaxInt64 {
		return -1
	}
	return int64(t)
}

// AddCosignatures returns the signed note msg with the signature lines added.
// The note keeps one line per key (name and key ID): the first line stays
// first, since it is the log's own signature, and of several cosignatures by
// one witness only the latest is kept (of two with the same time, the one
// seen first). The other lines are sorted by name and key ID, so the result
// does not depend on the order in which cosignatures arrived. Lines that are not signature lines are dropped, and so are lines
// beyond the 100 signatures a note may carry.
//
// AddCosignatures does not verify signatures: add only lines that Cosign made
// or that VerifyCosignatures accepted, or a forged line may displace a real
// one. If msg is not a signed note it is returned unchanged.
func AddCosignatures(msg []byte, lines ...[]byte) []byte {
	text, block, ok := splitNote(msg)
	if !ok {
		return msg
	}
	type key struct {
		name string
		id   uint32
	}
	var first *sigLine
	byKey := map[key]sigLine{}
	add := func(b []byte) {
		s, ok := parseSigLine(b)
		if !ok {
			return
		}
		if first == nil {
			first = &s
			return
		}
		k := key{s.name, s.id}
		if k == (key{first.name, first.id}) {
			return
		}
		// Only a later cosignature replaces one: a signature of another
		// kind by the same key is not the log's to lose.
		if old, ok := byKey[k]; ok && (old.timestamp() < 0 || s.timestamp() <= old.timestamp()) {
			return
		}
		byKey[k] = s
	}
	for l := range bytes.Lines(block) {
		add(l)
	}
	for _, l := range lines {
		add(l)
	}
	if first == nil {
		return msg
	}
	rest := make([]sigLine, 0, len(byKey))
	for _, s := range byKey {
		rest = append(rest, s)
	}
	slices.SortFunc(rest, func(a, b sigLine) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.id != b.id {
			if a.id < b.id {
				return -1
			}
			return 1
		}
		return strings.Compare(a.line, b.line)
	})
	if len(rest) > maxSignatures-1 {
		rest = rest[:maxSignatures-1]
	}
	out := make([]byte, 0, len(msg)+len(rest)*128)
	out = append(out, text...)
	out = append(out, '\n')
	out = append(out, first.line...)
	out = append(out, '\n')
	for _, s := range rest {
		out = append(out, s.line...)
		out = append(out, '\n')
	}
	return out
}

// VerifyCosignatures checks that msg is a checkpoint signed by the log of
// logVerifier and returns the names of the witnesses, in the order given,
// whose cosignature of it verifies. Lines by other keys, and lines by a
// witness's key that do not verify, are ignored: the witness did not cosign.
// The error, a *tlog.VerifyError, is about the checkpoint itself.
func VerifyCosignatures(msg []byte, logVerifier note.Verifier, witnesses ...note.Verifier) (verified []string, err error) {
	if _, err := tlog.OpenCheckpoint(msg, logVerifier); err != nil {
		return nil, err
	}
	text, block, _ := splitNote(msg)
	var sigs []sigLine
	for l := range bytes.Lines(block) {
		if s, ok := parseSigLine(l); ok {
			sigs = append(sigs, s)
		}
	}
	for i, w := range witnesses {
		if slices.ContainsFunc(witnesses[:i], func(p note.Verifier) bool { return p.Name() == w.Name() && p.KeyHash() == w.KeyHash() }) {
			continue
		}
		for _, s := range sigs {
			if s.name == w.Name() && s.id == w.KeyHash() && w.Verify(text, s.sig) {
				verified = append(verified, w.Name())
				break
			}
		}
	}
	return verified, nil
}
