// Package localcluster runs a party's node as a cluster of real member
// processes on this machine (`linkd node --cluster`), for the failover
// benchmark and the fault tests: it makes the members' directories from one
// `linkd init`, starts the first member (which bootstraps) and joins the
// others, and can SIGKILL, SIGSTOP, continue and restart any member by its
// process id. With Proxies, every member reaches every other through a
// faultnet proxy of its own, so a test can cut any link between two members
// in either direction.
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// Options configure Start.
type Options struct {
	// Dir holds the members' directories. Required.
	Dir string
	// Binary is the linkd executable to run. Required.
	Binary string
	// Members is the cluster's size. Zero means 3.
	Members int
	// Proxies puts a faultnet proxy on every directed link between members.
	Proxies bool
	// HeartbeatTimeout is cluster.heartbeat_timeout. Zero leaves the
	// default.
	HeartbeatTimeout time.Duration
	// LeaderWait is cluster.leader_wait. Zero leaves the default.
	LeaderWait time.Duration
	// Party is the party the nodes record for. Zero means the lane's
	// terminal.
	Party linkd.Party
}

// Cluster is a running cluster of member processes.
type Cluster struct {
	opts    Options
	Admin   string // the admin token every member accepts
	CAPEM   []byte // the party's certificate, which clients trust
	Members []*Member

	mu      sync.Mutex
	proxies map[[2]int]*faultnet.Proxy // guarded by mu: from → to
}

// Member is one member process.
type Member struct {
	ID         string
	Dir        string
	ConfigPath string
	URL        string // its API
	RaftListen string
	Client     *client.Client

	mu      sync.Mutex
	cmd     *exec.Cmd     // guarded by mu: nil while down
	done    chan struct{} // guarded by mu: closed when cmd exits
	stopped bool          // guarded by mu: SIGSTOPped
	log     *os.File
}

// Start makes and starts a cluster: member 0 bootstraps, the others join it
// with its join token. It returns once every member is ready.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Members == 0 {
		o.Members = 3
	}
	if o.Party.ID == "" {
		o.Party = scenario.Terminal
	}
	c = &Cluster{opts: o, proxies: map[[2]int]*faultnet.Proxy{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	seed := filepath.Join(o.Dir, "init")
	res, err := node.Init(ctx, node.InitOptions{Dir: seed, Party: o.Party, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	c.Admin = res.AdminToken
	if c.CAPEM, err = os.ReadFile(filepath.Join(seed, "tls", "node.crt")); err != nil {
		return nil, err
	}
	// Every address stays bound until all are chosen and the proxies listen:
	// a port given up at once can come back from the next pick, and two
	// members that share one cannot both start.
	var held ports
	defer held.release()
	for i := range o.Members {
		m := &Member{ID: fmt.Sprintf("m%d", i+1), Dir: filepath.Join(o.Dir, fmt.Sprintf("m%d", i+1))}
		if err := copyDir(seed, m.Dir); err != nil {
			return nil, err
		}
		api, err := held.pick()
		if err != nil {
			return nil, err
		}
		if m.RaftListen, err = held.pick(); err != nil {
			return nil, err
		}
		m.URL = "https://" + api
		m.ConfigPath = filepath.Join(m.Dir, "linkd.yaml")
		if m.Client, err = client.New(m.URL, client.Options{Token: c.Admin, CAPEM: c.CAPEM, Timeout: 30 * time.Second}); err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	if o.Proxies {
		for i, from := range c.Members {
			for j, to := range c.Members {
				if i == j {
					continue
				}
				p, err := faultnet.New(to.RaftListen)
				if err != nil {
					return nil, err
				}
				c.proxies[[2]int{i, j}] = p
				_ = from
			}
		}
	}
	for i, m := range c.Members {
		if err := c.writeConfig(i, m); err != nil {
			return nil, err
		}
	}
	held.release()
	if err := c.Members[0].start(ctx, o.Binary, "--cluster"); err != nil {
		return nil, err
	}
	tok, err := waitFile(ctx, filepath.Join(c.Members[0].Dir, "raft", "join-token"))
	if err != nil {
		return nil, fmt.Errorf("the first member wrote no join token: %w\n%s", err, c.Members[0].Logs())
	}
	for _, m := range c.Members[1:] {
		if err := m.start(ctx, o.Binary, "--cluster", "--join", c.Members[0].URL, "--join-token", tok); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// writeConfig edits the config linkd init wrote: the member's API address,
// no rate limit (the runs measure capacity, not policy), and its cluster
// section.
func (c *Cluster) writeConfig(i int, m *Member) error {
	b, err := os.ReadFile(m.ConfigPath)
	if err != nil {
		return err
	}
	s := string(b)
	s = regexp.MustCompile(`(?m)^listen: .*$`).ReplaceAllString(s, fmt.Sprintf("listen: %q", strings.TrimPrefix(m.URL, "https://")))
	s = regexp.MustCompile(`(?m)^(\s*rate_per_token:).*$`).ReplaceAllString(s, "${1} 0")
	s = regexp.MustCompile(`(?m)^(\s*max_concurrent:).*$`).ReplaceAllString(s, "${1} 4096")
	var cl strings.Builder
	fmt.Fprintf(&cl, "\ncluster:\n  member: %q\n  listen: %q\n", m.ID, m.RaftListen)
	if c.opts.HeartbeatTimeout > 0 {
		fmt.Fprintf(&cl, "  heartbeat_timeout: %s\n", c.opts.HeartbeatTimeout)
	}
	if c.opts.LeaderWait > 0 {
		fmt.Fprintf(&cl, "  leader_wait: %s\n", c.opts.LeaderWait)
	}
	if c.opts.Proxies {
		cl.WriteString("  dial:\n")
		for j, to := range c.Members {
			if j != i {
				fmt.Fprintf(&cl, "    %s: %q\n", to.ID, c.proxies[[2]int{i, j}].Addr())
			}
		}
	}
	return os.WriteFile(m.ConfigPath, []byte(s+cl.String()), 0o600)
}

// start runs the member's process and waits until its API is ready.
func (m *Member) start(ctx context.Context, bin string, args ...string) error {
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		return fmt.Errorf("%s is running", m.ID)
	}
	if m.log == nil {
		f, err := os.OpenFile(filepath.Join(m.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			m.mu.Unlock()
			return err
		}
		m.log = f
	}
	fmt.Fprintf(m.log, "=== start %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, append([]string{"node", "--config", m.ConfigPath}, args...)...)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	m.cmd, m.done, m.stopped = cmd, done, false
	m.mu.Unlock()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := m.Client.Ready(rctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			m.mu.Lock()
			m.cmd = nil
			m.mu.Unlock()
			return fmt.Errorf("%s exited before it was ready:\n%s", m.ID, m.Logs())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", m.ID, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Restart starts a member that is down, as a member of its cluster.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	return c.Members[i].start(ctx, c.opts.Binary, "--cluster")
}

// Kill sends SIGKILL to a member and waits until it is gone.
func (c *Cluster) Kill(i int) error {
	m := c.Members[i]
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s is not running", m.ID)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-done
	return nil
}

// Stop sends SIGSTOP to a member: it holds its connections and answers
// nothing until Cont.
func (c *Cluster) Stop(i int) error { return c.Members[i].signal(syscall.SIGSTOP, true) }

// Cont sends SIGCONT to a member stopped by Stop.
func (c *Cluster) Cont(i int) error { return c.Members[i].signal(syscall.SIGCONT, false) }

func (m *Member) signal(sig syscall.Signal, stopped bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return fmt.Errorf("%s is not running", m.ID)
	}
	m.stopped = stopped
	return m.cmd.Process.Signal(sig)
}

// Up reports whether the member's process runs (stopped or not).
func (m *Member) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// Serving reports whether the member runs and is not stopped.
func (m *Member) Serving() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !m.stopped
}

// Pid is the member's process id, 0 while it is down.
func (m *Member) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Logs returns what the member's processes wrote so far.
func (m *Member) Logs() string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, "node.log"))
	return string(b)
}

// Link returns the proxy member from dials member to through, nil without
// Proxies.
func (c *Cluster) Link(from, to int) *faultnet.Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxies[[2]int{from, to}]
}

// Isolate cuts member i off from every other member, both ways.
func (c *Cluster) Isolate(i int) {
	for j := range c.Members {
		if j != i {
			c.Link(i, j).Partition()
			c.Link(j, i).Partition()
		}
	}
}

// Heal ends every partition and blackhole.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.proxies {
		p.Heal()
	}
}

// Leader asks the serving members who leads and returns its index, or an
// error when none knows of a leader.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	var errs []error
	for _, m := range c.Members {
		if !m.Serving() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := m.Client.ClusterStatus(sctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, x := range c.Members {
			if x.ID == st.Leader && st.Leader != "" {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no member knows a leader: %w", errors.Join(errs...))
}

// WaitConverged waits until every member is serving, reachable and has
// applied as far as the others, with the same log size and root, and
// returns that status.
func (c *Cluster) WaitConverged(ctx context.Context) (client.ClusterStatus, error) {
	var last client.ClusterStatus
	var lastErr error
	for {
		for _, m := range c.Members {
			if !m.Serving() {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := m.Client.ClusterStatus(sctx)
			cancel()
			if err != nil {
				lastErr = err
				continue
			}
			last = st
			if converged(st, len(c.Members)) {
				return st, nil
			}
			break
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("the members did not converge: %w (last status %+v, last error %v)", ctx.Err(), last, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitHealthy waits until every member is serving and reachable, a leader
// is known, and no member has applied fewer than maxLag entries less than the
// most advanced: caught up, though writes may go on.
func (c *Cluster) WaitHealthy(ctx context.Context, maxLag uint64) error {
	var last client.ClusterStatus
	for {
		for _, m := range c.Members {
			if !m.Serving() {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := m.Client.ClusterStatus(sctx)
			cancel()
			if err != nil {
				continue
			}
			last = st
			if healthy(st, len(c.Members), maxLag) {
				return nil
			}
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the members did not catch up: %w (last status %+v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func healthy(st client.ClusterStatus, n int, maxLag uint64) bool {
	if st.Leader == "" || len(st.Members) != n {
		return false
	}
	var top uint64
	for _, m := range st.Members {
		if !m.Reachable {
			return false
		}
		top = max(top, m.AppliedIndex)
	}
	for _, m := range st.Members {
		if m.AppliedIndex+maxLag < top {
			return false
		}
	}
	return true
}

func converged(st client.ClusterStatus, n int) bool {
	if st.Leader == "" || len(st.Members) != n {
		return false
	}
	for _, m := range st.Members {
		if !m.Reachable || m.AppliedIndex != st.Members[0].AppliedIndex || m.Root != st.Members[0].Root || m.LogSize != st.Members[0].LogSize {
			return false
		}
	}
	return true
}

// Close kills every member and closes the proxies.
func (c *Cluster) Close() error {
	for i, m := range c.Members {
		if m.Up() {
			c.Cont(i)
			c.Kill(i)
		}
		if m.log != nil {
			m.log.Close()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.proxies {
		p.Close()
	}
	return nil
}

// Single is one node run as a single process, for comparisons.
type Single struct {
	m *Member
}

// StartSingle makes and starts a single node in dir.
func StartSingle(ctx context.Context, dir, bin string) (*Single, error) {
	res, err := node.Init(ctx, node.InitOptions{Dir: dir, Party: scenario.Terminal, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "tls", "node.crt"))
	if err != nil {
		return nil, err
	}
	var held ports
	api, err := held.pick()
	held.release()
	if err != nil {
		return nil, err
	}
	m := &Member{ID: "single", Dir: dir, ConfigPath: res.ConfigPath, URL: "https://" + api}
	if m.Client, err = client.New(m.URL, client.Options{Token: res.AdminToken, CAPEM: ca, Timeout: 30 * time.Second}); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(m.ConfigPath)
	if err != nil {
		return nil, err
	}
	s := regexp.MustCompile(`(?m)^listen: .*$`).ReplaceAllString(string(b), fmt.Sprintf("listen: %q", api))
	s = regexp.MustCompile(`(?m)^(\s*rate_per_token:).*$`).ReplaceAllString(s, "${1} 0")
	s = regexp.MustCompile(`(?m)^(\s*max_concurrent:).*$`).ReplaceAllString(s, "${1} 4096")
	if err := os.WriteFile(m.ConfigPath, []byte(s), 0o600); err != nil {
		return nil, err
	}
	if err := m.start(ctx, bin); err != nil {
		return nil, err
	}
	return &Single{m}, nil
}

// Client is a client of the single node with its admin token.
func (s *Single) Client() *client.Client { return s.m.Client }

// Close kills the node.
func (s *Single) Close() error {
	s.m.mu.Lock()
	cmd, done := s.m.cmd, s.m.done
	s.m.cmd = nil
	s.m.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	if s.m.log != nil {
		s.m.log.Close()
	}
	return nil
}

// ports holds the loopback addresses it picked bound until release, so
// that no two picks return the same port.
type ports struct{ lns []net.Listener }

func (p *ports) pick() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	p.lns = append(p.lns, ln)
	return ln.Addr().String(), nil
}

func (p *ports) release() {
	for _, ln := range p.lns {
		ln.Close()
	}
	p.lns = nil
}

// waitFile waits for a non-empty file and returns its trimmed content.
func waitFile(ctx context.Context, path string) (string, error) {
	for {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b)), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// copyDir copies what linkd init made, as an operator copies it to each
// member's machine before their first start.
func copyDir(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
