package docs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/linkd-dev/linkd/internal/shred"
)

// A document file at rest is a header and the document's bytes in sealed
// chunks:
//
//	"LNKDOC\x00\x01"  salt(32)
//	chunk 0 … chunk n-1: AES-256-GCM(plaintext of chunkSize bytes), 16-byte tag each
//
// The chunk key is derived from the shipment's data key and the file's
// random salt (shred.Keys.Derive), so no two files share a key and counter
// nonces never repeat. A chunk's nonce is its index (11 bytes, big-endian)
// and a last-chunk flag (1 byte), as in age's STREAM: chunks cannot be
// reordered, and a file cut after a whole chunk does not read as complete.
// Every chunk but the last holds exactly chunkSize bytes; the last holds 1
// to chunkSize (0 only for an empty document). Fixed chunks let a reader
// start anywhere (HTTP Range) and let a transfer resume after its last
// whole chunk.
const (
	chunkSize   = 64 << 10
	tagSize     = 16
	sealedChunk = chunkSize + tagSize
	saltSize    = 32
	headerSize  = len(fileMagic) + saltSize
	fileMagic   = "LNKDOC\x00\x01"
)

// chunkKeyInfo is the HKDF info of a file's chunk key.
func chunkKeyInfo(salt []byte) string { return "linkd/docs/chunks/v1 " + hex.EncodeToString(salt) }

func chunkAEAD(keys *shred.Keys, keyID string, salt []byte, create bool) (cipher.AEAD, error) {
	key, err := keys.Derive(keyID, chunkKeyInfo(salt), create)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(n *[12]byte, index int64, last bool) []byte {
	clear(n[:])
	binary.BigEndian.PutUint64(n[3:11], uint64(index))
	if last {
		n[11] = 1
	}
	return n[:]
}

// sealedSize is the size of the file holding a document of size bytes.
func sealedSize(size int64) int64 {
	chunks := max((size+chunkSize-1)/chunkSize, 1)
	return int64(headerSize) + size + chunks*tagSize
}

// sealWriter encrypts a document into a file chunk by chunk. It holds back
// the newest full chunk until more bytes come or Finish, because only then
// is it known whether that chunk is the last.
type sealWriter struct {
	f      *os.File
	aead   cipher.AEAD
	buf    []byte // plaintext of the chunk being filled
	out    []byte // sealed chunk
	chunks int64  // chunks written
	nonce  [12]byte
}

// newSealWriter writes a header with a fresh salt to f and returns a writer
// of chunks under keyID's key, made if needed.
func newSealWriter(f *os.File, keys *shred.Keys, keyID string) (*sealWriter, error) {
	salt := make([]byte, saltSize)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, err
	}
	aead, err := chunkAEAD(keys, keyID, salt, true)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(append([]byte(fileMagic), salt...)); err != nil {
		return nil, err
	}
	return &sealWriter{f: f, aead: aead, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, sealedChunk)}, nil
}

func (w *sealWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(w.buf) == chunkSize {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (w *sealWriter) flush(last bool) error {
	w.out = w.aead.Seal(w.out[:0], chunkNonce(&w.nonce, w.chunks, last), w.buf, nil)
	if _, err := w.f.Write(w.out); err != nil {
		return err
	}
	w.chunks++
	w.buf = w.buf[:0]
	return nil
}

// Finish seals what is held back as the last chunk and syncs the file.
func (w *sealWriter) Finish() error {
	if err := w.flush(true); err != nil {
		return err
	}
	return w.f.Sync()
}

// plaintext returns how many bytes the writer has taken so far (before
// Finish).
func (w *sealWriter) plaintext() int64 { return w.chunks*chunkSize + int64(len(w.buf)) }

// openSealWriter continues a partial file: header and whole non-last
// chunks. It checks each chunk, cuts the file after the last good one, and
// feeds the plaintext it holds to seen (the hash of a resumed transfer).
// It returns the writer positioned after that chunk.
func openSealWriter(f *os.File, keys *shred.Keys, keyID string, seen io.Writer) (*sealWriter, error) {
	head := make([]byte, headerSize)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(fileMagic)]) != fileMagic {
		return nil, errBadPart
	}
	aead, err := chunkAEAD(keys, keyID, head[len(fileMagic):], false)
	if err != nil {
		return nil, err
	}
	w := &sealWriter{f: f, aead: aead, buf: make([]byte, 0, chunkSize), out: make([]byte, sealedChunk)}
	plain := make([]byte, 0, chunkSize)
	for {
		if _, err := io.ReadFull(f, w.out[:sealedChunk]); err != nil {
			break // a torn or missing chunk: resume before it
		}
		p, err := aead.Open(plain[:0], chunkNonce(&w.nonce, w.chunks, false), w.out[:sealedChunk], nil)
		if err != nil {
			break
		}
		seen.Write(p)
		w.chunks++
	}
	end := int64(headerSize) + w.chunks*sealedChunk
	if err := f.Truncate(end); err != nil {
		return nil, err
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return nil, err
	}
	w.out = w.out[:0]
	return w, nil
}

var errBadPart = errors.New("docs: not a partial document file")

// Reader reads a stored document's plaintext. It is an io.ReadSeeker, so
// http.ServeContent answers Range requests from it; every chunk it returns
// was authenticated. It is not safe for concurrent use.
type Reader struct {
	f     *os.File
	aead  cipher.AEAD
	size  int64
	off   int64
	last  int64 // index of the last chunk
	cur   int64 // index of the chunk in plain; -1 none
	plain []byte
	buf   []byte
	nonce [12]byte
}

// openReader opens the file of a document of size bytes under keyID's key.
func openReader(path string, keys *shred.Keys, keyID string, size int64) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Reader, error) {
		f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if st.Size() != sealedSize(size) {
		return fail(fmt.Errorf("docs: %s holds %d bytes, want %d for a document of %d", path, st.Size(), sealedSize(size), size))
	}
	head := make([]byte, headerSize)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(fileMagic)]) != fileMagic {
		return fail(fmt.Errorf("docs: %s is not a document file", path))
	}
	aead, err := chunkAEAD(keys, keyID, head[len(fileMagic):], false)
	if err != nil {
		return fail(err)
	}
	last := max((size+chunkSize-1)/chunkSize, 1) - 1
	return &Reader{f: f, aead: aead, size: size, last: last, cur: -1, buf: make([]byte, sealedChunk), plain: make([]byte, 0, chunkSize)}, nil
}

// Size is the document's size in bytes.
func (r *Reader) Size() int64 { return r.size }

func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	idx := r.off / chunkSize
	if idx != r.cur {
		if err := r.load(idx); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.plain[r.off-idx*chunkSize:])
	r.off += int64(n)
	return n, nil
}

// load reads and opens chunk idx.
func (r *Reader) load(idx int64) error {
	r.cur = -1
	n := int64(sealedChunk)
	if idx == r.last {
		n = r.size - idx*chunkSize + tagSize
	}
	sealed := r.buf[:n]
	if _, err := r.f.ReadAt(sealed, int64(headerSize)+idx*sealedChunk); err != nil {
		return fmt.Errorf("docs: read chunk %d: %w", idx, err)
	}
	p, err := r.aead.Open(r.plain[:0], chunkNonce(&r.nonce, idx, idx == r.last), sealed, nil)
	if err != nil {
		return fmt.Errorf("docs: chunk %d of the stored document does not authenticate: %w", idx, err)
	}
	r.plain, r.cur = p, idx
	return nil
}

func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("docs: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("docs: seek before the start")
	}
	r.off = offset
	return offset, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
