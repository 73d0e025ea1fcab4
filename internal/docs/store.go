package docs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shred"
)

// Key layout, in the node's one Pebble database:
//
//	'F' 'd' sha(64 hex)                           → Document JSON
//	'F' 's' kind(b|t|q) ref 0x00 sha              → (empty): documents by shipment reference
//	'F' 'a' sha 0x00 origin 0x00 index(8)         → event id: attestations of a document
//	'F' 'c'                                       → the position of the event follower (subscribe.Cursor)
//
// Files, under the documents directory:
//
//	<sha[:2]>/<sha>        a document, encrypted (see crypt.go)
//	tmp/up-*.part          uploads in progress; removed when the store opens
//	tmp/<sha>.fetch        a transfer from a peer, kept to resume after a cut
const (
	prefix       = 'F'
	kindDoc      = 'd'
	kindShipment = 's'
	kindAttest   = 'a'
	kindCursor   = 'c'
)

// DefaultMaxSize is the size limit of a document when Options.MaxSize is 0.
const DefaultMaxSize = 100 << 20

// Options configure OpenStore.
type Options struct {
	// MaxSize bounds a document in bytes; larger uploads and transfers are
	// refused with too_large. Zero means DefaultMaxSize (100 MiB).
	MaxSize int64
	// Logger nil discards.
	Logger *slog.Logger
}

// Store keeps the documents of one node. All methods may be called
// concurrently.
type Store struct {
	db     *pebble.DB
	dir    string
	keys   *shred.Keys
	max    int64
	logger *slog.Logger

	// mu serialises changes of records with the file moves they go with,
	// so an erasure and a commit of the same shipment never interleave.
	mu      sync.Mutex
	busy    map[string]bool          // hashes being written by an upload or a transfer; guarded by mu
	changed map[string]chan struct{} // closed at the next change of a hash's record; guarded by mu
}

// OpenStore opens the documents kept in dir (files) and db (records), with
// keys under keys. It removes what a crash left half-done: uploads in
// progress, transfers of documents no longer being fetched, and the files
// of documents whose shipment was erased.
func OpenStore(db *pebble.DB, dir string, keys *shred.Keys, o Options) (*Store, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("open documents: %w", err)
	}
	s := &Store{db: db, dir: dir, keys: keys, max: o.MaxSize, logger: o.Logger, busy: map[string]bool{}, changed: map[string]chan struct{}{}}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("open documents: %w", err)
	}
	return s, nil
}

func (s *Store) recover() error {
	tmp, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return err
	}
	for _, e := range tmp {
		name := e.Name()
		if sha, ok := strings.CutSuffix(name, ".fetch"); ok {
			if d, err := s.Get(sha); err == nil && d.State == Fetching {
				continue // resumed by the fetcher
			}
		}
		if err := os.Remove(filepath.Join(s.dir, "tmp", name)); err != nil {
			return err
		}
	}
	return s.each(func(d Document) error {
		if d.State == Erased {
			return s.removeFiles(d.SHA256)
		}
		// A crash between destroying a shipment's key and marking its
		// documents erased: finish the erasure.
		for _, id := range d.Shipment.keyIDs() {
			if gone, _, err := s.keys.Destroyed(id); err != nil {
				return err
			} else if gone {
				_, err := s.eraseLocked(d, "its shipment was erased")
				return err
			}
		}
		return nil
	})
}

// MaxSize is the size limit of a document in bytes.
func (s *Store) MaxSize() int64 { return s.max }

// Keys is the data key store the documents are encrypted under.
func (s *Store) Keys() *shred.Keys { return s.keys }

func docKey(sha string) []byte { return append([]byte{prefix, kindDoc}, sha...) }

func shipmentKeys(d *Document) [][]byte {
	var out [][]byte
	for _, r := range d.Shipment.refKeys() {
		k := append([]byte{prefix, kindShipment, r[0]}, r[2:]...)
		k = append(append(k, 0), d.SHA256...)
		out = append(out, k)
	}
	return out
}

func attestPrefix(sha string) []byte {
	return append(append([]byte{prefix, kindAttest}, sha...), 0)
}

// Get returns the record of the document with hash sha.
func (s *Store) Get(sha string) (Document, error) {
	v, closer, err := s.db.Get(docKey(sha))
	if errors.Is(err, pebble.ErrNotFound) {
		return Document{}, errNotFound(sha)
	}
	if err != nil {
		return Document{}, fmt.Errorf("docs: get %s: %w", sha, err)
	}
	defer closer.Close()
	var d Document
	if err := json.Unmarshal(v, &d); err != nil {
		return Document{}, fmt.Errorf("docs: record of %s: %w", sha, err)
	}
	return d, nil
}

// each calls fn with every record.
func (s *Store) each(fn func(Document) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix, kindDoc}, UpperBound: []byte{prefix, kindDoc + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var d Document
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			return fmt.Errorf("docs: record %q: %w", it.Key(), err)
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return it.Error()
}

// MaxList bounds the records List returns.
const MaxList = 1000

// List returns the records of the documents of a shipment: those that share
// a reference with sh, by hash; every record if sh is zero. It returns at
// most MaxList.
func (s *Store) List(sh Shipment) ([]Document, error) {
	var out []Document
	if sh.IsZero() {
		err := s.each(func(d Document) error {
			if len(out) == MaxList {
				return errStop
			}
			out = append(out, d)
			return nil
		})
		if err != nil && err != errStop {
			return nil, err
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, r := range sh.refKeys() {
		lo := append(append([]byte{prefix, kindShipment, r[0]}, r[2:]...), 0)
		hi := append(bytes.Clone(lo[:len(lo)-1]), 1)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return nil, err
		}
		for ok := it.First(); ok && len(out) < MaxList; ok = it.Next() {
			sha := string(it.Key()[len(lo):])
			if seen[sha] {
				continue
			}
			seen[sha] = true
			d, err := s.Get(sha)
			if err != nil {
				it.Close()
				return nil, err
			}
			out = append(out, d)
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var errStop = errors.New("stop")

// putLocked writes d's record and shipment index, durably, and wakes those
// awaiting it. The caller holds mu.
func (s *Store) putLocked(d Document) error {
	d.Updated = time.Now().UTC()
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(docKey(d.SHA256), v, nil)
	for _, k := range shipmentKeys(&d) {
		b.Set(k, nil, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("docs: record %s: %w", d.SHA256, err)
	}
	if ch, ok := s.changed[d.SHA256]; ok {
		close(ch)
		delete(s.changed, d.SHA256)
	}
	return nil
}

// Learn keeps the record of a document this node has heard of from an
// ISSUED event but does not hold (state Fetching, or Erased if its
// shipment was erased here). It returns false if the store already has a
// record of sha.
func (s *Store) Learn(d Document) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(d.SHA256); err == nil {
		return false, nil
	} else if linkd.ErrorCode(err) != linkd.ENotFound {
		return false, err
	}
	erased, err := s.erased(d.Shipment)
	if err != nil {
		return false, err
	}
	if erased {
		d.State, d.Note = Erased, "its shipment was erased before the document reached this node"
	}
	return true, s.putLocked(d)
}

// Share widens the visibility of sha's record, a document issuer issued,
// to take in parties: the issuer shared it again. It returns whether the
// record changed. A record of another issuer's document, or one without a
// visibility (the matrix alone decides), is left as it is.
func (s *Store) Share(sha, issuer string, parties []string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.Get(sha)
	if err != nil {
		return false, err
	}
	if d.Issuer != issuer || len(d.Visibility) == 0 {
		return false, nil
	}
	vis := slices.Clone(d.Visibility)
	for _, p := range parties {
		if !slices.Contains(vis, p) {
			vis = append(vis, p)
		}
	}
	if len(vis) == len(d.Visibility) {
		return false, nil
	}
	slices.Sort(vis)
	d.Visibility = vis
	return true, s.putLocked(d)
}

// SetState changes the state of sha's record, with a note (why it is
// erased, why a transfer keeps failing). A record that is erased stays so.
func (s *Store) SetState(sha string, st State, note string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.Get(sha)
	if err != nil {
		return err
	}
	if d.State == Erased {
		return nil
	}
	d.State, d.Note = st, note
	return s.putLocked(d)
}

// Await waits until sha's record satisfies cond, and returns it.
func (s *Store) Await(ctx context.Context, sha string, cond func(Document) bool) (Document, error) {
	for {
		s.mu.Lock()
		ch, ok := s.changed[sha]
		if !ok {
			ch = make(chan struct{})
			s.changed[sha] = ch
		}
		s.mu.Unlock()
		d, err := s.Get(sha)
		if err != nil && linkd.ErrorCode(err) != linkd.ENotFound {
			return Document{}, err
		}
		if err == nil && cond(d) {
			return d, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Document{}, ctx.Err()
		}
	}
}

// claim marks sha as being written, or says it already is.
func (s *Store) claim(sha string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[sha] {
		return linkd.Errorf(linkd.EConflict, "document %s is being stored right now; retry when that finishes", sha)
	}
	s.busy[sha] = true
	return nil
}

func (s *Store) release(sha string) {
	s.mu.Lock()
	delete(s.busy, sha)
	s.mu.Unlock()
}

// path is where the document with hash sha is kept.
func (s *Store) path(sha string) string { return filepath.Join(s.dir, sha[:2], sha) }

func (s *Store) partPath(sha string) string { return filepath.Join(s.dir, "tmp", sha+".fetch") }

// Staged is a document's bytes written, encrypted and synced to a temporary
// file, not yet visible. Commit makes it visible; Discard removes it.
type Staged struct {
	path  string
	keyID string
	sha   string
	size  int64
	media string // sniffed
}

// SHA256 is the hash of the staged bytes, lowercase hex.
func (st *Staged) SHA256() string { return st.sha }

// Size is the number of staged bytes.
func (st *Staged) Size() int64 { return st.size }

// MediaType is the media type the bytes were sniffed as ("" unknown).
func (st *Staged) MediaType() string { return st.media }

// Discard removes the staged file.
func (st *Staged) Discard() { os.Remove(st.path) }

// intake is what every byte of an incoming document passes: the hash, the
// first bytes for sniffing, and the encrypting writer.
type intake struct {
	w    *sealWriter
	h    hash.Hash
	head []byte
}

func (in *intake) Write(p []byte) (int, error) {
	in.see(p)
	return in.w.Write(p)
}

// see takes plaintext into the hash and the head.
func (in *intake) see(p []byte) {
	in.h.Write(p)
	if n := sniffLen - len(in.head); n > 0 {
		in.head = append(in.head, p[:min(n, len(p))]...)
	}
}

// Receive streams a document from r into an encrypted temporary file under
// keyID's key, at most MaxSize bytes. Nothing of it is visible until
// Commit. It refuses (and removes what it wrote): more than MaxSize bytes
// (too_large), a stream that fails or ends early (invalid: the upload was
// cut off), an empty document, and bytes that are not PDF, JSON or XML or
// not the declared Content-Type (invalid).
func (s *Store) Receive(r io.Reader, keyID, contentType string) (*Staged, error) {
	declared, err := declaredMedia(contentType)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "up-*.part")
	if err != nil {
		return nil, fmt.Errorf("docs: stage an upload: %w", err)
	}
	st := &Staged{path: f.Name(), keyID: keyID}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			st.Discard()
		}
	}()
	w, err := newSealWriter(f, s.keys, keyID)
	if err != nil {
		return nil, s.keyErr(keyID, err)
	}
	in := &intake{w: w, h: sha256.New()}
	n, err := io.Copy(in, io.LimitReader(r, s.max+1))
	switch {
	case n > s.max:
		return nil, linkd.Errorf(linkd.ETooLarge, "the document is over the limit of %d bytes", s.max)
	case err != nil:
		return nil, &linkd.Error{Code: linkd.EInvalid, Message: fmt.Sprintf("the upload was cut off after %d bytes; nothing was stored, send it again", n), Err: err}
	case n == 0:
		return nil, linkd.Errorf(linkd.EInvalid, "the document is empty")
	}
	media, err := checkMedia(declared, Sniff(in.head))
	if err != nil {
		return nil, err
	}
	if err := w.Finish(); err != nil {
		return nil, fmt.Errorf("docs: stage an upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("docs: stage an upload: %w", err)
	}
	st.sha, st.size, st.media = hex.EncodeToString(in.h.Sum(nil)), n, media
	ok = true
	return st, nil
}

// keyErr explains a key failure for a shipment's document.
func (s *Store) keyErr(keyID string, err error) error {
	if errors.Is(err, shred.ErrDestroyed) {
		return linkd.Errorf(linkd.EConflict, "shipment %s was erased: no document of it can be stored again", keyID)
	}
	return err
}

// erased reports whether any of sh's references was erased on this node.
func (s *Store) erased(sh Shipment) (bool, error) {
	for _, id := range sh.keyIDs() {
		gone, _, err := s.keys.Destroyed(id)
		if err != nil || gone {
			return gone, err
		}
	}
	return false, nil
}

// Commit makes a staged document visible under record d (whose SHA256,
// Size and MediaType it sets): the file is renamed into place, then the
// record is written. A document of an erased shipment is refused
// (conflict) and the staged file removed.
func (s *Store) Commit(st *Staged, d Document) (Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	erased, err := s.erased(d.Shipment)
	if err == nil && erased {
		err = linkd.Errorf(linkd.EConflict, "shipment %s was erased: no document of it can be stored again", d.Shipment)
	}
	if err != nil {
		st.Discard()
		return Document{}, err
	}
	d.SHA256, d.Size, d.MediaType = st.sha, st.size, st.media
	dst := s.path(d.SHA256)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		st.Discard()
		return Document{}, fmt.Errorf("docs: commit %s: %w", d.SHA256, err)
	}
	if err := os.Rename(st.path, dst); err != nil {
		st.Discard()
		return Document{}, fmt.Errorf("docs: commit %s: %w", d.SHA256, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		os.Remove(dst)
		return Document{}, fmt.Errorf("docs: commit %s: %w", d.SHA256, err)
	}
	if err := s.putLocked(d); err != nil {
		os.Remove(dst)
		return Document{}, err
	}
	return d, nil
}

// Remove deletes a document's file, transfer and record: the rollback of an
// upload whose ISSUED event could not be recorded.
func (s *Store) Remove(sha string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.Get(sha)
	if err != nil && linkd.ErrorCode(err) != linkd.ENotFound {
		return err
	}
	if err := s.removeFiles(sha); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(docKey(sha), nil)
	for _, k := range shipmentKeys(&d) {
		b.Delete(k, nil)
	}
	return b.Commit(pebble.Sync)
}

func (s *Store) removeFiles(sha string) error {
	for _, p := range []string{s.path(sha), s.partPath(sha)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("docs: remove %s: %w", p, err)
		}
	}
	return nil
}

// Open returns a reader of the plaintext of an available document and its
// record. An erased document is an *ErasedError; one not yet here is
// unavailable; one unknown is not_found.
func (s *Store) Open(sha string) (*Reader, Document, error) {
	d, err := s.Get(sha)
	if err != nil {
		return nil, Document{}, err
	}
	switch d.State {
	case Erased:
		return nil, d, &ErasedError{SHA256: sha, Note: d.Note}
	case Fetching:
		return nil, d, linkd.Errorf(linkd.EUnavailable, "document %s is on its way from %s's node; retry shortly", sha, d.Issuer)
	case Pending:
		return nil, d, linkd.Errorf(linkd.EUnavailable, "document %s is being recorded; retry shortly", sha)
	}
	r, err := openReader(s.path(sha), s.keys, d.Shipment.KeyID(), d.Size)
	if errors.Is(err, shred.ErrDestroyed) {
		return nil, d, &ErasedError{SHA256: sha, Note: "its shipment was erased"}
	}
	if err != nil {
		return nil, d, fmt.Errorf("docs: open %s: %w", sha, err)
	}
	return r, d, nil
}

// Erase erases a shipment on this node: it destroys the data key of each of
// sh's references and of every document that shares a reference with sh,
// removes those documents' files and transfers, and marks their records
// erased with note. It returns the hashes it erased (none already erased).
func (s *Store) Erase(sh Shipment, note string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range sh.keyIDs() {
		if err := s.keys.Destroy(id); err != nil {
			return nil, err
		}
	}
	list, err := s.List(sh)
	if err != nil {
		return nil, err
	}
	var erased []string
	for _, d := range list {
		if !d.Shipment.shares(sh) || d.State == Erased {
			continue
		}
		if ok, err := s.eraseLocked(d, note); err != nil {
			return erased, err
		} else if ok {
			erased = append(erased, d.SHA256)
		}
	}
	return erased, nil
}

// eraseLocked destroys d's key, removes its files and marks it erased.
func (s *Store) eraseLocked(d Document, note string) (bool, error) {
	if err := s.keys.Destroy(d.Shipment.KeyID()); err != nil {
		return false, err
	}
	if err := s.removeFiles(d.SHA256); err != nil {
		return false, err
	}
	d.State, d.Note = Erased, note
	return true, s.putLocked(d)
}

// AttestationRef locates an attestation event of a document: the log that
// holds it and its position.
type AttestationRef struct {
	Origin  string
	Index   int64
	EventID string
}

// IndexAttestation files an attestation event under the document's hash. It
// is idempotent; an attestation is found again from the logs after a crash,
// so the write need not be synced.
func (s *Store) IndexAttestation(sha string, a AttestationRef) error {
	k := append(attestPrefix(sha), a.Origin...)
	k = binary.BigEndian.AppendUint64(append(k, 0), uint64(a.Index))
	return s.db.Set(k, []byte(a.EventID), pebble.NoSync)
}

// Attestations returns the attestation events filed under sha, by origin
// and index.
func (s *Store) Attestations(sha string) ([]AttestationRef, error) {
	lo := attestPrefix(sha)
	hi := append(bytes.Clone(lo[:len(lo)-1]), 1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []AttestationRef
	for ok := it.First(); ok; ok = it.Next() {
		rest := it.Key()[len(lo):]
		origin, idx, found := bytes.Cut(rest, []byte{0})
		if !found || len(idx) != 8 {
			continue
		}
		out = append(out, AttestationRef{Origin: string(origin), Index: int64(binary.BigEndian.Uint64(idx)), EventID: string(it.Value())})
	}
	return out, it.Error()
}

// Cursor returns the follower's saved position, nil if none.
func (s *Store) cursor() ([]byte, error) {
	v, closer, err := s.db.Get([]byte{prefix, kindCursor})
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

func (s *Store) saveCursor(v []byte) error {
	return s.db.Set([]byte{prefix, kindCursor}, v, pebble.NoSync)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
