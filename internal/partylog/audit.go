package partylog

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// AuditReport is what Audit checked.
type AuditReport struct {
	Size        int64
	Root        tlog.Hash
	Checkpoints int   // signed checkpoints verified against the tree
	Erased      int64 // events whose payload was erased: only their leaves were checked
	Withheld    int64 // a replica's entries held as their leaf alone (the node may not hold the payload): only their leaves were checked
}

// Audit re-derives the whole log from its events:
//
//   - each event and salt must hash to the leaf stored with it (a record
//     whose payload was erased has only its leaf to check);
//   - the leaves must rebuild every tree hash the store holds, the hashes
//     proofs are made from, with none missing and none left over;
//   - every checkpoint the log ever signed must carry a valid signature and
//     name the root the leaves rebuild at its size, so each is consistent
//     with every other, and the newest with the tree.
//
// It reads the store once, in order. The records are opened, decoded and
// hashed, and the checkpoints' signatures verified, by one worker per
// processor while the reader rebuilds the tree; the first problem in log
// order is the error. progress, if not nil, is called with the events read
// so far, every 100,000.
func (l *Log) Audit(ctx context.Context, progress func(done, total int64)) (AuditReport, error) {
	_, cp := l.Checkpoint()
	return auditLog(ctx, &l.space, l.verifier, cp, progress)
}

// Audit checks this node's copy of the origin's log as Log.Audit checks the
// node's own, against the origin's key and up to the newest checkpoint it
// verified: an entry held as its leaf alone (one this node may not hold the
// payload of) has only its leaf to check. Every entry was verified once as
// it came; the audit finds what changed on this node's disk since.
func (r *Replica) Audit(ctx context.Context, progress func(done, total int64)) (AuditReport, error) {
	_, cp := r.Checkpoint()
	return auditLog(ctx, &r.space, r.verifier, cp, progress)
}

// auditLog audits the log kept in s up to cp, whose checkpoints verifier
// verifies.
func auditLog(ctx context.Context, s *space, verifier tlog.Verifier, cp linkd.Checkpoint, progress func(done, total int64)) (AuditReport, error) {
	size := cp.Size
	if size == 0 {
		return s.auditEmpty(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &audit{s: s, verifier: verifier, cancel: cancel}
	a.errAt.Store(math.MaxInt64)
	keys, done := s.bulkCiphers()
	defer done() // after the workers: wg.Wait comes first
	a.keys = keys
	workers := runtime.GOMAXPROCS(0)
	jobs, free := make(chan *auditJob), make(chan *auditJob, 2*workers)
	for range 2 * workers {
		free <- &auditJob{}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte // opened sealed records
			for j := range jobs {
				a.check(j, &buf)
				select {
				case free <- j:
				default: // one made when the audit stopped early
				}
			}
		}()
	}
	root := a.read(ctx, size, jobs, free, progress)
	close(jobs)
	wg.Wait()
	if err := a.firstErr(); err != nil {
		return AuditReport{}, err
	}
	if err := ctx.Err(); err != nil {
		return AuditReport{}, err
	}
	if root != cp.Hash {
		return AuditReport{}, fmt.Errorf("audit: the events rebuild root %s, the newest checkpoint says %x", root, cp.Hash)
	}
	return AuditReport{Size: size, Root: root, Checkpoints: int(a.checkpoints.Load()), Erased: a.erased.Load(), Withheld: a.withheld.Load()}, nil
}

// audit is one Audit's shared state.
type audit struct {
	s        *space
	keys     cipherSource // opens the sealed records; nil for a log opened without its keys
	verifier tlog.Verifier
	cancel   context.CancelFunc

	erased      atomic.Int64
	withheld    atomic.Int64
	checkpoints atomic.Int64

	mu    sync.Mutex
	err   error        // guarded by mu: the first problem found so far
	errAt atomic.Int64 // its position (see at), written under mu; math.MaxInt64 while none
}

// at orders problems in log order: record i at 2i, the checkpoint of size
// s (checked once record s-1 is) at 2(s-1)+1.
func recordAt(i int64) int64     { return 2 * i }
func checkpointAt(s int64) int64 { return 2*(s-1) + 1 }

// fail records err, found at position at, if it comes before any other.
func (a *audit) failAt(at int64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if at < a.errAt.Load() {
		a.err = err
		a.errAt.Store(at)
	}
	a.cancel()
}

func (a *audit) firstErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// auditJob is a run of consecutive records for a worker to check, with the
// checkpoints that fall among them and the roots the reader rebuilt there.
type auditJob struct {
	first int64    // log index of the first record
	data  []byte   // the records, one after another
	ends  []int    // where each record ends in data
	notes []byte   // the checkpoints' signed notes, one after another
	cps   []cpItem // the checkpoints
}

type cpItem struct {
	size       int64
	start, end int // the note in notes
	root       tlog.Hash
}

// auditJobRecords is how many records a job takes: enough that handing a
// job over costs little beside checking it.
const auditJobRecords = 256

func (j *auditJob) reset(first int64) {
	j.first, j.data, j.ends, j.notes, j.cps = first, j.data[:0], j.ends[:0], j.notes[:0], j.cps[:0]
}

// read walks the log's records, tree hashes and checkpoints in order. It
// rebuilds the tree from the stored leaves, checks each stored tree hash as
// the tree gains it, and hands the records and the checkpoints, with the
// root at each, to the workers. It returns the rebuilt root, or records
// the problem it found (failAt) and stops.
func (a *audit) read(ctx context.Context, size int64, jobs, free chan *auditJob, progress func(done, total int64)) tlog.Hash {
	root, at, err := a.readAll(ctx, size, jobs, free, progress)
	if err != nil {
		a.failAt(at, err)
	}
	return root
}

// anywhere is the position of a problem that belongs to no one record or
// checkpoint: any the workers found counts first.
const anywhere = math.MaxInt64

func (a *audit) readAll(ctx context.Context, size int64, jobs, free chan *auditJob, progress func(done, total int64)) (tlog.Hash, int64, error) {
	l := a.s
	iter := func(lower, upper []byte) (*pebble.Iterator, error) {
		return l.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	}
	events, err := iter(l.eventKey(0), l.eventKey(size))
	if err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	defer events.Close()
	hashes, err := iter(l.hashKey(0), l.hashKey(tlog.StoredHashIndex(0, size)))
	if err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	defer hashes.Close()
	cps, err := iter(l.checkpointKey(0), l.checkpointKey(size+1))
	if err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	defer cps.Close()

	f := tlog.NewFrontier()
	stored := storedHashes{it: hashes}
	stored.it.First()
	cpOK := cps.First()
	if cpOK && be64(cps.Key()[5:]) == 0 {
		return tlog.Hash{}, checkpointAt(0), fmt.Errorf("audit: a checkpoint of the empty tree is stored in a log of %d events", size)
	}
	job := <-free
	job.reset(0)
	// send hands the job over and takes another. Once the audit stops (a
	// worker failed, or the caller gave up) nothing more is checked, and
	// Audit reports why.
	send := func() {
		if len(job.ends) == 0 {
			return
		}
		select {
		case jobs <- job:
		case <-ctx.Done():
			return
		}
		select {
		case job = <-free:
		case <-ctx.Done():
			job = &auditJob{}
		}
		job.reset(f.Size())
	}
	var want int64
	for ok := events.First(); ok; ok = events.Next() {
		if ctx.Err() != nil {
			return tlog.Hash{}, 0, nil
		}
		idx := int64(be64(events.Key()[5:]))
		if idx != want {
			return tlog.Hash{}, recordAt(want), fmt.Errorf("audit: event %d is missing", want)
		}
		v, err := events.ValueAndErr()
		if err != nil {
			return tlog.Hash{}, recordAt(idx), fmt.Errorf("audit: event %d: %w", idx, err)
		}
		if len(v) != len(tlog.Hash{}) && len(v) <= recordHeader {
			return tlog.Hash{}, recordAt(idx), fmt.Errorf("audit: event %d: corrupt record of %d bytes", idx, len(v))
		}
		job.data = append(job.data, v...)
		job.ends = append(job.ends, len(job.data))

		leafIndex := tlog.StoredHashIndex(0, idx)
		var herr error
		if err := f.Append(tlog.Hash(v[:32]), func(x int64, h tlog.Hash) {
			if x != leafIndex && herr == nil { // the leaf heads its record
				herr = stored.expect(x, h)
			}
		}); err != nil {
			return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
		}
		if herr != nil {
			return tlog.Hash{}, recordAt(idx), fmt.Errorf("audit: %w", herr)
		}
		want++
		for ; cpOK && be64(cps.Key()[5:]) == want; cpOK = cps.Next() {
			root, err := f.Root()
			if err != nil {
				return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
			}
			note, err := cps.ValueAndErr()
			if err != nil {
				return tlog.Hash{}, checkpointAt(want), fmt.Errorf("audit: checkpoint at size %d: %w", want, err)
			}
			start := len(job.notes)
			job.notes = append(job.notes, note...)
			job.cps = append(job.cps, cpItem{size: want, start: start, end: len(job.notes), root: root})
		}
		if len(job.ends) == auditJobRecords {
			send()
		}
		if progress != nil && want%100000 == 0 {
			progress(want, size)
		}
	}
	if err := events.Error(); err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	if ctx.Err() != nil {
		return tlog.Hash{}, 0, nil
	}
	if want != size {
		return tlog.Hash{}, recordAt(want), fmt.Errorf("audit: the log holds %d events but its checkpoint says %d", want, size)
	}
	if err := stored.done(); err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	if err := cps.Error(); err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	send()
	root, err := f.Root()
	if err != nil {
		return tlog.Hash{}, anywhere, fmt.Errorf("audit: %w", err)
	}
	return root, 0, nil
}

// storedHashes walks the store's tree hashes in index order alongside the
// hashes the rebuilt tree gains, which come in the same order.
type storedHashes struct{ it *pebble.Iterator }

// expect checks that the next stored hash is hash x and equals h. Leaf
// hashes (level 0) head the event records and are checked there; a stored
// copy of one, which no read uses, is passed over.
func (s *storedHashes) expect(x int64, h tlog.Hash) error {
	for {
		if !s.it.Valid() {
			if err := s.it.Error(); err != nil {
				return err
			}
			return fmt.Errorf("tree hash %d is missing from the store", x)
		}
		got := int64(be64(s.it.Key()[5:]))
		if level, _ := tlog.SplitStoredHashIndex(got); level == 0 {
			s.it.Next()
			continue
		}
		switch {
		case got < x:
			return fmt.Errorf("the store holds tree hash %d, which no leaf makes", got)
		case got > x:
			return fmt.Errorf("tree hash %d is missing from the store", x)
		}
		v, err := s.it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("tree hash %d: %w", x, err)
		}
		if !bytes.Equal(v, h[:]) {
			return fmt.Errorf("tree hash %d does not match the events: the stored tree was altered", x)
		}
		s.it.Next()
		return nil
	}
}

// done checks that no stored hash is left past those the tree made.
func (s *storedHashes) done() error {
	for ; s.it.Valid(); s.it.Next() {
		got := int64(be64(s.it.Key()[5:]))
		if level, _ := tlog.SplitStoredHashIndex(got); level != 0 {
			return fmt.Errorf("the store holds tree hash %d, which no leaf makes", got)
		}
	}
	return s.it.Error()
}

// check opens, decodes and hashes each record of j against its stored
// leaf, and verifies each checkpoint's signature, size and root.
func (a *audit) check(j *auditJob, buf *[]byte) {
	// Once a problem is found, a job that starts past it can find none that
	// comes first; one before it must still be checked, since the first
	// problem in log order is the one reported.
	if recordAt(j.first) > a.errAt.Load() {
		return
	}
	start, erased, withheld := 0, int64(0), int64(0)
	for i, end := range j.ends {
		idx := j.first + int64(i)
		v := j.data[start:end]
		start = end
		salt, canon, err := unsealWith(a.keys, buf, v)
		switch {
		case IsErased(err), err == nil && canon == nil && a.s.own:
			erased++ // only its leaf is left to check (the own log keeps only the leaf of what was erased)
			continue
		case err != nil:
			a.failAt(recordAt(idx), fmt.Errorf("audit: event %d: %w", idx, err))
			return
		case canon == nil:
			withheld++
			continue
		}
		if err := linkd.CheckCanonical(canon); err != nil {
			a.failAt(recordAt(idx), fmt.Errorf("audit: event %d: %w", idx, err))
			return
		}
		if tlog.Hash(linkd.LeafHash(linkd.Commitment(canon, salt))) != tlog.Hash(v[:32]) {
			a.failAt(recordAt(idx), fmt.Errorf("audit: event %d does not hash to its stored leaf: the record was altered", idx))
			return
		}
	}
	a.erased.Add(erased)
	a.withheld.Add(withheld)
	for _, c := range j.cps {
		got, err := tlog.OpenCheckpoint(j.notes[c.start:c.end], a.verifier)
		switch {
		case err != nil:
			a.failAt(checkpointAt(c.size), fmt.Errorf("audit: checkpoint at size %d: %w", c.size, err))
			return
		case got.Size != c.size:
			a.failAt(checkpointAt(c.size), fmt.Errorf("audit: the checkpoint stored at size %d is for size %d", c.size, got.Size))
			return
		case got.Hash != c.root:
			a.failAt(checkpointAt(c.size), fmt.Errorf("audit: checkpoint at size %d: its root %x is not the root the events rebuild there (%x): the log was rewritten", c.size, got.Hash, c.root))
			return
		}
	}
	a.checkpoints.Add(int64(len(j.cps)))
}

// auditEmpty audits a log of no events: it must hold none (only its own:
// the other logs in the same store have events of theirs).
func (l *space) auditEmpty(ctx context.Context) (AuditReport, error) {
	it, err := l.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: l.eventKey(0), UpperBound: l.eventKey(math.MaxInt64)})
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	defer it.Close()
	if it.First() {
		return AuditReport{}, fmt.Errorf("audit: the log is empty but holds event %d", be64(it.Key()[5:]))
	}
	root, err := tlog.NewFrontier().Root()
	if err != nil {
		return AuditReport{}, err
	}
	return AuditReport{Root: root}, it.Error()
}
