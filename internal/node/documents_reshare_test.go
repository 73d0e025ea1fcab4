package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
)

// These tests widen who may hold documents already issued — the matrix, the
// shipment's party list — and check that the issuer shares them again with
// exactly the parties newly entitled, within each document's residency and
// its issuer's own narrowing.

var (
	docVNTerminal  = linkd.Party{ID: "vn-terminal", Name: "Cat Lai Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}}
	docCarrier     = linkd.Party{ID: "eu-carrier", Name: "EU Carrier", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"NL", "EU"}}
	docVNConsignee = linkd.Party{ID: "vn-consignee", Name: "VN Consignee", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"VN", "ASEAN"}}
)

// holds waits until n has document sha and checks that n's users download
// exactly want, whose SHA-256 is sha.
func (n *docNode) holds(t *testing.T, sha string, want []byte) {
	t.Helper()
	eventually(t, n.party.ID+" has "+sha, func() bool { return n.state(t, sha) == docs.Available })
	got, err := n.download(t, sha)
	sum := sha256.Sum256(got)
	if err != nil || !bytes.Equal(got, want) || hex.EncodeToString(sum[:]) != sha {
		t.Fatalf("%s downloads %s: %d bytes hashing to %x, %v; want the %d uploaded", n.party.ID, sha, len(got), sum, err, len(want))
	}
}

// lacks checks that n shows no document sha, that the issuer's node refuses
// it to n, and that neither its hash nor its plaintext is anywhere on n's
// disk. Call it once the issuer's log has reached n.
func (n *docNode) lacks(t *testing.T, issuer *docNode, sha, secret string) {
	t.Helper()
	if st := n.state(t, sha); st != "" {
		t.Errorf("%s shows %s (state %s)", n.party.ID, sha, st)
	}
	if got := n.peerGet(t, issuer, sha); got != http.StatusNotFound {
		t.Errorf("%s asks %s's node for %s itself: %d, want 404", n.party.ID, issuer.party.ID, sha, got)
	}
	raw, _ := hex.DecodeString(sha)
	for what, p := range n.scan(t, map[string][]byte{"hash": []byte(sha), "raw hash": raw, "plaintext": []byte(secret)}) {
		t.Errorf("%s, not entitled: the %s of %s is on disk in %s", n.party.ID, what, sha, p)
	}
}

// TestDocumentReshareWhenMatrixWidens issues two invoices, bound to the EU,
// while the matrix keeps invoices from terminals — one for the matrix, one
// narrowed by its issuer to customs — then widens the matrix to terminals.
// The Hamburg terminal gets the first invoice, byte for byte; the
// Vietnamese terminal (outside the EU) and the carrier (outside the widened
// row) get nothing, nor does anyone the second. Narrowing the matrix again
// leaves the terminal its copy, but the issuer no longer serves it.
func TestDocumentReshareWhenMatrixWidens(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	ns := lane(t, docForwarder, docCustoms, docTerminal, docVNTerminal, docCarrier)
	fwd, cus, ter, vnt, car := ns[0], ns[1], ns[2], ns[3], ns[4]
	sh := docs.Shipment{CarrierBookingReference: "BKG-WIDEN"}
	fwd.record(t, booking(sh.CarrierBookingReference, docForwarder, docCustoms, docTerminal, docVNTerminal, docCarrier))
	for _, n := range ns[1:] {
		fwd.synced(t, n.member)
	}

	secret, narrowSecret := canary(t), canary(t)
	b, sha := pdf(t, secret, 200<<10)
	nb, narrowSHA := pdf(t, narrowSecret, 50<<10)
	fwd.upload(t, b, sha, client.DocumentUpload{Type: "INV", ContentType: docs.MediaPDF, Shipment: sh, Residency: []string{"EU"}})
	fwd.upload(t, nb, narrowSHA, client.DocumentUpload{Type: "INV", ContentType: docs.MediaPDF, Shipment: sh, Residency: []string{"EU"},
		Visibility: []string{docCustoms.ID}})
	cus.holds(t, sha, b)
	cus.holds(t, narrowSHA, nb)
	fwd.synced(t, ter.member)
	if st := ter.state(t, sha); st != "" {
		t.Fatalf("before the matrix widens the terminal shows the invoice (state %s): the test proves nothing", st)
	}

	wide := append(slices.Clone(docs.DefaultRoles["INV"]), linkd.RoleTerminal)
	if _, err := fwd.c.SetDocumentAccess(bg, sh, "INV", wide); err != nil {
		t.Fatalf("the forwarder widens INV to terminals: %v", err)
	}
	ter.holds(t, sha, b)
	info, err := fwd.c.DocumentInfo(bg, sha)
	if err != nil || info.Document == nil {
		t.Fatalf("the forwarder's info of the invoice: %+v, %v", info, err)
	}
	if want := sortedCopy([]string{fwd.party.ID, cus.party.ID, ter.party.ID}); !slices.Equal(info.Document.Visibility, want) {
		t.Errorf("after widening, the forwarder shares the invoice with %v, want %v", info.Document.Visibility, want)
	}
	var issued int
	for _, a := range info.Attestations {
		if a.Verdict == "ISSUED" && a.Origin == fwd.party.ID && a.Verified {
			issued++
		}
	}
	if issued != 2 {
		t.Errorf("the forwarder shows %d verified ISSUED attestations of the invoice, want 2 (the upload and the re-share)", issued)
	}

	for _, n := range []*docNode{ter, vnt, car} {
		fwd.synced(t, n.member) // the re-share has reached them, as a payload or a commitment
	}
	vnt.lacks(t, fwd, sha, secret)
	car.lacks(t, fwd, sha, secret)
	for _, n := range []*docNode{ter, vnt, car} {
		n.lacks(t, fwd, narrowSHA, narrowSecret)
	}
	if found := ter.scan(t, map[string][]byte{"plaintext": []byte(secret)}); len(found) != 0 {
		t.Errorf("the terminal keeps the invoice's plaintext on disk in %s", found["plaintext"])
	}

	// Narrowing again recalls nothing, but the issuer serves the terminal
	// no more; customs, still entitled, is served.
	if _, err := fwd.c.SetDocumentAccess(bg, sh, "INV", docs.DefaultRoles["INV"]); err != nil {
		t.Fatalf("the forwarder narrows INV again: %v", err)
	}
	if got := ter.peerGet(t, fwd, sha); got != http.StatusNotFound {
		t.Errorf("after narrowing, the terminal asks the forwarder's node for the invoice: %d, want 404", got)
	}
	if got := cus.peerGet(t, fwd, sha); got != http.StatusOK {
		t.Errorf("after narrowing, customs asks the forwarder's node for the invoice: %d, want 200", got)
	}
	if d, err := ter.r.n.Documents().Store().Get(sha); err != nil || d.State != docs.Available {
		t.Errorf("after narrowing, the terminal's node holds the invoice in state %q (%v), want its copy kept", d.State, err)
	}
}

// TestDocumentReshareToPartyAddedLater issues an invoice, bound to the EU,
// on a shipment of the forwarder and customs, then adds two consignees to
// the shipment: the Belgian one gets the invoice, byte for byte; the
// Vietnamese one, entitled by role but outside the EU, gets nothing.
func TestDocumentReshareToPartyAddedLater(t *testing.T) {
	t.Parallel()
	ns := lane(t, docForwarder, docCustoms, docConsignee, docVNConsignee)
	fwd, cus, con, vnc := ns[0], ns[1], ns[2], ns[3]
	sh := docs.Shipment{CarrierBookingReference: "BKG-LATE"}
	fwd.record(t, booking(sh.CarrierBookingReference, docForwarder, docCustoms))
	fwd.synced(t, cus.member)

	secret := canary(t)
	b, sha := pdf(t, secret, 200<<10)
	d := fwd.upload(t, b, sha, client.DocumentUpload{Type: "INV", ContentType: docs.MediaPDF, Shipment: sh, Residency: []string{"EU"}})
	if want := sortedCopy([]string{fwd.party.ID, cus.party.ID}); !slices.Equal(d.Visibility, want) {
		t.Fatalf("the invoice goes to %v at issue, want %v", d.Visibility, want)
	}
	cus.holds(t, sha, b)

	fwd.record(t, booking(sh.CarrierBookingReference, docConsignee, docVNConsignee))
	con.holds(t, sha, b)
	fwd.synced(t, vnc.member)
	vnc.lacks(t, fwd, sha, secret)
	if got := con.peerGet(t, fwd, sha); got != http.StatusOK {
		t.Errorf("the consignee asks the forwarder's node for the invoice: %d, want 200", got)
	}
}
