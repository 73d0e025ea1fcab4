package docs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// PeerPath is the path, under a peer's endpoint, of the document with a
// hash: GET PeerPath + sha256, over mutual TLS. It answers Range requests.
const PeerPath = "/v1/peer/documents/"

// Source is a peer node a document can be fetched from.
type Source struct {
	Party    string       // the peer's party id
	Endpoint string       // https://host:port
	Client   *http.Client // presents this node's certificate and pins the peer's
}

// part is a transfer in progress: the partial file of whole chunks, the
// hash of what it holds and the writer that appends to it.
type part struct {
	f  *os.File
	in *intake
}

// openPart opens the transfer of sha, resuming a partial file if one is
// there (checking each of its chunks; what does not check out is cut off),
// else starting one.
func (s *Store) openPart(sha, keyID string) (*part, error) {
	path := s.partPath(sha)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	p := &part{f: f, in: &intake{h: sha256.New()}}
	st, err := f.Stat()
	if err == nil && st.Size() > 0 {
		p.in.w, err = openSealWriter(f, s.keys, keyID, writerFunc(p.in.see))
		if errors.Is(err, errBadPart) {
			err = p.restart(s, keyID)
		}
	} else if err == nil {
		p.in.w, err = newSealWriter(f, s.keys, keyID)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

// restart empties the partial file and begins it again.
func (p *part) restart(s *Store, keyID string) error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	p.in = &intake{h: sha256.New()}
	w, err := newSealWriter(p.f, s.keys, keyID)
	p.in.w = w
	return err
}

// offset is how many bytes of the document the part holds.
func (p *part) offset() int64 { return p.in.w.plaintext() }

// finish seals the last chunk and returns the part as staged bytes.
func (p *part) finish() (*Staged, error) {
	size := p.offset()
	if err := p.in.w.Finish(); err != nil {
		return nil, err
	}
	if err := p.f.Close(); err != nil {
		return nil, err
	}
	return &Staged{path: p.f.Name(), sha: hex.EncodeToString(p.in.h.Sum(nil)), size: size, media: Sniff(p.in.head)}, nil
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// errPermanent marks a transfer failure that retrying the same peer will
// not fix soon (the document is over the size limit here).
type errPermanent struct{ error }

// Fetch fetches the document of record d (state Fetching) from src, resuming
// a transfer that was cut off, and makes it available once its hash checks
// out. A transfer cut off again keeps what whole chunks arrived for the next
// try.
func (s *Store) Fetch(ctx context.Context, d Document, src Source) error {
	if err := s.claim(d.SHA256); err != nil {
		return err
	}
	defer s.release(d.SHA256)
	p, err := s.openPart(d.SHA256, d.Shipment.KeyID())
	if err != nil {
		return s.keyErr(d.Shipment.KeyID(), err)
	}
	committed := false
	defer func() {
		if !committed {
			p.f.Close()
		}
	}()
	discard := func() { os.Remove(s.partPath(d.SHA256)) }
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(src.Endpoint, "/")+PeerPath+d.SHA256, nil)
		if err != nil {
			return err
		}
		off := p.offset()
		if off > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		resp, err := src.Client.Do(req)
		if err != nil {
			return fmt.Errorf("fetch %s from %s: %w", d.SHA256, src.Party, err)
		}
		total, err := s.expect(resp, off)
		if err == errRestart && attempt == 0 {
			resp.Body.Close()
			if err := p.restart(s, d.Shipment.KeyID()); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			resp.Body.Close()
			return fmt.Errorf("fetch %s from %s: %w", d.SHA256, src.Party, err)
		}
		n, err := io.Copy(p.in, io.LimitReader(resp.Body, total-off+1))
		resp.Body.Close()
		if err == nil && off+n != total {
			err = fmt.Errorf("the peer sent %d bytes, want %d", off+n, total)
		}
		if err != nil {
			return fmt.Errorf("fetch %s from %s: cut off after %d of %d bytes (resumes from the last whole chunk): %w", d.SHA256, src.Party, off+n, total, err)
		}
		break
	}
	st, err := p.finish()
	if err != nil {
		return err
	}
	committed = true // p.f is closed; from here the part file is staged bytes
	if st.sha != d.SHA256 {
		discard()
		return fmt.Errorf("fetch %s from %s: the bytes hash to %s; discarded", d.SHA256, src.Party, st.sha)
	}
	if st.media == "" {
		discard()
		return fmt.Errorf("fetch %s from %s: the bytes are not PDF, JSON or XML; discarded", d.SHA256, src.Party)
	}
	d.State, d.Note = Available, ""
	if _, err := s.Commit(st, d); err != nil {
		return err
	}
	return nil
}

var errRestart = errors.New("the peer answered the whole document to a range request")

// expect checks a peer's answer to a transfer from off and returns the
// document's size.
func (s *Store) expect(resp *http.Response, off int64) (int64, error) {
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength < 0 {
			return 0, errors.New("the peer sent no Content-Length")
		}
		if off > 0 {
			return 0, errRestart
		}
		return s.checkSize(resp.ContentLength)
	case http.StatusPartialContent:
		// Content-Range: bytes <off>-<end>/<total>
		cr := resp.Header.Get("Content-Range")
		var start, end, total int64
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &start, &end, &total); err != nil || start != off || end != total-1 {
			return 0, fmt.Errorf("the peer answered Content-Range %q to a request from byte %d", cr, off)
		}
		return s.checkSize(total)
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, errRestart
	case http.StatusNotFound:
		return 0, errors.New("the peer does not share it with this node (404): it does not hold it, or does not count this party as entitled to it")
	}
	return 0, fmt.Errorf("the peer answered %s", resp.Status)
}

func (s *Store) checkSize(n int64) (int64, error) {
	if n > s.max {
		return 0, errPermanent{fmt.Errorf("the document has %d bytes, over this node's limit of %d", n, s.max)}
	}
	return n, nil
}

// Fetcher fetches the documents this node learns it is entitled to, a few
// at a time, retrying failed transfers with backoff until they succeed or
// the document is erased. It owns its goroutines: Start begins them, Close
// stops them and waits.
type Fetcher struct {
	store   *Store
	source  func(party string) (Source, bool)
	logger  *slog.Logger
	workers int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	queue    []string               // hashes to fetch; guarded by mu
	queued   map[string]bool        // in queue or being fetched; guarded by mu
	attempts map[string]int         // failed transfers in a row; guarded by mu
	timers   map[string]*time.Timer // pending retries; guarded by mu
	wake     chan struct{}
	closed   bool // guarded by mu
}

// Retry delays: the first retry after minRetry, doubling to maxRetry.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 30 * time.Second
)

// NewFetcher returns a fetcher of store's documents from the sources
// source finds by party id, with workers transfers at once (0 means 2).
func NewFetcher(store *Store, source func(party string) (Source, bool), workers int, logger *slog.Logger) *Fetcher {
	if workers <= 0 {
		workers = 2
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fetcher{store: store, source: source, logger: logger, workers: workers, ctx: ctx, cancel: cancel,
		queued: map[string]bool{}, attempts: map[string]int{}, timers: map[string]*time.Timer{}, wake: make(chan struct{}, 1)}
}

// Start begins the workers and queues every document still being fetched.
func (f *Fetcher) Start() error {
	for range f.workers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.work()
		}()
	}
	return f.store.each(func(d Document) error {
		if d.State == Fetching {
			f.Enqueue(d.SHA256)
		}
		return nil
	})
}

// Enqueue asks for sha to be fetched; it does nothing if it already is
// queued or being fetched.
func (f *Fetcher) Enqueue(sha string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.queued[sha] {
		return
	}
	f.queued[sha] = true
	f.queue = append(f.queue, sha)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Close stops the workers and the pending retries and waits for the
// workers. Transfers cut off here resume after the next Start.
func (f *Fetcher) Close() {
	f.mu.Lock()
	f.closed = true
	for _, t := range f.timers {
		t.Stop()
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

func (f *Fetcher) next() (string, bool) {
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			sha := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			return sha, true
		}
		f.mu.Unlock()
		select {
		case <-f.ctx.Done():
			return "", false
		case <-f.wake:
		}
	}
}

func (f *Fetcher) work() {
	for {
		sha, ok := f.next()
		if !ok {
			return
		}
		err := f.fetch(sha)
		f.mu.Lock()
		delete(f.queued, sha)
		if err == nil || f.closed {
			delete(f.attempts, sha)
			f.mu.Unlock()
			// More work may be waiting behind a wake-up this worker took.
			select {
			case f.wake <- struct{}{}:
			default:
			}
			continue
		}
		f.attempts[sha]++
		n := f.attempts[sha]
		delay := min(minRetry<<min(n-1, 20), maxRetry)
		f.timers[sha] = time.AfterFunc(delay, func() {
			f.mu.Lock()
			delete(f.timers, sha)
			f.mu.Unlock()
			f.Enqueue(sha)
		})
		f.mu.Unlock()
		log := f.logger.Debug
		if n == 3 || n%20 == 0 {
			log = f.logger.Warn
		}
		log("document transfer failed; retrying", "sha256", sha, "attempt", n, "retry_in", delay, "err", err)
		if n >= 3 {
			f.store.SetState(sha, Fetching, fmt.Sprintf("transfer failing (%d tries): %v", n, err))
		}
	}
}

// fetch runs one transfer of sha, if it is still wanted.
func (f *Fetcher) fetch(sha string) error {
	d, err := f.store.Get(sha)
	if err != nil || d.State != Fetching {
		return nil // gone, erased or already here: nothing to do
	}
	src, ok := f.source(d.Issuer)
	if !ok {
		return fmt.Errorf("no node of %s in the peer directory to fetch from", d.Issuer)
	}
	// A peer that stalls mid-body must not hold a worker for ever: the
	// transfer gets as long as the largest document may take, then
	// resumes on the next try.
	ctx, cancel := context.WithTimeout(f.ctx, TransferTime(f.store.max))
	defer cancel()
	start := time.Now()
	err = f.store.Fetch(ctx, d, src)
	var perm errPermanent
	switch {
	case err == nil:
		f.logger.Info("document fetched", "sha256", sha, "from", d.Issuer, "bytes", d.Size, "took", time.Since(start))
		return nil
	case errors.As(err, &perm):
		f.store.SetState(sha, Fetching, perm.Error())
		f.logger.Error("document cannot be fetched", "sha256", sha, "from", d.Issuer, "err", err)
		return nil
	case linkd.ErrorCode(err) == linkd.EConflict:
		return nil // erased meanwhile, or another transfer has it
	}
	return err
}

// Pending reports how many documents wait in the queue or are in transfer.
func (f *Fetcher) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queued)
}
