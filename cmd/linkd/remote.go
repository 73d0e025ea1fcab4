package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/node"
)

// remote holds the flags of every command that talks to a node.
type remote struct {
	node, ca, config, token, tokenFile string
	json                               bool
}

const remoteHelp = `
Which node and how: --config FILE (or LINKD_CONFIG) takes the address and the
certificate from a node's config file; --node URL and --ca FILE (LINKD_NODE,
LINKD_CA) name them directly. The access token comes from LINKD_TOKEN, or
--token-file FILE; --token works too but shows the secret to other users of
this machine.`

func (r *remote) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.node, "node", "", "node URL, such as https://127.0.0.1:7443 (default $LINKD_NODE)")
	f.StringVar(&r.ca, "ca", "", "PEM certificate to trust for the node (default $LINKD_CA)")
	f.StringVar(&r.config, "config", "", "take --node and --ca from this node config file (default $LINKD_CONFIG)")
	f.StringVar(&r.tokenFile, "token-file", "", "file holding the access token (default: $LINKD_TOKEN)")
	f.StringVar(&r.token, "token", "", "access token (prefer LINKD_TOKEN or --token-file)")
	f.BoolVar(&r.json, "json", false, "print JSON for scripts instead of text")
	cmd.Long += "\n" + remoteHelp
}

// client builds the client from flags, then the environment.
func (r *remote) client() (*client.Client, error) {
	nodeURL, ca := first(r.node, os.Getenv("LINKD_NODE")), first(r.ca, os.Getenv("LINKD_CA"))
	if cfgPath := first(r.config, os.Getenv("LINKD_CONFIG")); cfgPath != "" && nodeURL == "" {
		cfg, err := node.LoadConfig(cfgPath)
		if err != nil {
			return nil, &exitError{exitUsage, err}
		}
		host, port, _ := net.SplitHostPort(cfg.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		nodeURL = "https://" + net.JoinHostPort(host, port)
		if ca == "" {
			ca = cfg.Path(cfg.Keys.TLSCert)
		}
	}
	if nodeURL == "" {
		return nil, &exitError{exitUsage, fmt.Errorf("which node? give --config FILE (LINKD_CONFIG), or --node URL and --ca FILE")}
	}
	token := first(r.token, os.Getenv("LINKD_TOKEN"))
	if r.tokenFile != "" {
		b, err := os.ReadFile(r.tokenFile)
		if err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("read token file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, &exitError{exitUsage, fmt.Errorf("no access token: set LINKD_TOKEN or give --token-file FILE")}
	}
	c, err := client.New(nodeURL, client.Options{Token: token, CAFile: ca})
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return c, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// fail turns a node's error answer into the command's: the node's message,
// each problem on its own line, exit status 1.
func fail(w io.Writer, err error) error {
	if probs := client.Problems(err); len(probs) > 1 {
		fmt.Fprintf(w, "linkd: %s: %d problems:\n", linkd.ErrorCode(err), len(probs))
		for _, p := range probs {
			fmt.Fprintf(w, "  %s\n", p)
		}
		return &exitError{exitFailed, nil}
	}
	fmt.Fprintf(w, "linkd: %s\n", err)
	return &exitError{exitFailed, nil}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
