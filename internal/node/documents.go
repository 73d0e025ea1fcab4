package node

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/docs"
	"github.com/linkd-dev/linkd/internal/partylog"
	"github.com/linkd-dev/linkd/internal/shred"
)

// documentService is the node's trade documents (internal/docs; node.go
// imports the OpenAPI package under that name).
type documentService = docs.Service

// openDocuments opens the node's trade documents: the per-shipment data
// keys (files under <data>/keys), the document store (records in the
// node's Pebble database, files under <data>/documents) and the service
// that shares documents with entitled peers over the peer endpoint
// (/v1/peer/documents/, mounted by handler) and fetches what peers share
// with this node. It needs the feed, the roster and the peer directory, so
// it opens after them; startDocuments begins its work when Serve does.
func (n *Node) openDocuments(cfg Config, party linkd.Party, cert tls.Certificate, logger *slog.Logger) error {
	data := cfg.Path(cfg.Data)
	store, err := docs.OpenStore(n.db, filepath.Join(data, "documents"), n.keys, docs.Options{MaxSize: cfg.Limits.MaxDocumentBytes, Logger: logger.With("component", "documents")})
	if err != nil {
		return err
	}
	n.docs, err = docs.New(docs.Config{
		Self: party, Store: store, Logs: n.logs, Roster: n.roster, Ingest: n.ingest, Feed: n.feed,
		Peers: n.peers, Cert: cert, Logger: logger.With("component", "documents"),
	})
	return err
}

// startDocuments begins following events and fetching documents.
func (n *Node) startDocuments() {
	if err := n.docs.Start(); err != nil {
		n.logger.Error("documents could not start; documents shared with this node are not fetched", "err", err)
	}
}

// closeDocuments stops the documents' follower and transfers.
func (n *Node) closeDocuments() {
	if n.docs != nil {
		n.docs.Close()
	}
}

// apiIngest records a client's batch as ingest does, after refusing
// attestations the party may not make: an ISSUED (a document is issued by
// uploading it) or a verdict on a document it cannot see.
func (n *Node) apiIngest(ctx context.Context, events []linkd.Event) ([]linkd.Ack, error) {
	if err := n.docs.CheckEvents(ctx, events); err != nil {
		return nil, err
	}
	return n.ingest(ctx, events)
}

// Documents is the node's trade documents.
func (n *Node) Documents() *docs.Service { return n.docs }

// eventSealer seals the log's event records under their shipment's data
// key (internal/docs decides which events have one).
func eventSealer(keys *shred.Keys) partylog.Sealer { return docs.EventSealer{Keys: keys} }
