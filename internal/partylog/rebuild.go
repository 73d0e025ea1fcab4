package partylog

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// rebuildStep is how many records rebuildIndex reads into one batch.
const rebuildStep = 4096

// rebuildIndex makes again, from their records, the id and query index
// entries of the log's events from its indexed size up to size, and writes
// them with size as the new indexed size, durably: the entries a crash left
// unflushed (see pendingIndex). It returns how many events it indexed.
//
// A log without an indexed size is new, or was written before the size was
// kept, when a crash left its entries in journal values that drainJournal
// has written since: every entry is in the store, and it gets size as its
// indexed size.
//
// Records held as commitments only have no entries, and neither have those
// whose shipment key was destroyed: an erased event is left out of the
// indexes, as erasing it meant.
//
// A fast store can leave about half a million entries (some 80,000 events)
// to make again, which takes about a second (BenchmarkRebuildAfterCrash);
// logger hears of a rebuild that long before it starts, so that an operator
// watching a restart knows why the log is not serving yet.
func (s *space) rebuildIndex(size int64, logger *slog.Logger) (int64, error) {
	key := indexedKey(s.num)
	v, err := s.get(key)
	if err != nil {
		return 0, fmt.Errorf("read the indexed size: %w", err)
	}
	from := size
	if v != nil {
		if err := mustLen(v, 8, "indexed size"); err != nil {
			return 0, err
		}
		if from = be64(v); from < 0 || from > size {
			return 0, fmt.Errorf("the index is said to cover %d events of a log of %d: the store is damaged", from, size)
		}
		if from == size {
			return 0, nil
		}
	}
	if n := size - from; n >= rebuildStep {
		logger.Info("making the index entries a crash left unwritten again, from the event records; the log serves once they are written", "events", n)
	}
	var w writeSet
	var buf []byte
	indexed := int64(0)
	for lo := from; ; lo += rebuildStep {
		hi := min(lo+rebuildStep, size)
		w.reset()
		if err := s.fileRecords(&w, lo, hi, &buf); err != nil {
			return indexed, err
		}
		indexed += int64(len(w.ids))
		b := s.db.NewBatch()
		put := func(k, v []byte) { b.Set(k, v, nil) }
		w.writeIDs(s, put)
		w.writeIndex(s, put)
		wo := pebble.NoSync
		if hi == size {
			b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(size)), nil)
			wo = pebble.Sync
		}
		err := b.Commit(wo)
		b.Close()
		if err != nil {
			return indexed, fmt.Errorf("write the index entries of events %d to %d: %w", lo, hi, err)
		}
		if hi == size {
			return indexed, nil
		}
	}
}

// fileRecords files in w the entries of the records of events lo to hi
// that have a payload here.
func (s *space) fileRecords(w *writeSet, lo, hi int64, buf *[]byte) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.eventKey(lo), UpperBound: s.eventKey(hi)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		index := be64(it.Key()[5:])
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("read event %d: %w", index, err)
		}
		_, canon, err := s.unseal(buf, v)
		if IsErased(err) || err == nil && canon == nil {
			continue // erased, or held as its commitment only
		}
		if err != nil {
			return fmt.Errorf("read event %d: %w", index, err)
		}
		e, err := linkd.DecodeStored(canon)
		if err != nil {
			return fmt.Errorf("read event %d: %w", index, err)
		}
		en := newEntry(&e, nil)
		w.event(&en, index, [32]byte{}, nil)
	}
	return it.Error()
}
