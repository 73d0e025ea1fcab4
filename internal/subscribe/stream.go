package subscribe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
)

// StreamOptions shape one Server-Sent Events stream.
type StreamOptions struct {
	Matcher *expr.Matcher
	Cursor  Cursor        // where to start; nil means the head (only new events)
	SubID   string        // the subscription streamed, "" for an ad hoc filter
	Beat    time.Duration // heartbeat comment interval; 0 means 15 s
}

// Stream writes matching events to w as Server-Sent Events until the
// client goes away or ctx ends. Each message's id is the cursor after it,
// so a client that reconnects with Last-Event-ID resumes with the next
// event, missing none. The caller has checked the request's credentials.
func (m *Manager) Stream(ctx context.Context, w http.ResponseWriter, o StreamOptions) error {
	m.mu.Lock()
	if m.streams >= m.cfg.MaxStreams {
		m.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		return linkd.Errorf(linkd.EUnavailable, "the node serves its limit of %d streams at once; retry shortly", m.cfg.MaxStreams)
	}
	m.streams++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.streams--
		m.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	cur := o.Cursor
	if cur == nil {
		cur = m.cfg.Feed.Head()
	}
	if o.Beat == 0 {
		o.Beat = 15 * time.Second
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The server's write timeout is for ordinary requests; a stream extends
	// its deadline as it goes.
	extend := func() { rc.SetWriteDeadline(time.Now().Add(o.Beat + 30*time.Second)) }
	extend()
	fmt.Fprintf(w, ": linkd stream of %s\nretry: 2000\n\n", m.cfg.Self.ID)
	if err := rc.Flush(); err != nil {
		return nil
	}
	m.cfg.Metrics.stream(1)
	defer m.cfg.Metrics.stream(-1)
	withState := o.Matcher.Filter().ReadsShipment()
	beat := time.NewTicker(o.Beat)
	defer beat.Stop()
	for {
		changed := m.cfg.Feed.Changed()
		wrote := false
		n, err := m.cfg.Feed.Read(ctx, cur, readBatch, func(it Item) error {
			ok, err := o.Matcher.Match(m.input(ctx, it, withState))
			if err != nil || !ok {
				return nil
			}
			body, err := json.Marshal(message(o.SubID, it))
			if err != nil {
				return err
			}
			// The id is the cursor after this event: advance a copy first.
			next := cur.Clone()
			next[it.Party] = it.Index + 1
			extend()
			if _, err := fmt.Fprintf(w, "id: %s\nevent: event\ndata: %s\n\n", next.Encode(), body); err != nil {
				return err
			}
			wrote = true
			return nil
		})
		if err != nil {
			return nil // the client went away, or the node is closing
		}
		if wrote || n > 0 {
			// Entries passed without a match still move the client's
			// position: a comment-free "id" line carries it.
			if !wrote {
				extend()
				if _, err := fmt.Fprintf(w, "id: %s\n\n", cur.Encode()); err != nil {
					return nil
				}
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.ctx.Done():
			return nil
		case <-beat.C:
			extend()
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-changed:
		}
	}
}

// ParseFrom turns a client's Last-Event-ID (or from=start) into a cursor:
// nil means the head.
func ParseFrom(lastEventID, from string) (Cursor, error) {
	switch {
	case lastEventID != "":
		return DecodeCursor(lastEventID)
	case from == "start":
		return Cursor{}, nil
	case from == "" || from == "now":
		return nil, nil
	}
	return nil, &linkd.ValidationError{Problems: []linkd.Problem{{Field: "from", Reason: fmt.Sprintf("%q: want now or start", clip(from))}}}
}
