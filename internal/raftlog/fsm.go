package raftlog

import (
	"io"

	"github.com/hashicorp/raft"

	"github.com/linkd-dev/linkd/internal/partylog"
)

// fsm is Raft's state machine: the member's copy of the party's log. Raft
// calls it from one goroutine; batches of committed entries go to the log
// as one Pebble batch.
type fsm struct {
	log *partylog.Log
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	entries := make([]partylog.Committed, len(logs))
	for i, l := range logs {
		entries[i].Index = l.Index
		if l.Type == raft.LogCommand {
			entries[i].Data = l.Data
		}
	}
	return f.log.ApplyCommitted(entries)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.log.Snapshot()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot{s}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.log.Restore(rc)
}

type fsmSnapshot struct{ s *partylog.Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() { s.s.Close() }
