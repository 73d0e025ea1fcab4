package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkd-dev/linkd/internal/demo"
)

func newDemoCmd() *cobra.Command {
	o := demo.Options{Duration: demo.DefaultDuration, Speed: demo.DefaultSpeed, Dashboard: demo.DefaultDashboard}
	var faults []string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the Vietnam→EU lane: nine linked nodes, a month of traffic, a customs hold, on this machine",
		Long: `demo starts, on this machine and offline, the nine parties of a Vietnam→EU
trade lane, each a real linkd node with its own data directory, keys, Pebble
store and mutual-TLS listener on loopback:

  hanoi-electronics  shipper            VN   Hanoi
  haiphong-terminal  port terminal      VN   Haiphong
  oceanic-lines      ocean carrier      SG   Singapore
  vn-forwarding      freight forwarder  VN   Hanoi
  eu-customs         customs            DE   Hamburg     (EU)
  dc-hamburg         distribution ctr.  DE   Hamburg     (EU)
  dc-rotterdam       distribution ctr.  NL   Rotterdam   (EU)
  dc-antwerp         distribution ctr.  BE   Antwerp     (EU)
  eu-retailer        consignee          NL   Amsterdam   (EU)

Each party links to every other: every party is on every shipment, and a
node shares only its own log, only with the partners it links to.

A driver then plays an electronics retailer's traffic, about 50,000 units a
month in ten containers on each weekly sailing: bookings, empty pick-up,
stuffing, gate-in, load, departure, transhipment in Singapore, arrival,
discharge, customs, gate-out and delivery to a centre, and the centres' stock
positions and order allocations. Each event is recorded by the party that
would record it, on that party's own node; the nodes replicate, verify and
witness each other's logs, and EU-resident payloads (customs, orders) never
leave EU nodes: the others get only a salted commitment. EU customs holds one
container bound for Hamburg for a 48-hour inspection; the demo says whether
a centre re-allocated the orders waiting on it (the nodes' rules do that).

The lane's clock runs at --speed simulated hours per real second (default 4:
a 30-day month in about three minutes) for --duration of simulated time.
Times in the narration are the lane's clock, in UTC. At the end the demo
proves one event offline, audits the nine logs and prints a summary measured
from the nodes: events recorded and replicated, the propagation latency from
an origin's acknowledgement to verification at each peer, verification
failures and alerts.

--fault injects faults to watch the lane cope (repeat it or separate with
commas):
  kill       dc-rotterdam's node stops a quarter into the run and restarts
             later on the same port; it catches up with no gap.
  partition  Asia and Europe cannot reach each other for a tenth of the run;
             both sides keep recording and converge when it heals.
  evil       vn-forwarding's operator clones its node with the real log key
             and shows Europe one history and Asia another; the nodes catch
             the two signed checkpoints, raise an alert and hold its log.

The dashboard (network map, live events, timelines, alerts) is served over
plain HTTP on --dashboard, on loopback; "off" serves none.

Data stays in --dir (default: linkd-demo in the system temp directory): a
second run continues the lane where the last one stopped; --fresh starts
over. The nodes' own logs go to nodes.log there, and each node's admin token
to <party>/admin.token, for curl. Ctrl-C stops every node cleanly at any
moment; the next run continues from there.`,
		Example: `  linkd demo
  linkd demo --speed 24 --duration 7d          # a week at a day per second
  linkd demo --fault kill,partition,evil
  linkd demo --fresh --dashboard off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range faults {
				for _, k := range strings.Split(f, ",") {
					if k = strings.TrimSpace(k); k != "" {
						o.Faults = append(o.Faults, k)
					}
				}
			}
			o.Out = cmd.OutOrStdout()
			_, err := demo.Run(cmd.Context(), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "data directory (default: linkd-demo in the system temp directory)")
	f.BoolVar(&o.Fresh, "fresh", false, "delete an earlier run's data first and start a new lane")
	f.Var((*simDuration)(&o.Duration), "duration", "simulated time to run, such as 30d, 7d or 36h")
	f.Float64Var(&o.Speed, "speed", o.Speed, "simulated hours per real second (4: a month in 3 minutes; 24: a day a second)")
	f.StringSliceVar(&faults, "fault", nil, "faults to inject: kill, partition, evil (comma-separated or repeated)")
	f.StringVar(&o.Dashboard, "dashboard", o.Dashboard, `host:port to serve the dashboard on over HTTP, or "off"`)
	f.DurationVar(&o.ReallocationWait, "reallocation-wait", 10*time.Second, "real time to wait after the customs hold for a re-allocation")
	f.MarkHidden("reallocation-wait")
	return cmd
}

// simDuration is a duration that also takes days: 30d, 7d12h, 36h.
type simDuration time.Duration

func (d *simDuration) String() string {
	v := time.Duration(*d)
	if v%(24*time.Hour) == 0 && v > 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *simDuration) Set(s string) error {
	var days int
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return fmt.Errorf("%q: want a duration such as 30d, 7d12h or 36h", s)
		}
		days, rest = n, s[i+1:]
	}
	v := time.Duration(days) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return fmt.Errorf("%q: want a duration such as 30d, 7d12h or 36h", s)
		}
		v += r
	}
	if v <= 0 {
		return fmt.Errorf("%q: want a positive duration", s)
	}
	*d = simDuration(v)
	return nil
}

func (d *simDuration) Type() string { return "duration" }
