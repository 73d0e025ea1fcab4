// Package shred keeps a node's per-shipment data keys, which make erasure by
// crypto-shredding possible: whatever a node keeps at rest of a shipment's
// payloads is encrypted under that shipment's key (AES-256-GCM), so
// destroying the key makes every copy unreadable — the live files, store
// pages not yet compacted away, backups — while hashes, roots and proofs
// computed over the plaintext stay valid.
//
// It promises:
//
//   - A key lives in one small file of its own under the key directory,
//     never in Pebble. Pebble keeps a deleted value in its write-ahead log
//     and tables until compactions drop it, and recycles WAL files without
//     wiping them, so a key deleted from Pebble could be read back from the
//     data directory. Destroy overwrites the key file with zeros, syncs it and
//     unlinks it.
//   - A key is durable (file and directory synced) before Seal or Derive
//     return anything made with it.
//   - Destroy is final and durable: the id is recorded as destroyed in the
//     node's Pebble database (keys 'K' id) before its key file is wiped, and
//     from the moment Destroy returns Seal, Open and Derive for the id fail
//     with ErrDestroyed, across restarts. A key file left by a crash between
//     the record and the wipe is wiped when the store opens.
//
// Keys never leave the node: each node of a lane has its own key for a
// shipment, and erasure reaches every node by an event (see internal/docs).
// All methods may be called concurrently.
package shred

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// KeySize is the size of a data key in bytes (AES-256).
const KeySize = 32

// MaxIDLen bounds a key id.
const MaxIDLen = 256

// prefixDestroyed is the Pebble key space of destroyed ids: 'K' id → the
// time of destruction (RFC 3339).
const prefixDestroyed = 'K'

// ErrDestroyed is returned for an id whose key was destroyed: what was
// sealed under it cannot be opened again, and nothing new is sealed under it.
var ErrDestroyed = errors.New("the key was destroyed (the data was erased)")

// ErrNoKey is returned by Open for an id that never had a key on this node.
var ErrNoKey = errors.New("no key for this id on this node")

// Keys is a node's set of data keys.
type Keys struct {
	db     *pebble.DB
	dir    string
	logger *slog.Logger

	mu    sync.Mutex
	cache map[string][]byte // id → key, for ids in use; guarded by mu
}

// maxCached bounds the keys held in memory; beyond it the cache starts over.
const maxCached = 4096

// Open returns the keys kept in dir, with destroyed ids recorded in db. It
// wipes any key file of an id recorded as destroyed (a crash between
// Destroy's two steps). logger nil discards.
func Open(db *pebble.DB, dir string, logger *slog.Logger) (*Keys, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open keys: %w", err)
	}
	k := &Keys{db: db, dir: dir, logger: logger, cache: map[string][]byte{}}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDestroyed}, UpperBound: []byte{prefixDestroyed + 1}})
	if err != nil {
		return nil, fmt.Errorf("open keys: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[1:])
		if err := k.wipe(id); err != nil {
			return nil, fmt.Errorf("open keys: wipe the key of destroyed %q: %w", id, err)
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("open keys: %w", err)
	}
	return k, nil
}

// Seal encrypts plaintext under id's key, making the key if id has none,
// and authenticates aad with it. The result is a random nonce followed by
// the ciphertext.
func (k *Keys) Seal(id string, plaintext, aad []byte) ([]byte, error) {
	key, err := k.key(id, true)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, plaintext, aad), nil
}

// Open decrypts what Seal returned for id and aad.
func (k *Keys) Open(id string, sealed, aad []byte) ([]byte, error) {
	key, err := k.key(id, false)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("shred: open sealed data of %q: %w", id, err)
	}
	return pt, nil
}

// Derive returns a KeySize subkey of id's key for one purpose (HKDF-SHA256
// with info), making id's key if it has none and create is set. Streams
// that encrypt in many chunks (documents) derive a key per stream so their
// counter nonces never repeat under one key.
func (k *Keys) Derive(id, info string, create bool) ([]byte, error) {
	key, err := k.key(id, create)
	if err != nil {
		return nil, err
	}
	sub, err := hkdf.Key(sha256.New, key, nil, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("shred: derive a key: %w", err)
	}
	return sub, nil
}

// Destroy erases id's key for good: it records id as destroyed, durably,
// then overwrites the key file with zeros and unlinks it. Destroying an id
// with no key, or one already destroyed, records it as destroyed and
// succeeds.
func (k *Keys) Destroy(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	at := time.Now().UTC().Format(time.RFC3339Nano)
	if err := k.db.Set(destroyedKey(id), []byte(at), pebble.Sync); err != nil {
		return fmt.Errorf("shred: record %q as destroyed: %w", id, err)
	}
	delete(k.cache, id)
	if err := k.wipe(id); err != nil {
		return fmt.Errorf("shred: wipe the key of %q: %w", id, err)
	}
	k.logger.Info("data key destroyed", "key_id", id)
	return nil
}

// Destroyed reports whether id's key was destroyed, and when.
func (k *Keys) Destroyed(id string) (bool, time.Time, error) {
	v, closer, err := k.db.Get(destroyedKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("shred: %w", err)
	}
	defer closer.Close()
	at, _ := time.Parse(time.RFC3339Nano, string(v))
	return true, at, nil
}

// Path is the file that holds id's key while it exists. Tests read it to
// prove Destroy leaves no copy of the key behind.
func (k *Keys) Path(id string) string {
	sum := sha256.Sum256([]byte(id))
	name := hex.EncodeToString(sum[:])
	return filepath.Join(k.dir, name[:2], name)
}

// key returns id's key from the cache or its file, making it if create is
// set and id has none.
func (k *Keys) key(id string, create bool) ([]byte, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.cache[id]; ok {
		return key, nil
	}
	if gone, _, err := k.Destroyed(id); err != nil {
		return nil, err
	} else if gone {
		return nil, ErrDestroyed
	}
	path := k.Path(id)
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == KeySize:
	case err == nil:
		return nil, fmt.Errorf("shred: key file %s holds %d bytes, want %d", path, len(key), KeySize)
	case errors.Is(err, os.ErrNotExist) && create:
		if key, err = k.make(path); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, ErrNoKey
	default:
		return nil, fmt.Errorf("shred: read key: %w", err)
	}
	if len(k.cache) >= maxCached {
		clear(k.cache)
	}
	k.cache[id] = key
	return key, nil
}

// make writes a new random key to path: a temporary file, synced, renamed,
// and the directory synced.
func (k *Keys) make(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("shred: make a key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("shred: make a key: %w", err)
	}
	f, err := os.CreateTemp(dir, ".new-*")
	if err != nil {
		return nil, fmt.Errorf("shred: make a key: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("shred: make a key: %w", err)
	}
	return key, nil
}

// wipe overwrites id's key file with zeros, syncs and removes it. A missing
// file is not an error.
func (k *Keys) wipe(id string) error {
	path := k.Path(id)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.WriteAt(make([]byte, KeySize), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("shred: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("shred: %w", err)
	}
	return aead, nil
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("shred: key id of %d bytes; want 1 to %d", len(id), MaxIDLen)
	}
	return nil
}

func destroyedKey(id string) []byte { return append([]byte{prefixDestroyed}, id...) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
