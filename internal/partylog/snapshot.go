package partylog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// A snapshot of a replicated log is every key of the log's namespace (events,
// tree hashes, checkpoints, ids, index entries, meta, the applied index and
// the record) as a stream:
//
//	"linkd-log-snapshot/1\n" applied(8) { uvarint(len key) key uvarint(len value) value } uvarint(0) sha256(all before)
//
// The applied consensus index leads, so that a member can tell from the
// header alone whether its store already holds what a snapshot holds.
//
// The log's state is in Pebble already, so a snapshot is a Pebble snapshot
// read out when the consensus layer persists it, concurrently with later
// applies. Restore replaces the log's keys with the stream's and reloads.
// The replicas of peers' logs and everything else in the store are the
// member's own and are neither written nor touched.

const snapshotMagic = "linkd-log-snapshot/1\n"

// Snapshot is a point-in-time view of a replicated log for the consensus
// layer.
type Snapshot struct {
	snap    *pebble.Snapshot
	sp      space
	Applied uint64 // the consensus index the snapshot includes
	Size    int64  // the log's size in the snapshot
}

// Snapshot captures the log as applied so far. It first makes every applied
// batch durable, so the store is never behind a snapshot the consensus layer
// compacts its log to. Call it where ApplyCommitted is called, never
// concurrently with it; WriteTo may run concurrently with later applies.
func (l *Log) Snapshot() (*Snapshot, error) {
	if l.repl == nil {
		return nil, fmt.Errorf("snapshot: the log is not replicated")
	}
	if err := l.stopErr(); err != nil {
		return nil, err
	}
	// Flushed first, the snapshot holds every index entry in its place, and
	// the log's indexed size is its size.
	if err := l.ix.flush(); err != nil {
		l.stop(fmt.Errorf("flush the index before a snapshot: %w", err))
		return nil, l.stopErr()
	}
	if err := l.db.LogData([]byte("snapshot"), pebble.Sync); err != nil {
		l.stop(fmt.Errorf("sync before snapshot: %w", err))
		return nil, l.stopErr()
	}
	return &Snapshot{snap: l.db.NewSnapshot(), sp: l.space, Applied: l.repl.applied.Load(), Size: l.Size()}, nil
}

// WriteTo streams the snapshot to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	cw := &countWriter{w: bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)}
	io.WriteString(cw, snapshotMagic)
	var buf [binary.MaxVarintLen64]byte
	cw.Write(binary.BigEndian.AppendUint64(buf[:0], s.Applied))
	put := func(k, v []byte) {
		cw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(k)))])
		cw.Write(k)
		cw.Write(buf[:binary.PutUvarint(buf[:], uint64(len(v)))])
		cw.Write(v)
	}
	var plain []byte
	keys, done := s.sp.bulkCiphers()
	defer done()
	err := s.sp.forEachKey(s.snap, func(k, v []byte) error {
		if k[0] == prefixEvent && isSealed(v) {
			// Each member seals under keys of its own: the snapshot carries
			// the record in the clear (over the members' mutual TLS), and the
			// restoring member seals it again under its keys.
			salt, canon, err := unsealWith(keys, nil, v)
			switch {
			case IsErased(err):
				v = v[:32]
			case err != nil:
				return fmt.Errorf("event record %x: %w", k, err)
			default:
				plain = append(append(append(plain[:0], v[:32]...), salt...), canon...)
				v = plain
			}
		}
		put(k, v)
		return cw.err
	})
	if err != nil {
		return cw.n, fmt.Errorf("write snapshot: %w", err)
	}
	cw.Write(buf[:binary.PutUvarint(buf[:], 0)])
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		return cw.n, fmt.Errorf("write snapshot: %w", err)
	}
	sum := h.Sum(nil)
	n, err := w.Write(sum)
	return cw.n + int64(n), err
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.snap.Close() }

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// reader reads keys: a DB or a Snapshot.
type reader interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// ranges are the key ranges that hold only this log's keys; its index
// entries ('x') are among every log's and are picked out by forEachKey.
func (s *space) ranges() [][2][]byte {
	var out [][2][]byte
	for _, p := range []byte{prefixCheckpoint, prefixEvent, prefixHash, prefixID, prefixJournal, prefixMeta} {
		out = append(out, logRange(p, s.num))
	}
	return out
}

// logRange is the key range of log num's keys under prefix p.
func logRange(p byte, num uint32) [2][]byte {
	lo := binary.BigEndian.AppendUint32([]byte{p}, num)
	hi := []byte{p + 1}
	if num < math.MaxUint32 {
		hi = binary.BigEndian.AppendUint32([]byte{p}, num+1)
	}
	return [2][]byte{lo, hi}
}

// isIndexKey reports whether k is one of this log's index entries:
// 'x' kind value 0x00 time(8) log(4) index(8).
func (s *space) isIndexKey(k []byte) bool {
	return len(k) >= 3+positionLen && k[0] == prefixIndex &&
		binary.BigEndian.Uint32(k[len(k)-12:len(k)-8]) == s.num && k[len(k)-positionLen-1] == 0
}

// forEachKey calls fn with every key of the log's namespace in r, in key
// order within each range.
func (s *space) forEachKey(r reader, fn func(k, v []byte) error) error {
	rs := s.ranges()
	// 'x' sorts after the others; keep key order overall.
	rs = append(rs, [2][]byte{{prefixIndex}, {prefixIndex + 1}})
	for _, rg := range rs {
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: rg[0], UpperBound: rg[1]})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if k[0] == prefixIndex && !s.isIndexKey(k) {
				continue
			}
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return err
			}
			if err := fn(k, v); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

// wipe deletes every key of the log's namespace but the restoring marker,
// durably.
func wipe(s *space) error {
	b := s.db.NewBatch()
	defer b.Close()
	marker := s.restoringKey()
	for _, rg := range s.ranges() {
		if err := b.DeleteRange(rg[0], rg[1], nil); err != nil {
			return err
		}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixIndex}, UpperBound: []byte{prefixIndex + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if s.isIndexKey(it.Key()) {
			b.Delete(it.Key(), nil)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	b.Delete(marker, nil)
	return b.Commit(pebble.Sync)
}

// ErrBadSnapshot is returned by Restore for a stream that is not a whole,
// intact snapshot of this log.
var ErrBadSnapshot = errors.New("not an intact snapshot of this log")

// Restore replaces the log with the snapshot read from r, then reloads it
// and checks the stored tree against its newest signed checkpoint. Call it
// where ApplyCommitted is called, never concurrently with it. While it runs,
// reads see an empty log. If it fails or the process dies midway, the next
// OpenReplicated starts the log empty, and the consensus layer restores
// again.
func (l *Log) Restore(r io.Reader) error {
	if l.repl == nil {
		return fmt.Errorf("restore: the log is not replicated")
	}
	l.mu.Lock()
	l.durable, l.checkpoint, l.cp = 0, nil, linkd.Checkpoint{}
	l.mu.Unlock()
	// What waits to be flushed goes in first, so that wipe finds it.
	if err := l.ix.flush(); err != nil {
		return fmt.Errorf("restore: flush the index: %w", err)
	}
	marker := l.restoringKey()
	if err := l.db.Set(marker, []byte{1}, pebble.Sync); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := wipe(&l.space); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := l.db.Set(marker, []byte{1}, pebble.Sync); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := l.readSnapshot(r); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := l.db.Delete(marker, pebble.Sync); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := l.reload(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	l.logger.Info("log restored from a snapshot", "log_size", l.Size(), "applied_index", l.repl.applied.Load())
	if l.onCommit != nil {
		l.onCommit(CommitInfo{Size: l.Size()})
	}
	l.repl.notifyApplied()
	return nil
}

// readSnapshot writes the snapshot's keys in batches of a few MiB, the last
// one only once the checksum matched.
func (l *Log) readSnapshot(r io.Reader) error {
	sr := &sumReader{br: bufio.NewReaderSize(r, 256<<10), h: sha256.New()}
	if _, err := readSnapshotHeader(sr); err != nil {
		return err
	}
	ranges := l.ranges()
	marker := l.restoringKey()
	ours := func(k []byte) bool {
		if l.isIndexKey(k) {
			return true
		}
		for _, rg := range ranges {
			if bytes.Compare(k, rg[0]) >= 0 && bytes.Compare(k, rg[1]) < 0 {
				return !bytes.Equal(k, marker)
			}
		}
		return false
	}
	b := l.db.NewBatch()
	defer func() { b.Close() }()
	var bound []string // bindings of the keys made here, durable with the last batch
	erased := false    // records whose key was destroyed here came in the clear
	for {
		k, err := readField(sr, 1<<16)
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		if !ours(k) {
			return fmt.Errorf("%w: key %q is outside the log", ErrBadSnapshot, k)
		}
		v, err := readField(sr, 64<<20)
		if err != nil {
			return err
		}
		if k[0] == prefixEvent && l.sealer != nil && len(v) > recordHeader && !isSealed(v) {
			var ids []string
			if v, ids, err = l.sealRecord(b, v); err != nil {
				return fmt.Errorf("restore event record %x: %w", k, err)
			}
			bound = append(bound, ids...)
			erased = erased || len(v) == len(zeroSalt)
		}
		b.Set(k, v, nil)
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Close()
			b = l.db.NewBatch()
		}
	}
	want := sr.h.Sum(nil)
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(sr.br, sum); err != nil {
		return fmt.Errorf("%w: no checksum", ErrBadSnapshot)
	}
	if !bytes.Equal(sum, want) {
		return fmt.Errorf("%w: the checksum does not match", ErrBadSnapshot)
	}
	if _, err := sr.br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the checksum", ErrBadSnapshot)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	if l.sealer != nil {
		l.sealer.Bound(bound)
	}
	if erased && l.repl != nil && l.repl.onErased != nil {
		l.repl.onErased() // the snapshot file this came from holds them
	}
	return nil
}

// SnapshotApplied reads the applied consensus index from the head of a
// snapshot stream.
func SnapshotApplied(r io.Reader) (uint64, error) { return readSnapshotHeader(r) }

func readSnapshotHeader(r io.Reader) (uint64, error) {
	head := make([]byte, len(snapshotMagic)+8)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return 0, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	return binary.BigEndian.Uint64(head[len(snapshotMagic):]), nil
}

// sumReader hashes exactly the bytes its reader hands out.
type sumReader struct {
	br *bufio.Reader
	h  hash.Hash
}

func (s *sumReader) ReadByte() (byte, error) {
	c, err := s.br.ReadByte()
	if err == nil {
		s.h.Write([]byte{c})
	}
	return c, err
}

func (s *sumReader) Read(p []byte) (int, error) {
	n, err := s.br.Read(p)
	s.h.Write(p[:n])
	return n, err
}

// readField reads one uvarint-prefixed field of at most max bytes; nil for
// the end marker (a zero length).
func readField(sr *sumReader, max uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(sr)
	if err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadSnapshot)
	}
	if n == 0 {
		return nil, nil
	}
	if n > max {
		return nil, fmt.Errorf("%w: a field of %d bytes", ErrBadSnapshot, n)
	}
	v := make([]byte, n)
	if _, err := io.ReadFull(sr, v); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadSnapshot)
	}
	return v, nil
}

// reload recovers the in-memory state from the store after Restore.
func (l *Log) reload() error {
	last, err := l.recover()
	if err != nil {
		return err
	}
	if l.durable == 0 {
		l.mu.Lock()
		l.checkpoint, l.cp = nil, linkd.Checkpoint{}
		l.mu.Unlock()
	}
	l.clock.Observe(last)
	return l.loadReplicated(l.repl, last)
}
