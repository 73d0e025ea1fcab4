package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/client"
	"github.com/linkd-dev/linkd/internal/query"
)

func newEventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event",
		Short: "Record and query events on a node",
	}
	cmd.AddCommand(newEventAddCmd(), newEventListCmd(), newEventProofCmd())
	return cmd
}

func newEventAddCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "add FILE|-",
		Short: "Record the events in a JSON file (one event or an array) as one batch",
		Long: `add sends the events in FILE ('-' reads standard input) to the node, which
records them as one all-or-nothing batch and answers once they are durable.

A batch with any invalid event is refused whole and every problem is listed
with its field. Sending the same events again is safe: events already recorded
are acknowledged with their original log index and marked as duplicates.`,
		Example: `  linkd event add arrival.json
  cat batch.json | linkd event add -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{exitUsage, err}
				}
				defer f.Close()
				in = f
			}
			body, err := io.ReadAll(io.LimitReader(in, linkd.MaxBatchBytes+1))
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("read events: %w", err)}
			}
			if len(body) > linkd.MaxBatchBytes {
				return &exitError{exitUsage, fmt.Errorf("%s is over %d bytes; split it into smaller batches", args[0], linkd.MaxBatchBytes)}
			}
			res, err := c.AppendJSON(cmd.Context(), body)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, res)
			}
			dups := 0
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tEVENT ID\t")
			for _, a := range res.Acks {
				note := ""
				if a.Duplicate {
					dups++
					note = "already recorded"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", a.LogIndex, a.EventID, note)
			}
			tw.Flush()
			fmt.Fprintf(out, "recorded %d new events (%d already recorded); the log holds %d\n", len(res.Acks)-dups, dups, res.Size)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newEventListCmd() *cobra.Command {
	var r remote
	var q client.EventQuery
	var from, to string
	var all bool
	cmd := &cobra.Command{
		Use:   "list [filters]",
		Short: "List recorded events, filtered, in event-time order",
		Long: `list prints the events matching every filter given (a filter with a
comma-separated list matches any of its values), oldest event time first, one
page at a time; --all follows the pages to the end.`,
		Example: `  linkd event list --booking HLCUHAN2611001
  linkd event list --container MSKU1234565 --type EQUIPMENT --code LOAD,DISC
  linkd event list --location DEHAM --from 2026-11-01T00:00:00Z --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if q.From, err = parseTimeFlag("from", from); err != nil {
				return err
			}
			if q.To, err = parseTimeFlag("to", to); err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var events []linkd.Recorded
			next := ""
			for {
				page, err := c.ListEvents(cmd.Context(), q)
				if err != nil {
					return fail(cmd.ErrOrStderr(), err)
				}
				events = append(events, page.Events...)
				next = page.Next
				if !all || next == "" {
					break
				}
				q.Cursor = next
				if !r.json {
					printEvents(out, events)
					events = events[:0]
				}
			}
			if r.json {
				return printJSON(out, linkd.EventPage{Events: events, Next: next})
			}
			printEvents(out, events)
			if next != "" {
				fmt.Fprintf(out, "more events follow: add --cursor %s, or --all\n", next)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.CarrierBookingReference, "booking", "", "carrier booking reference")
	f.StringVar(&q.TransportDocumentReference, "bl", "", "transport document reference (B/L number)")
	f.StringVar(&q.EquipmentReference, "container", "", "equipment reference (container number)")
	f.StringSliceVar(&q.EventTypes, "type", nil, "event types: SHIPMENT, TRANSPORT, EQUIPMENT")
	f.StringSliceVar(&q.EquipmentEventTypeCodes, "code", nil, "equipment event codes (LOAD, DISC, GTIN …)")
	f.StringSliceVar(&q.ShipmentEventTypeCodes, "shipment-code", nil, "shipment event codes (RECE, CONF, HOLD, RELS …)")
	f.StringSliceVar(&q.TransportEventTypeCodes, "transport-code", nil, "transport event codes (ARRI, DEPA)")
	f.StringSliceVar(&q.ClassifierCodes, "classifier", nil, "PLN, EST or ACT")
	f.StringVar(&q.UNLocationCode, "location", "", "UN/LOCODE where the event happened")
	f.StringVar(&from, "from", "", "events at or after this RFC 3339 time")
	f.StringVar(&to, "to", "", "events before this RFC 3339 time")
	f.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("events per page, 1 to %d (default %d)", query.MaxLimit, query.DefaultLimit))
	f.StringVar(&q.Cursor, "cursor", "", "continue after the page that printed this cursor")
	f.BoolVar(&all, "all", false, "follow the pages to the end")
	r.flags(cmd)
	return cmd
}

func parseTimeFlag(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := linkd.ParseTime(s)
	if err != nil {
		return time.Time{}, &exitError{exitUsage, fmt.Errorf("--%s: %v", name, err)}
	}
	return t.Time, nil
}

func printEvents(w io.Writer, events []linkd.Recorded) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT TIME\tEVENT\tCLASS\tLOCATION\tREFERENCES\tORIGIN\tINDEX")
	for _, rec := range events {
		e := &rec.Event
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", e.EventDateTime, eventName(e), e.EventClassifierCode,
			query.Location(e), refs(e), e.Origin, rec.LogIndex)
	}
	tw.Flush()
}

func eventName(e *linkd.Event) string {
	code := e.TypeCode()
	return string(e.EventType) + "/" + code
}

func refs(e *linkd.Event) string {
	var parts []string
	for _, s := range []string{e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func newEventProofCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "proof EVENT-ID",
		Short: "Print an event's proof bundle, for 'linkd verify' anywhere",
		Long: `proof prints the proof bundle of one event: the event, its salt, its log
index, an inclusion proof and the signed checkpoint it is proven against.
Anyone with the party's log public key checks it offline with 'linkd verify'.`,
		Example: `  linkd event proof 0b9e…-… > bundle.json && linkd verify --key @keys/log.key.pub bundle.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			b, err := c.Proof(cmd.Context(), args[0])
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			return printJSON(cmd.OutOrStdout(), b)
		},
	}
	r.flags(cmd)
	return cmd
}
