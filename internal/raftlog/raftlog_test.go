package raftlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/store"
)

// Appends through any member land in one log that every member holds
// identically; a retry through another member is acknowledged as a
// duplicate with the first indexes.
func TestClusterReplicatesOneLog(t *testing.T) {
	_, ms := cluster3(t, nil)
	ctx := ctxT(t, 30*time.Second)
	var wg sync.WaitGroup
	batches := make([][]linkd.Event, 6)
	acks := make([][]linkd.Ack, len(batches))
	errs := make([]error, len(batches))
	for i := range batches {
		batches[i] = events(uint64(i+1), 40)
		wg.Add(1)
		go func() {
			defer wg.Done()
			acks[i], errs[i] = ms[i%3].log().Append(ctx, batches[i])
		}()
	}
	wg.Wait()
	seen := map[int64]string{}
	for i := range batches {
		if errs[i] != nil {
			t.Fatalf("append %d through %s: %v", i, ms[i%3].id, errs[i])
		}
		for j, a := range acks[i] {
			if a.Duplicate || a.EventID == "" {
				t.Fatalf("append %d ack %d = %+v; want a new event", i, j, a)
			}
			if prev, dup := seen[a.LogIndex]; dup {
				t.Fatalf("index %d acknowledged twice: %s and %s", a.LogIndex, prev, a.EventID)
			}
			seen[a.LogIndex] = a.EventID
		}
	}
	if len(seen) != 240 {
		t.Fatalf("%d distinct indexes acknowledged, want 240", len(seen))
	}
	converged(t, ms...)
	for _, x := range ms {
		if got := x.log().Size(); got != 240 {
			t.Fatalf("%s holds %d events, want 240", x.id, got)
		}
		rep, err := x.log().Audit(ctx, nil)
		if err != nil {
			t.Fatalf("audit %s: %v", x.id, err)
		}
		if rep.Size != 240 {
			t.Fatalf("audit %s: size %d", x.id, rep.Size)
		}
		// Every event is at the index its ack named, on every member.
		for idx, id := range seen {
			rec, err := x.log().Get(ctx, idx)
			if err != nil || rec.Event.EventID != id {
				t.Fatalf("%s index %d: %v %v; want %s", x.id, idx, rec.Event.EventID, err, id)
			}
		}
	}
	// Clock stamps rise with the log index, whichever member prepared them.
	var last linkd.HLC
	for i := int64(0); i < 240; i++ {
		rec, _ := ms[1].log().Get(ctx, i)
		if rec.Event.HLC <= last {
			t.Fatalf("index %d has stamp %v, not above %v", i, rec.Event.HLC, last)
		}
		last = rec.Event.HLC
	}
	again, err := ms[2].log().Append(ctx, batches[0])
	if err != nil {
		t.Fatal(err)
	}
	for j, a := range again {
		if !a.Duplicate || a.LogIndex != acks[0][j].LogIndex {
			t.Fatalf("retry ack %d = %+v; want a duplicate at %d", j, a, acks[0][j].LogIndex)
		}
	}
	// Content conflict: the same id with other content is refused, on a
	// follower as on the leader.
	changed := []linkd.Event{batches[1][0]}
	changed[0].EventID = acks[1][0].EventID
	changed[0].EventClassifierCode = "PLN"
	if _, err := ms[1].log().Append(ctx, changed); linkd.ErrorCode(err) != linkd.EConflict {
		t.Fatalf("same id, other content through a follower: %v; want conflict", err)
	}
	if got := ms[0].log().Size(); got != 240 {
		t.Fatalf("size %d after a duplicate and a conflict, want 240", got)
	}
}

// The leader goes; the other two elect one and keep recording; the old
// leader comes back and catches up to the same log.
func TestFailoverAndCatchUp(t *testing.T) {
	_, ms := cluster3(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := ms[1].log().Append(ctx, events(1, 10)); err != nil {
		t.Fatal(err)
	}
	var leader *tm
	var rest []*tm
	for _, x := range ms {
		if x.m.IsLeader() {
			leader = x
		} else {
			rest = append(rest, x)
		}
	}
	if leader == nil {
		t.Fatal("no member is leader")
	}
	leader.close()
	for i := 0; i < 5; i++ {
		acks, err := rest[i%2].log().Append(ctx, events(uint64(10+i), 10))
		if err != nil {
			t.Fatalf("append %d after the leader went: %v", i, err)
		}
		if acks[0].LogIndex != int64(10+10*i) {
			t.Fatalf("append %d at index %d, want %d", i, acks[0].LogIndex, 10+10*i)
		}
	}
	leader.start()
	converged(t, ms...)
	if got := leader.log().Size(); got != 60 {
		t.Fatalf("the old leader holds %d events after catching up, want 60", got)
	}
	// A linearizable read on any member sees every acknowledged append.
	acks, err := leader.log().Append(ctx, events(99, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ms {
		if err := x.m.Linearize(ctx); err != nil {
			t.Fatalf("linearize on %s: %v", x.id, err)
		}
		if got := x.log().Size(); got <= acks[2].LogIndex {
			t.Fatalf("%s: size %d after a linearizable fence; the ack at %d is not visible", x.id, got, acks[2].LogIndex)
		}
	}
}

// Without a majority nothing is acknowledged and the error says why; when
// the majority is back, appends go through again.
func TestMajorityLossRefusesWrites(t *testing.T) {
	_, ms := cluster3(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := ms[0].log().Append(ctx, events(1, 5)); err != nil {
		t.Fatal(err)
	}
	ms[1].close()
	ms[2].close()
	_, err := ms[0].log().Append(ctx, events(2, 5))
	if linkd.ErrorCode(err) != linkd.EUnavailable || !strings.Contains(linkd.ErrorMessage(err), "majority") {
		t.Fatalf("append without a majority: %v; want unavailable naming the majority", err)
	}
	if err := ms[0].m.Linearize(ctx); linkd.ErrorCode(err) != linkd.EUnavailable {
		t.Fatalf("linearizable read without a majority: %v; want unavailable", err)
	}
	if got := ms[0].log().Size(); got != 5 {
		t.Fatalf("a minority member's log grew to %d", got)
	}
	ms[2].start()
	acks, err := ms[2].log().Append(ctx, events(2, 5))
	if err != nil {
		t.Fatalf("append once the majority is back: %v", err)
	}
	if acks[0].LogIndex != 5 {
		t.Fatalf("first append after recovery at %d, want 5 (nothing of the refused append may be recorded, or it is recorded once)", acks[0].LogIndex)
	}
	ms[1].start()
	converged(t, ms...)
}

// A member waiting to apply what its leader committed, or confirmed for a
// read, answers with a clear refusal once it has had no leader for
// LeaderWait, rather than hold the caller until its deadline: the batch a
// member forwarded just before its majority went down used to hang the
// client, and every append queued behind it, for seconds.
func TestMemberCutOffWhileWaitingToApply(t *testing.T) {
	_, ms := cluster3(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := ms[0].log().Append(ctx, events(1, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms...)
	if err := ms[0].m.waitApplied(ctx, ms[0].log().Applied()); err != nil {
		t.Fatalf("waiting for what is applied already: %v", err)
	}
	ms[1].close()
	ms[2].close()
	// An index the leader would have reached: this member cannot learn of it.
	start := time.Now()
	err := ms[0].m.waitApplied(ctx, ms[0].log().Applied()+1)
	if err != ErrLostBeforeApplied || !strings.Contains(linkd.ErrorMessage(err), "majority") {
		t.Fatalf("waiting to apply without a majority: %v; want ErrLostBeforeApplied", err)
	}
	// LeaderWait is 1 s here; the leader steps down within a lease.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the refusal took %v", took)
	}
}

// A wrong join token, an id another member holds, and a member of another
// cluster are refused, and the cluster goes on unchanged.
func TestJoinRefusals(t *testing.T) {
	c, ms := cluster3(t, nil)
	ctx := ctxT(t, 30*time.Second)
	tok := joinToken(t, ms[0])
	x := newTM(t, c, "m4", false).start()

	_, err := ms[1].m.Join(ctx, JoinRequest{Member: "m4", RaftAddress: x.m.Advertise(), Token: "lkj_wrong"})
	if linkd.ErrorCode(err) != linkd.EUnauthorized {
		t.Fatalf("join with a wrong token: %v; want unauthorized", err)
	}
	_, err = ms[1].m.Join(ctx, JoinRequest{Member: "m2", RaftAddress: x.m.Advertise(), Token: tok})
	if linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "share an id") {
		t.Fatalf("join with another member's id: %v; want a conflict naming the shared id", err)
	}
	_, err = ms[1].m.Join(ctx, JoinRequest{Member: "m4", RaftAddress: x.m.Advertise(), Token: tok, Cluster: "another"})
	if linkd.ErrorCode(err) != linkd.EConflict {
		t.Fatalf("join by a member of another cluster: %v; want conflict", err)
	}
	if n := len(ms[0].m.Status(ctx).Members); n != 3 {
		t.Fatalf("%d members after refused joins, want 3", n)
	}

	// A member of another cluster (its own bootstrap) cannot reach this
	// one's members: the handshake refuses it.
	other := newTM(t, c, "m9", true).start()
	_, err = other.m.rpcs.call(ctx, ms[0].m.Advertise(), opStatus, nil)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "another cluster") {
		t.Fatalf("status call from another cluster's member: %v; want a refusal naming the cluster", err)
	}
	// Nor can a process claiming an existing member's id from elsewhere.
	imp := newTM(t, c, "m2", false)
	imp.dir = t.TempDir()
	imp.start()
	imp.m.Claim(ms[0].m.ClusterID())
	_, err = imp.m.rpcs.call(ctx, ms[0].m.Advertise(), opStatus, nil)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "share an id") {
		t.Fatalf("status call from a second m2: %v; want a refusal naming the shared id", err)
	}

	// A rotated token admits; the old one no longer does.
	tok2, err := ms[2].m.RotateJoinToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].m.Join(ctx, JoinRequest{Member: "m4", RaftAddress: x.m.Advertise(), Token: tok, DryRun: true}); linkd.ErrorCode(err) != linkd.EUnauthorized {
		t.Fatalf("join with the rotated-out token: %v; want unauthorized", err)
	}
	join(t, ms[1], x, tok2)
	if _, err := x.log().Append(ctx, events(7, 3)); err != nil {
		t.Fatal(err)
	}
	converged(t, append(ms, x)...)
}

// A member removed and replaced: the cluster keeps three voters and one log.
func TestRemoveAndReplace(t *testing.T) {
	c, ms := cluster3(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := ms[0].log().Append(ctx, events(1, 20)); err != nil {
		t.Fatal(err)
	}
	ms[2].close() // the machine is lost
	x := newTM(t, c, "m4", false).start()
	res, err := ms[1].m.Join(ctx, JoinRequest{Member: "m4", RaftAddress: x.m.Advertise(), Token: joinToken(t, ms[0]), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	x.m.Claim(res.Cluster)
	if err := ms[1].m.ReplaceMember(ctx, "m3", "m4", x.m.Advertise(), "https://m4.example:7443"); err != nil {
		t.Fatalf("replace m3 by m4: %v", err)
	}
	if err := x.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := ms[0].m.Status(ctx)
	var ids []string
	for _, s := range st.Members {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "m1,m2,m4" {
		t.Fatalf("members after replace: %v", ids)
	}
	if _, err := x.log().Append(ctx, events(2, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms[0], ms[1], x)
	if err := ms[0].m.RemoveMember(ctx, "m9"); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("remove an unknown member: %v; want not_found", err)
	}
}

// A member that was away while the log moved past the leader's snapshot
// and compaction catches up from the snapshot.
func TestSnapshotCatchUp(t *testing.T) {
	_, ms := cluster3(t, func(c *Config) {
		c.SnapshotThreshold = 8
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 2
		c.segmentSize = 16 << 10 // segments seal and go with compaction
	})
	ctx := ctxT(t, 60*time.Second)
	away := ms[2].m.raft.LastIndex()
	ms[2].close()
	for i := range 40 {
		if _, err := ms[i%2].log().Append(ctx, events(uint64(i+1), 5)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until compaction took the entries m3 needs from both others.
	for i := 0; ; i++ {
		var l0, l1 raft.Log
		if ms[0].m.wal.GetLog(away+1, &l0) != nil && ms[1].m.wal.GetLog(away+1, &l1) != nil {
			break
		}
		if _, err := ms[0].log().Append(ctx, events(uint64(100+i), 1)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the leader never compacted its log")
		case <-time.After(20 * time.Millisecond):
		}
	}
	ms[2].start()
	converged(t, ms...)
	// The snapshot is stored before it is restored.
	if snaps, err := ms[2].m.snaps.List(); err != nil || len(snaps) == 0 {
		t.Fatalf("m3 caught up without a snapshot (%v)", err)
	}
	rep, err := ms[2].log().Audit(ctx, nil)
	if err != nil || rep.Size != ms[0].log().Size() {
		t.Fatalf("audit of the restored log: %+v %v", rep, err)
	}
	// It keeps following after the restore.
	if _, err := ms[2].log().Append(ctx, events(500, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, ms...)
}

// Every member restarted: the same log, and appends continue where it was.
func TestRestartAll(t *testing.T) {
	_, ms := cluster3(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := ms[0].log().Append(ctx, events(1, 30)); err != nil {
		t.Fatal(err)
	}
	note := converged(t, ms...)
	for _, x := range ms {
		x.close()
	}
	for _, x := range ms {
		x.start()
	}
	for _, x := range ms {
		if got, _ := x.log().Checkpoint(); string(got) != string(note) {
			t.Fatalf("%s after restart: checkpoint\n%s\nwant\n%s", x.id, got, note)
		}
	}
	acks, err := ms[2].log().Append(ctx, events(2, 5))
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].LogIndex != 30 {
		t.Fatalf("first append after restart at %d, want 30", acks[0].LogIndex)
	}
	converged(t, ms...)
}

// A single node's log becomes a cluster's: the first member bootstraps on
// it, and members that join get it as a snapshot (it has no Raft entries).
// A single node's store with a log of its own cannot join a cluster.
func TestBootstrapFromSingleNodeLog(t *testing.T) {
	c := newCreds(t, party.ID)
	first := newTM(t, c, "m1", true)
	db, err := store.Open(filepath.Join(first.dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := partylog.Open(db, partylog.Config{Self: party, SigningKey: c.skey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 60*time.Second)
	if _, err := single.Append(ctx, events(1, 20)); err != nil {
		t.Fatal(err)
	}
	single.Close()
	db.Close()

	first.start()
	if err := first.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := first.log().Size(); got != 20 {
		t.Fatalf("the bootstrapped member holds %d events, want the single node's 20", got)
	}
	tok := joinToken(t, first)
	second := newTM(t, c, "m2", false).start()
	join(t, first, second, tok)
	if _, err := second.log().Append(ctx, events(2, 5)); err != nil {
		t.Fatal(err)
	}
	converged(t, first, second)
	if got := second.log().Size(); got != 25 {
		t.Fatalf("the joined member holds %d events, want 25", got)
	}

	// A store that holds a log of its own cannot join: it would fork.
	other := newTM(t, c, "m3", false)
	db, err = store.Open(filepath.Join(other.dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	single, err = partylog.Open(db, partylog.Config{Self: party, SigningKey: c.skey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := single.Append(ctx, events(3, 2)); err != nil {
		t.Fatal(err)
	}
	single.Close()
	db.Close()
	if err := other.open(); linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "joins with an empty log") {
		t.Fatalf("a store with its own log opened to join: %v; want a conflict", err)
	}
}

// A member's store and Raft directory from two different clusters are
// refused at start: they would make one member of two histories.
func TestAnotherClustersData(t *testing.T) {
	c := newCreds(t, party.ID)
	a := newTM(t, c, "m1", true).start()
	b := newTM(t, c, "m1", true).start()
	ctx := ctxT(t, 30*time.Second)
	for _, x := range []*tm{a, b} {
		if err := x.m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := x.log().Append(ctx, events(1, 3)); err != nil {
			t.Fatal(err)
		}
		x.close()
	}
	// b's store under a's Raft state.
	mixed := newTM(t, c, "m1", true)
	os.MkdirAll(mixed.dir, 0o700)
	if err := os.Rename(filepath.Join(a.dir, "raft"), filepath.Join(mixed.dir, "raft")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(b.dir, "store"), filepath.Join(mixed.dir, "store")); err != nil {
		t.Fatal(err)
	}
	err := mixed.open()
	if linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "another cluster's data") {
		t.Fatalf("a store and a Raft directory of two clusters: %v; want a conflict naming another cluster's data", err)
	}
}

// TestGivenUpAppendsAreWrittenOnlyIfTaken cuts appends short at random
// moments on a cluster's log: one told nothing was recorded must be absent
// from every member, one acknowledged present.
func TestGivenUpAppendsAreWrittenOnlyIfTaken(t *testing.T) {
	_, ms := cluster3(t, nil)
	const writers, each = 16, 20
	batches := make([][]linkd.Event, writers*each)
	all := events(77, len(batches))
	for i := range all {
		all[i].EventID = fmt.Sprintf("%08x-0000-4000-8000-%012x", 77, i)
		batches[i] = all[i : i+1]
	}
	recorded, notRecorded := make([]bool, len(batches)), make([]bool, len(batches))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(77, uint64(w)))
			for i := w * each; i < (w+1)*each; i++ {
				// One in four has time to finish, one is over before it
				// starts; the others are cut short while queued or while
				// proposed.
				d := time.Duration(rng.IntN(10000)) * time.Microsecond
				switch i % 4 {
				case 0:
					d = time.Minute
				case 1:
					d = 0 // over before it starts
				}
				ctx, cancel := context.WithTimeout(context.Background(), d)
				_, err := ms[0].log().Append(ctx, batches[i])
				cancel()
				msg := linkd.ErrorMessage(err)
				switch {
				case err == nil:
					recorded[i] = true
				case strings.Contains(msg, "nothing was recorded"):
					notRecorded[i] = true
				case strings.Contains(msg, "may still be recorded"):
				default:
					t.Errorf("append %d: unexpected error %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if !slices.Contains(recorded, true) || !slices.Contains(notRecorded, true) {
		t.Fatal("want some appends recorded and some given up before they were taken")
	}
	// Appends given up after they were proposed may still be applying.
	for prev := uint64(0); ; {
		time.Sleep(100 * time.Millisecond)
		a := ms[0].log().Applied()
		if a == prev {
			break
		}
		prev = a
	}
	converged(t, ms...)
	for _, x := range ms {
		for i, b := range batches {
			_, err := x.log().GetByID(context.Background(), b[0].EventID)
			in := err == nil
			if !in && linkd.ErrorCode(err) != linkd.ENotFound {
				t.Fatal(err)
			}
			if recorded[i] && !in || notRecorded[i] && in {
				t.Fatalf("%s: append %d answered recorded=%v, not recorded=%v, but present = %v", x.id, i, recorded[i], notRecorded[i], in)
			}
		}
	}
}
