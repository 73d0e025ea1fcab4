package docs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
)

// testStore opens a store in a temporary directory with a real Pebble.
type testStore struct {
	dir  string
	db   *pebble.DB
	keys *shred.Keys
	s    *docs.Store
}

func openTestStore(t *testing.T, dir string, max int64) *testStore {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := docs.OpenStore(db, filepath.Join(dir, "documents"), keys, docs.Options{MaxSize: max})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{dir: dir, db: db, keys: keys, s: s}
	t.Cleanup(func() { ts.close() })
	return ts
}

func (ts *testStore) close() {
	if ts.db != nil {
		ts.db.Close()
		ts.db = nil
	}
}

func document(size int) ([]byte, string) {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n")
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

var bkg = docs.Shipment{CarrierBookingReference: "BKG-1"}

func (ts *testStore) put(t *testing.T, b []byte) docs.Document {
	t.Helper()
	st, err := ts.s.Receive(bytes.NewReader(b), bkg.KeyID(), "")
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	d, err := ts.s.Commit(st, docs.Document{Type: "INV", Shipment: bkg, Issuer: "me", State: docs.Available})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return d
}

func readAll(t *testing.T, s *docs.Store, sha string, off int64) []byte {
	t.Helper()
	r, _, err := s.Open(sha)
	if err != nil {
		t.Fatalf("open %s: %v", sha, err)
	}
	defer r.Close()
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s from %d: %v", sha, off, err)
	}
	return b
}

// TestStoreKeepsDocuments stores documents of sizes around the chunk
// boundaries and reads each back whole and from offsets (as Range does).
func TestStoreKeepsDocuments(t *testing.T) {
	ts := openTestStore(t, t.TempDir(), 0)
	const chunk = 64 << 10
	for _, size := range []int{1, 100, chunk - 1, chunk, chunk + 1, 2 * chunk, 3*chunk + 17} {
		b, sha := document(size)
		if size < 9 {
			b, sha = []byte("{}"), hashOf("{}")
		}
		d := ts.put(t, b)
		if d.SHA256 != sha || d.Size != int64(len(b)) {
			t.Fatalf("size %d: stored as %s, %d bytes; want %s, %d", size, d.SHA256, d.Size, sha, len(b))
		}
		for _, off := range []int64{0, 1, chunk - 1, chunk, int64(len(b)) - 1, int64(len(b))} {
			if off > int64(len(b)) || off < 0 {
				continue
			}
			if got := readAll(t, ts.s, sha, off); !bytes.Equal(got, b[off:]) {
				t.Errorf("size %d from %d: read %d bytes, want %d", size, off, len(got), len(b)-int(off))
			}
		}
		// At rest the file is ciphertext: no run of the document's bytes
		// is in it.
		f, err := os.ReadFile(filepath.Join(ts.dir, "documents", sha[:2], sha))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= 32 && bytes.Contains(f, b[len(b)-32:]) {
			t.Errorf("size %d: the stored file holds the document's bytes in plaintext", size)
		}
	}
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestStoreRefuses: oversized, cut off, empty and unrecognised uploads are
// refused with a reason and leave no file.
func TestStoreRefuses(t *testing.T) {
	ts := openTestStore(t, t.TempDir(), 1000)
	cases := []struct {
		name   string
		r      io.Reader
		ct     string
		code   string
		reason string
	}{
		{"oversized", bytes.NewReader(append([]byte("%PDF-"), make([]byte, 1000)...)), "", linkd.ETooLarge, "over the limit of 1000 bytes"},
		{"cut off", io.MultiReader(strings.NewReader("%PDF-1.7 part"), errReader{}), "", linkd.EInvalid, "cut off after 13 bytes"},
		{"empty", strings.NewReader(""), "", linkd.EInvalid, "empty"},
		{"not a document", strings.NewReader("\x89PNG\r\n"), "", linkd.EInvalid, "not a PDF, JSON or XML"},
		{"declared otherwise", strings.NewReader(`{"invoice": 1}`), "application/pdf", linkd.EInvalid, "says Content-Type application/pdf but the bytes are application/json"},
		{"declared unsupported", strings.NewReader(`{}`), "image/png", linkd.EInvalid, "a document is PDF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ts.s.Receive(c.r, bkg.KeyID(), c.ct)
			if linkd.ErrorCode(err) != c.code || !strings.Contains(linkd.ErrorMessage(err), c.reason) {
				t.Errorf("receive: %v; want %s saying %q", err, c.code, c.reason)
			}
		})
	}
	tmp, _ := os.ReadDir(filepath.Join(ts.dir, "documents", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("the refusals left %d files in tmp", len(tmp))
	}
}

// inDir reports whether a file under dir holds b.
func inDir(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		c, err := os.ReadFile(p)
		found = found || bytes.Contains(c, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestStoreErase: erasing a shipment destroys its key and its documents'
// files; the records stay, marked erased; the bytes cannot be opened, not
// even after a reopen, and no new document of the shipment is taken.
func TestStoreErase(t *testing.T) {
	dir := t.TempDir()
	ts := openTestStore(t, dir, 0)
	b, sha := document(200 << 10)
	ts.put(t, b)
	key, ok := ts.keys.KeyMaterial(bkg.KeyID())
	if !ok || !inDir(t, ts.keys.Dir(), key) {
		t.Fatalf("the shipment's key is not in the key files (%v)", ok)
	}
	erased, err := ts.s.Erase(docs.Shipment{CarrierBookingReference: "BKG-1", EquipmentReference: "MSKU1234565"}, "test")
	if err != nil || len(erased) != 1 || erased[0] != sha {
		t.Fatalf("erase: %v, %v; want [%s]", erased, err, sha)
	}
	check := func() {
		t.Helper()
		if inDir(t, ts.keys.Dir(), key) {
			t.Error("the shipment's key is still in the key files after erasure")
		}
		if _, err := os.Stat(filepath.Join(dir, "documents", sha[:2], sha)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the document's file after erasure: %v, want gone", err)
		}
		_, d, err := ts.s.Open(sha)
		var ee *docs.ErasedError
		if !errors.As(err, &ee) || d.State != docs.Erased {
			t.Errorf("open after erasure: %v (state %s), want an ErasedError", err, d.State)
		}
		if _, err := ts.s.Receive(strings.NewReader("%PDF-1.7"), bkg.KeyID(), ""); linkd.ErrorCode(err) != linkd.EConflict {
			t.Errorf("a new upload to the erased shipment: %v, want conflict", err)
		}
	}
	check()
	ts.close()
	ts = openTestStore(t, dir, 0)
	check()
}

// TestStoreShare widens a record's visibility as its issuer's re-share
// does, and only its issuer's: another party's ISSUED event of the same
// hash, or a record the matrix alone governs, changes nothing.
func TestStoreShare(t *testing.T) {
	ts := openTestStore(t, t.TempDir(), 0)
	_, sha := document(1000)
	_, open := document(1000)
	for _, d := range []docs.Document{
		{SHA256: sha, Type: "INV", Shipment: bkg, Issuer: "fwd", Visibility: []string{"cus", "fwd"}, State: docs.Fetching},
		{SHA256: open, Type: "INV", Shipment: bkg, Issuer: "fwd", State: docs.Fetching},
	} {
		if _, err := ts.s.Learn(d); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		sha, issuer string
		parties     []string
		changed     bool
		want        []string
	}{
		{"widened by its issuer", sha, "fwd", []string{"fwd", "ter", "cus"}, true, []string{"cus", "fwd", "ter"}},
		{"the same again", sha, "fwd", []string{"cus", "fwd", "ter"}, false, []string{"cus", "fwd", "ter"}},
		{"by another party", sha, "mallory", []string{"mallory"}, false, []string{"cus", "fwd", "ter"}},
		{"the matrix alone", open, "fwd", []string{"ter"}, false, nil},
	}
	for _, s := range steps {
		changed, err := ts.s.Share(s.sha, s.issuer, s.parties)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		d, err := ts.s.Get(s.sha)
		if err != nil {
			t.Fatal(err)
		}
		if changed != s.changed || !slices.Equal(d.Visibility, s.want) {
			t.Errorf("%s: changed %v, visibility %v; want %v, %v", s.name, changed, d.Visibility, s.changed, s.want)
		}
	}
}
