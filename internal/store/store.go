// Package store opens the Pebble database a node keeps everything in, with
// options tuned for linkd's write path (batched appends, one fsync per batch)
// and Pebble's log routed to slog. Background work takes turns on at most
// one processor fewer than the process has (Turn), so that flushes and
// compactions never hold back the goroutines that serve the network. It
// also offers a file system that fails syncs on demand, so tests can prove
// the write path never acknowledges what was not made durable.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Logger receives Pebble's messages. Nil discards them.
	Logger *slog.Logger
	// CacheBytes is the block cache size in bytes. Zero means 64 MiB.
	CacheBytes int64
	// MemTableBytes is the size of one memtable in bytes. Zero means 64 MiB.
	// Writes stall once two memtables are queued for flushing, so memtables
	// take at most twice this.
	MemTableBytes uint64
	// FS overrides the file system (tests: vfs.NewMem, FailingFS). Nil means
	// the operating system's.
	FS vfs.FS
	// MaxOpenFiles bounds the tables Pebble keeps open. Zero means half the
	// process's open-file limit, between 1,000 and 8,192.
	MaxOpenFiles int
}

// Open opens or creates the database in dir.
func Open(dir string, o Options) (*pebble.DB, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 64 << 20
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = maxOpenFiles()
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	// Two memtables of 64 MiB hold as much as four of 32 MiB did, but flushes
	// twice the size halve the flushes and the L0 tables that compactions
	// then merge: 300,000 appended events took about 15% less CPU each and
	// 40% fewer compacted bytes.
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                o.MemTableBytes,
		MemTableStopWritesThreshold: 2,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      slogAdapter{logger.With("component", "pebble")},
		FS:                          backgroundFS{fs},
		MaxOpenFiles:                o.MaxOpenFiles,
	}
	// Bloom filters make point lookups cheap: the write path's (is this
	// event id new?), where almost every key is absent, and the tree hashes
	// of proofs, which sit in one level of several. See pointFilter.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = filter
		opts.Levels[i].FilterType = pebble.TableFilter
	}
	opts.Filters = map[string]pebble.FilterPolicy{legacyFilter.Name(): legacyFilter}
	// Tables end where a partition of the key space ends (see partition).
	opts.Experimental.SpanPolicyFunc = partition
	// Flushes write L0 uncompressed. L0 tables live only until the next
	// compaction, which reads them back and writes them compressed; snappy
	// was about 40% of a flush's CPU.
	opts.Levels[0].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	for i := 1; i < len(opts.Levels); i++ {
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.SnappyCompression }
	}
	// The base level holds up to 256 MiB (RocksDB's default; Pebble's is
	// 64 MiB). The id and query index entries land all over their key
	// ranges, so each compaction from L0 rewrites the base level's share of
	// them, and each from the base level ten times its bytes of the next:
	// a larger base level leaves fewer of those levels below it. A million
	// events appended in batches of 100 took 8% less CPU, wrote 7-12% fewer
	// bytes, and left a quarter less compaction owed (bench ingest
	// --scenarios 100x1 --events 1000000, builds alternating).
	opts.LBaseMaxBytes = 256 << 20
	opts.EnsureDefaults()
	if err := removeTableFiles(fs, dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	// WriteTables writes tables as a flush writes L0's (no compression), on
	// the file system itself, not backgroundFS: it holds a Turn while it
	// writes, which the table writer's own goroutine would otherwise wait for.
	register(db, tableTarget{dir: dir, fs: fs, opts: opts.MakeWriterOptions(0, db.TableFormat())})
	return db, nil
}

// maxOpenFiles is the default of Options.MaxOpenFiles. A table that falls
// out of Pebble's table cache is opened again on its next read (its footer,
// properties and index read back), and a shipment's events lie in tables all
// over the store: with Pebble's default of 1,000 and the 1,200 tables of ten
// million events, one timeline query in two reopened a table.
func maxOpenFiles() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000
	}
	return int(min(max(lim.Cur/2, 1000), 8192))
}

// slogAdapter is Pebble's Logger over slog. Pebble calls Fatalf only when it
// cannot go on safely (a failed MANIFEST sync); continuing could corrupt the
// store, so it panics after logging, which ends the process unless a caller
// above chooses otherwise.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Infof(format string, args ...any) {
	a.l.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (a slogAdapter) Errorf(format string, args ...any) {
	a.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (a slogAdapter) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	a.l.Error("store fatal: "+msg, "fatal", true)
	panic("pebble: " + msg)
}

// FailingFS wraps a file system so that, once armed, every Sync of a file
// whose name contains Match fails. Use Match ".log" for Pebble's WAL.
type FailingFS struct {
	vfs.FS
	Match string
	armed atomic.Bool
}

// ErrInjectedSync is the error an armed FailingFS returns from Sync.
var ErrInjectedSync = fmt.Errorf("injected sync failure")

// Arm makes subsequent syncs of matching files fail.
func (f *FailingFS) Arm() { f.armed.Store(true) }

func (f *FailingFS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.Contains(name, f.Match) {
		return file, err
	}
	return &failingFile{File: file, fs: f}, nil
}

func (f *FailingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	return f.wrap(name, file, err)
}

func (f *FailingFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, c)
	return f.wrap(newname, file, err)
}

func (f *FailingFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, c, opts...)
	return f.wrap(name, file, err)
}

type failingFile struct {
	vfs.File
	fs *FailingFS
}

func (f *failingFile) Sync() error {
	if f.fs.armed.Load() {
		return ErrInjectedSync
	}
	return f.File.Sync()
}

func (f *failingFile) SyncData() error {
	if f.fs.armed.Load() {
		return ErrInjectedSync
	}
	return f.File.SyncData()
}

func (f *failingFile) SyncTo(length int64) (bool, error) {
	if f.fs.armed.Load() {
		return false, ErrInjectedSync
	}
	return f.File.SyncTo(length)
}
