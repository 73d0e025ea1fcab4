package demo

import (
	"net"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd/internal/dashboard"
)

// serveDashboard serves the lane's dashboard on ln over plain HTTP: the
// page in lane mode, and the proxy that takes its requests to each node's
// API with that node's dashboard token. The nodes keep their ports across a
// restart, so the proxy's targets stay right for the whole run.
func serveDashboard(ln net.Listener, w *network) *http.Server {
	var nodes []dashboard.Node
	var targets []dashboard.Target
	for _, n := range w.nodes {
		nodes = append(nodes, dashboard.Node{Party: n.party, Base: "/nodes/" + n.party.ID})
		targets = append(targets, dashboard.Target{Party: n.party.ID, URL: n.url(), Token: n.viewer, Client: n.client})
	}
	mux := http.NewServeMux()
	mux.Handle("/nodes/", dashboard.Proxy(targets))
	mux.Handle("/", dashboard.Handler(dashboard.Config{Title: "linkd demo: the Vietnam→EU lane", Mode: dashboard.ModeLane, Nodes: nodes}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv
}
