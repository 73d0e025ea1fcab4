// Package access decides who may use a party's node. Users and systems of the
// party authenticate over HTTPS with a bearer token bound to a role (admin,
// writer, reader, auditor); the role's permissions say what the token may do,
// and a per-token rate limiter keeps one client from starving the others.
//
// It promises:
//
//   - the plaintext of a token exists only in the value Create or Bootstrap
//     returns: the store keeps its SHA-256, and nothing here logs it or puts it
//     in an error;
//   - Authenticate never touches disk, so it can run on every request;
//   - a revoked or expired token is refused from the moment Revoke returns or
//     the clock passes its expiry, with a message that says which.
//
// Tokens are kept in the node's Pebble database under keys that start with 'a'.
package access

import (
	"strings"

	"github.com/linkd-dev/linkd"
)

// Role is what a token is for. A token has exactly one role.
type Role string

const (
	Admin   Role = "admin"   // runs the node: everything, including managing tokens
	Writer  Role = "writer"  // a system that records events (ERP, TMS, EDI gateway)
	Reader  Role = "reader"  // a person or system that reads events and proofs
	Auditor Role = "auditor" // verifies the logs and watches the node's health, writes nothing
)

// Permission is one thing a request may need. Permissions are bit flags so a
// role's grant is one word, but a request asks for exactly one of them.
type Permission uint8

const (
	ReadEvents   Permission = 1 << iota // query events, timelines, shipments, subscriptions' streams
	WriteEvents                         // record events and documents
	ReadLog                             // checkpoints, inclusion and consistency proofs, evidence bundles
	ReadMetrics                         // Prometheus metrics and the node's health detail
	ManageTokens                        // create, list and revoke access tokens
	ManagePeers                         // add, list and remove the partners in the node's directory
	EraseData                           // erase a shipment's payloads on every entitled node (crypto-shredding)
	AuditLog                            // run a full audit of the node's own log (minutes of CPU on a large log; one at a time)
)

// grants is the permission matrix, the one place that says what each role may
// do:
//
//	         ReadEvents  WriteEvents  ReadLog  ReadMetrics  ManageTokens  ManagePeers  EraseData  AuditLog
//	admin        ✓            ✓          ✓          ✓            ✓             ✓           ✓          ✓
//	writer       ✓            ✓          ✓
//	reader       ✓                       ✓
//	auditor      ✓                       ✓          ✓                                                 ✓
//
// A writer may read because the systems that write (a TMS, the EDI gateway)
// reconcile against what they wrote; an auditor may read the log and the
// metrics to check the node but may not change anything. Managing peers is
// admin only: a peer's card decides which certificates may replicate into
// this node. The node's own card is public material, readable with ReadLog.
// Erasing a shipment is admin only: it cannot be undone, on any node. An
// audit of the whole log is for auditors and admins: it reads every record,
// which on a large log takes minutes of CPU.
var grants = map[Role]Permission{
	Admin:   ReadEvents | WriteEvents | ReadLog | ReadMetrics | ManageTokens | ManagePeers | EraseData | AuditLog,
	Writer:  ReadEvents | WriteEvents | ReadLog,
	Reader:  ReadEvents | ReadLog,
	Auditor: ReadEvents | ReadLog | ReadMetrics | AuditLog,
}

// roles lists every role, most powerful first; error messages and help text
// use this order.
var roles = []Role{Admin, Writer, Reader, Auditor}

// Roles returns every role, most powerful first.
func Roles() []Role { return append([]Role(nil), roles...) }

// Can reports whether the role has permission p (all of them, if p combines
// several). An unknown role can do nothing.
func (r Role) Can(p Permission) bool {
	return p != 0 && grants[r]&p == p
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	_, ok := grants[r]
	return ok
}

func (r Role) String() string { return string(r) }

// ParseRole maps a role's name, in any case, to the role. An unknown name is
// an EInvalid error that lists the roles.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.Valid() {
		return r, nil
	}
	return "", linkd.Errorf(linkd.EInvalid, "unknown role %q: want one of %s", clip(s), roleList(roles))
}

// holders lists the roles that have permission p.
func holders(p Permission) []Role {
	var out []Role
	for _, r := range roles {
		if r.Can(p) {
			out = append(out, r)
		}
	}
	return out
}

func roleList(rs []Role) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

func (p Permission) String() string {
	switch p {
	case ReadEvents:
		return "read events"
	case WriteEvents:
		return "write events"
	case ReadLog:
		return "read the log"
	case ReadMetrics:
		return "read metrics"
	case ManageTokens:
		return "manage access tokens"
	case ManagePeers:
		return "manage peers"
	case EraseData:
		return "erase shipments"
	case AuditLog:
		return "audit the log"
	}
	return "do this"
}

// clip shortens what a caller sent before an error message echoes it.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
