package raftlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Member RPCs: one request and one answer at a time per connection, framed
//
//	request  op(1) len(4) payload
//	answer   status(1) len(4) payload
//
// A caller keeps idle connections per address for reuse and dials more when
// all are busy.
const (
	opPropose   = 1 // payload: a batch; answer: []wireOutcome
	opReadIndex = 2 // answer: the leader's applied index(8) after a barrier
	opStatus    = 3 // answer: this member's MemberStatus
	opAdmin     = 4 // payload: adminRequest; answer: adminAnswer (leader only)

	stOK    = 0 // payload: the answer
	stError = 1 // payload: a linkd.ErrorDetail, final
	stRetry = 2 // payload: why; this member is not (or no longer) the leader
)

// maxRPCPayload bounds one RPC's payload: a batch is at most a little over
// linkd.MaxBatchBytes.
const maxRPCPayload = linkd.MaxBatchBytes + 1<<20

// rpcIdleTimeout closes a served connection that sends nothing for this long.
const rpcIdleTimeout = 5 * time.Minute

// errRetry says the callee is not the leader: ask the current one.
type errRetry struct{ reason string }

func (e *errRetry) Error() string { return e.reason }

// pool keeps idle RPC connections by address.
type pool struct {
	t  *transport
	mu sync.Mutex
	m  map[string][]*rpcConn // guarded by mu
}

type rpcConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (p *pool) get(ctx context.Context, addr string) (*rpcConn, error) {
	p.mu.Lock()
	if cs := p.m[addr]; len(cs) > 0 {
		c := cs[len(cs)-1]
		p.m[addr] = cs[:len(cs)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := p.t.dial(ctx, addr, protoRPC, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &rpcConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

func (p *pool) put(addr string, c *rpcConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m[addr]) >= 16 {
		c.Close()
		return
	}
	p.m[addr] = append(p.m[addr], c)
}

func (p *pool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, cs := range p.m {
		for _, c := range cs {
			c.Close()
		}
		delete(p.m, addr)
	}
}

// call sends one RPC to the member at addr and returns its answer's payload.
// A stError answer is a *linkd.Error (or *linkd.ValidationError); stRetry an
// *errRetry. Any other error means the RPC's fate is unknown.
func (p *pool) call(ctx context.Context, addr string, op byte, payload []byte) ([]byte, error) {
	c, err := p.get(ctx, addr)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	status, body, err := roundTrip(c, op, payload)
	stop()
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	c.SetDeadline(time.Time{})
	p.put(addr, c)
	switch status {
	case stOK:
		return body, nil
	case stRetry:
		return nil, &errRetry{string(body)}
	case stError:
		var d linkd.ErrorDetail
		if err := json.Unmarshal(body, &d); err != nil {
			return nil, fmt.Errorf("member rpc: undecodable error answer: %w", err)
		}
		return nil, errorFromDetail(d)
	}
	return nil, fmt.Errorf("member rpc: unknown answer status %d", status)
}

func roundTrip(c *rpcConn, op byte, payload []byte) (byte, []byte, error) {
	if err := writeFrame(c.w, op, payload); err != nil {
		return 0, nil, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, nil, err
	}
	return readFrame(c.r)
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var head [5]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(payload)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxRPCPayload {
		return 0, nil, fmt.Errorf("member rpc: a frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return head[0], body, nil
}

// serveRPC answers one member's RPCs on c until it hangs up.
func (m *Member) serveRPC(ctx context.Context, c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(rpcIdleTimeout))
		op, payload, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				m.logger.Debug("member rpc connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		c.SetReadDeadline(time.Time{})
		status, body := m.handleRPC(ctx, op, payload)
		if err := writeFrame(w, status, body); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (m *Member) handleRPC(ctx context.Context, op byte, payload []byte) (byte, []byte) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ProposeTimeout)
	defer cancel()
	var (
		out any
		err error
	)
	switch op {
	case opPropose:
		var outs []partylog.Outcome
		var index uint64
		outs, index, err = m.proposeHere(ctx, payload)
		if err == nil {
			out = wireProposal{Index: index, Outcomes: wireOutcomes(outs)}
		}
	case opReadIndex:
		var idx uint64
		idx, err = m.readIndexHere(ctx)
		if err == nil {
			return stOK, binary.BigEndian.AppendUint64(nil, idx)
		}
	case opStatus:
		out = m.localStatus()
	case opAdmin:
		var req adminRequest
		if err = json.Unmarshal(payload, &req); err == nil {
			out, err = m.adminHere(ctx, req)
		} else {
			err = linkd.Errorf(linkd.EInvalid, "undecodable admin request")
		}
	default:
		err = linkd.Errorf(linkd.EInvalid, "unknown member rpc %d", op)
	}
	if err != nil {
		var re *errRetry
		if errors.As(err, &re) {
			return stRetry, []byte(re.reason)
		}
		b, _ := json.Marshal(detailOf(err))
		return stError, b
	}
	b, err := json.Marshal(out)
	if err != nil {
		b, _ = json.Marshal(linkd.ErrorDetail{Code: linkd.EInternal, Message: "internal error"})
		return stError, b
	}
	return stOK, b
}

// detailOf is err as the answer carries it. Internal errors keep their
// message here: both ends are members of one party.
func detailOf(err error) linkd.ErrorDetail {
	var ve *linkd.ValidationError
	if errors.As(err, &ve) {
		return linkd.ErrorDetail{Code: linkd.EInvalid, Message: ve.Error(), Problems: ve.Problems}
	}
	code := linkd.ErrorCode(err)
	msg := linkd.ErrorMessage(err)
	if code == linkd.EInternal {
		msg = err.Error()
	}
	return linkd.ErrorDetail{Code: code, Message: msg}
}

func errorFromDetail(d linkd.ErrorDetail) error {
	if len(d.Problems) > 0 {
		return &linkd.ValidationError{Problems: d.Problems}
	}
	return &linkd.Error{Code: d.Code, Message: d.Message}
}
