package raftlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// Erasure and the member's Raft files.
//
// The party log seals a shipment's event records under the shipment's key,
// and erasing the shipment destroys that key (crypto-shredding). But Raft's
// copies are not sealed: a log entry carries its batch's events in the clear
// (members seal under keys of their own), and so does a snapshot
// (partylog.Snapshot), until Raft compacts them away, which takes thousands
// of entries. Forget is how an erasure reaches them: once this member's key
// is destroyed, it takes a snapshot (written from the store, so erased
// records are commitments only), drops every entry up to it from the Raft
// log, and keeps no older snapshot.
//
// raft-wal deletes only whole segment files, and leaves the tail segment, the
// one being appended to, in place until it is full (64 MiB). So the member
// asks raft-wal's segment filer (sealingFiler) to seal the tail at its next
// append; a barrier committed through the leader is that append, and the
// snapshot that follows covers it, so every segment that held an entry from
// before the erasure is deleted whole.
//
// What it promises: when a Forget is done, no file under the member's Raft
// directory holds a Raft entry the member held when Forget was called, and
// the only snapshot is one written after the call. The guarantee is about
// live (linked) files: files are unlinked, not overwritten, so blocks the
// file system freed may keep the bytes until reused, and a reader that had a
// deleted file open (a snapshot being sent) keeps it until it closes it. A
// Forget cut short by a stop is done again at the next start (the
// forget-pending file).
//
// Appends that race an erasure (a leader that had not yet erased the
// shipment accepted one after this member's Forget began), and a snapshot
// the leader sends afterwards from before its own erasure, reach this member
// in the clear too; the party log finds their key destroyed when it applies
// or restores them, and calls Forget again (partylog's
// ReplicationConfig.OnErased).

// forgetPendingFile is present, in the member's Raft directory, while a
// Forget is not yet done.
const forgetPendingFile = "forget-pending"

// Forget makes this member's Raft files forget what it holds now, in the
// background: call it once a shipment's key is destroyed here. It returns
// once the request is durable; the work is redone after a restart until it
// is done (see ForgetState).
func (m *Member) Forget() {
	m.request()
	m.forgetMu.Lock()
	err := writeFileAtomic(filepath.Join(m.cfg.Dir, forgetPendingFile), nil, 0o600)
	m.forgetMu.Unlock()
	if err != nil {
		// The request still runs now; only a stop before it is done loses it.
		m.logger.Error("cannot record that the raft files must forget erased data; it is done now, but not after a restart", "err", err)
	}
	select {
	case m.forgetCh <- struct{}{}:
	default: // one is queued already; it covers this request
	}
}

// request counts a Forget request and raises the mark it must clear to the
// newest entry this member holds.
func (m *Member) request() {
	mark := m.heldThrough()
	m.forgetMu.Lock()
	m.forgetGen++
	m.forgetMark = max(m.forgetMark, mark)
	m.forgetMu.Unlock()
}

// heldThrough returns the newest Raft index this member holds, in its log
// or its newest snapshot. It is not the log's last index alone: that falls
// to 0 when an installed snapshot empties the log, while the files that held
// the dropped entries can still be on their way out.
func (m *Member) heldThrough() uint64 {
	held, _ := m.wal.LastIndex()
	if metas, err := m.snaps.List(); err == nil && len(metas) > 0 {
		held = max(held, metas[0].Index)
	}
	return held
}

// ForgetState reports how many Forget runs this member completed since it
// opened, and whether one is requested and not yet done.
func (m *Member) ForgetState() (done int, pending bool) {
	m.forgetMu.Lock()
	defer m.forgetMu.Unlock()
	return m.forgetDone, m.forgetGen != m.forgetDoneGen
}

// watchForget carries out Forget requests one at a time, retrying each
// until it is done or the member closes.
func (m *Member) watchForget() {
	defer m.wg.Done()
	for {
		select {
		case <-m.forgetCh:
		case <-m.ctx.Done():
			return
		}
		m.forgetMu.Lock()
		gen, mark := m.forgetGen, m.forgetMark
		m.forgetMu.Unlock()
		for pause := time.Second; ; pause = min(2*pause, time.Minute) {
			err := m.forget(m.ctx, mark)
			if err == nil {
				break
			}
			if m.ctx.Err() != nil || m.closed.Load() {
				return
			}
			m.logger.Warn("the raft files could not forget erased data yet; retrying", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-m.ctx.Done():
				return
			}
		}
		m.forgetMu.Lock()
		m.forgetDone++
		m.forgetDoneGen = gen
		if m.forgetGen == gen {
			if err := os.Remove(filepath.Join(m.cfg.Dir, forgetPendingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				m.logger.Warn("cannot remove the forget-pending file; the raft files forget again at the next start", "err", err)
			}
		}
		m.forgetMu.Unlock()
	}
}

// forget compacts the member's Raft log and snapshots so that no file holds
// an entry at or below mark, or a snapshot taken before now.
func (m *Member) forget(ctx context.Context, mark uint64) error {
	m.filer.sealThrough(mark)
	for {
		// The tail segment must begin above mark: make an append happen, at
		// which the filer seals it.
		changed, tail := m.filer.tail()
		if tail <= mark {
			if err := m.Linearize(ctx); err != nil && ctx.Err() != nil {
				return err
			}
			if err := pause(ctx, changed, m.cfg.HeartbeatTimeout); err != nil {
				return err
			}
			continue
		}
		// The first segment above mark, and the snapshot that lets Raft
		// delete every segment before it.
		bases, err := m.filer.List()
		if err != nil {
			return fmt.Errorf("forget: list raft log segments: %w", err)
		}
		first, stale := tail, false
		for _, b := range bases {
			if b > mark {
				first = min(first, b)
			} else {
				stale = true
			}
		}
		if err := m.waitRaftApplied(ctx, first-1); err != nil {
			return err
		}
		idx, err := m.snapshotNow()
		if err != nil {
			return fmt.Errorf("forget: snapshot: %w", err)
		}
		if idx < first-1 {
			// Raft had dispatched the entries to the state machine, which
			// had not yet applied them; or the state machine has applied
			// nothing since the member started, and Raft takes no snapshot
			// until it does: a barrier is something to apply.
			if err := m.Linearize(ctx); err != nil && ctx.Err() != nil {
				return err
			}
			if err := pause(ctx, nil, 10*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if stale {
			if err := m.waitSegmentsAbove(ctx, mark); err != nil {
				return err
			}
		}
		m.logger.Debug("forget: the raft log is compacted", "mark", mark, "snapshot_index", idx, "first_segment", first)
		break
	}
	// The snapshot just taken (or a newer one) is the only one kept.
	reaper, err := raft.NewFileSnapshotStoreWithLogger(m.cfg.Dir, 1, newHCLogger(m.logger).Named("snapshots"))
	if err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	if err := reaper.ReapSnapshots(); err != nil {
		return fmt.Errorf("forget: remove older raft snapshots: %w", err)
	}
	m.logger.Info("the raft log and snapshots hold nothing from before the erasure", "log_index", mark)
	return nil
}

// waitRaftApplied waits until Raft has handed the state machine every entry
// up to idx.
func (m *Member) waitRaftApplied(ctx context.Context, idx uint64) error {
	for m.raft.AppliedIndex() < idx {
		if err := pause(ctx, nil, m.cfg.HeartbeatTimeout/4); err != nil {
			return err
		}
	}
	return nil
}

// waitSegmentsAbove waits until no segment file of the Raft log begins at
// or below mark. raft-wal deletes the files a truncation dropped once no
// reader uses them, which is at once unless a read is under way.
func (m *Member) waitSegmentsAbove(ctx context.Context, mark uint64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		bases, err := m.filer.List()
		if err != nil {
			return fmt.Errorf("forget: list raft log segments: %w", err)
		}
		stale := false
		for _, b := range bases {
			stale = stale || b <= mark
		}
		if !stale {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("forget: a raft log segment holding entries up to %d is still there after compaction", mark)
		}
		if err := pause(ctx, nil, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// snapshotNow takes a snapshot and keeps no trailing entries, and returns
// the index it covers (0 when the state machine has applied nothing).
func (m *Member) snapshotNow() (uint64, error) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	rc := m.raft.ReloadableConfig()
	keep := rc.TrailingLogs
	rc.TrailingLogs = 0
	if err := m.raft.ReloadConfig(rc); err != nil {
		return 0, err
	}
	defer func() {
		rc.TrailingLogs = keep
		m.raft.ReloadConfig(rc)
	}()
	f := m.raft.Snapshot()
	if err := f.Error(); errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	meta, r, err := f.Open()
	if err != nil {
		return 0, err
	}
	r.Close()
	return meta.Index, nil
}

// sealingFiler is raft-wal's segment filer, which seals the tail segment at
// its next append while the tail begins at or below a mark (see Forget).
// Sealing early is what a full segment does at its last append: the writer
// writes the segment's index, and raft-wal moves on to a new segment.
type sealingFiler struct {
	*segment.Filer
	mark atomic.Uint64 // seal a tail that begins at or below this index

	mu       sync.Mutex
	tailBase uint64        // guarded by mu: where the newest segment begins
	changed  chan struct{} // guarded by mu: closed and replaced when a segment begins
}

func newSealingFiler(f *segment.Filer) *sealingFiler {
	return &sealingFiler{Filer: f, changed: make(chan struct{})}
}

// sealThrough asks for the tail to be sealed if it begins at or below idx.
func (f *sealingFiler) sealThrough(idx uint64) {
	for {
		cur := f.mark.Load()
		if cur >= idx || f.mark.CompareAndSwap(cur, idx) {
			return
		}
	}
}

// tail returns where the newest segment begins, and a channel closed when
// the next one begins.
func (f *sealingFiler) tail() (<-chan struct{}, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed, f.tailBase
}

func (f *sealingFiler) began(base uint64) {
	f.mu.Lock()
	f.tailBase = base
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *sealingFiler) Create(info types.SegmentInfo) (types.SegmentWriter, error) {
	w, err := f.Filer.Create(info)
	if err != nil {
		return nil, err
	}
	f.began(info.BaseIndex)
	return &sealingWriter{SegmentWriter: w, f: f, base: info.BaseIndex}, nil
}

func (f *sealingFiler) RecoverTail(info types.SegmentInfo) (types.SegmentWriter, error) {
	w, err := f.Filer.RecoverTail(info)
	if err != nil {
		return nil, err
	}
	f.began(info.BaseIndex)
	return &sealingWriter{SegmentWriter: w, f: f, base: info.BaseIndex}, nil
}

// sealingWriter is a tail segment's writer. raft-wal calls Sealed after each
// append, under its write lock, and rotates to a new segment when it reports
// true.
type sealingWriter struct {
	types.SegmentWriter
	f    *sealingFiler
	base uint64
}

func (w *sealingWriter) Sealed() (bool, uint64, error) {
	sealed, at, err := w.SegmentWriter.Sealed()
	if err != nil || sealed || w.base > w.f.mark.Load() || w.LastIndex() == 0 {
		return sealed, at, err
	}
	at, err = w.SegmentWriter.ForceSeal()
	if err != nil {
		return false, 0, err
	}
	return true, at, nil
}
