package partylog

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
)

// group is a consensus stand-in: it orders proposals, keeps every committed
// entry, and applies each to every fakeMember's log at once.
type fakeGroup struct {
	mu      sync.Mutex
	members []*fakeMember
	entries []Committed
}

type fakeMember struct {
	dir    string
	db     *pebble.DB
	log    *Log
	now    func() time.Time
	sealed bool         // records sealed under keys of the member's own
	keys   *shred.Keys  // when sealed
	erased atomic.Int32 // calls of ReplicationConfig.OnErased
}

func (g *fakeGroup) Propose(ctx context.Context, batch []byte) ([]Outcome, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := Committed{Index: uint64(len(g.entries) + 1), Data: batch}
	g.entries = append(g.entries, e)
	var first any
	for i, m := range g.members {
		if m.log == nil {
			continue
		}
		out := m.log.ApplyCommitted([]Committed{e})[0]
		if i == 0 {
			first = out
		}
	}
	switch r := first.(type) {
	case []Outcome:
		return r, nil
	case error:
		return nil, r
	}
	return nil, errNoOutcome
}

// commit appends an entry to the fakeGroup's history without proposing it
// through a fakeMember (a record, a genesis, garbage).
func (g *fakeGroup) commit(data []byte) []any {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := Committed{Index: uint64(len(g.entries) + 1), Data: data}
	g.entries = append(g.entries, e)
	var outs []any
	for _, m := range g.members {
		if m.log != nil {
			outs = append(outs, m.log.ApplyCommitted([]Committed{e})[0])
		}
	}
	return outs
}

func newGroup(t *testing.T, skey string, n int) *fakeGroup {
	t.Helper()
	g := &fakeGroup{}
	for range n {
		m := &fakeMember{dir: t.TempDir()}
		g.members = append(g.members, m)
		g.open(t, m)
	}
	t.Cleanup(func() {
		for _, m := range g.members {
			g.close(m)
		}
	})
	return g
}

func (g *fakeGroup) open(t *testing.T, m *fakeMember) {
	t.Helper()
	db, err := store.Open(m.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Self: terminal, SigningKey: testSKey, Now: m.now}
	if m.sealed {
		if m.keys, err = shred.Open(db, filepath.Join(m.dir, "keys"), nil); err != nil {
			t.Fatal(err)
		}
		cfg.Sealer = bookingSealer{m.keys}
	}
	l, err := OpenReplicated(db, cfg, ReplicationConfig{Proposer: g, OnErased: func() { m.erased.Add(1) }})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	g.mu.Lock()
	m.db, m.log = db, l
	g.mu.Unlock()
}

func (g *fakeGroup) close(m *fakeMember) {
	g.mu.Lock()
	l, db := m.log, m.db
	m.log, m.db = nil, nil
	g.mu.Unlock()
	if l != nil {
		l.Close()
		if m.keys != nil {
			m.keys.Close()
		}
		db.Close()
	}
}

var testSKey string

func init() {
	var t testing.T
	testSKey, _, _ = testKey(&t)
}

func noteOf(l *Log) string {
	n, _ := l.Checkpoint()
	return string(n)
}

// Members that apply the same entries hold the same log, byte for byte,
// whichever fakeMember prepared each batch; duplicates and conflicts come out
// the same everywhere.
func TestReplicatedMembersAgree(t *testing.T) {
	g := newGroup(t, testSKey, 3)
	ctx := context.Background()
	all := events(1, 225)
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := g.members[i%3].log.Append(ctx, all[25*i:25*i+25]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := g.members[0].log.Size(); got != 225 {
		t.Fatalf("size %d, want 225", got)
	}
	for _, m := range g.members[1:] {
		if noteOf(m.log) != noteOf(g.members[0].log) {
			t.Fatalf("members sign different checkpoints:\n%s\n%s", noteOf(g.members[0].log), noteOf(m.log))
		}
	}
	for _, m := range g.members {
		if rep, err := m.log.Audit(ctx, nil); err != nil || rep.Size != 225 {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	}
	// A retry through another fakeMember: duplicates at the first indexes.
	first, err := g.members[0].log.Append(ctx, all[:25])
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range first {
		if !a.Duplicate {
			t.Fatalf("retried event acknowledged as new: %+v", a)
		}
	}
	// The same id with other content is a conflict, everywhere alike.
	ev := events(2, 1)
	ev[0].EventID = first[0].EventID // a correction must be a new event
	if _, err := g.members[2].log.Append(ctx, ev); linkd.ErrorCode(err) != linkd.EConflict {
		t.Fatalf("conflicting append: %v, want conflict", err)
	}
	for _, m := range g.members {
		if m.log.Size() != 225 || noteOf(m.log) != noteOf(g.members[0].log) {
			t.Fatal("a duplicate or a conflict changed a log")
		}
	}
}

// A fakeMember whose wall clock lags still records stamps that rise with the
// log index: apply raises a stamp not above the log's last one.
func TestReplicatedStampsRise(t *testing.T) {
	g := &fakeGroup{}
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	for _, now := range []func() time.Time{nil, behind} {
		m := &fakeMember{dir: t.TempDir(), now: now}
		g.members = append(g.members, m)
		g.open(t, m)
	}
	defer func() {
		for _, m := range g.members {
			g.close(m)
		}
	}()
	ctx := context.Background()
	for i := range 6 {
		if _, err := g.members[i%2].log.Append(ctx, events(uint64(i+1), 5)); err != nil {
			t.Fatal(err)
		}
	}
	var last linkd.HLC
	for i := range int64(30) {
		a, _ := g.members[0].log.Get(ctx, i)
		b, _ := g.members[1].log.Get(ctx, i)
		if a.Event.HLC != b.Event.HLC {
			t.Fatalf("index %d: stamps %v and %v differ between members", i, a.Event.HLC, b.Event.HLC)
		}
		if a.Event.HLC <= last {
			t.Fatalf("index %d: stamp %v is not above %v", i, a.Event.HLC, last)
		}
		last = a.Event.HLC
	}
}

// After a restart the consensus layer replays entries the store already
// holds: they are skipped, and later ones apply as on the other members.
func TestReplicatedReplayIsIdempotent(t *testing.T) {
	g := newGroup(t, testSKey, 2)
	ctx := context.Background()
	for i := range 4 {
		if _, err := g.members[0].log.Append(ctx, events(uint64(i+1), 10)); err != nil {
			t.Fatal(err)
		}
	}
	m := g.members[1]
	g.close(m)
	g.open(t, m)
	if m.log.Applied() != 4 || m.log.Size() != 40 {
		t.Fatalf("after reopen: applied %d, size %d; want 4 and 40", m.log.Applied(), m.log.Size())
	}
	before := noteOf(m.log)
	m.log.ApplyCommitted(g.entries) // the whole history again
	if noteOf(m.log) != before || m.log.Size() != 40 {
		t.Fatalf("replaying applied entries changed the log: size %d", m.log.Size())
	}
	if _, err := g.members[0].log.Append(ctx, events(9, 10)); err != nil {
		t.Fatal(err)
	}
	if noteOf(m.log) != noteOf(g.members[0].log) || m.log.Applied() != 5 {
		t.Fatalf("members differ after replay and a new entry")
	}
}

// A snapshot restores an empty fakeMember to the same log; duplicates are still
// known afterwards and it follows on identically. A damaged snapshot is
// refused, and a fakeMember reopened after a cut-short restore starts empty.
func TestSnapshotRestore(t *testing.T) {
	g := newGroup(t, testSKey, 1)
	ctx := context.Background()
	for i := range 3 {
		if _, err := g.members[0].log.Append(ctx, events(uint64(i+1), 20)); err != nil {
			t.Fatal(err)
		}
	}
	g.commit(EncodeRecord([]byte(`{"cluster":"c1"}`)))
	snap := snapshotBytes(t, g.members[0].log)
	if applied, err := SnapshotApplied(bytes.NewReader(snap)); err != nil || applied != 4 {
		t.Fatalf("snapshot header: applied %d, %v; want 4", applied, err)
	}

	fresh := &fakeMember{dir: t.TempDir()}
	g.open(t, fresh)
	defer g.close(fresh)

	damaged := bytes.Clone(snap)
	damaged[len(damaged)/2] ^= 1
	if err := fresh.log.Restore(bytes.NewReader(damaged)); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("restore of a damaged snapshot: %v; want ErrBadSnapshot", err)
	}
	// Cut short: reopened, the fakeMember starts empty.
	g.close(fresh)
	g.open(t, fresh)
	if fresh.log.Size() != 0 || fresh.log.Applied() != 0 {
		t.Fatalf("after a failed restore and reopen: size %d, applied %d; want an empty log", fresh.log.Size(), fresh.log.Applied())
	}

	if err := fresh.log.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if noteOf(fresh.log) != noteOf(g.members[0].log) || fresh.log.Applied() != 4 || string(fresh.log.Record()) != `{"cluster":"c1"}` {
		t.Fatalf("restored log differs: size %d applied %d record %q", fresh.log.Size(), fresh.log.Applied(), fresh.log.Record())
	}
	if rep, err := fresh.log.Audit(ctx, nil); err != nil || rep.Size != 60 {
		t.Fatalf("audit of the restored log: %+v %v", rep, err)
	}
	g.mu.Lock()
	g.members = append(g.members, fresh)
	g.mu.Unlock()
	acks, err := fresh.log.Append(ctx, events(2, 20)) // already recorded
	if err != nil {
		t.Fatal(err)
	}
	if !acks[0].Duplicate || acks[0].LogIndex != 20 {
		t.Fatalf("re-append after restore: %+v; want a duplicate at 20", acks[0])
	}
	if _, err := fresh.log.Append(ctx, events(7, 5)); err != nil {
		t.Fatal(err)
	}
	if noteOf(fresh.log) != noteOf(g.members[0].log) {
		t.Fatal("the restored fakeMember and the original differ after new entries")
	}
	// Reads see the restored events by id and by index.
	rec, err := fresh.log.Get(ctx, 59)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.log.GetByID(ctx, rec.Event.EventID); err != nil || got.LogIndex != 59 {
		t.Fatalf("get by id after restore: %v %v", got.LogIndex, err)
	}
}

// A fakeMember whose log is not the one the cluster started from stops, with a
// message that says so, instead of growing another log.
func TestGenesisMismatchStops(t *testing.T) {
	g := newGroup(t, testSKey, 1)
	ctx := context.Background()
	if _, err := g.members[0].log.Append(ctx, events(1, 5)); err != nil {
		t.Fatal(err)
	}
	genesis, err := g.members[0].log.EncodeGenesis()
	if err != nil {
		t.Fatal(err)
	}
	if out := g.commit(genesis); out[0] != nil {
		t.Fatalf("genesis of the fakeMember's own log: %v", out[0])
	}
	newcomer := &fakeMember{dir: t.TempDir()}
	g.open(t, newcomer)
	defer g.close(newcomer)
	out := newcomer.log.ApplyCommitted([]Committed{{Index: 2, Data: genesis}})
	if linkd.ErrorCode(out[0].(error)) != linkd.EUnavailable {
		t.Fatalf("genesis of another log: %v; want unavailable", out[0])
	}
	if err := newcomer.log.WriteErr(); err == nil || !strings.Contains(linkd.ErrorMessage(err), "cluster started from a log of 5") {
		t.Fatalf("write error %v; want one naming the cluster's starting log", err)
	}
	if newcomer.log.Size() != 0 {
		t.Fatal("the stopped fakeMember's log grew")
	}
}

// A batch that does not decode is refused alike on every fakeMember; the fakeGroup
// goes on.
func TestUndecodableBatch(t *testing.T) {
	g := newGroup(t, testSKey, 2)
	for _, data := range [][]byte{
		{batchVersion, kindAppend, 0xff},
		{batchVersion, kindAppend, 1, 1, 3, 'a', 'b', 'c'},
		{batchVersion, 'Z'},
		{9, kindAppend},
	} {
		outs := g.commit(data)
		for _, o := range outs {
			if e, ok := o.(error); !ok || linkd.ErrorCode(e) != linkd.EInternal {
				t.Fatalf("batch %x: outcome %v; want an internal error", data, o)
			}
		}
	}
	if _, err := g.members[1].log.Append(context.Background(), events(1, 3)); err != nil {
		t.Fatalf("append after refused batches: %v", err)
	}
	if noteOf(g.members[0].log) != noteOf(g.members[1].log) || g.members[0].log.Applied() != 5 {
		t.Fatal("members differ after refused batches")
	}
}

// A single node's log is not replicated; a replicated store says it is.
func TestReplicatedState(t *testing.T) {
	g := newGroup(t, testSKey, 1)
	if _, err := g.members[0].log.Append(context.Background(), events(1, 1)); err != nil {
		t.Fatal(err)
	}
	ok, applied, _, err := ReplicatedState(g.members[0].db)
	if err != nil || !ok || applied != 1 {
		t.Fatalf("replicated state: %v %d %v", ok, applied, err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "single"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, _, _, err := ReplicatedState(db); ok || err != nil {
		t.Fatalf("an empty store reads as replicated: %v %v", ok, err)
	}
}
