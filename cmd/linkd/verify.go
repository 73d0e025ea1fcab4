package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/tlog"
)

func newVerifyCmd() *cobra.Command {
	var key string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --key KEY BUNDLE",
		Short: "Check offline that a party recorded an event",
		Long: `verify reads a proof bundle (an event, its salt, its log index, an inclusion
proof and a signed checkpoint; '-' reads standard input) and checks, with no
network and without trusting whoever handed it over, that the party holding
KEY recorded exactly that event.

KEY is the party's log public key in signed-note form
(linkd.dev/log/<party>+<hash>+<base64>), or @FILE to read it from a file.

It prints what was proven, or exactly which check failed. Exit status: 0
verified, 1 not verified, 2 the input could not be read.`,
		Example: `  linkd verify --key @haiphong-terminal.pub bundle.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readKey(key)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			b, err := readBundle(cmd.InOrStdin(), args[0])
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
	cmd.Flags().StringVar(&key, "key", "", "the party's log public key, or @FILE (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("key")
	return cmd
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

// readBundle reads a proof bundle from a file or, for "-", from stdin.
func readBundle(stdin io.Reader, path string) (*linkd.ProofBundle, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, 2*linkd.MaxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if len(data) > 2*linkd.MaxEventBytes {
		return nil, fmt.Errorf("read bundle: over %d bytes; a proof bundle is a few kilobytes", 2*linkd.MaxEventBytes)
	}
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
	code, meaning := "", ""
	switch e.EventType {
	case linkd.Shipment:
		code, meaning = e.ShipmentEventTypeCode, linkd.ShipmentEventCodes[e.ShipmentEventTypeCode]
	case linkd.Transport:
		code, meaning = e.TransportEventTypeCode, linkd.TransportEventCodes[e.TransportEventTypeCode]
	case linkd.Equipment:
		code, meaning = e.EquipmentEventTypeCode, linkd.EquipmentEventCodes[e.EquipmentEventTypeCode]
	}
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
