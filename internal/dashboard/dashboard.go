// Package dashboard is the web page a person watches a lane on: a network
// map of the parties' nodes and the health of their links, the live event
// feed, a shipment's verified timeline, inventory allocations, alerts and
// per-node figures.
//
// Handler serves the page, a single-page app of plain HTML, CSS and ES
// modules embedded in the binary, with an offline world map: nothing it
// loads comes from anywhere but the server that served it, and its Content
// Security Policy forbids anything else. The page reads the nodes' own HTTP
// APIs; it holds no state of its own beyond what those answer.
//
// It runs in one of two modes:
//
//   - node mode: a node serves the page for its own party, and the page asks
//     the person for an API token (the reader role suffices; auditor or admin
//     adds metrics and the peer directory). The token stays in the tab's
//     sessionStorage and goes only to the node's own API.
//   - lane mode: `linkd demo` serves the page for every node of the lane,
//     with Proxy in front of the nodes' APIs. The proxy holds the tokens and
//     adds them, so the page needs none and never sees one.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/linkd-dev/linkd"
)

// Modes of the page.
const (
	ModeNode = "node" // one node's own party; the page asks for a token
	ModeLane = "lane" // every node of a lane, behind Proxy; no token in the page
)

// Config is what the page is told about where it runs, served as config.json.
type Config struct {
	// Title heads the page. Empty means "linkd".
	Title string `json:"title"`
	// Mode is ModeNode or ModeLane. Empty means ModeNode.
	Mode string `json:"mode"`
	// Nodes are the nodes the page shows, in the order it lists them. In
	// node mode it is the one node serving the page (Base ""); an empty list
	// there means the page learns its party from GET /v1/node/card.
	Nodes []Node `json:"nodes"`
}

// Node is one node the page reads.
type Node struct {
	// Party is the node's party: its id names the node on the page, its name
	// labels it, its location (UN/LOCODE) places it on the map.
	Party linkd.Party `json:"party"`
	// Base is the URL path prefix the browser puts before the node's API
	// paths (/v1/…, /metrics): "" in node mode, where the page and the API
	// share an origin; "/nodes/<party>" in lane mode, where Proxy serves it.
	Base string `json:"base"`
}

//go:embed static
var static embed.FS

// contentTypes are the types of the files the page is made of; a file of
// any other kind is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// CSP is the Content Security Policy of every answer Handler gives: the
// page may load scripts, styles, images and data only from the origin that
// served it, and nothing may frame it.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler returns the handler of the page and its assets, and of
// config.json, which answers cfg. Mount it at a path that ends in a slash,
// with that prefix stripped:
//
//	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", dashboard.Handler(cfg)))
//
// The page's URLs are relative, so it works under any prefix; a request for
// the prefix without its slash is redirected to it. Only GET and HEAD are
// answered.
func Handler(cfg Config) http.Handler {
	if cfg.Title == "" {
		cfg.Title = "linkd"
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeNode
	}
	if cfg.Nodes == nil {
		cfg.Nodes = []Node{}
	}
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		assets["/"+strings.TrimPrefix(p, "static/")] = newAsset(b, ctype)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("dashboard: read embedded assets: %v", err)) // the embed is part of the binary
	}
	conf, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("dashboard: encode config: %v", err)) // Config holds only strings
	}
	assets["/config.json"] = newAsset(append(conf, '\n'), contentTypes[".json"])
	assets["/"] = assets["/index.html"]
	delete(assets, "/index.html")

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "" {
			// Mounted under a prefix and asked for it without its slash: the
			// page's relative URLs need the slash.
			// The Location is relative to the request's own path, so the
			// redirect holds under any prefix (http.Redirect would resolve
			// it against the stripped path).
			uri, _, _ := strings.Cut(r.RequestURI, "?")
			h.Set("Location", path.Base(uri)+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		if p == "/index.html" {
			p = "/"
		}
		a, ok := assets[p]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", fmt.Sprint(len(a.body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(a.body)
	})
}

func newAsset(b []byte, ctype string) asset {
	sum := sha256.Sum256(b)
	return asset{body: bytes.Clone(b), ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}
