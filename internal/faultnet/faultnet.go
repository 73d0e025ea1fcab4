// Package faultnet is a TCP proxy that injects network faults between the
// nodes of a test or benchmark, for kernels without netem.
//
// A Proxy listens on 127.0.0.1 and forwards every accepted connection to one
// target address. It copies bytes and never looks inside them, so TLS (and
// mutual TLS) runs end to end between the real client and the real server.
//
// Faults may be switched on and off at any time, from any goroutine, while
// connections are open:
//
//   - Partition cuts every open connection and resets new ones; Heal ends it.
//   - Blackhole holds every byte and never answers, like a peer stopped with
//     SIGSTOP; Heal releases the held bytes in order, like SIGCONT.
//   - SetDelay delays each chunk by a duration plus or minus jitter, keeping
//     the order of bytes within a connection.
//   - SetDropRate cuts a connection with some probability per chunk. TCP
//     cannot lose bytes silently without corrupting the stream the peers see,
//     so loss is modelled as what it costs a TCP user: a reset connection.
//   - SetBandwidth paces each direction, shared by all connections.
//
// A chunk is whatever one read from a socket returned: at most 32 KiB, and
// often one write of the sender, but TCP keeps no message boundaries, so tests
// must not count on a particular chunking.
//
// With WithRecord the proxy keeps every byte it reads, so a test can assert
// that a secret never crossed the wire in plaintext.
package faultnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRecordLimit is how many bytes WithRecord keeps, over both directions
// and all connections, before it stops recording and reports Truncated.
const DefaultRecordLimit = 256 << 20

const (
	chunkSize   = 32 << 10 // largest chunk read from a socket at once
	queueLen    = 8        // chunks read ahead of the writer, per direction
	dialTimeout = 10 * time.Second
)

// An Option configures a Proxy at New.
type Option func(*options)

type options struct {
	seed        int64
	seeded      bool
	recordLimit int // 0: do not record
}

// WithSeed seeds the random source behind jitter and drops, so a fault
// schedule can be replayed. Decisions are drawn in the order chunks are read,
// so a replay gives the same faults only when the traffic arrives in the same
// order, as with one connection carrying one request at a time. Without
// WithSeed the seed is random; Seed reports it.
func WithSeed(seed int64) Option {
	return func(o *options) { o.seed, o.seeded = seed, true }
}

// WithRecord keeps up to DefaultRecordLimit bytes that pass through the proxy,
// for Bytes and Contains.
func WithRecord() Option {
	return WithRecordLimit(DefaultRecordLimit)
}

// WithRecordLimit is WithRecord keeping at most n bytes; n <= 0 means
// DefaultRecordLimit.
func WithRecordLimit(n int) Option {
	if n <= 0 {
		n = DefaultRecordLimit
	}
	return func(o *options) { o.recordLimit = n }
}

// Proxy forwards TCP connections to one target while injecting faults. All
// methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	seed   int64
	rec    *recorder // nil unless WithRecord

	ctx    context.Context // cancelled by Close; parent of every connection's
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	closeOnce sync.Once
	closeErr  error

	conns     atomic.Int64
	bytesUp   atomic.Int64
	bytesDown atomic.Int64

	mu          sync.Mutex
	closed      bool               // guarded by mu
	partitioned bool               // guarded by mu
	blackholed  bool               // guarded by mu
	flowing     chan struct{}      // guarded by mu; closed while not blackholed
	delay       time.Duration      // guarded by mu
	jitter      time.Duration      // guarded by mu
	dropRate    float64            // guarded by mu
	bandwidth   int                // guarded by mu; bytes per second, 0 unlimited
	next        [2]time.Time       // guarded by mu; earliest send time per direction under bandwidth
	rng         *rand.Rand         // guarded by mu
	active      map[*conn]struct{} // guarded by mu
}

// New starts a proxy on 127.0.0.1 with a free port that forwards each
// connection to target, a host:port dialled afresh for every connection. The
// proxy runs until Close.
func New(target string, opts ...Option) (*Proxy, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !o.seeded {
		o.seed = rand.Int64()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &Proxy{
		target:  target,
		ln:      ln,
		seed:    o.seed,
		flowing: flowing,
		rng:     rand.New(rand.NewPCG(uint64(o.seed), 0)),
		active:  make(map[*conn]struct{}),
	}
	if o.recordLimit > 0 {
		p.rec = &recorder{limit: o.recordLimit}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the host:port clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address every connection is forwarded to.
func (p *Proxy) Target() string { return p.target }

// Seed is the seed of the random source behind jitter and drops.
func (p *Proxy) Seed() int64 { return p.seed }

// Close stops listening, cuts every connection and returns once every
// goroutine of the proxy has ended. Later calls wait the same way and return
// the same error.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		conns := p.snapshotLocked()
		p.mu.Unlock()
		if err := p.ln.Close(); err != nil {
			p.closeErr = fmt.Errorf("faultnet: close: %w", err)
		}
		p.cancel()
		for _, c := range conns {
			c.cut()
		}
		p.wg.Wait()
	})
	return p.closeErr
}

// Partition cuts every open connection, resetting both sides, and resets
// every new connection right after accepting it, until Heal. A real partition
// leaves connections hanging until a timeout fires; use Blackhole for that.
func (p *Proxy) Partition() {
	p.mu.Lock()
	p.partitioned = true
	conns := p.snapshotLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
}

// Blackhole stops forwarding in both directions until Heal: connections stay
// open, new ones are accepted but not yet dialled through, and nothing
// answers. The proxy reads a little ahead and then stops reading, so senders
// fill their socket buffers and block, as with a peer stopped by SIGSTOP.
// Bytes already being written when Blackhole is called may still arrive.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.blackholed {
		p.blackholed = true
		p.flowing = make(chan struct{})
	}
}

// Heal ends Partition and Blackhole. Connections cut by a partition stay cut;
// bytes held by a blackhole are delivered in order. Delay, drop rate and
// bandwidth are left as they are.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = false
	if p.blackholed {
		p.blackholed = false
		close(p.flowing)
	}
}

// SetDelay delays every chunk read from now on, in each direction, by d plus
// a uniform random amount in [-jitter, +jitter], never below zero. A chunk is
// never delivered before one read earlier on the same connection and
// direction, so jitter reorders nothing. A round trip is delayed twice. Zero
// d and jitter turn delay off.
func (p *Proxy) SetDelay(d, jitter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay, p.jitter = max(d, 0), max(jitter, 0)
}

// SetDropRate cuts a connection, resetting both sides, with probability prob
// for each chunk read from it in either direction; 0 turns drops off and 1
// cuts every connection that carries a byte. A chunk that triggers a cut is
// not delivered.
func (p *Proxy) SetDropRate(prob float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropRate = min(max(prob, 0), 1)
}

// SetBandwidth limits each direction, summed over all connections, to
// bytesPerSec, sending in slices of about 20ms worth; 0 or less means
// unlimited.
func (p *Proxy) SetBandwidth(bytesPerSec int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bandwidth = max(bytesPerSec, 0)
	p.next = [2]time.Time{}
}

// Conns is how many connections the proxy has accepted, including those it
// reset at once because of a partition.
func (p *Proxy) Conns() int64 { return p.conns.Load() }

// Active is how many connections are open through the proxy now.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.active)
}

// BytesUp is how many bytes the proxy has delivered from clients to the target.
func (p *Proxy) BytesUp() int64 { return p.bytesUp.Load() }

// BytesDown is how many bytes the proxy has delivered from the target to clients.
func (p *Proxy) BytesDown() int64 { return p.bytesDown.Load() }

// Bytes returns copies of the recorded bytes sent by clients (up) and by the
// target (down), each the concatenation of every connection's stream in
// accept order. It records what the proxy read, so it includes bytes that a
// fault kept from being delivered. It panics without WithRecord, so that a
// leak check cannot pass by recording nothing.
func (p *Proxy) Bytes() (up, down []byte) {
	r := p.recording("Bytes")
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.streams {
		up = append(up, s[dirUp]...)
		down = append(down, s[dirDown]...)
	}
	return up, down
}

// Contains reports whether needle occurs in what any one connection carried
// in one direction, as recorded for Bytes. It panics without WithRecord.
func (p *Proxy) Contains(needle []byte) bool {
	r := p.recording("Contains")
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.streams {
		if bytes.Contains(s[dirUp], needle) || bytes.Contains(s[dirDown], needle) {
			return true
		}
	}
	return false
}

// Truncated reports whether the recording hit its limit and left bytes out.
// It panics without WithRecord.
func (p *Proxy) Truncated() bool {
	r := p.recording("Truncated")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.truncated
}

func (p *Proxy) recording(method string) *recorder {
	if p.rec == nil {
		panic("faultnet: " + method + " called on a proxy made without WithRecord")
	}
	return p.rec
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait for some to free up.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		p.conns.Add(1)
		c := &conn{p: p, client: nc.(*net.TCPConn)}
		c.ctx, c.cancel = context.WithCancel(p.ctx)
		p.mu.Lock()
		if p.closed || p.partitioned {
			p.mu.Unlock()
			c.cancel()
			reset(c.client)
			continue
		}
		p.active[c] = struct{}{}
		p.wg.Add(1) // before Close can wait: it sets closed under mu first
		p.mu.Unlock()
		if p.rec != nil {
			c.rec = p.rec.stream()
		}
		go c.run()
	}
}

func (p *Proxy) snapshotLocked() []*conn {
	conns := make([]*conn, 0, len(p.active))
	for c := range p.active {
		conns = append(conns, c)
	}
	return conns
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, c)
}

// roll draws the fate of one chunk: whether it cuts the connection, and if
// not, how long to delay it.
func (p *Proxy) roll() (delay time.Duration, drop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropRate > 0 && p.rng.Float64() < p.dropRate {
		return 0, true
	}
	delay = p.delay
	if p.jitter > 0 {
		delay += time.Duration(p.rng.Int64N(2*int64(p.jitter)+1)) - p.jitter
	}
	return max(delay, 0), false
}

// reserve books the link in direction dir for up to n bytes and returns when
// they may be sent and how many were booked. Without a bandwidth limit it
// books all n bytes for now.
func (p *Proxy) reserve(dir direction, n int) (time.Time, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bandwidth == 0 {
		return time.Time{}, n
	}
	// Slices of 20ms keep a slow link trickling instead of bursting 32 KiB.
	n = min(n, max(p.bandwidth/50, 1))
	at := p.next[dir]
	if now := time.Now(); at.Before(now) {
		at = now
	}
	p.next[dir] = at.Add(time.Duration(n) * time.Second / time.Duration(p.bandwidth))
	return at, n
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flowing
}

type direction int

const (
	dirUp   direction = iota // client to target
	dirDown                  // target to client
)

type chunk struct {
	b   []byte
	due time.Time
}

// conn is one proxied connection. Four goroutines carry it: a reader and a
// writer per direction, joined by a short queue so that delayed chunks queue
// up in order while reading goes on.
type conn struct {
	p      *Proxy
	client *net.TCPConn
	rec    *[2][]byte // nil unless recording

	ctx    context.Context // done once the connection is cut or finished
	cancel context.CancelFunc

	// mu is never held together with Proxy.mu or the recorder's mu, so no
	// lock order arises.
	mu     sync.Mutex
	server *net.TCPConn // guarded by mu; nil until dialled
	isCut  bool         // guarded by mu
}

func (c *conn) run() {
	defer c.p.wg.Done()
	defer c.p.forget(c)

	// A new connection waits out a blackhole before dialling, so that not
	// even a handshake reaches the target.
	if !c.waitFlowing() {
		c.cut()
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(c.ctx, "tcp", c.p.target)
	if err != nil {
		c.cut()
		return
	}
	server := nc.(*net.TCPConn)
	c.mu.Lock()
	if c.isCut {
		c.mu.Unlock()
		reset(server)
		return
	}
	c.server = server
	c.mu.Unlock()

	var wg sync.WaitGroup
	upq, downq := make(chan chunk, queueLen), make(chan chunk, queueLen)
	wg.Go(func() { c.read(dirUp, c.client, upq) })
	wg.Go(func() { c.write(dirUp, server, upq) })
	wg.Go(func() { c.read(dirDown, server, downq) })
	wg.Go(func() { c.write(dirDown, c.client, downq) })
	wg.Wait()

	// Both directions ended, cleanly or by a cut; a second close is harmless.
	c.cancel()
	c.client.Close()
	server.Close()
}

// cut resets both sides of the connection and stops its goroutines.
func (c *conn) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isCut {
		return
	}
	c.isCut = true
	c.cancel()
	reset(c.client)
	if c.server != nil {
		reset(c.server)
	}
}

// read moves chunks from src into q until src ends, closing q after a clean
// end so the writer half-closes the other side.
func (c *conn) read(dir direction, src *net.TCPConn, q chan<- chunk) {
	defer close(q)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b := bytes.Clone(buf[:n])
			if c.rec != nil {
				c.p.rec.add(c.rec, dir, b)
			}
			delay, drop := c.p.roll()
			if drop {
				c.cut()
				return
			}
			// The writer takes chunks in order, so a chunk due before the
			// one ahead of it just follows it: jitter never reorders.
			select {
			case q <- chunk{b: b, due: time.Now().Add(delay)}:
			case <-c.ctx.Done():
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.cut()
			}
			return
		}
	}
}

// write sends the chunks from q to dst, each when it is due, the link is not
// blackholed and the bandwidth allows.
func (c *conn) write(dir direction, dst *net.TCPConn, q <-chan chunk) {
	for {
		var ch chunk
		var ok bool
		select {
		case ch, ok = <-q:
		case <-c.ctx.Done():
			return
		}
		if !ok {
			if c.ctx.Err() == nil {
				if err := dst.CloseWrite(); err != nil {
					c.cut()
				}
			}
			return
		}
		if !c.sleepUntil(ch.due) {
			return
		}
		for b := ch.b; len(b) > 0; {
			if !c.waitFlowing() {
				return
			}
			at, n := c.p.reserve(dir, len(b))
			if !c.sleepUntil(at) {
				return
			}
			if _, err := dst.Write(b[:n]); err != nil {
				c.cut()
				return
			}
			if dir == dirUp {
				c.p.bytesUp.Add(int64(n))
			} else {
				c.p.bytesDown.Add(int64(n))
			}
			b = b[n:]
		}
	}
}

// sleepUntil waits until t and reports whether the connection is still open.
func (c *conn) sleepUntil(t time.Time) bool {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-c.ctx.Done():
		}
	}
	return c.ctx.Err() == nil
}

// waitFlowing waits out a blackhole and reports whether the connection is
// still open.
func (c *conn) waitFlowing() bool {
	select {
	case <-c.p.gate():
	case <-c.ctx.Done():
	}
	return c.ctx.Err() == nil
}

// reset closes tc so that the peer sees a reset rather than an orderly end.
func reset(tc *net.TCPConn) {
	tc.SetLinger(0)
	tc.Close()
}

type recorder struct {
	limit int

	mu        sync.Mutex
	n         int          // guarded by mu; bytes kept so far
	truncated bool         // guarded by mu
	streams   []*[2][]byte // guarded by mu; one per connection, in accept order
}

func (r *recorder) stream() *[2][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := new([2][]byte)
	r.streams = append(r.streams, s)
	return s
}

func (r *recorder) add(s *[2][]byte, dir direction, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if room := r.limit - r.n; len(b) > room {
		b = b[:room]
		r.truncated = true
	}
	s[dir] = append(s[dir], b...)
	r.n += len(b)
}
