package access

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/store"
)

func TestCreateAuthenticateListRevoke(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	plain, tok := h.create("tms-prod", Writer, 0)

	if !strings.HasPrefix(plain, "lkd_"+tok.ID+"_") || len(plain) != tokenLen {
		t.Fatalf("plaintext %q is not lkd_%s_<secret> of %d characters", plain, tok.ID, tokenLen)
	}
	if tok.Name != "tms-prod" || tok.Role != Writer || !tok.Created.Equal(h.clock.Now()) || !tok.ExpiresAt.IsZero() || !tok.Revoked.IsZero() {
		t.Fatalf("created token = %+v", tok)
	}

	got, err := h.s.Authenticate(plain)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.ID != tok.ID || got.Role != Writer || !got.Can(WriteEvents) || got.Can(ManageTokens) {
		t.Fatalf("Authenticate = %+v, want the writer token %s", got, tok.ID)
	}
	if !got.LastUsed.Equal(h.clock.Now()) {
		t.Errorf("LastUsed = %v, want %v", got.LastUsed, h.clock.Now())
	}

	h.clock.Add(time.Second)
	_, other := h.create("j.nguyen", Reader, 0)
	list, err := h.s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != other.ID {
		t.Fatalf("List = %+v, want %s then %s", list, tok.ID, other.ID)
	}
	if h.s.Count() != 2 {
		t.Errorf("Count = %d, want 2", h.s.Count())
	}
	if g, err := h.s.Get(tok.ID); err != nil || g.Name != "tms-prod" || g.LastUsed.IsZero() {
		t.Errorf("Get = %+v, %v; want tms-prod with its last use", g, err)
	}

	h.clock.Add(time.Minute)
	if err := h.s.Revoke(ctx, tok.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	_, err = h.s.Authenticate(plain)
	wantCode(t, err, linkd.EUnauthorized, "revoked", tok.ID)
	if strings.Contains(err.Error(), plain[len(plain)-secretLen:]) {
		t.Errorf("error %q quotes the secret", err)
	}

	if err := h.s.Revoke(ctx, tok.ID); err != nil {
		t.Errorf("second Revoke: %v, want nil", err)
	}
	g, _ := h.s.Get(tok.ID)
	if !g.Revoked.Equal(h.clock.Now()) {
		t.Errorf("Revoked = %v, want %v (the first revocation)", g.Revoked, h.clock.Now())
	}
	wantCode(t, h.s.Revoke(ctx, "aaaaaaaaaa"), linkd.ENotFound, "aaaaaaaaaa")
	_, err = h.s.Get("aaaaaaaaaa")
	wantCode(t, err, linkd.ENotFound)
	if list, _ := h.s.List(ctx); len(list) != 2 {
		t.Errorf("List after revoke has %d tokens, want 2 (revoked ones stay listed)", len(list))
	}
}

func TestRevokeNeverQuotesAWholeToken(t *testing.T) {
	h := newHarness(t)
	plain, _ := h.create("ci", Reader, 0)
	err := h.s.Revoke(context.Background(), plain)
	wantCode(t, err, linkd.ENotFound, "never the whole token")
	if strings.Contains(err.Error(), plain[len(plain)-secretLen:]) {
		t.Errorf("error %q quotes the secret", err)
	}
	_, err = h.s.Get(plain[len(tokenPrefix):])
	wantCode(t, err, linkd.ENotFound)
	if strings.Contains(err.Error(), plain[len(plain)-secretLen:]) {
		t.Errorf("error %q quotes the secret", err)
	}
}

func TestExpiry(t *testing.T) {
	h := newHarness(t)
	plain, tok := h.create("contractor", Reader, time.Hour)
	if want := h.clock.Now().Add(time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", tok.ExpiresAt, want)
	}
	h.clock.Add(time.Hour - time.Nanosecond)
	if _, err := h.s.Authenticate(plain); err != nil {
		t.Fatalf("Authenticate just before expiry: %v", err)
	}
	h.clock.Add(time.Nanosecond)
	_, err := h.s.Authenticate(plain)
	wantCode(t, err, linkd.EUnauthorized, "expired", tok.ID)

	// Survives a restart: expiry is in the record, not in memory.
	h.reopen()
	_, err = h.s.Authenticate(plain)
	wantCode(t, err, linkd.EUnauthorized, "expired")
}

func TestTokensSurviveReopen(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	plainA, a := h.create("admin", Admin, 0)
	h.clock.Add(time.Second)
	plainB, b := h.create("tms", Writer, 24*time.Hour)
	h.clock.Add(time.Second)
	plainC, c := h.create("old", Reader, 0)
	if err := h.s.Revoke(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := h.s.List(ctx)

	h.reopen()

	after, err := h.s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after reopen List has %d tokens, want %d", len(after), len(before))
	}
	for i := range before {
		w, g := before[i], after[i]
		if g.ID != w.ID || g.Name != w.Name || g.Role != w.Role || !g.Created.Equal(w.Created) ||
			!g.ExpiresAt.Equal(w.ExpiresAt) || !g.Revoked.Equal(w.Revoked) {
			t.Errorf("token %d after reopen = %+v, want %+v", i, g, w)
		}
	}
	for _, p := range []struct {
		plain string
		want  Token
	}{{plainA, a}, {plainB, b}} {
		got, err := h.s.Authenticate(p.plain)
		if err != nil || got.ID != p.want.ID || got.Role != p.want.Role {
			t.Errorf("Authenticate %s after reopen = %+v, %v", p.want.ID, got, err)
		}
	}
	_, err = h.s.Authenticate(plainC)
	wantCode(t, err, linkd.EUnauthorized, "revoked")
}

func TestPlaintextNeverStoredOrLogged(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var secrets [][]byte
	add := func(plain string) {
		secret := plain[len(plain)-secretLen:]
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, []byte(plain), []byte(secret), raw)
	}
	plain, _, err := s.Bootstrap(ctx, "first-admin-sentinel")
	if err != nil {
		t.Fatal(err)
	}
	add(plain)
	for i := range 20 {
		plain, tok, err := s.Create(ctx, fmt.Sprintf("system-%d", i), Writer, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		add(plain)
		if _, err := s.Authenticate(plain); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Revoke(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var all bytes.Buffer
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s contains a token secret", filepath.Base(path))
				break
			}
		}
		all.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The scan must have seen the records, or it proves nothing.
	if !bytes.Contains(all.Bytes(), []byte("first-admin-sentinel")) {
		t.Fatal("no file in the store holds the token records: the scan saw nothing")
	}
	if !strings.Contains(logs.String(), "access token revoked") {
		t.Fatalf("log has no revocations: %s", logs.String())
	}
	for _, s := range secrets {
		if bytes.Contains(logs.Bytes(), s) {
			t.Fatal("the log contains a token secret")
		}
	}
}

func TestAuthenticateRefusesBadTokens(t *testing.T) {
	h := newHarness(t)
	plain, tok := h.create("tms", Writer, 0)
	secret := plain[len(plain)-secretLen:]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	_, unknownID, _ := newToken()
	other, _, _ := newToken()
	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"empty", "", "no access token"},
		{"with the scheme", "Bearer " + plain, "does not start with"},
		{"wrong prefix", "lkx_" + plain[4:], "does not start with"},
		{"prefix only", "lkd_", "characters long"},
		{"one character short", plain[:len(plain)-1], "characters long"},
		{"one character long", plain + "A", "characters long"},
		{"upper-case id", "lkd_" + strings.ToUpper(tok.ID) + plain[14:], "id after"},
		{"no separator after the id", plain[:14] + "." + plain[15:], "id after"},
		{"bad base64", plain[:20] + "!" + plain[21:], "secret is not"},
		{"padded base64", plain[:len(plain)-1] + "=", "secret is not"},
		{"stray bits in the last character", plain[:len(plain)-1] + strayBits(plain[len(plain)-1]), "secret is not"},
		{"unknown id", "lkd_" + unknownID + plain[14:], "unknown access token"},
		{"token of another node", other, "unknown access token"},
		{"right id, wrong secret", flip(plain, len(plain)-5), "unknown access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.s.Authenticate(tc.token)
			wantCode(t, err, linkd.EUnauthorized, tc.want)
			if strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
	if _, err := h.s.Authenticate(plain); err != nil {
		t.Fatalf("the good token stopped working: %v", err)
	}
}

// strayBits returns another base64url character that decodes to the same
// byte as c in the last position of a 43-character secret (whose last
// character carries 4 bits and 2 unused ones).
func strayBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i|1])
}

func TestBootstrap(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	plain, tok, err := h.s.Bootstrap(ctx, "operator")
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if tok.Role != Admin || !tok.ExpiresAt.IsZero() {
		t.Fatalf("bootstrap token = %+v, want an admin token that never expires", tok)
	}
	if got, err := h.s.Authenticate(plain); err != nil || !got.Can(ManageTokens) {
		t.Fatalf("Authenticate bootstrap token = %+v, %v", got, err)
	}
	_, _, err = h.s.Bootstrap(ctx, "operator")
	wantCode(t, err, linkd.EConflict, "already")

	// Revoking every token does not reopen bootstrap, across a restart too.
	if err := h.s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	_, _, err = h.s.Bootstrap(ctx, "operator")
	wantCode(t, err, linkd.EConflict)
	if h.s.Count() != 1 {
		t.Errorf("Count = %d, want 1", h.s.Count())
	}
}

func TestBootstrapAfterCreateConflicts(t *testing.T) {
	h := newHarness(t)
	h.create("tms", Writer, 0)
	_, _, err := h.s.Bootstrap(context.Background(), "operator")
	wantCode(t, err, linkd.EConflict)
}

func TestCreateRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, tokenName string
		role            Role
		ttl             time.Duration
		want            string
	}{
		{"empty name", "", Reader, 0, "empty"},
		{"long name", strings.Repeat("x", 101), Reader, 0, "101 characters"},
		{"control character", "tms\nprod", Reader, 0, "unprintable"},
		{"invalid UTF-8", "tms\xff", Reader, 0, "UTF-8"},
		{"unknown role", "tms", "root", 0, "admin, writer, reader, auditor"},
		{"negative ttl", "tms", Reader, -time.Second, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.s.Create(context.Background(), tc.tokenName, tc.role, tc.ttl)
			wantCode(t, err, linkd.EInvalid, tc.want)
		})
	}
	if _, tok := h.create(strings.Repeat("é", 100), Auditor, 0); tok.Name != strings.Repeat("é", 100) {
		t.Errorf("a 100-character name was changed to %q", tok.Name)
	}
	if h.s.Count() != 1 {
		t.Errorf("Count = %d, want 1: rejected tokens must not be stored", h.s.Count())
	}
}

func TestOpenRejectsCorruptRecords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		key   string
		value string
		want  string
	}{
		{"not JSON", "aabcdefghij", "{not json", "invalid character"},
		{"unknown role", "aabcdefghij", `{"v":1,"id":"abcdefghij","name":"x","role":"root","sha256":"` + strings.Repeat("A", 43) + `=","created":"2026-01-01T00:00:00Z"}`, "unknown role"},
		{"short hash", "aabcdefghij", `{"v":1,"id":"abcdefghij","name":"x","role":"admin","sha256":"AAAA","created":"2026-01-01T00:00:00Z"}`, "hash is 3 bytes"},
		{"id differs from key", "aabcdefghij", `{"v":1,"id":"bbbbbbbbbb","name":"x","role":"admin","sha256":"` + strings.Repeat("A", 43) + `=","created":"2026-01-01T00:00:00Z"}`, "names id"},
		{"future version", "aabcdefghij", `{"v":2}`, "version 2"},
		{"bad key", "a!", `{}`, "not 'a' and a token id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := store.Open(dir, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Set([]byte(tc.key), []byte(tc.value), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			_, err = Open(db, Options{})
			if err == nil {
				t.Fatal("Open succeeded over a corrupt record")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.key)) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %q, want it to name key %q and say %q", err, tc.key, tc.want)
			}
		})
	}
}

func TestOpenIgnoresOtherPrefixes(t *testing.T) {
	h := newHarness(t)
	plain, _ := h.create("tms", Writer, 0)
	// Keys just below and above 'a', and one of partylog's.
	for _, k := range []string{"`zzz", "b", "m\x00\x00\x00\x00"} {
		if err := h.db.Set([]byte(k), []byte("not a token"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()
	if h.s.Count() != 1 {
		t.Fatalf("Count = %d, want 1", h.s.Count())
	}
	if _, err := h.s.Authenticate(plain); err != nil {
		t.Fatal(err)
	}
}

func TestCanceledContext(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := h.s.Create(ctx, "tms", Writer, 0); err == nil {
		t.Error("Create with a canceled context succeeded")
	}
	if h.s.Count() != 0 {
		t.Errorf("Count = %d, want 0", h.s.Count())
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	shared, _ := h.create("shared", Reader, 0)
	const writers, readers, rounds = 8, 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for w := range writers {
		wg.Go(func() {
			plain, tok, err := h.s.Create(ctx, fmt.Sprintf("w%d", w), Writer, 0)
			if err != nil {
				errs <- err
				return
			}
			for range rounds / 10 {
				if _, err := h.s.Authenticate(plain); err != nil {
					errs <- err
					return
				}
				if _, err := h.s.List(ctx); err != nil {
					errs <- err
					return
				}
			}
			if err := h.s.Revoke(ctx, tok.ID); err != nil {
				errs <- err
				return
			}
			if _, err := h.s.Authenticate(plain); linkd.ErrorCode(err) != linkd.EUnauthorized {
				errs <- fmt.Errorf("token %s authenticated after Revoke returned: %v", tok.ID, err)
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range rounds {
				if _, err := h.s.Authenticate(shared); err != nil {
					errs <- err
					return
				}
				h.s.Count()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, _ := h.s.List(ctx)
	revoked := 0
	for _, tok := range list {
		if !tok.Revoked.IsZero() {
			revoked++
		}
	}
	if len(list) != writers+1 || revoked != writers {
		t.Errorf("after the run: %d tokens, %d revoked; want %d and %d", len(list), revoked, writers+1, writers)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	h := newHarness(b)
	for i := range 1000 {
		h.create(fmt.Sprintf("system-%d", i), Writer, time.Hour)
	}
	plain, _ := h.create("tms", Writer, 0)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.s.Authenticate(plain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.s.Authenticate(plain); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
