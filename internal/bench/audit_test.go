package bench

import (
	"context"
	"os"
	"testing"
)

// TestAuditTimesAWholeLog runs bench audit on a small log: it audits every
// event and every checkpoint the appends signed, and leaves nothing behind.
func TestAuditTimesAWholeLog(t *testing.T) {
	dir := t.TempDir()
	res, err := Audit(context.Background(), AuditConfig{Dir: dir, Events: 2500, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 2500 || res.Checkpoints != 25 {
		t.Fatalf("audited %d events and %d checkpoints; want 2500 and 25 (one per append)", res.Events, res.Checkpoints)
	}
	if res.Seconds <= 0 || res.EventsPerSec <= 0 || res.LoadPerSec <= 0 {
		t.Fatalf("result %+v: want a time and rates", res)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the run left %d entries in its directory", len(left))
	}
	if _, err := Audit(context.Background(), AuditConfig{Dir: dir, Events: 10, Batch: 20000}); err == nil {
		t.Fatal("a batch over the append limit was accepted")
	}
}
