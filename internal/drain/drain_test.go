package drain

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestCloseWaitsForRunningRequests checks that Close returns only after the
// request in flight has finished, and that a request arriving after Close
// never reaches the handler.
func TestCloseWaitsForRunningRequests(t *testing.T) {
	var g Gate
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	served := 0
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
	<-started

	closed := make(chan error)
	go func() { closed <- g.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/late", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("late request: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if served != 1 {
		t.Errorf("handler ran %d times, want 1: the late request must not reach it", served)
	}
}

// TestCloseGivesUpAtDeadline checks that a stuck handler cannot hold
// shutdown forever.
func TestCloseGivesUpAtDeadline(t *testing.T) {
	var g Gate
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := g.Close(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Close with a stuck handler: %v, want context.DeadlineExceeded", err)
	}
}
