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
//   - A key is durable before Seal or Derive return anything made with it.
//   - Ensure makes keys at no I/O cost of its own, for the party log's group
//     commits: it binds each new id to a slot of a pool of keys already made
//     and synced, and the binding becomes durable in the caller's own Pebble
//     batch (Bind), the one that holds what was sealed under the key. A
//     binding that never reached a committed batch leaves its slot free for
//     reuse after a restart, which is safe: nothing durable was sealed under
//     it. The pool is refilled in the background, many slots per fsync.
//   - Destroy is final and durable: the id is recorded as destroyed in the
//     node's Pebble database (keys 'K' id) before its slot is wiped, and from
//     the moment Destroy returns Seal, Open, Derive and Ensure for the id
//     fail with ErrDestroyed, across restarts. A slot left by a crash between
//     the record and the wipe is wiped when the keys open.
//
// Key files are "keys-NNNNNN" in the key directory, each a sequence of
// 72-byte slots: the SHA-256 of the id, the key, and the first 8 bytes of
// the SHA-256 of those 64 bytes. A slot whose check does not match (an append
// a crash cut short, or a wiped slot) holds no key. A pooled slot has 32
// bytes 0xFF in place of the id's hash; Pebble binds it to an id ('k' id
// hash → key file and slot number). Keys of the earlier layout, one file per
// id, are moved into a key file when the keys open.
//
// In memory the keys hold, per id, only where its slot is. A key is read from
// its slot when its cipher is made, and checked again there: a slot damaged
// since the keys opened is an error, never a wrong key. The ciphers of the
// keys in use are cached (see maxCiphers); a pass over many records, such as
// an audit, caches its own (see Pass).
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
	"encoding/binary"
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

// Pebble key spaces: destroyed ids ('K' id → the time of destruction, RFC
// 3339) and bindings of ids to pooled slots ('k' SHA-256 of the id → the
// key file's number and the slot's, 4 bytes each, big-endian).
const (
	prefixDestroyed = 'K'
	prefixBinding   = 'k'
)

// The pool: refilled by poolFill slots at once when it falls below poolLow.
const (
	poolFill = 1024
	poolLow  = 256
)

// poolMark stands in a pooled slot where a slot of its own has its id's
// hash.
var poolMark = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
}

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
	keys      map[[32]byte]loc // guarded by mu: id hash → where its key is (read when a cipher is made)
	destroyed map[string]bool  // guarded by mu
	free      []slot           // guarded by mu: pooled slots, synced, bound to no id
	unbound   map[string]slot  // guarded by mu: ids bound to pooled slots whose binding may not be durable
	passes    map[*Pass]bool   // guarded by mu: open passes, whose ciphers Destroy drops too

	rmu     sync.RWMutex
	readers map[int]*os.File // guarded by rmu: key files opened to read keys, by number

	ciphers *ciphers // of keys in use (see maxCiphers); a hit hashes no id

	fill chan struct{} // wakes the pool's filler
	stop chan struct{} // closed by Close, once
	once sync.Once
	done chan struct{} // closed when the filler has stopped
}

type slot struct {
	key  [KeySize]byte
	file int   // number of the key file
	off  int64 // offset of the slot in it
}

// loc is where a key's slot is: its key file's number in the high 32 bits,
// the slot's index in the low. The map of every id's key (a node has one per
// shipment) holds only this, 40 bytes an entry rather than 80; a key is read
// from its file (page-cached, 72 bytes) only when its cipher is made, which
// the cipher cache then holds.
type loc uint64

func locOf(file int, off int64) loc { return loc(uint64(file)<<32 | uint64(off/slotSize)) }

func (l loc) file() int  { return int(l >> 32) }
func (l loc) off() int64 { return int64(uint32(l)) * slotSize }

// maxCiphers bounds the ciphers held (about 800 bytes each, so some 13 MiB
// at most). A node sealing for more shipments than this at once evicts one
// cipher at random per new one, so the ciphers of busy shipments mostly
// stay. With 4,096 and a cache that started over when full, a lane of 5,000
// active shipments made a new cipher for most records it sealed: an eighth
// of the commit path's CPU.
const maxCiphers = 16384

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
		keys: map[[32]byte]loc{}, readers: map[int]*os.File{}, destroyed: map[string]bool{}, ciphers: newCiphers(maxCiphers), unbound: map[string]slot{}, passes: map[*Pass]bool{},
		fill: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	close(k.done) // no filler yet: Close may be called on the error paths below
	pooled, err := k.load()
	if err != nil {
		return nil, fmt.Errorf("open keys in %s: %w", dir, err)
	}
	if err := k.loadBindings(pooled); err != nil {
		k.Close()
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
	k.done = make(chan struct{})
	go k.filler()
	k.fill <- struct{}{}
	return k, nil
}

// Close stops the pool's filler and closes the key file being appended to.
func (k *Keys) Close() error {
	k.once.Do(func() { close(k.stop) })
	<-k.done
	k.rmu.Lock()
	for _, f := range k.readers {
		f.Close()
	}
	k.readers = nil // reader refuses from now on
	k.rmu.Unlock()
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
// to its last whole slot. It returns the pooled slots, by where they are.
func (k *Keys) load() (map[slotRef]slot, error) {
	pooled := map[slotRef]slot{}
	names, err := filepath.Glob(filepath.Join(k.dir, filePrefix+"*"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		var seq int
		if _, err := fmt.Sscanf(filepath.Base(name), filePrefix+"%06d", &seq); err != nil || filepath.Base(name) != fileName(seq) {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for off := 0; off+slotSize <= len(b); off += slotSize {
			s := b[off : off+slotSize]
			if !slotValid(s) {
				continue
			}
			var h [32]byte
			copy(h[:], s)
			if h == poolMark {
				sl := slot{file: seq, off: int64(off)}
				copy(sl.key[:], s[32:])
				pooled[slotRef{seq, int64(off)}] = sl
			} else {
				k.keys[h] = locOf(seq, int64(off))
			}
		}
		k.seq, k.n = seq, len(b)/slotSize
	}
	if k.seq == 0 {
		return pooled, nil
	}
	f, err := os.OpenFile(filepath.Join(k.dir, fileName(k.seq)), os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(k.n) * slotSize); err != nil {
		f.Close()
		return nil, err
	}
	k.tail = f
	return pooled, nil
}

// slotRef is where a slot is: its key file's number and its offset there.
type slotRef struct {
	file int
	off  int64
}

// loadBindings binds the pooled slots Pebble binds to ids, and pools the
// rest. A binding whose slot holds no key (wiped by Destroy) binds nothing.
func (k *Keys) loadBindings(pooled map[slotRef]slot) error {
	it, err := k.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixBinding}, UpperBound: []byte{prefixBinding + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		key, v := it.Key(), it.Value()
		if len(key) != 33 || len(v) != 8 {
			it.Close()
			return fmt.Errorf("corrupt key binding %x → %x", key, v)
		}
		ref := slotRef{int(binary.BigEndian.Uint32(v)), int64(binary.BigEndian.Uint32(v[4:])) * slotSize}
		if s, ok := pooled[ref]; ok {
			k.keys[[32]byte(key[1:])] = locOf(s.file, s.off)
			delete(pooled, ref)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, s := range pooled {
		k.free = append(k.free, s)
	}
	return nil
}

func bindingKey(h [32]byte) []byte { return append([]byte{prefixBinding}, h[:]...) }

func bindingValue(s slot) []byte {
	v := binary.BigEndian.AppendUint32(nil, uint32(s.file))
	return binary.BigEndian.AppendUint32(v, uint32(s.off/slotSize))
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

// Ensure makes a key for each of ids that has none, and returns the ids
// whose keys were destroyed (nothing can be sealed under those). A key it
// makes is a pooled slot bound to the id in memory: it becomes durable when
// a Pebble batch that Bind wrote into commits with a sync, or when Seal or
// Derive first use it. Ensure does no I/O unless the pool ran dry. An error
// means the key store failed.
func (k *Keys) Ensure(ids []string) (destroyed []string, err error) {
	missing := false
	k.mu.RLock()
	for _, id := range ids {
		if _, ok := k.ciphers.get(id); ok {
			continue // in use: it has a key, not destroyed (see aead)
		}
		switch {
		case k.destroyed[id]:
			if !slices.Contains(destroyed, id) {
				destroyed = append(destroyed, id)
			}
		case !k.has(id):
			missing = true
		}
	}
	k.mu.RUnlock()
	for missing {
		if missing, err = k.claim(ids); err != nil {
			return nil, err
		}
		if missing {
			if err := k.refill(1); err != nil {
				return nil, fmt.Errorf("shred: make keys: %w", err)
			}
		}
	}
	return destroyed, nil
}

// claim binds each of ids that has no key and was not destroyed to a pooled
// slot; short says the pool ran dry first.
func (k *Keys) claim(ids []string) (short bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer func() {
		if len(k.free) < poolLow {
			select {
			case k.fill <- struct{}{}:
			default:
			}
		}
	}()
	for _, id := range ids {
		h := sha256.Sum256([]byte(id))
		if _, ok := k.keys[h]; ok || k.destroyed[id] {
			continue
		}
		if err := checkID(id); err != nil {
			return false, err
		}
		if len(k.free) == 0 {
			return true, nil
		}
		s := k.free[len(k.free)-1]
		k.free = k.free[:len(k.free)-1]
		k.keys[h], k.unbound[id] = locOf(s.file, s.off), s
	}
	return false, nil
}

// Bind writes into b, a batch of the Pebble database the keys were opened
// with, the bindings of those of ids whose keys Ensure made and whose
// bindings may not be durable yet, and returns those ids (nil if none). A
// batch holding data sealed under a key Ensure made must carry its binding.
// Once b has committed with a sync, the caller passes the ids to Bound.
func (k *Keys) Bind(b *pebble.Batch, ids []string) []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.unbound) == 0 {
		return nil
	}
	var bound []string
	for _, id := range ids {
		if s, ok := k.unbound[id]; ok {
			b.Set(bindingKey(sha256.Sum256([]byte(id))), bindingValue(s), nil)
			bound = append(bound, id)
		}
	}
	return bound
}

// Bound records that the bindings Bind wrote for ids are durable.
func (k *Keys) Bound(ids []string) {
	if len(ids) == 0 {
		return
	}
	k.mu.Lock()
	for _, id := range ids {
		delete(k.unbound, id)
	}
	k.mu.Unlock()
}

// bindNow makes id's binding durable by itself, for a key about to seal
// data that no batch of Bind's caller carries (documents).
func (k *Keys) bindNow(id string, s slot) error {
	if err := k.db.Set(bindingKey(sha256.Sum256([]byte(id))), bindingValue(s), pebble.Sync); err != nil {
		return fmt.Errorf("shred: bind a key: %w", err)
	}
	k.Bound([]string{id})
	return nil
}

// filler keeps the pool at least poolLow slots deep, until Close.
func (k *Keys) filler() {
	defer close(k.done)
	for {
		select {
		case <-k.stop:
			return
		case <-k.fill:
		}
		if err := k.refill(poolLow); err != nil {
			k.logger.Error("filling the pool of data keys failed; new shipments make their keys as they come", "err", err)
		}
	}
}

// refill adds poolFill synced slots to the pool unless it holds at least
// want already.
func (k *Keys) refill(want int) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	k.mu.RLock()
	n := len(k.free)
	k.mu.RUnlock()
	if n >= want {
		return nil
	}
	hs := make([][32]byte, poolFill)
	keys := make([][KeySize]byte, poolFill)
	for i := range hs {
		hs[i] = poolMark
		if _, err := io.ReadFull(rand.Reader, keys[i][:]); err != nil {
			return err
		}
	}
	return k.append(hs, keys)
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
	b := k.db.NewBatch()
	defer b.Close()
	b.Set(destroyedKey(id), []byte(at), nil)
	// A binding that may not be durable yet goes with the record: if a crash
	// comes before the wipe, Open finds the slot by it and wipes it, rather
	// than pooling the key for another id.
	k.mu.RLock()
	if s, ok := k.unbound[id]; ok {
		b.Set(bindingKey(sha256.Sum256([]byte(id))), bindingValue(s), nil)
	}
	k.mu.RUnlock()
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("shred: record %q as destroyed: %w", id, err)
	}
	k.mu.Lock()
	k.destroyed[id] = true
	k.ciphers.drop(id)
	for p := range k.passes {
		p.ciphers.Load().drop(id)
	}
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
	// A cached cipher's id was not destroyed: Destroy drops the cipher
	// under the write lock it records the id with, and a cipher is put
	// under the read lock, after a look at the record. Nor is it invalid:
	// one is put only once key has found the id's key.
	a, ok := k.ciphers.get(id)
	if ok && create {
		k.mu.RLock()
		_, unbound := k.unbound[id]
		k.mu.RUnlock()
		ok = !unbound // a key Seal is to use is bound first, by key
	}
	if ok {
		return a, nil
	}
	key, err := k.key(id, create)
	if err != nil {
		return nil, err
	}
	if a, err = newAEAD(key[:]); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed[id] {
		return nil, ErrDestroyed
	}
	k.ciphers.put(id, a)
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
		l, ok := k.keys[h]
		gone := k.destroyed[id]
		s, unbound := k.unbound[id]
		k.mu.RUnlock()
		switch {
		case gone:
			return [KeySize]byte{}, ErrDestroyed
		case ok && create && unbound:
			if err := k.bindNow(id, s); err != nil {
				return [KeySize]byte{}, err
			}
			return s.key, nil
		case ok && unbound:
			return s.key, nil
		case ok:
			return k.readKey(id, h, l)
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
// only then makes the keys usable, or pools them where hs holds poolMark.
// The caller holds wmu.
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
			off := at + int64(i)*slotSize
			if hs[i] == poolMark {
				k.free = append(k.free, slot{key: keys[i], file: k.seq, off: off})
			} else {
				k.keys[hs[i]] = locOf(k.seq, off)
			}
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
	l, ok := k.keys[h]
	delete(k.keys, h)
	delete(k.unbound, id)
	k.mu.Unlock()
	if !ok {
		return nil
	}
	return wipeFile(filepath.Join(k.dir, fileName(l.file())), l.off(), slotSize)
}

// readKey reads id's key from its slot at l. The slot names id by its hash
// h, or is a pooled slot (bound to id in Pebble). A slot that no longer
// holds a key was wiped by a Destroy that raced with the caller.
func (k *Keys) readKey(id string, h [32]byte, l loc) ([KeySize]byte, error) {
	f, err := k.reader(l.file())
	if err != nil {
		return [KeySize]byte{}, fmt.Errorf("shred: read the key of %q: %w", id, err)
	}
	var b [slotSize]byte
	if _, err := f.ReadAt(b[:], l.off()); err != nil {
		return [KeySize]byte{}, fmt.Errorf("shred: read the key of %q: %w", id, err)
	}
	if !slotValid(b[:]) {
		k.mu.RLock()
		gone := k.destroyed[id]
		k.mu.RUnlock()
		if gone {
			return [KeySize]byte{}, ErrDestroyed
		}
		return [KeySize]byte{}, fmt.Errorf("shred: the slot of %q's key in %s is damaged", id, fileName(l.file()))
	}
	if [32]byte(b[:32]) != h && [32]byte(b[:32]) != poolMark {
		return [KeySize]byte{}, fmt.Errorf("shred: the slot of %q's key in %s holds another id's key", id, fileName(l.file()))
	}
	return [KeySize]byte(b[32:64]), nil
}

// reader returns key file n opened for reading.
func (k *Keys) reader(n int) (*os.File, error) {
	k.rmu.RLock()
	f, ok := k.readers[n]
	k.rmu.RUnlock()
	if ok {
		return f, nil
	}
	k.rmu.Lock()
	defer k.rmu.Unlock()
	if k.readers == nil {
		return nil, errors.New("the keys are closed")
	}
	if f, ok := k.readers[n]; ok {
		return f, nil
	}
	f, err := os.Open(filepath.Join(k.dir, fileName(n)))
	if err != nil {
		return nil, err
	}
	k.readers[n] = f
	return f, nil
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
	h := sha256.Sum256([]byte(id))
	k.mu.RLock()
	l, ok := k.keys[h]
	gone := k.destroyed[id]
	s, unbound := k.unbound[id]
	k.mu.RUnlock()
	switch {
	case !ok || gone:
		return nil, false
	case unbound:
		return bytes.Clone(s.key[:]), true
	}
	key, err := k.readKey(id, h, l)
	if err != nil {
		return nil, false
	}
	return bytes.Clone(key[:]), true
}
