package subscribe

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// Item is one event of the feed with where it sits: its origin's log
// position and that log's newest checkpoint, which covers it. A subscriber
// holding both can ask any node for an inclusion proof, and can see gaps.
type Item struct {
	Party      string       // the origin, whose log holds the event
	Index      int64        // the event's index in that log
	Event      *linkd.Event // shared between readers: never modify it
	Checkpoint Checkpoint
}

// Checkpoint names a signed checkpoint of a log.
type Checkpoint struct {
	Origin   string `json:"origin"`   // the log's origin line
	Size     int64  `json:"size"`     // entries the checkpoint covers
	RootHash []byte `json:"rootHash"` // Merkle root at Size
}

// Feed is every event the node holds, local and replicated alike, read
// from the logs themselves. The logs are the outbox: an event enters the
// feed in the same batch that makes it durable, and a reader's cursor says
// how far it got, so a crash between the commit and a delivery only means
// the delivery happens after the restart. The newest entries of each log are
// kept decoded, shared by the readers that keep up: the events the node
// records (Recorded) and those of frames a replica applied (Applied) reach
// them without being read back from the store at all, and what one reader
// reads from the store the next finds in memory.
type Feed struct {
	logs *partylog.Logs

	mu   sync.Mutex
	wake chan struct{} // closed by Notify; guarded by mu

	recentMu sync.Mutex
	recent   map[string]*recentRun // by party; guarded by recentMu
	forget   []func()              // see OnForget; guarded by recentMu
}

// recentRun is the newest run of a log's entries the feed was handed by
// Applied or read from the store, in log order: the event of each, or nil
// for an entry this node holds as its commitment only.
type recentRun struct {
	mu   sync.Mutex
	from int64          // index of ev[0]; guarded by mu
	ev   []*linkd.Event // guarded by mu; elements never change once appended
}

// recentEntries is how many entries a recentRun keeps at least (and at
// most twice as many): at 5,000 events/s, 0.2 s of a log, far more than a
// reader that keeps up lags by.
const recentEntries = 1024

// NewFeed returns the feed of logs.
func NewFeed(logs *partylog.Logs) *Feed {
	return &Feed{logs: logs, wake: make(chan struct{})}
}

// Notify tells readers that some log grew. Call it after every commit of
// the own log and every applied frame of a replica (Recorded and Applied
// call it).
func (f *Feed) Notify() {
	f.mu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

// Applied tells readers that a frame of party's log was applied to its
// replica here, and keeps the events it stored (as res has them: verified,
// admitted and durable as the replica is) so that readers take them from
// memory instead of reading and decoding them again. Call it after every
// applied frame, in place of Notify.
func (f *Feed) Applied(party string, res partylog.ApplyResult) {
	if n := res.Payloads + res.Hashes; n > 0 && len(res.Events) == len(res.Indexes) {
		from := res.Size - int64(n)
		evs := make([]*linkd.Event, n)
		for i, x := range res.Indexes {
			if x >= from && x < res.Size {
				evs[x-from] = &res.Events[i]
			}
		}
		f.run(party).add(from, evs)
	}
	f.Notify()
}

// Recorded tells readers that party's log (the node's own) committed
// entries, and keeps their events (partylog.CommitInfo.Entries) as Applied
// keeps a replica's, so that no reader reads and decodes them from the store
// again. Call it after every commit of the own log, in place of Notify.
func (f *Feed) Recorded(party string, entries []partylog.NewEntry) {
	if len(entries) > 0 {
		evs := make([]*linkd.Event, len(entries))
		for i := range entries {
			evs[i] = entries[i].Event
		}
		f.run(party).add(entries[0].Index, evs)
	}
	f.Notify()
}

// run returns party's recentRun.
func (f *Feed) run(party string) *recentRun {
	f.recentMu.Lock()
	defer f.recentMu.Unlock()
	if f.recent == nil {
		f.recent = make(map[string]*recentRun)
	}
	r := f.recent[party]
	if r == nil {
		r = &recentRun{}
		f.recent[party] = r
	}
	return r
}

// add keeps the entries from index from on: an event, or nil for an entry
// held as a commitment only. Entries older than the kept run are left out
// (a reader far behind does not evict what the others need); entries past
// its end begin a new run.
func (r *recentRun) add(from int64, evs []*linkd.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.from + int64(len(r.ev))
	switch {
	case len(r.ev) > 0 && from < r.from:
		return
	case len(r.ev) == 0 || from > end:
		r.from, r.ev, end = from, nil, from
	}
	if held := int(end - from); held > 0 {
		// Another reader kept some of them already.
		if held >= len(evs) {
			return
		}
		evs = evs[held:]
	}
	if len(r.ev)+len(evs) > 2*recentEntries {
		// Keep the newest, in a fresh array: readers may still hold views
		// of the old one. Letting the run grow to twice its bound between
		// trims keeps the copying to one entry per entry added.
		drop := min(len(r.ev)+len(evs)-recentEntries, len(r.ev))
		r.ev = append(make([]*linkd.Event, 0, 2*recentEntries), r.ev[drop:]...)
		r.from += int64(drop)
	}
	r.ev = append(r.ev, evs...)
}

// recentFrom returns the kept entries of party's log from index from, up to
// to, and where the kept run begins.
func (f *Feed) recentFrom(party string, from, to int64) ([]*linkd.Event, int64) {
	f.recentMu.Lock()
	r := f.recent[party]
	f.recentMu.Unlock()
	if r == nil {
		return nil, -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.from + int64(len(r.ev))
	if from < r.from || from >= end {
		return nil, r.from
	}
	return r.ev[from-r.from : min(to, end)-r.from], r.from
}

// Changed returns a channel closed at the next Notify. Take it before
// reading, so a change during the read is not missed.
func (f *Feed) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wake
}

// Head is the cursor at the end of every log: a reader starting there sees
// only what comes next.
func (f *Feed) Head() Cursor {
	c := Cursor{}
	for _, s := range f.logs.Sources() {
		c[s.Party().ID] = s.Size()
	}
	return c
}

// Read calls fn with up to limit entries after cur, across every log, and
// advances cur past each entry fn accepts. Entries the node holds as
// commitments only advance the cursor without a call. It returns how many
// entries it passed (0: nothing new). If fn returns an error, cur stays at
// that entry and Read returns the error.
func (f *Feed) Read(ctx context.Context, cur Cursor, limit int, fn func(Item) error) (int, error) {
	sources := f.logs.Sources()
	share := max(limit/len(sources), 1)
	passed := 0
	for _, s := range sources {
		if passed >= limit {
			break
		}
		party := s.Party().ID
		from, size := cur[party], s.Size()
		if from >= size {
			continue
		}
		to := min(size, from+int64(min(share, limit-passed)))
		_, cp := s.Checkpoint()
		ck := Checkpoint{Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash[:]}
		for from < to {
			kept, at := f.recentFrom(party, from, to)
			if len(kept) > 0 {
				for i, e := range kept {
					if e != nil {
						if err := fn(Item{Party: party, Index: from + int64(i), Event: e, Checkpoint: ck}); err != nil {
							return passed, err
						}
					}
					cur[party] = from + int64(i) + 1
					passed++
				}
				from += int64(len(kept))
				continue
			}
			// From the store, up to where the kept run begins. What was
			// read is kept for the next reader: the node's own log, whose
			// events come to no Applied, is read once, not once per reader.
			end := to
			if at > from && at < to {
				end = at
			}
			read := make([]*linkd.Event, 0, end-from)
			err := s.ReadRange(ctx, from, end, func(re *partylog.RawEntry) error {
				var e *linkd.Event
				if re.Salt != nil {
					ev, err := linkd.DecodeStored(re.Canon)
					if err != nil {
						return err
					}
					e = &ev
				}
				read = append(read, e)
				if e != nil {
					if err := fn(Item{Party: party, Index: re.Index, Event: e, Checkpoint: ck}); err != nil {
						return err
					}
				}
				cur[party] = re.Index + 1
				passed++
				return nil
			})
			if len(read) > 0 {
				f.run(party).add(from, read)
			}
			if err != nil {
				return passed, err
			}
			from = end
		}
	}
	return passed, nil
}

// Follow reads the feed from cur until ctx ends, calling fn with each entry
// as Read does and save with the cursor after every batch that moved it. A
// batch that fails (fn's error, a read error) is logged and tried again a
// second later from where it stopped; with nothing new, Follow waits for
// Notify. The durable position is whatever save keeps: after a crash the
// reader starts again there, so fn may see an entry twice, never skip one.
func (f *Feed) Follow(ctx context.Context, cur Cursor, fn func(Item) error, save func(Cursor) error, log *slog.Logger) {
	for ctx.Err() == nil {
		changed := f.Changed()
		n, err := f.Read(ctx, cur, readBatch, fn)
		if n > 0 {
			if serr := save(cur); serr != nil {
				log.Error("save the feed position", "err", serr)
			}
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("stopped on an entry of the feed; trying again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		case err == nil && n == 0:
			select {
			case <-ctx.Done():
			case <-changed:
			}
		}
	}
}

// Forget drops every decoded event the feed keeps in memory, so that
// payloads erased from the store (a shipment's key destroyed) are not served
// from memory either, and runs the functions given to OnForget.
func (f *Feed) Forget() {
	f.recentMu.Lock()
	clear(f.recent)
	fns := f.forget
	f.recentMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// OnForget adds fn to what Forget runs: it drops what another part of the
// node keeps of payloads that may have been erased (the link layer's
// outbox).
func (f *Feed) OnForget(fn func()) {
	f.recentMu.Lock()
	f.forget = append(f.forget, fn)
	f.recentMu.Unlock()
}
