package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/docs"
)

func newDocCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doc",
		Short: "Share trade documents with a shipment's parties and attest them",
		Long: `doc uploads trade documents (commercial invoices, packing lists, bills of
lading, certificates of origin, phytosanitary certificates; PDF, JSON or XML)
to your node, which shares each with exactly the parties of its shipment the
document-access matrix entitles, within its residency. Parties record their
verdicts (CHECKED, ACCEPTED, REJECTED) as attestations, and anyone can check a
copy of a document with 'linkd verify FILE'. See docs/documents.md.`,
	}
	cmd.AddCommand(newDocUploadCmd(), newDocDownloadCmd(), newDocAttestCmd(), newDocShowCmd(), newDocListCmd(),
		newDocBundleCmd(), newDocAccessCmd(), newDocEraseCmd())
	return cmd
}

// shipmentFlags name a shipment by its references.
type shipmentFlags struct{ booking, bl, container string }

func (s *shipmentFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.booking, "booking", "", "the shipment's carrier booking reference")
	f.StringVar(&s.bl, "bl", "", "the shipment's transport document (B/L) number")
	f.StringVar(&s.container, "container", "", "the shipment's container number")
}

func (s *shipmentFlags) value() docs.Shipment {
	return docs.Shipment{CarrierBookingReference: s.booking, TransportDocumentReference: s.bl, EquipmentReference: s.container}
}

func (s *shipmentFlags) required() (docs.Shipment, error) {
	if v := s.value(); !v.IsZero() {
		return v, nil
	}
	return docs.Shipment{}, &exitError{exitUsage, errors.New("name the shipment: --booking, --bl or --container")}
}

// hashFile returns the lowercase hex SHA-256 of a file ("-": standard
// input), read as a stream.
func hashFile(stdin io.Reader, path string) (string, int64, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", 0, err
		}
		defer f.Close()
		r = f
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashArg takes a document's hash, or a file whose hash it computes.
func hashArg(stdin io.Reader, arg string) (string, error) {
	if docs.CheckSHA256(arg) == nil {
		return arg, nil
	}
	if _, err := os.Stat(arg); err != nil && arg != "-" {
		return "", &exitError{exitUsage, fmt.Errorf("%q is neither a document's sha256 (64 lowercase hex digits) nor a file: %v", clipArg(arg), err)}
	}
	sha, _, err := hashFile(stdin, arg)
	if err != nil {
		return "", &exitError{exitUsage, err}
	}
	return sha, nil
}

func clipArg(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// mediaByExtension is the Content-Type an upload declares for a file name;
// "" lets the node decide from the bytes.
func mediaByExtension(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pdf":
		return docs.MediaPDF
	case ".json":
		return docs.MediaJSON
	case ".xml":
		return docs.MediaXML
	}
	return ""
}

func typeName(code string) string {
	if m := linkd.DocumentTypeCodes[code]; m != "" {
		return fmt.Sprintf("%s (%s)", m, code)
	}
	return code
}

func newDocUploadCmd() *cobra.Command {
	var r remote
	var sh shipmentFlags
	var typ, documentID string
	var visibility, residency []string
	cmd := &cobra.Command{
		Use:   "upload FILE --type TYPE (--booking REF | --bl REF | --container REF)",
		Short: "Issue a document: store it on your node and share it with the parties entitled to it",
		Long: `upload streams FILE to your node. The node checks its size, its hash and that
it is PDF, JSON or XML, stores it encrypted, and records an ISSUED
attestation naming its SHA-256, which shares it with the shipment's parties
whose role the document-access matrix gives documents of TYPE (see 'linkd doc
access'), narrowed by --visibility, and only with nodes inside --residency.
Their nodes fetch it from yours over mutual TLS.

TYPE is a documentTypeCode: INV commercial invoice, PKL packing list, TRD
transport document (bill of lading), COO certificate of origin, PHY
phytosanitary certificate, or another DCSA code. Uploading a document the node
already holds changes nothing.`,
		Example: `  linkd doc upload invoice.pdf --type INV --booking BKG-2026-0042 --residency EU
  linkd doc upload coo.xml --type COO --bl HLCUHAM123 --visibility eu-customs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			shipment, err := sh.required()
			if err != nil {
				return err
			}
			if typ == "" {
				return &exitError{exitUsage, errors.New("give the document's type: --type INV, PKL, TRD, COO, PHY or another DCSA documentTypeCode")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			sha, size, err := hashFile(cmd.InOrStdin(), args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer f.Close()
			d, created, err := c.UploadDocument(cmd.Context(), f, size, client.DocumentUpload{
				SHA256: sha, Type: typ, ContentType: mediaByExtension(args[0]), DocumentID: documentID,
				Shipment: shipment, Visibility: visibility, Residency: residency,
			})
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, d)
			}
			verb := "issued"
			if !created {
				verb = "already held; nothing new recorded for"
			}
			fmt.Fprintf(out, "%s %s: sha256 %s\n", verb, args[0], d.SHA256)
			fmt.Fprintf(out, "  %s of %s, %d bytes, %s\n", typeName(d.Type), d.Shipment, d.Size, d.MediaType)
			fmt.Fprintf(out, "  shared with: %s\n", strings.Join(d.Visibility, ", "))
			if len(d.Residency) > 0 {
				fmt.Fprintf(out, "  stored only in: %s\n", strings.Join(d.Residency, ", "))
			}
			return nil
		},
	}
	r.flags(cmd)
	sh.register(cmd)
	cmd.Flags().StringVar(&typ, "type", "", "documentTypeCode: INV, PKL, TRD, COO, PHY, …")
	cmd.Flags().StringVar(&documentID, "document-id", "", "the issuer's own number for the document (invoice number)")
	cmd.Flags().StringSliceVar(&visibility, "visibility", nil, "narrow who gets it to these parties (comma-separated ids)")
	cmd.Flags().StringSliceVar(&residency, "residency", nil, "jurisdictions where its bytes may be stored (EU, DE, …)")
	return cmd
}

func newDocDownloadCmd() *cobra.Command {
	var r remote
	var out string
	cmd := &cobra.Command{
		Use:   "download SHA256 [-o FILE]",
		Short: "Download a document your node holds, resuming a cut download",
		Long: `download writes the document with SHA256 to FILE (default: the hash with the
extension of its type), through FILE.part: a download cut off resumes from
where it stopped when run again, and FILE appears only once every byte is
there and hashes to SHA256.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sha := args[0]
			if err := docs.CheckSHA256(sha); err != nil {
				return &exitError{exitUsage, err}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			part := out + ".part"
			if out == "" {
				part = sha + ".part"
			}
			f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer f.Close()
			have, err := f.Seek(0, io.SeekEnd)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			s, err := c.OpenDocument(cmd.Context(), sha, have)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			defer s.Body.Close()
			if s.Offset != have {
				if err := f.Truncate(0); err != nil {
					return err
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
			}
			if _, err := io.Copy(f, s.Body); err != nil {
				return fmt.Errorf("download cut off; run the command again to resume: %w", err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			got, n, err := hashFile(nil, part)
			if err != nil {
				return err
			}
			if got != sha {
				os.Remove(part)
				fmt.Fprintf(cmd.ErrOrStderr(), "linkd: the %d bytes received hash to %s, not %s; removed them, download again\n", n, got, sha)
				return &exitError{exitFailed, nil}
			}
			if out == "" {
				out = sha + docsExtension(s.MediaType)
			}
			if err := os.Rename(part, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes, sha256 %s\n", out, n, sha)
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "the file to write")
	return cmd
}

func docsExtension(media string) string {
	switch {
	case strings.HasPrefix(media, docs.MediaPDF):
		return ".pdf"
	case strings.HasPrefix(media, docs.MediaJSON):
		return ".json"
	case strings.HasPrefix(media, docs.MediaXML):
		return ".xml"
	}
	return ""
}

func newDocAttestCmd() *cobra.Command {
	var r remote
	var verdict, reason string
	cmd := &cobra.Command{
		Use:   "attest SHA256|FILE --verdict CHECKED|ACCEPTED|REJECTED [--reason TEXT]",
		Short: "Record your party's verdict on a document your node holds",
		Long: `attest records an attestation on your party's log: an event naming the
document's SHA-256 (given, or computed from FILE) and your verdict, which goes
to the parties the document went to. REJECTED needs --reason. A document your
party may not see is refused as unknown.`,
		Example: `  linkd doc attest invoice.pdf --verdict ACCEPTED
  linkd doc attest 3f7a…e1 --verdict REJECTED --reason "unit price differs from the purchase order"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sha, err := hashArg(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			a, err := c.Attest(cmd.Context(), sha, strings.ToUpper(verdict), reason)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: event %s at index %d of %s's log\n", a.Event.Attestation.Verdict, sha, a.Ack.EventID, a.Ack.LogIndex, a.Event.Origin)
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&verdict, "verdict", "", "CHECKED, ACCEPTED or REJECTED")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required for REJECTED)")
	cmd.MarkFlagRequired("verdict")
	return cmd
}

func newDocShowCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "show SHA256|FILE",
		Short: "Show a document's record and every attestation of it your node holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sha, err := hashArg(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			info, err := c.DocumentInfo(cmd.Context(), sha)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, info)
			}
			fmt.Fprintf(out, "sha256 %s\n", sha)
			if d := info.Document; d != nil {
				fmt.Fprintf(out, "  %s of %s, issued by %s at %s\n", typeName(d.Type), d.Shipment, d.Issuer, d.Issued)
				fmt.Fprintf(out, "  state %s", d.State)
				if d.Size > 0 {
					fmt.Fprintf(out, ", %d bytes %s", d.Size, d.MediaType)
				}
				if d.Note != "" {
					fmt.Fprintf(out, " (%s)", d.Note)
				}
				fmt.Fprintf(out, "\n  shared with: %s\n", strings.Join(d.Visibility, ", "))
			} else {
				fmt.Fprintln(out, "  this node does not hold the document; it holds attestations of its hash")
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, a := range info.Attestations {
				check := "verified"
				if !a.Verified {
					check = "NOT VERIFIED"
				}
				line := fmt.Sprintf("  %s\t%s\tby %s\tindex %d\t%s", a.EventDateTime, a.Verdict, a.Origin, a.LogIndex, check)
				if a.Reason != "" {
					line += fmt.Sprintf("\t%q", a.Reason)
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

func newDocListCmd() *cobra.Command {
	var r remote
	var sh shipmentFlags
	cmd := &cobra.Command{
		Use:   "list [--booking REF | --bl REF | --container REF]",
		Short: "List the documents your node holds, of one shipment or all",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			list, err := c.Documents(cmd.Context(), sh.value())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHA256\tTYPE\tSHIPMENT\tISSUER\tSTATE\tBYTES")
			for _, d := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", d.SHA256, d.Type, d.Shipment, d.Issuer, d.State, d.Size)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	sh.register(cmd)
	return cmd
}

func newDocBundleCmd() *cobra.Command {
	var r remote
	var out string
	cmd := &cobra.Command{
		Use:   "bundle SHA256|FILE [-o BUNDLE]",
		Short: "Export the proofs of a document's attestations, for 'linkd verify --document-bundle'",
		Long: `bundle writes the proof of every attestation of the document your node holds
(each event with its salt, inclusion proof and its origin's signed checkpoint)
as one JSON file. With it and the parties' log keys, anyone can check a copy of
the document offline: 'linkd verify --document-bundle BUNDLE --log-keys KEYS FILE'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sha, err := hashArg(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			b, err := c.DocumentBundle(cmd.Context(), sha)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				defer f.Close()
				w = f
			}
			return printJSON(w, b)
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the bundle here (default: standard output)")
	return cmd
}

func newDocAccessCmd() *cobra.Command {
	var r remote
	var sh shipmentFlags
	var set string
	cmd := &cobra.Command{
		Use:   "access (--booking REF | --bl REF | --container REF) [--set TYPE=ROLE,ROLE]",
		Short: "Show or change which roles of a shipment may hold each type of document",
		Long: `access shows a shipment's document-access matrix: for each document type, the
roles that may hold it and the parties they are. With --set, it records an
event that gives documents of TYPE to exactly those roles ("--set INV=" leaves
them to their issuer); every party's node applies it. Only a party on the
shipment may change it.`,
		Example: `  linkd doc access --booking BKG-2026-0042
  linkd doc access --booking BKG-2026-0042 --set INV=customs,consignee,forwarder,shipper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			shipment, err := sh.required()
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if set != "" {
				code, list, ok := strings.Cut(set, "=")
				if !ok {
					return &exitError{exitUsage, errors.New("--set TYPE=ROLE,ROLE, such as INV=customs,forwarder")}
				}
				roles := []linkd.Role{}
				for _, s := range strings.Split(list, ",") {
					if s = strings.TrimSpace(s); s != "" {
						roles = append(roles, linkd.Role(s))
					}
				}
				ack, err := c.SetDocumentAccess(cmd.Context(), shipment, strings.ToUpper(code), roles)
				if err != nil {
					return fail(cmd.ErrOrStderr(), err)
				}
				fmt.Fprintf(out, "recorded: event %s at index %d\n", ack.EventID, ack.LogIndex)
			}
			v, err := c.DocumentAccess(cmd.Context(), shipment)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(out, v)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tROLES\tPARTIES\tSET BY")
			for _, row := range v.Rows {
				by := "default"
				if row.SetBy != "" {
					by = row.SetBy
				}
				var roles []string
				for _, r := range row.Roles {
					roles = append(roles, string(r))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.DocumentTypeCode, strings.Join(roles, ","), strings.Join(row.Parties, ","), by)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	sh.register(cmd)
	cmd.Flags().StringVar(&set, "set", "", "TYPE=ROLE,ROLE: the roles that may hold documents of TYPE")
	return cmd
}

func newDocEraseCmd() *cobra.Command {
	var r remote
	var sh shipmentFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "erase (--booking REF | --bl REF | --container REF) --reason TEXT",
		Short: "Erase a shipment's documents on every node that holds them (crypto-shredding)",
		Long: `erase records an erasure of the shipment on your party's log. Every node that
holds the shipment's documents destroys the shipment's data key and the
documents' encrypted bytes when the erasure reaches it, so no copy can be read
again anywhere; the records, hashes and attestations stay, and still verify.
It cannot be undone. Keep personal data out of --reason: it is recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			shipment, err := sh.required()
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			e, err := c.Erase(cmd.Context(), shipment, reason)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), e)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "erased %s: event %s at index %d; %d documents erased on this node\n", shipment, e.EventID, e.LogIndex, len(e.Erased))
			return nil
		},
	}
	r.flags(cmd)
	sh.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded; no personal data)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

// docVerify is the document mode of 'linkd verify FILE'.
type docVerify struct {
	bundle  string
	logKeys []string
	conn    remote
}

const verifyDocumentHelp = `
A trade document (PDF, JSON or XML; FILE, not a bundle): who issued it and
who attested what and when, each attestation verified back to a signed
checkpoint of its party's log with that party's log key. It answers GENUINE
(issued by a party you trust, every attestation verifies), MATCHES NOTHING
(no attestation names the file's SHA-256: altered, or another file), UNKNOWN
PARTY (only parties whose keys you do not trust attest it) or NOT VERIFIED
(an attestation does not verify: the evidence was altered).

  offline:  --document-bundle BUNDLE (from 'linkd doc bundle') and the keys to
            trust: --log-keys FILE (one key per line; repeatable) and/or --key.
  online:   --node URL (or --config FILE; LINKD_NODE/LINKD_CONFIG when no
            --key is given) asks that node for the attestations it holds; the
            proofs are still checked here, with the keys given or, if none,
            the log keys on the node's card and in its peer directory.`

func (d *docVerify) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.bundle, "document-bundle", "", "verify FILE as a document against this bundle of its attestations")
	f.StringArrayVar(&d.logKeys, "log-keys", nil, "a file of log keys to trust, one per line (repeatable)")
	f.StringVar(&d.conn.node, "node", "", "verify FILE as a document against the attestations this node holds")
	f.StringVar(&d.conn.ca, "ca", "", "PEM certificate to trust for --node (default $LINKD_CA)")
	f.StringVar(&d.conn.config, "config", "", "take --node and --ca from this node config file")
	f.StringVar(&d.conn.tokenFile, "token-file", "", "file holding the access token (default: $LINKD_TOKEN)")
	f.StringVar(&d.conn.token, "token", "", "access token (prefer LINKD_TOKEN or --token-file)")
	cmd.Long += "\n" + verifyDocumentHelp
}

// wanted reports whether the command verifies a document, not a bundle:
// a document flag is given, or no key is and the environment names a node
// — unless path holds a proof or evidence bundle, which needs a key.
func (d *docVerify) wanted(key, keyFile, path string) bool {
	if d.bundle != "" || d.conn.node != "" || d.conn.config != "" || len(d.logKeys) > 0 {
		return true
	}
	if key != "" || keyFile != "" || os.Getenv("LINKD_NODE") == "" && os.Getenv("LINKD_CONFIG") == "" {
		return false
	}
	return !looksLikeBundle(path)
}

// looksLikeBundle reports whether the file at path starts like a proof or
// evidence bundle.
func looksLikeBundle(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	return bytes.Contains(head, []byte(linkd.BundleFormat)) || bytes.Contains(head, []byte(`"a"`)) && bytes.Contains(head, []byte(`"b"`))
}

// run verifies the document in path.
func (d *docVerify) run(cmd *cobra.Command, path, key, keyFile string, asJSON bool) error {
	ctx := cmd.Context()
	if d.bundle != "" && (d.conn.node != "" || d.conn.config != "") {
		return &exitError{exitUsage, errors.New("verify against a bundle (--document-bundle) or a node (--node, --config), not both")}
	}
	sha, _, err := hashFile(cmd.InOrStdin(), path)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	keys := map[string]string{}
	if keyFile != "" {
		key = "@" + keyFile
	}
	if key != "" {
		k, err := readKey(key)
		if err != nil {
			return &exitError{exitUsage, err}
		}
		if err := addKey(keys, k); err != nil {
			return &exitError{exitUsage, err}
		}
	}
	for _, f := range d.logKeys {
		if err := readKeyFile(keys, f); err != nil {
			return &exitError{exitUsage, err}
		}
	}
	var b *docs.Bundle
	where := ""
	if d.bundle != "" {
		if len(keys) == 0 {
			return &exitError{exitUsage, errors.New("offline verification needs the log keys to trust: --log-keys FILE or --key KEY")}
		}
		if b, err = readDocBundle(d.bundle); err != nil {
			return &exitError{exitUsage, err}
		}
		where = "in " + d.bundle
	} else {
		c, err := d.conn.client()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			if err := nodeKeys(ctx, c, keys); err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
		}
		got, err := c.DocumentBundle(ctx, sha)
		switch {
		case err == nil:
			b = &got
		case linkd.ErrorCode(err) != linkd.ENotFound:
			return fail(cmd.ErrOrStderr(), err)
		}
		where = "among the events the node holds"
	}
	rep := docs.Verify(sha, b, keys)
	printReport(cmd.OutOrStdout(), path, where, rep, asJSON)
	if rep.Outcome != docs.Genuine {
		return &exitError{code: exitFailed, err: errors.New(rep.Summary)}
	}
	return nil
}

// addKey trusts a log key under the party its name gives.
func addKey(keys map[string]string, k string) error {
	name, _, _ := strings.Cut(k, "+")
	party, ok := strings.CutPrefix(name, linkd.LogOrigin(""))
	if !ok || party == "" {
		return fmt.Errorf("log key %q: want linkd.dev/log/<party>+<hash>+<base64>", clipArg(k))
	}
	keys[party] = k
	return nil
}

func readKeyFile(keys map[string]string, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read log keys: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := addKey(keys, line); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return sc.Err()
}

// nodeKeys trusts the log keys a node knows: its own and its peers'.
func nodeKeys(ctx context.Context, c *client.Client, keys map[string]string) error {
	card, err := c.Card(ctx)
	if err != nil {
		return err
	}
	keys[card.Party.ID] = card.LogKey
	list, err := c.Peers(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		keys[p.Party.ID] = p.LogKey
	}
	return nil
}

// maxDocBundle bounds a document bundle file: thousands of attestations.
const maxDocBundle = 64 << 20

func readDocBundle(path string) (*docs.Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read document bundle: %w", err)
	}
	defer f.Close()
	var b docs.Bundle
	dec := json.NewDecoder(io.LimitReader(f, maxDocBundle))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("read document bundle %s: %v", path, err)
	}
	if err := docs.CheckBundle(&b); err != nil {
		return nil, fmt.Errorf("read document bundle %s: %v", path, err)
	}
	return &b, nil
}

func printReport(out io.Writer, path, where string, rep docs.Report, asJSON bool) {
	if asJSON {
		printJSON(out, rep)
		return
	}
	switch rep.Outcome {
	case docs.Genuine:
		first := rep.Attestations[0]
		for _, a := range rep.Attestations {
			if a.Verified && a.Verdict == "ISSUED" {
				first = a
				break
			}
		}
		fmt.Fprintf(out, "GENUINE: %s is the %s of %s issued by %s\n", path, typeName(first.DocumentTypeCode), first.Shipment, first.Party)
	case docs.MatchesNothing:
		fmt.Fprintf(out, "MATCHES NOTHING: %s (sha256 %s): no attestation %s names it; no party issued this file (it was altered, or it is another file)\n", path, rep.SHA256, where)
		return
	case docs.UnknownParty:
		fmt.Fprintf(out, "UNKNOWN PARTY: %s: %s\n", path, rep.Summary)
	case docs.NotVerified:
		fmt.Fprintf(out, "NOT VERIFIED: %s: %s\n", path, rep.Summary)
	}
	fmt.Fprintf(out, "  sha256 %s\n", rep.SHA256)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, a := range rep.Attestations {
		line := fmt.Sprintf("  %s\t%s\tby %s\tevent %s, index %d", a.EventDateTime, a.Verdict, a.Party, a.EventID, a.LogIndex)
		if a.Verified {
			line += fmt.Sprintf(", checkpoint %d root %.16s…\t%s", a.CheckpointSize, a.RootHash, a.Status)
		} else {
			line += "\t" + a.Status
		}
		if a.Reason != "" {
			line += fmt.Sprintf("\treason %q", a.Reason)
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}
