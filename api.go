package linkd

import "time"

// The types below are the JSON bodies of a node's HTTP API (docs/openapi.json
// describes them). The server and the Go client both use them, so the two
// cannot drift apart.

// AppendResult answers POST /v1/events: one ack per event, in request order,
// and the log size once they were durable.
type AppendResult struct {
	Acks []Ack `json:"acks"`
	Size int64 `json:"size"`
}

// EventPage answers GET /v1/events: events in event-time order and the cursor
// of the next page ("" on the last). A page may hold fewer events than its
// limit when filters skip many; only an empty Next means the end.
type EventPage struct {
	Events []Recorded `json:"events"`
	Next   string     `json:"next,omitempty"`
}

// CheckpointInfo answers GET /v1/log/checkpoint.
type CheckpointInfo struct {
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	RootHash   []byte `json:"rootHash"`   // base64 RFC 6962 root
	Checkpoint string `json:"checkpoint"` // the signed note, C2SP tlog-checkpoint
	PublicKey  string `json:"publicKey"`  // the log's verifier key, note format
}

// AuditLine is one line of POST /v1/log/audit's answer, which is
// newline-delimited JSON: progress while the audit runs (Done of Total
// events checked), then a last line with Result.
type AuditLine struct {
	Done   int64        `json:"done"`
	Total  int64        `json:"total"`
	Result *AuditResult `json:"result,omitempty"`
}

// AuditResult is what a full audit of a log found: the node's own, or its
// copy of a partner's. OK means every record hashes to its leaf, the leaves
// rebuild every stored tree hash, and every checkpoint the log's origin
// signed verifies and names the root the leaves rebuild at its size;
// otherwise Problem says what failed first.
type AuditResult struct {
	Party       string  `json:"party"` // whose log
	OK          bool    `json:"ok"`
	Problem     string  `json:"problem,omitempty"`
	Size        int64   `json:"size"`
	RootHash    []byte  `json:"rootHash,omitempty"` // base64 RFC 6962 root, when OK
	Checkpoints int     `json:"checkpoints"`        // signed checkpoints verified
	Erased      int64   `json:"erased"`             // events whose payload was erased: only their leaves were checked
	Withheld    int64   `json:"withheld"`           // a partner's events this node holds as their leaf alone: only their leaves were checked
	Seconds     float64 `json:"seconds"`
}

// InclusionProof answers GET /v1/log/proof/inclusion.
type InclusionProof struct {
	Index  int64    `json:"index"`
	Size   int64    `json:"size"`
	Hashes [][]byte `json:"hashes"` // base64, RFC 6962 audit path
}

// ConsistencyProof answers GET /v1/log/proof/consistency.
type ConsistencyProof struct {
	Old    int64    `json:"old"`
	Size   int64    `json:"size"`
	Hashes [][]byte `json:"hashes"` // base64, RFC 6962 consistency path
}

// TokenInfo describes an access token; the secret itself is never part of it.
type TokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // zero: never expires
	Revoked   time.Time `json:"revoked,omitzero"`   // zero: active
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`          // admin, writer, reader or auditor
	TTL  string `json:"ttl,omitempty"` // Go duration such as 720h; "" never expires
}

// NewToken answers POST /v1/tokens. Token is shown this once; the node keeps
// only its hash.
type NewToken struct {
	Token string    `json:"token"`
	Info  TokenInfo `json:"info"`
}

// ErrorBody is every error response: a stable code, a message a person can
// act on and, for invalid input, each problem with its field.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Problems []Problem `json:"problems,omitempty"`
}
