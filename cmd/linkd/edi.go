package main

import (
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
	"github.com/linkd-dev/linkd/internal/edi"
	"github.com/linkd-dev/linkd/internal/query"
)

func newEDICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edi",
		Short: "Take EDI in: import UN/EDIFACT IFTSTA and X12 214/315 interchanges, or translate them offline",
		Long: `edi is the legacy gateway: carriers', terminals' and hauliers' EDI status
messages (UN/EDIFACT IFTSTA, ANSI X12 214 and 315) become DCSA-shaped events
with their lineage (the interchange they came from and its SHA-256).

An interchange is taken whole or refused whole; a refusal names every problem
by segment, element and component, and comes with a negative acknowledgement
(CONTRL, 997, 999 or TA1) for the sender. docs/edi.md has the status-code
tables.`,
	}
	cmd.AddCommand(newEDIImportCmd(), newEDITranslateCmd())
	return cmd
}

// readInterchange reads one file ("-" is standard input), refusing one over
// the gateway's size limit.
func readInterchange(cmd *cobra.Command, name string) ([]byte, error) {
	var in io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, edi.DefaultMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > edi.DefaultMaxBytes {
		return nil, fmt.Errorf("%s is over %d bytes, the most one interchange may have; split it", name, edi.DefaultMaxBytes)
	}
	return data, nil
}

// importResult is one file's outcome for --json.
type importResult struct {
	File   string             `json:"file"`
	Report *edi.Report        `json:"report,omitempty"`
	Error  *linkd.ErrorDetail `json:"error,omitempty"`
}

func newEDIImportCmd() *cobra.Command {
	var r remote
	var zone, ackDir string
	cmd := &cobra.Command{
		Use:   "import FILE…",
		Short: "Record the events of EDI interchanges on a node, one interchange per file",
		Long: `import posts each FILE ('-' reads standard input) to the node, which records
the interchange's events whole or not at all and answers its acknowledgement.
For each file it prints the syntax, the interchange control number, the events
recorded and those already recorded (importing a file again is safe), or the
refusal with every problem. It goes on with the next file after a refusal and
exits 1 if any was refused.

--ack-dir DIR writes each acknowledgement, positive or negative, to
DIR/FILE.ack, ready to send back to the partner.`,
		Example: `  linkd edi import carrier-20261208.edi haulier-214.x12
  linkd edi import --zone +07:00 --ack-dir acks/ inbox/*.edi`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := edi.ParseZone(zone); err != nil {
				return &exitError{exitUsage, fmt.Errorf("--zone: %v", strings.TrimPrefix(err.Error(), "edi: "))}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var results []importResult
			refused := 0
			for _, name := range args {
				data, err := readInterchange(cmd, name)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				rep, err := c.ImportEDI(cmd.Context(), data, zone)
				var ee *client.EDIError
				switch {
				case err == nil:
				case errors.As(err, &ee):
					rep = ee.Report
				default:
					// The node could not take it (unreachable, forbidden …):
					// the other files would fare no better.
					if r.json {
						results = append(results, importResult{File: name, Error: errorDetail(err)})
						printJSON(out, results)
						return &exitError{exitFailed, nil}
					}
					fmt.Fprintf(out, "%s: not imported\n", name)
					return fail(cmd.ErrOrStderr(), err)
				}
				if ackDir != "" && rep.Acknowledgement != "" {
					path := filepath.Join(ackDir, filepath.Base(name)+".ack")
					if err := os.WriteFile(path, []byte(rep.Acknowledgement), 0o644); err != nil {
						return &exitError{exitUsage, fmt.Errorf("write the acknowledgement: %w", err)}
					}
				}
				res := importResult{File: name, Report: &rep}
				if ee != nil {
					refused++
					res.Error = errorDetail(err)
				}
				results = append(results, res)
				if !r.json {
					printImport(out, name, rep, ee)
				}
			}
			if r.json {
				printJSON(out, results)
			}
			if refused > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "linkd: %d of %d interchanges refused; nothing of them was recorded\n", refused, len(args))
				return &exitError{exitFailed, nil}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "zone of times the interchanges give without one, as agreed with the partner: +07:00 or Asia/Ho_Chi_Minh (default UTC)")
	cmd.Flags().StringVar(&ackDir, "ack-dir", "", "write each file's acknowledgement to this directory as FILE.ack")
	r.flags(cmd)
	return cmd
}

func errorDetail(err error) *linkd.ErrorDetail {
	return &linkd.ErrorDetail{Code: linkd.ErrorCode(err), Message: linkd.ErrorMessage(err), Problems: client.Problems(err)}
}

// printImport prints one file's outcome.
func printImport(w io.Writer, name string, rep edi.Report, refused *client.EDIError) {
	what := fmt.Sprintf("%s interchange %s from %s", rep.Syntax, first(rep.ControlNumber, "?"), first(rep.Sender, "?"))
	if rep.Syntax == "" {
		what = "not an interchange"
	}
	if refused != nil {
		fmt.Fprintf(w, "%s: %s refused, nothing recorded; %d problems:\n", name, what, len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if rep.AckType != "" {
			fmt.Fprintf(w, "  negative acknowledgement: %s\n", rep.AckType)
		}
		return
	}
	dups := 0
	for _, a := range rep.Acks {
		if a.Duplicate {
			dups++
		}
	}
	fmt.Fprintf(w, "%s: %s: %d events recorded, %d already recorded, from %d statuses in %d messages; acknowledgement %s\n",
		name, what, len(rep.Acks)-dups, dups, rep.Statuses, len(rep.Messages), rep.AckType)
}

// translation is `edi translate --json`'s output.
type translation struct {
	edi.Summary
	Acknowledgement string        `json:"acknowledgement,omitempty"`
	Events          []linkd.Event `json:"events"`
}

func newEDITranslateCmd() *cobra.Command {
	var zone, party string
	var asJSON, ack bool
	cmd := &cobra.Command{
		Use:   "translate FILE|-",
		Short: "Show the events an EDI interchange makes, without a node and without recording them",
		Long: `translate reads one interchange (FILE, or '-' for standard input) and prints
the events it makes: a table by default, or the summary, the events and the
acknowledgement as JSON with --json. --ack prints the acknowledgement alone
(CONTRL, 997, 999 or TA1), as the node would answer it.

A refused interchange prints every problem by segment, element and component
and exits 1. --party gives the events the ids the party's node would record
them under; without it they have none.`,
		Example: `  linkd edi translate carrier-20261208.edi
  linkd edi translate --zone +01:00 --json haulier-214.x12
  linkd edi translate --ack carrier-20261208.edi > carrier-20261208.contrl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && ack {
				return &exitError{exitUsage, fmt.Errorf("--json and --ack: give one")}
			}
			loc, err := edi.ParseZone(zone)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("--zone: %v", strings.TrimPrefix(err.Error(), "edi: "))}
			}
			data, err := readInterchange(cmd, args[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			res, terr := edi.Translate(data, edi.Options{Origin: party, Zone: loc})
			out := cmd.OutOrStdout()
			switch {
			case ack:
				if res.Ack == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "linkd: %s has no header to acknowledge:\n", args[0])
					for _, p := range res.Problems {
						fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", p)
					}
					return &exitError{exitFailed, nil}
				}
				out.Write(res.Ack)
			case asJSON:
				events := res.Events
				if events == nil {
					events = []linkd.Event{}
				}
				printJSON(out, translation{Summary: res.Summary, Acknowledgement: string(res.Ack), Events: events})
			case terr != nil:
				fmt.Fprintf(out, "%s: refused; %d problems:\n", args[0], len(res.Problems))
				for _, p := range res.Problems {
					fmt.Fprintf(out, "  %s\n", p)
				}
			default:
				printTranslation(out, res)
			}
			if terr != nil {
				return &exitError{exitFailed, nil}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "zone of times the interchange gives without one: +07:00 or Asia/Ho_Chi_Minh (default UTC)")
	cmd.Flags().StringVar(&party, "party", "", "the party that would record the events: gives them its node's event ids")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary, the events and the acknowledgement as JSON")
	cmd.Flags().BoolVar(&ack, "ack", false, "print the acknowledgement alone")
	return cmd
}

func printTranslation(w io.Writer, res *edi.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT TIME\tEVENT\tCLASS\tLOCATION\tREFERENCES\tMESSAGE")
	for i := range res.Events {
		e := &res.Events[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.EventDateTime, eventName(e), e.EventClassifierCode, query.Location(e), refs(e), e.Source.MessageReference)
	}
	tw.Flush()
	fmt.Fprintf(w, "%s interchange %s from %s to %s: %d events from %d statuses in %d messages, %d segments; acknowledgement %s\n",
		res.Syntax, res.ControlNumber, res.Sender, res.Recipient, len(res.Events), res.Statuses, len(res.Messages), res.Segments, res.AckType)
}
