// Package link replicates party logs between linked nodes over mutual TLS.
//
// Each node pushes its own log to every peer in its directory: a sender per
// peer follows the log and posts frames (see Frame) as batches commit. A
// frame holds the payload of each event the peer may see — entitled to it and
// in a jurisdiction its residency admits — and only the salted commitment of
// the others, which is all the peer needs to verify the whole tree. The
// receiver verifies a frame completely before it stores anything
// (partylog.Replica.Apply), answers with its new size and a cosignature of
// the checkpoint, and that size is the sender's cursor: it lives in the
// receiver's store, so a restart, a partition or an outage on either side
// resumes exactly where the peer's durable state ends, with no gap and no
// duplicate.
//
// A frame carries the W3C trace context of up to MaxFrameTraces traced
// appends among its entries, so the trace of a client's append goes on to
// every peer that stores it (package telemetry).
//
// Nodes also gossip the newest checkpoint they hold of every log. Two
// checkpoints of one log that cannot both be true become evidence and an
// alert, and the log's new entries are refused until an operator releases it.
package link

import (
	"crypto/tls"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/telemetry"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Directory is what the link layer needs of the node's peer directory.
type Directory interface {
	// Identify names the peer a TLS client certificate belongs to.
	Identify(cs *tls.ConnectionState) (peers.Peer, error)
	// List returns every peer.
	List() []peers.Peer
}

// Alerts is where the link layer reports misbehaviour and what it holds back.
type Alerts interface {
	// Raise records an alert; evidence may be nil.
	Raise(kind, severity, peer, log, message string, evidence *linkd.Evidence)
	// Hold stops accepting a log's new entries until an operator releases it.
	Hold(log, reason string)
	// Held reports whether a log is held, and why.
	Held(log string) (bool, string)
}

// Config configures a Manager.
type Config struct {
	Self      linkd.Party
	Logs      *partylog.Logs
	Directory Directory
	Cert      tls.Certificate // presented to peers and pinned by them
	Alerts    Alerts          // nil logs alerts only
	Metrics   *Metrics        // nil records nothing
	Logger    *slog.Logger

	// Cosign, if set, cosigns a checkpoint of a peer's log once it verified
	// (a tlog-cosignature line); the line goes back to the origin.
	Cosign func(note []byte, v tlog.Verifier) ([]byte, error)
	// OnCosigned, if set, receives a peer's cosignature of this node's
	// checkpoint of the given size.
	OnCosigned func(peer string, size int64, line []byte)
	// OnApplied, if set, is called after a frame from a peer is durable and
	// queryable, with the entries it stored.
	OnApplied func(origin string, from int64, res partylog.ApplyResult)
	// Tracer, if set, records a link.send span per traced append a frame
	// carries, and a link.apply span at the receiver for each; Traces says
	// which appends wrote which entries. Nil: no spans.
	Tracer trace.Tracer
	Traces *telemetry.Index

	MaxFrameEntries int           // entries per frame; 0 means 4096
	RetryMin        time.Duration // first retry after a failed send; 0 means 100 ms
	RetryMax        time.Duration // longest wait between retries; 0 means 5 s
	GossipEvery     time.Duration // checkpoint gossip period; 0 means 2 s, <0 never
	RequestTimeout  time.Duration // one frame's round trip; 0 means 30 s
	// UnreachableAfter is how long a link may fail before a peer_unreachable
	// alert. 0 means 1 minute.
	UnreachableAfter time.Duration
	// MaxClockSkew bounds how far ahead of this node's wall clock a peer's
	// stamp may be and still advance the local clock. 0 means 1 minute.
	MaxClockSkew time.Duration
}

func (c *Config) defaults() {
	if c.MaxFrameEntries <= 0 {
		c.MaxFrameEntries = 4096
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.GossipEvery == 0 {
		c.GossipEvery = 2 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.UnreachableAfter <= 0 {
		c.UnreachableAfter = time.Minute
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Wire types of the link endpoints' JSON answers.

// FrameAck answers a frame: the receiver's verified size of the sender's log
// (the sender's cursor) and its cosignature of the checkpoint at that size.
type FrameAck struct {
	Size        int64  `json:"size"`
	Cosignature string `json:"cosignature,omitempty"` // a note signature line
	// Resume, on a refused frame, says it did not start at the receiver's
	// verified size: the sender resumes from Size.
	Resume bool `json:"resume,omitempty"`
	// Prove, on a frame whose signed checkpoint the entries do not reach,
	// asks the sender for its signed checkpoint at Size (POST
	// /v1/link/prove): the receiver's tree of that size, whose checkpoint
	// is in Checkpoint, may be another history than the sender's.
	Prove      bool   `json:"prove,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"` // the receiver's signed checkpoint at Size
	Code       string `json:"code,omitempty"`       // on refusal, a linkd error code
	Message    string `json:"message,omitempty"`
}

// Proof is a sender's signed checkpoint of its own log at the size a
// receiver asked about (FrameAck.Prove).
type Proof struct {
	Checkpoint string `json:"checkpoint"` // signed note
}

// Gossip carries the newest checkpoint a node holds of each log.
type Gossip struct {
	From        string   `json:"from"`
	Checkpoints []string `json:"checkpoints"` // signed notes
}
