package subscribe

import (
	"context"
	"hash/maphash"
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
// the delivery happens after the restart. Reads decode each event once and
// share it between readers.
type Feed struct {
	logs *partylog.Logs

	mu   sync.Mutex
	wake chan struct{} // closed by Notify; guarded by mu

	seed   maphash.Seed
	shards [16]cacheShard
}

type cacheKey struct {
	party string
	index int64
}

type cacheShard struct {
	mu sync.Mutex
	m  map[cacheKey]*linkd.Event // guarded by mu
}

// cacheShardEntries bounds each shard of the decoded-event cache.
const cacheShardEntries = 4096

// NewFeed returns the feed of logs.
func NewFeed(logs *partylog.Logs) *Feed {
	f := &Feed{logs: logs, wake: make(chan struct{}), seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].m = make(map[cacheKey]*linkd.Event)
	}
	return f
}

// Notify tells readers that some log grew. Call it after every commit of
// the own log and every applied frame of a replica.
func (f *Feed) Notify() {
	f.mu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
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
		err := s.ReadRange(ctx, from, to, func(re *partylog.RawEntry) error {
			if re.Salt != nil {
				e, err := f.decode(party, re)
				if err != nil {
					return err
				}
				if err := fn(Item{Party: party, Index: re.Index, Event: e, Checkpoint: ck}); err != nil {
					return err
				}
			}
			cur[party] = re.Index + 1
			passed++
			return nil
		})
		if err != nil {
			return passed, err
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

func (f *Feed) decode(party string, re *partylog.RawEntry) (*linkd.Event, error) {
	k := cacheKey{party, re.Index}
	sh := &f.shards[(maphash.String(f.seed, party)^uint64(re.Index))%uint64(len(f.shards))]
	sh.mu.Lock()
	e, ok := sh.m[k]
	sh.mu.Unlock()
	if ok {
		return e, nil
	}
	ev, err := linkd.DecodeCanonical(re.Canon)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	if len(sh.m) >= cacheShardEntries {
		clear(sh.m)
	}
	sh.m[k] = &ev
	sh.mu.Unlock()
	return &ev, nil
}

// Forget drops every decoded event the feed keeps in memory, so that
// payloads erased from the store (a shipment's key destroyed) are not served
// from the cache either.
func (f *Feed) Forget() {
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}
