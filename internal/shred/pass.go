package shred

import (
	"crypto/cipher"
	"sync/atomic"
)

// PassCiphers is how many ciphers a Pass holds: about 26 MiB at most,
// besides the node's own cache, and only while the pass runs.
const PassCiphers = 32768

// Pass opens the records of one pass over many of them, as an audit reads a
// whole log or a Raft snapshot streams it, with a cache of ciphers of its
// own.
//
// The node's cache holds the ciphers of the shipments in use (maxCiphers),
// and a pass over a log with more shipments than that would make a cipher
// again for most records it opens (a key read from its file, an AES key
// schedule and two allocations, about 5 µs), and evict the ciphers that
// the writes use while it did. A pass looks in the node's cache and keeps
// what it finds or makes in its own, up to PassCiphers, never in the
// node's: an audit of a million events on 25,000 shipments took 4.2–5.1 s
// through the node's cache and 2.8–3.1 s with one this size.
//
// A pass may be used by several goroutines at once. Destroy drops the
// destroyed key's cipher from every open pass, as from the node's cache.
type Pass struct {
	k       *Keys
	ciphers atomic.Pointer[ciphers] // nil once closed
}

// Pass returns a pass holding up to n ciphers. Close it when done: until
// then it keeps them.
func (k *Keys) Pass(n int) *Pass {
	p := &Pass{k: k}
	p.ciphers.Store(newCiphers(n))
	k.mu.Lock()
	k.passes[p] = true
	k.mu.Unlock()
	return p
}

// AEAD returns the cipher of id's key as Keys.AEAD does: ErrNoKey if it
// has none, ErrDestroyed if it was destroyed. After Close it is Keys.AEAD.
func (p *Pass) AEAD(id string) (cipher.AEAD, error) {
	own := p.ciphers.Load()
	if own == nil {
		return p.k.AEAD(id)
	}
	if a, ok := own.get(id); ok {
		return a, nil
	}
	a, ok := p.k.ciphers.get(id)
	if !ok {
		key, err := p.k.key(id, false)
		if err != nil {
			return nil, err
		}
		if a, err = newAEAD(key[:]); err != nil {
			return nil, err
		}
	}
	// Put as Keys.aead puts: under the read lock, after a look at the
	// destroyed set, so a Destroy that comes after drops it again.
	p.k.mu.RLock()
	defer p.k.mu.RUnlock()
	if p.k.destroyed[id] {
		return nil, ErrDestroyed
	}
	own.put(id, a)
	return a, nil
}

// Close lets the pass's ciphers go.
func (p *Pass) Close() {
	p.k.mu.Lock()
	delete(p.k.passes, p)
	p.ciphers.Store(nil)
	p.k.mu.Unlock()
}
