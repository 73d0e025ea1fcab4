package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/peers"
)

func newBenchDocsCmd() *cobra.Command {
	var (
		sizesFlag string
		count     int
		attest    int
		perShip   int
		dir       string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Trade documents: upload and replication throughput, three parties attesting a new document",
		Long: `docs starts real nodes in this process — a forwarder issuing documents, and
customs, a consignee and a shipper entitled to them, each with its own Pebble
store, keys and TLS listener on loopback, linked over mutual TLS — and
measures:

  upload       the issuer's API taking a document: streamed, hashed,
               encrypted, synced, renamed into place, ISSUED event durable;
  replication  from the upload's answer of a packing list until customs'
               node holds it: the ISSUED event replicated, the bytes fetched
               over mutual TLS, hashed, encrypted, synced — while the
               consignee's and the shipper's nodes, entitled too, fetch it
               from the issuer at the same time;
  attestation  from the upload's answer of a new 64 KiB document until the
               issuer's node has verified and stored the attestations of all
               three parties, each of which attests as soon as its node holds
               the document (target: p99 ≤ 100 ms). A new shipment, opened
               with all four parties, takes every --per-shipment documents:
               deciding who may see a document reads its shipment's events.

Documents are random bytes behind a PDF header, so nothing compresses them.`,
		Example: `  linkd bench docs
  linkd bench docs --sizes 1MiB,50MiB --count 10 --attest 500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sizes []int
			for _, s := range strings.Split(sizesFlag, ",") {
				n, err := parseMiB(s)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				sizes = append(sizes, n)
			}
			if count < 1 || attest < 0 {
				return &exitError{exitUsage, errors.New("--count must be at least 1 and --attest at least 0")}
			}
			if perShip < 1 {
				return &exitError{exitUsage, errors.New("--per-shipment must be at least 1")}
			}
			res, err := benchDocs(cmd.Context(), dir, sizes, count, attest, perShip)
			if err != nil {
				return &exitError{exitInternal, err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "trade documents, real nodes on loopback (mutual TLS, Pebble, fsync)\n")
			fmt.Fprintf(out, "%-8s %6s %12s %11s %11s %16s %11s %11s\n", "size", "docs", "upload MB/s", "upload p50", "upload max", "replication MB/s", "repl. p50", "repl. max")
			for _, r := range res.Transfers {
				fmt.Fprintf(out, "%-8s %6d %12.1f %11s %11s %16.1f %11s %11s\n", fmt.Sprintf("%dMiB", r.Size>>20), r.Docs,
					r.UploadMBps, ms(r.Upload.P50), ms(r.Upload.Max), r.ReplicationMBps, ms(r.Replication.P50), ms(r.Replication.Max))
			}
			if a := res.Attestation; a.N > 0 {
				fmt.Fprintf(out, "three parties attest a newly shared 64 KiB document: %d documents, %d per shipment, p50 %s, p99 %s, max %s (target p99 ≤ 100ms)\n",
					a.N, perShip, ms(a.P50), ms(a.P99), ms(a.Max))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&sizesFlag, "sizes", "1MiB,50MiB", "document sizes, comma-separated (1MiB to 100MiB)")
	cmd.Flags().IntVar(&count, "count", 10, "documents uploaded per size (50 MiB and larger: a fifth as many, at least 2)")
	cmd.Flags().IntVar(&attest, "attest", 200, "documents for the attestation run (0 skips it)")
	cmd.Flags().IntVar(&perShip, "per-shipment", 10, "documents per shipment in the attestation run: each attestation reads its shipment's events")
	cmd.Flags().StringVar(&dir, "dir", "", "where the nodes' directories go (default: the system temp dir; removed after)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func parseMiB(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(strings.TrimSuffix(s, "MiB"))
	if err != nil || !strings.HasSuffix(s, "MiB") || n < 1 || n > 100 {
		return 0, fmt.Errorf("size %q: want 1MiB to 100MiB", s)
	}
	return n << 20, nil
}

// DocsBenchResult is what `bench docs` measured.
type DocsBenchResult struct {
	Transfers   []DocsTransfer `json:"transfers"`
	Attestation DocsLatencies  `json:"attestation"`
}

// DocsTransfer is the upload and replication of documents of one size.
type DocsTransfer struct {
	Size            int           `json:"size"`
	Docs            int           `json:"docs"`
	UploadMBps      float64       `json:"uploadMBps"`
	ReplicationMBps float64       `json:"replicationMBps"`
	Upload          DocsLatencies `json:"upload"`
	Replication     DocsLatencies `json:"replication"`
}

// DocsLatencies summarises durations.
type DocsLatencies struct {
	N             int           `json:"n"`
	P50, P99, Max time.Duration `json:"-"`
	P50ms         float64       `json:"p50ms"`
	P99ms         float64       `json:"p99ms"`
	MaxMs         float64       `json:"maxMs"`
}

func summarize(d []time.Duration) DocsLatencies {
	if len(d) == 0 {
		return DocsLatencies{}
	}
	slices.Sort(d)
	l := DocsLatencies{N: len(d), P50: d[len(d)/2], P99: d[min(len(d)-1, len(d)*99/100)], Max: d[len(d)-1]}
	l.P50ms, l.P99ms, l.MaxMs = msf(l.P50), msf(l.P99), msf(l.Max)
	return l
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchNode is one node of the benchmark, served in this process.
type benchNode struct {
	party  linkd.Party
	n      *node.Node
	c      *client.Client
	card   peers.Peer
	cancel context.CancelFunc
	served chan error
}

func startBenchNode(ctx context.Context, dir string, p linkd.Party) (*benchNode, error) {
	res, err := node.Init(ctx, node.InitOptions{Dir: filepath.Join(dir, p.ID), Party: p, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		return nil, err
	}
	n, err := node.Open(cfg, nil)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	b := &benchNode{party: p, n: n, cancel: cancel, served: make(chan error, 1)}
	go func() { b.served <- n.Serve(sctx) }()
	if b.c, err = client.New("https://"+n.Addr(), client.Options{Token: res.AdminToken, CAFile: cfg.Path(cfg.Keys.TLSCert), Timeout: 10 * time.Minute}); err == nil {
		b.card, err = b.c.Card(ctx)
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *benchNode) close() {
	b.cancel()
	<-b.served
	b.n.Close()
}

// randomDocument is size random bytes behind a PDF header, and its hash.
func randomDocument(size int) ([]byte, string) {
	body := make([]byte, size)
	rand.Read(body)
	copy(body, "%PDF-1.7\n")
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:])
}

func benchDocs(ctx context.Context, dir string, sizes []int, count, attest, perShip int) (DocsBenchResult, error) {
	var res DocsBenchResult
	if dir == "" {
		d, err := os.MkdirTemp("", "linkd-bench-docs-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cast := []linkd.Party{
		{ID: "eu-forwarder", Name: "EU Forwarder", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"DE", "EU"}},
		{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"NL", "EU"}},
		{ID: "eu-consignee", Name: "EU Consignee", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"BE", "EU"}},
		{ID: "eu-shipper", Name: "EU Shipper", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"FR", "EU"}},
	}
	var ns []*benchNode
	defer func() {
		for _, n := range ns {
			n.close()
		}
	}()
	for _, p := range cast {
		n, err := startBenchNode(ctx, dir, p)
		if err != nil {
			return res, err
		}
		ns = append(ns, n)
	}
	for i := range ns {
		for j := range ns {
			if i != j {
				if _, _, err := ns[i].c.AddPeer(ctx, ns[j].card); err != nil {
					return res, err
				}
			}
		}
	}
	fwd, cus := ns[0], ns[1]
	// open records a booking naming every party and waits until each
	// node holds it.
	open := func(ref string) error {
		book := linkd.Event{EventType: linkd.Shipment, EventClassifierCode: "ACT", ShipmentEventTypeCode: "RECE", DocumentTypeCode: "BKG",
			CarrierBookingReference: ref, EventDateTime: linkd.Time{Time: time.Now().UTC()}}
		for _, p := range cast {
			book.Parties = append(book.Parties, linkd.ShipmentParty{Party: p.ID, Role: p.Roles[0]})
		}
		if _, err := fwd.c.AppendEvents(ctx, []linkd.Event{book}); err != nil {
			return err
		}
		for _, n := range ns[1:] {
			if err := waitFor(ctx, func() bool { v, err := n.c.Shipment(ctx, ref); return err == nil && len(v.Timeline) > 0 }); err != nil {
				return fmt.Errorf("%s never received booking %s: %w", n.party.ID, ref, err)
			}
		}
		return nil
	}
	sh := docs.Shipment{CarrierBookingReference: "BKG-BENCH-DOCS"}
	if err := open(sh.CarrierBookingReference); err != nil {
		return res, err
	}
	upload := func(body []byte, sha, typ string) (time.Duration, error) {
		start := time.Now()
		_, _, err := fwd.c.UploadDocument(ctx, bytes.NewReader(body), int64(len(body)), client.DocumentUpload{SHA256: sha, Type: typ, Shipment: sh})
		return time.Since(start), err
	}

	for _, size := range sizes {
		n := count
		if size >= 50<<20 {
			n = max(count/5, 2)
		}
		var up, repl []time.Duration
		var upTotal, replTotal time.Duration
		for range n {
			body, sha := randomDocument(size)
			d, err := upload(body, sha, "PKL")
			if err != nil {
				return res, err
			}
			start := time.Now()
			if _, err := cus.n.Documents().Await(ctx, sha); err != nil {
				return res, err
			}
			r := time.Since(start)
			up, repl = append(up, d), append(repl, r)
			upTotal += d
			replTotal += r
		}
		mb := float64(size*n) / 1e6
		res.Transfers = append(res.Transfers, DocsTransfer{Size: size, Docs: n, Upload: summarize(up), Replication: summarize(repl),
			UploadMBps: mb / upTotal.Seconds(), ReplicationMBps: mb / replTotal.Seconds()})
	}

	if attest > 0 {
		next := func(i int) error {
			if i%perShip != 0 {
				return nil
			}
			sh = docs.Shipment{CarrierBookingReference: fmt.Sprintf("BKG-ATTEST-%d", i/perShip)}
			return open(sh.CarrierBookingReference)
		}
		lat, err := benchAttest(ctx, fwd, ns[1:], attest, next, upload)
		if err != nil {
			return res, err
		}
		res.Attestation = summarize(lat)
	}
	return res, nil
}

// benchAttest uploads n small documents one at a time, calling next
// before each (it opens a new shipment now and then); each attester
// attests each as soon as its node holds it. It returns, per document, the
// time from the upload's start until the issuer's node has applied every
// attester's attestation.
func benchAttest(ctx context.Context, issuer *benchNode, attesters []*benchNode, n int, next func(int) error, upload func([]byte, string, string) (time.Duration, error)) ([]time.Duration, error) {
	var mu sync.Mutex
	var want string
	var got int
	done := make(chan struct{}, 1)
	issuer.n.OnReplicated(func(origin string, from int64, res partylog.ApplyResult) {
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
	defer issuer.n.OnReplicated(func(string, int64, partylog.ApplyResult) {})
	var lat []time.Duration
	for i := range n {
		if err := next(i); err != nil {
			return nil, err
		}
		body, sha := randomDocument(64 << 10)
		mu.Lock()
		want, got = sha, 0
		mu.Unlock()
		errs := make(chan error, len(attesters))
		var wg sync.WaitGroup
		for _, a := range attesters {
			wg.Go(func() {
				if _, err := a.n.Documents().Await(ctx, sha); err != nil {
					errs <- err
					return
				}
				if _, err := a.c.Attest(ctx, sha, "ACCEPTED", ""); err != nil {
					errs <- fmt.Errorf("%s attests: %w", a.party.ID, err)
				}
			})
		}
		start := time.Now()
		if _, err := upload(body, sha, "INV"); err != nil {
			return nil, err
		}
		select {
		case <-done:
			lat = append(lat, time.Since(start))
		case err := <-errs:
			return nil, err
		case <-time.After(30 * time.Second):
			return nil, errors.New("the attestations never all reached the issuer")
		}
		wg.Wait()
	}
	return lat, nil
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("gave up after 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
