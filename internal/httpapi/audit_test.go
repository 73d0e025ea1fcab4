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
	// Alter the salt of the node's own event 17: its record key is 'e',
	// the own log's number 0, and the index.
	key := binary.BigEndian.AppendUint64([]byte{'e', 0, 0, 0, 0}, 17)
	v, closer, err := h.db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(v)
	closer.Close()
	altered[40] ^= 1
	if err := h.db.Set(key, altered, pebble.Sync); err != nil {
		t.Fatal(err)
	}
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
