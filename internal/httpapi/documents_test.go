package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/httpapi"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/roster"
	"github.com/linkd-dev/linkd/internal/shred"
	"github.com/linkd-dev/linkd/internal/store"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// withDocuments wires a real documents service into the API, as
// internal/node does: its store and keys in a Pebble of their own, the
// harness's log for its events. limit is the API's JSON body limit.
func withDocuments(t *testing.T, limit int64) setup {
	return setup{api: func(cfg *httpapi.Config) {
		db, err := store.Open(filepath.Join(t.TempDir(), "docs"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		keys, err := shred.Open(db, filepath.Join(t.TempDir(), "keys"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := docs.OpenStore(db, filepath.Join(t.TempDir(), "documents"), keys, docs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		dir, err := peers.Open(db, cfg.Self, nil)
		if err != nil {
			t.Fatal(err)
		}
		logs := partylog.NewLogs(cfg.Log, nil)
		ros := roster.New(cfg.Self, logs, 0)
		ingest := func(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
			if err := ros.Stamp(ctx, events); err != nil {
				return nil, err
			}
			acks, err := cfg.Log.Append(ctx, events)
			if err == nil {
				ros.Learn(events)
			}
			return acks, err
		}
		svc, err := docs.New(docs.Config{Self: cfg.Self, Store: st, Logs: logs, Roster: ros, Ingest: ingest,
			Feed: subscribe.NewFeed(logs), Peers: dir, Cert: tls.Certificate{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		cfg.Logs, cfg.Ingest, cfg.Documents, cfg.MaxBodyBytes = logs, ingest, svc, limit
	}}
}

func docBytes(size int) ([]byte, string) {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n")
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func openShipment(t *testing.T, c *client.Client, ref string) {
	t.Helper()
	e := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "RECE", DocumentTypeCode: "BKG",
		CarrierBookingReference: ref, EventDateTime: linkd.Time{Time: base}}
	if _, err := c.AppendEvents(context.Background(), []linkd.Event{e}); err != nil {
		t.Fatal(err)
	}
}

// TestDocumentUploadBypassesBodyLimit: an upload is a stream with the
// document limit, not a JSON body held to MaxBodyBytes — which still bounds
// JSON bodies; the bytes come back whole and by range.
func TestDocumentUploadBypassesBodyLimit(t *testing.T) {
	h := newHarness(t, withDocuments(t, 4096))
	c := h.client(h.writer)
	openShipment(t, c, "BKG-API")
	body, sha := docBytes(200 << 10)
	d, created, err := c.UploadDocument(context.Background(), bytes.NewReader(body), int64(len(body)),
		client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: docs.Shipment{CarrierBookingReference: "BKG-API"}})
	if err != nil || !created || d.State != docs.Available || d.Size != int64(len(body)) {
		t.Fatalf("upload of %d bytes under a 4 KiB body limit: %+v, created %v, %v", len(body), d, created, err)
	}
	h.request("POST", "/v1/events", h.writer, strings.Repeat(" ", 5000)).wantError(t, http.StatusRequestEntityTooLarge, linkd.ETooLarge)

	r := h.get("/v1/documents/"+sha, h.reader)
	r.wantStatus(t, http.StatusOK)
	if !bytes.Equal(r.body, body) || r.header.Get("Content-Type") != docs.MediaPDF || r.header.Get("ETag") != `"`+sha+`"` {
		t.Errorf("download: %d bytes, Content-Type %q, ETag %q; want the %d uploaded, application/pdf, the hash",
			len(r.body), r.header.Get("Content-Type"), r.header.Get("ETag"), len(body))
	}
	r = h.request("GET", "/v1/documents/"+sha, h.reader, nil, "Range", "bytes=100000-")
	r.wantStatus(t, http.StatusPartialContent)
	if !bytes.Equal(r.body, body[100000:]) {
		t.Errorf("ranged download: %d bytes, want the %d from byte 100000", len(r.body), len(body)-100000)
	}
}

// TestDocumentRoutesNeedTheirPermission: a reader may read documents, not
// upload or attest; the answers are the API's usual errors.
func TestDocumentRoutesNeedTheirPermission(t *testing.T) {
	h := newHarness(t, withDocuments(t, 0))
	openShipment(t, h.client(h.writer), "BKG-PERM")
	body, sha := docBytes(1000)
	path := "/v1/documents/" + sha + "?documentTypeCode=INV&carrierBookingReference=BKG-PERM"
	h.request("PUT", path, h.reader, body, "Content-Type", docs.MediaPDF).wantError(t, http.StatusForbidden, linkd.EForbidden)
	h.request("PUT", path+"&color=blue", h.writer, body, "Content-Type", docs.MediaPDF).wantError(t, http.StatusBadRequest, linkd.EInvalid, "color")
	h.request("PUT", path, h.writer, body, "Content-Type", docs.MediaPDF).wantStatus(t, http.StatusCreated)
	h.request("POST", "/v1/documents/"+sha+"/attestations", h.reader, `{"verdict":"CHECKED"}`).wantError(t, http.StatusForbidden, linkd.EForbidden)
	h.request("POST", "/v1/documents/"+sha+"/attestations", h.writer, `{"verdict":"REJECTED"}`).wantError(t, http.StatusBadRequest, linkd.EInvalid)
	h.get("/v1/documents/"+sha+"/info", h.auditor).wantStatus(t, http.StatusOK)
	h.get("/v1/documents/"+strings.Repeat("0", 64), h.reader).wantError(t, http.StatusNotFound, linkd.ENotFound)
}

// TestDocumentErasedAnswersGone: after its shipment is erased a document's
// bytes answer 410 with an error body, and its record says erased.
func TestDocumentErasedAnswersGone(t *testing.T) {
	h := newHarness(t, withDocuments(t, 0))
	c := h.client(h.admin)
	openShipment(t, c, "BKG-GONE")
	body, sha := docBytes(70 << 10)
	sh := docs.Shipment{CarrierBookingReference: "BKG-GONE"}
	if _, _, err := c.UploadDocument(context.Background(), bytes.NewReader(body), int64(len(body)), client.DocumentUpload{SHA256: sha, Type: "PKL", Shipment: sh}); err != nil {
		t.Fatal(err)
	}
	e, err := c.Erase(context.Background(), sh, "test")
	if err != nil || len(e.Erased) != 1 || e.Erased[0] != sha {
		t.Fatalf("erase: %+v, %v", e, err)
	}
	body410 := h.get("/v1/documents/"+sha, h.reader).wantError(t, http.StatusGone, linkd.ENotFound)
	if !strings.Contains(body410.Error.Message, "was erased") {
		t.Errorf("410 message %q does not say it was erased", body410.Error.Message)
	}
	info, err := c.DocumentInfo(context.Background(), sha)
	if err != nil || info.Document == nil || info.Document.State != docs.Erased || len(info.Attestations) != 1 || !info.Attestations[0].Verified {
		t.Errorf("info after erasure: %+v, %v; want the erased record and its verified ISSUED attestation", info, err)
	}
}

// TestDocumentsAbsent: a node without documents answers their routes 404.
func TestDocumentsAbsent(t *testing.T) {
	h := newHarness(t)
	h.get("/v1/documents", h.reader).wantError(t, http.StatusNotFound, linkd.ENotFound)
}
