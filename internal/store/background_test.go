package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestTurnsNeverExceedTheSlots: however many goroutines take turns, no more
// of them hold one at a time than there are slots, every slot is taken at
// some point, and all are free once every turn is done.
func TestTurnsNeverExceedTheSlots(t *testing.T) {
	var holding, most atomic.Int32
	var wg sync.WaitGroup
	for range 3 * cap(slots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var turn Turn
			defer turn.Done()
			for range 200 {
				turn.Yield()
				if !turn.held {
					continue // waited turnWait and went on without one
				}
				n := holding.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(10 * time.Microsecond)
				holding.Add(-1)
			}
		}()
	}
	wg.Wait()
	if got := most.Load(); got != int32(cap(slots)) {
		t.Errorf("at most %d turns were held at once, want exactly the %d slots", got, cap(slots))
	}
	if n := len(slots); n != 0 {
		t.Errorf("%d slots still taken after every turn was done", n)
	}
}

// TestTableWritesTakeTurns: a store's memtable flush writes its table through
// turns. With every slot held elsewhere it still finishes (each write waits
// turnWait at most, then goes on), but not before that wait; once the slots
// are free it flushes at once, and it leaves no slot taken.
func TestTableWritesTakeTurns(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fill := func(round int) {
		b := db.NewBatch()
		for i := range 300 {
			if err := b.Set(fmt.Appendf(nil, "key-%d-%06d", round, i), make([]byte, 100), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}

	for range cap(slots) {
		slots <- struct{}{}
	}
	fill(1)
	start := time.Now()
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	for range cap(slots) {
		<-slots
	}
	if waited < turnWait {
		t.Errorf("with every slot taken a flush took %v, want at least turnWait (%v): its table writes did not wait for a turn", waited, turnWait)
	}

	fill(2)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(slots); n != 0 {
		t.Errorf("%d slots still taken after the flush", n)
	}
	if m := db.Metrics(); m.Levels[0].TablesCount+m.Levels[6].TablesCount == 0 {
		t.Errorf("no tables after two flushes: %s", m)
	}
}
