package tlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// bundleLog is a small real log of haiphong-terminal: events, their salts,
// the Merkle tree over their commitments and a signed checkpoint. Everything
// is deterministic, so the fuzz seeds made from it stay valid.
type bundleLog struct {
	skey, vkey string
	events     []linkd.Event
	salts      [][]byte
	leaves     []tlog.Hash
	store      hashStore
	cp         linkd.Checkpoint
	note       []byte
}

// genuineIndex is the event the genuine bundle proves.
const genuineIndex = 3

func mustTime(t testing.TB, s string) linkd.Time {
	t.Helper()
	tm, err := linkd.ParseTime(s)
	if err != nil {
		t.Fatalf("ParseTime(%q): %v", s, err)
	}
	return tm
}

func testEvents(t testing.TB) []linkd.Event {
	t.Helper()
	codes := []string{"GTIN", "LOAD", "DISC", "GTOT", "STUF"}
	var events []linkd.Event
	for i, code := range codes {
		events = append(events, linkd.Event{
			EventID:                 fmt.Sprintf("6f1c2b1e-0000-4000-8000-%012d", i),
			EventType:               linkd.Equipment,
			EventClassifierCode:     "ACT",
			EventDateTime:           mustTime(t, fmt.Sprintf("2026-11-03T08:%02d:00+07:00", 15+i)),
			EquipmentEventTypeCode:  code,
			EmptyIndicatorCode:      "LADEN",
			ISOEquipmentCode:        "45G1",
			EquipmentReference:      "MSCU1234567",
			CarrierBookingReference: "HPH" + fmt.Sprint(1000+i),
			EventLocation:           &linkd.Location{UNLocationCode: "VNHPH", FacilityCode: "TCIT", FacilityCodeListProvider: "SMDG"},
			Origin:                  haiphong,
			HLC:                     linkd.MakeHLC(1793690100000+int64(i)*60000, uint16(i)),
		})
	}
	return events
}

func commitLeaf(e *linkd.Event, salt []byte) tlog.Hash {
	return tlog.Hash(linkd.LeafHash(linkd.Commitment(linkd.AppendCanonical(nil, e), salt)))
}

func newBundleLog(t testing.TB) *bundleLog {
	t.Helper()
	l := &bundleLog{store: hashStore{}, events: testEvents(t)}
	l.skey, l.vkey = fixedKey(t, haiphongLog, 0x42)
	f := tlog.NewFrontier()
	for i := range l.events {
		salt := bytes.Repeat([]byte{byte(0xa0 + i)}, linkd.SaltSize)
		leaf := commitLeaf(&l.events[i], salt)
		l.salts = append(l.salts, salt)
		l.leaves = append(l.leaves, leaf)
		if err := f.Append(leaf, func(i int64, h tlog.Hash) { l.store[i] = h }); err != nil {
			t.Fatalf("append event %d: %v", i, err)
		}
	}
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	l.cp = linkd.Checkpoint{Origin: haiphongLog, Size: f.Size(), Hash: root}
	l.note = mustSign(t, l.cp, mustSigner(t, l.skey))
	return l
}

// bundle returns a fresh bundle (no slices shared with l) for event index.
func (l *bundleLog) bundle(t testing.TB, index int64) linkd.ProofBundle {
	t.Helper()
	p, err := tlog.InclusionProof(index, l.cp.Size, l.store)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, l.cp.Size, err)
	}
	// The proof is one transparency-dev accepts, so the bundle is genuine.
	leaf := l.leaves[index]
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(l.cp.Size), leaf[:], toBytes(p), l.cp.Hash[:]); err != nil {
		t.Fatalf("transparency-dev rejects the inclusion proof of event %d: %v", index, err)
	}
	b := linkd.ProofBundle{
		Format:     linkd.BundleFormat,
		Checkpoint: string(l.note),
		Event:      l.events[index],
		Salt:       append([]byte(nil), l.salts[index]...),
		LogIndex:   index,
	}
	if loc := b.Event.EventLocation; loc != nil {
		c := *loc
		b.Event.EventLocation = &c
	}
	for _, h := range p {
		b.InclusionProof = append(b.InclusionProof, append([]byte(nil), h[:]...))
	}
	return b
}

func (l *bundleLog) verified(index int64) tlog.Verified {
	return tlog.Verified{
		Party:      haiphong,
		EventID:    l.events[index].EventID,
		LogIndex:   index,
		Checkpoint: l.cp,
		LeafHash:   l.leaves[index],
	}
}

func TestVerifyBundle(t *testing.T) {
	l := newBundleLog(t)
	for i := range int64(len(l.events)) {
		t.Run(fmt.Sprint("event ", i), func(t *testing.T) {
			b := l.bundle(t, i)
			got, err := tlog.VerifyBundle(&b, l.vkey)
			if err != nil {
				t.Fatalf("VerifyBundle: %v", err)
			}
			if want := l.verified(i); !reflect.DeepEqual(got, want) {
				t.Errorf("VerifyBundle = %+v, want %+v", got, want)
			}

			// The bundle survives its JSON form, as `linkd verify` reads it.
			data, err := json.Marshal(&b)
			if err != nil {
				t.Fatal(err)
			}
			var back linkd.ProofBundle
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("unmarshal bundle: %v", err)
			}
			got, err = tlog.VerifyBundle(&back, l.vkey)
			if err != nil {
				t.Fatalf("VerifyBundle after a JSON round trip: %v\n%s", err, data)
			}
			if want := l.verified(i); !reflect.DeepEqual(got, want) {
				t.Errorf("VerifyBundle after a JSON round trip = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyBundleFailures(t *testing.T) {
	l := newBundleLog(t)
	_, rotterdamVkey := fixedKey(t, rotterdamLog, 0x43)
	rotterdamSkey, _ := fixedKey(t, rotterdamLog, 0x43)
	rogueSkey, rogueVkey := fixedKey(t, haiphongLog, 0x44) // haiphong's name, another key

	// haiphong's tree, checkpointed and signed by rotterdam under its own name.
	rotterdamCP := l.cp
	rotterdamCP.Origin = rotterdamLog
	rotterdamNote := string(mustSign(t, rotterdamCP, mustSigner(t, rotterdamSkey)))
	rogueNote := string(mustSign(t, l.cp, mustSigner(t, rogueSkey)))

	const notIncludedMsg = "the event or its salt differs"
	tests := []struct {
		name    string
		vkey    string // "" for l.vkey
		mutate  func(b *linkd.ProofBundle)
		want    error
		wantMsg []string
	}{
		{name: "wrong format", mutate: func(b *linkd.ProofBundle) { b.Format = "linkd-proof-bundle/v2" },
			want: tlog.ErrMalformed, wantMsg: []string{`format "linkd-proof-bundle/v2"`, linkd.BundleFormat}},
		{name: "no format", mutate: func(b *linkd.ProofBundle) { b.Format = "" },
			want: tlog.ErrMalformed, wantMsg: []string{"format"}},
		{name: "bad vkey", vkey: "haiphong", want: tlog.ErrBadKey, wantMsg: []string{"public key"}},
		{name: "private key as vkey", vkey: l.skey, want: tlog.ErrBadKey},
		{name: "another party's key", vkey: rotterdamVkey,
			want: tlog.ErrSignature, wantMsg: []string{"no signature by key " + rotterdamLog, "signed by: " + haiphongLog}},
		{name: "another key under the party's log name", vkey: rogueVkey,
			want: tlog.ErrSignature, wantMsg: []string{"signed by: " + haiphongLog}},
		{name: "checkpoint by another key under the party's log name", mutate: func(b *linkd.ProofBundle) { b.Checkpoint = rogueNote },
			want: tlog.ErrSignature, wantMsg: []string{"no signature by key " + haiphongLog}},
		{name: "another party's checkpoint and key", vkey: rotterdamVkey, mutate: func(b *linkd.ProofBundle) { b.Checkpoint = rotterdamNote },
			want: tlog.ErrWrongLog, wantMsg: []string{"recorded by " + haiphong, `checkpoint is for "` + rotterdamLog + `"`}},
		{name: "event origin of another party", mutate: func(b *linkd.ProofBundle) { b.Event.Origin = rotterdam },
			want: tlog.ErrWrongLog, wantMsg: []string{"recorded by " + rotterdam, `"` + rotterdamLog + `"`, `checkpoint is for "` + haiphongLog + `"`}},
		{name: "empty origin", mutate: func(b *linkd.ProofBundle) { b.Event.Origin = "" },
			want: tlog.ErrMalformed, wantMsg: []string{"no origin"}},
		{name: "salt too short", mutate: func(b *linkd.ProofBundle) { b.Salt = b.Salt[:31] },
			want: tlog.ErrMalformed, wantMsg: []string{"salt has 31 bytes, want 32"}},
		{name: "salt too long", mutate: func(b *linkd.ProofBundle) { b.Salt = append(b.Salt, 0) },
			want: tlog.ErrMalformed, wantMsg: []string{"salt has 33 bytes"}},
		{name: "no salt", mutate: func(b *linkd.ProofBundle) { b.Salt = nil },
			want: tlog.ErrMalformed, wantMsg: []string{"salt has 0 bytes"}},
		{name: "salt altered", mutate: func(b *linkd.ProofBundle) { b.Salt[7] ^= 1 },
			want: tlog.ErrNotIncluded, wantMsg: []string{notIncludedMsg, "index 3 of size 5", "recorded"}},
		{name: "salt of another event", mutate: func(b *linkd.ProofBundle) { b.Salt = append([]byte(nil), l.salts[2]...) },
			want: tlog.ErrNotIncluded, wantMsg: []string{notIncludedMsg}},
		{name: "another event", mutate: func(b *linkd.ProofBundle) { b.Event = l.events[2]; b.Salt = append([]byte(nil), l.salts[2]...) },
			want: tlog.ErrNotIncluded, wantMsg: []string{notIncludedMsg, "another event"}},
		{name: "index of another event", mutate: func(b *linkd.ProofBundle) { b.LogIndex = 2 },
			want: tlog.ErrNotIncluded, wantMsg: []string{notIncludedMsg, "index 2"}},
		{name: "index is the size", mutate: func(b *linkd.ProofBundle) { b.LogIndex = 5 },
			want: tlog.ErrNotIncluded, wantMsg: []string{"index 5 is outside", "size 5"}},
		{name: "index past the size", mutate: func(b *linkd.ProofBundle) { b.LogIndex = 1 << 40 },
			want: tlog.ErrNotIncluded, wantMsg: []string{"outside"}},
		{name: "negative index", mutate: func(b *linkd.ProofBundle) { b.LogIndex = -1 },
			want: tlog.ErrNotIncluded, wantMsg: []string{"index -1 is outside"}},
		{name: "proof hash missing", mutate: func(b *linkd.ProofBundle) { b.InclusionProof = b.InclusionProof[1:] },
			want: tlog.ErrMalformed, wantMsg: []string{"has 2 hashes", "needs 3"}},
		{name: "no proof", mutate: func(b *linkd.ProofBundle) { b.InclusionProof = nil },
			want: tlog.ErrMalformed, wantMsg: []string{"has 0 hashes"}},
		{name: "extra proof hash", mutate: func(b *linkd.ProofBundle) { b.InclusionProof = append(b.InclusionProof, make([]byte, 32)) },
			want: tlog.ErrMalformed, wantMsg: []string{"has 4 hashes"}},
		{name: "proof hash of 31 bytes", mutate: func(b *linkd.ProofBundle) { b.InclusionProof[1] = b.InclusionProof[1][:31] },
			want: tlog.ErrMalformed, wantMsg: []string{"hash 1 has 31 bytes, want 32"}},
		{name: "proof hash of 33 bytes", mutate: func(b *linkd.ProofBundle) { b.InclusionProof[0] = append(b.InclusionProof[0], 0) },
			want: tlog.ErrMalformed, wantMsg: []string{"hash 0 has 33 bytes"}},
		{name: "proof hash altered", mutate: func(b *linkd.ProofBundle) { b.InclusionProof[2][0] ^= 0x10 },
			want: tlog.ErrNotIncluded, wantMsg: []string{notIncludedMsg}},
		{name: "proof hashes swapped", mutate: func(b *linkd.ProofBundle) {
			b.InclusionProof[0], b.InclusionProof[1] = b.InclusionProof[1], b.InclusionProof[0]
		}, want: tlog.ErrNotIncluded},
		{name: "checkpoint text altered", mutate: func(b *linkd.ProofBundle) { b.Checkpoint = strings.Replace(b.Checkpoint, "\n5\n", "\n6\n", 1) },
			want: tlog.ErrSignature, wantMsg: []string{"altered"}},
		{name: "checkpoint not a note", mutate: func(b *linkd.ProofBundle) { b.Checkpoint = l.cp.Body() },
			want: tlog.ErrMalformed, wantMsg: []string{"not a signed note"}},
		{name: "no checkpoint", mutate: func(b *linkd.ProofBundle) { b.Checkpoint = "" },
			want: tlog.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := l.bundle(t, genuineIndex)
			if tt.mutate != nil {
				tt.mutate(&b)
			}
			vkey := l.vkey
			if tt.vkey != "" {
				vkey = tt.vkey
			}
			got, err := tlog.VerifyBundle(&b, vkey)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBundle = %+v, %v; want %v", got, err, tt.want)
			}
			for _, frag := range tt.wantMsg {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("VerifyBundle error %q does not say %q", err, frag)
				}
			}
			if !reflect.DeepEqual(got, tlog.Verified{}) {
				t.Errorf("VerifyBundle failed but returned %+v, want the zero Verified", got)
			}
		})
	}
}

// TestVerifyBundleEventFields alters each part of the event in turn: every
// field is under the commitment, so every change breaks inclusion.
func TestVerifyBundleEventFields(t *testing.T) {
	l := newBundleLog(t)
	tests := map[string]func(e *linkd.Event){
		"eventID":                    func(e *linkd.Event) { e.EventID += "0" },
		"eventType":                  func(e *linkd.Event) { e.EventType = linkd.Transport },
		"eventClassifierCode":        func(e *linkd.Event) { e.EventClassifierCode = "PLN" },
		"eventDateTime":              func(e *linkd.Event) { e.EventDateTime = mustTime(t, "2026-11-03T08:19:30+07:00") },
		"eventDateTime offset":       func(e *linkd.Event) { e.EventDateTime = mustTime(t, "2026-11-03T01:18:00Z") },
		"eventCreatedDateTime":       func(e *linkd.Event) { e.EventCreatedDateTime = mustTime(t, "2026-11-03T08:20:00+07:00") },
		"equipmentEventTypeCode":     func(e *linkd.Event) { e.EquipmentEventTypeCode = "GTIN" },
		"emptyIndicatorCode":         func(e *linkd.Event) { e.EmptyIndicatorCode = "EMPTY" },
		"ISOEquipmentCode":           func(e *linkd.Event) { e.ISOEquipmentCode = "22G1" },
		"equipmentReference":         func(e *linkd.Event) { e.EquipmentReference = "MSCU1234568" },
		"carrierBookingReference":    func(e *linkd.Event) { e.CarrierBookingReference = "" },
		"transportDocumentReference": func(e *linkd.Event) { e.TransportDocumentReference = "BL1" },
		"references":                 func(e *linkd.Event) { e.References = []linkd.Reference{{ReferenceType: "FF", ReferenceValue: "x"}} },
		"eventLocation removed":      func(e *linkd.Event) { e.EventLocation = nil },
		"eventLocation code":         func(e *linkd.Event) { e.EventLocation.UNLocationCode = "DEHAM" },
		"transportCall":              func(e *linkd.Event) { e.TransportCall = &linkd.TransportCall{} },
		"parties":                    func(e *linkd.Event) { e.Parties = []linkd.ShipmentParty{{Party: rotterdam}} },
		"visibility":                 func(e *linkd.Event) { e.Visibility = []string{rotterdam} },
		"residency":                  func(e *linkd.Event) { e.Residency = []string{"EU"} },
		"causedBy":                   func(e *linkd.Event) { e.CausedBy = []string{"x"} },
		"retractedEventID":           func(e *linkd.Event) { e.RetractedEventID = "x" },
		"supersedesEventID":          func(e *linkd.Event) { e.SupersedesEventID = "x" },
		"hlc":                        func(e *linkd.Event) { e.HLC++ },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			b := l.bundle(t, genuineIndex)
			mutate(&b.Event)
			_, err := tlog.VerifyBundle(&b, l.vkey)
			if !errors.Is(err, tlog.ErrNotIncluded) {
				t.Fatalf("VerifyBundle with %s altered = %v, want ErrNotIncluded", name, err)
			}
			if want := "the event or its salt differs"; !strings.Contains(err.Error(), want) {
				t.Errorf("VerifyBundle error %q does not say %q", err, want)
			}
		})
	}
}
