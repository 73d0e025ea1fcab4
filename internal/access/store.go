package access

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// Key layout, in the node's one Pebble database (partylog owns
// 'm','h','e','c','i','x'):
//
//	'a' id → JSON record (see record)
const prefixToken = 'a'

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Now is the clock for creation, expiry, revocation and last use. Nil
	// means time.Now.
	Now func() time.Time
	// Logger records the creation and revocation of tokens (never their
	// secrets). Nil discards.
	Logger *slog.Logger
}

// Store keeps a node's access tokens: every token's metadata and the SHA-256
// of its plaintext, in Pebble and, for Authenticate, in memory.
//
// All methods may be called concurrently. Writes are durable (fsynced) when
// they return. Open one Store per database: a second Store over the same
// database would not see the first one's writes. The Store does not own the
// database; close the database after the last call.
type Store struct {
	db  *pebble.DB
	now func() time.Time
	log *slog.Logger

	// Lock order: wmu, then mu. A writer holds wmu for its whole check,
	// write and publish, so Bootstrap's "no token yet" and Revoke's
	// "not revoked yet" cannot race another writer; it takes mu only to
	// publish. Entry fields change only under both locks, so holding
	// either one is enough to read them.
	wmu sync.Mutex

	mu     sync.RWMutex
	tokens map[string]*entry // by token id; guarded by mu (and wmu for writes)
}

type entry struct {
	tok      Token             // LastUsed unset here; see lastUsed
	hash     [sha256.Size]byte // SHA-256 of the plaintext; never changes
	lastUsed atomic.Int64      // Unix seconds of the last Authenticate; 0 = not since Open
}

// Open loads every token stored in db. A record it cannot read is an error
// that names its key: the node must not start with an access table it only
// partly understands.
func Open(db *pebble.DB, o Options) (*Store, error) {
	s := &Store{db: db, now: o.Now, log: o.Logger, tokens: make(map[string]*entry)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixToken}, UpperBound: []byte{prefixToken + 1}})
	if err != nil {
		return nil, fmt.Errorf("open access tokens: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			break // it.Error reports it
		}
		e, err := decodeRecord(it.Key(), v)
		if err != nil {
			err = fmt.Errorf("open access tokens: corrupt token record under key %q: %w", it.Key(), err)
			it.Close()
			return nil, err
		}
		s.tokens[e.tok.ID] = e
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("open access tokens: %w", err)
	}
	return s, nil
}

// Create issues a token with the given name and role. A ttl of zero means it
// never expires. It returns the plaintext, which exists nowhere else: hand it
// to the user once. Bad input is an EInvalid error.
func (s *Store) Create(ctx context.Context, name string, role Role, ttl time.Duration) (plaintext string, _ Token, _ error) {
	if err := ctx.Err(); err != nil {
		return "", Token{}, err
	}
	if err := checkName(name); err != nil {
		return "", Token{}, err
	}
	if !role.Valid() {
		return "", Token{}, linkd.Errorf(linkd.EInvalid, "unknown role %q: want one of %s", clip(string(role)), roleList(roles))
	}
	if ttl < 0 {
		return "", Token{}, linkd.Errorf(linkd.EInvalid, "token lifetime %s is negative: give a positive duration, or zero for a token that never expires", ttl)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.createLocked(name, role, ttl, "access token created")
}

// Bootstrap issues the node's first token, an admin token that never
// expires, and fails with EConflict if the node has any token at all,
// revoked ones included: it exists so `linkd init` can hand the operator a
// way in, not as a way around revocation.
func (s *Store) Bootstrap(ctx context.Context, name string) (plaintext string, _ Token, _ error) {
	if err := ctx.Err(); err != nil {
		return "", Token{}, err
	}
	if err := checkName(name); err != nil {
		return "", Token{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if n := len(s.tokens); n > 0 {
		return "", Token{}, linkd.Errorf(linkd.EConflict, "this node already has %d access token(s), so it has been bootstrapped: ask an admin to create a token", n)
	}
	return s.createLocked(name, Admin, 0, "bootstrap admin token created")
}

// createLocked issues a token; the caller holds wmu and has checked the input.
func (s *Store) createLocked(name string, role Role, ttl time.Duration, msg string) (string, Token, error) {
	plaintext, id, hash := newToken()
	// 50 random bits make a collision unlikely but not impossible.
	for tries := 0; s.tokens[id] != nil; tries++ {
		if tries == 8 {
			return "", Token{}, fmt.Errorf("create access token: no unused id after %d tries", tries)
		}
		plaintext, id, hash = newToken()
	}
	now := s.now().UTC()
	tok := Token{ID: id, Name: name, Role: role, Created: now}
	if ttl > 0 {
		tok.ExpiresAt = now.Add(ttl)
	}
	if err := s.write(tok, hash); err != nil {
		return "", Token{}, fmt.Errorf("create access token: %w", err)
	}
	e := &entry{tok: tok, hash: hash}
	s.mu.Lock()
	s.tokens[id] = e
	s.mu.Unlock()
	attrs := []any{"token_id", id, "role", string(role), "name", name}
	if !tok.ExpiresAt.IsZero() {
		attrs = append(attrs, "expires_at", tok.ExpiresAt)
	}
	s.log.Info(msg, attrs...)
	return plaintext, tok, nil
}

// Authenticate returns the token whose plaintext this is, or an
// EUnauthorized error whose message says why not: no token, malformed,
// unknown (never issued here, or the secret is wrong), revoked or expired.
// Revocation and expiry are told only to a caller that holds the secret.
// It reads memory only and allocates nothing when the token is good.
//
// The comparison of the secret's hash is constant time. Whether an id exists
// is not hidden: ids are public.
func (s *Store) Authenticate(plaintext string) (Token, error) {
	id, hash, err := parseToken(plaintext)
	if err != nil {
		return Token{}, err
	}
	s.mu.RLock()
	e := s.tokens[id]
	var tok Token
	if e != nil {
		tok = e.tok
	}
	s.mu.RUnlock()
	if e == nil || subtle.ConstantTimeCompare(hash[:], e.hash[:]) != 1 {
		return Token{}, unauthorized("unknown access token %s: this node did not issue it; check that you are calling the right node and sending the whole token, or ask an admin of this node for a new one", display(id))
	}
	if !tok.Revoked.IsZero() {
		return Token{}, unauthorized("access token %s was revoked at %s; ask an admin of this node for a new token", display(id), formatTime(tok.Revoked))
	}
	now := s.now()
	if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
		return Token{}, unauthorized("access token %s expired at %s; ask an admin of this node for a new token", display(id), formatTime(tok.ExpiresAt))
	}
	// Write the shared word only when the second changes, so concurrent
	// requests on one token do not fight over its cache line.
	sec := now.Unix()
	if e.lastUsed.Load() != sec {
		e.lastUsed.Store(sec)
	}
	tok.LastUsed = time.Unix(sec, 0).UTC()
	return tok, nil
}

// Get returns the token with this id, or an ENotFound error.
func (s *Store) Get(id string) (Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.tokens[id]
	if e == nil {
		return Token{}, notFound(id)
	}
	return e.token(), nil
}

// List returns every token, revoked and expired ones included, oldest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]Token, 0, len(s.tokens))
	for _, e := range s.tokens {
		out = append(out, e.token())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Token) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Count returns how many tokens the node has, revoked and expired ones
// included.
func (s *Store) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tokens)
}

// Revoke makes the token with this id fail every later Authenticate, durably.
// An unknown id is an ENotFound error; revoking a revoked token does nothing
// and succeeds.
func (s *Store) Revoke(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	e := s.tokens[id]
	if e == nil {
		return notFound(id)
	}
	if !e.tok.Revoked.IsZero() {
		return nil
	}
	tok := e.tok
	tok.Revoked = s.now().UTC()
	if err := s.write(tok, e.hash); err != nil {
		return fmt.Errorf("revoke access token %s: %w", id, err)
	}
	s.mu.Lock()
	e.tok.Revoked = tok.Revoked
	s.mu.Unlock()
	s.log.Info("access token revoked", "token_id", id, "role", string(tok.Role), "name", tok.Name)
	return nil
}

// token returns the entry's token with its last use; the caller holds mu or
// wmu.
func (e *entry) token() Token {
	t := e.tok
	if sec := e.lastUsed.Load(); sec != 0 {
		t.LastUsed = time.Unix(sec, 0).UTC()
	}
	return t
}

// notFound says an id is unknown without quoting anything that is not
// shaped like an id: a caller who pastes a whole token where an id belongs
// must not find its secret in an error message or a log.
func notFound(id string) error {
	switch {
	case validID(id):
		return linkd.Errorf(linkd.ENotFound, "no access token with id %q: list the tokens to find its id", id)
	case strings.HasPrefix(id, tokenPrefix):
		return linkd.Errorf(linkd.ENotFound, "no access token with that id: give the id (the %d characters after %q), never the whole token", idLen, tokenPrefix)
	}
	return linkd.Errorf(linkd.ENotFound, "no access token with that id: an id is %d characters of a-z and 2-7", idLen)
}

// record is a token as stored under 'a' id. V is the format version, so a
// later build can change the hash (or add a KDF) and still read old records.
type record struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	SHA256    []byte    `json:"sha256"`
	Created   time.Time `json:"created"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

const recordVersion = 1

func tokenKey(id string) []byte {
	return append([]byte{prefixToken}, id...)
}

// write stores the token's record and syncs it.
func (s *Store) write(t Token, hash [sha256.Size]byte) error {
	v, err := json.Marshal(record{
		V: recordVersion, ID: t.ID, Name: t.Name, Role: t.Role, SHA256: hash[:],
		Created: t.Created, ExpiresAt: t.ExpiresAt, Revoked: t.Revoked,
	})
	if err != nil {
		return err
	}
	return s.db.Set(tokenKey(t.ID), v, pebble.Sync)
}

func decodeRecord(key, value []byte) (*entry, error) {
	if len(key) != 1+idLen || !validID(string(key[1:])) {
		return nil, fmt.Errorf("key is not 'a' and a token id")
	}
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, err
	}
	switch {
	case r.V != recordVersion:
		return nil, fmt.Errorf("record version %d, this build reads version %d", r.V, recordVersion)
	case r.ID != string(key[1:]):
		return nil, fmt.Errorf("record names id %q", clip(r.ID))
	case !r.Role.Valid():
		return nil, fmt.Errorf("unknown role %q", clip(string(r.Role)))
	case len(r.SHA256) != sha256.Size:
		return nil, fmt.Errorf("hash is %d bytes, want %d", len(r.SHA256), sha256.Size)
	case r.Created.IsZero():
		return nil, fmt.Errorf("no creation time")
	}
	if err := checkName(r.Name); err != nil {
		return nil, err
	}
	e := &entry{tok: Token{
		ID: r.ID, Name: r.Name, Role: r.Role,
		Created: r.Created.UTC(), ExpiresAt: r.ExpiresAt.UTC(), Revoked: r.Revoked.UTC(),
	}}
	copy(e.hash[:], r.SHA256)
	return e, nil
}
