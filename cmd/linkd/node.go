package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/node"
)

func newInitCmd() *cobra.Command {
	var o node.InitOptions
	var roles, juris []string
	cmd := &cobra.Command{
		Use:   "init --dir DIR --party ID --jurisdiction CC[,REGION…]",
		Short: "Create a node's data directory: keys, certificate, config and an admin token",
		Long: `init creates a new node for one party in DIR:

  linkd.yaml      the config file, every setting commented with its default
  keys/log.key    the Ed25519 key that signs the log's checkpoints (keep it secret;
                  keys/log.key.pub is the public key partners verify with)
  tls/node.crt    a self-signed ECDSA P-256 certificate for the HTTPS API (and
  tls/node.key    for mutual TLS with partners); clients trust node.crt
  store/          the Pebble store, empty but for the first admin token

The admin token is printed once; the node keeps only its hash. Store it in a
password manager or secret store; with it, create tokens for people and systems
('linkd token create').

The party id names the log forever (linkd.dev/log/<id>): a lowercase slug such
as haiphong-terminal. The jurisdiction is the ISO 3166 country the node runs in,
then any region tags it belongs to (EU, EEA, ASEAN); residency rules trust it.`,
		Example: `  linkd init --dir /var/lib/linkd --party haiphong-terminal --name "Haiphong Terminal" \
      --role terminal --jurisdiction VN,ASEAN --listen 0.0.0.0:7443 --host linkd.hict.vn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Dir == "" || o.Party.ID == "" || len(juris) == 0 {
				return &exitError{exitUsage, fmt.Errorf("init needs --dir, --party and --jurisdiction (see --help)")}
			}
			o.Party.Jurisdiction = juris
			for _, r := range roles {
				o.Party.Roles = append(o.Party.Roles, linkd.Role(r))
			}
			res, err := node.Init(cmd.Context(), o)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Initialised node %s in %s\n\n", o.Party.ID, o.Dir)
			fmt.Fprintf(out, "  config        %s\n", res.ConfigPath)
			fmt.Fprintf(out, "  log key       %s\n", res.LogPublicKey)
			fmt.Fprintf(out, "  TLS cert      sha256 %s\n\n", res.CertFingerprint)
			fmt.Fprintf(out, "Admin token (shown once, store it now):\n\n  %s\n\n", res.AdminToken)
			fmt.Fprintf(out, "Start the node:     linkd node --config %s\n", res.ConfigPath)
			fmt.Fprintf(out, "Then, in a shell:   export LINKD_CONFIG=%s LINKD_TOKEN=<the token above>\n", res.ConfigPath)
			fmt.Fprintf(out, "                    linkd log checkpoint\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "data directory to create (must not exist or be empty)")
	f.StringVar(&o.Party.ID, "party", "", "party id, a lowercase slug such as haiphong-terminal")
	f.StringVar(&o.Party.Name, "name", "", "display name (default: the party id)")
	f.StringSliceVar(&roles, "role", nil, "the party's roles in the lane: shipper, forwarder, carrier, terminal, customs, warehouse, consignee … (repeat or comma-separate)")
	f.StringSliceVar(&juris, "jurisdiction", nil, "ISO 3166 country, then region tags, e.g. DE,EU")
	f.StringVar(&o.Party.Location, "location", "", "UN/LOCODE of the node's site, e.g. DEHAM (places it on dashboard maps)")
	f.StringVar(&o.Listen, "listen", "", "host:port of the HTTPS API (default 127.0.0.1:7443)")
	f.StringSliceVar(&o.Hosts, "host", nil, "extra DNS names or IPs for the TLS certificate (localhost, 127.0.0.1 and ::1 are always in)")
	return cmd
}

func newNodeCmd() *cobra.Command {
	var cfgPath string
	var cl node.ClusterConfig // --cluster, --join, --join-token
	cmd := &cobra.Command{
		Use:   "node --config FILE",
		Short: "Run a party's node",
		Long: `node runs the party's node from the config file 'linkd init' wrote: it opens
the store and the log (recovering to the last durable state after a crash),
and serves the HTTPS API until SIGTERM or Ctrl-C.

On SIGTERM it drains: /readyz answers 503 at once, new connections are
refused, requests in flight get shutdown_grace to finish, and the store closes
cleanly. Every event acknowledged before is durable.

With --cluster the node is one member of the party's Raft cluster, set up by
the config's cluster: section (docs/cluster.md). The first member starts the
cluster and writes its join token to the cluster directory; the others join
with --join URL --join-token TOKEN. A restarted member needs only --cluster.

Logs go to standard error, as text or JSON (log.format in the config).
Exit status: 0 after a clean shutdown, 1 when the node failed, 2 for a bad
config.`,
		Example: `  linkd node --config /var/lib/linkd/linkd.yaml
  linkd node --config m1.yaml --cluster
  linkd node --config m2.yaml --cluster --join https://10.0.0.1:7443 --join-token lkj_…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" {
				cfgPath = os.Getenv("LINKD_CONFIG")
			}
			if cfgPath == "" {
				return &exitError{exitUsage, fmt.Errorf("node needs --config FILE (or LINKD_CONFIG); 'linkd init' writes one")}
			}
			cfg, err := node.LoadConfig(cfgPath)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			cfg.Cluster.Enabled, cfg.Cluster.JoinURL = cl.Enabled || cl.JoinURL != "", cl.JoinURL
			if cl.JoinURL != "" {
				cfg.Cluster.JoinToken = first(cl.JoinToken, os.Getenv("LINKD_JOIN_TOKEN"))
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{exitUsage, fmt.Errorf("config %s: %w", cfgPath, err)}
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.Log)
			n, err := node.Open(cfg, logger)
			if err != nil {
				logger.Error("node failed to start", "err", err)
				return &exitError{exitFailed, nil}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "linkd node %s listening on https://%s\n", cfg.Party.ID, n.Addr())
			serr := n.Serve(cmd.Context())
			cerr := n.Close()
			if serr != nil || cerr != nil {
				logger.Error("node stopped with an error", "serve_err", serr, "close_err", cerr)
				return &exitError{exitFailed, nil}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (default $LINKD_CONFIG)")
	cmd.Flags().BoolVar(&cl.Enabled, "cluster", false, "run as a member of the party's Raft cluster (the config's cluster: section; docs/cluster.md): start a new cluster, or with --join join one")
	cmd.Flags().StringVar(&cl.JoinURL, "join", "", "with --cluster: the API URL of a member of the cluster to join, such as https://10.0.0.1:7443")
	cmd.Flags().StringVar(&cl.JoinToken, "join-token", "", "with --join: the cluster's join token ('linkd cluster token' makes one; default $LINKD_JOIN_TOKEN)")
	return cmd
}

func newLogger(w io.Writer, c node.LogConfig) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
