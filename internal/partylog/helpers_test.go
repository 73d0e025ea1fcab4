package partylog

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

var terminal = linkd.Party{ID: "haiphong-terminal", Name: "Haiphong Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}}

type harness struct {
	t    testing.TB
	dir  string
	skey string
	vkey string
	db   *pebble.DB
	log  *Log
	opts store.Options
	// keysDir, if set, holds shipment keys, and the log seals its records
	// under them by booking (bookingSealer), as a node's does.
	keysDir string
	keys    *shred.Keys
	logger  *slog.Logger // the log's, if set
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	skey, vkey, _ := testKey(t)
	h := &harness{t: t, dir: t.TempDir(), skey: skey, vkey: vkey}
	h.open()
	t.Cleanup(h.close)
	return h
}

// openKeyedStore opens a store and its shipment keys in dir, both closed
// when the test ends (after its deferred calls).
func openKeyedStore(t testing.TB, dir string) (*pebble.DB, *shred.Keys) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		keys.Close()
		db.Close()
	})
	return db, keys
}

// testKey makes a log key for the terminal and its verifier.
func testKey(t testing.TB) (skey, vkey string, v tlog.Verifier) {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(terminal.ID))
	if err != nil {
		t.Fatal(err)
	}
	if v, err = tlog.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	return skey, vkey, v
}

func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(h.dir, h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{Self: terminal, SigningKey: h.skey, Logger: h.logger}
	if h.keysDir != "" {
		if h.keys, err = shred.Open(db, h.keysDir, nil); err != nil {
			db.Close()
			h.t.Fatal(err)
		}
		cfg.Sealer = bookingSealer{h.keys}
	}
	l, err := Open(db, cfg)
	if err != nil {
		if h.keys != nil {
			h.keys.Close()
		}
		db.Close()
		h.t.Fatal(err)
	}
	h.db, h.log = db, l
}

func (h *harness) close() {
	if h.log != nil {
		h.log.Close()
		if h.keys != nil {
			h.keys.Close()
			h.keys = nil
		}
		h.db.Close()
		h.log, h.db = nil, nil
	}
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

func (h *harness) append(events ...linkd.Event) []linkd.Ack {
	h.t.Helper()
	acks, err := h.log.Append(context.Background(), events)
	if err != nil {
		h.t.Fatalf("append: %v", err)
	}
	return acks
}

var base = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func events(seed uint64, n int) []linkd.Event {
	return scenario.NewGenerator(seed, base).Batch(n)
}

// snapshotBytes returns a snapshot of l, as Raft would send it.
func snapshotBytes(t testing.TB, l *Log) []byte {
	t.Helper()
	s, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
