package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// Token is what the node knows about an access token: everything but the
// secret. It is safe to log and to show to an admin.
type Token struct {
	// ID is the token's public identifier, the part between lkd_ and the
	// secret. It names the token in lists, logs and Revoke.
	ID string `json:"id"`
	// Name says whose token it is or what it is for ("tms-prod", "j.nguyen").
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Created is when the token was issued.
	Created time.Time `json:"created"`
	// ExpiresAt is when the token stops working. Zero means never.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Revoked is when the token was revoked. Zero means it was not.
	Revoked time.Time `json:"revoked,omitzero"`
	// LastUsed is when the token last authenticated, to the second. It is
	// kept in memory only, so zero means not used since the node started.
	LastUsed time.Time `json:"lastUsed,omitzero"`
}

// Can reports whether the token's role has permission p. It does not check
// revocation or expiry; Authenticate did that.
func (t Token) Can(p Permission) bool { return t.Role.Can(p) }

// Require returns nil if the token's role has permission p and otherwise an
// EForbidden error that names the roles that have it.
func (t Token) Require(p Permission) error {
	if t.Role.Can(p) {
		return nil
	}
	return linkd.Errorf(linkd.EForbidden, "access token %s has role %s, which may not %s; use a token with role %s",
		display(t.ID), t.Role, p, strings.ReplaceAll(roleList(holders(p)), ", ", " or "))
}

// Token format: lkd_<id>_<secret>. The id is 10 characters of lowercase
// base32 (50 random bits, public); the secret is 32 random bytes in
// unpadded base64url (43 characters). The secret's alphabet contains '_', so
// a token is split by position, never by separator.
const (
	tokenPrefix = "lkd_"
	idLen       = 10
	secretBytes = 32
	secretLen   = 43 // base64.RawURLEncoding.EncodedLen(secretBytes)
	tokenLen    = len(tokenPrefix) + idLen + 1 + secretLen
	idAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
	maxNameLen  = 100
)

// secretEncoding rejects secrets whose last character carries stray bits, so
// every valid secret has one spelling.
var secretEncoding = base64.RawURLEncoding.Strict()

// newToken returns a fresh plaintext token, its id and the SHA-256 the store
// keeps.
func newToken() (plaintext, id string, hash [sha256.Size]byte) {
	var raw [idLen + secretBytes]byte
	rand.Read(raw[:]) // never fails; it crashes the program if the OS cannot provide randomness
	var b strings.Builder
	b.Grow(tokenLen)
	b.WriteString(tokenPrefix)
	for _, c := range raw[:idLen] {
		b.WriteByte(idAlphabet[c&31]) // 256 is a multiple of 32: uniform
	}
	b.WriteByte('_')
	b.WriteString(base64.RawURLEncoding.EncodeToString(raw[idLen:]))
	plaintext = b.String()
	return plaintext, plaintext[len(tokenPrefix) : len(tokenPrefix)+idLen], sha256.Sum256([]byte(plaintext))
}

// parseToken checks the shape of a presented token and returns its id and the
// SHA-256 of the whole token. Errors never quote the token: it may be a valid
// secret sent to the wrong node, or a password pasted by mistake.
func parseToken(s string) (id string, hash [sha256.Size]byte, err error) {
	if s == "" {
		return "", hash, unauthorized("no access token: send the header Authorization: Bearer lkd_<id>_<secret>")
	}
	if !strings.HasPrefix(s, tokenPrefix) {
		return "", hash, unauthorized("malformed access token: it does not start with %q; send the whole token as it was issued, after \"Bearer \"", tokenPrefix)
	}
	if len(s) != tokenLen {
		return "", hash, unauthorized("malformed access token: it is %d characters long, want %d; send the whole token as it was issued", len(s), tokenLen)
	}
	id = s[len(tokenPrefix) : len(tokenPrefix)+idLen]
	if !validID(id) || s[len(tokenPrefix)+idLen] != '_' {
		return "", hash, unauthorized("malformed access token: the id after %q is not %d characters of a-z and 2-7", tokenPrefix, idLen)
	}
	// Copies into arrays keep the conversions off the heap.
	var src [secretLen]byte
	var dst [secretBytes]byte
	copy(src[:], s[tokenLen-secretLen:])
	if n, err := secretEncoding.Decode(dst[:], src[:]); err != nil || n != secretBytes {
		return "", hash, unauthorized("malformed access token %s: the secret is not %d characters of base64url", display(id), secretLen)
	}
	var whole [tokenLen]byte
	copy(whole[:], s)
	return id, sha256.Sum256(whole[:]), nil
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// display is how messages and logs name a token: its public part only.
func display(id string) string { return tokenPrefix + id + "_…" }

// BearerToken extracts the token from the value of an Authorization header,
// "Bearer <token>" with the scheme in any case (RFC 9110 section 11.1). A
// missing or other scheme is an EUnauthorized error; the value is never
// quoted back.
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", unauthorized("no access token: send the header Authorization: Bearer lkd_<id>_<secret>")
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("unsupported Authorization scheme: send Authorization: Bearer lkd_<id>_<secret>")
	}
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", unauthorized("no access token after Bearer: send Authorization: Bearer lkd_<id>_<secret>")
	}
	return tok, nil
}

func unauthorized(format string, args ...any) error {
	return linkd.Errorf(linkd.EUnauthorized, format, args...)
}

// checkName returns an EInvalid error unless name is 1 to 100 printable
// characters.
func checkName(name string) error {
	if name == "" {
		return linkd.Errorf(linkd.EInvalid, "token name is empty: say whose token it is or what it is for, e.g. \"tms-prod\"")
	}
	if !utf8.ValidString(name) {
		return linkd.Errorf(linkd.EInvalid, "token name is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > maxNameLen {
		return linkd.Errorf(linkd.EInvalid, "token name is %d characters long, at most %d are allowed", n, maxNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return linkd.Errorf(linkd.EInvalid, "token name %q contains the unprintable character %U", clip(name), r)
		}
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
