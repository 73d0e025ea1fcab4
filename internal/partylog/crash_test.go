package partylog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// The crash test re-executes this test binary as a child process that
// appends until it is killed. The child's orders travel in environment
// variables; when crashChildDir is set, TestMain runs the child instead of
// the tests.
const (
	crashChildDir  = "LINKD_CRASH_CHILD_DIR" // the store's directory
	crashChildKey  = "LINKD_CRASH_CHILD_KEY" // the log's signing key (a throwaway test key)
	crashChildRun  = "LINKD_CRASH_CHILD_RUN" // which crash this is, so event ids never repeat across runs
	crashSeedEnv   = "LINKD_CRASH_SEED"      // set to replay a failing TestCrashSIGKILL
	crashRunsEnv   = "LINKD_CRASH_RUNS"      // set to crash more (or fewer) times
	crashChildLife = 60 * time.Second        // a child nobody kills exits by itself after this
	crashWriters   = 8                       // concurrent appenders in the child
	crashMaxBatch  = 50                      // events per append: 1 to this
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildDir); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashChildKey), os.Getenv(crashChildRun)))
	}
	os.Exit(m.Run())
}

// crashChild opens the log in dir and appends from several goroutines until
// the parent kills it. After each acknowledged append it writes one line per
// event, "ack <eventID> <logIndex> <leafHashBase64>", and sometimes
// "cp <base64 signed checkpoint>", each append's lines in one write. It first
// writes "ready <size>" once the log is open.
func crashChild(dir, skey, runStr string) int {
	run, err := strconv.Atoi(runStr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash child: bad %s %q\n", crashChildRun, runStr)
		return 2
	}
	db, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
		return 2
	}
	// Records are sealed as a node seals them, so the keys of shipments the
	// child opened must be there for every acknowledged event.
	keys, err := shred.Open(db, filepath.Join(dir, "keys"), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
		return 2
	}
	l, err := Open(db, Config{Self: terminal, SigningKey: skey, Sealer: bookingSealer{keys}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
		return 2
	}
	var outMu sync.Mutex // serialises whole appends' lines on stdout
	fmt.Fprintf(os.Stdout, "ready %d\n", l.Size())

	ctx, cancel := context.WithTimeout(context.Background(), crashChildLife)
	defer cancel()
	failed := make(chan error, crashWriters)
	for w := 0; w < crashWriters; w++ {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(run), uint64(w)))
			gen := scenario.NewGenerator(uint64(run)<<8|uint64(w), base)
			var buf bytes.Buffer
			for n := 0; ; {
				batch := gen.Batch(1 + rng.IntN(crashMaxBatch))
				for i := range batch {
					batch[i].EventID = crashEventID(run, w, n)
					n++
				}
				acks, err := l.Append(ctx, batch)
				if err != nil {
					failed <- err
					return
				}
				buf.Reset()
				for _, a := range acks {
					fmt.Fprintf(&buf, "ack %s %d %s\n", a.EventID, a.LogIndex, a.LeafHash)
				}
				if rng.IntN(4) == 0 {
					note, _ := l.Checkpoint()
					fmt.Fprintf(&buf, "cp %s\n", base64.StdEncoding.EncodeToString(note))
				}
				outMu.Lock()
				_, err = os.Stdout.Write(buf.Bytes())
				outMu.Unlock()
				if err != nil {
					failed <- err
					return
				}
			}
		}()
	}
	err = <-failed
	fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
	return 1
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// crashEventID is a UUID-shaped id unique to (run, writer, n).
func crashEventID(run, writer, n int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", run, writer, n)
}

// crashAck is what the child reported for one event.
type crashAck struct {
	id    string
	index int64
	leaf  string
	run   int
}

// crashOutput is everything one child reported before it died.
type crashOutput struct {
	ready       bool
	readySize   int64
	acks        []crashAck
	checkpoints [][]byte
}

// TestCrashSIGKILL appends from a real child process, kills it with SIGKILL
// at a random moment, and checks the recovered log: every acknowledged event
// is at its acknowledged index with its acknowledged leaf hash, the log
// audits clean, every checkpoint the child handed out is consistent with the
// recovered tree, and the log never shrinks. It repeats on the same store so
// each crash lands on a log that has already survived the ones before.
func TestCrashSIGKILL(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	iterations := 25
	switch {
	case testing.Short():
		iterations = 5
	case raceEnabled():
		// Under the race detector Pebble checks its own invariants on every
		// read, and the audit after each crash reads the whole log, so the
		// later runs cost several seconds each.
		iterations = 12
	}
	if s := os.Getenv(crashRunsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of crashes", crashRunsEnv, s)
		}
		iterations = n
	}
	t.Logf("%d crashes (set %s for more)", iterations, crashRunsEnv)
	skey, vkey, verifier := testKey(t)
	dir := t.TempDir()
	ctx := context.Background()

	var (
		acked    int64       // acks seen over all runs
		sealed   int         // of them, records found sealed under a shipment key
		prevSize int64       // size of the log the last time it was reopened
		prevNote []byte      // its newest checkpoint
		maxAcked int64  = -1 // largest acknowledged index
	)
	for run := 0; run < iterations; run++ {
		// Mostly kill while appends are in flight; sometimes kill while the
		// child is still starting or recovering.
		early := rng.IntN(6) == 0
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		if early {
			delay = time.Duration(rng.IntN(40)) * time.Millisecond
		}
		t0 := time.Now()
		out := runCrashChild(t, dir, skey, run, early, delay)
		t1 := time.Now()
		if out.ready && out.readySize < prevSize {
			t.Fatalf("run %d: the child recovered size %d, but size %d was durable before", run, out.readySize, prevSize)
		}
		for i := range out.acks {
			out.acks[i].run = run
			maxAcked = max(maxAcked, out.acks[i].index)
		}
		acked += int64(len(out.acks))

		h := &harness{t: t, dir: filepath.Join(dir, "store"), skey: skey, vkey: vkey, keysDir: filepath.Join(dir, "keys")}
		h.open()
		size := h.log.Size()
		if size < prevSize || size < maxAcked+1 {
			h.close()
			t.Fatalf("run %d: reopened size %d; want at least %d (previous size) and %d (largest acked index + 1)", run, size, prevSize, maxAcked+1)
		}
		// This run's acks are checked one by one. Earlier runs' acks were
		// checked against the tree of prevNote; its consistency with the
		// recovered tree proves those leaves are still there, unchanged.
		checkCrashAcks(t, h.log, out.acks, rng)
		// Every event, acknowledged or not, has its id and time index
		// entries in the store: made again from the records at open when
		// the kill came before the index flush wrote them.
		ids := countKeys(t, h.db, h.log.idKey(""), h.log.idKey("\xff"))
		times := countKeys(t, h.db, indexPrefix(ByTime, ""), indexPrefix(ByTime, "\x01"))
		if int64(ids) != size || int64(times) != size {
			h.close()
			t.Fatalf("run %d: after the reopen the store holds %d id and %d time index entries for %d events", run, ids, times, size)
		}
		for _, a := range out.acks {
			if v, closer, err := h.db.Get(h.log.appendKey(nil, prefixEvent, uint64(a.index))); err == nil {
				if isSealed(v) {
					sealed++
				}
				closer.Close()
			}
		}
		rep, err := h.log.Audit(ctx, nil)
		if err != nil {
			h.close()
			t.Fatalf("run %d: audit after SIGKILL: %v", run, err)
		}
		newNote, newest := h.log.Checkpoint()
		notes := out.checkpoints
		if prevNote != nil {
			notes = append(notes, prevNote)
		}
		for _, n := range notes {
			old, err := tlog.OpenCheckpoint(n, verifier)
			if err != nil {
				t.Fatalf("run %d: a checkpoint handed out before the crash does not verify: %v", run, err)
			}
			proof, err := h.log.ConsistencyProof(old.Size, newest.Size)
			if err != nil {
				t.Fatalf("run %d: consistency proof %d → %d: %v", run, old.Size, newest.Size, err)
			}
			if err := tlog.VerifyConsistency(old.Size, old.Hash, newest.Size, newest.Hash, proof); err != nil {
				t.Fatalf("run %d: a checkpoint handed out before the crash is not consistent with the recovered log: %v", run, err)
			}
		}
		from := "ready"
		if early {
			from = "start"
		}
		t.Logf("run %d: killed %v after %s: %d acks, %d checkpoints seen; size %d → %d; audit checked %d stored checkpoints (child ran %v, checks took %v)",
			run, delay, from, len(out.acks), len(out.checkpoints), prevSize, size, rep.Checkpoints,
			t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		prevSize, prevNote = size, newNote
		h.close()
	}
	if acked == 0 {
		t.Fatalf("no child acknowledged anything in %d runs: the test proved nothing", iterations)
	}
	if sealed == 0 {
		t.Fatalf("none of %d acknowledged records was sealed: the keys were not put to the test", acked)
	}
}

// runCrashChild starts the child on dir, kills it with SIGKILL delay after it
// is ready (or after it starts, when early), and returns what it reported.
func runCrashChild(t *testing.T, dir, skey string, run int, early bool, delay time.Duration) crashOutput {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildDir+"="+dir, crashChildKey+"="+skey, crashChildRun+"="+strconv.Itoa(run))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var out crashOutput
	readErr := make(chan error, 1)
	go func() { readErr <- readCrashOutput(stdout, &out, ready) }()

	if !early {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("run %d: the child did not open the log within 30s; stderr:\n%s", run, stderr.String())
		}
	}
	<-time.After(delay) // a crash test needs the wall clock: the child is a real process
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("run %d: kill child %d: %v", run, cmd.Process.Pid, err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("run %d: the child ended with %v before it was killed; stderr:\n%s", run, err, stderr.String())
	}
	return out
}

// readCrashOutput parses the child's stdout until EOF. A last line without a
// newline was cut by the kill and is ignored.
func readCrashOutput(r io.Reader, out *crashOutput, ready chan<- struct{}) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return nil // line, if any, is partial
		}
		if err != nil {
			return fmt.Errorf("read child output: %w", err)
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "ready":
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return fmt.Errorf("child output %q: %w", line, err)
			}
			out.ready, out.readySize = true, n
			close(ready)
		case len(f) == 4 && f[0] == "ack":
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return fmt.Errorf("child output %q: %w", line, err)
			}
			out.acks = append(out.acks, crashAck{id: f[1], index: n, leaf: f[3]})
		case len(f) == 2 && f[0] == "cp":
			note, err := base64.StdEncoding.DecodeString(f[1])
			if err != nil {
				return fmt.Errorf("child output %q: %w", line, err)
			}
			out.checkpoints = append(out.checkpoints, note)
		default:
			return fmt.Errorf("unexpected child output %q", line)
		}
	}
}

// checkCrashAcks checks that every acknowledged event is in l at its
// acknowledged index with its acknowledged id and leaf hash. The id index is
// checked for all of them too, or for a random sample when rng is not nil
// (each lookup costs a Pebble read, which the race detector makes slow).
func checkCrashAcks(t *testing.T, l *Log, acks []crashAck, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	seen := make(map[int64]string, len(acks))
	for _, a := range acks {
		if prev, ok := seen[a.index]; ok {
			t.Fatalf("index %d was acknowledged for both %s and %s", a.index, prev, a.id)
		}
		seen[a.index] = a.id
		rec, err := l.Get(ctx, a.index)
		if err != nil {
			t.Fatalf("run %d: acknowledged event %s at index %d is lost: %v", a.run, a.id, a.index, err)
		}
		if rec.Event.EventID != a.id {
			t.Fatalf("run %d: index %d holds %s, acknowledged as %s", a.run, a.index, rec.Event.EventID, a.id)
		}
		leaf := linkd.LeafHash(rec.Commitment())
		if got := base64.StdEncoding.EncodeToString(leaf[:]); got != a.leaf {
			t.Fatalf("run %d: event %s at index %d hashes to leaf %s, acknowledged as %s", a.run, a.id, a.index, got, a.leaf)
		}
		if rng != nil && rng.IntN(len(acks)) >= 32 {
			continue
		}
		byID, err := l.GetByID(ctx, a.id)
		if err != nil || byID.LogIndex != a.index {
			t.Fatalf("run %d: GetByID(%s) = index %d, %v; want index %d", a.run, a.id, byID.LogIndex, err, a.index)
		}
	}
}
