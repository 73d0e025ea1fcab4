package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/query"
)

func newShipmentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shipment",
		Short: "Show shipments: merged timeline and derived state",
	}
	var r remote
	show := &cobra.Command{
		Use:   "show REF",
		Short: "Show a shipment's status, last location, ETA, open holds and timeline",
		Long: `show prints what the node knows of one shipment: its status, where it was
last seen, the ETA from the newest estimate, the holds still open, its parties,
and the timeline of every event that names REF (a carrier booking reference,
a B/L number or a container number, looked up in that order).

Retracted events stay in the timeline, marked, but no longer count; an event
superseded by a correction counts through its successor.`,
		Example: `  linkd shipment show HLCUHAN2611001`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			v, err := c.Shipment(cmd.Context(), args[0])
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, v)
			}
			s := v.State
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Shipment\t%s\n", s.Ref)
			since := ""
			if s.StatusSince != nil {
				since = " since " + s.StatusSince.String()
			}
			fmt.Fprintf(tw, "Status\t%s%s\n", s.Status, since)
			if s.LastLocation != nil {
				fmt.Fprintf(tw, "Last seen\t%s %s\n", s.LastLocation.UNLocationCode, s.LastLocation.LocationName)
			}
			if s.ETA != nil {
				fmt.Fprintf(tw, "ETA\t%s at %s (%s, from %s)\n", s.ETA.Time, s.ETA.Location, s.ETA.Classifier, s.ETA.Origin)
			}
			for _, h := range s.OpenHolds {
				fmt.Fprintf(tw, "Open hold\tsince %s by %s: %s\n", h.Since, h.Origin, h.Reason)
			}
			fmt.Fprintf(tw, "References\t%s\n", strings.Join(append(append(append([]string(nil), s.Bookings...), s.TransportDocuments...), s.Equipment...), " "))
			var parties []string
			for _, p := range s.Parties {
				parties = append(parties, p.Party+" ("+string(p.Role)+")")
			}
			if len(parties) > 0 {
				fmt.Fprintf(tw, "Parties\t%s\n", strings.Join(parties, ", "))
			}
			tw.Flush()
			fmt.Fprintf(out, "\nTimeline (%d events):\n", len(v.Timeline))
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EVENT TIME\tEVENT\tCLASS\tLOCATION\tORIGIN\tNOTE")
			for _, e := range v.Timeline {
				note := ""
				switch {
				case e.RetractedBy != "":
					note = "retracted"
				case e.SupersededBy != "":
					note = "superseded"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Event.EventDateTime, eventName(&e.Event), e.Event.EventClassifierCode,
					query.Location(&e.Event), e.Event.Origin, note)
			}
			tw.Flush()
			if v.Truncated {
				fmt.Fprintf(out, "(only the oldest %d events; the reference names more)\n", len(v.Timeline))
			}
			return nil
		},
	}
	r.flags(show)
	cmd.AddCommand(show)
	return cmd
}
