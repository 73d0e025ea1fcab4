//go:build devserver

// The development server: the dashboard in front of fake nodes of the
// Vietnam → EU lane that speak the node API (cards, links, alerts, holds,
// checkpoints, metrics, events, shipments, verification, allocations and
// the event stream), with traffic from internal/scenario, a customs hold on
// OCLVNHAM0000042 and Hamburg re-allocating its orders to Rotterdam and
// Antwerp. It is how the page and the browser test are developed until
// `linkd demo --dashboard` serves real nodes. Run it with
//
//	go test -tags devserver -run TestDevServer -timeout 0 ./internal/dashboard
//
// and open the address it prints. Environment:
//
//	LINKD_DEV_ADDR        listen address (127.0.0.1:8089)
//	LINKD_DEV_MODE        lane (every node, behind Proxy) or node (one node,
//	                      the page asks for a token: dev-reader or dev-admin)
//	LINKD_DEV_FOR         how long to serve (10m)
//	LINKD_DEV_STREAM      0: nodes answer 404 on /v1/stream, as before it lands
//	LINKD_DEV_RATE        events a second (20)
//	LINKD_DEV_HOLD_AFTER  when customs holds the shipment (8s)
//	LINKD_DEV_QUIET       1: no equivocation alert and no broken link
//	LINKD_DEV_DOWN        a party whose node stops answering after 10 s (lane mode)
package dashboard_test

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/dashboard"
	"github.com/linkd-dev/linkd/internal/scenario"
	"github.com/linkd-dev/linkd/internal/shipment"
)

var laneParties = []linkd.Party{
	{ID: "hanoi-electronics", Name: "Hanoi Electronics", Roles: []linkd.Role{linkd.RoleShipper}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHAN"},
	{ID: "haiphong-terminal", Name: "Haiphong Terminal", Roles: []linkd.Role{linkd.RoleTerminal}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHPH"},
	{ID: "oceanic-lines", Name: "Oceanic Lines", Roles: []linkd.Role{linkd.RoleCarrier}, Jurisdiction: []string{"SG", "ASEAN"}, Location: "SGSIN"},
	{ID: "vn-forwarding", Name: "VN Forwarding", Roles: []linkd.Role{linkd.RoleForwarder}, Jurisdiction: []string{"VN", "ASEAN"}, Location: "VNHAN"},
	{ID: "eu-customs", Name: "EU Customs", Roles: []linkd.Role{linkd.RoleCustoms}, Jurisdiction: []string{"DE", "EU"}, Location: "DEHAM"},
	{ID: "dc-hamburg", Name: "DC Hamburg", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"DE", "EU"}, Location: "DEHAM"},
	{ID: "dc-rotterdam", Name: "DC Rotterdam", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"NL", "EU"}, Location: "NLRTM"},
	{ID: "dc-antwerp", Name: "DC Antwerp", Roles: []linkd.Role{linkd.RoleWarehouse}, Jurisdiction: []string{"BE", "EU"}, Location: "BEANR"},
	{ID: "eu-retailer", Name: "EU Retailer", Roles: []linkd.Role{linkd.RoleConsignee}, Jurisdiction: []string{"NL", "EU"}, Location: "NLAMS"},
}

// linkPairs are who links to whom; each pair links both ways.
var linkPairs = [][2]string{
	{"hanoi-electronics", "vn-forwarding"}, {"hanoi-electronics", "haiphong-terminal"}, {"hanoi-electronics", "oceanic-lines"},
	{"haiphong-terminal", "oceanic-lines"}, {"haiphong-terminal", "vn-forwarding"},
	{"oceanic-lines", "vn-forwarding"}, {"oceanic-lines", "eu-customs"}, {"oceanic-lines", "dc-hamburg"},
	{"vn-forwarding", "eu-customs"}, {"vn-forwarding", "dc-hamburg"}, {"vn-forwarding", "eu-retailer"},
	{"eu-customs", "dc-hamburg"}, {"eu-customs", "dc-rotterdam"}, {"eu-customs", "dc-antwerp"},
	{"dc-hamburg", "dc-rotterdam"}, {"dc-hamburg", "dc-antwerp"}, {"dc-hamburg", "eu-retailer"},
	{"dc-rotterdam", "dc-antwerp"}, {"dc-rotterdam", "eu-retailer"}, {"dc-antwerp", "eu-retailer"},
}

const heldBooking = "OCLVNHAM0000042"

type stockKey struct{ facility, sku string }

type order struct {
	OrderID      string `json:"orderID"`
	SKU          string `json:"sku"`
	Quantity     int64  `json:"quantity"`
	Facility     string `json:"facility"`
	Status       string `json:"status"`
	Shipment     string `json:"shipment"`
	FromFacility string `json:"fromFacility,omitempty"`
}

// fakeLane is the lane's shared state: every event recorded, in order, and
// the inventory. Every fake node holds every event (no entitlement here).
type fakeLane struct {
	quiet  bool
	start  time.Time
	mu     sync.Mutex
	all    []linkd.Recorded // guarded by mu
	sizes  map[string]int64 // guarded by mu
	onHand map[stockKey]int64
	orders map[string]*order
	wake   chan struct{} // closed and replaced on every append; guarded by mu
	hlc    int64
}

func newFakeLane(quiet bool) *fakeLane {
	return &fakeLane{quiet: quiet, start: time.Now(), sizes: map[string]int64{}, onHand: map[stockKey]int64{}, orders: map[string]*order{}, wake: make(chan struct{})}
}

func (l *fakeLane) record(origin string, e linkd.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hlc++
	e.Origin = origin
	e.HLC = linkd.MakeHLC(time.Now().UnixMilli(), uint16(l.hlc))
	e.EventID = linkd.DeriveEventID(origin, &e)
	l.all = append(l.all, linkd.Recorded{Event: e, Salt: make([]byte, 32), LogIndex: l.sizes[origin]})
	l.sizes[origin]++
	close(l.wake)
	l.wake = make(chan struct{})
}

// originOf says which party records a generated event.
func originOf(e *linkd.Event) string {
	switch e.EventType {
	case linkd.Transport:
		return "oceanic-lines"
	case linkd.Shipment:
		if e.ShipmentEventTypeCode == "RECE" || e.ShipmentEventTypeCode == "APPR" {
			return "vn-forwarding"
		}
		return "oceanic-lines"
	}
	switch e.EventLocation.UNLocationCode {
	case "VNHAN":
		return "hanoi-electronics"
	case "VNHPH":
		return "haiphong-terminal"
	case "DEHAM":
		switch e.EquipmentEventTypeCode {
		case "INSP":
			return "eu-customs"
		case "GTOT", "DROP":
			return "dc-hamburg"
		}
	}
	return "oceanic-lines"
}

func inventory(code, facility, sku string, qty int64, orderID, from, booking string) linkd.Event {
	now := time.Now().UTC()
	return linkd.Event{
		EventType: linkd.Inventory, EventClassifierCode: "ACT", EventDateTime: linkd.Time{Time: now}, EventCreatedDateTime: linkd.Time{Time: now},
		InventoryEventTypeCode: code, CarrierBookingReference: booking,
		Inventory: &linkd.InventoryLine{Facility: facility, SKU: sku, Quantity: qty, OrderID: orderID, FromFacility: from},
	}
}

// run drives the lane: steady traffic, then the hold, the re-allocations
// and, a minute later, the release.
func (l *fakeLane) run(t *testing.T, rate int, holdAfter time.Duration, done <-chan struct{}) {
	skus := []string{"TAB-10-64GB", "USB-C-HUB"}
	for _, dc := range []string{"dc-hamburg", "dc-rotterdam", "dc-antwerp"} {
		for i, sku := range skus {
			qty := int64(1200 - 300*i)
			l.mu.Lock()
			l.onHand[stockKey{dc, sku}] = qty
			l.mu.Unlock()
			l.record(dc, inventory("STCK", dc, sku, qty, "", "", ""))
		}
	}
	for i := range 8 {
		booking := heldBooking
		if i >= 4 {
			booking = fmt.Sprintf("OCLVNHAM%07d", 10+i)
		}
		o := &order{OrderID: fmt.Sprintf("SO-2026-%04d", 1001+i), SKU: skus[i%2], Quantity: int64(40 + 15*i), Facility: "dc-hamburg", Status: "ALLOCATED", Shipment: booking}
		l.mu.Lock()
		l.orders[o.OrderID] = o
		l.mu.Unlock()
		l.record("dc-hamburg", inventory("ALOC", "dc-hamburg", o.SKU, o.Quantity, o.OrderID, "", booking))
	}
	gen := scenario.NewGenerator(7, time.Now().Add(-20*24*time.Hour)).WithShipments(60)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	hold := time.After(holdAfter)
	var release <-chan time.Time
	perTick := max(1, rate/20)
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			for range perTick {
				e := gen.Next()
				l.record(originOf(&e), e)
			}
		case <-hold:
			now := time.Now().UTC()
			l.record("eu-customs", linkd.Event{
				EventType: linkd.Shipment, EventClassifierCode: "ACT", EventDateTime: linkd.Time{Time: now}, EventCreatedDateTime: linkd.Time{Time: now},
				ShipmentEventTypeCode: "HOLD", DocumentTypeCode: "CUS", Reason: "customs inspection", CarrierBookingReference: heldBooking,
				EquipmentReference: scenario.ContainerNumber("OCLU", 42*3),
				EventLocation:      &linkd.Location{LocationName: "Hamburg Burchardkai", UNLocationCode: "DEHAM", FacilityCode: "CTB", FacilityCodeListProvider: "SMDG"},
				Parties:            scenario.LaneParties,
			})
			time.Sleep(30 * time.Millisecond) // the rule reacts within milliseconds
			to := []string{"dc-rotterdam", "dc-antwerp"}
			n := 0
			l.mu.Lock()
			ids := slices.Sorted(mapsKeys(l.orders))
			l.mu.Unlock()
			for _, id := range ids {
				l.mu.Lock()
				o := l.orders[id]
				l.mu.Unlock()
				if o.Shipment != heldBooking {
					continue
				}
				dest := to[n%2]
				n++
				l.mu.Lock()
				o.FromFacility, o.Facility, o.Status = o.Facility, dest, "REALLOCATED"
				l.mu.Unlock()
				l.record("dc-hamburg", inventory("RALC", dest, o.SKU, o.Quantity, o.OrderID, "dc-hamburg", heldBooking))
			}
			t.Logf("customs held %s; dc-hamburg re-allocated %d orders", heldBooking, n)
			release = time.After(60 * time.Second)
		case <-release:
			now := time.Now().UTC()
			l.record("eu-customs", linkd.Event{
				EventType: linkd.Shipment, EventClassifierCode: "ACT", EventDateTime: linkd.Time{Time: now},
				ShipmentEventTypeCode: "RELS", DocumentTypeCode: "CUS", Reason: "inspection passed", CarrierBookingReference: heldBooking,
				EventLocation: &linkd.Location{UNLocationCode: "DEHAM"}, Parties: scenario.LaneParties,
			})
			release = nil
		}
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func peersOf(party string) []string {
	var out []string
	for _, p := range linkPairs {
		if p[0] == party {
			out = append(out, p[1])
		} else if p[1] == party {
			out = append(out, p[0])
		}
	}
	slices.Sort(out)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, linkd.ErrorBody{Error: linkd.ErrorDetail{Code: code, Message: msg}})
}

func rootOf(origin string, size int64) []byte {
	s := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", origin, size)))
	return s[:]
}

// node is one fake node's API. tokens maps each accepted token to its
// role.
func (l *fakeLane) node(self linkd.Party, tokens map[string]string, stream bool) http.Handler {
	mux := http.NewServeMux()
	auth := func(perm string, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			role := tokens[tok]
			switch {
			case !ok || role == "":
				apiError(w, http.StatusUnauthorized, "unauthorized", "the token is not known to this node")
			case perm == "metrics" && role != "admin" && role != "auditor":
				apiError(w, http.StatusForbidden, "forbidden", "token has role "+role+", which may not read metrics")
			case perm == "peers" && role != "admin":
				apiError(w, http.StatusForbidden, "forbidden", "token has role "+role+", which may not manage peers")
			default:
				h(w, r)
			}
		}
	}
	uptime := func() float64 { return time.Since(l.start).Seconds() }
	linkState := func(peer string) map[string]any {
		l.mu.Lock()
		size := l.sizes[self.ID]
		replica := l.sizes[peer]
		l.mu.Unlock()
		st := map[string]any{"peer": peer, "endpoint": "https://127.0.0.1/" + peer, "connected": true, "cursor": size, "lagEntries": 0, "replicaSize": replica, "lastSent": time.Now().UTC().Format(time.RFC3339Nano)}
		switch {
		case l.quiet:
		case self.ID == "dc-antwerp" && peer == "eu-retailer":
			st["connected"], st["cursor"], st["lastError"] = false, size-40, "dial tcp 127.0.0.1:7449: connect: connection refused"
			delete(st, "lastSent")
		case self.ID == "oceanic-lines" && peer == "dc-hamburg":
			lag := int64(uptime()*3) + 120
			st["cursor"], st["lagEntries"] = size-lag, lag
		}
		return st
	}
	mux.HandleFunc("GET /v1/node/card", auth("log", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"party": self, "endpoint": "https://127.0.0.1/" + self.ID, "logKey": "linkd.dev/log/" + self.ID + "+00000000+AAAA"})
	}))
	mux.HandleFunc("GET /v1/peers", auth("peers", func(w http.ResponseWriter, r *http.Request) {
		var cards []map[string]any
		for _, p := range laneParties {
			if slices.Contains(peersOf(self.ID), p.ID) {
				cards = append(cards, map[string]any{"party": p, "endpoint": "https://127.0.0.1/" + p.ID})
			}
		}
		writeJSON(w, 200, map[string]any{"peers": cards})
	}))
	mux.HandleFunc("GET /v1/links", auth("log", func(w http.ResponseWriter, r *http.Request) {
		var links []map[string]any
		for _, p := range peersOf(self.ID) {
			links = append(links, linkState(p))
		}
		writeJSON(w, 200, map[string]any{"links": links})
	}))
	mux.HandleFunc("GET /v1/alerts", auth("log", func(w http.ResponseWriter, r *http.Request) {
		alerts := []linkd.Alert{}
		raised := l.start.Add(2 * time.Second).UTC()
		if !l.quiet && self.ID == "dc-antwerp" {
			alerts = append(alerts, linkd.Alert{ID: "01", Kind: linkd.AlertPeerUnreachable, Severity: linkd.SeverityWarning, Peer: "eu-retailer",
				Message: "eu-retailer has taken no frame for 1m0s: dial tcp 127.0.0.1:7449: connect: connection refused", Raised: raised, LastSeen: time.Now().UTC(), Count: int(uptime()/30) + 1})
		}
		if !l.quiet && self.ID == "dc-rotterdam" && uptime() > 15 {
			note := func(root string) []byte {
				return []byte("linkd.dev/log/eu-retailer\n1207\n" + root + "\n\n— linkd.dev/log/eu-retailer q1vSx2Zk0j8S1n3m1kLx9v2b3n4m5QwErTyUiOpAsDfGhJkLzXcVbNm=\n")
			}
			alerts = append(alerts, linkd.Alert{ID: "02", Kind: linkd.AlertEquivocation, Severity: linkd.SeverityCritical, Peer: "eu-retailer", Log: linkd.LogOrigin("eu-retailer"),
				Message: "eu-retailer signed two checkpoints of size 1207 with different roots; its log is held",
				Evidence: &linkd.Evidence{Origin: linkd.LogOrigin("eu-retailer"), A: note("3kPqJ0Yb8CqM1Q0f5oE2nY9b1m7R6nD0aQ4xW2sT5uE="), B: note("Zx9v8BqL2mN4pQ6rS8tU0vW2xY4zA6bC8dE0fG2hI4k="),
					Observed: l.start.Add(15 * time.Second).UTC(), ObservedBy: "dc-rotterdam", From: "dc-antwerp"},
				Raised: l.start.Add(15 * time.Second).UTC(), LastSeen: l.start.Add(15 * time.Second).UTC(), Count: 1})
		}
		writeJSON(w, 200, map[string]any{"alerts": alerts})
	}))
	mux.HandleFunc("GET /v1/holds", auth("log", func(w http.ResponseWriter, r *http.Request) {
		holds := []linkd.LogHold{}
		if !l.quiet && self.ID == "dc-rotterdam" && uptime() > 15 {
			holds = append(holds, linkd.LogHold{Log: linkd.LogOrigin("eu-retailer"), Reason: "equivocation", AlertID: "02", Since: l.start.Add(15 * time.Second).UTC()})
		}
		writeJSON(w, 200, map[string]any{"holds": holds})
	}))
	mux.HandleFunc("GET /v1/log/checkpoint", auth("log", func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		size := l.sizes[self.ID]
		l.mu.Unlock()
		if size == 0 {
			apiError(w, 404, "not_found", "the log is empty: it signs its first checkpoint with its first event")
			return
		}
		root := base64.StdEncoding.EncodeToString(rootOf(self.ID, size))
		note := fmt.Sprintf("%s\n%d\n%s\n\n— %s AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", linkd.LogOrigin(self.ID), size, root, linkd.LogOrigin(self.ID))
		for _, p := range peersOf(self.ID) {
			if !l.quiet && self.ID == "eu-retailer" && p == "dc-antwerp" {
				continue
			}
			note += fmt.Sprintf("— linkd.dev/witness/%s BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n", p)
		}
		writeJSON(w, 200, map[string]any{"origin": linkd.LogOrigin(self.ID), "size": size, "rootHash": rootOf(self.ID, size), "checkpoint": note, "publicKey": linkd.LogOrigin(self.ID) + "+00000000+AAAA"})
	}))
	mux.HandleFunc("GET /metrics", auth("metrics", func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		size := l.sizes[self.ID]
		l.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP linkd_log_size Durable events in the party's own log.\n# TYPE linkd_log_size gauge\nlinkd_log_size %d\n", size)
		fmt.Fprintf(w, "# TYPE linkd_ingest_events_total counter\nlinkd_ingest_events_total{result=\"new\"} %d\nlinkd_ingest_events_total{result=\"duplicate\"} 3\n", size)
		for _, p := range peersOf(self.ID) {
			st := linkState(p)
			secs := 0.0
			if n, _ := st["lagEntries"].(int64); n > 0 {
				secs = float64(n) / 20
			}
			fmt.Fprintf(w, "linkd_link_lag_entries{peer=%q} %v\nlinkd_link_lag_seconds{peer=%q} %g\n", p, st["lagEntries"], p, secs)
		}
	}))
	mux.HandleFunc("GET /v1/events", auth("events", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		l.mu.Lock()
		var out []linkd.Recorded
		for _, rec := range l.all {
			if matches(&rec.Event, q) {
				out = append(out, rec)
				if len(out) == limit {
					break
				}
			}
		}
		l.mu.Unlock()
		if out == nil {
			out = []linkd.Recorded{}
		}
		writeJSON(w, 200, linkd.EventPage{Events: out})
	}))
	mux.HandleFunc("GET /v1/shipments/{ref}", auth("events", func(w http.ResponseWriter, r *http.Request) {
		ref := r.PathValue("ref")
		l.mu.Lock()
		var recs []linkd.Recorded
		for _, rec := range l.all {
			e := rec.Event
			if e.CarrierBookingReference == ref || e.TransportDocumentReference == ref || e.EquipmentReference == ref {
				recs = append(recs, rec)
			}
		}
		l.mu.Unlock()
		if len(recs) == 0 {
			apiError(w, 404, "not_found", fmt.Sprintf("no events name %q as a booking, B/L or container", ref))
			return
		}
		state, tl := shipment.Build(ref, recs)
		writeJSON(w, 200, linkd.ShipmentView{State: state, Timeline: tl})
	}))
	mux.HandleFunc("GET /v1/events/{id}/verification", auth("log", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, rec := range l.all {
			if rec.Event.EventID == id {
				o := rec.Event.Origin
				leaf := sha256.Sum256([]byte(id))
				writeJSON(w, 200, map[string]any{"origin": linkd.LogOrigin(o), "index": rec.LogIndex, "leafHash": leaf[:], "verified": true,
					"checkpoint": map[string]any{"size": l.sizes[o], "rootHash": rootOf(o, l.sizes[o]), "signedBy": o, "cosignedBy": peersOf(o)}})
				return
			}
		}
		apiError(w, 404, "not_found", "no event "+id)
	}))
	if slices.Contains(self.Roles, linkd.RoleWarehouse) {
		mux.HandleFunc("GET /v1/allocations", auth("events", func(w http.ResponseWriter, r *http.Request) {
			l.mu.Lock()
			defer l.mu.Unlock()
			facilities := []map[string]any{}
			for k, onHand := range l.onHand {
				if k.facility != self.ID {
					continue
				}
				var allocated int64
				for _, o := range l.orders {
					if o.Facility == k.facility && o.SKU == k.sku {
						allocated += o.Quantity
					}
				}
				facilities = append(facilities, map[string]any{"facility": k.facility, "sku": k.sku, "onHand": onHand, "allocated": allocated, "available": onHand - allocated})
			}
			orders := []*order{}
			for _, id := range slices.Sorted(mapsKeys(l.orders)) {
				if o := l.orders[id]; o.Facility == self.ID || o.FromFacility == self.ID {
					c := *o
					orders = append(orders, &c)
				}
			}
			writeJSON(w, 200, map[string]any{"facilities": facilities, "orders": orders, "holds": []any{}})
		}))
	}
	if stream {
		mux.HandleFunc("GET /v1/stream", auth("events", func(w http.ResponseWriter, r *http.Request) { l.stream(w, r) }))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, 404, "not_found", "no endpoint "+r.URL.Path)
	})
	return mux
}

// matches applies the /v1/events and /v1/stream filters the page uses.
func matches(e *linkd.Event, q map[string][]string) bool {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for _, f := range []struct{ param, value string }{
		{"eventType", string(e.EventType)}, {"shipmentEventTypeCode", e.ShipmentEventTypeCode},
		{"origin", e.Origin}, {"carrierBookingReference", e.CarrierBookingReference},
	} {
		if want := get(f.param); want != "" && !slices.Contains(strings.Split(want, ","), f.value) {
			return false
		}
	}
	return true
}

// stream serves /v1/stream: id is the position in the lane's order.
func (l *fakeLane) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l.mu.Lock()
	next := len(l.all)
	l.mu.Unlock()
	if q.Get("from") == "start" {
		next = 0
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.Atoi(id); err == nil {
			next = n + 1
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
	fmt.Fprint(w, ": linkd event stream\n\n")
	w.(http.Flusher).Flush()
	beat := time.NewTicker(10 * time.Second)
	defer beat.Stop()
	for {
		l.mu.Lock()
		batch := slices.Clone(l.all[min(next, len(l.all)):])
		sizes := map[string]int64{}
		for k, v := range l.sizes {
			sizes[k] = v
		}
		wake := l.wake
		l.mu.Unlock()
		for i, rec := range batch {
			seq := next + i
			if !matches(&rec.Event, q) {
				continue
			}
			o := rec.Event.Origin
			data, _ := json.Marshal(map[string]any{"event": rec.Event,
				"position":   map[string]any{"origin": linkd.LogOrigin(o), "index": rec.LogIndex},
				"checkpoint": map[string]any{"origin": linkd.LogOrigin(o), "size": sizes[o], "rootHash": rootOf(o, sizes[o])}})
			fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", seq, data)
		}
		next += len(batch)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-beat.C:
			fmt.Fprint(w, ": heartbeat\n\n")
		}
	}
}

func envOr(k, def string) string { return cmp.Or(os.Getenv(k), def) }

func TestDevServer(t *testing.T) {
	addr := envOr("LINKD_DEV_ADDR", "127.0.0.1:8089")
	mode := envOr("LINKD_DEV_MODE", dashboard.ModeLane)
	serveFor, err := time.ParseDuration(envOr("LINKD_DEV_FOR", "10m"))
	if err != nil {
		t.Fatal(err)
	}
	holdAfter, err := time.ParseDuration(envOr("LINKD_DEV_HOLD_AFTER", "8s"))
	if err != nil {
		t.Fatal(err)
	}
	rate, _ := strconv.Atoi(envOr("LINKD_DEV_RATE", "20"))
	stream := os.Getenv("LINKD_DEV_STREAM") != "0"
	lane := newFakeLane(os.Getenv("LINKD_DEV_QUIET") == "1")
	done := make(chan struct{})
	defer close(done)
	go lane.run(t, rate, holdAfter, done)

	mux := http.NewServeMux()
	switch mode {
	case dashboard.ModeLane:
		var targets []dashboard.Target
		var nodes []dashboard.Node
		for _, p := range laneParties {
			tok := "dev-token-" + p.ID
			s := httptest.NewTLSServer(lane.node(p, map[string]string{tok: "auditor"}, stream))
			defer s.Close()
			if p.ID == os.Getenv("LINKD_DEV_DOWN") {
				time.AfterFunc(10*time.Second, func() {
					t.Logf("node %s stops answering", p.ID)
					s.CloseClientConnections()
					s.Close()
				})
			}
			targets = append(targets, dashboard.Target{Party: p.ID, URL: s.URL, Token: tok, Client: s.Client()})
			nodes = append(nodes, dashboard.Node{Party: p, Base: "/nodes/" + p.ID})
		}
		mux.Handle("/nodes/", dashboard.Proxy(targets))
		mux.Handle("/", dashboard.Handler(dashboard.Config{Title: "Vietnam → EU lane (dev)", Mode: dashboard.ModeLane, Nodes: nodes}))
	case dashboard.ModeNode:
		self := laneParties[5] // dc-hamburg
		mux.Handle("/", lane.node(self, map[string]string{"dev-reader": "reader", "dev-admin": "admin"}, stream))
		mux.Handle("/dashboard/", http.StripPrefix("/dashboard", dashboard.Handler(dashboard.Config{Title: "DC Hamburg", Mode: dashboard.ModeNode})))
	default:
		t.Fatalf("LINKD_DEV_MODE %q: want lane or node", mode)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	path := "/"
	if mode == dashboard.ModeNode {
		path = "/dashboard/"
	}
	fmt.Printf("dashboard (%s mode) at http://%s%s for %s\n", mode, ln.Addr(), path, serveFor)
	time.Sleep(serveFor)
}
