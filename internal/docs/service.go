package docs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/subscribe"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// Roster is the node's view of shipments' party lists (internal/roster).
type Roster interface {
	// Of returns the party list of the shipment e names.
	Of(ctx context.Context, e *linkd.Event) ([]linkd.ShipmentParty, error)
	// Stamp sets each event's party list as recording it would, or refuses
	// the batch.
	Stamp(ctx context.Context, events []linkd.Event) error
}

// Config configures a Service.
type Config struct {
	Self  linkd.Party
	Store *Store
	// Logs is every log the node holds; attestations are read and proved
	// from it.
	Logs   *partylog.Logs
	Roster Roster
	// Ingest records events on the node's own log as the API does (party
	// lists stamped).
	Ingest func(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error)
	// Feed is every event the node holds; the service follows it to learn of
	// documents, attestations and erasures.
	Feed *subscribe.Feed
	// Peers is the directory of partner nodes: who a TLS client is, and
	// where to fetch a document from.
	Peers *peers.Directory
	// Cert is this node's TLS certificate, presented when fetching.
	Cert tls.Certificate
	// Workers is how many transfers run at once; 0 means 2.
	Workers int
	// Logger nil discards.
	Logger *slog.Logger
	// Now is the clock for event times; nil means time.Now.
	Now func() time.Time
}

// Service is a node's documents: uploads and the ISSUED events that share
// them, attestations, the access matrix, erasure, the peer endpoint that
// serves documents to entitled peers, and the follower that fetches what
// peers share with this node and shares this party's documents again when a
// shipment's matrix or party list widens (reshare.go). Start begins its
// goroutines; Close stops them. All methods may be called concurrently.
type Service struct {
	cfg     Config
	store   *Store
	fetcher *Fetcher
	logger  *slog.Logger

	clientsMu sync.Mutex
	clients   map[string]*peerClient // by party id; guarded by clientsMu

	// audiences is, by shipment, the fingerprint of the party list its
	// documents' audiences were last worked out against (see reshare). The
	// follower's own: no lock.
	audiences map[string]string

	// issuedOn holds the references (Shipment.refKeys) of the shipments
	// this party issued documents on. The follower reads every event the
	// node holds, and an event of any other shipment cannot make it share
	// anything again: one map lookup settles it.
	issuedMu sync.RWMutex
	issuedOn map[string]struct{} // guarded by issuedMu

	cancel context.CancelFunc
	done   chan struct{}
}

type peerClient struct {
	certPEM, endpoint string
	client            *http.Client
}

// New returns the service and rolls back uploads a crash left between
// storing the bytes and recording their ISSUED event.
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, store: cfg.Store, logger: cfg.Logger, clients: map[string]*peerClient{}, audiences: map[string]string{},
		issuedOn: map[string]struct{}{}}
	s.fetcher = NewFetcher(cfg.Store, s.source, cfg.Workers, cfg.Logger)
	if err := s.recoverPending(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// recoverPending settles uploads whose ISSUED event may not be durable: kept
// if the event is in the log, removed if not.
func (s *Service) recoverPending(ctx context.Context) error {
	var pending []Document
	if err := s.store.each(func(d Document) error {
		if d.State == Pending {
			pending = append(pending, d)
		}
		if d.Issuer == s.cfg.Self.ID {
			s.noteIssued(d.Shipment)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, d := range pending {
		rec, err := s.cfg.Logs.Own().GetByID(ctx, d.IssuedEventID)
		if err == nil {
			if err := s.store.IndexAttestation(d.SHA256, AttestationRef{s.cfg.Self.ID, rec.LogIndex, rec.Event.EventID}); err != nil {
				return err
			}
			if err := s.store.SetState(d.SHA256, Available, ""); err != nil {
				return err
			}
			continue
		}
		if linkd.ErrorCode(err) != linkd.ENotFound {
			return err
		}
		s.logger.Warn("an upload stopped before its ISSUED event was recorded; removed", "sha256", d.SHA256)
		if err := s.store.Remove(d.SHA256); err != nil {
			return err
		}
	}
	return nil
}

// Start begins following the node's events and fetching documents.
func (s *Service) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.follow(ctx)
	}()
	return s.fetcher.Start()
}

// Close stops the follower and the transfers and waits for them.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	s.fetcher.Close()
	s.clientsMu.Lock()
	for _, c := range s.clients {
		c.client.CloseIdleConnections()
	}
	s.clientsMu.Unlock()
}

// Store is the service's document store.
func (s *Service) Store() *Store { return s.store }

// follow reads every event the node holds, from where it stopped.
func (s *Service) follow(ctx context.Context) {
	cur := subscribe.Cursor{}
	if v, err := s.store.cursor(); err != nil {
		s.logger.Error("documents: follower position unreadable; documents are not fetched", "err", err)
		return
	} else if v != nil {
		if cur, err = subscribe.DecodeCursor(string(v)); err != nil {
			s.logger.Error("documents: follower position unreadable; documents are not fetched", "err", err)
			return
		}
	}
	s.cfg.Feed.Follow(ctx, cur, func(it subscribe.Item) error { return s.learn(ctx, it) },
		func(c subscribe.Cursor) error { return s.store.saveCursor([]byte(c.Encode())) }, s.logger.With("component", "documents"))
}

// learn takes one held event: it files attestations under their document,
// fetches documents peers issued to this node, carries out erasures, and
// shares this party's documents again when the event widens who may hold
// them.
func (s *Service) learn(ctx context.Context, it subscribe.Item) error {
	e := it.Event
	if a := e.Attestation; a != nil && CheckSHA256(a.DocumentSHA256) == nil {
		if err := s.store.IndexAttestation(a.DocumentSHA256, AttestationRef{it.Party, it.Index, e.EventID}); err != nil {
			return err
		}
		if a.Verdict == "ISSUED" && it.Party != s.cfg.Self.ID {
			if err := s.learnIssued(e); err != nil {
				return err
			}
		}
	}
	if why, ok := IsErasure(e); ok {
		if _, err := s.applyErasure(ctx, e, why); err != nil {
			return err
		}
	}
	return s.reshare(ctx, it)
}

// learnIssued keeps the record of a document a peer issued and shared with
// this node, and queues its transfer. An ISSUED event of a document already
// held here is its issuer sharing it again with more parties: the record's
// visibility grows to match, so this party's attestations reach them too.
func (s *Service) learnIssued(e *linkd.Event) error {
	sh := ShipmentOf(e)
	switch {
	case !KnownType(e.DocumentTypeCode), sh.IsZero():
		return nil
	case !s.cfg.Self.Admits(e.Residency):
		// The link layer refuses such payloads; never store the bytes.
		s.logger.Warn("documents: an ISSUED event names a document this node may not store; ignored", "sha256", e.Attestation.DocumentSHA256, "residency", e.Residency)
		return nil
	case len(e.Visibility) > 0 && !slices.Contains(e.Visibility, s.cfg.Self.ID):
		return nil
	}
	d := Document{
		SHA256: e.Attestation.DocumentSHA256, Type: e.DocumentTypeCode, DocumentID: e.DocumentID, Shipment: sh,
		Issuer: e.Origin, Visibility: e.Visibility, Residency: e.Residency,
		IssuedEventID: e.EventID, Issued: e.EventDateTime, State: Fetching,
	}
	created, err := s.store.Learn(d)
	if err != nil {
		return err
	}
	if created {
		s.fetcher.Enqueue(d.SHA256)
		return nil
	}
	_, err = s.store.Share(d.SHA256, e.Origin, e.Visibility)
	return err
}

// applyErasure erases a shipment on this node if the erasure's origin is on
// the shipment's list (or is this node's party).
func (s *Service) applyErasure(ctx context.Context, e *linkd.Event, why string) ([]string, error) {
	if e.Origin != s.cfg.Self.ID {
		list, err := s.cfg.Roster.Of(ctx, e)
		if err != nil {
			return nil, err
		}
		if roleOf(list, e.Origin) == "" {
			s.logger.Warn("documents: an erasure by a party not on the shipment's list; ignored", "origin", e.Origin, "event_id", e.EventID)
			return nil, nil
		}
	}
	note := fmt.Sprintf("erased by %s (event %s)", e.Origin, e.EventID)
	if why != "" {
		note += ": " + why
	}
	hashes, err := s.store.Erase(ShipmentOf(e), note)
	if err != nil {
		return nil, err
	}
	// The shipment's event records in the store are sealed under the keys
	// just destroyed; the decoded copies the feed keeps go too.
	if s.cfg.Feed != nil {
		s.cfg.Feed.Forget()
	}
	s.logger.Info("shipment erased", "shipment", ShipmentOf(e).String(), "by", e.Origin, "event_id", e.EventID, "documents", len(hashes))
	return hashes, nil
}

// UploadRequest describes a document being uploaded by its issuer.
type UploadRequest struct {
	SHA256      string   // the hash the bytes must have
	Type        string   // documentTypeCode
	ContentType string   // as the upload declares it; "" lets the bytes decide
	DocumentID  string   // the issuer's number for it
	Shipment    Shipment // at least one reference
	Visibility  []string // narrows the matrix to these parties; empty: the matrix
	Residency   []string // where its bytes may be stored; empty: anywhere
}

// maxShipmentEvents bounds the events read to derive a shipment's access
// matrix.
const maxShipmentEvents = 5000

// Upload stores a document this node's party issues and records the ISSUED
// event that shares it with the parties the shipment's matrix entitles. It
// refuses, before reading the body where it can: an unknown type, no
// shipment or an unknown one, a visibility naming a party not entitled, a
// residency excluding this node; then, having read it (and stored nothing):
// bytes over the size limit, cut off, not hashing to the given hash, or not
// PDF, JSON or XML. Uploading a document already held answers its record
// and false.
func (s *Service) Upload(ctx context.Context, req UploadRequest, body io.Reader) (Document, bool, error) {
	if err := s.checkUpload(req); err != nil {
		return Document{}, false, err
	}
	if err := s.store.claim(req.SHA256); err != nil {
		return Document{}, false, err
	}
	defer s.store.release(req.SHA256)
	if d, err := s.store.Get(req.SHA256); err == nil {
		switch {
		case d.State == Erased:
			return d, false, linkd.Errorf(linkd.EConflict, "document %s was erased on this node (%s); it cannot be stored again", d.SHA256, d.Note)
		case d.Shipment != req.Shipment || d.Type != req.Type:
			return d, false, linkd.Errorf(linkd.EConflict, "document %s is already held here as a %s of %s", d.SHA256, d.Type, d.Shipment)
		}
		return d, false, nil
	} else if linkd.ErrorCode(err) != linkd.ENotFound {
		return Document{}, false, err
	}
	e, err := s.issuedEvent(ctx, req)
	if err != nil {
		return Document{}, false, err
	}
	st, err := s.store.Receive(body, req.Shipment.KeyID(), req.ContentType)
	if err != nil {
		return Document{}, false, err
	}
	if st.SHA256() != req.SHA256 {
		st.Discard()
		return Document{}, false, linkd.Errorf(linkd.EInvalid, "the %d bytes received hash to sha256 %s, not the %s the upload names; nothing was stored", st.Size(), st.SHA256(), req.SHA256)
	}
	d := Document{
		Type: req.Type, DocumentID: req.DocumentID, Shipment: req.Shipment, Issuer: s.cfg.Self.ID,
		Visibility: e.Visibility, Named: named(req.Visibility), Reshares: true, Residency: req.Residency,
		IssuedEventID: e.EventID, Issued: e.EventDateTime, State: Pending,
	}
	if d, err = s.store.Commit(st, d); err != nil {
		return Document{}, false, err
	}
	s.noteIssued(d.Shipment)
	ack, err := s.record(ctx, e)
	if err != nil {
		if rerr := s.store.Remove(d.SHA256); rerr != nil {
			s.logger.Error("documents: could not roll back an upload; it goes at the next start", "sha256", d.SHA256, "err", rerr)
		}
		return Document{}, false, err
	}
	if err := s.store.IndexAttestation(d.SHA256, AttestationRef{s.cfg.Self.ID, ack.LogIndex, ack.EventID}); err != nil {
		return Document{}, false, err
	}
	if err := s.store.SetState(d.SHA256, Available, ""); err != nil {
		return Document{}, false, err
	}
	d.State = Available
	s.logger.Info("document issued", "sha256", d.SHA256, "type", d.Type, "shipment", d.Shipment.String(), "bytes", d.Size, "audience", strings.Join(d.Visibility, ","))
	return d, true, nil
}

func (s *Service) checkUpload(req UploadRequest) error {
	if err := CheckSHA256(req.SHA256); err != nil {
		return err
	}
	var probs []linkd.Problem
	if req.Type == "" {
		probs = append(probs, linkd.Problem{Field: "documentTypeCode", Reason: "required: " + typeList()})
	} else if !KnownType(req.Type) {
		probs = append(probs, linkd.Problem{Field: "documentTypeCode", Reason: fmt.Sprintf("unknown document type %q; %s", clip(req.Type), typeList())})
	}
	if req.Shipment.IsZero() {
		probs = append(probs, linkd.Problem{Field: "carrierBookingReference", Reason: "name the document's shipment: carrierBookingReference, transportDocumentReference or equipmentReference"})
	}
	if !s.cfg.Self.Admits(req.Residency) {
		probs = append(probs, linkd.Problem{Field: "residency", Reason: fmt.Sprintf("%v excludes this node's jurisdiction %v: the document may not be stored here", req.Residency, s.cfg.Self.Jurisdiction)})
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

func typeList() string {
	return "INV (commercial invoice), PKL (packing list), TRD (transport document, the bill of lading), COO (certificate of origin), PHY (phytosanitary certificate) or another DCSA documentTypeCode"
}

// issuedID is the event id of a party's ISSUED event for a document: the
// same on a retry, so a retried upload never records it twice.
func issuedID(party, sha string) string {
	return eventUUID("linkd/docs/issued\x00" + party + "\x00" + sha)
}

// eventUUID is the RFC 9562 version 8 UUID of name, for event ids that a
// retry must reproduce.
func eventUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	sum[6] = sum[6]&0x0f | 0x80 // version 8
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(sum[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// issuedEvent builds and checks the ISSUED event of an upload: its
// visibility is the document's audience under the shipment's matrix.
func (s *Service) issuedEvent(ctx context.Context, req UploadRequest) (linkd.Event, error) {
	self := s.cfg.Self.ID
	e := s.sharingEvent(Document{SHA256: req.SHA256, Type: req.Type, DocumentID: req.DocumentID, Shipment: req.Shipment, Residency: req.Residency})
	e.EventID = issuedID(self, req.SHA256)
	list, m, err := s.shipmentAccess(ctx, req.Shipment)
	if err != nil {
		return linkd.Event{}, err
	}
	if len(list) == 0 {
		return linkd.Event{}, &linkd.ValidationError{Problems: []linkd.Problem{{Field: "carrierBookingReference",
			Reason: fmt.Sprintf("this node knows no shipment %s: record its booking with its parties first, so the document has someone to go to", req.Shipment)}}}
	}
	var probs []linkd.Problem
	for i, p := range req.Visibility {
		role := roleOf(list, p)
		switch {
		case p == self:
		case role == "":
			probs = append(probs, linkd.Problem{Field: fmt.Sprintf("visibility[%d]", i), Reason: fmt.Sprintf("%s is not on the party list of shipment %s", clip(p), req.Shipment)})
		case !m.Allows(req.Type, role):
			probs = append(probs, linkd.Problem{Field: fmt.Sprintf("visibility[%d]", i),
				Reason: fmt.Sprintf("%s (%s) may not hold %s documents of this shipment: its access matrix gives them to %s", p, role, req.Type, describeRoles(m.Roles(req.Type)))})
		}
	}
	if len(probs) > 0 {
		return linkd.Event{}, &linkd.ValidationError{Problems: probs}
	}
	e.Visibility = s.audience(list, m, req.Type, req.Visibility, req.Residency)
	// Check the event as recording it would, before the body is read.
	probe := e
	probe.Visibility, probe.Residency = slices.Clone(e.Visibility), slices.Clone(e.Residency)
	batch := []linkd.Event{probe}
	if err := s.cfg.Roster.Stamp(ctx, batch); err != nil {
		return linkd.Event{}, err
	}
	if err := linkd.CheckBatch(batch, s.cfg.Self); err != nil {
		return linkd.Event{}, err
	}
	return e, nil
}

// sharingEvent is the ISSUED event that shares document d, by this node's
// party, with no id or audience yet: an upload's and a re-share's alike.
func (s *Service) sharingEvent(d Document) linkd.Event {
	e := linkd.Event{
		Origin:    s.cfg.Self.ID,
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: VerdictCode("ISSUED"),
		DocumentTypeCode: d.Type, DocumentID: d.DocumentID, EventDateTime: linkd.Time{Time: s.cfg.Now().UTC()},
		Attestation: &linkd.Attestation{DocumentSHA256: d.SHA256, Verdict: "ISSUED"}, Residency: slices.Clone(d.Residency),
	}
	d.Shipment.event(&e)
	return e
}

// audience is who a document of this party goes to under list and m (see
// the function audience), less the parties whose node's jurisdiction, as
// its card in the directory says, residency excludes: the link layer would
// never send them the event, nor the issuer the bytes.
func (s *Service) audience(list []linkd.ShipmentParty, m Matrix, code string, named, residency []string) []string {
	return slices.DeleteFunc(audience(list, m, code, s.cfg.Self.ID, named), func(id string) bool {
		p, ok := s.cfg.Peers.Get(id)
		return ok && !p.Party.Admits(residency)
	})
}

// record appends one event through the node's ingest. An append may be
// durable although its wait was cut short, so a failure is checked against
// the log before it is reported.
func (s *Service) record(ctx context.Context, e linkd.Event) (linkd.Ack, error) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	acks, err := s.cfg.Ingest(ictx, []linkd.Event{e})
	if err == nil {
		return acks[0], nil
	}
	if e.EventID != "" {
		if rec, gerr := s.cfg.Logs.Own().GetByID(ictx, e.EventID); gerr == nil {
			return linkd.Ack{EventID: rec.Event.EventID, LogIndex: rec.LogIndex}, nil
		}
	}
	return linkd.Ack{}, err
}

// shipmentAccess returns a shipment's party list and access matrix as this
// node knows them.
func (s *Service) shipmentAccess(ctx context.Context, sh Shipment) ([]linkd.ShipmentParty, Matrix, error) {
	var probe linkd.Event
	sh.event(&probe)
	list, err := s.cfg.Roster.Of(ctx, &probe)
	if err != nil {
		return nil, Matrix{}, err
	}
	type pos struct {
		origin string
		index  int64
	}
	seen := map[pos]bool{}
	var recs []linkd.Recorded
	for _, k := range []struct {
		ix  partylog.Index
		ref string
	}{{partylog.ByBooking, sh.CarrierBookingReference}, {partylog.ByTransportDocument, sh.TransportDocumentReference}, {partylog.ByEquipment, sh.EquipmentReference}} {
		if k.ref == "" {
			continue
		}
		got, _, err := partylog.Collect(ctx, s.cfg.Logs, partylog.Query{Index: k.ix, Value: k.ref}, maxShipmentEvents)
		if err != nil {
			return nil, Matrix{}, err
		}
		for _, r := range got {
			if p := (pos{r.Event.Origin, r.LogIndex}); !seen[p] {
				seen[p] = true
				recs = append(recs, r)
			}
		}
	}
	m := FoldMatrix(recs, func(p string) bool { return roleOf(list, p) != "" })
	return list, m, nil
}

// mayHold reports whether party p may hold document d: it issued d, or its
// jurisdiction is admitted by d's residency, it is in d's visibility, and
// its role on the shipment may hold d's type under the matrix now (on the
// issuer's node, for a record that keeps its upload's narrowing: it is in
// the audience a re-share would name now). Every
// read and the peer endpoint ask it each time, so a narrowed matrix takes
// effect at once: a party no longer entitled can no longer fetch d from its
// issuer. Narrowing recalls nothing, though: a node that already holds a
// copy keeps it (its own users see it while its view of the matrix allows).
func (s *Service) mayHold(ctx context.Context, d Document, p linkd.Party) (bool, error) {
	if p.ID == d.Issuer {
		return true, nil
	}
	if !p.Admits(d.Residency) {
		return false, nil
	}
	list, m, err := s.shipmentAccess(ctx, d.Shipment)
	if err != nil {
		return false, err
	}
	if d.Issuer == s.cfg.Self.ID && d.Reshares {
		// This party's own document goes to whom a re-share would name
		// now: a party whose re-share event reached it before the record
		// was widened is served, and one no longer entitled is not.
		return slices.Contains(s.audience(list, m, d.Type, d.Named, d.Residency), p.ID), nil
	}
	if len(d.Visibility) > 0 && !slices.Contains(d.Visibility, p.ID) {
		return false, nil
	}
	return m.Allows(d.Type, roleOf(list, p.ID)), nil
}

// visible returns d's record if this node's party may see it, else the
// not_found every other answer gives.
func (s *Service) visible(ctx context.Context, sha string) (Document, error) {
	if err := CheckSHA256(sha); err != nil {
		return Document{}, err
	}
	d, err := s.store.Get(sha)
	if err != nil {
		return Document{}, err
	}
	ok, err := s.mayHold(ctx, d, s.cfg.Self)
	if err != nil {
		return Document{}, err
	}
	if !ok {
		return Document{}, errNotFound(sha)
	}
	return d, nil
}

// Attested answers an attestation: the event as recorded and its ack.
type Attested struct {
	Ack   linkd.Ack   `json:"ack"`
	Event linkd.Event `json:"event"`
}

// Attest records this party's verdict on a document it holds: CHECKED,
// ACCEPTED, or REJECTED with a reason (ISSUED is recorded by Upload). The
// event goes to the parties the document went to. A document this party may
// not see is not_found, as if it did not exist; one not here yet is
// unavailable; one erased is a conflict.
func (s *Service) Attest(ctx context.Context, sha, verdict, reason string) (Attested, error) {
	switch verdict {
	case "CHECKED", "ACCEPTED", "REJECTED":
	case "ISSUED":
		return Attested{}, linkd.Errorf(linkd.EInvalid, "verdict: a document is ISSUED by uploading it (PUT /v1/documents/{sha256}); attest CHECKED, ACCEPTED or REJECTED")
	default:
		return Attested{}, linkd.Errorf(linkd.EInvalid, "verdict %q: want CHECKED, ACCEPTED or REJECTED", clip(verdict))
	}
	if verdict == "REJECTED" && strings.TrimSpace(reason) == "" {
		return Attested{}, linkd.Errorf(linkd.EInvalid, "reason: required when a document is REJECTED: say why")
	}
	d, err := s.visible(ctx, sha)
	if err != nil {
		return Attested{}, err
	}
	switch d.State {
	case Erased:
		return Attested{}, linkd.Errorf(linkd.EConflict, "document %s was erased (%s): its bytes are gone, so it can no longer be checked", sha, d.Note)
	case Fetching, Pending:
		return Attested{}, linkd.Errorf(linkd.EUnavailable, "document %s is not here yet (it is on its way from %s's node); attest once it is", sha, d.Issuer)
	}
	e := linkd.Event{
		Origin: s.cfg.Self.ID, EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: VerdictCode(verdict),
		DocumentTypeCode: d.Type, DocumentID: d.DocumentID, EventDateTime: linkd.Time{Time: s.cfg.Now().UTC()},
		Attestation: &linkd.Attestation{DocumentSHA256: sha, Verdict: verdict}, Reason: reason, Residency: slices.Clone(d.Residency),
	}
	d.Shipment.event(&e)
	if len(d.Visibility) > 0 {
		// The parties the document went to that this node knows on the
		// shipment: visibility can only narrow the list.
		list, err := s.cfg.Roster.Of(ctx, &e)
		if err != nil {
			return Attested{}, err
		}
		for _, p := range d.Visibility {
			if p == s.cfg.Self.ID || roleOf(list, p) != "" {
				e.Visibility = append(e.Visibility, p)
			}
		}
	}
	ack, err := s.record(ctx, e)
	if err != nil {
		return Attested{}, err
	}
	if err := s.store.IndexAttestation(sha, AttestationRef{s.cfg.Self.ID, ack.LogIndex, ack.EventID}); err != nil {
		return Attested{}, err
	}
	rec, err := s.cfg.Logs.Own().GetByID(ctx, ack.EventID)
	if err != nil {
		return Attested{}, err
	}
	return Attested{Ack: ack, Event: rec.Event}, nil
}

// Open returns a reader of a document's bytes and its record, for this
// node's own users. See Store.Open for the errors.
func (s *Service) Open(ctx context.Context, sha string) (*Reader, Document, error) {
	if _, err := s.visible(ctx, sha); err != nil {
		return nil, Document{}, err
	}
	return s.store.Open(sha)
}

// List returns the records of a shipment's documents this node's party may
// see (every one it holds if sh is zero).
func (s *Service) List(ctx context.Context, sh Shipment) ([]Document, error) {
	all, err := s.store.List(sh)
	if err != nil {
		return nil, err
	}
	out := []Document{}
	for _, d := range all {
		if ok, err := s.mayHold(ctx, d, s.cfg.Self); err != nil {
			return nil, err
		} else if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// Await waits until the document sha is available (or erased) here.
func (s *Service) Await(ctx context.Context, sha string) (Document, error) {
	return s.store.Await(ctx, sha, func(d Document) bool { return d.State == Available || d.State == Erased })
}

// Info is what a node knows of a document: its record, if it holds one, and
// every attestation of its hash among the events it holds.
type Info struct {
	Document     *Document         `json:"document,omitempty"`
	Attestations []AttestationInfo `json:"attestations"`
}

// AttestationInfo is one attestation as a node holds it, checked against
// the newest signed checkpoint of its origin's log the node holds.
type AttestationInfo struct {
	EventID          string     `json:"eventID"`
	Origin           string     `json:"origin"`
	LogIndex         int64      `json:"logIndex"`
	Verdict          string     `json:"verdict"`
	Reason           string     `json:"reason,omitempty"`
	DocumentTypeCode string     `json:"documentTypeCode"`
	EventDateTime    linkd.Time `json:"eventDateTime"`
	// Verified: the event's inclusion proof leads to the root of the
	// checkpoint of CheckpointSize, signed by its origin's log key.
	Verified       bool  `json:"verified"`
	CheckpointSize int64 `json:"checkpointSize"`
}

// Info returns what the node knows of document sha. The record shows only
// if this party may see it; attestations show as the events they are. A
// hash the node knows nothing of is not_found.
func (s *Service) Info(ctx context.Context, sha string) (Info, error) {
	if err := CheckSHA256(sha); err != nil {
		return Info{}, err
	}
	info := Info{Attestations: []AttestationInfo{}}
	if d, err := s.visible(ctx, sha); err == nil {
		info.Document = &d
	} else if linkd.ErrorCode(err) != linkd.ENotFound {
		return Info{}, err
	}
	proved, err := s.proofs(ctx, sha)
	if err != nil {
		return Info{}, err
	}
	for _, p := range proved {
		e := &p.bundle.Event
		ai := AttestationInfo{EventID: e.EventID, Origin: e.Origin, LogIndex: p.bundle.LogIndex, Verdict: e.Attestation.Verdict,
			Reason: e.Reason, DocumentTypeCode: e.DocumentTypeCode, EventDateTime: e.EventDateTime, Verified: p.verified, CheckpointSize: p.size}
		info.Attestations = append(info.Attestations, ai)
	}
	if info.Document == nil && len(info.Attestations) == 0 {
		return Info{}, errNotFound(sha)
	}
	return info, nil
}

type proved struct {
	bundle   linkd.ProofBundle
	verified bool
	size     int64
}

// provingLog is a log that proves inclusion: the own log and replicas.
type provingLog interface {
	Checkpoint() ([]byte, linkd.Checkpoint)
	InclusionProof(index, size int64) ([]tlog.Hash, error)
}

// proofs returns a proof bundle of each attestation of sha the node holds,
// against the newest checkpoint of its origin's log, in event-time order.
func (s *Service) proofs(ctx context.Context, sha string) ([]proved, error) {
	refs, err := s.store.Attestations(sha)
	if err != nil {
		return nil, err
	}
	var out []proved
	for _, ref := range refs {
		rec, err := s.cfg.Logs.GetByID(ctx, ref.EventID)
		if err != nil {
			if linkd.ErrorCode(err) == linkd.ENotFound {
				continue
			}
			return nil, err
		}
		if a := rec.Event.Attestation; a == nil || a.DocumentSHA256 != sha || rec.Event.Origin != ref.Origin {
			continue
		}
		src, ok := s.cfg.Logs.Source(ref.Origin)
		if !ok {
			continue
		}
		pl, ok := src.(provingLog)
		if !ok {
			return nil, fmt.Errorf("docs: the log of %s cannot prove inclusion", ref.Origin)
		}
		note, cp := pl.Checkpoint()
		proof, err := pl.InclusionProof(rec.LogIndex, cp.Size)
		if err != nil {
			return nil, err
		}
		b := linkd.ProofBundle{Format: linkd.BundleFormat, Checkpoint: string(note), Event: rec.Event, Salt: rec.Salt,
			LogIndex: rec.LogIndex, InclusionProof: make([][]byte, len(proof))}
		for i, h := range proof {
			b.InclusionProof[i] = append([]byte(nil), h[:]...)
		}
		leaf := tlog.Hash(linkd.LeafHash(rec.Commitment()))
		ok = tlog.VerifyInclusion(leaf, rec.LogIndex, cp.Size, proof, tlog.Hash(cp.Hash)) == nil
		out = append(out, proved{bundle: b, verified: ok, size: cp.Size})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i].bundle.Event, &out[j].bundle.Event
		if c := a.EventDateTime.Compare(b.EventDateTime.Time); c != 0 {
			return c < 0
		}
		return a.HLC < b.HLC
	})
	return out, nil
}

// Bundle returns the proof of every attestation of sha this node holds, for
// `linkd verify` to check offline against the parties' log keys. A hash
// the node holds no attestation of is not_found.
func (s *Service) Bundle(ctx context.Context, sha string) (Bundle, error) {
	if err := CheckSHA256(sha); err != nil {
		return Bundle{}, err
	}
	proved, err := s.proofs(ctx, sha)
	if err != nil {
		return Bundle{}, err
	}
	if len(proved) == 0 {
		return Bundle{}, linkd.Errorf(linkd.ENotFound, "no attestation of a document with sha256 %s among the events this node holds", sha)
	}
	b := Bundle{Format: BundleFormat, SHA256: sha, Attestations: make([]linkd.ProofBundle, len(proved))}
	for i, p := range proved {
		b.Attestations[i] = p.bundle
	}
	return b, nil
}

// AccessView is a shipment's document-access matrix as this node knows it,
// with the parties each row gives documents to.
type AccessView struct {
	Shipment Shipment              `json:"shipment"`
	Parties  []linkd.ShipmentParty `json:"parties"`
	Rows     []AccessViewRow       `json:"rows"`
}

// AccessViewRow is one row of an AccessView.
type AccessViewRow struct {
	AccessRow
	Parties []string `json:"parties"` // the parties on the shipment whose role the row allows
}

// Access returns shipment sh's matrix: every trade document type's row.
func (s *Service) Access(ctx context.Context, sh Shipment) (AccessView, error) {
	if sh.IsZero() {
		return AccessView{}, linkd.Errorf(linkd.EInvalid, "name the shipment: carrierBookingReference, transportDocumentReference or equipmentReference")
	}
	list, m, err := s.shipmentAccess(ctx, sh)
	if err != nil {
		return AccessView{}, err
	}
	if len(list) == 0 {
		return AccessView{}, linkd.Errorf(linkd.ENotFound, "this node knows no shipment %s", sh)
	}
	v := AccessView{Shipment: sh, Parties: list}
	codes := make([]string, 0, len(linkd.DocumentTypeCodes))
	for c := range linkd.DocumentTypeCodes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		row := AccessViewRow{AccessRow: m.Row(c), Parties: []string{}}
		for _, p := range list {
			if m.Allows(c, p.Role) {
				row.Parties = append(row.Parties, p.Party)
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// SetAccess records an access event setting which roles may hold documents
// of type code on shipment sh. Only a party on the shipment's list may.
func (s *Service) SetAccess(ctx context.Context, sh Shipment, code string, roles []linkd.Role) (linkd.Ack, error) {
	if !KnownType(code) {
		return linkd.Ack{}, linkd.Errorf(linkd.EInvalid, "documentTypeCode %q: unknown; %s", clip(code), typeList())
	}
	if err := CheckRoles(roles); err != nil {
		return linkd.Ack{}, err
	}
	if err := s.onShipment(ctx, sh, "change who may see its documents"); err != nil {
		return linkd.Ack{}, err
	}
	e := AccessEvent(sh, code, roles, s.cfg.Now().UTC())
	e.Origin = s.cfg.Self.ID
	return s.record(ctx, e)
}

// onShipment refuses unless this node's party is on sh's list.
func (s *Service) onShipment(ctx context.Context, sh Shipment, what string) error {
	if sh.IsZero() {
		return linkd.Errorf(linkd.EInvalid, "name the shipment: carrierBookingReference, transportDocumentReference or equipmentReference")
	}
	var probe linkd.Event
	sh.event(&probe)
	list, err := s.cfg.Roster.Of(ctx, &probe)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return linkd.Errorf(linkd.ENotFound, "this node knows no shipment %s", sh)
	}
	if roleOf(list, s.cfg.Self.ID) == "" {
		return linkd.Errorf(linkd.EForbidden, "%s is not on the party list of shipment %s, so it cannot %s", s.cfg.Self.ID, sh, what)
	}
	return nil
}

// Erasure answers an erasure: the event that records it and the
// shipment's documents now erased on this node.
type Erasure struct {
	EventID  string   `json:"eventID"`
	LogIndex int64    `json:"logIndex"`
	Erased   []string `json:"erased"` // hashes of the shipment's documents erased here
}

// Erase erases shipment sh: it records the erasure event, which every node
// holding the shipment's documents acts on when it arrives, and acts on it
// here at once: the shipment's data keys are destroyed and its documents'
// bytes removed; records, hashes and attestations remain.
func (s *Service) Erase(ctx context.Context, sh Shipment, why string) (Erasure, error) {
	if len(why) > 1000 {
		return Erasure{}, linkd.Errorf(linkd.EInvalid, "reason: %d bytes; at most 1000", len(why))
	}
	if err := s.onShipment(ctx, sh, "erase it"); err != nil {
		return Erasure{}, err
	}
	e := ErasureEvent(sh, why, s.cfg.Now().UTC())
	e.Origin = s.cfg.Self.ID
	ack, err := s.record(ctx, e)
	if err != nil {
		return Erasure{}, err
	}
	e.EventID = ack.EventID
	why, _ = IsErasure(&e)
	// The follower may carry the event out first; either way, once done
	// here, every document of the shipment on this node is erased.
	if _, err := s.applyErasure(ctx, &e, why); err != nil {
		return Erasure{}, err
	}
	list, err := s.store.List(sh)
	if err != nil {
		return Erasure{}, err
	}
	hashes := []string{}
	for _, d := range list {
		if d.State == Erased && d.Shipment.shares(sh) {
			hashes = append(hashes, d.SHA256)
		}
	}
	return Erasure{EventID: ack.EventID, LogIndex: ack.LogIndex, Erased: hashes}, nil
}

// CheckEvents refuses attestations in a client's batch that this node's
// party may not make: an ISSUED (made by uploading), or a verdict on a
// document this party cannot see. The API's event ingest calls it, so the
// raw event path is held to what POST /v1/documents/{sha256}/attestations
// enforces.
func (s *Service) CheckEvents(ctx context.Context, events []linkd.Event) error {
	var probs []linkd.Problem
	for i := range events {
		a := events[i].Attestation
		if a == nil {
			continue
		}
		field := "attestation"
		if len(events) > 1 {
			field = fmt.Sprintf("events[%d].attestation", i)
		}
		if a.Verdict == "ISSUED" {
			probs = append(probs, linkd.Problem{Field: field + ".verdict", Reason: "a document is ISSUED by uploading it (PUT /v1/documents/{sha256}), which shares it with the parties entitled to it"})
			continue
		}
		if CheckSHA256(a.DocumentSHA256) != nil {
			continue // validation names it
		}
		if _, err := s.visible(ctx, a.DocumentSHA256); linkd.ErrorCode(err) == linkd.ENotFound {
			probs = append(probs, linkd.Problem{Field: field + ".documentSHA256", Reason: fmt.Sprintf("no document with sha256 %s that %s may see is on this node: a party attests only documents it holds", a.DocumentSHA256, s.cfg.Self.ID)})
		} else if err != nil {
			return err
		}
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// source returns where to fetch a document issued by party: its node, with
// a client that presents this node's certificate and pins the peer's.
func (s *Service) source(party string) (Source, bool) {
	p, ok := s.cfg.Peers.Get(party)
	if !ok {
		return Source{}, false
	}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	c := s.clients[party]
	if c == nil || c.certPEM != p.CertPEM || c.endpoint != p.Endpoint {
		if c != nil {
			c.client.CloseIdleConnections()
		}
		c = &peerClient{certPEM: p.CertPEM, endpoint: p.Endpoint, client: &http.Client{
			Transport: &http.Transport{
				TLSClientConfig:       peers.ClientTLS(p, s.cfg.Cert),
				ForceAttemptHTTP2:     true,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: 30 * time.Second,
				IdleConnTimeout:       90 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
		s.clients[party] = c
	}
	return Source{Party: party, Endpoint: p.Endpoint, Client: c.client}, true
}

// MaxDocumentSize is the size limit of a document in bytes.
func (s *Service) MaxDocumentSize() int64 { return s.store.MaxSize() }
