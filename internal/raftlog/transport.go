package raftlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The members' transport: one TCP listener, mutual TLS on every connection,
// then a handshake, then either Raft's own protocol (hashicorp/raft's
// NetworkTransport runs over it) or the members' RPCs (forwarded writes,
// read fences, membership changes, status).
//
// TLS proves the peer holds a certificate of this party: it must chain to
// the configured roots (by default the node's own certificate, which
// `linkd init` made and every member shares) and name the party
// (linkd://party/<id>, or the subject's common name). Host names are not
// checked: members are known by their certificate, not their address.
//
// The handshake, dialler to acceptor:
//
//	"LKDR" version(1)=1 proto(1) len(1) cluster len(1) member len(1) advertise
//
// and the acceptor's answer: 0, or 1 len(2) reason. The acceptor refuses a
// caller of another cluster (a member started with another cluster's data),
// a caller that claims this member's own id, and a caller that claims the id
// of a member the configuration places at another address (two members
// sharing an id). A member that has not yet joined a cluster (no cluster id)
// accepts any cluster: the one it joins contacts it first.

const (
	handshakeMagic   = "LKDR"
	handshakeVersion = 1
	protoRaft        = 'R'
	protoRPC         = 'C'
	handshakeTimeout = 5 * time.Second
)

// transport owns the listener and every connection it accepted or dialled.
type transport struct {
	ln        net.Listener
	advertise string
	member    string
	serverTLS *tls.Config
	clientTLS *tls.Config
	logger    *slog.Logger

	cluster func() string                          // this member's cluster id; "" before it joins one
	lookup  func(id string) (addr string, ok bool) // a member's address in the configuration
	rpc     func(ctx context.Context, c net.Conn)  // serves an accepted RPC connection

	raftConns chan net.Conn
	closing   chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu: every open connection
}

func newTransport(listen, advertise, member, party string, cert tls.Certificate, roots *x509.CertPool, logger *slog.Logger) (*transport, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen for members on %s: %w", listen, err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	verify := verifyMember(party, roots)
	ctx, cancel := context.WithCancel(context.Background())
	t := &transport{
		ln: ln, advertise: advertise, member: member, logger: logger,
		serverTLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert,
			VerifyPeerCertificate: verify, MinVersion: tls.VersionTLS13},
		// Members are known by certificate, not host name: the chain and
		// the party are checked by verify instead of the default checks.
		clientTLS: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
			VerifyPeerCertificate: verify, MinVersion: tls.VersionTLS13},
		raftConns: make(chan net.Conn),
		closing:   make(chan struct{}),
		ctx:       ctx, cancel: cancel,
		conns: map[net.Conn]struct{}{},
	}
	return t, nil
}

// start begins accepting; the callbacks must be set.
func (t *transport) start() {
	t.wg.Add(1)
	go t.accept()
}

// verifyMember checks that a peer's certificate chains to roots and names
// party.
func verifyMember(party string, roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("parse certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		leaf := certs[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("the certificate is not one of this party's cluster: %w", err)
		}
		if !namesParty(leaf, party) {
			return fmt.Errorf("the certificate speaks for %q, not party %s", leaf.Subject.CommonName, party)
		}
		return nil
	}
}

func namesParty(c *x509.Certificate, party string) bool {
	for _, u := range c.URIs {
		if u.Scheme == "linkd" && u.Host == "party" {
			return u.Path == "/"+party
		}
	}
	return c.Subject.CommonName == party
}

func (t *transport) track(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc
}

type trackedConn struct {
	net.Conn
	t    *transport
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

func (t *transport) accept() {
	defer t.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.closing:
				return
			default:
			}
			t.logger.Warn("accepting a member connection failed", "err", err)
			select {
			case <-time.After(delay):
			case <-t.closing:
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.serve(t.track(c))
		}()
	}
}

// serve runs the handshake of an accepted connection and hands it on.
func (t *transport) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	tc := tls.Server(c, t.serverTLS)
	if err := tc.HandshakeContext(t.ctx); err != nil {
		t.logger.Debug("member TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	h, err := readHello(tc)
	if err != nil {
		t.logger.Warn("a member connection sent no valid handshake", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	if reason := t.admit(h); reason != "" {
		t.logger.Warn("refused a member connection", "remote", c.RemoteAddr().String(), "peer_member", h.member, "peer_cluster", h.cluster, "reason", reason)
		writeRefusal(tc, reason)
		c.Close()
		return
	}
	if _, err := tc.Write([]byte{0}); err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	conn := &tlsTracked{Conn: tc, under: c}
	switch h.proto {
	case protoRaft:
		select {
		case t.raftConns <- conn:
		case <-t.closing:
			conn.Close()
		}
	case protoRPC:
		t.rpc(t.ctx, conn)
	default:
		conn.Close()
	}
}

// tlsTracked closes the tracked connection under a TLS one.
type tlsTracked struct {
	net.Conn
	under net.Conn
}

func (c *tlsTracked) Close() error {
	err := c.Conn.Close()
	c.under.Close()
	return err
}

// admit returns why a caller is refused, or "".
func (t *transport) admit(h hello) string {
	mine := t.cluster()
	if mine != "" && h.cluster != mine {
		if h.cluster == "" {
			return fmt.Sprintf("the caller belongs to no cluster; this member belongs to cluster %s", mine)
		}
		return fmt.Sprintf("the caller belongs to cluster %s; this member to cluster %s (a member started with another cluster's data?)", h.cluster, mine)
	}
	if h.member == t.member {
		return fmt.Sprintf("the caller claims member id %s, which is this member's own: two members share an id", h.member)
	}
	if addr, ok := t.lookup(h.member); ok && addr != h.advertise {
		return fmt.Sprintf("member %s is at %s in the cluster's configuration, but the caller at %s claims its id: two members share an id", h.member, addr, h.advertise)
	}
	return ""
}

type hello struct {
	proto                      byte
	cluster, member, advertise string
}

func writeHello(w io.Writer, h hello) error {
	b := append([]byte(handshakeMagic), handshakeVersion, h.proto)
	for _, s := range []string{h.cluster, h.member, h.advertise} {
		if len(s) > 255 {
			return fmt.Errorf("handshake field %q is over 255 bytes", s[:32])
		}
		b = append(append(b, byte(len(s))), s...)
	}
	_, err := w.Write(b)
	return err
}

func readHello(r io.Reader) (hello, error) {
	head := make([]byte, len(handshakeMagic)+2)
	if _, err := io.ReadFull(r, head); err != nil {
		return hello{}, err
	}
	if string(head[:4]) != handshakeMagic || head[4] != handshakeVersion {
		return hello{}, errors.New("not a linkd member handshake of a version this member speaks")
	}
	h := hello{proto: head[5]}
	for _, f := range []*string{&h.cluster, &h.member, &h.advertise} {
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return hello{}, err
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return hello{}, err
		}
		*f = string(b)
	}
	return h, nil
}

func writeRefusal(w io.Writer, reason string) {
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	b := binary.BigEndian.AppendUint16([]byte{1}, uint16(len(reason)))
	w.Write(append(b, reason...))
}

// RefusedError is a member's refusal of a connection from this one.
type RefusedError struct {
	Addr, Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the member at %s refused this one: %s", e.Addr, e.Reason)
}

// dial connects to the member at addr for proto.
func (t *transport) dial(ctx context.Context, addr string, proto byte, timeout time.Duration) (net.Conn, error) {
	select {
	case <-t.closing:
		return nil, errors.New("transport closed")
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	raw = t.track(raw)
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	tc := tls.Client(raw, t.clientTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS with the member at %s: %w", addr, err)
	}
	if err := writeHello(tc, hello{proto: proto, cluster: t.cluster(), member: t.member, advertise: t.advertise}); err != nil {
		raw.Close()
		return nil, err
	}
	var st [1]byte
	if _, err := io.ReadFull(tc, st[:]); err != nil {
		raw.Close()
		return nil, fmt.Errorf("handshake with the member at %s: %w", addr, err)
	}
	if st[0] != 0 {
		var n [2]byte
		io.ReadFull(tc, n[:])
		reason := make([]byte, binary.BigEndian.Uint16(n[:]))
		io.ReadFull(tc, reason)
		raw.Close()
		return nil, &RefusedError{Addr: addr, Reason: string(reason)}
	}
	raw.SetDeadline(time.Time{})
	return &tlsTracked{Conn: tc, under: raw}, nil
}

// close stops accepting and closes every connection.
func (t *transport) close() {
	t.closeOnce.Do(func() {
		close(t.closing)
		t.cancel()
		t.ln.Close()
		t.mu.Lock()
		conns := make([]net.Conn, 0, len(t.conns))
		for c := range t.conns {
			conns = append(conns, c)
		}
		t.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.wg.Wait()
}

// raftStream is hashicorp/raft's StreamLayer over the transport.
type raftStream struct {
	t *transport
}

func (s raftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.t.raftConns:
		return c, nil
	case <-s.t.closing:
		return nil, errors.New("transport closed")
	}
}

// Close is a no-op: the member closes the transport after raft shut down.
func (s raftStream) Close() error { return nil }

func (s raftStream) Addr() net.Addr { return advertiseAddr(s.t.advertise) }

func (s raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.t.dial(s.t.ctx, string(addr), protoRaft, timeout)
}

type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }
