package store

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMaxOpenFilesFitsTheProcessLimit: the default table cache keeps open
// at least Pebble's own default of 1,000 tables, at most 8,192, and no more
// than half the files the process may open when it may open 2,000 or more.
func TestMaxOpenFilesFitsTheProcessLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("no open-file limit to compare with: %v", err)
	}
	got := maxOpenFiles()
	if got < 1000 || got > 8192 {
		t.Fatalf("maxOpenFiles() = %d, want 1000 to 8192", got)
	}
	if lim.Cur >= 2000 && uint64(got) > lim.Cur/2 {
		t.Fatalf("maxOpenFiles() = %d with a limit of %d open files, want at most half", got, lim.Cur)
	}
	if lim.Cur >= 2*8192 && got != 8192 {
		t.Fatalf("maxOpenFiles() = %d with a limit of %d open files, want 8192", got, lim.Cur)
	}
}

// TestOpenPassesMaxOpenFiles reads back the limit Pebble recorded in the
// store's OPTIONS file.
func TestOpenPassesMaxOpenFiles(t *testing.T) {
	for _, c := range []struct {
		set, want int
	}{{0, maxOpenFiles()}, {1234, 1234}} {
		dir := t.TempDir()
		db, err := Open(dir, Options{MaxOpenFiles: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := recordedMaxOpenFiles(t, dir); got != c.want {
			t.Errorf("Options{MaxOpenFiles: %d}: the store was opened with %d, want %d", c.set, got, c.want)
		}
	}
}

func recordedMaxOpenFiles(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "OPTIONS-*"))
	if len(files) == 0 {
		t.Fatal("the store has no OPTIONS file")
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "max_open_files="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("max_open_files=%q", v)
			}
			return n
		}
	}
	t.Fatal("the OPTIONS file names no max_open_files")
	return 0
}
