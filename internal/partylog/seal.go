package partylog

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// A Sealer encrypts event records at rest under per-shipment keys, so that
// destroying a shipment's key erases its events' payloads from this node
// (crypto-shredding; internal/shred's Keys with internal/docs' choice of key
// are the node's). The Merkle leaf stays over the plaintext commitment, so
// roots, checkpoints and proofs do not change when payloads are erased.
type Sealer interface {
	// KeyID names the key e's record is sealed under; "" keeps it in the
	// clear (an event of no shipment, or one that must outlive erasure).
	// It must not keep e, which Append reuses for the next event.
	KeyID(e *linkd.Event) string
	// Ensure makes keys for ids that have none, and returns those of ids
	// whose keys were destroyed. A key it makes is durable once a batch
	// that Bind wrote its binding into commits with a sync.
	Ensure(ids []string) (destroyed []string, err error)
	// Bind writes into b the bindings of those of ids whose keys Ensure
	// made and that may not be durable yet, and returns them (nil if none).
	// Every batch holding records sealed under such a key carries its
	// binding.
	Bind(b *pebble.Batch, ids []string) []string
	// Bound is told of the ids Bind returned once their batch, or a later
	// one, committed with a sync.
	Bound(ids []string)
	// AEAD returns the cipher of id's key, made by Ensure before; for a
	// destroyed key it fails with shred.ErrDestroyed.
	AEAD(id string) (cipher.AEAD, error)
}

// A sealed event record is
//
//	leafHash(32) zero(32) len(keyID) uvarint keyID sealed(salt canonical)
//
// where sealed is the key's AEAD output (nonce, ciphertext, tag) with the
// leaf hash as associated data.
// The 32 zero bytes stand where a record in the clear has its salt, which is
// random and never all zero (a replica refuses a zero salt), so a record says
// which form it is in; stores written before sealing keep their records.
var zeroSalt [linkd.SaltSize]byte

// errErased is the cause of the errors for an event record whose key was
// destroyed.
var errErased = errors.New("its shipment was erased")

// IsErased reports whether err is about an event whose payload was erased.
func IsErased(err error) bool { return errors.Is(err, errErased) }

func isSealed(v []byte) bool {
	return len(v) > recordHeader && bytes.Equal(v[32:recordHeader], zeroSalt[:])
}

// unseal returns the salt and canonical encoding of record v (the value of
// an event key). A sealed record is opened into *buf, grown to hold it and
// left for the caller's next record (the plaintext is shorter than the
// record, so a reader of many records allocates once), or into new memory
// when buf is nil. A record held as a commitment only returns nil, nil; one
// whose key was destroyed, errErased.
func (s *space) unseal(buf *[]byte, v []byte) (salt, canon []byte, err error) {
	return unsealWith(s.sealer, buf, v) // a nil Sealer is a nil cipherSource
}

// cipherSource gives the cipher of a record's key: the log's Sealer, or an
// audit's pass over the keys (see passSealer).
type cipherSource interface {
	AEAD(id string) (cipher.AEAD, error)
}

// passSealer is a Sealer that can give a pass over many records, such as an
// audit, ciphers of its own (docs.EventSealer, through shred.Keys.Pass).
type passSealer interface {
	Pass(n int) *shred.Pass
}

// bulkCiphers returns the ciphers for one pass over many records (an
// audit, a snapshot): a pass of their own when the sealer gives one, so that
// the pass neither evicts the ciphers the writes use nor makes a cipher for
// most records of a log with more shipments than the node's cache holds
// (see shred.Pass); else the sealer's. done lets the pass's ciphers go.
func (s *space) bulkCiphers() (keys cipherSource, done func()) {
	if ps, ok := s.sealer.(passSealer); ok {
		p := ps.Pass(shred.PassCiphers)
		return p, p.Close
	}
	return s.sealer, func() {}
}

// unsealWith is unseal with the ciphers of keys, nil for a log opened
// without its keys.
func unsealWith(keys cipherSource, buf *[]byte, v []byte) (salt, canon []byte, err error) {
	switch {
	case len(v) == len(zeroSalt):
		return nil, nil, nil
	case !isSealed(v):
		if len(v) <= recordHeader {
			return nil, nil, fmt.Errorf("corrupt record of %d bytes", len(v))
		}
		return v[32:recordHeader:recordHeader], v[recordHeader:], nil
	}
	rest := v[recordHeader:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n == 0 || n > shred.MaxIDLen || uint64(len(rest)-w) < n {
		return nil, nil, fmt.Errorf("corrupt sealed record of %d bytes", len(v))
	}
	id, sealed := string(rest[w:w+int(n)]), rest[w+int(n):]
	if keys == nil {
		return nil, nil, fmt.Errorf("a sealed record (key %q) in a log opened without its keys", id)
	}
	aead, err := keys.AEAD(id)
	switch {
	case errors.Is(err, shred.ErrDestroyed):
		return nil, nil, errErased
	case err != nil:
		return nil, nil, err
	}
	var dst []byte
	if buf != nil {
		*buf = slices.Grow((*buf)[:0], len(v))
		dst = *buf
	}
	pt, err := aead.Open(dst, nil, sealed, v[:32])
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("open a sealed record (key %q): %w", id, err)
	case len(pt) <= linkd.SaltSize:
		return nil, nil, fmt.Errorf("corrupt sealed record: %d bytes inside", len(pt))
	}
	return pt[:linkd.SaltSize:linkd.SaltSize], pt[linkd.SaltSize:], nil
}

// seal seals the records of the set's events that have a key, in place of
// their clear form. A record whose key was destroyed since the caller
// checked (an erasure racing the append, or one a replica or cluster member
// learnt of first) is kept as its commitment only. An error is the keys'
// storage failing; erased are the log indexes of the records kept as
// commitments.
func (w *writeSet) seal(s Sealer, ensured bool) (erased []int64, err error) {
	if s == nil {
		return nil, nil
	}
	w.keys.reset()
	for i := range w.records {
		if w.records[i].canon != nil {
			w.keys.add(w.records[i].key)
		}
	}
	if len(w.keys.list) == 0 {
		return nil, nil
	}
	if !ensured {
		if _, err := s.Ensure(w.keys.list); err != nil {
			return nil, fmt.Errorf("make shipment keys: %w", err)
		}
	}
	// One cipher per key of the group, fetched once.
	w.aeads = w.aeads[:0]
	for _, k := range w.keys.list {
		a, err := s.AEAD(k)
		if err != nil && !errors.Is(err, shred.ErrDestroyed) {
			return nil, fmt.Errorf("seal under %q: %w", k, err)
		}
		w.aeads = append(w.aeads, a) // nil for a destroyed key
	}
	w.sealed = w.sealed[:0]
	last, aead := "", cipher.AEAD(nil)
	for i := range w.records {
		r := &w.records[i]
		if r.key == "" || r.canon == nil {
			continue
		}
		if r.key != last {
			last, aead = r.key, w.aeads[w.keys.position(r.key)]
		}
		if aead == nil {
			r.canon, r.salt = nil, nil
			erased = append(erased, r.index)
			continue
		}
		w.pt = append(append(w.pt[:0], r.salt...), r.canon...)
		start := len(w.sealed)
		w.sealed = appendSealed(w.sealed, r.key, aead, w.pt, r.leaf)
		r.sealed = [2]int{start, len(w.sealed)}
		w.size += len(w.sealed) - start - len(r.canon)
	}
	return erased, nil
}

// ensureKeys makes sure every event of reqs that is to be sealed has a
// durable key, and returns the keys among them that were destroyed. An error
// is the key store failing.
func (l *Log) ensureKeys(reqs []*request, keys *keySet) ([]string, error) {
	if l.sealer == nil {
		return nil, nil
	}
	keys.reset()
	for _, r := range reqs {
		for i := range r.events {
			keys.add(r.events[i].key)
		}
	}
	if len(keys.list) == 0 {
		return nil, nil
	}
	destroyed, err := l.sealer.Ensure(keys.list)
	if err != nil {
		return nil, fmt.Errorf("make shipment keys: %w", err)
	}
	return destroyed, nil
}

// sealRecord returns record v (leaf, salt, canonical encoding) sealed under
// its event's shipment key, as it is if the event has none, or as its
// commitment only if that key was destroyed. The key's binding goes into b,
// the batch the record is for; bound is what Bind returned.
func (s *space) sealRecord(b *pebble.Batch, v []byte) (out []byte, bound []string, err error) {
	canon := v[recordHeader:]
	e, err := linkd.DecodeCanonical(canon)
	if err != nil {
		return nil, nil, err
	}
	id := s.sealer.KeyID(&e)
	if id == "" {
		return v, nil, nil
	}
	if gone, err := s.sealer.Ensure([]string{id}); err != nil {
		return nil, nil, err
	} else if len(gone) > 0 {
		return v[:32:32], nil, nil
	}
	aead, err := s.sealer.AEAD(id)
	if errors.Is(err, shred.ErrDestroyed) {
		return v[:32:32], nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	out = append(append(make([]byte, 0, len(v)+64), v[:32]...), zeroSalt[:]...)
	return appendSealed(out, id, aead, v[32:], tlog.Hash(v[:32])), s.sealer.Bind(b, []string{id}), nil
}

// appendSealed appends what follows the zero salt in a sealed record: the
// key id and the plaintext (salt, canonical encoding) sealed with the leaf
// hash as associated data.
func appendSealed(b []byte, id string, aead cipher.AEAD, plaintext []byte, leaf tlog.Hash) []byte {
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	return aead.Seal(b, nil, plaintext, leaf[:])
}

// refuseErased answers the appends of reqs that hold an event of an erased
// shipment with that error, and returns the others.
func refuseErased(reqs []*request, destroyed []string) []*request {
	kept := reqs[:0]
	for _, r := range reqs {
		if err := erasedIn(r.events, destroyed); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// keySet gathers the distinct keys of a group, in order of first use.
type keySet struct {
	list []string
	set  map[string]int // position in list
	last string
}

// position is where k is in the list; k must have been added.
func (s *keySet) position(k string) int { return s.set[k] }

func (s *keySet) reset() {
	s.list, s.last = s.list[:0], ""
	clear(s.set)
}

func (s *keySet) add(k string) {
	if k == "" || k == s.last {
		return
	}
	s.last = k
	if s.set == nil {
		s.set = map[string]int{}
	}
	if _, ok := s.set[k]; !ok {
		s.set[k] = len(s.list)
		s.list = append(s.list, k)
	}
}

// erasedIn returns the error refusing an append of events whose shipment
// keys are among destroyed.
func erasedIn(events []entry, destroyed []string) error {
	for i := range events {
		if k := events[i].key; k != "" && slices.Contains(destroyed, k) {
			return &linkd.Error{Code: linkd.EConflict, Err: errErased,
				Message: fmt.Sprintf("event %s: shipment %s was erased on this node; no event of it can be recorded again", clip(events[i].id), k)}
		}
	}
	return nil
}
