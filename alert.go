package linkd

import "time"

// Alert is something a node's operator must know about: a peer that signed
// two histories, a frame that failed verification, a payload that reached
// the wrong jurisdiction, a peer that stopped answering. A node keeps its
// alerts durably until they are acknowledged.
type Alert struct {
	ID       string `json:"id"`       // time-ordered: a later alert has a greater id
	Kind     string `json:"kind"`     // AlertEquivocation, AlertVerificationFailed, …
	Severity string `json:"severity"` // SeverityCritical or SeverityWarning
	Peer     string `json:"peer,omitempty"`
	Log      string `json:"log,omitempty"` // the log it concerns, LogOrigin(party)
	Message  string `json:"message"`
	// Evidence is the proof of an equivocation, for AlertEquivocation.
	Evidence *Evidence `json:"evidence,omitempty"`

	Raised   time.Time `json:"raised"`   // when it was first raised
	LastSeen time.Time `json:"lastSeen"` // when it was last raised again
	Count    int       `json:"count"`    // how often it was raised while open; at least 1

	Acknowledged *time.Time `json:"acknowledged,omitempty"` // nil while open
	AckBy        string     `json:"ackBy,omitempty"`
}

// Open reports whether no one has acknowledged the alert yet.
func (a *Alert) Open() bool { return a.Acknowledged == nil }

// Alert kinds.
const (
	AlertEquivocation       = "equivocation"        // a log signed two checkpoints that cannot both be true
	AlertVerificationFailed = "verification_failed" // a signature, proof or entry from a peer did not verify
	AlertResidencyViolation = "residency_violation" // a payload arrived where its residency does not admit it
	AlertPeerUnreachable    = "peer_unreachable"    // a linked peer has taken no frame for a while
	// A peer sent a payload this node is not entitled to.
	AlertEntitlementViolation = "entitlement_violation"
	// A peer holds a checkpoint of this node's own log that this node never
	// issued: its log key is in someone else's hands.
	AlertKeyCompromise = "key_compromise"
	// A subscription's webhook did not take an event before the retry
	// horizon passed, or refused it for good: it is in the dead letters.
	AlertDeliveryFailed = "delivery_failed"
)

// Alert severities.
const (
	SeverityCritical = "critical" // the node stopped trusting something until an operator acts
	SeverityWarning  = "warning"  // degraded, recovers on its own
)

// LogHold records that a node stopped accepting a log's new entries, usually
// because the log equivocated, until an operator releases it.
type LogHold struct {
	Log        string     `json:"log"` // LogOrigin(party)
	Reason     string     `json:"reason"`
	AlertID    string     `json:"alertId,omitempty"` // the alert that carries the evidence
	Since      time.Time  `json:"since"`
	Released   *time.Time `json:"released,omitempty"` // nil while held
	ReleasedBy string     `json:"releasedBy,omitempty"`
}
