package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/peers"
)

// maxCardFile bounds a card file; a card is about 1.5 KiB.
const maxCardFile = 64 << 10

func newPeerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peer",
		Short: "Exchange identity cards with partner nodes and keep the directory of peers",
		Long: `A node links only to the partners in its directory of peers. Each partner is
known by its card: its party (id, name, roles, jurisdiction), its log's public
key, its node's TLS certificate, which this node pins, and the https URL its
node serves at. A card holds no secret.

Operators exchange cards out of band. On node A:

  linkd peer card > a.json

Send a.json to B's operator, and have B's card sent back. Then, before adding
a card, compare its certificate fingerprint with the partner over another
channel (a phone or video call): whoever holds the key of the certificate on a
card can replicate into this node as that party. On node B:

  linkd peer add --card a.json

and on A, 'linkd peer add --card b.json'. Adding a card for a party already in
the directory replaces its card; that is how a partner rotates its
certificate or keys.

Managing peers needs an admin token; 'peer card' works with any token.`,
	}
	cmd.AddCommand(newPeerCardCmd(), newPeerAddCmd(), newPeerListCmd(), newPeerRemoveCmd())
	return cmd
}

func newPeerCardCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "card",
		Short: "Print this node's card as JSON, for partners to add",
		Long: `card prints this node's identity card as JSON on standard output, and its
certificate fingerprint on standard error. Hand the card to a partner's
operator, who adds it with 'linkd peer add'; read them the fingerprint over
another channel so they can check the card is yours.

The card's endpoint is 'advertise' from the node's config; when that is empty
the node derives it from the first name given to 'linkd init --host', else the
listen address.`,
		Example: `  linkd peer card > haiphong-terminal.json
  linkd peer card --node https://linkd.hict.vn:7443 --ca hict.crt --token-file reader.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			card, err := c.Card(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if err := printJSON(cmd.OutOrStdout(), card); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "card of %s at %s\ncertificate sha256 %s\n", card.Party.ID, card.Endpoint, card.Fingerprint())
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newPeerAddCmd() *cobra.Command {
	var r remote
	var file string
	cmd := &cobra.Command{
		Use:   "add --card FILE|-",
		Short: "Add a partner's card to the directory, or replace its card",
		Long: `add puts a partner's card, as 'linkd peer card' printed it on the partner's
node, into this node's directory. A card for a party already there replaces
its card: the old certificate is refused from then on.

The node checks the card whole and names every problem: the party, the log
key (it must be the key of linkd.dev/log/<party id>), the certificate (ECDSA
P-256, valid now, naming the party in a linkd://party/<id> URI) and the
endpoint (https://host:port).

Before adding a card, compare the certificate fingerprint add prints (or
'linkd peer list' shows) with the partner over another channel.`,
		Example: `  linkd peer add --card oceanic-lines.json
  linkd peer add --card - < oceanic-lines.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return &exitError{exitUsage, fmt.Errorf("add needs --card FILE, or --card - to read the card from standard input")}
			}
			card, err := readCard(cmd.InOrStdin(), file)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			stored, replaced, err := c.AddPeer(cmd.Context(), card)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, stored)
			}
			verb := "added"
			if replaced {
				verb = "replaced the card of"
			}
			p := stored.Party
			fmt.Fprintf(out, "%s peer %s (%s)\n", verb, p.ID, p.Name)
			fmt.Fprintf(out, "  roles         %s\n", roleNames(stored))
			fmt.Fprintf(out, "  jurisdiction  %s\n", strings.Join(p.Jurisdiction, ", "))
			fmt.Fprintf(out, "  endpoint      %s\n", stored.Endpoint)
			fmt.Fprintf(out, "  log key       %s\n", stored.LogKey)
			if stored.WitnessKey != "" {
				fmt.Fprintf(out, "  witness key   %s\n", stored.WitnessKey)
			}
			fmt.Fprintf(out, "  certificate   sha256 %s\n\n", stored.Fingerprint())
			fmt.Fprintf(out, "Check this fingerprint with %s over another channel: whoever holds its key\ncan connect to this node as %s.\n", p.ID, p.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "card", "", "the partner's card: a JSON file from 'linkd peer card', or - for standard input")
	r.flags(cmd)
	return cmd
}

// readCard reads one card from a file, or standard input for "-". Unknown
// fields are refused here, as the node would, so a typo is caught early.
func readCard(stdin io.Reader, file string) (peers.Peer, error) {
	var rd io.Reader = stdin
	name := "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return peers.Peer{}, fmt.Errorf("read card: %w", err)
		}
		defer f.Close()
		rd, name = f, file
	}
	data, err := io.ReadAll(io.LimitReader(rd, maxCardFile+1))
	if err != nil {
		return peers.Peer{}, fmt.Errorf("read card: %w", err)
	}
	if len(data) > maxCardFile {
		return peers.Peer{}, fmt.Errorf("card %s is over %d KiB; a card is one small JSON object", name, maxCardFile>>10)
	}
	var card peers.Peer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&card); err != nil {
		return peers.Peer{}, fmt.Errorf("card %s is not a peer card (the JSON 'linkd peer card' prints): %v", name, err)
	}
	if dec.More() {
		return peers.Peer{}, fmt.Errorf("card %s holds more than one JSON value; add one card at a time", name)
	}
	return card, nil
}

func newPeerListCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the partners in the directory",
		Long: `list shows every partner in this node's directory: party id, name, roles,
jurisdiction, endpoint and the first 16 hex digits of its certificate's
SHA-256. --json prints the whole cards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			list, err := c.Peers(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(out, "no peers yet: add a partner's card with 'linkd peer add --card FILE'")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLES\tJURISDICTION\tENDPOINT\tCERT SHA256")
			for _, p := range list {
				fp := p.Fingerprint()
				if len(fp) > 16 {
					fp = fp[:16]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Party.ID, p.Party.Name, roleNames(p), strings.Join(p.Party.Jurisdiction, ","), p.Endpoint, fp)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

func newPeerRemoveCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a partner; its certificate is refused at once",
		Long:    `remove deletes a partner's card from the directory by its party id (from 'linkd peer list').`,
		Example: `  linkd peer remove oceanic-lines`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.RemovePeer(cmd.Context(), args[0]); err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"removed": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed peer %s\n", args[0])
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func roleNames(p peers.Peer) string {
	if len(p.Party.Roles) == 0 {
		return "-"
	}
	s := make([]string, len(p.Party.Roles))
	for i, r := range p.Party.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
