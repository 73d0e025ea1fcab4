package raftlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Errors an append or a linearizable read may end with.
var (
	// ErrNoQuorum: no leader for LeaderWait; a majority of members is down
	// or cut off.
	ErrNoQuorum = &linkd.Error{Code: linkd.EUnavailable, Message: "no quorum: this member cannot reach a majority of its cluster, so nothing can be recorded; writes resume when a majority of members is back"}
	// ErrNotReady: the member has not yet caught up with its cluster.
	ErrNotReady = &linkd.Error{Code: linkd.EUnavailable, Message: "this cluster member has not yet caught up with its cluster; retry shortly"}
	// ErrLostBeforeApplied: the leader committed a batch (or confirmed a
	// read), but this member lost its leader before it had applied that far,
	// and found none for LeaderWait: it cannot answer from what it holds.
	ErrLostBeforeApplied = &linkd.Error{Code: linkd.EUnavailable, Message: "no quorum: the cluster's leader took the request, but this member lost it before catching up and cannot reach a majority of its cluster; retry once a majority is back (appends with the same event ids: those recorded are acknowledged as duplicates)"}
)

// retryPause spaces attempts at a leader that did not answer.
const retryPause = 20 * time.Millisecond

// Propose replicates a batch (partylog.Proposer): on the leader it goes into
// Raft; a follower forwards it to the leader. When the leader is unknown,
// unreachable or changes before the batch is applied, the batch goes to the
// next leader: event ids make that safe, and the outcome is the same (an
// append applied twice is acknowledged as a duplicate of itself).
func (m *Member) Propose(ctx context.Context, batch []byte) ([]partylog.Outcome, error) {
	if m.log.Record() == nil {
		return nil, ErrNotReady
	}
	var outs []partylog.Outcome
	var index uint64
	err := m.toLeader(ctx, func(ctx context.Context, self bool, addr string) error {
		var err error
		if self {
			outs, index, err = m.proposeHere(ctx, batch)
			return err
		}
		var body []byte
		if body, err = m.rpcs.call(ctx, addr, opPropose, batch); err != nil {
			return err
		}
		var w wireProposal
		if err := json.Unmarshal(body, &w); err != nil {
			return fmt.Errorf("the leader's answer does not decode: %w", err)
		}
		outs, index = fromWire(w.Outcomes), w.Index
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Reads here after the acknowledgement must see the batch: wait until
	// this member has applied it too (the leader has, or it would not have
	// answered).
	if err := m.waitApplied(ctx, index); errors.Is(err, ErrLostBeforeApplied) {
		return nil, err
	} else if err != nil {
		return nil, unknown(err, nil)
	}
	return outs, nil
}

// appliedPoll is how often waitApplied looks at the leader while it waits.
const appliedPoll = 50 * time.Millisecond

// waitApplied waits until this member has applied index, which its leader
// has. A member that loses its leader meanwhile learns of nothing more, so
// without a leader for LeaderWait it gives up with ErrLostBeforeApplied, as
// toLeader gives up with ErrNoQuorum, rather than hold the caller until ctx
// ends: a member cut off from its majority answers promptly and clearly.
func (m *Member) waitApplied(ctx context.Context, index uint64) error {
	if m.log.Applied() >= index {
		return nil // the usual case, with no timer to make
	}
	var noLeader time.Time
	for {
		wctx, cancel := context.WithTimeout(ctx, appliedPoll)
		err := m.log.WaitApplied(wctx, index)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return err // the log closed or stopped
		}
		if _, id := m.raft.LeaderWithID(); id != "" {
			noLeader = time.Time{}
			continue
		}
		if noLeader.IsZero() {
			noLeader = time.Now()
		} else if time.Since(noLeader) >= m.cfg.LeaderWait {
			return ErrLostBeforeApplied
		}
	}
}

// toLeader runs fn at the current leader (self true when that is this
// member) until it succeeds or fails for good. Retried: the leader is not
// one (errRetry), cannot be reached, or hung up. Final: a domain error from
// the leader, the member closing, ctx ending, no leader for LeaderWait.
func (m *Member) toLeader(ctx context.Context, fn func(ctx context.Context, self bool, addr string) error) error {
	var noLeader time.Time
	var last error
	for {
		if m.closed.Load() {
			return linkd.ErrClosed
		}
		changed := m.leaderChanged()
		addr, id := m.raft.LeaderWithID()
		if id == "" {
			if noLeader.IsZero() {
				noLeader = time.Now()
			} else if time.Since(noLeader) >= m.cfg.LeaderWait {
				return ErrNoQuorum
			}
			if err := pause(ctx, changed, 50*time.Millisecond); err != nil {
				return unknown(err, last)
			}
			continue
		}
		noLeader = time.Time{}
		self := string(id) == m.cfg.MemberID
		// A call to a leader that stops answering is cut off when the
		// leader changes, not when ctx ends.
		callCtx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-changed:
				cancel()
			case <-stop:
			}
		}()
		err := fn(callCtx, self, m.dialAddr(string(id), string(addr)))
		close(stop)
		cancel()
		if err == nil {
			return nil
		}
		if isFinal(err) {
			return err
		}
		if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			m.logger.Debug("the leader did not take the request; retrying", "leader", string(id), "err", err)
		}
		last = err
		if err := pause(ctx, changed, retryPause); err != nil {
			return unknown(err, last)
		}
	}
}

// pause waits for d, a leader change or the end of ctx.
func pause(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-changed:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// isFinal reports whether err ends a request rather than sends it on to the
// next leader.
func isFinal(err error) bool {
	var re *errRetry
	if errors.As(err, &re) {
		return false
	}
	var le *linkd.Error
	var ve *linkd.ValidationError
	return errors.As(err, &le) || errors.As(err, &ve)
}

// unknown is the error of a request whose fate is unknown when ctx ended.
func unknown(ctxErr, last error) error {
	msg := "the cluster did not confirm the request in time (a leader change, or no majority); it may or may not have taken effect: retry with the same event ids"
	if last != nil {
		return &linkd.Error{Code: linkd.EUnavailable, Message: msg, Err: errors.Join(ctxErr, last)}
	}
	return &linkd.Error{Code: linkd.EUnavailable, Message: msg, Err: ctxErr}
}

// proposeHere puts a batch into Raft on the leader and returns its outcome
// and its index once applied here.
func (m *Member) proposeHere(ctx context.Context, batch []byte) ([]partylog.Outcome, uint64, error) {
	if m.raft.State() != raft.Leader {
		return nil, 0, &errRetry{"not the leader"}
	}
	f := m.raft.Apply(batch, m.cfg.ProposeTimeout)
	if err := raftErr(f.Error()); err != nil {
		return nil, 0, err
	}
	switch r := f.Response().(type) {
	case []partylog.Outcome:
		return r, f.Index(), nil
	case error:
		return nil, 0, r
	}
	return nil, 0, &linkd.Error{Code: linkd.EInternal, Message: "the cluster applied the batch without an outcome for it"}
}

// raftErr maps Raft's errors: those that mean "ask the next leader" become
// errRetry.
func raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrAbortedByRestore),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return &errRetry{err.Error()}
	case errors.Is(err, raft.ErrRaftShutdown):
		return linkd.ErrClosed
	}
	return err
}

// Linearize returns once this member's log reflects every append any member
// acknowledged before the call, so that reads made after it return are
// linearizable. The leader confirms its leadership with a barrier entry,
// shared by the readers waiting at once, and reports how far it has applied;
// this member waits until it has applied as far.
func (m *Member) Linearize(ctx context.Context) error {
	var idx uint64
	err := m.toLeader(ctx, func(ctx context.Context, self bool, addr string) error {
		if self {
			var err error
			idx, err = m.readIndexHere(ctx)
			return err
		}
		body, err := m.rpcs.call(ctx, addr, opReadIndex, nil)
		if err != nil {
			return err
		}
		if len(body) != 8 {
			return fmt.Errorf("the leader's read index does not decode")
		}
		idx = binary.BigEndian.Uint64(body)
		return nil
	})
	if err != nil {
		return err
	}
	return m.waitApplied(ctx, idx)
}

// barrierCall is one barrier that readers wait for.
type barrierCall struct {
	done chan struct{}
	idx  uint64
	err  error
}

// readIndexHere returns, on the leader, the applied index after a barrier
// that began after the call did.
func (m *Member) readIndexHere(ctx context.Context) (uint64, error) {
	if m.raft.State() != raft.Leader {
		return 0, &errRetry{"not the leader"}
	}
	m.barrierMu.Lock()
	if m.barrierNext == nil {
		m.barrierNext = &barrierCall{done: make(chan struct{})}
	}
	c := m.barrierNext
	if !m.barrierRunning {
		m.startBarrierLocked()
	}
	m.barrierMu.Unlock()
	select {
	case <-c.done:
		return c.idx, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// startBarrierLocked runs the barrier the waiting readers share; a reader
// that comes while one runs waits for the next, which starts when this one
// ends. Called with barrierMu held.
func (m *Member) startBarrierLocked() {
	c := m.barrierNext
	m.barrierNext = nil
	m.barrierRunning = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		c.err = raftErr(m.raft.Barrier(m.cfg.ProposeTimeout).Error())
		c.idx = m.log.Applied()
		close(c.done)
		m.barrierMu.Lock()
		m.barrierRunning = false
		if m.barrierNext != nil && !m.closed.Load() {
			m.startBarrierLocked()
		}
		m.barrierMu.Unlock()
	}()
}

// wireProposal is the answer to a forwarded batch: its Raft index and the
// outcome of each append.
type wireProposal struct {
	Index    uint64        `json:"index"`
	Outcomes []wireOutcome `json:"outcomes"`
}

// wireOutcome is a partylog.Outcome as a forwarded batch's answer carries
// it.
type wireOutcome struct {
	Acks  []linkd.Ack        `json:"acks,omitempty"`
	Error *linkd.ErrorDetail `json:"error,omitempty"`
}

func wireOutcomes(outs []partylog.Outcome) []wireOutcome {
	w := make([]wireOutcome, len(outs))
	for i, o := range outs {
		w[i].Acks = o.Acks
		if o.Err != nil {
			d := detailOf(o.Err)
			w[i].Error = &d
		}
	}
	return w
}

func fromWire(w []wireOutcome) []partylog.Outcome {
	outs := make([]partylog.Outcome, len(w))
	for i, o := range w {
		outs[i].Acks = o.Acks
		if o.Error != nil {
			outs[i].Err = errorFromDetail(*o.Error)
		}
	}
	return outs
}
