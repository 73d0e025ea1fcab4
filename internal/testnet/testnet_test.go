package testnet

import (
	"net"
	"testing"
)

// TestFreeAddrNeverRepeats picks many addresses the way a cluster test does,
// all before any server listens, and checks that no two are the same and
// that a server can listen on each.
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("%s was given twice", addr)
		}
		seen[addr] = true
	}
	for addr := range seen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on a given address: %v", err)
		}
		ln.Close()
	}
}
