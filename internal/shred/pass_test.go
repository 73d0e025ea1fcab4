package shred_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/linkd-dev/linkd/internal/shred"
)

// TestPass: a pass opens what the keys sealed with ciphers of its own, up to
// its bound, and never fills the node's cache; it reuses a cipher the node
// has; Destroy reaches the ciphers it holds; after Close it is the keys'.
func TestPass(t *testing.T) {
	dir := t.TempDir()
	k, db, closeDB := openKeysDB(t, dir)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("b:PASS%04d", i)
	}
	sealed := sealEach(t, k, db, ids)
	k.Close()
	closeDB()
	k, _, _ = openKeysDB(t, dir) // a node that restarted: nothing cached

	const bound = 256
	p := k.Pass(bound)
	defer p.Close()
	for round := range 2 {
		for i, id := range ids {
			a, err := p.AEAD(id)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, id, err)
			}
			if pt, err := a.Open(nil, nil, sealed[i], nil); err != nil || string(pt) != "payload of "+id {
				t.Fatalf("round %d: %s opened to %q, %v", round, id, pt, err)
			}
		}
	}
	if n := k.CiphersHeld(); n != 0 {
		t.Errorf("the node's cache holds %d ciphers after a pass over %d keys, want none: the pass's are its own", n, len(ids))
	}
	// Each of the cache's shards is bounded to its share of the bound.
	if n := p.Held(); n > bound || n < bound*3/4 {
		t.Errorf("the pass holds %d ciphers after %d keys, want at most its bound %d and near it", n, len(ids), bound)
	}
	if _, err := p.AEAD("b:NEVER"); !errors.Is(err, shred.ErrNoKey) {
		t.Errorf("a pass's cipher of an id without a key: %v, want ErrNoKey", err)
	}

	// A cipher the node has is the one the pass uses, not a second.
	node, err := k.AEAD(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	q := k.Pass(bound)
	if got, err := q.AEAD(ids[0]); err != nil || got != node {
		t.Errorf("a pass made its own cipher of a key whose cipher the node holds (%v)", err)
	}

	// Destroy reaches a cipher the pass holds, while the pass is in use.
	last := ids[len(ids)-1]
	if _, err := p.AEAD(last); err != nil { // cached in the pass now
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids[:200] {
				if _, err := p.AEAD(id); err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
			}
		}()
	}
	if err := k.Destroy(last); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, pass := range []*shred.Pass{p, q} {
		if _, err := pass.AEAD(last); !errors.Is(err, shred.ErrDestroyed) {
			t.Errorf("a pass gave the cipher of a destroyed key: %v", err)
		}
	}

	q.Close()
	if q.Held() != 0 {
		t.Errorf("a closed pass holds %d ciphers", q.Held())
	}
	if a, err := q.AEAD(ids[1]); err != nil {
		t.Errorf("a closed pass: %v, want the keys' cipher", err)
	} else if pt, err := a.Open(nil, nil, sealed[1], nil); err != nil || string(pt) != "payload of "+ids[1] {
		t.Errorf("a closed pass's cipher opened %q, %v", pt, err)
	}
}
