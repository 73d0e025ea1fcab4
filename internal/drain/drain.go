// Package drain keeps a store open until the HTTP handlers that read it have
// returned.
//
// http.Server.Shutdown waits for requests only until its context ends, and
// Close does not wait at all, so a node that closes its store right after
// either can pull it from under a handler still running. A bare
// sync.WaitGroup does not close the gap: a request accepted just before
// Close may call Add while shutdown is already in Wait. Gate takes both under
// one lock and turns late requests away.
package drain

import (
	"context"
	"net/http"
	"sync"
)

// Gate counts the requests running through the handler it wraps.
type Gate struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

// Wrap returns h behind the gate. Once the gate is closed, new requests get
// 503 with Retry-After and never reach h.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.enter() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "node is shutting down", http.StatusServiceUnavailable)
			return
		}
		defer g.running.Done()
		h.ServeHTTP(w, r)
	})
}

func (g *Gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.running.Add(1)
	return true
}

// Close turns new requests away and waits until the running ones return or
// ctx ends, whichever is first. It reports ctx's error if handlers were
// still running.
func (g *Gate) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
