package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/access"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
)

var party = scenario.Terminal

// newNodeDir runs Init for the lane's terminal, listening on a free loopback
// port, and loads the config it wrote.
func newNodeDir(t *testing.T) (node.InitResult, node.Config) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	res, err := node.Init(context.Background(), node.InitOptions{Dir: dir, Party: party, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatalf("load the config init wrote: %v", err)
	}
	return res, cfg
}

// running is a node serving in a goroutine.
type running struct {
	n      *node.Node
	url    string
	cancel context.CancelFunc
	served chan error // Serve's result
}

// serve opens the node and serves it until stop (or the test's end).
func serve(t *testing.T, cfg node.Config) *running {
	t.Helper()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	r := &running{n: n, url: "https://" + n.Addr(), cancel: cancel, served: make(chan error, 1)}
	go func() { r.served <- n.Serve(sctx) }()
	t.Cleanup(func() {
		if r.n != nil {
			r.stop(t)
		}
	})
	return r
}

// stop cancels Serve, waits for it, and closes the node.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := r.n.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	r.n = nil
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.served:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// roots trusts the node's own certificate, as `linkd init` tells clients to.
func roots(t *testing.T, cfg node.Config) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(cfg.Path(cfg.Keys.TLSCert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("tls/node.crt holds no certificate")
	}
	return pool
}

func httpClient(pool *x509.CertPool, keepAlive bool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: !keepAlive,
	}}
}

// eventually polls cond until it holds, failing after a generous deadline.
// It waits for the node to reach a state, never measures time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		<-tick.C
	}
}

func TestCertificate(t *testing.T) {
	res, cfg := newNodeDir(t)
	r := serve(t, cfg)
	pool := roots(t, cfg)

	for _, name := range []string{"127.0.0.1", "localhost"} {
		t.Run(name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", r.n.Addr(), &tls.Config{RootCAs: pool, ServerName: name})
			if err != nil {
				t.Fatalf("TLS with tls/node.crt as the root: %v", err)
			}
			defer conn.Close()
			cert := conn.ConnectionState().PeerCertificates[0]
			want := node.PartyURI(party.ID).String()
			if len(cert.URIs) != 1 || cert.URIs[0].String() != want {
				t.Errorf("certificate URIs = %v, want [%s]", cert.URIs, want)
			}
			if want != "linkd://party/"+party.ID {
				t.Errorf("PartyURI = %s", want)
			}
			if cert.Subject.CommonName != party.ID {
				t.Errorf("subject CN = %q, want %q", cert.Subject.CommonName, party.ID)
			}
			sum := sha256.Sum256(cert.Raw)
			if hex.EncodeToString(sum[:]) != res.CertFingerprint {
				t.Errorf("presented certificate's SHA-256 %x is not the fingerprint init reported, %s", sum, res.CertFingerprint)
			}
		})
	}

	// The certificate names only its own hosts...
	if _, err := tls.Dial("tcp", r.n.Addr(), &tls.Config{RootCAs: pool, ServerName: "example.com"}); err == nil {
		t.Error("the certificate verifies for example.com")
	}
	// ...and is not trusted without the node's certificate.
	c, err := client.New(r.url, client.Options{Token: res.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(context.Background()); linkd.ErrorCode(err) != linkd.EUnavailable {
		t.Errorf("a client without the node's certificate: %v, want unavailable", err)
	}
	// The Go client pinning tls/node.crt works, with init's admin token.
	c, err = client.New(r.url, client.Options{Token: res.AdminToken, CAFile: cfg.Path(cfg.Keys.TLSCert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	toks, err := c.ListTokens(context.Background())
	if err != nil || len(toks) != 1 || toks[0].ID != res.AdminTokenID || toks[0].Role != "admin" {
		t.Fatalf("tokens = %+v, %v; want init's admin token %s", toks, err, res.AdminTokenID)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	_, cfg := newNodeDir(t)
	cfg.Limits.ReadHeaderTimeout = node.Duration(300 * time.Millisecond)
	r := serve(t, cfg)
	pool := roots(t, cfg)

	conn, err := tls.Dial("tcp", r.n.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: loc"); err != nil {
		t.Fatal(err)
	}
	// The server must hang up; the deadline only keeps a broken server
	// from hanging the test.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err = conn.Read(buf)
		if err != nil {
			break
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection with a half-sent request line is still open after 5s")
	}

	// A request sent whole is served.
	resp, err := httpClient(pool, false).Get(r.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
}

func TestGracefulDrain(t *testing.T) {
	_, cfg := newNodeDir(t)
	r := serve(t, cfg)
	pool := roots(t, cfg)
	bg := context.Background()

	// A token of its own, so the node's record of its last use says when
	// the held request got through the gate.
	secret, tok, err := r.n.Tokens().Create(bg, "drain-test", access.Writer, 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	type answer struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", r.url+"/v1/events", pr)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient(pool, true).Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, b, err}
	}()
	eventually(t, "the held POST to pass authentication", func() bool {
		got, err := r.n.Tokens().Get(tok.ID)
		return err == nil && !got.LastUsed.IsZero()
	})

	r.cancel()
	// Readiness turns off: 503 while the listener is still open, then
	// nothing listens at all.
	probe := httpClient(pool, false)
	var seen string
	eventually(t, "/readyz to stop answering ready", func() bool {
		resp, err := probe.Get(r.url + "/readyz")
		if err != nil {
			seen = "refused: " + err.Error()
			return true
		}
		defer resp.Body.Close()
		var body linkd.ErrorBody
		json.NewDecoder(resp.Body).Decode(&body)
		switch {
		case resp.StatusCode == http.StatusOK:
			return false
		case resp.StatusCode == http.StatusServiceUnavailable && body.Error.Code == linkd.EUnavailable:
			seen = "503"
			return true
		}
		t.Fatalf("/readyz while draining: %d %+v", resp.StatusCode, body)
		return true
	})
	t.Logf("/readyz while draining: %s", seen)
	select {
	case err := <-r.served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}

	// The request in flight completes.
	events := scenario.NewGenerator(1, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)).WithShipments(3).Batch(4)
	data, _ := json.Marshal(events)
	if _, err := pw.Write(data); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-done
	if a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("the request in flight got %d %s (%v), want 201", a.status, a.body, a.err)
	}
	var res linkd.AppendResult
	if err := json.Unmarshal(a.body, &res); err != nil || len(res.Acks) != 4 || res.Size != 4 {
		t.Fatalf("the request in flight answered %s", a.body)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Serve after a clean drain: %v, want nil", err)
	}
	if err := r.n.Close(); err != nil {
		t.Fatal(err)
	}
	r.n = nil

	// Reopened, the node serves what it acknowledged.
	r2 := serve(t, cfg)
	c, err := client.New(r2.url, client.Options{Token: secret, CAFile: cfg.Path(cfg.Keys.TLSCert)})
	if err != nil {
		t.Fatal(err)
	}
	for i, ack := range res.Acks {
		got, err := c.Event(bg, ack.EventID)
		if err != nil {
			t.Fatalf("event %d after reopening: %v", i, err)
		}
		if got.LogIndex != ack.LogIndex || got.Event.EquipmentReference != events[i].EquipmentReference || got.Event.Origin != party.ID {
			t.Errorf("event %d after reopening: index %d container %q origin %q", i, got.LogIndex, got.Event.EquipmentReference, got.Event.Origin)
		}
	}
	if r2.n.Log().Size() != 4 {
		t.Errorf("log size %d after reopening, want 4", r2.n.Log().Size())
	}
}

func TestLoadConfigRefuses(t *testing.T) {
	res, cfg := newNodeDir(t)
	if cfg.Listen != "127.0.0.1:0" || cfg.Party.ID != party.ID || cfg.Party.Name != party.Name ||
		strings.Join(cfg.Party.Jurisdiction, ",") != "VN,ASEAN" || cfg.Path(cfg.Data) != filepath.Join(filepath.Dir(res.ConfigPath), "store") {
		t.Fatalf("the config init wrote loads as %+v", cfg)
	}
	orig, err := os.ReadFile(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// set replaces the value of key (at any depth), keeping the comment.
	set := func(key, value string) func(string) string {
		re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `:) *[^#\n]*`)
		return func(s string) string {
			if !re.MatchString(s) {
				t.Fatalf("the config has no key %s", key)
			}
			return re.ReplaceAllString(s, "${1} "+value+" ")
		}
	}
	rename := func(key, typo string) func(string) string {
		return func(s string) string {
			out := strings.Replace(s, key+":", typo+":", 1)
			if out == s {
				t.Fatalf("the config has no key %s", key)
			}
			return out
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		naming []string
	}{
		{"unknown top-level key", func(s string) string { return s + "listn: 127.0.0.1:7443\n" }, []string{"listn"}},
		{"misspelt nested key", rename("rate_per_token", "rate_per_tokn"), []string{"rate_per_tokn"}},
		{"listen without a port", set("listen", "127.0.0.1"), []string{"listen"}},
		{"listen empty", set("listen", `""`), []string{"listen"}},
		{"advertise with a path", set("advertise", `"https://linkd.hict.vn:7443/api"`), []string{"advertise"}},
		{"advertise without https", set("advertise", "linkd.hict.vn:7443"), []string{"advertise"}},
		{"zero duration", set("read_header_timeout", "0s"), []string{"limits.read_header_timeout"}},
		{"zero grace", set("shutdown_grace", "0s"), []string{"shutdown_grace"}},
		{"no concurrency", set("max_concurrent", "0"), []string{"limits.max_concurrent"}},
		{"tiny body limit", set("max_body_bytes", "10"), []string{"limits.max_body_bytes"}},
		{"tiny document limit", set("max_document_bytes", "10"), []string{"limits.max_document_bytes"}},
		{"rate without burst", set("burst_per_token", "0"), []string{"limits.burst_per_token"}},
		{"log level", set("level", "loud"), []string{"log.level"}},
		{"unknown jurisdiction", set("jurisdiction", "[VN, MOON]"), []string{"party.jurisdiction[1]"}},
		{"bad party id", set("id", "Haiphong Terminal"), []string{"party.id"}},
		{"two problems", func(s string) string { return set("format", "xml")(set("max_header_bytes", "10")(s)) }, []string{"log.format", "limits.max_header_bytes"}},
		{"not a duration", set("idle_timeout", "soon"), []string{`"soon"`}},
		{"wrong type", set("max_concurrent", "many"), []string{"many"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(filepath.Dir(res.ConfigPath), "edited.yaml")
			if err := os.WriteFile(path, []byte(tc.edit(string(orig))), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := node.LoadConfig(path)
			if err == nil {
				t.Fatal("the edited config loads")
			}
			for _, s := range tc.naming {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	// The original still loads: the edits above were the only problem.
	if _, err := node.LoadConfig(res.ConfigPath); err != nil {
		t.Fatal(err)
	}
	// A missing file is an error too.
	if _, err := node.LoadConfig(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing config: %v", err)
	}
}

func TestInitRefuses(t *testing.T) {
	bg := context.Background()

	t.Run("non-empty directory", func(t *testing.T) {
		dir := t.TempDir()
		precious := filepath.Join(dir, "notes.txt")
		if err := os.WriteFile(precious, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := node.Init(bg, node.InitOptions{Dir: dir, Party: party, Listen: "127.0.0.1:0"})
		if linkd.ErrorCode(err) != linkd.EConflict || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("init in a non-empty directory: %v, want a conflict", err)
		}
		entries, _ := os.ReadDir(dir)
		if b, err := os.ReadFile(precious); err != nil || string(b) != "keep me" || len(entries) != 1 {
			t.Fatalf("init touched the directory: %d entries, notes.txt %q %v", len(entries), b, err)
		}
	})

	t.Run("initialised twice", func(t *testing.T) {
		res, _ := newNodeDir(t)
		dir := filepath.Dir(res.ConfigPath)
		key, _ := os.ReadFile(filepath.Join(dir, "keys", "log.key"))
		_, err := node.Init(bg, node.InitOptions{Dir: dir, Party: party, Listen: "127.0.0.1:0"})
		if linkd.ErrorCode(err) != linkd.EConflict {
			t.Fatalf("second init: %v, want a conflict", err)
		}
		again, _ := os.ReadFile(filepath.Join(dir, "keys", "log.key"))
		if len(key) == 0 || !bytes.Equal(key, again) {
			t.Fatal("a second init changed the log key")
		}
		if _, err := node.LoadConfig(res.ConfigPath); err != nil {
			t.Fatalf("the first node's config no longer loads: %v", err)
		}
	})

	for _, tc := range []struct {
		name   string
		party  linkd.Party
		listen string
		field  string
	}{
		{"party id", linkd.Party{ID: "Haiphong Terminal", Jurisdiction: []string{"VN"}}, "127.0.0.1:0", "id"},
		{"no jurisdiction", linkd.Party{ID: "haiphong-terminal"}, "127.0.0.1:0", "jurisdiction"},
		{"region it is not in", linkd.Party{ID: "haiphong-terminal", Jurisdiction: []string{"VN", "EU"}}, "127.0.0.1:0", "jurisdiction[1]"},
		{"unknown role", linkd.Party{ID: "haiphong-terminal", Jurisdiction: []string{"VN"}, Roles: []linkd.Role{"pirate"}}, "127.0.0.1:0", "roles[0]"},
		{"listen", party, "localhost", "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node")
			_, err := node.Init(bg, node.InitOptions{Dir: dir, Party: tc.party, Listen: tc.listen})
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("init: %v, want a validation error", err)
			}
			found := false
			for _, p := range ve.Problems {
				found = found || p.Field == tc.field
			}
			if !found {
				t.Errorf("problems %v do not name %s", ve.Problems, tc.field)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("init left %s behind: %v", dir, err)
			}
		})
	}
}

func TestCloseWithoutServeReleasesListener(t *testing.T) {
	_, cfg := newNodeDir(t)
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := n.Addr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port of a closed node is still taken: %v", err)
	}
	ln.Close()
}

func TestLoadConfigNamesNegativeDuration(t *testing.T) {
	res, _ := newNodeDir(t)
	orig, _ := os.ReadFile(res.ConfigPath)
	for _, key := range []string{"read_header_timeout", "shutdown_grace"} {
		re := regexp.MustCompile(`(?m)^(\s*` + key + `:) *[^#\n]*`)
		path := filepath.Join(filepath.Dir(res.ConfigPath), "edited.yaml")
		os.WriteFile(path, []byte(re.ReplaceAllString(string(orig), "${1} -5s ")), 0o644)
		_, err := node.LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: -5s: error %v does not name the field", key, err)
		}
	}
}

func TestInitWritesLoadableIPv6Listen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	res, err := node.Init(context.Background(), node.InitOptions{Dir: dir, Party: party, Listen: "[::1]:0"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatalf("the config init wrote does not load: %v", err)
	}
	if cfg.Listen != "[::1]:0" {
		t.Fatalf("listen = %q", cfg.Listen)
	}
}

func TestInitKeepsExistingEmptyDirOnFailure(t *testing.T) {
	dir := t.TempDir()
	_, err := node.Init(context.Background(), node.InitOptions{Dir: dir, Party: party, Listen: "nope"})
	if err == nil {
		t.Fatal("init with listen nope succeeded")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("init removed the directory it was given, which it did not create: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("init left %d entries behind in the directory", len(entries))
	}
}
