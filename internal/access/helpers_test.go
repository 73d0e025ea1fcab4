package access

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/store"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a Store over a real Pebble in a temporary directory.
type harness struct {
	t     testing.TB
	dir   string
	clock *clock
	db    *pebble.DB
	s     *Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: newClock()}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(h.dir, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := Open(db, Options{Now: h.clock.Now})
	if err != nil {
		db.Close()
		h.t.Fatal(err)
	}
	h.db, h.s = db, s
}

func (h *harness) close() {
	h.t.Helper()
	if h.db != nil {
		if err := h.db.Close(); err != nil {
			h.t.Fatal(err)
		}
		h.db, h.s = nil, nil
	}
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

func (h *harness) create(name string, role Role, ttl time.Duration) (string, Token) {
	h.t.Helper()
	plain, tok, err := h.s.Create(context.Background(), name, role, ttl)
	if err != nil {
		h.t.Fatalf("Create(%q, %s, %s): %v", name, role, ttl, err)
	}
	return plain, tok
}

// wantCode fails the test unless err has the code and its message contains
// every one of parts.
func wantCode(t testing.TB, err error, code string, parts ...string) {
	t.Helper()
	if got := linkd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	msg := linkd.ErrorMessage(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error message %q does not contain %q", msg, p)
		}
	}
}
