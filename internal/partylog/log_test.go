package partylog

import (
	"context"
	"strings"
	"testing"

	tdmerkle "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func TestAppendReopenProveAudit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var acks []linkd.Ack
	for i := 0; i < 5; i++ {
		acks = append(acks, h.append(events(uint64(i+1), 37)...)...)
	}
	for i, a := range acks {
		if a.LogIndex != int64(i) {
			t.Fatalf("ack %d has index %d, want %d", i, a.LogIndex, i)
		}
	}
	h.reopen()
	if got := h.log.Size(); got != int64(len(acks)) {
		t.Fatalf("size after reopen = %d, want %d", got, len(acks))
	}
	msg, cp := h.log.Checkpoint()
	v, err := note.NewVerifier(h.vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("x/mod note does not verify the checkpoint: %v", err)
	}
	if !strings.HasPrefix(n.Text, linkd.LogOrigin(terminal.ID)+"\n185\n") {
		t.Fatalf("checkpoint text = %q, want origin and size 185", n.Text)
	}
	for _, a := range acks {
		rec, err := h.log.GetByID(ctx, a.EventID)
		if err != nil {
			t.Fatalf("get %s: %v", a.EventID, err)
		}
		if rec.LogIndex != a.LogIndex || rec.Event.Origin != terminal.ID || rec.Event.HLC == 0 {
			t.Fatalf("get %s = index %d origin %q hlc %v, want index %d, origin set, hlc set", a.EventID, rec.LogIndex, rec.Event.Origin, rec.Event.HLC, a.LogIndex)
		}
		leaf := linkd.LeafHash(rec.Commitment())
		proof, err := h.log.InclusionProof(a.LogIndex, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		// Check against an independent RFC 6962 implementation.
		if err := tdmerkle.VerifyInclusion(rfc6962.DefaultHasher, uint64(a.LogIndex), uint64(cp.Size), leaf[:], hashes(proof), cp.Hash[:]); err != nil {
			t.Fatalf("transparency-dev rejects inclusion of %d: %v", a.LogIndex, err)
		}
	}
	rep, err := h.log.Audit(ctx, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if rep.Size != 185 || rep.Checkpoints != 5 {
		t.Fatalf("audit = %+v, want size 185 and 5 checkpoints (one per batch)", rep)
	}
}

func hashes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}
