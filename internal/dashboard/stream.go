package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// sseMessage is one Server-Sent Events message.
type sseMessage struct {
	id    string
	hasID bool
	event string
	data  []string // its data lines
}

// maxSSELine bounds one line of a node's stream: an event is at most
// linkd.MaxEventBytes of JSON, plus its position and checkpoint.
const maxSSELine = linkd.MaxEventBytes + 64<<10

var errLongLine = errors.New("stream line too long")

// sseReader parses a text/event-stream.
type sseReader struct{ br *bufio.Reader }

func newSSEReader(r io.Reader) *sseReader { return &sseReader{bufio.NewReaderSize(r, 64<<10)} }

func (s *sseReader) line() (string, error) {
	var b []byte
	for {
		frag, err := s.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxSSELine {
			return "", errLongLine
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
}

// next returns the next message that has data, skipping comments.
func (s *sseReader) next() (sseMessage, error) {
	var m sseMessage
	for {
		l, err := s.line()
		if err != nil {
			return sseMessage{}, err
		}
		if l == "" {
			if len(m.data) > 0 {
				return m, nil
			}
			m = sseMessage{}
			continue
		}
		if strings.HasPrefix(l, ":") {
			continue
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			m.id, m.hasID = value, true
		case "event":
			m.event = value
		case "data":
			m.data = append(m.data, value)
		}
	}
}

// upMsg is what a follower of one node's stream hands the merger: a
// message, or a change of the stream's state.
type upMsg struct {
	party string
	msg   sseMessage
	// origin is the party whose log the message's event is in, "" if the
	// message does not say; key names the event across nodes for dedup.
	origin, key string
	// state, when set, is a state change instead of a message: "up",
	// "down" (unreachable or ended) or "unavailable" (answered status).
	state  string
	status int
}

// laneStream serves the lane's merged event stream: it follows every
// node's GET /v1/stream (with the page's query, so filters and from=start
// apply to each) and passes each event once, from the node whose log it is
// in; an event of a party with no stream here comes from the first node
// that has it. A node's stream that fails is followed again after a delay.
//
// Each message's id is the query-encoded cursor of every node
// (party=cursor&…); a page that reconnects with it as Last-Event-ID resumes
// every node where it left off. Messages with event "node" say a node's
// stream went up, down or is unavailable: data {"node","state","status"}.
//
// It answers the nodes' common status when none has a stream (404 when the
// nodes predate /v1/stream, so the page falls back to polling), else 200.
func (p *proxy) laneStream(w http.ResponseWriter, r *http.Request) {
	last, _ := url.ParseQuery(r.Header.Get("Last-Event-ID"))
	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	msgs := make(chan upMsg, 64)
	firsts := make(chan int, len(p.order))
	for _, t := range p.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.follow(ctx, t, r.URL.RawQuery, last.Get(t.Party), msgs, firsts)
		}()
	}

	var statuses []int
	timer := time.NewTimer(firstWait)
	defer timer.Stop()
wait:
	for len(statuses) < len(p.order) {
		select {
		case s := <-firsts:
			statuses = append(statuses, s)
		case <-timer.C:
			break wait
		case <-ctx.Done():
			return
		}
	}
	if status, none := noStream(statuses, len(p.order)); none {
		writeError(w, status, linkd.ENotFound, "no node behind this dashboard serves an event stream")
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, ": merged event stream of %d nodes\n\n", len(p.order))
	send := func() bool {
		if bw.Flush() != nil {
			return false
		}
		rc.Flush()
		return true
	}
	if !send() {
		return
	}

	cursors := url.Values{}
	for k, v := range last {
		if _, ok := p.byParty[k]; ok && len(v) > 0 {
			cursors.Set(k, v[0])
		}
	}
	up := map[string]bool{}
	seen := map[string]struct{}{}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			bw.WriteString(": ping\n\n")
			if !send() {
				return
			}
		case m := <-msgs:
			if m.state != "" {
				up[m.party] = m.state == "up"
				b, _ := json.Marshal(map[string]any{"node": m.party, "state": m.state, "status": m.status})
				fmt.Fprintf(bw, "event: node\ndata: %s\n\n", b)
				if !send() {
					return
				}
				continue
			}
			if m.msg.hasID {
				cursors.Set(m.party, m.msg.id)
			}
			if m.origin != "" && m.origin != m.party {
				if _, linked := p.byParty[m.origin]; linked && up[m.origin] {
					continue // its own node sends it
				}
				if m.key != "" {
					if _, dup := seen[m.key]; dup {
						continue
					}
					if len(seen) >= 100_000 {
						clear(seen)
					}
					seen[m.key] = struct{}{}
				}
			}
			if len(cursors) > 0 {
				fmt.Fprintf(bw, "id: %s\n", cursors.Encode())
			}
			if m.msg.event != "" {
				fmt.Fprintf(bw, "event: %s\n", m.msg.event)
			}
			for _, d := range m.msg.data {
				fmt.Fprintf(bw, "data: %s\n", d)
			}
			bw.WriteString("\n")
			if !send() {
				return
			}
		}
	}
}

// noStream reports whether no node has a stream, judging by the first
// answers of n nodes, and if so the status to answer: their common status,
// 404 when some answered 404 and the rest did not answer, else 502.
func noStream(statuses []int, n int) (int, bool) {
	if len(statuses) < n {
		return 0, false // some node is still answering: start with the others
	}
	common, any404 := -1, false
	for _, s := range statuses {
		if s == http.StatusOK {
			return 0, false
		}
		any404 = any404 || s == http.StatusNotFound
		if common == -1 {
			common = s
		} else if common != s {
			common = 0
		}
	}
	switch {
	case common > 0:
		return common, true
	case any404:
		return http.StatusNotFound, true
	default:
		return http.StatusBadGateway, true
	}
}

// follow follows one node's stream until ctx ends, reconnecting with the
// last cursor it saw. It reports the status of its first answer on first
// (0 if the node did not answer).
//
// Unless the page's query names origins itself, it asks each node for the
// events of its own log only (origin=<party>), so each event crosses the
// proxy once rather than once per node that holds a replica; a node that
// refuses the parameter (400) is asked again without it, and the merger
// drops the replicas.
func (p *proxy) follow(ctx context.Context, t *Target, query, lastID string, out chan<- upMsg, first chan<- int) {
	reported := false
	report := func(code int) {
		if !reported {
			reported = true
			first <- code
		}
	}
	emit := func(m upMsg) bool {
		m.party = t.Party
		select {
		case out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	q, _ := url.ParseQuery(query)
	ownOnly := !q.Has("origin")
	delay := minRetry
	for ctx.Err() == nil {
		wait := delay
		ask := query
		if ownOnly {
			ask = withParam(query, "origin", t.Party)
		}
		status, got := p.followOnce(ctx, t, ask, ownOnly, &lastID, emit, report)
		switch {
		case ctx.Err() != nil:
			return
		case got:
			delay = minRetry // it worked for a while: come back quickly
			wait = minRetry
			if !emit(upMsg{state: "down", status: status}) {
				return
			}
		case status == http.StatusBadRequest && ownOnly:
			ownOnly = false // a node whose stream takes no origin filter
			continue
		case status == http.StatusNotFound:
			wait = noStreamRetry
			if !emit(upMsg{state: "unavailable", status: status}) {
				return
			}
		default:
			delay = min(2*delay, maxRetry)
			state := "unavailable"
			if status == 0 {
				state = "down"
			}
			if !emit(upMsg{state: state, status: status}) {
				return
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

// withParam adds name=value to an encoded query.
func withParam(query, name, value string) string {
	p := url.QueryEscape(name) + "=" + url.QueryEscape(value)
	if query == "" {
		return p
	}
	return query + "&" + p
}

// followOnce reads one connection of a node's stream; got says whether the
// node answered 200. ownOnly says the node was asked for its own events
// only, so the messages need not be read for their origin; a 400 to that
// filter is not reported, as the retry without it is the node's real first
// answer.
func (p *proxy) followOnce(ctx context.Context, t *Target, query string, ownOnly bool, lastID *string, emit func(upMsg) bool, report func(int)) (status int, got bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/v1/stream", nil)
	if err != nil {
		report(0)
		return 0, false
	}
	req.URL.RawQuery = query
	req.Header.Set("Authorization", "Bearer "+t.Token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "linkd-dashboard")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		report(0)
		return 0, false
	}
	defer resp.Body.Close()
	if !(ownOnly && resp.StatusCode == http.StatusBadRequest) {
		report(resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, false
	}
	if !emit(upMsg{state: "up", status: http.StatusOK}) {
		return http.StatusOK, true
	}
	sr := newSSEReader(resp.Body)
	for {
		m, err := sr.next()
		if err != nil {
			return http.StatusOK, true
		}
		if m.hasID {
			*lastID = m.id
		}
		var origin, key string
		if !ownOnly {
			origin, key = eventOrigin(m)
		}
		if !emit(upMsg{msg: m, origin: origin, key: key}) {
			return http.StatusOK, true
		}
	}
}

// eventOrigin reads which party's log a stream message's event is in and
// a key naming it, "" when the message does not say.
func eventOrigin(m sseMessage) (origin, key string) {
	if len(m.data) != 1 {
		return "", ""
	}
	var d struct {
		Event struct {
			EventID string `json:"eventID"`
			Origin  string `json:"origin"`
		} `json:"event"`
		Position struct {
			Origin string `json:"origin"`
			Index  *int64 `json:"index"`
		} `json:"position"`
	}
	if json.Unmarshal([]byte(m.data[0]), &d) != nil {
		return "", ""
	}
	origin = d.Event.Origin
	if origin == "" {
		origin = strings.TrimPrefix(d.Position.Origin, linkd.LogOrigin(""))
	}
	switch {
	case d.Position.Origin != "" && d.Position.Index != nil:
		key = d.Position.Origin + "#" + strconv.FormatInt(*d.Position.Index, 10)
	case d.Event.EventID != "":
		key = d.Event.EventID
	}
	return origin, key
}
