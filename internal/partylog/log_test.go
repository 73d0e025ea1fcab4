package partylog

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	tdmerkle "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func TestAppendReopenProveAudit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var acks []linkd.Ack
	for i := 0; i < 5; i++ {
		acks = append(acks, h.append(events(uint64(i+1), 37)...)...)
	}
	for i, a := range acks {
		if a.LogIndex != int64(i) {
			t.Fatalf("ack %d has index %d, want %d", i, a.LogIndex, i)
		}
	}
	h.reopen()
	if got := h.log.Size(); got != int64(len(acks)) {
		t.Fatalf("size after reopen = %d, want %d", got, len(acks))
	}
	msg, cp := h.log.Checkpoint()
	v, err := note.NewVerifier(h.vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("x/mod note does not verify the checkpoint: %v", err)
	}
	if !strings.HasPrefix(n.Text, linkd.LogOrigin(terminal.ID)+"\n185\n") {
		t.Fatalf("checkpoint text = %q, want origin and size 185", n.Text)
	}
	for _, a := range acks {
		rec, err := h.log.GetByID(ctx, a.EventID)
		if err != nil {
			t.Fatalf("get %s: %v", a.EventID, err)
		}
		if rec.LogIndex != a.LogIndex || rec.Event.Origin != terminal.ID || rec.Event.HLC == 0 {
			t.Fatalf("get %s = index %d origin %q hlc %v, want index %d, origin set, hlc set", a.EventID, rec.LogIndex, rec.Event.Origin, rec.Event.HLC, a.LogIndex)
		}
		leaf := linkd.LeafHash(rec.Commitment())
		proof, err := h.log.InclusionProof(a.LogIndex, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		// Check against an independent RFC 6962 implementation.
		if err := tdmerkle.VerifyInclusion(rfc6962.DefaultHasher, uint64(a.LogIndex), uint64(cp.Size), leaf[:], hashes(proof), cp.Hash[:]); err != nil {
			t.Fatalf("transparency-dev rejects inclusion of %d: %v", a.LogIndex, err)
		}
	}
	rep, err := h.log.Audit(ctx, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if rep.Size != 185 || rep.Checkpoints != 5 {
		t.Fatalf("audit = %+v, want size 185 and 5 checkpoints (one per batch)", rep)
	}
}

func hashes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func TestDuplicateIsIdempotentAndConflictWritesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	evs := events(3, 5)
	first := h.append(evs...)

	// The same events again, with and without their ids: the original indexes.
	again := h.append(evs...)
	for i := range again {
		if !again[i].Duplicate || again[i].LogIndex != first[i].LogIndex || again[i].LeafHash != first[i].LeafHash {
			t.Fatalf("re-append %d = %+v, want duplicate of %+v", i, again[i], first[i])
		}
	}
	withIDs := append([]linkd.Event(nil), evs...)
	for i := range withIDs {
		withIDs[i].EventID = first[i].EventID
	}
	if acks := h.append(withIDs...); !acks[4].Duplicate || acks[4].LogIndex != 4 {
		t.Fatalf("re-append with explicit ids: ack = %+v, want duplicate of index 4", acks[4])
	}

	// The same id with other content: a conflict, and nothing of the batch is written.
	changed := withIDs[2]
	changed.Reason = "edited after the fact"
	fresh := events(99, 1)[0]
	_, err := h.log.Append(ctx, []linkd.Event{fresh, changed})
	if linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "events[1].eventID") {
		t.Fatalf("append with changed content: err = %v, want conflict naming events[1].eventID", err)
	}
	if got := h.log.Size(); got != 5 {
		t.Fatalf("size after rejected batch = %d, want 5", got)
	}
	rec, err := h.log.GetByID(ctx, first[2].EventID)
	if err != nil || rec.Event.Reason == "edited after the fact" {
		t.Fatalf("original event after conflict: %+v, %v; want the original content", rec.Event.Reason, err)
	}
	if _, err := h.log.GetByID(ctx, linkd.DeriveEventID(terminal.ID, &fresh)); linkd.ErrorCode(err) != linkd.ENotFound {
		t.Fatalf("the good event of the rejected batch: err = %v, want not_found", err)
	}
}

func TestRejectedBatchLeavesNoTrace(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.append(events(1, 3)...)
	_, cpBefore := h.log.Checkpoint()

	cases := []struct {
		name, field, code string
		mutate            func(*linkd.Event)
	}{
		{"unknown code", "events[1].equipmentEventTypeCode", linkd.EInvalid, func(e *linkd.Event) {
			e.EventType, e.EquipmentEventTypeCode, e.EmptyIndicatorCode, e.EquipmentReference = linkd.Equipment, "TELE", "LADEN", "CSQU3054383"
			e.ShipmentEventTypeCode, e.TransportEventTypeCode, e.DocumentTypeCode = "", "", ""
		}},
		{"residency excludes this node", "events[1].residency", linkd.EInvalid, func(e *linkd.Event) { e.Residency = []string{"EU"} }},
		{"another party's origin", "events[1].origin", linkd.EInvalid, func(e *linkd.Event) { e.Origin = "oceanic-lines" }},
		{"retracts an unknown event", "events[1].retractedEventID", linkd.EInvalid, func(e *linkd.Event) {
			e.RetractedEventID = "0190a1b2-0000-7000-8000-000000000001"
		}},
		{"no shipment reference", "events[1]", linkd.EInvalid, func(e *linkd.Event) {
			e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference = "", "", ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			batch := events(50, 3)
			tc.mutate(&batch[1])
			_, err := h.log.Append(ctx, batch)
			if linkd.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Field != tc.field {
				t.Fatalf("err = %v, want a problem at %s", err, tc.field)
			}
			if _, cp := h.log.Checkpoint(); cp.Size != cpBefore.Size || cp.Hash != cpBefore.Hash || h.log.Size() != 3 {
				t.Fatalf("log moved to size %d after a rejected batch", h.log.Size())
			}
			for _, e := range batch {
				if _, err := h.log.GetByID(ctx, linkd.DeriveEventID(terminal.ID, &e)); linkd.ErrorCode(err) != linkd.ENotFound {
					t.Fatalf("an event of the rejected batch is readable: %v", err)
				}
			}
		})
	}
}

func TestRetractionOfOwnEvent(t *testing.T) {
	h := newHarness(t)
	orig := h.append(events(4, 1)...)[0]
	fix := events(5, 2)
	fix[0].RetractedEventID = orig.EventID
	fix[1].EventID = "0190a1b2-0000-7000-8000-0000000000aa"
	fix2 := events(6, 1)[0]
	fix2.SupersedesEventID = fix[1].EventID // names an event earlier in the same batch
	acks := h.append(fix[0], fix[1], fix2)
	if acks[0].LogIndex != 1 || acks[2].LogIndex != 3 {
		t.Fatalf("acks = %+v, want indexes 1..3", acks)
	}
}

func TestScanIndexesAndCursorPaging(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	all := events(11, 400)
	for i := 0; i < len(all); i += 100 {
		h.append(all[i : i+100]...)
	}
	// Pick a container and count its events directly.
	container := all[0].EquipmentReference
	for i := 0; container == ""; i++ {
		container = all[i].EquipmentReference
	}
	want := 0
	for _, e := range all {
		if e.EquipmentReference == container {
			want++
		}
	}
	var got []linkd.Recorded
	cursor := ""
	pages := 0
	for {
		p, err := h.log.Scan(ctx, Query{Index: ByEquipment, Value: container, Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Events...)
		pages++
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(got) != want {
		t.Fatalf("paged scan of %s found %d events, want %d", container, len(got), want)
	}
	if pages != (want+1)/2 && pages != (want+1)/2+1 {
		t.Fatalf("%d pages for %d events at 2 per page", pages, want)
	}
	seen := map[int64]bool{}
	for i, r := range got {
		if r.Event.EquipmentReference != container || seen[r.LogIndex] {
			t.Fatalf("event %d of scan: container %s index %d (dup %v)", i, r.Event.EquipmentReference, r.LogIndex, seen[r.LogIndex])
		}
		seen[r.LogIndex] = true
		if i > 0 && r.Event.EventDateTime.Before(got[i-1].Event.EventDateTime.Time) {
			t.Fatalf("scan not in event-time order at %d", i)
		}
	}

	// Time range over every event: exactly the events inside it.
	from, to := all[100].EventDateTime.Time, all[200].EventDateTime.Time
	if to.Before(from) {
		from, to = to, from
	}
	inRange := 0
	for _, e := range all {
		if !e.EventDateTime.Before(from) && e.EventDateTime.Before(to) {
			inRange++
		}
	}
	n := 0
	for cursor = ""; ; {
		p, err := h.log.Scan(ctx, Query{Index: ByTime, From: from, To: to, Cursor: cursor, Limit: MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Events {
			if r.Event.EventDateTime.Before(from) || !r.Event.EventDateTime.Before(to) {
				t.Fatalf("event at %v outside [%v, %v)", r.Event.EventDateTime, from, to)
			}
		}
		n += len(p.Events)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if n != inRange || n == 0 {
		t.Fatalf("time range held %d events, want %d", n, inRange)
	}

	// Type/code and location.
	p, err := h.log.Scan(ctx, Query{Index: ByTypeCode, Value: "TRANSPORT/ARRI", Limit: MaxPageSize})
	if err != nil || len(p.Events) == 0 {
		t.Fatalf("scan TRANSPORT/ARRI: %d events, %v", len(p.Events), err)
	}
	for _, r := range p.Events {
		if r.Event.TransportEventTypeCode != "ARRI" {
			t.Fatalf("TRANSPORT/ARRI scan returned %s", r.Event.TransportEventTypeCode)
		}
	}
	p, err = h.log.Scan(ctx, Query{Index: ByLocation, Value: "DEHAM", Limit: MaxPageSize})
	if err != nil || len(p.Events) == 0 {
		t.Fatalf("scan DEHAM: %d events, %v", len(p.Events), err)
	}

	for _, bad := range []Query{
		{Index: ByEquipment, Value: container, Cursor: "not-a-cursor"},
		{Index: ByEquipment, Value: container, Limit: MaxPageSize + 1},
		{Index: ByTime, From: to, To: from},
		{Index: ByEquipment},
	} {
		if _, err := h.log.Scan(ctx, bad); linkd.ErrorCode(err) != linkd.EInvalid {
			t.Fatalf("scan %+v: err = %v, want invalid", bad, err)
		}
	}
}

func TestBundleVerifiesOffline(t *testing.T) {
	h := newHarness(t)
	acks := h.append(events(8, 20)...)
	h.append(events(9, 7)...)
	b, err := h.log.Bundle(context.Background(), acks[13].EventID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.VerifyBundle(&b, h.log.PublicKey())
	if err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
	if v.LogIndex != 13 || v.Checkpoint.Size != 27 || v.Party != terminal.ID {
		t.Fatalf("verified %+v, want index 13 in size 27 by %s", v, terminal.ID)
	}
	b.Event.Reason = "tampered"
	if _, err := tlog.VerifyBundle(&b, h.log.PublicKey()); !errors.Is(err, tlog.ErrNotIncluded) {
		t.Fatalf("tampered bundle: err = %v, want not included", err)
	}
}

func TestConcurrentAppendsShareFsyncs(t *testing.T) {
	h := newHarness(t)
	const writers, each = 32, 20
	gen := events(21, writers*each)
	var wg sync.WaitGroup
	indexes := make(chan int64, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				acks, err := h.log.Append(context.Background(), []linkd.Event{gen[w*each+i]})
				if err != nil {
					t.Error(err)
					return
				}
				indexes <- acks[0].LogIndex
			}
		}(w)
	}
	wg.Wait()
	close(indexes)
	seen := make([]bool, writers*each)
	for x := range indexes {
		if x < 0 || x >= int64(len(seen)) || seen[x] {
			t.Fatalf("index %d out of range or given twice", x)
		}
		seen[x] = true
	}
	if b := h.log.Stats().Batches.Load(); b >= writers*each {
		t.Fatalf("%d appends took %d fsynced batches: concurrent appends did not share fsyncs", writers*each, b)
	}
	var last linkd.HLC
	for i := int64(0); i < h.log.Size(); i++ {
		rec, err := h.log.Get(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.HLC <= last {
			t.Fatalf("hlc at %d = %v, not above %v: stamps must rise in log order", i, rec.Event.HLC, last)
		}
		last = rec.Event.HLC
	}
	if _, err := h.log.Audit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAfterCloseIsUnavailable(t *testing.T) {
	h := newHarness(t)
	h.append(events(1, 1)...)
	h.log.Close()
	_, err := h.log.Append(context.Background(), events(2, 1))
	if linkd.ErrorCode(err) != linkd.EUnavailable {
		t.Fatalf("append after close: err = %v, want unavailable", err)
	}
}

func TestAuditOfEmptyLog(t *testing.T) {
	h := newHarness(t)
	rep, err := h.log.Audit(context.Background(), nil)
	if err != nil {
		t.Fatalf("audit of an empty log: %v", err)
	}
	if rep.Size != 0 || rep.Checkpoints != 0 || rep.Root != tlog.Hash(sha256.Sum256(nil)) {
		t.Fatalf("audit of an empty log = %+v, want size 0, no checkpoints, the RFC 6962 empty root", rep)
	}
}

// outcome is what an append that may be cut short told its caller.
type outcome int

const (
	recorded    outcome = iota // acks
	notRecorded                // "nothing was recorded", or the log closed first
	mayBe                      // given up after the sequencer took it
)

// appendOutcome classifies Append's answer, failing on any other error.
func appendOutcome(t *testing.T, err error) outcome {
	t.Helper()
	switch {
	case err == nil:
		return recorded
	case errors.Is(err, linkd.ErrClosed) || strings.Contains(linkd.ErrorMessage(err), "nothing was recorded"):
		return notRecorded
	case strings.Contains(linkd.ErrorMessage(err), "may still be recorded"):
		return mayBe
	}
	t.Fatalf("append: unexpected error %v", err)
	return 0
}

// checkOutcomes reopens the log and checks each batch against what its
// append answered: present if acknowledged, absent if it was told nothing
// was recorded, and the log whole.
func checkOutcomes(t *testing.T, h *harness, batches [][]linkd.Event, got []outcome) {
	t.Helper()
	h.reopen()
	present := int64(0)
	for i, b := range batches {
		for _, e := range b {
			_, err := h.log.GetByID(context.Background(), e.EventID)
			in := err == nil
			if !in && linkd.ErrorCode(err) != linkd.ENotFound {
				t.Fatal(err)
			}
			if in {
				present++
			}
			if got[i] == recorded && !in || got[i] == notRecorded && in {
				t.Fatalf("batch %d: append answered outcome %d, but event %s present = %v", i, got[i], e.EventID, in)
			}
		}
	}
	if h.log.Size() != present {
		t.Fatalf("log size %d, but %d of the events appended are in it", h.log.Size(), present)
	}
	if _, err := h.log.Audit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestAppendGivenUpIsWrittenOnlyIfTaken(t *testing.T) {
	h := newHarness(t)
	const writers, each = 32, 30
	batches := make([][]linkd.Event, writers*each)
	all := events(31, 2*writers*each)
	for i := range all {
		all[i].EventID = crashEventID(31, 0, i)
	}
	for i := range batches {
		batches[i] = all[2*i : 2*i+1+i%2]
	}
	got := make([]outcome, len(batches))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(31, uint64(w)))
			for i := w * each; i < (w+1)*each; i++ {
				// One in four has time to finish, one is over before it
				// starts; the others are cut short while queued or while
				// their group syncs.
				d := time.Duration(rng.IntN(2000)) * time.Microsecond
				switch i % 4 {
				case 0:
					d = time.Minute
				case 1:
					d = 0 // over before it starts
				}
				ctx, cancel := context.WithTimeout(context.Background(), d)
				_, err := h.log.Append(ctx, batches[i])
				cancel()
				got[i] = appendOutcome(t, err)
			}
		})
	}
	wg.Wait()
	var n [3]int
	for _, o := range got {
		n[o]++
	}
	t.Logf("recorded %d, not recorded %d, may be %d", n[recorded], n[notRecorded], n[mayBe])
	if n[recorded] == 0 || n[notRecorded] == 0 {
		t.Fatalf("outcomes %v: want some appends recorded and some given up before they were taken", n)
	}
	checkOutcomes(t, h, batches, got)
}

func TestAppendsDuringCloseAreAnswered(t *testing.T) {
	h := newHarness(t)
	const writers, each = 16, 40
	batches := make([][]linkd.Event, writers*each)
	all := events(32, writers*each)
	for i := range all {
		all[i].EventID = crashEventID(32, 0, i)
	}
	for i := range batches {
		batches[i] = all[i : i+1]
	}
	got := make([]outcome, len(batches))
	for i := range got {
		got[i] = mayBe // not attempted: absent, which mayBe allows
	}
	started := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				_, err := h.log.Append(context.Background(), batches[i])
				got[i] = appendOutcome(t, err)
				if got[i] == mayBe {
					t.Errorf("append without a deadline answered %v", err)
				}
				if i == w*each+3 {
					started <- struct{}{}
				}
				if err != nil {
					return
				}
			}
		})
	}
	for range writers {
		<-started
	}
	h.log.Close() // with appends queued and in flight: each is answered
	wg.Wait()
	checkOutcomes(t, h, batches, got)
}
