package raftlog

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Forget leaves no Raft log segment that began at or below the last entry
// held when it was called, and no snapshot but the one it took, on every
// member, leader and followers alike (raft-wal keeps the tail segment until
// it is full, so a follower's would otherwise stay); and the cluster goes
// on, across a restart.
func TestForgetCompactsLogAndSnapshots(t *testing.T) {
	_, ms := cluster3(t, func(c *Config) {
		c.segmentSize = 16 << 10 // some segments are sealed before Forget, some not
	})
	ctx := ctxT(t, 60*time.Second)
	for i := range 10 {
		if _, err := ms[i%3].log().Append(ctx, events(uint64(i+1), 5)); err != nil {
			t.Fatal(err)
		}
	}
	converged(t, ms...)
	// A snapshot from before, as Raft takes them: with trailing entries.
	old := map[string][]string{}
	for _, x := range ms {
		if err := x.m.raft.Snapshot().Error(); err != nil {
			t.Fatalf("%s snapshot: %v", x.id, err)
		}
		metas, err := x.m.snaps.List()
		if err != nil || len(metas) == 0 {
			t.Fatalf("%s snapshots: %v %v", x.id, metas, err)
		}
		for _, s := range metas {
			old[x.id] = append(old[x.id], s.ID)
		}
	}
	if _, err := ms[1].log().Append(ctx, events(20, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms...)

	marks := map[string]uint64{}
	for _, x := range ms {
		marks[x.id], _ = x.m.wal.LastIndex()
		x.m.Forget()
	}
	for _, x := range ms {
		forgotten(t, x, 1)
		bases, err := x.m.filer.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bases {
			if b <= marks[x.id] {
				t.Errorf("%s: a raft log segment begins at %d, at or below %d, the last entry before Forget", x.id, b, marks[x.id])
			}
		}
		metas, err := x.m.snaps.List()
		if err != nil || len(metas) != 1 || slices.Contains(old[x.id], metas[0].ID) || metas[0].Index < marks[x.id]-1 {
			t.Errorf("%s: snapshots after Forget %+v (%v); want one, new, at or above index %d", x.id, metas, err, marks[x.id]-1)
		}
		if _, err := os.Stat(filepath.Join(x.m.cfg.Dir, forgetPendingFile)); !os.IsNotExist(err) {
			t.Errorf("%s: %s is still there: %v", x.id, forgetPendingFile, err)
		}
	}

	// The cluster goes on, and a member that stops with a Forget pending
	// carries it out when it starts again.
	if _, err := ms[2].log().Append(ctx, events(30, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms...)
	ms[1].m.Forget() // so that little or nothing is above its snapshot when it starts
	forgotten(t, ms[1], 2)
	ms[1].close()
	if err := os.WriteFile(filepath.Join(ms[1].dir, "raft", forgetPendingFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ms[1].start()
	mark, _ := ms[1].m.wal.LastIndex()
	forgotten(t, ms[1], 1)
	if bases, _ := ms[1].m.filer.List(); slices.ContainsFunc(slices.Collect(maps.Values(bases)), func(b uint64) bool { return b <= mark }) {
		t.Errorf("m2 after restarting with a Forget pending: segments %v, want none at or below %d", bases, mark)
	}
	if _, err := ms[0].log().Append(ctx, events(40, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms...)
}

// forgotten waits until x has carried out every Forget asked of it, in at
// least n runs since it opened.
func forgotten(t *testing.T, x *tm, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done, pending := x.m.ForgetState()
		if done >= n && !pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not carry out Forget (done %d, pending %v)", x.id, done, pending)
		}
		<-time.After(10 * time.Millisecond)
	}
}
