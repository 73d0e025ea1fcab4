package docs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func TestSniff(t *testing.T) {
	cases := []struct{ head, want string }{
		{"%PDF-1.7\n", docs.MediaPDF},
		{"  {\"invoice\": 1}", docs.MediaJSON},
		{"[1,2]", docs.MediaJSON},
		{"\xef\xbb\xbf<?xml version=\"1.0\"?><Invoice/>", docs.MediaXML},
		{"\n<Invoice xmlns=\"urn:x\">", docs.MediaXML},
		{"<!-- comment --><a/>", docs.MediaXML},
		{"GIF89a", ""},
		{"<1>", ""},
		{"", ""},
		{" %PDF-1.7", ""},
	}
	for _, c := range cases {
		if got := docs.Sniff([]byte(c.head)); got != c.want {
			t.Errorf("Sniff(%q) = %q, want %q", c.head, got, c.want)
		}
	}
}

func access(origin string, minute int, code string, roles ...linkd.Role) linkd.Recorded {
	e := docs.AccessEvent(docs.Shipment{CarrierBookingReference: "B"}, code, roles, time.Date(2026, 11, 2, 8, minute, 0, 0, time.UTC))
	e.Origin, e.EventID = origin, fmt.Sprintf("00000000-0000-8000-8000-%012d", minute)
	return linkd.Recorded{Event: e}
}

// TestFoldMatrix: rows start at the defaults; access events replace them in
// timeline order whatever order they are held in; events by a party not on
// the shipment count for nothing.
func TestFoldMatrix(t *testing.T) {
	onList := func(p string) bool { return p != "outsider" }
	recs := []linkd.Recorded{
		access("forwarder", 5, "INV", linkd.RoleCustoms),
		access("shipper", 2, "INV", linkd.RoleCustoms, linkd.RoleTerminal),
		access("outsider", 9, "INV", linkd.RoleTerminal),
		access("shipper", 3, "PHY"),
		{Event: linkd.Event{EventType: linkd.Shipment, ShipmentEventTypeCode: "CONF", DocumentTypeCode: "COO", Reason: "confirmed by phone"}},
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
		var held []linkd.Recorded
		for _, i := range order {
			held = append(held, recs[i])
		}
		m := docs.FoldMatrix(held, onList)
		if got := m.Roles("INV"); len(got) != 1 || got[0] != linkd.RoleCustoms || m.Row("INV").SetBy != "forwarder" {
			t.Errorf("order %v: INV row %+v, want customs only, set by the forwarder's later event", order, m.Row("INV"))
		}
		if m.Allows("INV", linkd.RoleTerminal) {
			t.Errorf("order %v: the outsider's event gave invoices to terminals", order)
		}
		if got := m.Roles("PHY"); len(got) != 0 {
			t.Errorf("order %v: PHY roles %v, want none (issuer only)", order, got)
		}
		if got := m.Roles("COO"); len(got) != len(docs.DefaultRoles["COO"]) {
			t.Errorf("order %v: a CONF event without the access reason changed COO to %v", order, got)
		}
		if !m.Allows("TRD", linkd.RoleTerminal) || m.Allows("TRD", "") {
			t.Errorf("order %v: the default TRD row does not give bills of lading to terminals", order)
		}
	}
}

// party is a log of one party for Verify tests: a real key and a tree.
type party struct {
	id     string
	signer tlog.Signer
	vkey   string
}

func newParty(t *testing.T, id string) *party {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(linkd.LogOrigin(id))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &party{id: id, signer: s, vkey: vkey}
}

// attest returns a proof bundle of a one-event log holding p's attestation.
func (p *party) attest(t *testing.T, sha, verdict string, minute int) linkd.ProofBundle {
	t.Helper()
	e := linkd.Event{EventID: fmt.Sprintf("00000000-0000-8000-8000-%012d", minute), Origin: p.id,
		EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: docs.VerdictCode(verdict), DocumentTypeCode: "INV",
		CarrierBookingReference: "BKG-V", EventDateTime: linkd.Time{Time: time.Date(2026, 11, 2, 8, minute, 0, 0, time.UTC)},
		Attestation: &linkd.Attestation{DocumentSHA256: sha, Verdict: verdict}}
	salt := make([]byte, linkd.SaltSize)
	rand.Read(salt)
	leaf := linkd.LeafHash(linkd.Commitment(linkd.AppendCanonical(nil, &e), salt))
	note, err := tlog.SignCheckpoint(linkd.Checkpoint{Origin: linkd.LogOrigin(p.id), Size: 1, Hash: leaf}, p.signer)
	if err != nil {
		t.Fatal(err)
	}
	return linkd.ProofBundle{Format: linkd.BundleFormat, Checkpoint: string(note), Event: e, Salt: salt, LogIndex: 0, InclusionProof: [][]byte{}}
}

// TestVerify: the four outcomes of checking a file against attestations.
func TestVerify(t *testing.T) {
	fwd, cus, mal := newParty(t, "forwarder"), newParty(t, "customs"), newParty(t, "mallory")
	keys := map[string]string{fwd.id: fwd.vkey, cus.id: cus.vkey}
	sha, other := hashOf("the invoice"), hashOf("an altered invoice")
	genuine := &docs.Bundle{Format: docs.BundleFormat, SHA256: sha, Attestations: []linkd.ProofBundle{
		cus.attest(t, sha, "CHECKED", 2), fwd.attest(t, sha, "ISSUED", 1), mal.attest(t, sha, "REJECTED", 3)}}
	tampered := &docs.Bundle{Format: docs.BundleFormat, SHA256: sha, Attestations: []linkd.ProofBundle{fwd.attest(t, sha, "ISSUED", 1)}}
	tampered.Attestations[0].Event.DocumentTypeCode = "COO"
	unknown := &docs.Bundle{Format: docs.BundleFormat, SHA256: sha, Attestations: []linkd.ProofBundle{mal.attest(t, sha, "ISSUED", 1), cus.attest(t, sha, "CHECKED", 2)}}
	cases := []struct {
		name    string
		sha     string
		b       *docs.Bundle
		outcome docs.Outcome
		summary string
	}{
		{"genuine", sha, genuine, docs.Genuine, "issued by forwarder"},
		{"altered file", other, genuine, docs.MatchesNothing, "the bundle given is for document " + sha},
		{"nothing known", sha, nil, docs.MatchesNothing, "matches nothing"},
		{"tampered", sha, tampered, docs.NotVerified, "by forwarder does not verify"},
		{"issued by an unknown party", sha, unknown, docs.UnknownParty, "no party trusted here issued"},
		{"only unknown parties", sha, &docs.Bundle{SHA256: sha, Attestations: []linkd.ProofBundle{mal.attest(t, sha, "ISSUED", 1)}}, docs.UnknownParty, "[mallory]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := docs.Verify(c.sha, c.b, keys)
			if rep.Outcome != c.outcome || !strings.Contains(rep.Summary, c.summary) {
				t.Errorf("Verify = %s (%s), want %s saying %q", rep.Outcome, rep.Summary, c.outcome, c.summary)
			}
		})
	}
	rep := docs.Verify(sha, genuine, keys)
	var got []string
	for _, a := range rep.Attestations {
		got = append(got, fmt.Sprintf("%s %s %v", a.Party, a.Verdict, a.Verified))
	}
	if want := "forwarder ISSUED true,customs CHECKED true,mallory REJECTED false"; strings.Join(got, ",") != want {
		t.Errorf("attestations %v, want %s (in time order, the unknown party's unchecked)", got, want)
	}
}

// cutServer serves a document as a peer's node does, cutting the first
// answer off after cut bytes, and remembers each request's Range.
type cutServer struct {
	body []byte
	cut  int

	mu     sync.Mutex
	ranges []string
}

func (s *cutServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	first := len(s.ranges) == 1
	s.mu.Unlock()
	if first {
		w.Header().Set("Content-Length", fmt.Sprint(len(s.body)))
		w.WriteHeader(http.StatusOK)
		w.Write(s.body[:s.cut])
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.body))
}

// TestFetchResumes: a transfer cut off keeps its whole chunks; the next
// asks for the rest with Range from the last whole chunk — after cutting
// off a chunk torn on disk — and the document arrives whole.
func TestFetchResumes(t *testing.T) {
	ts := openTestStore(t, t.TempDir(), 0)
	body, sha := document(300 << 10)
	srv := &cutServer{body: body, cut: 150 << 10}
	hs := httptest.NewTLSServer(srv)
	defer hs.Close()
	hs.Config.ErrorLog = nil
	src := docs.Source{Party: "issuer", Endpoint: hs.URL, Client: hs.Client()}
	d := docs.Document{SHA256: sha, Type: "INV", Shipment: bkg, Issuer: "issuer", State: docs.Fetching}
	if _, err := ts.s.Learn(d); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ts.s.Fetch(ctx, d, src); err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("the first transfer: %v, want it cut off", err)
	}
	// Half a chunk more written to disk, then a crash: torn.
	part := filepath.Join(ts.dir, "documents", "tmp", sha+".fetch")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("the partial transfer is not kept: %v", err)
	}
	f.Write(make([]byte, 30<<10))
	f.Close()
	if err := ts.s.Fetch(ctx, d, src); err != nil {
		t.Fatalf("the resumed transfer: %v", err)
	}
	if want := fmt.Sprintf("bytes=%d-", 128<<10); len(srv.ranges) != 2 || srv.ranges[1] != want {
		t.Errorf("the transfers asked for ranges %q, want none then %q (after the 2 whole chunks of 64 KiB)", srv.ranges, want)
	}
	if got := readAll(t, ts.s, sha, 0); !bytes.Equal(got, body) {
		t.Errorf("the fetched document has %d bytes that differ from the %d served", len(got), len(body))
	}
	if got, _ := ts.s.Get(sha); got.State != docs.Available || got.Size != int64(len(body)) {
		t.Errorf("record after the transfer: %s, %d bytes; want available, %d", got.State, got.Size, len(body))
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("the partial file outlived the transfer: %v", err)
	}
}

// TestFetchRefusesWrongBytes: bytes that do not hash to the document's
// hash are discarded, not stored.
func TestFetchRefusesWrongBytes(t *testing.T) {
	ts := openTestStore(t, t.TempDir(), 0)
	body, _ := document(100 << 10)
	_, sha := document(100 << 10)
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	defer hs.Close()
	d := docs.Document{SHA256: sha, Type: "INV", Shipment: bkg, Issuer: "issuer", State: docs.Fetching}
	ts.s.Learn(d)
	err := ts.s.Fetch(context.Background(), d, docs.Source{Party: "issuer", Endpoint: hs.URL, Client: hs.Client()})
	if err == nil || !strings.Contains(err.Error(), "discarded") {
		t.Fatalf("fetching bytes of another hash: %v, want them discarded", err)
	}
	if got, _ := ts.s.Get(sha); got.State != docs.Fetching {
		t.Errorf("after wrong bytes the document is %s, want still fetching", got.State)
	}
	if _, _, err := ts.s.Open(sha); linkd.ErrorCode(err) != linkd.EUnavailable {
		t.Errorf("open after wrong bytes: %v, want unavailable", err)
	}
}

// FuzzEventMarkers feeds arbitrary reasons to the parsers of the events
// that carry the access matrix and erasure: they come from peers.
func FuzzEventMarkers(f *testing.F) {
	f.Add("CONF", "linkd:document-access roles=customs,forwarder")
	f.Add("CONF", "linkd:document-access roles=")
	f.Add("VOID", "linkd:erase")
	f.Add("VOID", "linkd:erase data subject request")
	f.Add("CONF", "linkd:document-access roles=,,bogus")
	f.Fuzz(func(t *testing.T, code, reason string) {
		e := linkd.Event{EventType: linkd.Shipment, ShipmentEventTypeCode: code, DocumentTypeCode: "INV", Reason: reason, Origin: "p"}
		m := docs.FoldMatrix([]linkd.Recorded{{Event: e}}, func(string) bool { return true })
		for _, r := range m.Roles("INV") {
			if docs.CheckRoles([]linkd.Role{r}) != nil {
				t.Errorf("reason %q gave an unknown role %q", reason, r)
			}
		}
		if why, ok := docs.IsErasure(&e); ok && code != "VOID" {
			t.Errorf("a %s event read as an erasure (%q)", code, why)
		}
	})
}
