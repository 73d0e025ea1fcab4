package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
	"github.com/linkd-dev/linkd/internal/witness"
)

func newVerifyCmd() *cobra.Command {
	var key, keyFile string
	var asJSON bool
	var dv docVerify
	cmd := &cobra.Command{
		Use:   "verify (--key KEY | --log-key FILE) BUNDLE | verify (--document-bundle BUNDLE | --node URL) DOCUMENT",
		Short: "Check that a party recorded an event, that a log equivocated, or who issued and attested a document",
		Long: `verify checks, without trusting whoever handed it over, one of three kinds
of file ('-' reads standard input), with no network unless --node asks a node
for a document's attestations:

A proof bundle (an event, its salt, its log index, an inclusion proof and a
signed checkpoint): that the party holding KEY recorded exactly that event.

An evidence bundle (two signed checkpoints "a" and "b" of one log, and for
different sizes the root the larger implies at the smaller size with a
consistency proof), as a node writes when it catches a peer's log in a split
view: that the log holding KEY signed two checkpoints that cannot both be true.

KEY is the log's public key in signed-note form
(linkd.dev/log/<party>+<hash>+<base64>), or @FILE to read it from a file;
--log-key FILE is the same as --key @FILE.

It prints what was proven, or exactly which check failed. Exit status: 0
verified or proven, 1 not, 2 the input could not be read.`,
		Example: `  linkd verify --key @haiphong-terminal.pub bundle.json
  linkd verify --log-key haiphong-terminal.pub evidence.json
  linkd verify --document-bundle invoice.bundle.json --log-keys lane.keys invoice.pdf
  linkd verify --config node/linkd.yaml invoice.pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dv.wanted(key, keyFile, args[0]) {
				return dv.run(cmd, args[0], key, keyFile, asJSON)
			}
			switch {
			case key != "" && keyFile != "":
				return &exitError{exitUsage, errors.New("give the log's public key once: --key or --log-key, not both")}
			case keyFile != "":
				key = "@" + keyFile
			case key == "":
				return &exitError{exitUsage, errors.New(`required flag(s) "key" not set: give the log's public key with --key KEY, --key @FILE or --log-key FILE`)}
			}
			vkey, err := readKey(key)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			data, err := readInput(cmd.InOrStdin(), args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if isEvidence(data) {
				ev, err := linkd.ParseEvidence(data)
				if err != nil {
					return &exitError{exitUsage, fmt.Errorf("read evidence %s: not a linkd evidence bundle: %v", args[0], err)}
				}
				return verifyEvidence(cmd.OutOrStdout(), ev, vkey, asJSON)
			}
			b, err := parseBundle(data, args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			out := cmd.OutOrStdout()
			v, verr := tlog.VerifyBundle(b, vkey)
			if asJSON {
				res := map[string]any{"verified": verr == nil}
				if verr != nil {
					res["reason"] = verr.Error()
					var ve *tlog.VerifyError
					if errors.As(verr, &ve) {
						res["kind"] = ve.Kind.Error()
					}
				} else {
					res["party"], res["eventID"], res["logIndex"] = v.Party, v.EventID, v.LogIndex
					res["checkpointSize"], res["rootHash"] = v.Checkpoint.Size, v.Checkpoint.Hash[:]
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(res)
			} else if verr != nil {
				fmt.Fprintf(out, "NOT VERIFIED: %v\n", verr)
			} else {
				e := b.Event
				fmt.Fprintf(out, "VERIFIED: %s recorded event %s at index %d of its log.\n", v.Party, v.EventID, v.LogIndex)
				fmt.Fprintf(out, "  event:      %s\n", describe(&e))
				fmt.Fprintf(out, "  checkpoint: size %d, root %s, signed by %s\n", v.Checkpoint.Size, tlog.Hash(v.Checkpoint.Hash), strings.SplitN(vkey, "+", 2)[0])
				fmt.Fprintf(out, "  leaf hash:  %s\n", v.LeafHash)
			}
			if verr != nil {
				return &exitError{code: exitFailed, err: verr}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the log's public key, or @FILE")
	cmd.Flags().StringVar(&keyFile, "log-key", "", "a file holding the log's public key (same as --key @FILE)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	dv.register(cmd)
	return cmd
}

// verifyEvidence checks an evidence bundle and prints the verdict.
func verifyEvidence(out io.Writer, ev *linkd.Evidence, vkey string, asJSON bool) error {
	verr := witness.VerifyEvidence(ev, vkey)
	// Once proven, both checkpoints open with the key; say what they claim.
	var a, b linkd.Checkpoint
	if verr == nil {
		v, _ := tlog.NewVerifier(vkey)
		a, _ = tlog.OpenCheckpoint(ev.A, v)
		b, _ = tlog.OpenCheckpoint(ev.B, v)
		if a.Size > b.Size {
			a, b = b, a
		}
	}
	if asJSON {
		res := map[string]any{"proven": verr == nil, "origin": ev.Origin}
		if verr != nil {
			res["reason"] = verr.Error()
			var ve *tlog.VerifyError
			if errors.As(verr, &ve) {
				res["kind"] = ve.Kind.Error()
			}
		} else {
			res["a"] = map[string]any{"size": a.Size, "rootHash": a.Hash[:]}
			res["b"] = map[string]any{"size": b.Size, "rootHash": b.Hash[:]}
			if a.Size != b.Size {
				res["impliedRoot"] = ev.SmallerRoot
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else if verr != nil {
		fmt.Fprintf(out, "NOT PROVEN: %v\n", verr)
	} else {
		fmt.Fprintf(out, "PROVEN: %s signed two checkpoints that cannot both be true: size %d root %s and size %d root %s\n",
			a.Origin, a.Size, tlog.Hash(a.Hash), b.Size, tlog.Hash(b.Hash))
		if a.Size == b.Size {
			fmt.Fprintf(out, "  both give size %d, with different roots.\n", a.Size)
		} else {
			fmt.Fprintf(out, "  the size-%d checkpoint extends a tree whose root at size %d is %s, not the one the size-%d checkpoint signs\n", b.Size, a.Size, ev.SmallerRoot, a.Size)
			fmt.Fprintf(out, "  (RFC 6962 consistency proof of %d hashes verified).\n", len(ev.Proof))
		}
		if ev.ObservedBy != "" || ev.From != "" || !ev.Observed.IsZero() {
			fmt.Fprintf(out, "  observed by %s", orUnknown(ev.ObservedBy))
			if ev.From != "" {
				fmt.Fprintf(out, ", received from %s", ev.From)
			}
			if !ev.Observed.IsZero() {
				fmt.Fprintf(out, ", at %s", ev.Observed.UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(out, " (not part of the proof)")
		}
	}
	if verr != nil {
		return &exitError{code: exitFailed, err: verr}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed party"
	}
	return s
}

func readKey(k string) (string, error) {
	if strings.HasPrefix(k, "@") {
		b, err := os.ReadFile(k[1:])
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		k = string(b)
	}
	k = strings.TrimSpace(k)
	if k == "" {
		return "", errors.New("--key is empty: give the party's log public key or @FILE")
	}
	return k, nil
}

// maxInput bounds what verify reads: a proof bundle carries an event of up
// to MaxEventBytes, in base64 and JSON at most twice that.
const maxInput = 2 * linkd.MaxEventBytes

// readInput reads a bundle from a file or, for "-", from stdin.
func readInput(stdin io.Reader, path string) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("read bundle: over %d bytes; a proof or evidence bundle is a few kilobytes", maxInput)
	}
	return data, nil
}

// isEvidence reports whether data is a JSON object with "a" and "b", the
// two checkpoints of an evidence bundle.
func isEvidence(data []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	_, a := fields["a"]
	_, b := fields["b"]
	return a && b
}

// parseBundle decodes a proof bundle.
func parseBundle(data []byte, path string) (*linkd.ProofBundle, error) {
	var b linkd.ProofBundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("read bundle %s: not a linkd proof bundle: %v", path, err)
	}
	return &b, nil
}

// describe is a one-line human summary of an event.
func describe(e *linkd.Event) string {
	code, meaning := e.TypeCode(), e.CodeMeaning()
	s := fmt.Sprintf("%s %s %s (%s)", e.EventClassifierCode, e.EventType, code, meaning)
	for _, ref := range []string{e.EquipmentReference, e.CarrierBookingReference} {
		if ref != "" {
			s += " " + ref
			break
		}
	}
	if l := e.EventLocation; l != nil && l.UNLocationCode != "" {
		s += " at " + l.UNLocationCode
	} else if tc := e.TransportCall; tc != nil && tc.Location != nil {
		s += " at " + tc.Location.UNLocationCode
	}
	return s + ", " + e.EventDateTime.String()
}
