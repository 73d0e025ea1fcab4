// Package alerts keeps a node's alerts and its log holds durably in the
// node's Pebble store, under keys that start with 'A' (the other prefixes
// belong to other packages).
//
// An alert is raised once and then only counted while it stays open: the
// same kind, peer, log and message raised again bumps Count and LastSeen of
// the open one, so a peer that stays unreachable is one alert, not thousands.
// Acknowledging it closes it; the next occurrence opens a new one. The store
// keeps at most MaxAlerts, dropping the oldest acknowledged ones first.
//
// A hold stops the link layer accepting a log's new entries (after an
// equivocation, say) until an operator releases it; holds survive restarts.
//
// Every change is written with pebble.Sync before it is visible or returned.
// A failed write stops the store: later changes fail with linkd.EUnavailable,
// since Pebble cannot say what of a failed sync reached the disk.
// All methods are safe for concurrent use.
package alerts

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// Key layout. Everything lives under prefix; the second byte says what.
//
//	'A' 'a' id  → alert, JSON (ids are fixed-width hex, so keys sort by time)
//	'A' 'h' log → the log's latest hold, JSON (released or not)
const (
	prefix    = 'A'
	subAlert  = 'a'
	subHold   = 'h'
	idLen     = 24 // 16 hex digits of Unix nanoseconds, 8 of randomness
	maxLength = 4096
)

// MaxAlerts is how many alerts a store keeps by default. Past it, a new alert
// drops the oldest acknowledged one, or failing that the oldest warning, or
// failing that the oldest alert.
const MaxAlerts = 10_000

// Store is a node's durable alert list and hold registry.
type Store struct {
	db     *pebble.DB
	logger *slog.Logger

	// OnRaise, if set, is called with each new alert once it is durable, but
	// not when a repeat only bumps an open alert's Count. It runs on the
	// goroutine that raised the alert, with no lock held. Set it before the
	// first Raise.
	OnRaise func(linkd.Alert)

	now func() time.Time // the clock; tests replace it
	max int              // MaxAlerts; tests lower it

	// Lock order: mu before holdMu. No method holds both today.
	mu     sync.Mutex
	alerts map[string]*linkd.Alert // guarded by mu; by id, never mutated in place
	ids    []string                // guarded by mu; every id, ascending (oldest first)
	open   map[dedupeKey]string    // guarded by mu; the open alert's id by what it says
	lastNS int64                   // guarded by mu; the time part of the newest id
	failed error                   // guarded by mu; the write that stopped the store

	holdMu sync.RWMutex
	holds  map[string]linkd.LogHold // guarded by holdMu; the latest hold of each log
	// holdFailed is the write that stopped the hold registry; guarded by holdMu.
	holdFailed error
}

// dedupeKey is what makes two alerts the same.
type dedupeKey struct{ kind, peer, log, message string }

func keyOf(a *linkd.Alert) dedupeKey { return dedupeKey{a.Kind, a.Peer, a.Log, a.Message} }

// Open loads the alerts and holds kept in db. A nil logger discards.
func Open(db *pebble.DB, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		db:     db,
		logger: logger,
		now:    time.Now,
		max:    MaxAlerts,
		alerts: map[string]*linkd.Alert{},
		open:   map[dedupeKey]string{},
		holds:  map[string]linkd.LogHold{},
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 2 {
			return nil, fmt.Errorf("open alerts: malformed key %q", k)
		}
		switch k[1] {
		case subAlert:
			var a linkd.Alert
			if err := json.Unmarshal(it.Value(), &a); err != nil || a.ID != string(k[2:]) || len(a.ID) != idLen {
				return nil, fmt.Errorf("open alerts: corrupt alert record %q: %v", k, err)
			}
			s.alerts[a.ID] = &a
			s.ids = append(s.ids, a.ID) // keys, and so ids, come in ascending order
			if a.Open() {
				s.open[keyOf(&a)] = a.ID
			}
			ns, _ := strconv.ParseInt(a.ID[:16], 16, 64)
			s.lastNS = max(s.lastNS, ns)
		case subHold:
			var h linkd.LogHold
			if err := json.Unmarshal(it.Value(), &h); err != nil || h.Log != string(k[2:]) {
				// Skipping it would silently release a log.
				return nil, fmt.Errorf("open alerts: corrupt hold record %q: %v", k, err)
			}
			s.holds[h.Log] = h
		default:
			logger.Warn("alerts: skipping a key of an unknown kind", "key", fmt.Sprintf("%q", k))
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return s, nil
}

func alertKey(id string) []byte { return append([]byte{prefix, subAlert}, id...) }
func holdKey(log string) []byte { return append([]byte{prefix, subHold}, log...) }

// newIDLocked returns a fresh id later than every id so far, even when the
// clock stands still or steps back.
func (s *Store) newIDLocked(t time.Time) string {
	ns := max(t.UnixNano(), s.lastNS+1)
	s.lastNS = ns
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x%08x", uint64(ns), binary.BigEndian.Uint32(r[:]))
}

// Raise records an alert and returns it as stored. Kind, Severity
// (linkd.SeverityCritical or linkd.SeverityWarning) and Message are required;
// Raised defaults to now; ID, Count, LastSeen and the acknowledgement are the
// store's to set. If an open alert says the same (kind, peer, log and
// message), Raise only bumps its Count and LastSeen, keeps its evidence (or
// takes this one's if it had none) and returns it.
func (s *Store) Raise(a linkd.Alert) (linkd.Alert, error) {
	if err := validate(&a); err != nil {
		return linkd.Alert{}, err
	}
	a.Message = clip(a.Message)
	if a.Raised.IsZero() {
		a.Raised = s.now()
	}
	a.Raised = a.Raised.UTC()

	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return linkd.Alert{}, s.stopped(s.failed)
	}
	if id, ok := s.open[keyOf(&a)]; ok {
		up := *s.alerts[id]
		up.Count++
		if a.Raised.After(up.LastSeen) {
			up.LastSeen = a.Raised
		}
		if up.Evidence == nil {
			up.Evidence = a.Evidence
		}
		err := s.writeLocked(&up, nil)
		s.mu.Unlock()
		if err != nil {
			return linkd.Alert{}, err
		}
		return up, nil
	}
	a.ID = s.newIDLocked(a.Raised)
	a.Count, a.LastSeen, a.Acknowledged, a.AckBy = 1, a.Raised, nil, ""
	drop := s.victimsLocked(len(s.ids) + 1 - s.max)
	if err := s.writeLocked(&a, drop); err != nil {
		s.mu.Unlock()
		return linkd.Alert{}, err
	}
	hook := s.OnRaise
	s.mu.Unlock()

	s.logger.Warn("alert raised", "alert_id", a.ID, "kind", a.Kind, "severity", a.Severity, "peer", a.Peer, "log", a.Log, "message", a.Message)
	if hook != nil {
		hook(a)
	}
	return a, nil
}

func validate(a *linkd.Alert) error {
	var probs []linkd.Problem
	if a.Kind == "" || len(a.Kind) > 64 {
		probs = append(probs, linkd.Problem{Field: "kind", Reason: "required, at most 64 bytes: equivocation, verification_failed, residency_violation, peer_unreachable or another"})
	}
	if a.Severity != linkd.SeverityCritical && a.Severity != linkd.SeverityWarning {
		probs = append(probs, linkd.Problem{Field: "severity", Reason: fmt.Sprintf("%q is neither %s nor %s", a.Severity, linkd.SeverityCritical, linkd.SeverityWarning)})
	}
	if a.Message == "" {
		probs = append(probs, linkd.Problem{Field: "message", Reason: "required"})
	}
	if len(a.Peer) > 256 || len(a.Log) > 256 {
		probs = append(probs, linkd.Problem{Field: "peer", Reason: "peer and log are at most 256 bytes"})
	}
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// clip shortens a message to maxLength bytes on a character boundary: what a
// peer's error text puts in a message must not bloat the store.
func clip(s string) string {
	if len(s) <= maxLength {
		return s
	}
	cut := maxLength - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// victimsLocked picks n alerts to drop: the oldest acknowledged first, then
// the oldest warnings, then the oldest of the rest.
func (s *Store) victimsLocked(n int) []string {
	if n <= 0 {
		return nil
	}
	var out []string
	picked := map[string]bool{}
	for _, pass := range []func(*linkd.Alert) bool{
		func(a *linkd.Alert) bool { return !a.Open() },
		func(a *linkd.Alert) bool { return a.Severity == linkd.SeverityWarning },
		func(a *linkd.Alert) bool { return true },
	} {
		for _, id := range s.ids {
			if len(out) == n {
				return out
			}
			if !picked[id] && pass(s.alerts[id]) {
				picked[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// writeLocked durably stores a and deletes the alerts in drop, then updates
// the in-memory state to match. Nothing changes if the write fails.
func (s *Store) writeLocked(a *linkd.Alert, drop []string) error {
	val, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("store alert %s: %w", a.ID, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(alertKey(a.ID), val, nil)
	for _, id := range drop {
		b.Delete(alertKey(id), nil)
	}
	if err := commit(s.db, b); err != nil {
		s.failed = err
		s.logger.Error("alerts: write failed; the alert store is stopped", "alert_id", a.ID, "kind", a.Kind, "err", err)
		return s.stopped(err)
	}
	for _, id := range drop {
		old := s.alerts[id]
		delete(s.alerts, id)
		if i, ok := slices.BinarySearch(s.ids, id); ok {
			s.ids = slices.Delete(s.ids, i, i+1)
		}
		if s.open[keyOf(old)] == id {
			delete(s.open, keyOf(old))
		}
		s.logger.Info("alert dropped to stay within the limit", "alert_id", id, "kind", old.Kind, "limit", s.max)
	}
	stored := *a
	if _, ok := s.alerts[a.ID]; !ok {
		s.ids = append(s.ids, a.ID) // ids only grow
	}
	s.alerts[a.ID] = &stored
	if stored.Open() {
		s.open[keyOf(&stored)] = a.ID
	} else if s.open[keyOf(&stored)] == a.ID {
		delete(s.open, keyOf(&stored))
	}
	return nil
}

// commit writes b and waits for its fsync. It reports a failed fsync as an
// error: Batch.Commit would hand it to the logger's Fatalf instead.
func commit(db *pebble.DB, b *pebble.Batch) error {
	if err := db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return err
	}
	return b.SyncWait()
}

func (s *Store) stopped(err error) error {
	return &linkd.Error{Code: linkd.EUnavailable, Message: "the alert store stopped after a failed write; restart the node", Err: err}
}

// List returns the alerts, newest first: only the open ones unless
// includeAcked. The evidence they point to is shared; do not modify it.
func (s *Store) List(includeAcked bool) []linkd.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]linkd.Alert, 0, len(s.ids))
	for i := len(s.ids) - 1; i >= 0; i-- {
		if a := s.alerts[s.ids[i]]; includeAcked || a.Open() {
			out = append(out, *a)
		}
	}
	return out
}

// Get returns one alert, or an error with code linkd.ENotFound.
func (s *Store) Get(id string) (linkd.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	if !ok {
		return linkd.Alert{}, linkd.Errorf(linkd.ENotFound, "no alert %q", id)
	}
	return *a, nil
}

// Ack acknowledges an alert in the name of by (an operator or token name).
// Acknowledging it again changes nothing. An unknown id is linkd.ENotFound.
func (s *Store) Ack(id, by string) error {
	if by == "" {
		return &linkd.ValidationError{Problems: []linkd.Problem{{Field: "by", Reason: "required: who acknowledges the alert"}}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.stopped(s.failed)
	}
	a, ok := s.alerts[id]
	if !ok {
		return linkd.Errorf(linkd.ENotFound, "no alert %q", id)
	}
	if !a.Open() {
		return nil
	}
	up := *a
	now := s.now().UTC()
	up.Acknowledged, up.AckBy = &now, clip(by)
	if err := s.writeLocked(&up, nil); err != nil {
		return err
	}
	s.logger.Info("alert acknowledged", "alert_id", id, "kind", up.Kind, "by", up.AckBy)
	return nil
}

// OpenByKind counts the open alerts of each kind, for metrics.
func (s *Store) OpenByKind() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, id := range s.open {
		out[s.alerts[id].Kind]++
	}
	return out
}

// Hold stops the log's new entries being accepted, for reason, until
// Release. alertID names the alert that carries the evidence, if any.
// Holding a held log again keeps the first hold and its reason.
func (s *Store) Hold(log, reason, alertID string) error {
	if log == "" || len(log) > 256 || reason == "" {
		return &linkd.ValidationError{Problems: []linkd.Problem{{Field: "log", Reason: "a hold needs a log (at most 256 bytes) and a reason"}}}
	}
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if h, ok := s.holds[log]; ok && h.Released == nil {
		return nil
	}
	h := linkd.LogHold{Log: log, Reason: clip(reason), AlertID: alertID, Since: s.now().UTC()}
	if err := s.putHoldLocked(h); err != nil {
		return err
	}
	s.logger.Warn("log held: its new entries are refused until an operator releases it", "log", log, "reason", h.Reason, "alert_id", alertID)
	return nil
}

// Held reports whether the log is held, and why.
func (s *Store) Held(log string) (bool, string) {
	s.holdMu.RLock()
	defer s.holdMu.RUnlock()
	h, ok := s.holds[log]
	if !ok || h.Released != nil {
		return false, ""
	}
	return true, h.Reason
}

// Release lifts the hold on a log in the name of by. A log that is not held
// is linkd.ENotFound.
func (s *Store) Release(log, by string) error {
	if by == "" {
		return &linkd.ValidationError{Problems: []linkd.Problem{{Field: "by", Reason: "required: who releases the log"}}}
	}
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	h, ok := s.holds[log]
	if !ok || h.Released != nil {
		return linkd.Errorf(linkd.ENotFound, "log %q is not held", log)
	}
	now := s.now().UTC()
	h.Released, h.ReleasedBy = &now, clip(by)
	if err := s.putHoldLocked(h); err != nil {
		return err
	}
	s.logger.Warn("log released: its new entries are accepted again", "log", log, "by", h.ReleasedBy, "held_since", h.Since)
	return nil
}

// Holds returns the logs held now, by log name.
func (s *Store) Holds() []linkd.LogHold {
	s.holdMu.RLock()
	defer s.holdMu.RUnlock()
	var out []linkd.LogHold
	for _, h := range s.holds {
		if h.Released == nil {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b linkd.LogHold) int { return strings.Compare(a.Log, b.Log) })
	return out
}

func (s *Store) putHoldLocked(h linkd.LogHold) error {
	if s.holdFailed != nil {
		return s.stopped(s.holdFailed)
	}
	val, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("store hold of %s: %w", h.Log, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(holdKey(h.Log), val, nil)
	if err := commit(s.db, b); err != nil {
		s.holdFailed = err
		s.logger.Error("alerts: hold write failed; the hold registry is stopped", "log", h.Log, "err", err)
		return s.stopped(err)
	}
	s.holds[h.Log] = h
	return nil
}
