package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// An auditor has the node audit its log through the API: the answer
// streams progress, then a result that matches the log's checkpoint.
func TestAuditLog(t *testing.T) {
	h := newHarness(t)
	h.appendAll(gen(3, 20, 250), 50)
	var seen []int64
	res, err := h.client(h.auditor).Audit(context.Background(), func(done, total int64) {
		if total != 250 {
			t.Errorf("progress says %d events to check, want 250", total)
		}
		seen = append(seen, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := h.client(h.auditor).Checkpoint(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Problem != "" || res.Size != 250 || res.Checkpoints != 5 || !bytes.Equal(res.RootHash, cp.RootHash) {
		t.Fatalf("audit = %+v; want ok, 250 events, 5 checkpoints (one per batch) and the checkpoint's root %x", res, cp.RootHash)
	}
	if len(seen) == 0 || seen[0] != 0 {
		t.Fatalf("progress lines %v, want one at the start", seen)
	}
	if _, err := h.client(h.admin).Audit(context.Background(), nil); err != nil {
		t.Fatalf("admin audit: %v", err)
	}
	for _, tok := range []string{h.reader, h.writer} {
		body := h.request("POST", "/v1/log/audit", tok, nil).wantError(t, 403, linkd.EForbidden)
		if !strings.Contains(body.Error.Message, "may not audit the log") {
			t.Errorf("403 message %q does not say what the role may not do", body.Error.Message)
		}
	}
}

// An audit that finds the store altered answers 200 with the problem, not
// an error status: the audit ran, and this is what it found.
func TestAuditLogReportsTheProblem(t *testing.T) {
	h := newHarness(t)
	h.appendAll(gen(4, 5, 40), 20)
	h.alterSalt(0, 17) // the node's own log is number 0
	res, err := h.client(h.auditor).Audit(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !strings.Contains(res.Problem, "event 17 does not hash to its stored leaf") || res.RootHash != nil {
		t.Fatalf("audit of an altered store = %+v; want not ok, naming event 17", res)
	}
}

// While one audit runs, another is refused with 409 and a message that
// says to wait; once it is over, the next may run.
func TestAuditLogOneAtATime(t *testing.T) {
	h := newHarness(t)
	for b := range 30 {
		if _, err := h.log.Append(context.Background(), gen(uint64(100+b), 50, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest("POST", h.srv.URL+"/v1/log/audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.auditor)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := bufio.NewReader(resp.Body)
	if line, err := first.ReadBytes('\n'); err != nil || !bytes.Contains(line, []byte(`"total":30000`)) {
		t.Fatalf("first line of the audit %q (%v), want its progress at the start", line, err)
	}
	// The first audit has begun and takes a good fraction of a second for
	// 30,000 events; a second one now must be refused.
	body := h.request("POST", "/v1/log/audit", h.admin, nil).wantError(t, 409, linkd.EConflict)
	if !strings.Contains(body.Error.Message, "running already") {
		t.Errorf("409 message %q does not say an audit is running", body.Error.Message)
	}
	rest, err := io.ReadAll(first)
	if err != nil || !bytes.Contains(rest, []byte(`"ok":true`)) {
		t.Fatalf("the first audit's answer ended %q (%v), want its result", rest, err)
	}
	if res, err := h.client(h.admin).Audit(context.Background(), nil); err != nil || !res.OK || res.Size != 30000 {
		t.Fatalf("an audit after the first = %+v, %v; want it to run and find 30,000 events intact", res, err)
	}
}

// withReplicaOf gives the node a replica of peer's log, 60 events in three
// frames, of which the node may hold the payloads of the even-numbered
// entries and holds the others as their leaves; *root is that log's root.
func withReplicaOf(t *testing.T, peer linkd.Party, root *[]byte) setup {
	return setup{api: func(cfg *httpapi.Config) {
		_, src, vkey := openPartyLog(t, t.TempDir(), peer)
		logs := partylog.NewLogs(cfg.Log, nil)
		r, err := logs.Replica(peer, vkey)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for b := range int64(3) {
			if _, err := src.Append(ctx, gen(uint64(50+b), 5, 20)); err != nil {
				t.Fatal(err)
			}
			note, err := src.CheckpointAt(20*b + 20)
			if err != nil {
				t.Fatal(err)
			}
			var entries []partylog.RemoteEntry
			err = src.ReadRange(ctx, 20*b, 20*b+20, func(re *partylog.RawEntry) error {
				if re.Index%2 == 0 {
					entries = append(entries, partylog.RemoteEntry{Canon: bytes.Clone(re.Canon), Salt: bytes.Clone(re.Salt)})
				} else {
					entries = append(entries, partylog.RemoteEntry{Leaf: re.Leaf})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Apply(ctx, 20*b, note, entries, nil); err != nil {
				t.Fatal(err)
			}
		}
		_, cp := src.Checkpoint()
		*root = cp.Hash[:]
		cfg.Logs = logs
	}}
}

// An auditor has the node audit its copy of a partner's log: checked
// against the partner's checkpoints, with the entries the node holds as
// leaves counted. A party whose log the node does not hold is a 404, and
// damage to the copy is found and named.
func TestAuditReplica(t *testing.T) {
	peer := scenario.Carrier
	var root []byte
	h := newHarness(t, withReplicaOf(t, peer, &root))
	h.appendAll(gen(3, 5, 30), 30)
	ctx := context.Background()
	res, err := h.client(h.auditor).AuditLogOf(ctx, peer.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Party != peer.ID || res.Size != 60 || res.Checkpoints != 3 || res.Withheld != 30 || !bytes.Equal(res.RootHash, root) {
		t.Fatalf("audit of the replica = %+v; want ok, %s's 60 entries, 3 checkpoints, 30 held as leaves, root %x", res, peer.ID, root)
	}
	own, err := h.client(h.auditor).Audit(ctx, nil)
	if err != nil || !own.OK || own.Party != party.ID || own.Size != 30 || own.Withheld != 0 {
		t.Fatalf("audit of the own log = %+v, %v; want ok, %s's 30 events", own, err, party.ID)
	}
	body := h.request("POST", "/v1/log/audit?party=nobody", h.auditor, nil).wantError(t, 404, linkd.ENotFound)
	if !strings.Contains(body.Error.Message, `no log of party "nobody"`) {
		t.Errorf("404 message %q does not name the party", body.Error.Message)
	}
	h.request("POST", "/v1/log/audit?party="+peer.ID, h.reader, nil).wantError(t, 403, linkd.EForbidden)

	h.alterSalt(1, 8) // a payload in the first replica, log number 1
	res, err = h.client(h.auditor).AuditLogOf(ctx, peer.ID, nil)
	if err != nil || res.OK || !strings.Contains(res.Problem, "event 8 does not hash to its stored leaf") {
		t.Fatalf("audit of the altered replica = %+v, %v; want not ok, naming entry 8", res, err)
	}
	if own, err := h.client(h.auditor).Audit(ctx, nil); err != nil || !own.OK {
		t.Fatalf("the own log's audit after the replica was altered = %+v, %v; want it intact", own, err)
	}
}

// alterSalt flips a bit of the salt in the record of entry index of the log
// numbered num in the node's store (its record key is 'e', the log's
// number, the index), as a disk fault or an intruder would.
func (h *harness) alterSalt(num uint32, index uint64) {
	h.t.Helper()
	key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32([]byte{'e'}, num), index)
	v, closer, err := h.db.Get(key)
	if err != nil {
		h.t.Fatal(err)
	}
	altered := bytes.Clone(v)
	closer.Close()
	altered[40] ^= 1
	if err := h.db.Set(key, altered, pebble.Sync); err != nil {
		h.t.Fatal(err)
	}
}
