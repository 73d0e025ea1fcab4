// Package shred keeps a node's per-shipment data keys, which make erasure by
// crypto-shredding possible: whatever a node keeps at rest of a shipment's
// payloads (event records, documents) is encrypted under that shipment's key
// (AES-256-GCM), so destroying the key makes every copy unreadable — the
// live files, store pages not yet compacted away, backups — while hashes,
// roots and proofs computed over the plaintext stay valid.
//
// It promises:
//
//   - Keys live in key files of their own under the key directory, never in
//     Pebble. Pebble keeps a deleted value in its write-ahead log and tables
//     until compactions drop it, and recycles WAL files without wiping them,
//     so a key deleted from Pebble could be read back from the data
//     directory. Destroy overwrites the key's slot with zeros in place and
//     syncs the file.
//   - A key is durable before Seal, Derive or Ensure return anything made
//     with it. Ensure makes the keys of many ids with one write and one fsync,
//     so the party log can seal a group commit's events at the cost of one
//     extra fsync when the group opens new shipments.
//   - Destroy is final and durable: the id is recorded as destroyed in the
//     node's Pebble database (keys 'K' id) before its slot is wiped, and from
//     the moment Destroy returns Seal, Open, Derive and Ensure for the id
//     fail with ErrDestroyed, across restarts. A slot left by a crash between
//     the record and the wipe is wiped when the keys open.
//
// Key files are "keys-NNNNNN" in the key directory, each a sequence of
// 72-byte slots: the SHA-256 of the id, the key, and the first 8 bytes of
// the SHA-256 of those 64 bytes. A slot whose check does not match (an append
// a crash cut short, or a wiped slot) holds no key. Keys of the earlier
// layout, one file per id, are moved into a key file when the keys open.
//
// Keys never leave the node: each node of a lane has its own key for a
// shipment, and erasure reaches every node by an event (see internal/docs).
// All methods may be called concurrently.
package shred

import (
	"bytes"
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
	"slices"
	"strings"
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

// Slots of a key file.
const (
	slotSize     = 32 + KeySize + 8
	slotsPerFile = 1 << 16
	filePrefix   = "keys-"
)

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

	wmu  sync.Mutex // serializes writes to the key files
	tail *os.File   // guarded by wmu: the key file new keys are appended to
	seq  int        // guarded by wmu: its number
	n    int        // guarded by wmu: slots in it

	mu        sync.RWMutex
	keys      map[[32]byte]slot        // guarded by mu: id hash → its key and where it is
	destroyed map[string]bool          // guarded by mu
	aeads     map[[32]byte]cipher.AEAD // guarded by mu: ciphers of keys in use
}

type slot struct {
	key  [KeySize]byte
	file int   // number of the key file
	off  int64 // offset of the slot in it
}

// maxCiphers bounds the ciphers held; beyond it the cache starts over.
const maxCiphers = 4096

// Open returns the keys kept in dir, with destroyed ids recorded in db. It
// wipes the slot of any id recorded as destroyed (a crash between Destroy's
// two steps). logger nil discards.
func Open(db *pebble.DB, dir string, logger *slog.Logger) (*Keys, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open keys: %w", err)
	}
	k := &Keys{db: db, dir: dir, logger: logger,
		keys: map[[32]byte]slot{}, destroyed: map[string]bool{}, aeads: map[[32]byte]cipher.AEAD{}}
	if err := k.load(); err != nil {
		return nil, fmt.Errorf("open keys in %s: %w", dir, err)
	}
	if err := k.migrate(); err != nil {
		k.Close()
		return nil, fmt.Errorf("open keys in %s: move the keys of the earlier layout: %w", dir, err)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDestroyed}, UpperBound: []byte{prefixDestroyed + 1}})
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("open keys: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[1:])
		k.destroyed[id] = true
		if err := k.wipe(id); err != nil {
			k.Close()
			return nil, fmt.Errorf("open keys: wipe the key of destroyed %q: %w", id, err)
		}
	}
	if err := it.Error(); err != nil {
		k.Close()
		return nil, fmt.Errorf("open keys: %w", err)
	}
	return k, nil
}

// Close closes the key file being appended to.
func (k *Keys) Close() error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	if k.tail == nil {
		return nil
	}
	err := k.tail.Close()
	k.tail = nil
	return err
}

// load reads every key file, and opens the newest for appending, cut back
// to its last whole slot.
func (k *Keys) load() error {
	names, err := filepath.Glob(filepath.Join(k.dir, filePrefix+"*"))
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		var seq int
		if _, err := fmt.Sscanf(filepath.Base(name), filePrefix+"%06d", &seq); err != nil || filepath.Base(name) != fileName(seq) {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for off := 0; off+slotSize <= len(b); off += slotSize {
			s := b[off : off+slotSize]
			if !slotValid(s) {
				continue
			}
			var h [32]byte
			copy(h[:], s)
			sl := slot{file: seq, off: int64(off)}
			copy(sl.key[:], s[32:])
			k.keys[h] = sl
		}
		k.seq, k.n = seq, len(b)/slotSize
	}
	if k.seq == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(k.dir, fileName(k.seq)), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(k.n) * slotSize); err != nil {
		f.Close()
		return err
	}
	k.tail = f
	return nil
}

// migrate moves keys of the earlier layout (a file per id, named by the
// id's hash in a directory named by its first two hex digits) into a key
// file, then wipes and removes their files.
func (k *Keys) migrate() error {
	olds, err := filepath.Glob(filepath.Join(k.dir, "[0-9a-f][0-9a-f]", "*"))
	if err != nil || len(olds) == 0 {
		return err
	}
	var hs [][32]byte
	var keys [][KeySize]byte
	var paths []string
	for _, p := range olds {
		name := filepath.Base(p)
		raw, err := hex.DecodeString(name)
		if err != nil || len(raw) != 32 || strings.HasPrefix(name, ".") {
			continue // a temporary file a crash left: it never held a key in use
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(b) != KeySize || bytes.Equal(b, make([]byte, KeySize)) {
			continue
		}
		var h [32]byte
		var key [KeySize]byte
		copy(h[:], raw)
		copy(key[:], b)
		if _, ok := k.keys[h]; !ok {
			hs, keys = append(hs, h), append(keys, key)
		}
		paths = append(paths, p)
	}
	k.wmu.Lock()
	err = k.append(hs, keys)
	k.wmu.Unlock()
	if err != nil {
		return err
	}
	for _, p := range olds {
		if err := wipeFile(p, 0, KeySize); err != nil {
			return err
		}
	}
	for _, d := range uniqueDirs(olds) {
		os.Remove(d) // empty now, or holding something not ours: leave it
	}
	k.logger.Info("data keys moved into a key file", "keys", len(hs), "files", len(paths))
	return syncDir(k.dir)
}

// Seal encrypts plaintext under id's key, making the key if id has none,
// and authenticates aad with it. The result is a random nonce followed by
// the ciphertext.
func (k *Keys) Seal(id string, plaintext, aad []byte) ([]byte, error) {
	aead, err := k.aead(id, true)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, plaintext, aad), nil
}

// Open decrypts what Seal returned for id and aad.
func (k *Keys) Open(id string, sealed, aad []byte) ([]byte, error) {
	aead, err := k.aead(id, false)
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
	sub, err := hkdf.Key(sha256.New, key[:], nil, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("shred: derive a key: %w", err)
	}
	return sub, nil
}

// Ensure makes a durable key for each of ids that has none, with one write
// and one fsync for all of them, and returns the ids whose keys were
// destroyed (nothing can be sealed under those). An error means no key was
// made.
func (k *Keys) Ensure(ids []string) (destroyed []string, err error) {
	var missing []string
	k.mu.RLock()
	for _, id := range ids {
		switch {
		case k.destroyed[id]:
			if !slices.Contains(destroyed, id) {
				destroyed = append(destroyed, id)
			}
		case !k.has(id):
			missing = append(missing, id)
		}
	}
	k.mu.RUnlock()
	if len(missing) == 0 {
		return destroyed, nil
	}
	for _, id := range missing {
		if err := checkID(id); err != nil {
			return nil, err
		}
	}
	return destroyed, k.make(missing)
}

func (k *Keys) has(id string) bool {
	_, ok := k.keys[sha256.Sum256([]byte(id))]
	return ok
}

// Destroy erases id's key for good: it records id as destroyed, durably,
// then overwrites the key's slot with zeros and syncs its file. Destroying
// an id with no key, or one already destroyed, records it as destroyed and
// succeeds.
func (k *Keys) Destroy(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	if err := k.db.Set(destroyedKey(id), []byte(at), pebble.Sync); err != nil {
		return fmt.Errorf("shred: record %q as destroyed: %w", id, err)
	}
	k.mu.Lock()
	k.destroyed[id] = true
	delete(k.aeads, sha256.Sum256([]byte(id)))
	k.mu.Unlock()
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

// Dir is the directory of the key files. Tests scan it to prove Destroy
// leaves no copy of a key behind.
func (k *Keys) Dir() string { return k.dir }

// AEAD returns the cipher (AES-256-GCM with random nonces) of id's key,
// which must exist (Ensure): ErrNoKey if it does not, ErrDestroyed if it
// was destroyed. Callers sealing many records under one key fetch it once.
func (k *Keys) AEAD(id string) (cipher.AEAD, error) { return k.aead(id, false) }

// aead returns the cipher of id's key, making the key if create is set and
// id has none.
func (k *Keys) aead(id string, create bool) (cipher.AEAD, error) {
	h := sha256.Sum256([]byte(id))
	k.mu.RLock()
	a, ok := k.aeads[h]
	gone := k.destroyed[id]
	k.mu.RUnlock()
	switch {
	case gone:
		return nil, ErrDestroyed
	case ok:
		return a, nil
	}
	key, err := k.key(id, create)
	if err != nil {
		return nil, err
	}
	if a, err = newAEAD(key[:]); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed[id] {
		return nil, ErrDestroyed
	}
	if len(k.aeads) >= maxCiphers {
		clear(k.aeads)
	}
	k.aeads[h] = a
	return a, nil
}

// key returns id's key, making it if create is set and id has none.
func (k *Keys) key(id string, create bool) ([KeySize]byte, error) {
	if err := checkID(id); err != nil {
		return [KeySize]byte{}, err
	}
	h := sha256.Sum256([]byte(id))
	for {
		k.mu.RLock()
		s, ok := k.keys[h]
		gone := k.destroyed[id]
		k.mu.RUnlock()
		switch {
		case gone:
			return [KeySize]byte{}, ErrDestroyed
		case ok:
			return s.key, nil
		case !create:
			return [KeySize]byte{}, ErrNoKey
		}
		if err := k.make([]string{id}); err != nil {
			return [KeySize]byte{}, err
		}
	}
}

// make appends new keys for those of ids that still have none (another
// caller may have made some meanwhile) and syncs them.
func (k *Keys) make(ids []string) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	var hs [][32]byte
	seen := make(map[[32]byte]bool, len(ids))
	k.mu.RLock()
	for _, id := range ids {
		h := sha256.Sum256([]byte(id))
		if _, ok := k.keys[h]; !ok && !k.destroyed[id] && !seen[h] {
			seen[h] = true
			hs = append(hs, h)
		}
	}
	k.mu.RUnlock()
	keys := make([][KeySize]byte, len(hs))
	for i := range keys {
		if _, err := io.ReadFull(rand.Reader, keys[i][:]); err != nil {
			return fmt.Errorf("shred: make a key: %w", err)
		}
	}
	if err := k.append(hs, keys); err != nil {
		return fmt.Errorf("shred: make a key: %w", err)
	}
	return nil
}

// append writes slots for hs and keys to the key files, syncs them, and
// only then makes the keys usable. The caller holds wmu.
func (k *Keys) append(hs [][32]byte, keys [][KeySize]byte) error {
	for len(hs) > 0 {
		if k.tail == nil || k.n >= slotsPerFile {
			if err := k.roll(); err != nil {
				return err
			}
		}
		n := min(len(hs), slotsPerFile-k.n)
		buf := make([]byte, 0, n*slotSize)
		for i := range n {
			buf = appendSlot(buf, hs[i], keys[i])
		}
		at := int64(k.n) * slotSize
		if _, err := k.tail.WriteAt(buf, at); err != nil {
			return err
		}
		if err := k.tail.Sync(); err != nil {
			// What was written may or may not be on disk; the slots are not
			// used, and the next append writes over them.
			return err
		}
		k.mu.Lock()
		for i := range n {
			k.keys[hs[i]] = slot{key: keys[i], file: k.seq, off: at + int64(i)*slotSize}
		}
		k.mu.Unlock()
		k.n += n
		hs, keys = hs[n:], keys[n:]
	}
	return nil
}

// roll starts a new key file. The caller holds wmu.
func (k *Keys) roll() error {
	f, err := os.OpenFile(filepath.Join(k.dir, fileName(k.seq+1)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(k.dir); err != nil {
		f.Close()
		return err
	}
	if k.tail != nil {
		k.tail.Close()
	}
	k.tail, k.seq, k.n = f, k.seq+1, 0
	return nil
}

// wipe overwrites id's slot with zeros and syncs its file. An id without a
// key is not an error.
func (k *Keys) wipe(id string) error {
	h := sha256.Sum256([]byte(id))
	k.wmu.Lock()
	defer k.wmu.Unlock()
	k.mu.Lock()
	s, ok := k.keys[h]
	delete(k.keys, h)
	k.mu.Unlock()
	if !ok {
		return nil
	}
	return wipeFile(filepath.Join(k.dir, fileName(s.file)), s.off, slotSize)
}

func wipeFile(path string, off int64, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.WriteAt(make([]byte, n), off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || off != 0 || strings.HasPrefix(filepath.Base(path), filePrefix) {
		return err
	}
	// A key file of the earlier layout: one key, gone with its file.
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func appendSlot(b []byte, h [32]byte, key [KeySize]byte) []byte {
	b = append(b, h[:]...)
	b = append(b, key[:]...)
	sum := sha256.Sum256(b[len(b)-64:])
	return append(b, sum[:8]...)
}

func slotValid(s []byte) bool {
	sum := sha256.Sum256(s[:64])
	return bytes.Equal(sum[:8], s[64:]) && !bytes.Equal(s[:64], make([]byte, 64))
}

func fileName(seq int) string { return fmt.Sprintf("%s%06d", filePrefix, seq) }

func uniqueDirs(paths []string) []string {
	var out []string
	for _, p := range paths {
		if d := filepath.Dir(p); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
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

// KeyMaterial returns a copy of id's key, if it has one. Tests use it to
// prove that no copy of a key is left on disk after Destroy; nothing else
// should: never log or send what it returns.
func (k *Keys) KeyMaterial(id string) ([]byte, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	s, ok := k.keys[sha256.Sum256([]byte(id))]
	if !ok || k.destroyed[id] {
		return nil, false
	}
	return bytes.Clone(s.key[:]), true
}
