package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
	"github.com/linkd-dev/linkd/internal/subscribe"
)

// filterFlags are the filter flags of 'linkd sub create' and 'linkd watch'.
func filterFlags(cmd *cobra.Command, f *expr.Filter) {
	fl := cmd.Flags()
	var types []string
	fl.StringSliceVar(&types, "type", nil, "event types: SHIPMENT, TRANSPORT, EQUIPMENT, INVENTORY")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		for _, t := range types {
			f.EventTypes = append(f.EventTypes, linkd.EventType(strings.ToUpper(t)))
		}
		return nil
	}
	fl.StringSliceVar(&f.ShipmentEventTypeCodes, "shipment-code", nil, "shipment event codes, e.g. HOLD,RELS")
	fl.StringSliceVar(&f.TransportEventTypeCodes, "transport-code", nil, "transport event codes: ARRI, DEPA")
	fl.StringSliceVar(&f.EquipmentEventTypeCodes, "equipment-code", nil, "equipment event codes, e.g. LOAD,DISC,GTOT")
	fl.StringSliceVar(&f.InventoryEventTypeCodes, "inventory-code", nil, "inventory event codes: STCK, ALOC, RALC, FULF")
	fl.StringSliceVar(&f.EventClassifierCodes, "classifier", nil, "PLN, EST or ACT")
	fl.StringSliceVar(&f.DocumentTypeCodes, "document-type", nil, "document type codes, e.g. CUS,TRD")
	fl.StringSliceVar(&f.CarrierBookingReferences, "booking", nil, "carrier booking references")
	fl.StringSliceVar(&f.TransportDocumentReferences, "bl", nil, "transport document references (B/L numbers)")
	fl.StringSliceVar(&f.EquipmentReferences, "container", nil, "container numbers")
	fl.StringSliceVar(&f.UNLocationCodes, "location", nil, "UN/LOCODEs of where events happen, e.g. DEHAM,NLRTM")
	fl.StringSliceVar(&f.Origins, "origin", nil, "parties that recorded the events")
	fl.StringSliceVar(&f.Parties, "party", nil, "parties on the events' shipment party lists")
	fl.StringSliceVar(&f.SKUs, "sku", nil, "SKUs of INVENTORY events")
	fl.StringVar(&f.Expression, "expr", "", `a CEL condition over event and shipment, e.g. 'event.reason.contains("inspection")'`)
}

const filterHelp = `
Filters: every flag given must match (AND); a comma-separated list matches any
of its values (OR). --expr adds a CEL condition over 'event' (the event, with
its DCSA field names) and 'shipment' (the derived state of its shipment:
status, holds, ETA …).`

// filterQuery turns a filter into GET /v1/stream query parameters.
func filterQuery(f expr.Filter) url.Values {
	raw, _ := json.Marshal(f)
	var m map[string]any
	json.Unmarshal(raw, &m)
	q := url.Values{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			q.Set(k, v)
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			q.Set(k, strings.Join(parts, ","))
		}
	}
	return q
}

func newSubCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sub",
		Short: "Create, list, pause and delete subscriptions (signed webhooks or streams)",
		Long: `A subscription is a filter over every event the node holds, its own and its
partners', with a delivery: a signed webhook the node POSTs each matching event
to (at least once, retried with backoff, dead-lettered with an alert after the
retry horizon), or a stream read with 'linkd sub watch ID' or any Server-Sent
Events client. Each subscription belongs to the token that made it.`,
	}
	cmd.AddCommand(newSubCreateCmd(), newSubListCmd(), newSubShowCmd(), newSubPauseCmd(true), newSubPauseCmd(false),
		newSubDeleteCmd(), newSubRotateCmd(), newSubDeadCmd(), newSubWatchCmd())
	return cmd
}

func newSubCreateCmd() *cobra.Command {
	var r remote
	var req subscribe.Request
	var stream bool
	cmd := &cobra.Command{
		Use:   "create (--webhook URL | --stream) [filters]",
		Short: "Create a subscription",
		Long: `create makes a subscription. A webhook's signing secret (whsec_…) is printed
once: the receiver checks the webhook-signature header (Standard Webhooks) or
DCSA's Notification-Signature with it. By default only events recorded from now
on are delivered; --from start delivers every event the node holds first.` + filterHelp,
		Example: `  linkd sub create --webhook https://tms.example.com/hooks/linkd --shipment-code HOLD,RELS
  linkd sub create --stream --location DEHAM --expr 'event.eventClassifierCode == "ACT"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case stream && req.URL != "":
				return &exitError{exitUsage, errors.New("give --webhook URL or --stream, not both")}
			case stream:
				req.Delivery = subscribe.Stream
			case req.URL != "":
				req.Delivery = subscribe.Webhook
			default:
				return &exitError{exitUsage, errors.New("how should events be delivered? give --webhook URL or --stream")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			res, err := c.CreateSubscription(cmd.Context(), req)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			out := cmd.OutOrStdout()
			if r.json {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "Created subscription %s (%s)\n", res.Subscription.ID, res.Subscription.Delivery)
			if res.Secret != "" {
				fmt.Fprintf(out, "\nSigning secret (shown once, give it to the receiver):\n\n  %s\n", res.Secret)
			} else {
				fmt.Fprintf(out, "Read it with: linkd sub watch %s\n", res.Subscription.ID)
			}
			return nil
		},
	}
	r.flags(cmd)
	filterFlags(cmd, &req.Filter)
	cmd.Flags().StringVar(&req.URL, "webhook", "", "https URL to POST each matching event to")
	cmd.Flags().BoolVar(&stream, "stream", false, "deliver as a stream (read with 'linkd sub watch ID')")
	cmd.Flags().StringVar(&req.Name, "name", "", "a name to know it by")
	cmd.Flags().StringVar(&req.Secret, "secret", "", "a whsec_ signing secret of your own (default: the node makes one)")
	cmd.Flags().StringVar(&req.From, "from", "", "start: deliver every event the node holds first (default: new events only)")
	return cmd
}

func printSubs(w io.Writer, subs []subscribe.View) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tDELIVERY\tSTATE\tDELIVERED\tDEAD\tLAG\tTARGET")
	for _, s := range subs {
		state := "active"
		if s.Paused {
			state = "paused"
		}
		delivered, dead, lag := "-", "-", "-"
		if st := s.Status; st != nil {
			delivered, dead, lag = fmt.Sprint(st.Delivered), fmt.Sprint(st.Dead), fmt.Sprint(st.Lag)
			if st.Retrying != "" {
				state = "retrying"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.Delivery, state, delivered, dead, lag, s.URL)
	}
	tw.Flush()
}

func newSubListCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the subscriptions your token may see (an admin sees all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			subs, err := c.Subscriptions(cmd.Context())
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), subs)
			}
			printSubs(cmd.OutOrStdout(), subs)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSubShowCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a subscription, its filter and how its deliveries go",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			s, err := c.Subscription(cmd.Context(), args[0])
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), s)
			}
			printSubs(cmd.OutOrStdout(), []subscribe.View{s})
			f, _ := json.MarshalIndent(s.Filter, "  ", "  ")
			fmt.Fprintf(cmd.OutOrStdout(), "\nfilter:\n  %s\n", f)
			if st := s.Status; st != nil && st.LastError != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "last error: %s\n", st.LastError)
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSubPauseCmd(pause bool) *cobra.Command {
	var r remote
	use, short := "resume ID", "Resume a subscription; a webhook delivers what it missed"
	if pause {
		use, short = "pause ID", "Pause a subscription; its position is kept"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			s, err := c.PauseSubscription(cmd.Context(), args[0], pause)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), s)
			}
			verb := "resumed"
			if s.Paused {
				verb = "paused"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Subscription %s %s\n", s.ID, verb)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSubDeleteCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use: "delete ID", Short: "Delete a subscription, its position and its dead letters", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSubscription(cmd.Context(), args[0]); err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted subscription %s\n", args[0])
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSubRotateCmd() *cobra.Command {
	var r remote
	var secret string
	cmd := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a webhook a new signing secret; the old one keeps signing for 24 h",
		Long: `rotate-secret makes a new signing secret (or takes --secret). During the
overlap every delivery carries signatures by both secrets, so the receiver can
switch to the new one without missing a delivery.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			s, err := c.RotateSecret(cmd.Context(), args[0], secret)
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"secret": s})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New signing secret (shown once):\n\n  %s\n", s)
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&secret, "secret", "", "a whsec_ secret of your own (default: the node makes one)")
	return cmd
}

func newSubDeadCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use: "dead ID", Short: "List a webhook's dead letters: events it gave up delivering", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			list, err := c.DeadLetters(cmd.Context(), args[0])
			if err != nil {
				return fail(cmd.ErrOrStderr(), err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tEVENT\tORIGIN\tINDEX\tATTEMPTS\tREASON")
			for _, d := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", d.At.Format(time.RFC3339), d.EventID, d.Party, d.Index, d.Attempts, d.Reason)
			}
			tw.Flush()
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newSubWatchCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use: "watch ID", Short: "Follow a stream subscription in the terminal", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			return follow(cmd, r.json, func(ctx context.Context, last string, fn func(string, subscribe.Message) error) error {
				return c.WatchSubscription(ctx, args[0], last, fn)
			})
		},
	}
	r.flags(cmd)
	return cmd
}

func newWatchCmd() *cobra.Command {
	var r remote
	var f expr.Filter
	var from string
	cmd := &cobra.Command{
		Use:   "watch [filters]",
		Short: "Follow matching events as they reach the node, local and replicated",
		Long: `watch prints each event the node records or receives from a partner that
matches the filters, as it arrives, with its origin and log position. It
reconnects by itself and resumes where it was, missing nothing. --json prints
one JSON message per line.` + filterHelp,
		Example: `  linkd watch --shipment-code HOLD,RELS
  linkd watch --location DEHAM,NLRTM --type EQUIPMENT
  linkd watch --expr 'event.eventType == "INVENTORY" && event.inventory.quantity > 100'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			q := filterQuery(f)
			if from != "" {
				q.Set("from", from)
			}
			return follow(cmd, r.json, func(ctx context.Context, last string, fn func(string, subscribe.Message) error) error {
				if last != "" {
					q.Del("from")
				}
				return c.Watch(ctx, q, last, fn)
			})
		},
	}
	r.flags(cmd)
	filterFlags(cmd, &f)
	cmd.Flags().StringVar(&from, "from", "", "start: replay every event the node holds first (default: new events only)")
	return cmd
}

// follow runs a stream, printing each message, and reconnects with the last
// id after a break, until the command's context ends (Ctrl-C).
func follow(cmd *cobra.Command, asJSON bool, run func(context.Context, string, func(string, subscribe.Message) error) error) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	last := ""
	wait := 500 * time.Millisecond
	for {
		err := run(ctx, last, func(id string, m subscribe.Message) error {
			if id != "" {
				last = id
			}
			wait = 500 * time.Millisecond
			if asJSON {
				b, _ := json.Marshal(m)
				fmt.Fprintf(out, "%s\n", b)
				return nil
			}
			e := m.Event
			fmt.Fprintf(out, "%s  %-18s %s  [%s #%d]\n", e.EventDateTime, e.Origin, describe(e), m.Position.Origin, m.Position.Index)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		switch linkd.ErrorCode(err) {
		case linkd.EUnauthorized, linkd.EForbidden, linkd.EInvalid, linkd.ENotFound, linkd.EConflict:
			return fail(errw, err)
		}
		fmt.Fprintf(errw, "linkd: %v; reconnecting in %s\n", err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}
