package link

import (
	"context"
	"fmt"
	"sync"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// outbox holds the newest entries of the node's own log, decoded once for
// every sender: handed over by each commit (committed), or read from the
// store when a sender asks for what it lacks. Peers that keep up ask for the
// same entries within moments of each commit; reading, opening and decoding
// them once per peer was most of a sender's work.
//
// It keeps one contiguous run of outboxEntries to twice that many entries,
// ending at the newest entry committed or asked for. A sender behind the run
// (a peer catching up) reads the store itself, so it neither waits for nor
// evicts what the others need; one ahead of it begins a new run. Entries
// never change once in the run: a log entry never changes, and an entry whose
// payload is erased after it entered the run still reaches a peer that lags
// by less than the run, as it would have had the frame left a moment
// earlier; the erasure event that follows it in the log erases it there too.
// Manager.Forget drops the run when the node erases a shipment.
type outbox struct {
	mu      sync.Mutex
	from    int64      // index of entries[0]; guarded by mu
	entries []outEntry // guarded by mu; elements are never modified once appended
}

// outEntry is one entry of the own log as senders need it.
type outEntry struct {
	leaf  tlog.Hash
	salt  []byte // nil for an entry held as its commitment only
	canon []byte // with salt
	// What Shares reads of the event, with canon; the rest of the event is
	// left out, so that the run keeps little for the garbage collector.
	origin                string
	parties               []linkd.ShipmentParty
	visibility, residency []string
}

// shares reports whether party may be sent the entry's payload (Shares).
func (e *outEntry) shares(party linkd.Party) bool {
	if e.canon == nil {
		return false
	}
	ev := linkd.Event{Origin: e.origin, Parties: e.parties, Visibility: e.visibility, Residency: e.residency}
	return Shares(&ev, party)
}

// outboxEntries is how many entries an outbox keeps at least: at 5,000
// events/s, 0.4 s of the log, far more than a sender that keeps up lags by.
const outboxEntries = 2048

// forget drops the kept run.
func (o *outbox) forget() {
	o.mu.Lock()
	o.from, o.entries = 0, nil
	o.mu.Unlock()
}

// read calls fn with the entries [from, to) of own, in order; to must not
// exceed own's size.
func (o *outbox) read(ctx context.Context, own *partylog.Log, from, to int64, fn func(index int64, e *outEntry) error) error {
	run, err := o.run(ctx, own, from, to)
	if err != nil {
		return err
	}
	if run == nil {
		return readEntries(ctx, own, from, to, fn)
	}
	for i := range run {
		if err := fn(from+int64(i), &run[i]); err != nil {
			return err
		}
	}
	return nil
}

// run returns the entries [from, to) from the kept run, reading what it
// lacks at its end from the store. It returns nil when from is older than
// the run: the caller reads the store itself.
func (o *outbox) run(ctx context.Context, own *partylog.Log, from, to int64) ([]outEntry, error) {
	if from >= to {
		return []outEntry{}, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	end := o.from + int64(len(o.entries))
	switch {
	case from < o.from:
		return nil, nil
	case from > end:
		// The run ended before this sender's cursor: begin a new one.
		o.from, o.entries, end = from, nil, from
	}
	if to > end {
		o.trim(to, from)
		var err error
		o.entries, err = appendEntries(ctx, o.entries, own, end, to)
		if err != nil {
			return nil, err
		}
	}
	return o.entries[from-o.from : to-o.from : to-o.from], nil
}

// trim makes room for the run to reach end, keeping the entries from keep
// on. The run grows to twice its bound between trims, which keeps the
// copying to one entry per entry added; the kept entries go to a fresh
// array, as readers may still hold views of the old one.
func (o *outbox) trim(end, keep int64) {
	if int(end-o.from) > 2*outboxEntries {
		drop := min(int(end-o.from)-outboxEntries, int(keep-o.from), len(o.entries))
		o.entries = append(make([]outEntry, 0, 2*outboxEntries), o.entries[drop:]...)
		o.from += int64(drop)
	}
}

// committed adds entries the log just committed to the end of the run,
// decoded already, so that no sender reads them from the store. Entries
// that do not follow the run's end are left to be read when asked for.
func (o *outbox) committed(entries []partylog.NewEntry) {
	if len(entries) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.entries) > 0 && entries[0].Index != o.from+int64(len(o.entries)) {
		return
	}
	if n := len(entries); n > outboxEntries {
		entries, o.entries = entries[n-outboxEntries:], nil
	}
	if len(o.entries) == 0 {
		o.from = entries[0].Index
	}
	end := o.from + int64(len(o.entries)+len(entries))
	o.trim(end, end-outboxEntries)
	for i := range entries {
		ne := &entries[i]
		e := outEntry{leaf: ne.Leaf}
		if ne.Event != nil && ne.Canon != nil {
			e.carry(ne.Salt, ne.Canon, ne.Event.Sharing())
		}
		o.entries = append(o.entries, e)
	}
}

// appendEntries reads the entries [from, to) of own, decoding each payload,
// and appends them to dst. On error dst holds the entries before the one
// that failed.
func appendEntries(ctx context.Context, dst []outEntry, own *partylog.Log, from, to int64) ([]outEntry, error) {
	var buf []byte // the run's salts and encodings, copied out of the store's buffers
	err := own.ReadRange(ctx, from, to, func(re *partylog.RawEntry) error {
		e, err := newOutEntry(re)
		if err != nil {
			return err
		}
		if e.canon != nil {
			if need := len(re.Salt) + len(re.Canon); cap(buf)-len(buf) < need {
				// Room for the rest of the range, if its entries are
				// about this size.
				buf = make([]byte, 0, need*int(to-re.Index))
			}
			at := len(buf)
			buf = append(append(buf, re.Salt...), re.Canon...)
			e.salt = buf[at : at+len(re.Salt) : at+len(re.Salt)]
			e.canon = buf[at+len(re.Salt) : len(buf) : len(buf)]
		}
		dst = append(dst, e)
		return nil
	})
	return dst, err
}

// readEntries reads [from, to) of own straight from the store, for a sender
// too far behind for the outbox. The entries are valid only during fn.
func readEntries(ctx context.Context, own *partylog.Log, from, to int64, fn func(index int64, e *outEntry) error) error {
	return own.ReadRange(ctx, from, to, func(re *partylog.RawEntry) error {
		e, err := newOutEntry(re)
		if err != nil {
			return err
		}
		return fn(re.Index, &e)
	})
}

// newOutEntry makes an entry of re whose salt and encoding are re's. Of
// the event it reads only who may receive it: the log wrote the record
// after checking all of it, and the peer decodes and checks it in full.
func newOutEntry(re *partylog.RawEntry) (outEntry, error) {
	e := outEntry{leaf: re.Leaf}
	if re.Canon == nil {
		return e, nil
	}
	s, err := linkd.DecodeSharing(re.Canon)
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", re.Index, err)
	}
	e.carry(re.Salt, re.Canon, s)
	return e, nil
}

// carry gives e an event's payload, its salt and encoding, and who may
// receive it.
func (e *outEntry) carry(salt, canon []byte, s linkd.Sharing) {
	e.salt, e.canon = salt, canon
	e.origin, e.parties, e.visibility, e.residency = s.Origin, s.Parties, s.Visibility, s.Residency
}
