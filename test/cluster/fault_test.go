package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/raftlog/localcluster"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// binary is the linkd binary, built once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := localcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// One operation of the history: an append of one event (retried through
// any member until acknowledged, so its outcome is known) or a
// linearizable read of the log's size.
type opInput struct {
	append bool
	id     string
}

type opOutput struct {
	index int64 // append: the acknowledged index
	dup   bool
	size  int64 // read: the log's size
}

// model is the log as a linearizable object: appends take the next index,
// reads return the size.
var model = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		size := state.(int64)
		in, out := input.(opInput), output.(opOutput)
		if in.append {
			if out.index == size {
				return true, size + 1
			}
			return false, size
		}
		return out.size == size, size
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(opInput), output.(opOutput)
		if in.append {
			return fmt.Sprintf("append %s → %d (dup %v)", in.id[:8], out.index, out.dup)
		}
		return fmt.Sprintf("read → %d", out.size)
	},
}

type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in opInput, out opOutput, call, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// faultPlan is what a run does.
type faultPlan struct {
	duration time.Duration
	seed     uint64
	majority int // majority losses to inject
}

func plan(t *testing.T) faultPlan {
	p := faultPlan{duration: 20 * time.Second, seed: uint64(time.Now().UnixNano()), majority: 1}
	if os.Getenv("LINKD_FAULT") == "1" {
		p.duration, p.majority = 5*time.Minute, 6
		if d, err := time.ParseDuration(os.Getenv("LINKD_FAULT_DURATION")); err == nil {
			p.duration = d
		}
	}
	if s, err := strconv.ParseUint(os.Getenv("LINKD_FAULT_SEED"), 10, 64); err == nil {
		p.seed = s
	}
	t.Logf("fault run: %v, seed %d (LINKD_FAULT_SEED replays the schedule)", p.duration, p.seed)
	return p
}

// TestFaults runs writers and linearizable readers against a 3-member
// cluster while members are killed, stopped, restarted and partitioned,
// then checks the history and the members' logs.
func TestFaults(t *testing.T) {
	p := plan(t)
	ctx, cancel := context.WithTimeout(context.Background(), p.duration+5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if d := os.Getenv("LINKD_FAULT_DIR"); d != "" {
		dir = d // kept after the run, for the members' logs
	}
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Binary: binary(t), Proxies: true,
		LeaderWait: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		if t.Failed() {
			for _, m := range c.Members {
				logs := strings.Split(m.Logs(), "\n")
				t.Logf("--- %s, last lines of its log:\n%s", m.ID, strings.Join(logs[max(0, len(logs)-40):], "\n"))
			}
		}
	}()

	h := &history{start: time.Now()}
	var (
		stopping   atomic.Bool
		wg         sync.WaitGroup
		refusals   atomic.Int64 // appends refused as unavailable for want of a majority
		otherErrs  sync.Map     // error text → count, for the log
		minorityMu sync.Mutex
		minority   [][2]int64 // windows in which a majority was down
	)
	serving := func(rng *mrand.Rand) *localcluster.Member {
		for {
			m := c.Members[rng.IntN(len(c.Members))]
			if m.Serving() {
				return m
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	gen := scenario.NewGenerator(p.seed, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC))
	var genMu sync.Mutex
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(p.seed, uint64(w)))
			for !stopping.Load() {
				genMu.Lock()
				ev := gen.Next()
				genMu.Unlock()
				ev.EventID = newID()
				body, _ := json.Marshal([]linkd.Event{ev})
				call := h.now()
				deadline := time.Now().Add(p.duration + 2*time.Minute)
				for {
					m := serving(rng)
					actx, cancel := context.WithTimeout(ctx, 3*time.Second)
					res, err := m.Client.AppendJSON(actx, body)
					cancel()
					if err == nil {
						h.add(w, opInput{append: true, id: ev.EventID}, opOutput{index: res.Acks[0].LogIndex, dup: res.Acks[0].Duplicate}, call, h.now())
						break
					}
					if linkd.ErrorCode(err) == linkd.EUnavailable && strings.Contains(linkd.ErrorMessage(err), "majority") {
						refusals.Add(1)
					} else {
						msg := linkd.ErrorMessage(err)
						v, _ := otherErrs.LoadOrStore(msg[:min(len(msg), 80)], new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
					}
					if time.Now().After(deadline) {
						t.Errorf("append %s was never acknowledged: %v", ev.EventID, err)
						return
					}
					time.Sleep(time.Duration(10+rng.IntN(20)) * time.Millisecond)
				}
			}
		}()
	}
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(p.seed, uint64(100+r)))
			for !stopping.Load() {
				m := serving(rng)
				call := h.now()
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				info, err := m.Client.LinearizableCheckpoint(rctx)
				cancel()
				ret := h.now()
				switch {
				case err == nil:
					h.add(10+r, opInput{}, opOutput{size: info.Size}, call, ret)
				case linkd.ErrorCode(err) == linkd.ENotFound:
					h.add(10+r, opInput{}, opOutput{size: 0}, call, ret)
				default:
					// A read that failed saw nothing and changed nothing.
				}
				time.Sleep(time.Duration(5+rng.IntN(10)) * time.Millisecond)
			}
		}()
	}

	// The nemesis: one fault at a time (a majority stays up), and now and
	// then the loss of a majority.
	rng := mrand.New(mrand.NewPCG(p.seed, 999))
	pause := func(lo, hi int) { time.Sleep(time.Duration(lo+rng.IntN(hi-lo)) * time.Millisecond) }
	restart := func(i int) {
		if err := c.Restart(ctx, i); err != nil {
			t.Fatalf("restart %s: %v", c.Members[i].ID, err)
		}
	}
	end := time.Now().Add(p.duration)
	majorityEvery := p.duration / time.Duration(p.majority+1)
	nextMajority := time.Now().Add(majorityEvery)
	faults := map[string]int{}
	for time.Now().Before(end) {
		i := rng.IntN(len(c.Members))
		if time.Now().After(nextMajority) {
			nextMajority = nextMajority.Add(majorityEvery)
			j := (i + 1 + rng.IntN(len(c.Members)-1)) % len(c.Members)
			faults["majority lost"]++
			c.Kill(i)
			c.Kill(j)
			from := h.now()
			pause(3000, 4000)
			minorityMu.Lock()
			minority = append(minority, [2]int64{from, h.now()})
			minorityMu.Unlock()
			restart(i)
			restart(j)
			pause(300, 800)
			continue
		}
		switch k := rng.IntN(6); k {
		case 0, 1: // kill the leader, or anyone
			if k == 0 {
				if l, err := c.Leader(ctx); err == nil {
					i = l
				}
			}
			faults["SIGKILL"]++
			c.Kill(i)
			pause(300, 1500)
			restart(i)
		case 2:
			faults["SIGSTOP"]++
			c.Stop(i)
			pause(300, 2000)
			c.Cont(i)
		case 3:
			faults["isolated"]++
			c.Isolate(i)
			pause(500, 2000)
			c.Heal()
		case 4:
			j := (i + 1 + rng.IntN(len(c.Members)-1)) % len(c.Members)
			faults["one-way cut"]++
			c.Link(i, j).Partition()
			pause(500, 2000)
			c.Heal()
		case 5:
			faults["blackholed"]++
			for j := range c.Members {
				if j != i {
					c.Link(i, j).Blackhole()
					c.Link(j, i).Blackhole()
				}
			}
			pause(500, 2000)
			c.Heal()
		}
		pause(200, 800)
	}
	t.Logf("faults injected: %v", faults)
	c.Heal()
	stopping.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	st, err := c.WaitConverged(cctx)
	ccancel()
	if err != nil {
		t.Fatal(err)
	}
	var appends, reads int
	acked := map[string]int64{}
	for _, o := range h.ops {
		in, out := o.Input.(opInput), o.Output.(opOutput)
		if in.append {
			appends++
			acked[in.id] = out.index
		} else {
			reads++
		}
	}
	t.Logf("%d appends and %d linearizable reads; %d appends refused for want of a majority; final log size %d, root %s",
		appends, reads, refusals.Load(), st.Members[0].LogSize, st.Members[0].Root[:16])
	otherErrs.Range(func(k, v any) bool {
		t.Logf("  append attempts that failed with %q: %d", k, v.(*atomic.Int64).Load())
		return true
	})

	// A majority lost refuses writes with a clear error, and acknowledges
	// nothing (after a second's grace for acks of what committed before).
	if p.majority > 0 && refusals.Load() == 0 {
		t.Errorf("no append was refused with an unavailable error naming the majority while a majority was down")
	}
	for _, w := range minority {
		for _, o := range h.ops {
			if o.Input.(opInput).append && o.Return > w[0]+int64(time.Second) && o.Return < w[1] {
				t.Errorf("an append was acknowledged %v into a window without a majority", time.Duration(o.Return-w[0]))
			}
		}
	}

	// Every member holds the same log: same size, same root, and the same
	// signed checkpoint, byte for byte.
	var notes []string
	for _, m := range c.Members {
		info, err := m.Client.Checkpoint(ctx, 0)
		if err != nil {
			t.Fatalf("checkpoint of %s: %v", m.ID, err)
		}
		notes = append(notes, info.Checkpoint)
	}
	for i, n := range notes[1:] {
		if n != notes[0] {
			t.Errorf("%s and %s sign different checkpoints:\n%s\n%s", c.Members[0].ID, c.Members[i+1].ID, notes[0], n)
		}
	}

	// No acknowledged event lost or moved, none recorded twice, nothing
	// recorded that nobody appended.
	for _, m := range c.Members {
		held := map[string]int64{}
		q := client.EventQuery{Limit: 1000}
		for {
			page, err := m.Client.ListEvents(ctx, q)
			if err != nil {
				t.Fatalf("list events of %s: %v", m.ID, err)
			}
			for _, r := range page.Events {
				if prev, dup := held[r.Event.EventID]; dup {
					t.Errorf("%s holds event %s twice, at %d and %d", m.ID, r.Event.EventID, prev, r.LogIndex)
				}
				held[r.Event.EventID] = r.LogIndex
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if int64(len(held)) != st.Members[0].LogSize {
			t.Errorf("%s lists %d events; its log holds %d", m.ID, len(held), st.Members[0].LogSize)
		}
		for id, idx := range acked {
			got, ok := held[id]
			switch {
			case !ok:
				t.Errorf("%s lost acknowledged event %s (acknowledged at index %d)", m.ID, id, idx)
			case got != idx:
				t.Errorf("%s holds event %s at index %d; it was acknowledged at %d", m.ID, id, got, idx)
			}
		}
		for id := range held {
			if _, ok := acked[id]; !ok {
				t.Errorf("%s holds event %s, which no append was acknowledged for", m.ID, id)
			}
		}
	}

	// The history of appends and linearizable reads is linearizable.
	res, info := porcupine.CheckOperationsVerbose(model, h.ops, 2*time.Minute)
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("linkd-fault-%d.html", p.seed))
		if f, err := os.Create(path); err == nil {
			porcupine.Visualize(model, info, f)
			f.Close()
		}
		t.Errorf("the history of %d operations is not linearizable; visualization in %s", len(h.ops), path)
	default:
		t.Errorf("porcupine could not decide the history of %d operations in time", len(h.ops))
	}
}
