package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/faultnet"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/tlog"
)

// These tests run real nodes linked over mutual TLS on loopback and share
// trade documents between them. They judge by what users and peers see
// (the API's answers, a peer's request refused) and by what is on each
// node's disk: every file of its directory, Pebble's and the documents'.

var (
	docForwarder = linkd.Party{ID: "eu-forwarder", Name: "EU Forwarder", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"DE", "EU"}}
	docCustoms   = linkd.Party{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"NL", "EU"}}
	docConsignee = linkd.Party{ID: "eu-consignee", Name: "EU Consignee", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"BE", "EU"}}
	docTerminal  = linkd.Party{ID: "hh-terminal", Name: "Hamburg Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"DE", "EU"}}
	docShipper   = linkd.Party{ID: "vn-shipper", Name: "VN Shipper", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"VN", "ASEAN"}}
)

// docNode is a running node of a document test with its config.
type docNode struct {
	*member
	cfg node.Config
}

// startDoc inits and serves a node for p, with an admin client. It does
// what start does, for tests and benchmarks alike.
func startDoc(tb testing.TB, p linkd.Party, configure ...func(*node.Config)) *docNode {
	tb.Helper()
	bg := context.Background()
	res, err := node.Init(bg, node.InitOptions{Dir: filepath.Join(tb.TempDir(), p.ID), Party: p, Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatalf("init %s: %v", p.ID, err)
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range configure {
		c(&cfg)
	}
	n, err := node.Open(cfg, nil)
	if err != nil {
		tb.Fatalf("open %s: %v", p.ID, err)
	}
	sctx, cancel := context.WithCancel(bg)
	r := &running{n: n, url: "https://" + n.Addr(), cancel: cancel, served: make(chan error, 1)}
	go func() { r.served <- n.Serve(sctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-r.served; err != nil {
			tb.Errorf("serve %s: %v", p.ID, err)
		}
		if err := n.Close(); err != nil {
			tb.Errorf("close %s: %v", p.ID, err)
		}
	})
	c, err := client.New(r.url, client.Options{Token: res.AdminToken, CAFile: cfg.Path(cfg.Keys.TLSCert), Timeout: 5 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	pem, err := os.ReadFile(cfg.Path(cfg.Keys.TLSCert))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	m := &member{party: p, r: r, c: c, http: httpClient(pool, true), token: res.AdminToken}
	tb.Cleanup(m.http.CloseIdleConnections)
	if m.card, err = m.c.Card(bg); err != nil {
		tb.Fatalf("%s's card: %v", p.ID, err)
	}
	return &docNode{member: m, cfg: cfg}
}

// lane starts a node per party and links every pair.
func lane(t *testing.T, parties ...linkd.Party) []*docNode {
	t.Helper()
	return laneWith(t, nil, parties...)
}

// laneWith is lane with each node's config changed by configure.
func laneWith(t *testing.T, configure func(*node.Config), parties ...linkd.Party) []*docNode {
	t.Helper()
	ns := make([]*docNode, len(parties))
	for i, p := range parties {
		if configure != nil {
			ns[i] = startDoc(t, p, configure)
		} else {
			ns[i] = startDoc(t, p)
		}
	}
	for i := range ns {
		for j := i + 1; j < len(ns); j++ {
			pair(t, ns[i].member, ns[j].member)
		}
	}
	return ns
}

// pdf returns a PDF-shaped document of about size bytes that carries
// canary once, and its hash. The filler is random, so nothing compresses
// it and no two documents share bytes.
func pdf(t *testing.T, canary string, size int) ([]byte, string) {
	t.Helper()
	filler := make([]byte, size)
	rand.Read(filler)
	b := fmt.Appendf(nil, "%%PDF-1.7\n%% %s\n", canary)
	b = append(b, filler...)
	b = append(b, "\n%%EOF\n"...)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func canary(t *testing.T) string {
	var b [12]byte
	rand.Read(b[:])
	return "CANARY-" + hex.EncodeToString(b[:])
}

func (n *docNode) upload(t *testing.T, b []byte, sha string, u client.DocumentUpload) docs.Document {
	t.Helper()
	u.SHA256 = sha
	d, created, err := n.c.UploadDocument(context.Background(), bytes.NewReader(b), int64(len(b)), u)
	if err != nil || !created {
		t.Fatalf("%s uploads %s: created %v, %v", n.party.ID, u.Type, created, err)
	}
	return d
}

// state is the state of document sha on n, "" if n shows none.
func (n *docNode) state(t *testing.T, sha string) docs.State {
	t.Helper()
	info, err := n.c.DocumentInfo(context.Background(), sha)
	if linkd.ErrorCode(err) == linkd.ENotFound || err == nil && info.Document == nil {
		return ""
	}
	if err != nil {
		t.Fatalf("%s's info of %s: %v", n.party.ID, sha, err)
	}
	return info.Document.State
}

func (n *docNode) download(t *testing.T, sha string) ([]byte, error) {
	t.Helper()
	s, err := n.c.OpenDocument(context.Background(), sha, 0)
	if err != nil {
		return nil, err
	}
	defer s.Body.Close()
	return io.ReadAll(s.Body)
}

// peerGet asks issuer's peer endpoint for sha with n's certificate, as n's
// node would, and returns the status.
func (n *docNode) peerGet(t *testing.T, issuer *docNode, sha string) int {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(n.cfg.Path(n.cfg.Keys.TLSCert), n.cfg.Path(n.cfg.Keys.TLSKey))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: peers.ClientTLS(issuer.card, cert)}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(issuer.card.Endpoint + docs.PeerPath + sha)
	if err != nil {
		t.Fatalf("%s asks %s's peer endpoint: %v", n.party.ID, issuer.party.ID, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// scan reports which of needles occur in any file of n's directory (its
// config, keys, Pebble store, documents), in a file's content or its name.
func (n *docNode) scan(t *testing.T, needles map[string][]byte) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.WalkDir(n.cfg.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for name, nd := range needles {
			if bytes.Contains([]byte(d.Name()), nd) {
				found[name] = path
			}
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, nd := range needles {
			if bytes.Contains(b, nd) {
				found[name] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", n.party.ID, err)
	}
	return found
}

// TestDocumentsReachOnlyEntitledNodes shares a commercial invoice, bound to
// the EU, on a shipment of five parties: the customs authority and the
// consignee are entitled and get it; the terminal (the matrix keeps
// invoices from terminals) and the Vietnamese shipper (entitled by role,
// outside the EU) never do — not by replication, not by asking the
// issuer's peer endpoint themselves — and no byte of it, nor its hash, is
// anywhere on their disks. Entitled parties attest it; the others cannot.
func TestDocumentsReachOnlyEntitledNodes(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	ns := lane(t, docForwarder, docCustoms, docConsignee, docTerminal, docShipper)
	fwd, cus, con, ter, shp := ns[0], ns[1], ns[2], ns[3], ns[4]
	fwd.record(t, booking("BKG-DOC", docForwarder, docCustoms, docConsignee, docTerminal, docShipper))
	for _, n := range ns[1:] {
		fwd.synced(t, n.member)
	}

	secret := canary(t)
	b, sha := pdf(t, secret, 300<<10)
	d := fwd.upload(t, b, sha, client.DocumentUpload{Type: "INV", DocumentID: "INV-2026-0042", ContentType: docs.MediaPDF,
		Shipment: docs.Shipment{CarrierBookingReference: "BKG-DOC"}, Residency: []string{"EU"}})
	if want := []string{cus.party.ID, con.party.ID, fwd.party.ID}; !slices.Equal(d.Visibility, sortedCopy(want)) {
		t.Errorf("the invoice goes to %v, want %v (the matrix's roles, within the EU)", d.Visibility, sortedCopy(want))
	}
	for _, n := range []*docNode{cus, con} {
		eventually(t, n.party.ID+" has the invoice", func() bool { return n.state(t, sha) == docs.Available })
		got, err := n.download(t, sha)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s downloads the invoice: %d bytes, %v; want the %d uploaded", n.party.ID, len(got), err, len(b))
		}
	}
	for _, n := range []*docNode{ter, shp} {
		fwd.synced(t, n.member) // the ISSUED event has reached them as a commitment
	}

	// The two outsiders see nothing, and the issuer answers their direct
	// requests as if the invoice did not exist; an entitled peer's request
	// is served.
	for _, n := range []*docNode{ter, shp} {
		if st := n.state(t, sha); st != "" {
			t.Errorf("%s shows the invoice (state %s)", n.party.ID, st)
		}
		if list, err := n.c.Documents(bg, docs.Shipment{CarrierBookingReference: "BKG-DOC"}); err != nil || len(list) != 0 {
			t.Errorf("%s lists %d documents of BKG-DOC (%v), want none", n.party.ID, len(list), err)
		}
		if _, err := n.download(t, sha); linkd.ErrorCode(err) != linkd.ENotFound {
			t.Errorf("%s downloads the invoice: %v, want not_found", n.party.ID, err)
		}
		if got := n.peerGet(t, fwd, sha); got != http.StatusNotFound {
			t.Errorf("%s asks the forwarder's node for the invoice itself: %d, want 404", n.party.ID, got)
		}
		_, err := n.c.Attest(bg, sha, "CHECKED", "")
		if linkd.ErrorCode(err) != linkd.ENotFound || !strings.Contains(err.Error(), "no document with sha256 "+sha) {
			t.Errorf("%s attests the invoice: %v, want not_found naming the hash", n.party.ID, err)
		}
	}
	if got := cus.peerGet(t, fwd, sha); got != http.StatusOK {
		t.Errorf("customs asks the forwarder's node for the invoice: %d, want 200", got)
	}

	// The entitled parties attest; the issuer sees every attestation,
	// each proved against its origin's signed checkpoint.
	if _, err := cus.c.Attest(bg, sha, "CHECKED", ""); err != nil {
		t.Fatalf("customs checks the invoice: %v", err)
	}
	if _, err := con.c.Attest(bg, sha, "REJECTED", "the unit price differs from the purchase order"); err != nil {
		t.Fatalf("the consignee rejects the invoice: %v", err)
	}
	eventually(t, "the forwarder holds all three attestations", func() bool {
		info, err := fwd.c.DocumentInfo(bg, sha)
		return err == nil && len(info.Attestations) == 3
	})
	info, _ := fwd.c.DocumentInfo(bg, sha)
	var got []string
	for _, a := range info.Attestations {
		got = append(got, a.Origin+" "+a.Verdict)
		if !a.Verified {
			t.Errorf("the attestation %s by %s does not verify on the forwarder's node", a.EventID, a.Origin)
		}
	}
	slices.Sort(got)
	if want := []string{"eu-consignee REJECTED", "eu-customs CHECKED", "eu-forwarder ISSUED"}; !slices.Equal(got, want) {
		t.Errorf("the forwarder shows attestations %v, want %v", got, want)
	}

	// The canary scan: the invoice's text is on no disk in plaintext (it
	// is encrypted at rest everywhere), and its hash — in any record,
	// event, index or file name — only on the nodes entitled to it.
	raw, _ := hex.DecodeString(sha)
	needles := map[string][]byte{"plaintext": []byte(secret), "hash": []byte(sha), "raw hash": raw}
	for _, n := range ns {
		found := n.scan(t, needles)
		if p, ok := found["plaintext"]; ok {
			t.Errorf("%s: the invoice's plaintext is on disk in %s", n.party.ID, p)
		}
		entitled := n == fwd || n == cus || n == con
		if _, ok := found["hash"]; entitled && !ok {
			t.Errorf("%s: the scan finds no trace of the invoice it holds; the scan is broken", n.party.ID)
		}
		for _, k := range []string{"hash", "raw hash"} {
			if p, ok := found[k]; ok && !entitled {
				t.Errorf("%s, not entitled: the invoice's %s is on disk in %s", n.party.ID, k, p)
			}
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestDocumentUploadRefusesBadInput sends what a careless or hostile client
// might and checks that each is refused with a reason and that nothing of
// it is stored: the node lists no document afterwards and its documents
// directory holds no file.
func TestDocumentUploadRefusesBadInput(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	const limit = 1 << 20 // limits.max_document_bytes
	ns := laneWith(t, func(c *node.Config) { c.Limits.MaxDocumentBytes = limit }, docForwarder, docCustoms)
	fwd := ns[0]
	fwd.record(t, booking("BKG-BAD", docForwarder, docCustoms))
	good, sha := pdf(t, canary(t), 100<<10)
	sh := docs.Shipment{CarrierBookingReference: "BKG-BAD"}
	other := sha256.Sum256([]byte("another file"))

	cases := []struct {
		name   string
		body   io.Reader
		size   int64
		u      client.DocumentUpload
		code   string
		reason string
	}{
		{"unknown type", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "XYZ", Shipment: sh}, linkd.EInvalid, `unknown document type "XYZ"`},
		{"no shipment", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV"}, linkd.EInvalid, "name the document's shipment"},
		{"unknown shipment", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: docs.Shipment{CarrierBookingReference: "BKG-NONE"}}, linkd.EInvalid, "knows no shipment"},
		{"hash mismatch", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: hex.EncodeToString(other[:]), Type: "INV", Shipment: sh}, linkd.EInvalid, "hash to sha256 " + sha},
		{"not a hash", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: "not-a-hash", Type: "INV", Shipment: sh}, linkd.EInvalid, "64 lowercase hex digits"},
		{"oversized", io.LimitReader(zeros{}, limit+1), limit + 1, client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh}, linkd.ETooLarge, "over this node's limit"},
		{"oversized, length not declared", io.MultiReader(bytes.NewReader(good), io.LimitReader(zeros{}, limit)), -1, client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh}, linkd.ETooLarge, "over the limit"},
		{"not PDF, JSON or XML", strings.NewReader("GIF89a not a document"), 21, client.DocumentUpload{SHA256: hashOf("GIF89a not a document"), Type: "INV", Shipment: sh}, linkd.EInvalid, "not a PDF, JSON or XML"},
		{"type declared wrong", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh, ContentType: "application/xml"}, linkd.EInvalid, "bytes are application/pdf"},
		{"visibility outside the matrix", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh, Visibility: []string{"hh-terminal"}}, linkd.EInvalid, "not on the party list"},
		{"residency excludes the issuer", bytes.NewReader(good), int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh, Residency: []string{"VN"}}, linkd.EInvalid, "excludes this node's jurisdiction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := fwd.c.UploadDocument(bg, c.body, c.size, c.u)
			if linkd.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("upload: %v; want %s saying %q", err, c.code, c.reason)
			}
		})
	}

	// A truncated upload: the client promises more bytes than it sends and
	// hangs up.
	t.Run("truncated", func(t *testing.T) {
		_, _, err := fwd.c.UploadDocument(bg, &cutReader{r: bytes.NewReader(good), after: 70 << 10}, int64(len(good)), client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh})
		if err == nil {
			t.Fatal("a truncated upload was accepted")
		}
	})
	// An attestation of a document the party cannot see, by the API and
	// by a raw event.
	t.Run("attestation of an invisible document", func(t *testing.T) {
		_, err := fwd.c.Attest(bg, hex.EncodeToString(other[:]), "ACCEPTED", "")
		if linkd.ErrorCode(err) != linkd.ENotFound {
			t.Errorf("attest: %v, want not_found", err)
		}
		e := booking("BKG-BAD")
		e.DocumentTypeCode = "INV"
		e.Attestation = &linkd.Attestation{DocumentSHA256: hex.EncodeToString(other[:]), Verdict: "ACCEPTED"}
		_, err = fwd.c.AppendEvents(bg, []linkd.Event{e})
		if linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "attests only documents it holds") {
			t.Errorf("a raw attestation event: %v, want invalid naming the reason", err)
		}
	})

	list, err := fwd.c.Documents(bg, docs.Shipment{})
	if err != nil || len(list) != 0 {
		t.Errorf("after the refusals the node lists %d documents (%v), want none", len(list), err)
	}
	// A handler whose client hung up is still reading when the client
	// sees its error; it removes what it staged once it sees the end.
	var files []string
	if !poll(func() bool {
		files = nil
		filepath.WalkDir(filepath.Join(fwd.cfg.Path(fwd.cfg.Data), "documents"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		return len(files) == 0
	}) {
		t.Errorf("after the refusals the documents directory holds %v, want nothing half-stored", files)
	}

	// The same upload, done right, is stored, and again is a no-op. A
	// refused upload's handler may still hold the document's claim for a
	// moment after it removed its files: the node then answers a conflict
	// that says to retry, and a client retries.
	u := client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh}
	var created bool
	poll(func() bool {
		_, created, err = fwd.c.UploadDocument(bg, bytes.NewReader(good), int64(len(good)), u)
		return linkd.ErrorCode(err) != linkd.EConflict
	})
	if err != nil || !created {
		t.Fatalf("the good upload: created %v, %v", created, err)
	}
	if _, created, err := fwd.c.UploadDocument(bg, bytes.NewReader(good), int64(len(good)), u); err != nil || created {
		t.Errorf("the good upload again: created %v, %v; want the record, nothing new", created, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// cutReader reads after bytes of r, then fails like a client that dies.
type cutReader struct {
	r     io.Reader
	after int
	n     int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n >= c.after {
		return 0, fmt.Errorf("client died")
	}
	p = p[:min(len(p), c.after-c.n)]
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestDocumentTransferResumes cuts the connection between two nodes while
// a document is on its way; the receiving node resumes the transfer where
// it stopped instead of starting again, and the document arrives whole.
func TestDocumentTransferResumes(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	fwd, cus := startDoc(t, docForwarder), startDoc(t, docCustoms)
	// Customs reaches the forwarder through a proxy that can cut the line;
	// the pinned certificate makes TLS end to end.
	proxy, err := faultnet.New(strings.TrimPrefix(fwd.card.Endpoint, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	viaProxy := fwd.card
	viaProxy.Endpoint = "https://" + proxy.Addr()
	if _, _, err := cus.c.AddPeer(bg, viaProxy); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fwd.c.AddPeer(bg, cus.card); err != nil {
		t.Fatal(err)
	}
	fwd.record(t, booking("BKG-CUT", docForwarder, docCustoms))
	fwd.synced(t, cus.member)

	const size = 4 << 20
	b, sha := pdf(t, canary(t), size)
	proxy.SetBandwidth(4 << 20) // a second for the whole document
	before := proxy.BytesDown()
	fwd.upload(t, b, sha, client.DocumentUpload{Type: "INV", Shipment: docs.Shipment{CarrierBookingReference: "BKG-CUT"}})
	eventually(t, "the transfer is well under way", func() bool { return proxy.BytesDown()-before > size*6/10 })
	proxy.Partition()
	if cutAt := proxy.BytesDown() - before; cutAt >= size {
		t.Fatalf("%d bytes had crossed before the cut, the whole document: the test proves nothing", cutAt)
	}
	proxy.Heal()
	eventually(t, "customs has the document", func() bool { return cus.state(t, sha) == docs.Available })
	got, err := cus.download(t, sha)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("customs downloads the document: %d bytes, %v; want the %d uploaded", len(got), err, len(b))
	}
	// Starting again would have sent more than 1.6 times the document;
	// resuming sends it about once, plus TLS and the link's own traffic.
	if sent := proxy.BytesDown() - before; sent > size*14/10 {
		t.Errorf("%d bytes crossed the line for a document of %d: the transfer started over instead of resuming", sent, size)
	}
}

// TestDocumentErasureShredsEverywhere erases a shipment whose invoice and
// packing list three nodes hold: every node destroys its key and the
// ciphertext, so neither the documents' plaintext nor the keys that could
// decrypt them are anywhere on any node's disk; downloads answer 410; and
// every attestation still verifies, by each node and offline.
func TestDocumentErasureShredsEverywhere(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	ns := lane(t, docForwarder, docCustoms, docConsignee)
	fwd, cus, con := ns[0], ns[1], ns[2]
	fwd.record(t, booking("BKG-ERASE", docForwarder, docCustoms, docConsignee))
	sh := docs.Shipment{CarrierBookingReference: "BKG-ERASE"}
	secrets := map[string][]byte{}
	// An event of the shipment whose payload carries a canary; every node
	// holds it sealed under its own key of the shipment.
	held := booking("BKG-ERASE")
	held.ShipmentEventTypeCode, held.DocumentTypeCode, held.Reason = "HOLD", "BKG", canary(t)
	secrets["the payload of a shipment event"] = []byte(held.Reason)
	res, err := fwd.c.AppendEvents(bg, []linkd.Event{held})
	if err != nil {
		t.Fatal(err)
	}
	heldAck := res.Acks[0]
	for _, n := range ns {
		eventually(t, n.party.ID+" holds the event", func() bool { return slices.Contains(n.timeline(t, "BKG-ERASE"), heldAck.EventID) })
	}
	var shas []string
	for _, typ := range []string{"INV", "PKL"} {
		secret := canary(t)
		b, sha := pdf(t, secret, 200<<10)
		fwd.upload(t, b, sha, client.DocumentUpload{Type: typ, Shipment: sh})
		secrets["plaintext of "+typ] = []byte(secret)
		shas = append(shas, sha)
	}
	for _, n := range ns {
		for _, sha := range shas {
			eventually(t, n.party.ID+" has "+sha, func() bool { return n.state(t, sha) == docs.Available })
		}
	}
	var attested []string
	for _, sha := range shas {
		a, err := cus.c.Attest(bg, sha, "ACCEPTED", "")
		if err != nil {
			t.Fatal(err)
		}
		attested = append(attested, a.Ack.EventID)
	}
	// Each node's data key of the shipment, read before it is destroyed.
	needles := map[string][]byte{}
	for k, v := range secrets {
		needles[k] = v
	}
	for _, n := range ns {
		key, ok := n.r.n.Documents().Store().Keys().KeyMaterial(sh.KeyID())
		if !ok || len(key) != 32 {
			t.Fatalf("%s has no data key of BKG-ERASE", n.party.ID)
		}
		needles[n.party.ID+"'s data key"] = key
	}

	// The consignee, a party on the shipment, erases it.
	er, err := con.c.Erase(bg, sh, "data subject request 2026-117")
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	if len(er.Erased) != 2 {
		t.Errorf("the consignee's node erased %v, want both documents", er.Erased)
	}
	for _, n := range ns {
		for _, sha := range shas {
			eventually(t, n.party.ID+" has erased "+sha, func() bool { return n.state(t, sha) == docs.Erased })
			_, err := n.download(t, sha)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusGone {
				t.Errorf("%s downloads an erased document: %v, want 410 Gone", n.party.ID, err)
			}
		}
		// The erasure is itself recorded, and reached every node.
		if !slices.Contains(n.timeline(t, "BKG-ERASE"), er.EventID) {
			t.Errorf("%s's timeline of BKG-ERASE lacks the erasure event %s", n.party.ID, er.EventID)
		}
	}

	// The shipment's events are gone with the documents: not in the
	// timeline, not to be read, not to be sent on; but the erasure is there.
	for _, n := range ns {
		if slices.Contains(n.timeline(t, "BKG-ERASE"), heldAck.EventID) {
			t.Errorf("%s's timeline of BKG-ERASE still shows the erased event", n.party.ID)
		}
		if _, err := n.c.Event(bg, heldAck.EventID); linkd.ErrorCode(err) != linkd.ENotFound || !strings.Contains(err.Error(), "erased") {
			t.Errorf("%s reads the erased event: %v, want not found, saying it was erased", n.party.ID, err)
		}
	}
	// The origin's tree still proves the erased event's commitment.
	cp, err := fwd.c.Checkpoint(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := fwd.c.InclusionProof(bg, heldAck.LogIndex, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := base64.StdEncoding.DecodeString(heldAck.LeafHash)
	path := make([]tlog.Hash, len(proof.Hashes))
	for i, h := range proof.Hashes {
		path[i] = tlog.Hash(h)
	}
	if err := tlog.VerifyInclusion(tlog.Hash(leaf), heldAck.LogIndex, cp.Size, path, tlog.Hash(cp.RootHash)); err != nil {
		t.Errorf("the erased event's inclusion proof after erasure: %v", err)
	}
	// No new event of the shipment is taken.
	late := booking("BKG-ERASE")
	if _, err := fwd.c.AppendEvents(bg, []linkd.Event{late}); linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "erased") {
		t.Errorf("recording an event of the erased shipment: %v, want a conflict saying it was erased", err)
	}

	// Nothing that could give the documents or events back remains on any disk.
	for _, n := range ns {
		for what, p := range n.scan(t, needles) {
			t.Errorf("%s: after erasure, %s is still on disk in %s", n.party.ID, what, p)
		}
	}

	// Every attestation still verifies: on every node, and offline with
	// the parties' log keys.
	keys := map[string]string{}
	for _, n := range ns {
		keys[n.party.ID] = n.card.LogKey
	}
	for _, n := range ns {
		for _, id := range attested {
			var v node.Verification
			n.get(t, "/v1/events/"+id+"/verification", &v)
			if !v.Verified {
				t.Errorf("%s: the attestation %s no longer verifies after erasure", n.party.ID, id)
			}
		}
		for _, sha := range shas {
			b, err := n.c.DocumentBundle(bg, sha)
			if err != nil {
				t.Fatalf("%s's bundle of %s: %v", n.party.ID, sha, err)
			}
			if rep := docs.Verify(sha, &b, keys); rep.Outcome != docs.Genuine || len(rep.Attestations) != 2 {
				t.Errorf("%s's bundle of %s after erasure: %s (%s), %d attestations; want genuine with 2", n.party.ID, sha, rep.Outcome, rep.Summary, len(rep.Attestations))
			}
		}
	}
	// And the shipment takes no new document.
	b, sha := pdf(t, canary(t), 1000)
	_, _, err = fwd.c.UploadDocument(bg, bytes.NewReader(b), int64(len(b)), client.DocumentUpload{SHA256: sha, Type: "COO", Shipment: sh})
	if linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "was erased") {
		t.Errorf("uploading to an erased shipment: %v, want a conflict saying it was erased", err)
	}
}
