package docs_test

// These tests hold openapi.json to the code it describes. The route table,
// the accepted query parameters, the permission matrix, the code tables and
// the JSON body types are read from the Go sources themselves, so a change to
// any of them that the document does not follow fails here, naming what
// differs.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/docs"
)

// ownParams says where to find the query parameters of routes whose handler
// checks its own (ownParams: true in the route table).
var ownParams = map[string]struct{ file, name string }{
	"GET /v2/events": {"../internal/dcsa/dcsa.go", "Params"},
}

// streamParams are GET /v1/stream's query parameters besides the JSON
// fields of expr.Filter (httpapi.streamParams).
var streamParams = []string{"from", "lastEventID"}

// bodies pairs each schema that mirrors a Go struct with that struct. The
// schema's properties must be the struct's JSON fields, and its required list
// the fields without omitempty or omitzero.
var bodies = []struct{ schema, file, typ string }{
	{"ErrorBody", "../api.go", "ErrorBody"},
	{"ErrorDetail", "../api.go", "ErrorDetail"},
	{"Problem", "../error.go", "Problem"},
	{"AppendResult", "../api.go", "AppendResult"},
	{"EventPage", "../api.go", "EventPage"},
	{"CheckpointInfo", "../api.go", "CheckpointInfo"},
	{"AuditLine", "../api.go", "AuditLine"},
	{"AuditResult", "../api.go", "AuditResult"},
	{"InclusionProof", "../api.go", "InclusionProof"},
	{"ConsistencyProof", "../api.go", "ConsistencyProof"},
	{"TokenInfo", "../api.go", "TokenInfo"},
	{"TokenRequest", "../api.go", "TokenRequest"},
	{"NewToken", "../api.go", "NewToken"},
	{"Event", "../event.go", "Event"},
	{"Reference", "../event.go", "Reference"},
	{"Location", "../event.go", "Location"},
	{"TransportCall", "../event.go", "TransportCall"},
	{"Vessel", "../event.go", "Vessel"},
	{"ShipmentParty", "../event.go", "ShipmentParty"},
	{"Recorded", "../event.go", "Recorded"},
	{"Ack", "../event.go", "Ack"},
	{"ProofBundle", "../checkpoint.go", "ProofBundle"},
	{"DCSAEvent", "../internal/dcsa/event.go", "Event"},
	{"DocumentReference", "../internal/dcsa/event.go", "DocumentReference"},
	{"DCSATransportCall", "../internal/dcsa/event.go", "TransportCall"},
	{"DCSAError", "../internal/httpapi/dcsa.go", "dcsaError"},
	{"DCSAErrorDetail", "../internal/httpapi/dcsa.go", "dcsaErrorDetail"},
	{"ShipmentView", "../shipment.go", "ShipmentView"},
	{"ShipmentState", "../shipment.go", "ShipmentState"},
	{"Arrival", "../shipment.go", "Arrival"},
	{"Hold", "../shipment.go", "Hold"},
	{"TimelineEntry", "../shipment.go", "TimelineEntry"},
	{"Party", "../party.go", "Party"},
	{"Peer", "../internal/peers/peers.go", "Peer"},
	{"PeerList", "../internal/httpapi/peers.go", "peerList"},
	{"LinkStatus", "../internal/link/sender.go", "Status"},
	{"Alert", "../alert.go", "Alert"},
	{"Evidence", "../evidence.go", "Evidence"},
	{"LogHold", "../alert.go", "LogHold"},
}

// enums pairs each closed code set in the document with where the code
// defines it.
var enums = []struct {
	schema, file string
	values       func(t *testing.T, src string) []string
}{
	{"ErrorCode", "../error.go", constsMatching(`E[A-Z]\w*`)},
	{"EventType", "../event.go", constsOfType("EventType")},
	{"TokenRole", "../internal/access/role.go", constsOfType("Role")},
	{"PartyRole", "../codes.go", constsOfType("Role")},
	{"EventClassifierCode", "../codes.go", mapKeys("Classifiers")},
	{"ShipmentEventTypeCode", "../codes.go", mapKeys("ShipmentEventCodes")},
	{"DocumentTypeCode", "../codes.go", mapKeys("DocumentTypeCodes")},
	{"TransportEventTypeCode", "../codes.go", mapKeys("TransportEventCodes")},
	{"EquipmentEventTypeCode", "../codes.go", mapKeys("EquipmentEventCodes")},
	{"EmptyIndicatorCode", "../codes.go", mapKeys("EmptyIndicatorCodes")},
	{"ModeOfTransport", "../codes.go", mapKeys("ModesOfTransport")},
	{"FacilityCodeListProvider", "../codes.go", mapKeys("FacilityCodeListProviders")},
	{"ReferenceType", "../codes.go", mapKeys("ReferenceTypes")},
	{"ShipmentStatus", "../shipment.go", constsOfType("ShipmentStatus")},
	{"AlertSeverity", "../alert.go", constsMatching(`Severity[A-Z]\w*`)},
}

var methods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// route is one entry of the route table in internal/httpapi/server.go.
type route struct {
	method, path string
	perm         string // access.Permission constant; "" when public
	public       bool
	ownParams    bool
	params       []string // accepted query parameters
}

func (r route) key() string { return r.method + " " + r.path }

// operation is one operation of the document.
type operation struct {
	method, path string
	op           map[string]any
}

func (o operation) key() string { return strings.ToUpper(o.method) + " " + o.path }

func TestDocument(t *testing.T) {
	doc := load(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "linkd node API" || info["version"] == nil || info["description"] == nil {
		t.Errorf("info = %v, want the title, a version and a description", info)
	}
	scheme := lookup(t, doc, "#/components/securitySchemes/bearerAuth")
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("bearerAuth = %v, want an http bearer scheme", scheme)
	}
	if got := fmt.Sprint(doc["security"]); got != "[map[bearerAuth:[]]]" {
		t.Errorf("global security = %s, want bearerAuth", got)
	}
}

// TestRefs checks that every $ref points into the document at something that
// exists, and that every component schema is used.
func TestRefs(t *testing.T) {
	doc := load(t)
	used := map[string]bool{}
	walk(doc, "#", func(at, ref string) {
		if !strings.HasPrefix(ref, "#/") {
			t.Errorf("%s: $ref %q points outside the document", at, ref)
			return
		}
		if _, err := resolvePointer(doc, ref); err != nil {
			t.Errorf("%s: $ref %q: %v", at, ref, err)
		}
		used[ref] = true
	})
	for name := range components(t, doc, "schemas") {
		if !used["#/components/schemas/"+name] {
			t.Errorf("components/schemas/%s is never used", name)
		}
	}
}

// TestOperationsMatchRoutes checks that the document has exactly the
// operations of the route table, naming every one missing or extra.
func TestOperationsMatchRoutes(t *testing.T) {
	doc := load(t)
	routes := routeTable(t)
	var want, got []string
	for _, r := range routes {
		want = append(want, r.key())
	}
	for _, o := range operations(t, doc) {
		got = append(got, o.key())
	}
	missing, extra := diff(want, got)
	for _, k := range missing {
		t.Errorf("route %s is not in openapi.json", k)
	}
	for _, k := range extra {
		t.Errorf("openapi.json documents %s, which is not in the route table", k)
	}
}

// TestQueryParameters checks each operation's query parameters against what
// its route accepts: the route's params list, or for routes that check their
// own, the list their handler uses. Routes without either take none.
func TestQueryParameters(t *testing.T) {
	doc := load(t)
	routes := map[string]route{}
	for _, r := range routeTable(t) {
		routes[r.key()] = r
	}
	for _, o := range operations(t, doc) {
		r, ok := routes[o.key()]
		if !ok {
			continue // TestOperationsMatchRoutes reports it
		}
		want := r.params
		if r.key() == "GET /v1/stream" {
			want = append(filterFields(t), streamParams...)
		} else if r.ownParams {
			src, ok := ownParams[r.key()]
			if !ok {
				t.Errorf("route %s checks its own query parameters: add where they are listed to ownParams in this test", r.key())
				continue
			}
			want = stringSlice(t, read(t, src.file), src.name)
		}
		var got []string
		for _, p := range parameters(t, doc, o) {
			if p["in"] == "query" {
				got = append(got, p["name"].(string))
			}
		}
		missing, extra := diff(want, got)
		for _, name := range missing {
			t.Errorf("%s: query parameter %s is accepted but not documented", r.key(), name)
		}
		for _, name := range extra {
			t.Errorf("%s: documents query parameter %s, which the route does not accept", r.key(), name)
		}
	}
}

// TestParameters checks that each parameter is complete, that list
// parameters are comma-separated, and that path parameters match the path.
func TestParameters(t *testing.T) {
	doc := load(t)
	pathParam := regexp.MustCompile(`\{(\w+)\}`)
	for _, o := range operations(t, doc) {
		var inPath []string
		for _, m := range pathParam.FindAllStringSubmatch(o.path, -1) {
			inPath = append(inPath, m[1])
		}
		var declared []string
		for _, p := range parameters(t, doc, o) {
			name, _ := p["name"].(string)
			if p["description"] == nil || p["schema"] == nil {
				t.Errorf("%s: parameter %s needs a description and a schema", o.key(), name)
			}
			switch p["in"] {
			case "path":
				declared = append(declared, name)
				if p["required"] != true {
					t.Errorf("%s: path parameter %s must be required", o.key(), name)
				}
			case "query":
				schema := deref(t, doc, p["schema"])
				if schema["type"] == "array" && (p["style"] != "form" || p["explode"] != false) {
					t.Errorf("%s: list parameter %s must be style form, explode false (comma-separated)", o.key(), name)
				}
			default:
				t.Errorf("%s: parameter %s is in %v; the API has only path and query parameters", o.key(), name, p["in"])
			}
		}
		missing, extra := diff(inPath, declared)
		for _, name := range missing {
			t.Errorf("%s: path parameter {%s} is not declared", o.key(), name)
		}
		for _, name := range extra {
			t.Errorf("%s: declares path parameter %s, which is not in the path", o.key(), name)
		}
	}
}

// TestResponses checks that every operation has a success and an error
// answer, that errors are ErrorBody (or DCSA's superset on /v2), and that 429
// and 503 say when to retry.
func TestResponses(t *testing.T) {
	doc := load(t)
	for _, o := range operations(t, doc) {
		responses, _ := o.op["responses"].(map[string]any)
		var ok2xx, errs int
		for status, v := range responses {
			resp := deref(t, doc, v)
			if resp["description"] == nil {
				t.Errorf("%s %s: response has no description", o.key(), status)
			}
			code, err := strconv.Atoi(status)
			if err != nil {
				t.Errorf("%s: response %q: want a status code", o.key(), status)
				continue
			}
			if code >= 200 && code < 300 {
				ok2xx++
				if _, has := resp["content"]; !has {
					t.Errorf("%s %s: a success answer needs its content", o.key(), status)
				}
				continue
			}
			if code < 400 {
				continue
			}
			errs++
			want := "#/components/schemas/ErrorBody"
			if strings.HasPrefix(o.path, "/v2/") {
				want = "#/components/schemas/DCSAError"
			}
			content, _ := resp["content"].(map[string]any)
			media, _ := content["application/json"].(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if schema["$ref"] != want {
				t.Errorf("%s %s: error schema is %v, want %s", o.key(), status, schema["$ref"], want)
			}
			if code == 429 || code == 503 {
				headers, _ := resp["headers"].(map[string]any)
				if _, has := headers["Retry-After"]; !has {
					t.Errorf("%s %s: no Retry-After header", o.key(), status)
				}
			}
		}
		if ok2xx == 0 {
			t.Errorf("%s: no 2xx response", o.key())
		}
		if errs == 0 {
			t.Errorf("%s: no error response", o.key())
		}
		if o.op["summary"] == nil || o.op["description"] == nil {
			t.Errorf("%s: needs a summary and a description", o.key())
		}
	}
	// The DCSA paging headers.
	v2 := lookup(t, doc, "#/paths/~1v2~1events/get/responses/200")
	headers, _ := v2["headers"].(map[string]any)
	for _, h := range []string{"API-Version", "Current-Page", "First-Page", "Next-Page"} {
		if _, ok := headers[h]; !ok {
			t.Errorf("GET /v2/events 200: header %s is not documented", h)
		}
	}
}

// TestRoles checks each operation's security, permission and roles against
// the route table and the permission matrix in internal/access/role.go.
func TestRoles(t *testing.T) {
	doc := load(t)
	routes := map[string]route{}
	for _, r := range routeTable(t) {
		routes[r.key()] = r
	}
	holders := permissionHolders(t)
	for _, o := range operations(t, doc) {
		r, ok := routes[o.key()]
		if !ok {
			continue
		}
		sec, hasSec := o.op["security"].([]any)
		perm, _ := o.op["x-linkd-permission"].(string)
		roles := stringsOf(o.op["x-linkd-roles"])
		if r.public {
			if !hasSec || len(sec) != 0 {
				t.Errorf("%s is public: want security: []", o.key())
			}
			if perm != "" || o.op["x-linkd-roles"] != nil {
				t.Errorf("%s is public: want no x-linkd-permission or x-linkd-roles", o.key())
			}
			continue
		}
		if hasSec && len(sec) == 0 {
			t.Errorf("%s needs a token: it must not override security with []", o.key())
		}
		if perm != r.perm {
			t.Errorf("%s: x-linkd-permission = %q, want %q", o.key(), perm, r.perm)
		}
		if want := holders[r.perm]; !slices.Equal(roles, want) {
			t.Errorf("%s: x-linkd-roles = %v, want %v (the roles with %s)", o.key(), roles, want, r.perm)
		}
	}
}

// TestEnums checks the document's closed code sets against the code's.
func TestEnums(t *testing.T) {
	doc := load(t)
	for _, e := range enums {
		t.Run(e.schema, func(t *testing.T) {
			want := e.values(t, read(t, e.file))
			if len(want) == 0 {
				t.Fatalf("found no values in %s: has its shape changed?", e.file)
			}
			got := stringsOf(lookup(t, doc, "#/components/schemas/"+e.schema)["enum"])
			missing, extra := diff(want, got)
			for _, v := range missing {
				t.Errorf("%s defines %q, missing from the enum", e.file, v)
			}
			for _, v := range extra {
				t.Errorf("the enum has %q, which %s does not define", v, e.file)
			}
		})
	}
}

// TestBodies checks each body schema's properties and required list against
// its Go struct.
func TestBodies(t *testing.T) {
	doc := load(t)
	for _, b := range bodies {
		t.Run(b.schema, func(t *testing.T) {
			fields, optional := jsonFields(t, read(t, b.file), b.typ)
			schema := lookup(t, doc, "#/components/schemas/"+b.schema)
			props, required := properties(t, doc, schema)
			missing, extra := diff(fields, props)
			for _, f := range missing {
				t.Errorf("%s.%s has field %q, not in the schema", b.file, b.typ, f)
			}
			for _, f := range extra {
				t.Errorf("the schema has property %q, which %s.%s does not", f, b.file, b.typ)
			}
			var want []string
			for _, f := range fields {
				if !optional[f] {
					want = append(want, f)
				}
			}
			missing, extra = diff(want, required)
			for _, f := range missing {
				t.Errorf("%q is always sent (no omitempty), so the schema must require it", f)
			}
			for _, f := range extra {
				t.Errorf("the schema requires %q, which %s.%s omits when empty", f, b.file, b.typ)
			}
		})
	}
}

// load parses the document the node serves.
func load(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatalf("read source: %v", err)
	}
	return string(b)
}

var (
	routeStart = regexp.MustCompile(`\{method: "`)
	routeLine  = regexp.MustCompile(`(?m)^\s*\{method: "([A-Z]+)", path: "([^"]+)"(.*)\},\s*$`)
	routePerm  = regexp.MustCompile(`\bperm: access\.(\w+)`)
	routeParam = regexp.MustCompile(`\bparams: (\[\]string\{[^}]*\}|\w+)`)
	quoted     = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// routeTable reads the route table from internal/httpapi/server.go.
func routeTable(t *testing.T) []route {
	t.Helper()
	src := read(t, "../internal/httpapi/server.go")
	lines := routeLine.FindAllStringSubmatch(src, -1)
	if n := len(routeStart.FindAllString(src, -1)); n == 0 || n != len(lines) {
		t.Fatalf("server.go has %d route literals and %d of them on one line: this test reads each route from one line `{method: \"GET\", path: \"/x\", ...},`", n, len(lines))
	}
	var routes []route
	for _, m := range lines {
		r := route{method: m[1], path: m[2], public: strings.Contains(m[3], "public: true"), ownParams: strings.Contains(m[3], "ownParams: true")}
		if p := routePerm.FindStringSubmatch(m[3]); p != nil {
			r.perm = p[1]
		}
		if r.public == (r.perm != "") {
			t.Fatalf("route %s: want either public: true or a perm", r.key())
		}
		if p := routeParam.FindStringSubmatch(m[3]); p != nil {
			if strings.HasPrefix(p[1], "[]string{") {
				r.params = unquoteAll(t, p[1])
			} else {
				r.params = stringSliceIn(t, "../internal/httpapi", p[1])
			}
		}
		routes = append(routes, r)
	}
	return routes
}

// stringSliceIn finds the []string variable name in the non-test Go files of
// dir.
func stringSliceIn(t *testing.T, dir, name string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(filepath.FromSlash(dir), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if src := read(t, f); regexp.MustCompile(`\bvar ` + name + ` = \[\]string\{`).MatchString(src) {
			return stringSlice(t, src, name)
		}
	}
	t.Fatalf("no `var %s = []string{...}` in %s", name, dir)
	return nil
}

// stringSlice returns the values of `var name = []string{...}` in src.
func stringSlice(t *testing.T, src, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)\bvar ` + name + ` = \[\]string\{(.*?)\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("no `var %s = []string{...}` in the source", name)
	}
	vals := unquoteAll(t, m[1])
	if len(vals) == 0 {
		t.Fatalf("var %s lists no strings", name)
	}
	return vals
}

func unquoteAll(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, q := range quoted.FindAllString(s, -1) {
		v, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("unquote %s: %v", q, err)
		}
		out = append(out, v)
	}
	return out
}

// permissionHolders reads internal/access/role.go: for each permission, the
// roles that have it, most powerful first.
func permissionHolders(t *testing.T) map[string][]string {
	t.Helper()
	src := read(t, "../internal/access/role.go")
	names := map[string]string{} // Go constant → role name
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+)\s+Role\s*=\s*"(\w+)"`).FindAllStringSubmatch(src, -1) {
		names[m[1]] = m[2]
	}
	order := regexp.MustCompile(`\bvar roles = \[\]Role\{([^}]*)\}`).FindStringSubmatch(src)
	grants := regexp.MustCompile(`(?s)\bvar grants = map\[Role\]Permission\{(.*?)\n\}`).FindStringSubmatch(src)
	if len(names) == 0 || order == nil || grants == nil {
		t.Fatalf("role.go: cannot find the Role constants, var roles or var grants")
	}
	has := map[string][]string{} // Go constant → permissions
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+):\s*([\w |]+),`).FindAllStringSubmatch(grants[1], -1) {
		for _, p := range strings.Split(m[2], "|") {
			has[m[1]] = append(has[m[1]], strings.TrimSpace(p))
		}
	}
	out := map[string][]string{}
	for _, c := range strings.Split(order[1], ",") {
		c = strings.TrimSpace(c)
		for _, p := range has[c] {
			out[p] = append(out[p], names[c])
		}
	}
	return out
}

// constsMatching returns the string constants whose names match pattern.
func constsMatching(pattern string) func(*testing.T, string) []string {
	re := regexp.MustCompile(`(?m)^\s*` + pattern + `\s*=\s*"([^"]*)"`)
	return func(t *testing.T, src string) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			out = append(out, m[1])
		}
		return out
	}
}

// constsOfType returns the constants declared with type typ.
func constsOfType(typ string) func(*testing.T, string) []string {
	return constsMatching(`\w+\s+` + typ)
}

// mapKeys returns the keys of the map[string]string variable name.
func mapKeys(name string) func(*testing.T, string) []string {
	re := regexp.MustCompile(`(?s)\b` + name + `\s*=\s*map\[string\]string\{(.*?)\}`)
	key := regexp.MustCompile(`"([^"]*)"\s*:`)
	return func(t *testing.T, src string) []string {
		m := re.FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("no map %s in the source", name)
		}
		var out []string
		for _, k := range key.FindAllStringSubmatch(m[1], -1) {
			out = append(out, k[1])
		}
		return out
	}
}

// jsonFields returns the JSON names of struct typ's tagged fields, and which
// of them are omitted when empty.
func jsonFields(t *testing.T, src, typ string) ([]string, map[string]bool) {
	t.Helper()
	m := regexp.MustCompile(`(?s)\ntype ` + typ + ` struct \{\n(.*?)\n\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("no struct %s in the source", typ)
	}
	var fields []string
	optional := map[string]bool{}
	for _, tag := range regexp.MustCompile("`json:\"([^\"]*)\"`").FindAllStringSubmatch(m[1], -1) {
		name, opts, _ := strings.Cut(tag[1], ",")
		if name == "-" || name == "" {
			continue
		}
		fields = append(fields, name)
		if strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") {
			optional[name] = true
		}
	}
	if len(fields) == 0 {
		t.Fatalf("struct %s has no JSON fields", typ)
	}
	return fields, optional
}

// properties returns a schema's own property names and required list,
// including those of allOf parts written inline (not those it refers to).
func properties(t *testing.T, doc, schema map[string]any) (props, required []string) {
	t.Helper()
	parts := []map[string]any{schema}
	for _, p := range anySlice(schema["allOf"]) {
		if m, ok := p.(map[string]any); ok && m["$ref"] == nil {
			parts = append(parts, m)
		}
	}
	for _, p := range parts {
		ps, _ := p["properties"].(map[string]any)
		for name := range ps {
			props = append(props, name)
		}
		required = append(required, stringsOf(p["required"])...)
	}
	return props, required
}

// operations lists the document's operations.
func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatalf("openapi.json has no paths")
	}
	var out []operation
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range methods {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, operation{method: m, path: path, op: op})
			}
		}
	}
	slices.SortFunc(out, func(a, b operation) int { return strings.Compare(a.key(), b.key()) })
	return out
}

// parameters returns an operation's parameters with references resolved,
// those of its path item included.
func parameters(t *testing.T, doc map[string]any, o operation) []map[string]any {
	t.Helper()
	item := lookup(t, doc, "#/paths/"+escape(o.path))
	var out []map[string]any
	for _, p := range append(anySlice(item["parameters"]), anySlice(o.op["parameters"])...) {
		out = append(out, deref(t, doc, p))
	}
	return out
}

func components(t *testing.T, doc map[string]any, kind string) map[string]any {
	t.Helper()
	c, _ := doc["components"].(map[string]any)
	m, _ := c[kind].(map[string]any)
	return m
}

// deref returns v, or what it refers to if it is a reference.
func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for i := 0; m != nil && m["$ref"] != nil; i++ {
		if i == 10 {
			t.Fatalf("reference loop at %v", m["$ref"])
		}
		m = lookup(t, doc, m["$ref"].(string))
	}
	return m
}

func lookup(t *testing.T, doc map[string]any, ref string) map[string]any {
	t.Helper()
	v, err := resolvePointer(doc, ref)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object", ref)
	}
	return m
}

// resolvePointer resolves a JSON pointer in URI fragment form (#/a/b).
func resolvePointer(doc any, ref string) (any, error) {
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("nothing at %q", tok)
		}
	}
	return cur, nil
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// walk calls f with the location and target of every $ref under v.
func walk(v any, at string, f func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			f(at, ref)
		}
		for k, x := range v {
			walk(x, at+"/"+escape(k), f)
		}
	case []any:
		for i, x := range v {
			walk(x, at+"/"+strconv.Itoa(i), f)
		}
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range anySlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// diff returns the sorted values of want missing from got, and of got not in
// want; it also reports values repeated in got as extra.
func diff(want, got []string) (missing, extra []string) {
	w := map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	g := map[string]int{}
	for _, s := range got {
		g[s]++
		if (!w[s] && g[s] == 1) || (w[s] && g[s] == 2) {
			extra = append(extra, s)
		}
	}
	for s := range w {
		if g[s] == 0 {
			missing = append(missing, s)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}

// filterFields returns the JSON names of expr.Filter's fields, whose tags
// also carry yaml names.
func filterFields(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)\ntype Filter struct \{\n(.*?)\n\}`).FindStringSubmatch(read(t, "../internal/expr/filter.go"))
	if m == nil {
		t.Fatalf("no struct Filter in internal/expr/filter.go")
	}
	var out []string
	for _, f := range regexp.MustCompile(`json:"([^",]+)`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, f[1])
	}
	return out
}
