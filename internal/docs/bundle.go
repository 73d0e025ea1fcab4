package docs

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// BundleFormat names the Bundle format version.
const BundleFormat = "linkd-document-bundle/v1"

// Bundle is everything needed to check offline who issued a document and
// who attested what and when: a proof bundle of each attestation event that
// names the document's hash, each against a signed checkpoint of its
// origin's log. It holds no bytes of the document and is not secret beyond
// the attestation events themselves.
type Bundle struct {
	Format       string              `json:"format"` // BundleFormat
	SHA256       string              `json:"sha256"` // the document's hash
	Attestations []linkd.ProofBundle `json:"attestations"`
}

// Outcome is the verdict of verifying a file.
type Outcome string

const (
	// Genuine: an ISSUED attestation by a trusted party verifies, and no
	// attestation by a trusted party fails to.
	Genuine Outcome = "genuine"
	// MatchesNothing: no attestation names the file's hash: it is not a
	// document any party issued, or it was altered.
	MatchesNothing Outcome = "matches-nothing"
	// UnknownParty: attestations name the file, but no ISSUED attestation
	// comes from a party whose log key is trusted here.
	UnknownParty Outcome = "unknown-party"
	// NotVerified: an attestation by a trusted party names the file but
	// does not verify against that party's key: the evidence was tampered
	// with.
	NotVerified Outcome = "not-verified"
)

// Report is what verifying a file against attestations established.
type Report struct {
	SHA256       string              `json:"sha256"` // the file's
	Outcome      Outcome             `json:"outcome"`
	Summary      string              `json:"summary"`
	Attestations []AttestationResult `json:"attestations"`
}

// AttestationResult is one attestation and whether it verified.
type AttestationResult struct {
	Party            string     `json:"party"`
	Verdict          string     `json:"verdict"`
	Reason           string     `json:"reason,omitempty"`
	DocumentTypeCode string     `json:"documentTypeCode"`
	Shipment         Shipment   `json:"shipment"`
	EventID          string     `json:"eventID"`
	EventDateTime    linkd.Time `json:"eventDateTime"`
	LogIndex         int64      `json:"logIndex"`
	CheckpointSize   int64      `json:"checkpointSize,omitempty"`
	RootHash         string     `json:"rootHash,omitempty"` // hex
	// Status: "verified", "unknown party" (no trusted key for its origin)
	// or "not verified: <which check failed>".
	Status   string `json:"status"`
	Verified bool   `json:"verified"`
}

// Verify checks the attestations of a file with hash sha against trusted
// log keys (party id → verifier key in signed-note form), offline. b may be
// nil (nothing known of the hash) or a bundle for another hash, which both
// match nothing.
func Verify(sha string, b *Bundle, keys map[string]string) Report {
	rep := Report{SHA256: sha, Attestations: []AttestationResult{}}
	if b != nil {
		for i := range b.Attestations {
			pb := &b.Attestations[i]
			e := &pb.Event
			if e.Attestation == nil || e.Attestation.DocumentSHA256 != sha {
				continue
			}
			r := AttestationResult{Party: e.Origin, Verdict: e.Attestation.Verdict, Reason: e.Reason, DocumentTypeCode: e.DocumentTypeCode,
				Shipment: ShipmentOf(e), EventID: e.EventID, EventDateTime: e.EventDateTime, LogIndex: pb.LogIndex}
			key, ok := keys[e.Origin]
			if !ok {
				r.Status = "unknown party: no trusted log key for " + e.Origin
			} else if v, err := tlog.VerifyBundle(pb, key); err != nil {
				r.Status = "not verified: " + err.Error()
			} else {
				r.Status, r.Verified = "verified", true
				r.CheckpointSize, r.RootHash = v.Checkpoint.Size, fmt.Sprintf("%x", v.Checkpoint.Hash)
			}
			rep.Attestations = append(rep.Attestations, r)
		}
	}
	sort.SliceStable(rep.Attestations, func(i, j int) bool {
		return rep.Attestations[i].EventDateTime.Before(rep.Attestations[j].EventDateTime.Time)
	})
	var issued, verified, tampered, unknown, unknownIssuers []string
	for _, r := range rep.Attestations {
		switch {
		case r.Verified && r.Verdict == "ISSUED":
			issued = append(issued, r.Party)
		case r.Verified:
			verified = append(verified, r.Party)
		case keys[r.Party] != "":
			tampered = append(tampered, r.Party)
		default:
			unknown = append(unknown, r.Party)
			if r.Verdict == "ISSUED" {
				unknownIssuers = append(unknownIssuers, r.Party)
			}
		}
	}
	for _, l := range []*[]string{&verified, &unknown, &unknownIssuers} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	switch {
	case len(rep.Attestations) == 0:
		rep.Outcome = MatchesNothing
		rep.Summary = fmt.Sprintf("the file's sha256 %s matches nothing: no attestation names it, so no party issued this file (it was altered, or it is another file)", sha)
		if b != nil && b.SHA256 != "" && b.SHA256 != sha {
			rep.Summary += fmt.Sprintf("; the bundle given is for document %s", b.SHA256)
		}
	case len(tampered) > 0:
		rep.Outcome = NotVerified
		rep.Summary = fmt.Sprintf("an attestation said to be by %s does not verify with its log key: the evidence was altered", tampered[0])
	case len(issued) > 0:
		rep.Outcome = Genuine
		rep.Summary = fmt.Sprintf("issued by %s, verified back to a signed checkpoint of its log", issued[0])
		if len(unknown) > 0 {
			rep.Summary += fmt.Sprintf("; attestations by %v are not checked (no trusted key)", unknown)
		}
	case len(verified) == 0:
		rep.Outcome = UnknownParty
		rep.Summary = fmt.Sprintf("attested only by parties whose log keys are not trusted here (%v): nothing about this file verifies back to a party you know", unknown)
	default:
		rep.Outcome = UnknownParty
		rep.Summary = fmt.Sprintf("no party trusted here issued this file (issued by %v, whose log keys are not trusted here); only the attestations of %v verify", unknownIssuers, verified)
		if len(unknownIssuers) == 0 {
			rep.Summary = fmt.Sprintf("no party trusted here issued this file; only the attestations of %v verify, and none is an ISSUED", verified)
		}
	}
	return rep
}

// ErrNotBundle is returned by CheckBundle for JSON that is not a document
// bundle.
var ErrNotBundle = errors.New("not a linkd document bundle")

// CheckBundle checks a decoded bundle's shape.
func CheckBundle(b *Bundle) error {
	if b.Format != BundleFormat {
		return fmt.Errorf("%w: format %q, want %s", ErrNotBundle, clip(b.Format), BundleFormat)
	}
	return CheckSHA256(b.SHA256)
}
