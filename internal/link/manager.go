package link

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
)

// Manager runs a node's links: a sender per peer in the directory, and the
// handler that receives peers' frames and gossip.
type Manager struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	senders map[string]*sender // by peer id; guarded by mu
	closed  bool

	cosignMu sync.Mutex
	cosigned map[string]time.Time // when each peer's log was last cosigned

	out     outbox     // the own log's newest entries, shared by the senders
	zframes frameCache // the newest frame compressed, shared by the senders
}

// cosignEvery spaces a witness's cosignatures of one log: a cosignature
// vouches for every checkpoint before it, so one a second is enough, and
// cosigning every frame would add more bytes on the wire than the frame's
// own framing.
const cosignEvery = time.Second

// cosignDue reports whether peer's log is due a cosignature, and if so
// notes that it gets one now.
func (m *Manager) cosignDue(peer string) bool {
	m.cosignMu.Lock()
	defer m.cosignMu.Unlock()
	now := time.Now()
	if t, ok := m.cosigned[peer]; ok && now.Sub(t) < cosignEvery {
		return false
	}
	if m.cosigned == nil {
		m.cosigned = map[string]time.Time{}
	}
	m.cosigned[peer] = now
	return true
}

// New returns a manager; Start begins sending.
func New(cfg Config) *Manager {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, ctx: ctx, cancel: cancel, senders: map[string]*sender{}}
}

// Start opens the replica of every peer's log and starts a sender for each
// peer. Call Sync after the directory changes.
func (m *Manager) Start() error { return m.Sync() }

// Sync brings the senders in line with the directory: new peers get one,
// removed peers' stop, and a peer whose card changed gets a fresh one.
func (m *Manager) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	want := map[string]peers.Peer{}
	var errs []error
	for _, p := range m.cfg.Directory.List() {
		if _, err := m.cfg.Logs.Replica(p.Party, p.LogKey); err != nil {
			m.cfg.Logger.Error("cannot hold the replica of a peer's log; not linking it", "peer", p.Party.ID, "err", err)
			errs = append(errs, err)
			continue
		}
		want[p.Party.ID] = p
	}
	for id, s := range m.senders {
		if p, ok := want[id]; !ok || !samePeer(p, s.peer) {
			s.cancel()
			<-s.done
			delete(m.senders, id)
			m.cfg.Logger.Info("link stopped", "peer", id)
		}
	}
	for id, p := range want {
		if _, ok := m.senders[id]; ok {
			continue
		}
		s := newSender(m, p)
		ctx, cancel := context.WithCancel(m.ctx)
		s.cancel = cancel
		m.senders[id] = s
		go s.run(ctx)
		m.cfg.Logger.Info("link started", "peer", id, "endpoint", p.Endpoint)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func samePeer(a, b peers.Peer) bool {
	return a.Endpoint == b.Endpoint && a.CertPEM == b.CertPEM && a.LogKey == b.LogKey &&
		strings.Join(a.Party.Jurisdiction, ",") == strings.Join(b.Party.Jurisdiction, ",")
}

// Committed tells every sender that the log grew, and hands the outbox the
// entries the commit added, if the log kept them (partylog.Config.KeepEntries).
// Call it after each commit.
func (m *Manager) Committed(entries []partylog.NewEntry) {
	m.out.committed(entries)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.senders {
		s.poke()
	}
}

// peerUp tells the sender to one peer that the peer is reachable.
func (m *Manager) peerUp(peer string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.senders[peer]; ok {
		select {
		case s.up <- struct{}{}:
		default:
		}
	}
}

// Status reports every link, by peer id.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	ss := make([]*sender, 0, len(m.senders))
	for _, s := range m.senders {
		ss = append(ss, s)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.snapshot())
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// Forget drops the entries of the node's own log that the senders keep in
// memory. Call it when the node erases a shipment, so that payloads erased
// from the store are not sent from memory either.
func (m *Manager) Forget() {
	m.out.forget()
	m.zframes.forget()
}

// Close stops every sender and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	ss := m.senders
	m.senders = map[string]*sender{}
	m.mu.Unlock()
	m.cancel()
	for _, s := range ss {
		<-s.done
	}
}
