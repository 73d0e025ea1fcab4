package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrNoTables is returned by WriteTables for a database that Open did not
// open: without its directory and options it cannot write tables for it.
var ErrNoTables = errors.New("store: the database was not opened by store.Open; it takes keys through batches only")

// maxTableBytes caps one table WriteTables writes.
const maxTableBytes = 64 << 20

// tableFiles names the files WriteTables writes before Pebble takes them
// over; Open removes any a crash left.
const tableFilePrefix, tableFileSuffix = "linkd-ingest-", ".sst"

// tableTarget is what WriteTables needs of a database Open opened.
type tableTarget struct {
	dir  string
	fs   vfs.FS
	opts sstable.WriterOptions
}

// targets maps the databases Open opened (weakly: a closed and dropped
// database leaves the map) to their directory and table options.
var targets sync.Map // weak.Pointer[pebble.DB] → tableTarget

func register(db *pebble.DB, t tableTarget) {
	wp := weak.Make(db)
	targets.Store(wp, t)
	runtime.AddCleanup(db, func(wp weak.Pointer[pebble.DB]) { targets.Delete(wp) }, wp)
}

// WriteTables writes the sorted key/value pairs that write passes to add
// into new tables and adds those to db in one step (Pebble's ingestion),
// past the memtable and the write-ahead log: the keys are durable once it
// returns, and visible to reads from then on, all at once. Keys must come in
// strictly ascending order and be absent from the store, or older than
// anything that overwrites them.
//
// A table never spans two partitions of the key space (see partition), so
// never two first bytes of a key. Pebble flushes a memtable that holds any
// key within a new table's bounds before it adds the table, so a table that
// spanned, say, 'i' to 'x' would force a flush whenever a write landed
// between them. Keys written through batches must therefore not share a
// first byte with the keys given here, or each call forces a flush. And a
// table that holds one partition's keys overlaps no other partition's
// tables: one that only holds keys past every older one of its partition
// (times of the time index, say) goes to the bottom level at once.
func WriteTables(ctx context.Context, db *pebble.DB, write func(add func(k, v []byte) error) error) error {
	v, ok := targets.Load(weak.Make(db))
	if !ok {
		return ErrNoTables
	}
	t := v.(tableTarget)
	var (
		paths []string
		w     *sstable.Writer
		end   []byte // where the partition of the table being written ends
		n     int
		// Writing tables is background work and takes turns with
		// Pebble's, giving its turn up now and then like a flush does;
		// adding them is not: Ingest can wait for a memtable flush, which
		// can wait for the turn.
		turn Turn
	)
	removeAll := func() {
		for _, p := range paths {
			_ = t.fs.Remove(p)
		}
	}
	finish := func() error {
		if w == nil {
			return nil
		}
		err := w.Close()
		w = nil
		return err
	}
	add := func(k, val []byte) error {
		if len(k) == 0 {
			return errors.New("store: an empty key")
		}
		if w != nil && ((end != nil && bytes.Compare(k, end) >= 0) || w.Raw().EstimatedSize() >= maxTableBytes) {
			if err := finish(); err != nil {
				return err
			}
		}
		if w == nil {
			var r [8]byte
			_, _ = rand.Read(r[:])
			p := t.fs.PathJoin(t.dir, tableFilePrefix+hex.EncodeToString(r[:])+tableFileSuffix)
			f, err := t.fs.Create(p, vfs.WriteCategoryUnspecified)
			if err != nil {
				return fmt.Errorf("store: create table: %w", err)
			}
			paths = append(paths, p)
			w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), t.opts)
			end = partitionEnd(k)
		}
		if n++; n%4096 == 0 {
			turn.Done()
			turn.Yield()
		}
		return w.Set(k, val)
	}
	turn.Yield()
	err := write(add)
	if err == nil {
		err = finish()
	} else if w != nil {
		_ = w.Close()
	}
	turn.Done()
	if err != nil {
		removeAll()
		return err
	}
	if n == 0 {
		return nil
	}
	if err := db.Ingest(ctx, paths); err != nil {
		removeAll()
		return fmt.Errorf("store: add tables: %w", err)
	}
	return nil
}

// removeTableFiles removes the files a WriteTables that a crash
// interrupted left in dir.
func removeTableFiles(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, tableFilePrefix) && strings.HasSuffix(n, tableFileSuffix) {
			if err := fs.Remove(fs.PathJoin(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}
