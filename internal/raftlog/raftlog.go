// Package raftlog makes a party's log highly available: the party runs its
// node as a cluster of members (three, usually), and hashicorp/raft orders
// the log's batches among them, so the log survives the loss of any minority
// of members.
//
// What it promises:
//
//   - One history. The committed Raft order is the Merkle leaf order: every
//     member applies the same batches in the same order with the same
//     deterministic apply (partylog.ApplyCommitted), so every member holds
//     the same events, tree and signed checkpoints, byte for byte. The
//     members share the party's log key; Ed25519 signatures are
//     deterministic, so each member signs the notes the others sign.
//   - Durable acknowledgements. An append is acknowledged once its batch is
//     on disk (raft-wal fsyncs) on a majority of members and applied here.
//     The state machine's Pebble batch is not fsynced separately: after a
//     crash, Raft replays what the store lost (etcd does the same).
//   - A minority never acknowledges. Without a majority there is no leader;
//     appends wait for one for LeaderWait and then fail with an unavailable
//     error that says so. Reads stay local and keep working.
//   - Any member takes writes. A follower forwards each batch to the leader
//     over the members' own mutual-TLS RPCs; batches are idempotent by event
//     id, so a batch whose fate a leader change left unknown is proposed
//     again, and at worst acknowledged as a duplicate of itself.
//   - Linearizable reads on request (Linearize): the leader commits a barrier
//     (coalesced across concurrent readers) and reports its applied index;
//     the member that serves the read waits until it has applied that far.
//     Plain reads are local and may lag the leader by a few milliseconds.
//   - Members are this party's, and this cluster's. Mutual TLS admits only
//     certificates of the party; a handshake refuses members of another
//     cluster (a member started with another cluster's data) and members
//     that claim an id another member holds. Joining takes a join token
//     whose hash the cluster replicates.
//
// Layout of a member's Raft directory:
//
//	wal/           raft-wal: Raft's log and stable store
//	snapshots/     Raft's snapshots of the log (see partylog.Snapshot)
//	cluster.json   the cluster this member belongs to and its member id
//	join-token     the first join token, written by the member that bootstrapped
//	forget-pending present while a Forget (an erasure) is not yet done here
//
// Raft's log and snapshots hold events in the clear, unlike the store,
// which seals them under per-shipment keys; Forget, called once an erasure
// destroyed a key here, compacts both so that no live file holds what was
// erased (see forget.go).
//
// Snapshots copy the whole own log, so they are taken rarely (see
// SnapshotThreshold); the state machine's store is durable on its own, and
// a restarting member replays Raft's log above its own applied index rather
// than restore a snapshot it already holds.
package raftlog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/segment"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Config configures a Member.
type Config struct {
	// MemberID names this member in its cluster, for good: a slug such as
	// "m1". Required.
	MemberID string
	// Dir holds the member's Raft state. Required.
	Dir string
	// Listen is the host:port the member takes other members' connections
	// on. Required.
	Listen string
	// Advertise is the host:port other members reach this one at. "" means
	// the address Listen bound.
	Advertise string
	// API is this member's HTTPS API URL, kept in the cluster's member list
	// so that any member can name the leader's. "" means none.
	API string
	// Dial overrides the address this member dials another member at, by
	// member id (a proxy, a NAT). Nil means the configured addresses.
	Dial map[string]string
	// Party is the party whose log this is; every member's certificate must
	// name it.
	Party string
	// Cert is the member's TLS certificate; Roots the certificates a
	// member's must chain to (the party's own certificate, or its CA).
	Cert  tls.Certificate
	Roots *x509.CertPool
	// Bootstrap starts a new cluster of this member alone when the member
	// has no Raft state. Without it, a member without state waits to be
	// added (Join, or another member's AddMember).
	Bootstrap bool

	// HeartbeatTimeout is how long a follower waits for the leader before
	// it stands for election. Zero means 200ms. A dead leader is replaced
	// after one to one and a half of these (see watchContact), plus an
	// election timeout when the first vote splits. Raise it where members
	// are far apart or heavily loaded.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes. Zero means
	// HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader keeps leading without hearing
	// from a majority. Zero means HeartbeatTimeout × 0.8.
	LeaderLeaseTimeout time.Duration
	// LeaderWait bounds how long an append waits for a leader when there is
	// none (an election, or no majority). Zero means 3s.
	LeaderWait time.Duration
	// ProposeTimeout bounds one batch from proposal to outcome. Zero means
	// 10s.
	ProposeTimeout time.Duration
	// SnapshotThreshold is how many Raft entries trigger a snapshot. Zero
	// means 16384. A snapshot copies the whole log, so keep it large.
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked. Zero means 2m.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay in Raft's log after a
	// snapshot, so a member a little behind catches up from the log rather
	// than a snapshot. Zero means 10240.
	TrailingLogs uint64

	// OnLeader is called (on its own goroutine, in order) when this member
	// gains or loses leadership. Nil means no call.
	OnLeader func(leader bool)
	// Logger receives the member's and Raft's messages. Nil discards them.
	Logger *slog.Logger

	segmentSize int // raft-wal's segment size; 0 means its default (64 MiB). Tests make it small.
}

func (c *Config) defaults() {
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 200 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = c.HeartbeatTimeout
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = c.HeartbeatTimeout * 4 / 5
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = 3 * time.Second
	}
	if c.ProposeTimeout == 0 {
		c.ProposeTimeout = 10 * time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 16384
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Member is one member of a party's cluster: its Raft instance, its copy of
// the party's log, and its transport. All methods are safe for concurrent
// use.
type Member struct {
	cfg    Config
	logger *slog.Logger
	log    *partylog.Log
	raft   *raft.Raft
	wal    *raftwal.WAL
	filer  *sealingFiler // the wal's segment files (see Forget)
	snaps  *raft.FileSnapshotStore
	trans  *transport
	net    *raft.NetworkTransport
	rpcs   *pool
	obs    *raft.Observer

	cluster atomic.Pointer[string] // the cluster id; "" until bootstrapped or joined

	leaderMu sync.Mutex
	leaderCh chan struct{} // guarded by leaderMu: closed and replaced when the leader changes

	barrierMu      sync.Mutex
	barrierNext    *barrierCall // guarded by barrierMu: the barrier readers wait for
	barrierRunning bool         // guarded by barrierMu

	adminMu sync.Mutex // one membership change at a time, on the leader

	// reloadMu is held while the Raft configuration is changed for a while
	// and put back (snapshotNow, watchContact), so that one never puts back
	// what the other changed.
	reloadMu sync.Mutex

	forgetCh      chan struct{} // a Forget to carry out
	forgetMu      sync.Mutex
	forgetGen     int    // guarded by forgetMu: Forget requests made
	forgetDoneGen int    // guarded by forgetMu: requests carried out
	forgetDone    int    // guarded by forgetMu: runs completed
	forgetMark    uint64 // guarded by forgetMu: the newest index a request must clear

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// identity is what cluster.json holds.
type identity struct {
	Cluster string `json:"cluster"`
	Member  string `json:"member"`
}

// Record is the cluster's replicated description of itself.
type Record struct {
	Cluster   string            `json:"cluster"`
	TokenHash string            `json:"tokenHash"` // hex SHA-256 of the join token
	APIs      map[string]string `json:"apis"`      // member id → API URL
}

// Open opens (or creates) a member: its Raft state in cfg.Dir, its copy of
// the party's log in db (logCfg as for partylog.Open) and its listener for
// members. A member with no Raft state bootstraps a new cluster if
// cfg.Bootstrap, or else waits to be added. Close it before closing db.
func Open(db *pebble.DB, logCfg partylog.Config, cfg Config) (m *Member, err error) {
	cfg.defaults()
	if cfg.MemberID == "" || cfg.Dir == "" || cfg.Listen == "" || cfg.Party == "" || cfg.Roots == nil {
		return nil, fmt.Errorf("open cluster member: member id, directory, listen address, party and roots are required")
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "wal"), 0o700); err != nil {
		return nil, fmt.Errorf("open cluster member: %w", err)
	}
	ident, err := readIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if ident.Member != "" && ident.Member != cfg.MemberID {
		return nil, linkd.Errorf(linkd.EConflict, "the cluster state in %s is member %s's; this member is configured as %s (a member id never changes: restore the id, or remove the directory and join again)", cfg.Dir, ident.Member, cfg.MemberID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m = &Member{cfg: cfg, logger: cfg.Logger.With("member", cfg.MemberID), leaderCh: make(chan struct{}), forgetCh: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	empty := ""
	m.cluster.Store(&empty)
	defer func(opened *Member) { // not m: every failure below returns nil for it
		if err != nil {
			opened.Close()
		}
	}(m)
	if m.log, err = partylog.OpenReplicated(db, logCfg, partylog.ReplicationConfig{Proposer: m, ProposeTimeout: cfg.ProposeTimeout, MaxInFlight: 16,
		OnErased: m.Forget}); err != nil {
		return nil, err
	}
	rec, err := m.record()
	if err != nil {
		return nil, err
	}
	switch {
	case rec.Cluster != "" && ident.Cluster != "" && rec.Cluster != ident.Cluster:
		return nil, linkd.Errorf(linkd.EConflict, "the store holds cluster %s's log but %s says this member belongs to cluster %s: they are another cluster's data; remove one of them", rec.Cluster, cfg.Dir, ident.Cluster)
	case ident.Cluster == "" && rec.Cluster != "":
		ident.Cluster = rec.Cluster
	}
	m.cluster.Store(&ident.Cluster)

	hc := newHCLogger(m.logger)
	segmentSize := raftwal.DefaultSegmentSize
	if cfg.segmentSize > 0 {
		segmentSize = cfg.segmentSize
	}
	m.filer = newSealingFiler(segment.NewFiler(filepath.Join(cfg.Dir, "wal"), walfs.New()))
	if m.wal, err = raftwal.Open(filepath.Join(cfg.Dir, "wal"), raftwal.WithLogger(hc.Named("wal")), raftwal.WithSegmentSize(segmentSize),
		raftwal.WithSegmentFiler(m.filer)); err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	if m.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hc.Named("snapshots")); err != nil {
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	hasState, err := raft.HasExistingState(m.wal, m.wal, m.snaps)
	if err != nil {
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	if !hasState && !cfg.Bootstrap && (m.log.Size() > 0 || m.log.Applied() > 0) && rec.Cluster == "" {
		return nil, linkd.Errorf(linkd.EConflict, "this member's store already holds %d events of its own; a member joins with an empty log (remove the store, or bootstrap a new cluster from it)", m.log.Size())
	}
	if m.trans, err = newTransport(cfg.Listen, cfg.Advertise, cfg.MemberID, cfg.Party, cfg.Cert, cfg.Roots, m.logger); err != nil {
		return nil, err
	}
	m.trans.cluster = m.ClusterID
	m.trans.lookup = m.memberAddr
	m.trans.rpc = m.serveRPC
	m.rpcs = &pool{t: m.trans, m: map[string][]*rpcConn{}}
	m.net = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: raftStream{m.trans}, MaxPool: 4, Timeout: 10 * time.Second,
		ServerAddressProvider: dialer{m}, Logger: hc.Named("net"),
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.MemberID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	// Followers learn that an entry committed from the leader's next
	// AppendEntries; an idle leader sends one every CommitTimeout (up to
	// twice that). A follower acknowledges a write once it applied it
	// itself, so this bounds a quiet cluster's follower latency, at the
	// cost of a few hundred empty RPCs a second per follower.
	rc.CommitTimeout = 2 * time.Millisecond
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hc
	rc.NoLegacyTelemetry = true
	if rc.NoSnapshotRestoreOnStart, err = m.storeHoldsSnapshot(); err != nil {
		return nil, err
	}
	bootstrap := !hasState && cfg.Bootstrap
	switch {
	case bootstrap && rec.Cluster != "":
		return nil, linkd.Errorf(linkd.EConflict, "this store holds cluster %s's log, but %s holds no Raft state: join that cluster again (--join), or remove the store to start a new one", rec.Cluster, cfg.Dir)
	case bootstrap && ident.Cluster != "":
		return nil, linkd.Errorf(linkd.EConflict, "this member claimed cluster %s when it began to join, but has no Raft state: start it to join again (--join), or remove %s to start a new cluster", ident.Cluster, cfg.Dir)
	case bootstrap, hasState && ident.Cluster == "":
		// A new cluster, or one whose first member died between
		// bootstrapping and naming it: name it now.
		id := newClusterID()
		ident.Cluster = id
		m.cluster.Store(&id)
	}
	if m.raft, err = raft.NewRaft(rc, &fsm{m.log}, m.wal, m.wal, m.snaps, m.net); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	m.trans.start()
	obsCh := make(chan raft.Observation, 16)
	m.obs = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	m.raft.RegisterObserver(m.obs)
	m.wg.Add(4)
	go m.watchLeader(obsCh)
	go m.watchLeadership()
	go m.watchContact()
	go m.watchForget()
	if _, err := os.Stat(filepath.Join(cfg.Dir, forgetPendingFile)); err == nil {
		m.logger.Info("the raft files have not yet forgotten erased data; doing it now")
		m.request()
		m.forgetCh <- struct{}{}
	}
	if !hasState && cfg.Bootstrap {
		f := m.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.MemberID), Address: raft.ServerAddress(m.trans.advertise)}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return nil, fmt.Errorf("bootstrap cluster: %w", err)
		}
		m.logger.Info("bootstrapped a new cluster", "cluster", ident.Cluster, "raft_address", m.trans.advertise)
	}
	if ident.Cluster != "" {
		if err := writeIdentity(cfg.Dir, identity{Cluster: ident.Cluster, Member: cfg.MemberID}); err != nil {
			return nil, err
		}
	}
	m.logger.Info("cluster member open", "cluster", ident.Cluster, "raft_listen", m.trans.ln.Addr().String(), "raft_advertise", m.trans.advertise,
		"log_size", m.log.Size(), "applied_index", m.log.Applied(), "has_state", hasState)
	return m, nil
}

// storeHoldsSnapshot reports whether the store holds at least what the
// newest Raft snapshot holds; then Raft need not restore it on start.
func (m *Member) storeHoldsSnapshot() (bool, error) {
	metas, err := m.snaps.List()
	if err != nil {
		return false, fmt.Errorf("list raft snapshots: %w", err)
	}
	if len(metas) == 0 {
		return true, nil
	}
	_, rc, err := m.snaps.Open(metas[0].ID)
	if err != nil {
		return false, fmt.Errorf("open raft snapshot: %w", err)
	}
	defer rc.Close()
	applied, err := partylog.SnapshotApplied(rc)
	if err != nil {
		return false, fmt.Errorf("raft snapshot %s: %w", metas[0].ID, err)
	}
	holds := m.log.Applied() >= applied
	if !holds {
		m.logger.Info("the store is behind the newest snapshot; restoring it", "applied_index", m.log.Applied(), "snapshot_applied_index", applied)
	}
	return holds, nil
}

// dialer is raft's ServerAddressProvider: Config.Dial's overrides.
type dialer struct{ m *Member }

func (d dialer) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if a, ok := d.m.cfg.Dial[string(id)]; ok {
		return raft.ServerAddress(a), nil
	}
	return "", errors.New("no override")
}

// dialAddr is where to reach member id whose configured address is addr.
func (m *Member) dialAddr(id, addr string) string {
	if a, ok := m.cfg.Dial[id]; ok {
		return a
	}
	return addr
}

// memberAddr returns member id's address in the latest configuration.
func (m *Member) memberAddr(id string) (string, bool) {
	if m.raft == nil {
		return "", false
	}
	f := m.raft.GetConfiguration()
	if f.Error() != nil {
		return "", false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return string(s.Address), true
		}
	}
	return "", false
}

// watchLeader wakes appends waiting for a leader whenever it changes.
func (m *Member) watchLeader(ch chan raft.Observation) {
	defer m.wg.Done()
	for {
		select {
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			m.logger.Info("leader changed", "leader", string(lo.LeaderID), "leader_address", string(lo.LeaderAddr), "term", m.raft.CurrentTerm())
			m.leaderMu.Lock()
			close(m.leaderCh)
			m.leaderCh = make(chan struct{})
			m.leaderMu.Unlock()
		case <-m.ctx.Done():
			return
		}
	}
}

// watchContact makes a follower stand for election soon after it stops
// hearing from its leader. Raft's follower checks for a silent leader on a
// timer of one to two heartbeat timeouts, so it notices a dead leader one to
// three timeouts after its last contact; this watch notices it after one
// timeout plus a random fraction of a half (the fraction keeps the followers
// from standing at once and splitting the vote), and wakes Raft's check at
// once. Raft offers that wake-up as ReloadConfig with a shorter heartbeat
// timeout; the timeout is put back right after.
func (m *Member) watchContact() {
	defer m.wg.Done()
	hb := m.cfg.HeartbeatTimeout
	tick := time.NewTicker(max(hb/10, time.Millisecond))
	defer tick.Stop()
	threshold := func() time.Duration { return hb + time.Duration(mrand.Int64N(int64(hb/2)+1)) }
	wait := threshold()
	var poked time.Time
	for {
		select {
		case <-tick.C:
		case <-m.ctx.Done():
			return
		}
		if m.raft.State() != raft.Follower {
			continue
		}
		last := m.raft.LastContact()
		if last.IsZero() || time.Since(last) < wait || time.Since(poked) < hb {
			continue
		}
		if !m.reloadMu.TryLock() {
			continue // a snapshot is changing the configuration; Raft's own check stands
		}
		rc := m.raft.ReloadableConfig()
		shorter := rc
		shorter.HeartbeatTimeout -= time.Nanosecond
		if err := m.raft.ReloadConfig(shorter); err == nil {
			m.raft.ReloadConfig(rc)
		}
		m.reloadMu.Unlock()
		m.logger.Debug("no word from the leader; standing for election", "silent_for", time.Since(last).Round(time.Millisecond))
		poked, wait = time.Now(), threshold()
	}
}

// leaderChanged returns a channel closed at the next leader change.
func (m *Member) leaderChanged() <-chan struct{} {
	m.leaderMu.Lock()
	defer m.leaderMu.Unlock()
	return m.leaderCh
}

// watchLeadership runs the leader's chores when this member becomes leader
// and tells OnLeader.
func (m *Member) watchLeadership() {
	defer m.wg.Done()
	for {
		select {
		case leader := <-m.raft.LeaderCh():
			if leader {
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					// Until it succeeds, as long as this member leads.
					for !m.lead() && m.raft.State() == raft.Leader {
						select {
						case <-time.After(time.Second):
						case <-m.ctx.Done():
							return
						}
					}
				}()
			}
			if m.cfg.OnLeader != nil {
				m.cfg.OnLeader(leader)
			}
		case <-m.ctx.Done():
			return
		}
	}
}

// lead makes sure the cluster has its record: a cluster bootstrapped but
// not yet described (its first leader died first) gets its genesis and
// record now. Appends wait for the record, so nothing precedes the genesis.
// It reports whether the cluster has its record.
func (m *Member) lead() bool {
	rec, err := m.record()
	if err != nil || rec.Cluster != "" {
		return err == nil
	}
	if err := m.raft.Barrier(m.cfg.ProposeTimeout).Error(); err != nil {
		return false
	}
	if rec, err = m.record(); err != nil || rec.Cluster != "" {
		return err == nil
	}
	genesis, err := m.log.EncodeGenesis()
	if err != nil {
		m.logger.Error("cannot describe the log the cluster starts from", "err", err)
		return false
	}
	if err := m.raft.Apply(genesis, m.cfg.ProposeTimeout).Error(); err != nil {
		m.logger.Warn("proposing the cluster's genesis failed; retrying", "err", err)
		return false
	}
	token, err := newToken()
	if err != nil {
		m.logger.Error("cannot make a join token", "err", err)
		return false
	}
	rec = Record{Cluster: m.ClusterID(), TokenHash: hashToken(token), APIs: map[string]string{}}
	if m.cfg.API != "" {
		rec.APIs[m.cfg.MemberID] = m.cfg.API
	}
	path := filepath.Join(m.cfg.Dir, "join-token")
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		m.logger.Error("cannot write the join token", "path", path, "err", err)
		return false
	}
	if err := m.proposeRecord(rec); err != nil {
		m.logger.Warn("proposing the cluster's record failed; retrying", "err", err)
		return false
	}
	m.logger.Info("the cluster is ready; other members join with the token in the join-token file", "cluster", rec.Cluster, "join_token_file", path)
	if m.log.Size() > 0 {
		// The cluster starts from a log that was a single node's: members
		// that join need it as a snapshot, not as Raft entries (it has
		// none), so the Raft log is compacted at once.
		if _, err := m.snapshotNow(); err != nil {
			m.logger.Warn("compacting the raft log after bootstrapping from an existing log failed; members that join may need it later", "err", err)
		}
	}
	return true
}

// record returns the cluster's replicated record (zero before it has one).
func (m *Member) record() (Record, error) {
	b := m.log.Record()
	if b == nil {
		return Record{}, nil
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("the cluster's record does not decode: %w", err)
	}
	return r, nil
}

// proposeRecord replicates rec and waits until it is applied.
func (m *Member) proposeRecord(rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f := m.raft.Apply(partylog.EncodeRecord(b), m.cfg.ProposeTimeout)
	if err := f.Error(); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// Log is the member's copy of the party's log.
func (m *Member) Log() *partylog.Log { return m.log }

// ClusterID is the id of the member's cluster; "" before it joined one.
func (m *Member) ClusterID() string { return *m.cluster.Load() }

// Joined reports whether the member belongs to a cluster.
func (m *Member) Joined() bool { return m.ClusterID() != "" }

// Advertise is the address other members reach this one at.
func (m *Member) Advertise() string { return m.trans.advertise }

// Claim makes the member one of cluster id's, before it is added: from now
// on it refuses other clusters.
func (m *Member) Claim(id string) error {
	if cur := m.ClusterID(); cur != "" {
		if cur != id {
			return linkd.Errorf(linkd.EConflict, "this member belongs to cluster %s, not %s", cur, id)
		}
		return nil
	}
	if err := writeIdentity(m.cfg.Dir, identity{Cluster: id, Member: m.cfg.MemberID}); err != nil {
		return err
	}
	m.cluster.Store(&id)
	return nil
}

// WaitReady waits until the member has a leader and the cluster's record:
// then it takes appends.
func (m *Member) WaitReady(ctx context.Context) error {
	for {
		changed := m.leaderChanged()
		if _, id := m.raft.LeaderWithID(); id != "" && m.log.Record() != nil {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// Close shuts Raft down, then the log and the transport.
func (m *Member) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	if m.raft != nil {
		if m.obs != nil {
			m.raft.DeregisterObserver(m.obs)
		}
		errs = append(errs, m.raft.Shutdown().Error())
	}
	m.cancel()
	if m.log != nil {
		errs = append(errs, m.log.Close())
	}
	if m.net != nil {
		m.net.Close()
	}
	if m.rpcs != nil {
		m.rpcs.closeAll()
	}
	if m.trans != nil {
		m.trans.close()
	}
	m.wg.Wait()
	if m.wal != nil {
		errs = append(errs, m.wal.Close())
	}
	return errors.Join(errs...)
}

func readIdentity(dir string) (identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, nil
	}
	if err != nil {
		return identity{}, fmt.Errorf("read cluster identity: %w", err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return identity{}, fmt.Errorf("cluster identity %s: %w", filepath.Join(dir, "cluster.json"), err)
	}
	return id, nil
}

func writeIdentity(dir string, id identity) error {
	b, _ := json.MarshalIndent(id, "", "  ")
	return writeFileAtomic(filepath.Join(dir, "cluster.json"), append(b, '\n'), 0o600)
}

// writeFileAtomic replaces path with data durably.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func newClusterID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newToken returns a fresh join token.
func newToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "lkj_" + hex.EncodeToString(b[:]), nil
}

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// tokenMatches compares a presented join token with the stored hash in
// constant time.
func tokenMatches(tok, hash string) bool {
	h := hashToken(tok)
	return hash != "" && subtle.ConstantTimeCompare([]byte(h), []byte(hash)) == 1
}
