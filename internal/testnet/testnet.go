// Package testnet gives tests loopback addresses to start servers on. It is
// imported by tests only.
package testnet

import (
	"net"
	"sync"
	"testing"
)

// given holds every address FreeAddr returned in this process.
var given sync.Map

// FreeAddr returns a loopback address whose port was free a moment ago and
// that no earlier call in this process returned. A test that chooses the
// addresses of several servers before it starts them (cluster members that
// must know each other's) so never gives two of them one port, which a
// plain listen-and-close can: the port it closes is free for the next pick.
// Another process may still take the port before the server listens; the
// server then fails with an error naming the address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a loopback port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, dup := given.LoadOrStore(addr, struct{}{}); !dup {
			return addr
		}
	}
	t.Fatal("pick a loopback port: every free port the kernel offered was given out already in this process")
	return ""
}
