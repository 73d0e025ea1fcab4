package docs

import (
	"context"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// A document goes, when it is issued, to the parties the shipment's matrix
// and party list entitle then. When either widens later — an access event
// adds a role to the document type's row, or a party whose role the row
// allows joins the shipment — the issuer's node shares the document again:
// it records another ISSUED event of the same hash, shaped as the upload's,
// whose visibility is the document's audience now (see Service.audience:
// the matrix, the issuer's own narrowing at upload, the residency), widens
// its record to that audience, and the newly entitled nodes fetch the bytes
// as they would have at issue time. Nodes that already hold the document
// get the event too and widen their records to match.
//
// Narrowing recalls nothing: a node that holds a copy keeps it; the issuer
// stops serving the document to a party no longer entitled (mayHold checks
// the matrix on every request).

// maxAudiences bounds the shipments whose party lists the follower
// remembers; past it, it forgets them all and works each out once again.
const maxAudiences = 10_000

// reshare shares again, with the parties newly entitled to them, the
// documents this node's party issued on the shipment of the event it, when
// the event may have widened who that is: an access event, a change of the
// shipment's party list, or an ISSUED event of this party (the matrix may
// have widened while an upload was on its way). Other events of a shipment
// whose party list is as it was cost one roster lookup.
func (s *Service) reshare(ctx context.Context, it subscribe.Item) error {
	e := it.Event
	sh := ShipmentOf(e)
	if sh.IsZero() || !s.issuedAny(sh) {
		return nil
	}
	self := s.cfg.Self.ID
	// The roster learns of this node's own appends after they commit, and
	// the feed may hand them here first; an own event carries the party
	// list as it stands.
	var own []linkd.ShipmentParty
	if it.Party == self {
		own = e.Parties
	}
	list, err := s.cfg.Roster.Of(ctx, e)
	if err != nil {
		return err
	}
	fp := fingerprint(mergeParties(list, own))
	_, _, access := parseAccess(e)
	issued := it.Party == self && e.Attestation != nil && e.Attestation.Verdict == "ISSUED"
	key := sh.String()
	if !access && !issued && s.audiences[key] == fp {
		return nil
	}
	held, err := s.store.List(sh)
	if err != nil {
		return err
	}
	type rights struct {
		list []linkd.ShipmentParty
		m    Matrix
	}
	known := map[Shipment]rights{}
	for _, d := range held {
		if d.Issuer != self || len(d.Visibility) == 0 || !d.Reshares {
			// A record without a visibility is the matrix's alone: nothing
			// to widen. One without Reshares does not know its upload's
			// narrowing.
			continue
		}
		if ok, err := s.shareable(ctx, d); err != nil {
			return err
		} else if !ok {
			continue
		}
		a, ok := known[d.Shipment]
		if !ok {
			l, m, err := s.shipmentAccess(ctx, d.Shipment)
			if err != nil {
				return err
			}
			a = rights{mergeParties(l, own), m}
			known[d.Shipment] = a
		}
		if err := s.shareAgain(ctx, d, a.list, a.m); err != nil {
			return err
		}
	}
	if len(s.audiences) >= maxAudiences {
		clear(s.audiences)
	}
	s.audiences[key] = fp
	return nil
}

// shareable reports whether this party's document d may be shared again:
// it is available, or its upload is finishing and its ISSUED event is
// durable (an upload whose event is not may yet be rolled back).
func (s *Service) shareable(ctx context.Context, d Document) (bool, error) {
	switch d.State {
	case Available:
		return true, nil
	case Pending:
		_, err := s.cfg.Logs.Own().GetByID(ctx, d.IssuedEventID)
		if linkd.ErrorCode(err) == linkd.ENotFound {
			return false, nil
		}
		return err == nil, err
	}
	return false, nil
}

// shareAgain shares this party's document d with the parties list and m
// now entitle that its record does not name: it records the ISSUED event
// with the new audience, then widens the record, so that the peer endpoint
// serves the parties the event reaches. A crash in between is made good
// when the follower reads the widening event again: the event's id is
// derived from the audience, so it is not recorded twice.
func (s *Service) shareAgain(ctx context.Context, d Document, list []linkd.ShipmentParty, m Matrix) error {
	want := s.audience(list, m, d.Type, d.Named, d.Residency)
	var added []string
	for _, p := range want {
		if !slices.Contains(d.Visibility, p) {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil
	}
	e := s.sharingEvent(d)
	e.EventID = sharedID(s.cfg.Self.ID, d.SHA256, want)
	e.Visibility = want
	// The event names its audience's places on the party list: the list
	// here may be ahead of the roster that stamps the event (this party's
	// own event that added them, read before the roster learnt of it), and
	// a visibility naming a party not on the list is refused.
	for _, p := range list {
		if slices.Contains(want, p.Party) {
			e.Parties = append(e.Parties, p)
		}
	}
	slices.SortFunc(e.Parties, func(a, b linkd.ShipmentParty) int { return strings.Compare(a.Party, b.Party) })
	ack, err := s.record(ctx, e)
	if err != nil {
		switch linkd.ErrorCode(err) {
		case linkd.EInvalid, linkd.EForbidden, linkd.EConflict:
			// Retrying will not help, and the follower must not stall on it.
			s.logger.Error("documents: could not share a document again; the parties newly entitled to it do not get it",
				"sha256", d.SHA256, "parties", strings.Join(added, ","), "err", err)
			return nil
		}
		return err
	}
	if err := s.store.IndexAttestation(d.SHA256, AttestationRef{s.cfg.Self.ID, ack.LogIndex, ack.EventID}); err != nil {
		return err
	}
	if _, err := s.store.Share(d.SHA256, d.Issuer, want); err != nil {
		return err
	}
	s.logger.Info("document shared again", "sha256", d.SHA256, "type", d.Type, "shipment", d.Shipment.String(),
		"added", strings.Join(added, ","), "event_id", ack.EventID)
	return nil
}

// sharedID is the event id of a party's re-share of document sha with
// audience: the same on a retry.
func sharedID(party, sha string, audience []string) string {
	return eventUUID("linkd/docs/shared\x00" + party + "\x00" + sha + "\x00" + strings.Join(audience, ","))
}

// named is an upload's visibility as its record keeps it: sorted, each
// party once, nil if empty.
func named(visibility []string) []string {
	if len(visibility) == 0 {
		return nil
	}
	out := slices.Clone(visibility)
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeParties is list with the parties of more it lacks.
func mergeParties(list, more []linkd.ShipmentParty) []linkd.ShipmentParty {
	out := list
	for _, p := range more {
		if roleOf(out, p.Party) == "" {
			if len(out) == len(list) {
				out = slices.Clone(list)
			}
			out = append(out, p)
		}
	}
	return out
}

// fingerprint names a party list whatever its order.
func fingerprint(list []linkd.ShipmentParty) string {
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.Party + "\x00" + string(p.Role)
	}
	slices.Sort(s)
	return strings.Join(s, "\x01")
}

// noteIssued records that this party issued a document on sh.
func (s *Service) noteIssued(sh Shipment) {
	s.issuedMu.Lock()
	defer s.issuedMu.Unlock()
	for _, k := range sh.refKeys() {
		s.issuedOn[k] = struct{}{}
	}
}

// issuedAny reports whether this party issued a document on a shipment
// that shares a reference with sh.
func (s *Service) issuedAny(sh Shipment) bool {
	s.issuedMu.RLock()
	defer s.issuedMu.RUnlock()
	if len(s.issuedOn) == 0 {
		return false
	}
	for _, k := range sh.refKeys() {
		if _, ok := s.issuedOn[k]; ok {
			return true
		}
	}
	return false
}
