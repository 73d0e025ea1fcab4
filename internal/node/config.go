package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/peers"
	"github.com/linkd-dev/linkd/internal/telemetry"
	"github.com/linkd-dev/linkd/internal/webhook"
)

// Config is a node's configuration file. `linkd init` writes one with every
// default spelled out and commented; paths in it are relative to the file's
// directory.
type Config struct {
	Party  PartyConfig  `yaml:"party"`
	Listen string       `yaml:"listen"` // host:port of the HTTPS API
	Data   string       `yaml:"data"`   // the store's directory
	Keys   KeysConfig   `yaml:"keys"`
	Limits LimitsConfig `yaml:"limits"`
	Log    LogConfig    `yaml:"log"`
	// Advertise is the https://host:port partners reach this node at: the
	// endpoint on the node's card. "" derives it (see AdvertiseURL).
	Advertise string `yaml:"advertise"`
	// ShutdownGrace bounds how long SIGTERM waits for requests in flight.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// Webhooks limits where subscriptions may deliver.
	Webhooks WebhooksConfig `yaml:"webhooks"`
	// Rules is a file of rules (YAML, see docs/rules.md); "" means none
	// beyond those added by the API.
	Rules string `yaml:"rules"`
	// Cluster makes the node one member of its party's Raft cluster when
	// it runs with `linkd node --cluster` (see ClusterConfig).
	Cluster ClusterConfig `yaml:"cluster"`
	// Traces sends OpenTelemetry traces to a collector or a file; by
	// default there are none.
	Traces telemetry.Config `yaml:"traces"`

	dir string // the config file's directory; relative paths start here
}

// PartyConfig is the party this node records for.
type PartyConfig struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	Roles        []string `yaml:"roles"`
	Jurisdiction []string `yaml:"jurisdiction"`
	Location     string   `yaml:"location"` // UN/LOCODE of the site (optional; places the node on dashboards' maps)
}

// KeysConfig names the node's key files.
type KeysConfig struct {
	Log     string `yaml:"log"`      // Ed25519 signer key of the log, note format
	TLSCert string `yaml:"tls_cert"` // PEM certificate (ECDSA P-256)
	TLSKey  string `yaml:"tls_key"`  // PEM private key
	// Witness is the Ed25519 key this node cosigns its peers' verified
	// checkpoints with (C2SP tlog-cosignature). Made on first start if absent.
	Witness string `yaml:"witness"`
}

// LimitsConfig bounds what clients may ask of the node.
type LimitsConfig struct {
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`      // request body; 413 above
	MaxConcurrent     int      `yaml:"max_concurrent"`      // requests at once; 503 above
	RatePerToken      float64  `yaml:"rate_per_token"`      // requests per second per token; 0 = unlimited
	BurstPerToken     int      `yaml:"burst_per_token"`     // requests a token may send at once
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // to receive a request's headers
	ReadTimeout       Duration `yaml:"read_timeout"`        // to receive a whole request
	WriteTimeout      Duration `yaml:"write_timeout"`       // to send a whole answer
	IdleTimeout       Duration `yaml:"idle_timeout"`        // keep-alive connections between requests
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	MaxDocumentBytes  int64    `yaml:"max_document_bytes"` // one trade document, uploaded or fetched from a peer; 413 above
}

// Policy is the destination policy for webhooks; prefixes were checked by
// Validate.
func (w WebhooksConfig) Policy() webhook.Policy {
	p := webhook.Policy{AllowPrivate: w.AllowPrivate, AllowLoopback: w.AllowLoopback, AllowHTTP: w.AllowHTTP}
	for _, a := range w.Allow {
		if pf, err := netip.ParsePrefix(a); err == nil {
			p.Allow = append(p.Allow, pf)
		}
	}
	return p
}

// WebhooksConfig says which webhook destinations are allowed. By default
// only public addresses over HTTPS: a subscription cannot make the node
// call into its own network.
type WebhooksConfig struct {
	AllowPrivate  bool `yaml:"allow_private"`  // RFC 1918, CGNAT and fc00::/7 destinations (cloud metadata addresses stay refused)
	AllowLoopback bool `yaml:"allow_loopback"` // 127.0.0.0/8 and ::1
	AllowHTTP     bool `yaml:"allow_http"`     // plain http:// callbacks
	// Allow admits every address in these CIDR prefixes (10.20.0.0/24),
	// whatever its kind: the escape hatch for a known internal receiver.
	Allow []string `yaml:"allow"`
	// Secrets are signing secrets (whsec_…) that rules' webhook actions
	// name; keep this file private.
	Secrets map[string]string `yaml:"secrets"`
}

// LogConfig sets the node's own log output.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// Negative values parse here so that Validate names the field.
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Defaults returns the configuration a new node starts with.
func Defaults() Config {
	return Config{
		Listen: "127.0.0.1:7443",
		Data:   "store",
		Keys:   KeysConfig{Log: "keys/log.key", TLSCert: "tls/node.crt", TLSKey: "tls/node.key", Witness: "keys/witness.key"},
		Limits: LimitsConfig{
			MaxBodyBytes:      linkd.MaxBatchBytes,
			MaxConcurrent:     512,
			RatePerToken:      5000,
			BurstPerToken:     10000,
			ReadHeaderTimeout: Duration(5 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			MaxHeaderBytes:    64 << 10,
			MaxDocumentBytes:  100 << 20,
		},
		Log:           LogConfig{Level: "info", Format: "text"},
		ShutdownGrace: Duration(30 * time.Second),
	}
}

// LoadConfig reads and checks a configuration file. Unknown keys are errors,
// so a typo never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if len(data) > 1<<20 {
		return Config{}, fmt.Errorf("config %s: over 1 MiB", path)
	}
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, err
	}
	cfg.dir = filepath.Dir(abs)
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// PartyValue returns the configured party.
func (c *Config) PartyValue() linkd.Party {
	p := linkd.Party{ID: c.Party.ID, Name: c.Party.Name, Jurisdiction: c.Party.Jurisdiction, Location: c.Party.Location}
	for _, r := range c.Party.Roles {
		p.Roles = append(p.Roles, linkd.Role(r))
	}
	return p
}

// Path resolves a path of the config relative to the file's directory.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Dir is the directory of the config file ("" for a config built in code).
func (c *Config) Dir() string { return c.dir }

// SetDir sets the directory relative paths start from.
func (c *Config) SetDir(dir string) { c.dir = dir }

// Validate checks every field and lists every problem.
func (c *Config) Validate() error {
	var probs []linkd.Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, linkd.Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if err := c.Traces.Validate(); err != nil {
		add("traces", "%v", err)
	}
	for i, a := range c.Webhooks.Allow {
		if _, err := netip.ParsePrefix(a); err != nil {
			add(fmt.Sprintf("webhooks.allow[%d]", i), "%q is not a CIDR prefix such as 10.20.0.0/24", a)
		}
	}
	if err := c.PartyValue().Validate(); err != nil {
		var ve *linkd.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				add("party."+p.Field, "%s", p.Reason)
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "want host:port, such as 127.0.0.1:7443 or :7443")
	}
	if c.Advertise != "" {
		if reason := peers.CheckEndpoint(c.Advertise); reason != "" {
			add("advertise", "%s", reason)
		}
	}
	for field, v := range map[string]string{"data": c.Data, "keys.log": c.Keys.Log, "keys.tls_cert": c.Keys.TLSCert, "keys.tls_key": c.Keys.TLSKey, "keys.witness": c.Keys.Witness} {
		if strings.TrimSpace(v) == "" {
			add(field, "required")
		}
	}
	l := c.Limits
	if l.MaxBodyBytes < 1<<10 || l.MaxBodyBytes > 1<<30 {
		add("limits.max_body_bytes", "want 1 KiB to 1 GiB")
	}
	if l.MaxConcurrent < 1 {
		add("limits.max_concurrent", "want at least 1")
	}
	if l.MaxDocumentBytes < 1<<10 || l.MaxDocumentBytes > 64<<30 {
		add("limits.max_document_bytes", "want 1 KiB to 64 GiB")
	}
	if l.RatePerToken < 0 {
		add("limits.rate_per_token", "want 0 (unlimited) or more")
	}
	if l.RatePerToken > 0 && l.BurstPerToken < 1 {
		add("limits.burst_per_token", "want at least 1 when rate_per_token is set")
	}
	for field, d := range map[string]Duration{"limits.read_header_timeout": l.ReadHeaderTimeout, "limits.read_timeout": l.ReadTimeout,
		"limits.write_timeout": l.WriteTimeout, "limits.idle_timeout": l.IdleTimeout} {
		if d <= 0 {
			add(field, "want a positive duration")
		}
	}
	if l.MaxHeaderBytes < 4<<10 {
		add("limits.max_header_bytes", "want at least 4096")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "want debug, info, warn or error")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "want text or json")
	}
	if c.ShutdownGrace <= 0 {
		add("shutdown_grace", "want a positive duration")
	}
	c.Cluster.validate(add)
	if len(probs) > 0 {
		return &linkd.ValidationError{Problems: probs}
	}
	return nil
}

// configTemplate is the file `linkd init` writes: every setting with its
// default and what it means.
var configTemplate = template.Must(template.New("config").Parse(`# linkd node configuration, written by 'linkd init' on {{.Created}}.
# Paths are relative to this file's directory. Run the node with:
#   linkd node --config {{.File}}

party:
  id: {{printf "%q" .Party.ID}}            # the log's name is linkd.dev/log/<id>; never change it
  name: {{printf "%q" .Party.Name}}
  roles: [{{.Roles}}]
  jurisdiction: [{{.Jurisdiction}}]   # ISO 3166 country, then region tags; residency checks trust these
  location: {{printf "%q" .Party.Location}}   # UN/LOCODE of the site (e.g. DEHAM); places the node on maps

listen: {{printf "%q" .Listen}}    # host:port of the HTTPS API; 0.0.0.0:7443 to serve other hosts
advertise: {{printf "%q" .Advertise}}   # https://host:port partners reach this node at, on its card ('linkd peer card');
                # "" = the first name given to 'linkd init --host', else the listen host; with the listen port
data: {{printf "%q" .Data}}           # the Pebble store: events, Merkle tree, checkpoints, tokens

keys:
  log: {{printf "%q" .Keys.Log}}         # Ed25519 key that signs checkpoints; losing it ends the log's identity
  tls_cert: {{printf "%q" .Keys.TLSCert}}   # ECDSA P-256 certificate clients and peers pin
  tls_key: {{printf "%q" .Keys.TLSKey}}
  witness: {{printf "%q" .Keys.Witness}}   # Ed25519 key that cosigns peers' checkpoints once verified

limits:
  max_body_bytes: {{.Limits.MaxBodyBytes}}     # one request body; larger ones get 413
  max_concurrent: {{.Limits.MaxConcurrent}}            # requests served at once; more get 503 with Retry-After
  rate_per_token: {{.Limits.RatePerToken}}           # requests per second per token; 0 = unlimited; over it, 429
  burst_per_token: {{.Limits.BurstPerToken}}         # requests a token may send at once before the rate applies
  read_header_timeout: {{.Limits.ReadHeaderTimeout}}      # to receive headers (slow clients are cut off)
  read_timeout: {{.Limits.ReadTimeout}}            # to receive a whole request
  write_timeout: {{.Limits.WriteTimeout}}           # to send a whole answer
  idle_timeout: {{.Limits.IdleTimeout}}            # keep-alive connections between requests
  max_header_bytes: {{.Limits.MaxHeaderBytes}}
  max_document_bytes: {{.Limits.MaxDocumentBytes}}  # one trade document, uploaded or fetched from a peer; larger ones get 413

log:
  level: {{.Log.Level}}     # debug, info, warn or error
  format: {{.Log.Format}}    # text or json

shutdown_grace: {{.ShutdownGrace}}   # on SIGTERM, how long requests in flight may finish

webhooks:                  # where subscriptions may deliver; by default only public HTTPS addresses
  allow_private: false     # RFC 1918, CGNAT and fc00::/7 destinations (metadata addresses stay refused)
  allow_loopback: false    # 127.0.0.0/8 and ::1
  allow_http: false        # plain http:// callbacks
  allow: []                # CIDR prefixes always allowed, e.g. [10.20.0.0/24]; keep them narrow

rules: ""                  # a YAML file of rules (see docs/rules.md); "" = none

# cluster:                 # with 'linkd node --cluster', one member of the party's Raft cluster (docs/cluster.md)
#   member: m1             # this member's id: unique in the cluster, never reused
#   listen: 0.0.0.0:7444   # host:port other members connect to, with mutual TLS
#   advertise: ""          # host:port they reach this member at; "" = listen
#   dir: raft              # the Raft log, snapshots and the cluster's identity

traces:                    # OpenTelemetry: one trace follows an event from ingest to every peer's store
  endpoint: ""             # OTLP/HTTP collector, e.g. http://127.0.0.1:4318; "" = none
  file: ""                 # or a file that gets each span as a JSON line; "" = none
  sample: 0                # fraction of traces begun here that are kept; 0 = all (callers' traceparent decides theirs)
`))

func writeConfig(path string, c Config) error {
	var roles, juris []string
	for _, r := range c.Party.Roles {
		roles = append(roles, r)
	}
	juris = append(juris, c.Party.Jurisdiction...)
	var b bytes.Buffer
	err := configTemplate.Execute(&b, struct {
		Config
		Created, File, Roles, Jurisdiction string
		Limits                             struct {
			LimitsConfig
			ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout string
		}
		ShutdownGrace string
	}{
		Config: c, Created: time.Now().UTC().Format(time.RFC3339), File: path,
		Roles: strings.Join(roles, ", "), Jurisdiction: strings.Join(juris, ", "),
		Limits: struct {
			LimitsConfig
			ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout string
		}{c.Limits, dur(c.Limits.ReadHeaderTimeout), dur(c.Limits.ReadTimeout), dur(c.Limits.WriteTimeout), dur(c.Limits.IdleTimeout)},
		ShutdownGrace: dur(c.ShutdownGrace),
	})
	if err != nil {
		return fmt.Errorf("render config: %w", err)
	}
	return writeFileExcl(path, b.Bytes(), 0o644)
}

func dur(d Duration) string { return time.Duration(d).String() }
