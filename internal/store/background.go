package store

import (
	"runtime"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Background work (Pebble's flushes and compactions, the merging of the
// party log's index flush) may hold at most one processor fewer than the
// process has, and at least one. Go's scheduler has no priorities: a flush that holds both
// of a 2-core machine's processors, or keeps a runnable goroutine queued on
// each, leaves the network poller unread until the next scheduler tick
// (10 ms), and every hop of a link round trip (TLS read, HTTP/2, handler,
// answer) waits that long. With a processor always left to them, the
// goroutines that serve requests and frames run, and poll the network, as
// soon as they are woken.
//
// The benchmark lane's nodes share one process and flush their stores at the
// same moment (they store the same events). With turns, replication's p99
// over 25 seconds fell about tenfold: three nodes from 90-106 ms to 9-16 ms,
// seven from 300-670 ms to 13-60 ms (bench propagation, same minutes).
var slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

// turnWait bounds how long background work waits for a slot. After that it
// goes on without one: the limit only orders background work, it must never
// stall a flush the write path waits for.
const turnWait = 50 * time.Millisecond

// Turn is one goroutine's hold on a background slot. The zero value holds
// none. A Turn is not safe for concurrent use.
//
// Work that holds a slot must not wait for anything that may need one: a
// batch committed while holding a slot can wait for a memtable flush, which
// waits for the slot (the 50 ms bound turns that deadlock into a crawl). So
// the party log's index flush holds its turn while it merges and gives it up
// around each commit.
type Turn struct{ held bool }

// Yield gives up the slot, if it is held, and takes one again, waiting for it
// at most turnWait. Background work calls it between units of work (a table
// block written, a batch committed), so that slots pass round and the write
// path is never without a processor for long.
func (t *Turn) Yield() {
	t.Done()
	select {
	case slots <- struct{}{}:
		t.held = true
		return
	default:
	}
	timer := time.NewTimer(turnWait)
	defer timer.Stop()
	select {
	case slots <- struct{}{}:
		t.held = true
	case <-timer.C:
	}
}

// Done gives up the slot, if it is held.
func (t *Turn) Done() {
	if t.held {
		t.held = false
		<-slots
	}
}

// backgroundFS gives every table file Pebble writes a Turn: a flush or a
// compaction takes a slot after its first block, gives it up and takes one
// again after every later block, and gives it up while it syncs or closes.
//
// A turn belongs to a file, so only tables (.sst) take turns: a job writes
// one at a time. Pebble's value separation (off here; README, Performance)
// writes a blob file beside each table, and a turn on both had each flush
// wait out turnWait for the slot its own other file held.
type backgroundFS struct{ vfs.FS }

func (f backgroundFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return file, err
	}
	return &backgroundFile{File: file}, nil
}

// Unwrap returns the file system underneath (see vfs.Root).
func (f backgroundFS) Unwrap() vfs.FS { return f.FS }

type backgroundFile struct {
	vfs.File
	turn Turn
}

func (f *backgroundFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.turn.Yield()
	return n, err
}

func (f *backgroundFile) Sync() error {
	f.turn.Done()
	return f.File.Sync()
}

func (f *backgroundFile) SyncData() error {
	f.turn.Done()
	return f.File.SyncData()
}

func (f *backgroundFile) Close() error {
	f.turn.Done()
	return f.File.Close()
}
