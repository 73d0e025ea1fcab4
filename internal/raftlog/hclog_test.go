package raftlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Raft's lines reach slog at their own level, under component=raft, except
// the routine ones that raft reports as warnings: a member whose peer is
// down logs what is wrong, not one line per dial.
func TestRaftLinesReachSlog(t *testing.T) {
	var buf bytes.Buffer
	hc := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).Named("net")
	hc.Warn("unable to get address for server, using fallback address", "id", "m2", "fallback", "127.0.0.1:7000", "error", "no override")
	hc.Warn("failed to contact", "server-id", "m3", "time", "500ms")
	hc.Debug("a debug line")
	out := buf.String()
	if strings.Contains(out, "unable to get address") {
		t.Errorf("the routine dial line was logged at warn:\n%s", out)
	}
	if !strings.Contains(out, `level=WARN msg="failed to contact" component=raft server-id=m3`) || !strings.Contains(out, "raft_part=net") {
		t.Errorf("a warning of raft's is missing or lacks its component and part:\n%s", out)
	}
	if strings.Contains(out, "a debug line") {
		t.Errorf("a debug line was logged at info:\n%s", out)
	}
}
