package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Verification says how this node knows an event is in its origin's log:
// its position, its leaf, the signed checkpoint whose root includes it (the
// inclusion proof checked just now), and who cosigned that log.
type Verification struct {
	EventID    string                 `json:"eventID"`
	Origin     string                 `json:"origin"`
	Index      int64                  `json:"index"`
	LeafHash   []byte                 `json:"leafHash"`
	Checkpoint VerificationCheckpoint `json:"checkpoint"`
	Verified   bool                   `json:"verified"` // the inclusion proof checks out against the signed root
	// VerifiedBy is this node's party: it checked the origin's signature
	// and the entry's inclusion before storing it.
	VerifiedBy string `json:"verifiedBy"`
}

// VerificationCheckpoint names the checkpoint an event verifies against.
type VerificationCheckpoint struct {
	Size       int64    `json:"size"`
	RootHash   []byte   `json:"rootHash"`
	SignedBy   string   `json:"signedBy"`   // the origin, whose log key signed it
	CosignedBy []string `json:"cosignedBy"` // witnesses known to hold a cosignature of this log at this size or later
}

type provingLog interface {
	Checkpoint() ([]byte, linkd.Checkpoint)
	InclusionProof(index, size int64) ([]tlog.Hash, error)
}

// Verify proves event id against the newest checkpoint of its origin's log
// this node holds.
func (n *Node) Verify(ctx context.Context, id string) (Verification, error) {
	if !linkd.IsUUID(id) {
		return Verification{}, linkd.Errorf(linkd.EInvalid, "event id %q is not a UUID", clipID(id))
	}
	rec, err := n.logs.GetByID(ctx, id)
	if err != nil {
		return Verification{}, err
	}
	origin := rec.Event.Origin
	src, ok := n.logs.Source(origin)
	if !ok {
		return Verification{}, linkd.Errorf(linkd.ENotFound, "no log of %s", origin)
	}
	pl, ok := src.(provingLog)
	if !ok {
		return Verification{}, fmt.Errorf("verify: the log of %s cannot prove inclusion", origin)
	}
	_, cp := pl.Checkpoint()
	leaf := tlog.Hash(linkd.LeafHash(rec.Commitment()))
	v := Verification{EventID: id, Origin: origin, Index: rec.LogIndex, LeafHash: leaf[:], VerifiedBy: n.Party().ID,
		Checkpoint: VerificationCheckpoint{Size: cp.Size, RootHash: cp.Hash[:], SignedBy: origin, CosignedBy: []string{}}}
	proof, err := pl.InclusionProof(rec.LogIndex, cp.Size)
	if err != nil {
		return Verification{}, err
	}
	v.Verified = tlog.VerifyInclusion(leaf, rec.LogIndex, cp.Size, proof, tlog.Hash(cp.Hash)) == nil
	if origin == n.Party().ID {
		// The peers that cosigned this log at or after the event.
		n.cosigs.mu.Lock()
		for peer, c := range n.cosigs.latest {
			if c.size > rec.LogIndex {
				v.Checkpoint.CosignedBy = append(v.Checkpoint.CosignedBy, peer)
			}
		}
		n.cosigs.mu.Unlock()
	} else {
		// A replica's entries are verified, then cosigned, by this node.
		v.Checkpoint.CosignedBy = append(v.Checkpoint.CosignedBy, n.Party().ID)
	}
	slices.Sort(v.Checkpoint.CosignedBy)
	return v, nil
}

func clipID(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
