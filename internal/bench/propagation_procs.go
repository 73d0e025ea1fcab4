package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/peers"
)

// A propagation run with a process per node (PropagationConfig.Member)
// drives its members over their standard input and output, one JSON value a
// step: the parent sends a member its setup and gets its node's card back;
// sends every member the lane's cards and gets word when its links are up;
// has the origin record and gets what it recorded; has each peer wait for
// the origin's entries and gets when each arrived. Closing a member's input
// stops it.

// memberRequest is a step the parent asks of a member.
type memberRequest struct {
	Setup *memberSetup `json:"setup,omitempty"`
	Cards []peers.Peer `json:"cards,omitempty"` // link to these (one is the member's own)
	Run   bool         `json:"run,omitempty"`   // the origin: record now
	Wait  int64        `json:"wait,omitempty"`  // a peer: wait for this many of the origin's entries
}

type memberSetup struct {
	Index  int               `json:"index"` // in the lane; 0 is the origin
	Dir    string            `json:"dir"`
	Config PropagationConfig `json:"config"`
}

// memberReply is a member's answer to one step.
type memberReply struct {
	Card  *peers.Peer `json:"card,omitempty"`
	Ready bool        `json:"ready,omitempty"`
	Run   *originRun  `json:"run,omitempty"`
	Seen  []int64     `json:"seen,omitempty"` // by log index, when the member verified and stored it, Unix ns
	Err   string      `json:"error,omitempty"`
}

// PropagationMember runs one node of a propagation run in this process,
// driven over in and out by Propagation with PropagationConfig.Member set.
// It returns when in ends.
func PropagationMember(ctx context.Context, in io.Reader, out io.Writer) error {
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	fail := func(err error) error {
		enc.Encode(memberReply{Err: err.Error()})
		return err
	}
	var req memberRequest
	if err := dec.Decode(&req); err != nil || req.Setup == nil {
		return fmt.Errorf("propagation member: no setup on standard input (%v); this command is run by 'linkd bench propagation --procs'", err)
	}
	setup := req.Setup
	parties := lane(setup.Config.Nodes)
	if setup.Index < 0 || setup.Index >= len(parties) || len(parties) < 2 {
		return fail(fmt.Errorf("member %d of a lane of %d", setup.Index, len(parties)))
	}
	ln, err := openLaneNode(ctx, setup.Dir, parties[setup.Index])
	if err != nil {
		return fail(err)
	}
	defer ln.stop()
	var arrived *arrivals
	if setup.Index > 0 {
		arrived = watchArrivals(ln, parties[0].ID, setup.Config.total())
	}
	card, err := ln.n.Card()
	if err != nil {
		return fail(err)
	}
	if err := enc.Encode(memberReply{Card: &card}); err != nil {
		return err
	}

	if err := dec.Decode(&req); err != nil {
		return err
	}
	for _, c := range req.Cards {
		if c.Party.ID == ln.party.ID {
			continue
		}
		if err := ln.n.Peers().Put(c); err != nil {
			return fail(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !ln.linksUp(len(parties) - 1); {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%s: links not all up after 10s", ln.party.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := enc.Encode(memberReply{Ready: true}); err != nil {
		return err
	}

	if err := dec.Decode(&req); err != nil {
		return err
	}
	switch {
	case req.Run && setup.Index == 0:
		run, err := driveOrigin(ctx, ln, shipmentParties(parties), setup.Config)
		if err != nil {
			return fail(err)
		}
		err = enc.Encode(memberReply{Run: &run})
		if err != nil {
			return err
		}
	case req.Wait > 0 && arrived != nil:
		if err := arrived.wait(ctx, req.Wait, 30*time.Second); err != nil {
			return fail(fmt.Errorf("%s: %w", ln.party.ID, err))
		}
		if err := enc.Encode(memberReply{Seen: arrived.seen[:req.Wait]}); err != nil {
			return err
		}
	default:
		return fail(fmt.Errorf("member %d: unexpected step %+v", setup.Index, req))
	}
	// Serve the links until the parent closes the input.
	io.Copy(io.Discard, io.MultiReader(dec.Buffered(), in))
	return nil
}

// member is the parent's end of one member process.
type member struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	stderr bytes.Buffer
	done   bool
	unkill func() bool
}

func startMember(ctx context.Context, cmd *exec.Cmd) (*member, error) {
	m := &member{cmd: cmd}
	var err error
	if m.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &m.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a propagation member (%s): %w", cmd.Path, err)
	}
	m.enc, m.dec = json.NewEncoder(m.stdin), json.NewDecoder(stdout)
	m.unkill = context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	return m, nil
}

// step sends req (unless nil) and reads the member's answer.
func (m *member) step(req *memberRequest) (memberReply, error) {
	if req != nil {
		if err := m.enc.Encode(req); err != nil {
			return memberReply{}, m.failed(err)
		}
	}
	var r memberReply
	if err := m.dec.Decode(&r); err != nil {
		return memberReply{}, m.failed(err)
	}
	if r.Err != "" {
		return memberReply{}, m.failed(errors.New(r.Err))
	}
	return r, nil
}

// failed stops the member and adds the end of what it wrote to its
// standard error to err.
func (m *member) failed(err error) error {
	m.cmd.Process.Kill()
	m.stop()
	if tail := bytes.TrimSpace(m.stderr.Bytes()); len(tail) > 0 {
		tail = tail[max(0, len(tail)-2000):]
		return fmt.Errorf("propagation member: %w; its standard error ends:\n%s", err, tail)
	}
	return fmt.Errorf("propagation member: %w (%v)", err, m.cmd.ProcessState)
}

// stop closes the member's input, which ends it, and waits for it.
func (m *member) stop() {
	if m.done {
		return
	}
	m.done = true
	m.unkill()
	m.stdin.Close()
	timer := time.AfterFunc(30*time.Second, func() { m.cmd.Process.Kill() })
	m.cmd.Wait()
	timer.Stop()
}

// cpu is the member's user and system time, once it has stopped.
func (m *member) cpu() time.Duration {
	if m.cmd.ProcessState == nil {
		return 0
	}
	return m.cmd.ProcessState.UserTime() + m.cmd.ProcessState.SystemTime()
}

func propagationProcs(ctx context.Context, cfg PropagationConfig, dir string) (PropagationResult, error) {
	var ms []*member
	defer func() {
		for _, m := range ms {
			m.cmd.Process.Kill() // after a failure; those stopped are done
			m.stop()
		}
	}()
	parties := lane(cfg.Nodes)
	cards := make([]peers.Peer, len(parties))
	for i, p := range parties {
		m, err := startMember(ctx, cfg.Member())
		if err != nil {
			return PropagationResult{}, err
		}
		ms = append(ms, m)
		setup := &memberSetup{Index: i, Dir: filepath.Join(dir, fmt.Sprintf("%d-%s", i, p.ID)), Config: cfg}
		r, err := m.step(&memberRequest{Setup: setup})
		if err != nil {
			return PropagationResult{}, err
		}
		if r.Card == nil {
			return PropagationResult{}, fmt.Errorf("propagation member %d sent no card", i)
		}
		cards[i] = *r.Card
	}
	// The origin reaches the first peer through a counting proxy.
	u, err := url.Parse(cards[1].Endpoint)
	if err != nil {
		return PropagationResult{}, err
	}
	proxy, err := faultnet.New(u.Host)
	if err != nil {
		return PropagationResult{}, err
	}
	defer proxy.Close()
	for i, m := range ms {
		cs := slices.Clone(cards)
		if i == 0 {
			cs[1].Endpoint = "https://" + proxy.Addr()
		}
		if err := m.enc.Encode(&memberRequest{Cards: cs}); err != nil {
			return PropagationResult{}, m.failed(err)
		}
	}
	for _, m := range ms {
		if _, err := m.step(nil); err != nil {
			return PropagationResult{}, err
		}
	}
	r, err := ms[0].step(&memberRequest{Run: true})
	if err != nil {
		return PropagationResult{}, err
	}
	if r.Run == nil {
		return PropagationResult{}, fmt.Errorf("the origin did not say what it recorded")
	}
	run := *r.Run
	for _, m := range ms[1:] {
		if err := m.enc.Encode(&memberRequest{Wait: run.Size}); err != nil {
			return PropagationResult{}, m.failed(err)
		}
	}
	var delays []time.Duration
	for _, m := range ms[1:] {
		r, err := m.step(nil)
		if err != nil {
			return PropagationResult{}, err
		}
		if int64(len(r.Seen)) != run.Size {
			return PropagationResult{}, fmt.Errorf("a peer reported %d arrivals of %d entries", len(r.Seen), run.Size)
		}
		delays = appendDelays(delays, run.Acked, r.Seen)
	}
	res := PropagationResult{
		Nodes: cfg.Nodes, Events: int(run.Size), Rate: run.rate(), Latency: summarize(delays),
		WireBytes: proxy.BytesUp() + proxy.BytesDown(), PayloadBytes: run.Payload,
	}
	for _, m := range ms {
		m.stop()
		res.CPU += m.cpu()
	}
	return res, nil
}
