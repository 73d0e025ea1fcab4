// Package peers is a node's network directory: the identity cards of the
// partners it links to. A card (Peer) names a party, the key its log signs
// checkpoints with, the key it cosigns others' checkpoints with, the TLS
// certificate its node presents and the URL it serves at. Operators exchange
// cards out of band (`linkd peer card` on one node, `linkd peer add` on the
// other) and the directory pins what they added.
//
// It promises:
//
//   - a card is stored only if every field checks out (Put returns a
//     *linkd.ValidationError naming each bad field), and what Put stored is
//     durable when it returns;
//   - Identify accepts a TLS client exactly when its leaf certificate is
//     byte for byte the one pinned for the party that certificate names, and
//     says why not otherwise; it reads memory only;
//   - a card replaced or removed stops being accepted from the moment Put or
//     Remove returns.
//
// Cards are kept in the node's Pebble database under keys that start with
// 'P', followed by the party id.
package peers

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// Peer is a partner's identity card: who it is, the keys that prove what its
// log and its witness sign, and how to reach and recognise its node.
type Peer struct {
	// Party is the partner: id, display name, roles, jurisdiction.
	Party linkd.Party `json:"party"`
	// LogKey is the verifier key of the partner's log in signed-note form
	// (name+hash+base64); its name is linkd.LogOrigin(Party.ID).
	LogKey string `json:"logKey"`
	// WitnessKey is the verifier key the partner cosigns checkpoints with (C2SP
	// tlog-cosignature, Ed25519), in signed-note form. Empty: the partner does
	// not witness yet.
	WitnessKey string `json:"witnessKey,omitempty"`
	// CertPEM is the partner node's TLS certificate (one PEM CERTIFICATE
	// block, ECDSA P-256, naming the party in a linkd://party/<id> URI). It is
	// pinned: only this exact certificate is accepted for the party.
	CertPEM string `json:"certPEM"`
	// Endpoint is the https://host:port the partner's node serves at.
	Endpoint string `json:"endpoint"`
	// Added is when the card was put into this directory; the directory sets
	// it, and a card handed to a partner carries none.
	Added time.Time `json:"added,omitzero"`
}

// Fingerprint returns the hex SHA-256 of the card's certificate (DER), the
// value operators compare over the phone; "" if CertPEM holds no certificate.
func (p Peer) Fingerprint() string {
	leaf, _ := parseCert(p.CertPEM)
	if leaf == nil {
		return ""
	}
	sum := sha256.Sum256(leaf.Raw)
	return fmt.Sprintf("%x", sum)
}

func (p Peer) clone() Peer {
	p.Party.Roles = slices.Clone(p.Party.Roles)
	p.Party.Jurisdiction = slices.Clone(p.Party.Jurisdiction)
	return p
}

// Key layout, in the node's one Pebble database (partylog owns lowercase
// letters, access 'a'; 'A', 'W' and 'L' are reserved for others):
//
//	'P' party id → JSON record (see record)
const prefixPeer = 'P'

// Directory is a node's set of peers, one card per party id, held in memory
// and in Pebble.
//
// All methods may be called concurrently. Open one Directory per database;
// it does not own the database: close the database after the last call.
type Directory struct {
	db   *pebble.DB
	self linkd.Party
	log  *slog.Logger
	now  func() time.Time

	// Lock order: wmu, then mu, then smu. A writer holds wmu across its
	// check, write and publish so two writers of one id cannot interleave;
	// it takes mu only to publish, so Identify never waits for an fsync.
	wmu sync.Mutex

	mu     sync.RWMutex
	byID   map[string]*entry            // guarded by mu
	byCert map[[sha256.Size]byte]*entry // SHA-256 of the pinned DER; guarded by mu

	smu  sync.Mutex
	subs map[chan struct{}]struct{} // guarded by smu
}

// entry is a stored card with its certificate parsed once.
type entry struct {
	peer Peer
	leaf *x509.Certificate
	fp   [sha256.Size]byte
}

// Open loads every card stored in db. self is the node's own party, which
// can never be its own peer. A record it cannot read is an error that names
// its key: the node must not start with a directory it only partly
// understands. logger nil discards.
func Open(db *pebble.DB, self linkd.Party, logger *slog.Logger) (*Directory, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{
		db: db, self: self, log: logger, now: time.Now,
		byID: map[string]*entry{}, byCert: map[[sha256.Size]byte]*entry{}, subs: map[chan struct{}]struct{}{},
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixPeer}, UpperBound: []byte{prefixPeer + 1}})
	if err != nil {
		return nil, fmt.Errorf("open peer directory: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			break // it.Error reports it
		}
		e, err := decodeRecord(it.Key(), v)
		if err != nil {
			err = fmt.Errorf("open peer directory: corrupt peer record under key %q: %w", it.Key(), err)
			it.Close()
			return nil, err
		}
		d.byID[e.peer.Party.ID] = e
		d.byCert[e.fp] = e
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("open peer directory: %w", err)
	}
	return d, nil
}

// Put checks a card and stores it, replacing the card of the same party if
// there is one: that is how a partner's keys or certificate are rotated, and
// the old certificate is refused from the moment Put returns. Added is set to
// now. A bad card is a *linkd.ValidationError naming each problem's field
// (party.id, logKey, witnessKey, certPEM, endpoint…); the node's own party is
// refused as a peer.
func (d *Directory) Put(p Peer) error {
	now := d.now()
	var probs []linkd.Problem
	if p.Party.ID == d.self.ID && d.self.ID != "" {
		probs = append(probs, linkd.Problem{Field: "party.id", Reason: fmt.Sprintf("%q is this node's own party; add the card of a partner's node", p.Party.ID)})
	}
	if err := p.Validate(now); err != nil {
		var ve *linkd.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		probs = append(probs, ve.Problems...)
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	leaf, _ := parseCert(p.CertPEM) // Validate parsed it
	p = p.clone()
	p.CertPEM = certPEM(leaf) // one canonical spelling of the pinned certificate
	p.Added = now.UTC()
	e := &entry{peer: p, leaf: leaf, fp: sha256.Sum256(leaf.Raw)}

	d.wmu.Lock()
	defer d.wmu.Unlock()
	v, err := json.Marshal(record{V: recordVersion, Peer: p})
	if err != nil {
		return fmt.Errorf("put peer %s: %w", p.Party.ID, err)
	}
	if err := d.db.Set(peerKey(p.Party.ID), v, pebble.Sync); err != nil {
		return fmt.Errorf("put peer %s: %w", p.Party.ID, err)
	}
	d.mu.Lock()
	old := d.byID[p.Party.ID]
	if old != nil {
		delete(d.byCert, old.fp)
	}
	d.byID[p.Party.ID] = e
	d.byCert[e.fp] = e
	d.mu.Unlock()
	d.notify()
	attrs := []any{"peer", p.Party.ID, "endpoint", p.Endpoint, "cert_sha256", fmt.Sprintf("%x", e.fp)}
	if old != nil {
		d.log.Info("peer card replaced", append(attrs, "old_cert_sha256", fmt.Sprintf("%x", old.fp))...)
	} else {
		d.log.Info("peer added", attrs...)
	}
	return nil
}

// Get returns the card of party id.
func (d *Directory) Get(id string) (Peer, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e := d.byID[id]
	if e == nil {
		return Peer{}, false
	}
	return e.peer.clone(), true
}

// List returns every card, ordered by party id.
func (d *Directory) List() []Peer {
	d.mu.RLock()
	out := make([]Peer, 0, len(d.byID))
	for _, e := range d.byID {
		out = append(out, e.peer.clone())
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Compare(a.Party.ID, b.Party.ID) })
	return out
}

// Len returns how many peers the directory holds.
func (d *Directory) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byID)
}

// Remove deletes the card of party id, durably; from the moment it returns
// the party's certificate is refused. An unknown id is an ENotFound error.
func (d *Directory) Remove(id string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.mu.RLock()
	e := d.byID[id]
	d.mu.RUnlock()
	if e == nil {
		return NotFound(id)
	}
	if err := d.db.Delete(peerKey(id), pebble.Sync); err != nil {
		return fmt.Errorf("remove peer %s: %w", id, err)
	}
	d.mu.Lock()
	delete(d.byID, id)
	delete(d.byCert, e.fp)
	d.mu.Unlock()
	d.notify()
	d.log.Info("peer removed", "peer", id, "cert_sha256", fmt.Sprintf("%x", e.fp))
	return nil
}

// Subscribe returns a channel that receives a value after the directory
// changes (a Put or a Remove), and a function that ends the subscription and
// closes the channel. Changes are coalesced: the channel holds at most one
// pending value, so a slow reader sees one wake-up for many changes and
// should read the whole state (List) when it wakes, never count wake-ups.
// Sends never block the writer. Call the returned function once the reader
// stops reading; calling it again does nothing.
func (d *Directory) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	d.smu.Lock()
	d.subs[ch] = struct{}{}
	d.smu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			d.smu.Lock()
			delete(d.subs, ch)
			close(ch)
			d.smu.Unlock()
		})
	}
}

func (d *Directory) notify() {
	d.smu.Lock()
	defer d.smu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// NotFound is the ENotFound error for a party id not in the directory. It
// quotes the id only when it is shaped like one, so whatever a caller pasted
// in its place (a token, say) is not echoed.
func NotFound(id string) error {
	if validPartyID(id) {
		return linkd.Errorf(linkd.ENotFound, "no peer %q in this node's directory; 'linkd peer list' shows them", id)
	}
	return linkd.Errorf(linkd.ENotFound, "no such peer: a party id is lowercase letters, digits and inner hyphens")
}

func validPartyID(id string) bool {
	return linkd.Party{ID: id, Jurisdiction: []string{"VN"}}.Validate() == nil
}

// record is a card as stored under 'P' id. V is the format version.
type record struct {
	V int `json:"v"`
	Peer
}

const recordVersion = 1

func peerKey(id string) []byte { return append([]byte{prefixPeer}, id...) }

// decodeRecord reads a stored card. It checks what the directory relies on
// (the id under its key, a parsable pinned certificate) but not expiry: a
// card whose certificate expired stays listed, and Identify refuses it.
func decodeRecord(key, value []byte) (*entry, error) {
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, err
	}
	switch {
	case r.V != recordVersion:
		return nil, fmt.Errorf("record version %d, this build reads version %d", r.V, recordVersion)
	case r.Party.ID != string(key[1:]):
		return nil, fmt.Errorf("record names party %q", clip(r.Party.ID))
	}
	leaf, reason := parseCert(r.CertPEM)
	if leaf == nil {
		return nil, errors.New("certPEM: " + reason)
	}
	return &entry{peer: r.Peer, leaf: leaf, fp: sha256.Sum256(leaf.Raw)}, nil
}

// clip shortens what a caller sent before a message echoes it.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
