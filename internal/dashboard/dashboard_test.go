package dashboard_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/dashboard"
)

func laneConfig() dashboard.Config {
	return dashboard.Config{
		Title: "Vietnam → EU lane",
		Mode:  dashboard.ModeLane,
		Nodes: []dashboard.Node{
			{Party: linkd.Party{ID: "haiphong-terminal", Name: "Haiphong Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHPH"}, Base: "/nodes/haiphong-terminal"},
			{Party: linkd.Party{ID: "dc-hamburg", Name: "DC Hamburg", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}, Location: "DEHAM"}, Base: "/nodes/dc-hamburg"},
		},
	}
}

// get fetches path from h and returns the answer with its body read.
func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestHandlerServesEveryAsset(t *testing.T) {
	h := dashboard.Handler(laneConfig())
	tests := []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `data-testid="network-map"`},
		{"/index.html", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript; charset=utf-8", "import"},
		{"/style.css", "text/css; charset=utf-8", "{"},
		{"/world.svg", "image/svg+xml", "<svg"},
		{"/projection.json", "application/json", `"naturalEarth1"`},
		{"/projection.js", "text/javascript; charset=utf-8", "export function makeProjection"},
		{"/config.json", "application/json", `"lane"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, h, tt.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tt.path, res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.ctype)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s: body does not contain %q", tt.path, tt.contains)
			}
			checkCSP(t, res.Header.Get("Content-Security-Policy"))
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tt.path, got)
			}
		})
	}
}

// checkCSP fails unless csp confines every kind of load to the page's own
// origin.
func checkCSP(t *testing.T, csp string) {
	t.Helper()
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q: want default-src 'self'", csp)
	}
	for _, directive := range strings.Split(csp, ";") {
		for _, src := range strings.Fields(directive)[1:] {
			switch src {
			case "'self'", "'none'":
			default:
				t.Errorf("CSP %q allows %s: the page must load nothing from elsewhere", csp, src)
			}
		}
	}
}

// TestEveryReferenceResolves follows every file the page names (scripts,
// styles, modules, fetched JSON, images) and fails on one the handler does
// not serve, or on any reference to another origin.
func TestEveryReferenceResolves(t *testing.T) {
	h := dashboard.Handler(laneConfig())
	refRE := regexp.MustCompile(`(?:src|href)="([^"]+)"|from\s+'([^']+)'|import\('([^']+)'\)|fetch\('([^']+)'`)
	remoteRE := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res, body := get(t, h, p)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d; the page needs it", p, res.StatusCode)
			continue
		}
		for _, m := range remoteRE.FindAllString(body, -1) {
			if m == "http://www.w3.org" || strings.HasPrefix(m, "http://www.w3.org") {
				continue // the SVG namespace names, never loads
			}
			t.Errorf("%s names a remote origin %q: the page must work offline", p, m)
		}
		for _, m := range refRE.FindAllStringSubmatch(body, -1) {
			ref := m[1] + m[2] + m[3] + m[4]
			if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") {
				continue
			}
			queue = append(queue, "/"+strings.TrimPrefix(ref, "./"))
		}
	}
	for _, want := range []string{"/app.js", "/style.css", "/world.svg", "/projection.json"} {
		if !seen[want] {
			t.Errorf("the page never references %s", want)
		}
	}
}

// TestNoInlineScriptOrStyle checks the HTML against what the CSP blocks:
// an inline script or style attribute would silently not run.
func TestNoInlineScriptOrStyle(t *testing.T) {
	_, body := get(t, dashboard.Handler(laneConfig()), "/")
	if regexp.MustCompile(`<script(?:[^>]*)>\s*[^<\s]`).MatchString(body) {
		t.Error("index.html has an inline script; the CSP blocks it")
	}
	if regexp.MustCompile(`\sstyle="|<style`).MatchString(body) {
		t.Error("index.html has inline style; the CSP blocks it")
	}
	if regexp.MustCompile(`\son[a-z]+="`).MatchString(body) {
		t.Error("index.html has an inline event handler; the CSP blocks it")
	}
}

func TestConfigRoundTrips(t *testing.T) {
	for _, cfg := range []dashboard.Config{laneConfig(), {Title: "Hamburg", Mode: dashboard.ModeNode, Nodes: []dashboard.Node{{Party: linkd.Party{ID: "dc-hamburg"}}}}} {
		_, body := get(t, dashboard.Handler(cfg), "/config.json")
		var got dashboard.Config
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("config.json does not decode: %v\n%s", err, body)
		}
		if !reflect.DeepEqual(got, cfg) {
			t.Errorf("config.json = %+v, want %+v", got, cfg)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	_, body := get(t, dashboard.Handler(dashboard.Config{}), "/config.json")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got["title"] != "linkd" || got["mode"] != "node" {
		t.Errorf("defaults: title %v, mode %v; want linkd, node", got["title"], got["mode"])
	}
	if nodes, ok := got["nodes"].([]any); !ok || len(nodes) != 0 {
		t.Errorf("nodes = %v, want an empty list", got["nodes"])
	}
}

func TestHandlerUnderPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", dashboard.Handler(laneConfig())))
	mux.Handle("/dashboard", http.StripPrefix("/dashboard", dashboard.Handler(laneConfig())))

	res, _ := get(t, mux, "/dashboard")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "dashboard/" {
		t.Errorf("GET /dashboard: %d to %q, want 301 to dashboard/", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := get(t, mux, "/dashboard/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Errorf("GET /dashboard/: %d, want the page", res.StatusCode)
	}
	if res, _ := get(t, mux, "/dashboard/app.js"); res.StatusCode != http.StatusOK {
		t.Errorf("GET /dashboard/app.js: %d, want 200", res.StatusCode)
	}
}

func TestHandlerRefuses(t *testing.T) {
	h := dashboard.Handler(laneConfig())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/config.json", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /config.json: %d, want 405", rec.Code)
	}
	for _, p := range []string{"/nope.js", "/../dashboard.go", "/static/app.js"} {
		if res, _ := get(t, h, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := dashboard.Handler(laneConfig())
	res, _ := get(t, h, "/app.js")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on app.js")
	}
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("GET with If-None-Match: %d with %d bytes, want 304 and no body", rec.Code, rec.Body.Len())
	}
}

// TestEveryEmbeddedFileIsServed catches a static file of a kind the
// handler has no content type for, which would silently 404.
func TestEveryEmbeddedFileIsServed(t *testing.T) {
	h := dashboard.Handler(laneConfig())
	err := fs.WalkDir(dashboard.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if res, _ := get(t, h, "/"+p); res.StatusCode != http.StatusOK {
			t.Errorf("static/%s is embedded but GET /%s answers %d", p, p, res.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
