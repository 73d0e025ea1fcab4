package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/partylog"
)

// The document benchmarks run real nodes on loopback, as the tests do:
//
//	go test ./internal/node -run '^$' -bench 'Document' -benchtime 5x
//
// Upload is the issuer's API taking a document (stream, hash, encrypt,
// fsync, rename, ISSUED event durable); replication is an entitled peer's
// node holding it (the ISSUED event replicated, the bytes fetched over mutual
// TLS, hashed, encrypted and synced), timed from the upload's answer; the
// attestation benchmark times three parties attesting a new document after
// it is shared, until the issuer holds all three verified attestations.

func randomPDF(size int) ([]byte, string) {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n")
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

var docSizes = []struct {
	name string
	size int
}{{"1MiB", 1 << 20}, {"50MiB", 50 << 20}}

func BenchmarkDocumentUpload(b *testing.B) {
	for _, sz := range docSizes {
		b.Run(sz.name, func(b *testing.B) {
			ns := benchLane(b, docForwarder, docCustoms)
			fwd := ns[0]
			b.SetBytes(int64(sz.size))
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				body, sha := randomPDF(sz.size)
				b.StartTimer()
				_, created, err := fwd.c.UploadDocument(context.Background(), bytes.NewReader(body), int64(len(body)),
					client.DocumentUpload{SHA256: sha, Type: "PKL", Shipment: docs.Shipment{CarrierBookingReference: "BKG-BENCH"}})
				if err != nil || !created {
					b.Fatalf("upload: %v", err)
				}
			}
		})
	}
}

func BenchmarkDocumentReplication(b *testing.B) {
	for _, sz := range docSizes {
		b.Run(sz.name, func(b *testing.B) {
			ns := benchLane(b, docForwarder, docCustoms)
			fwd, cus := ns[0], ns[1]
			b.SetBytes(int64(sz.size))
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				body, sha := randomPDF(sz.size)
				_, _, err := fwd.c.UploadDocument(ctx, bytes.NewReader(body), int64(len(body)),
					client.DocumentUpload{SHA256: sha, Type: "PKL", Shipment: docs.Shipment{CarrierBookingReference: "BKG-BENCH"}})
				if err != nil {
					b.Fatalf("upload: %v", err)
				}
				b.StartTimer()
				d, err := cus.r.n.Documents().Await(ctx, sha)
				if err != nil || d.State != docs.Available {
					b.Fatalf("customs never had the document: %v (%s)", err, d.State)
				}
			}
		})
	}
}

// BenchmarkDocumentAttestation: the forwarder shares a 64 KiB invoice with
// customs, the consignee and the shipper; each node, as soon as it holds
// the document, attests it; the time is from the upload's answer until the
// forwarder's node has verified and stored all three attestations.
func BenchmarkDocumentAttestation(b *testing.B) {
	shipper := linkd.Party{ID: "eu-shipper", Name: "EU Shipper", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"FR", "EU"}}
	ns := benchLane(b, docForwarder, docCustoms, docConsignee, shipper)
	fwd, attesters := ns[0], ns[1:]
	ctx := context.Background()

	var mu sync.Mutex
	var want string
	var got int
	done := make(chan struct{}, 1)
	fwd.r.n.OnReplicated(func(origin string, from int64, res partylog.ApplyResult) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range res.Events {
			if a := e.Attestation; a != nil && a.DocumentSHA256 == want && a.Verdict != "ISSUED" {
				if got++; got == len(attesters) {
					done <- struct{}{}
				}
			}
		}
	})
	var lat []time.Duration
	sh := docs.Shipment{CarrierBookingReference: "BKG-BENCH"}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if i%10 == 9 {
			// Ten documents a shipment: deciding who may see a document
			// reads its shipment's events.
			sh.CarrierBookingReference = fmt.Sprintf("BKG-BENCH-%d", i)
			openShipment(b, ns, sh.CarrierBookingReference, docForwarder, docCustoms, docConsignee, shipper)
		}
		body, sha := randomPDF(64 << 10)
		mu.Lock()
		want, got = sha, 0
		mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan error, len(attesters))
		for _, n := range attesters {
			wg.Go(func() {
				if _, err := n.r.n.Documents().Await(ctx, sha); err != nil {
					errs <- err
					return
				}
				if _, err := n.c.Attest(ctx, sha, "ACCEPTED", ""); err != nil {
					errs <- fmt.Errorf("%s attests: %w", n.party.ID, err)
				}
			})
		}
		b.StartTimer()
		start := time.Now()
		if _, _, err := fwd.c.UploadDocument(ctx, bytes.NewReader(body), int64(len(body)),
			client.DocumentUpload{SHA256: sha, Type: "INV", Shipment: sh}); err != nil {
			b.Fatalf("upload: %v", err)
		}
		<-done
		lat = append(lat, time.Since(start))
		b.StopTimer()
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

// benchLane starts linked nodes of the parties and opens BKG-BENCH with
// the first party naming them all.
func benchLane(b *testing.B, parties ...linkd.Party) []*docNode {
	b.Helper()
	ns := make([]*docNode, len(parties))
	for i, p := range parties {
		ns[i] = startDoc(b, p)
	}
	for i := range ns {
		for j := i + 1; j < len(ns); j++ {
			for _, pr := range [][2]*docNode{{ns[i], ns[j]}, {ns[j], ns[i]}} {
				if _, _, err := pr[0].c.AddPeer(context.Background(), pr[1].card); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	openShipment(b, ns, "BKG-BENCH", parties...)
	return ns
}

// openShipment has the first node record a booking of ref naming parties
// and waits until every node holds it.
func openShipment(b *testing.B, ns []*docNode, ref string, parties ...linkd.Party) {
	b.Helper()
	if _, err := ns[0].c.AppendEvents(context.Background(), []linkd.Event{booking(ref, parties...)}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range ns[1:] {
		for {
			if v, err := n.c.Shipment(context.Background(), ref); err == nil && len(v.Timeline) > 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s never received booking %s", n.party.ID, ref)
			}
			time.Sleep(time.Millisecond) // waiting for setup, not measuring
		}
	}
}
