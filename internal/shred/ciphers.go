package shred

import (
	"crypto/cipher"
	"hash/maphash"
	"strings"
	"sync"
)

// cipherShards is how many parts the cipher cache is split into, each with
// a lock of its own. Every record sealed or opened looks its shipment's
// cipher up, from the commit path, the readers and the audit's workers at
// once; with one lock over the whole cache, a miss (a cipher made again,
// which happens for most records of an audit of more shipments than the
// cache holds) held every other lookup back, and an audit left a third of a
// 2-core machine idle.
const cipherShards = 16

// ciphers caches ciphers by id, up to a bound. A cipher is put only for an
// id not destroyed: Keys puts under its read lock after looking at the
// destroyed set, and Destroy drops the cipher under its write lock as it
// records the id (see Keys.aead). The node's cache holds maxCiphers; a
// Pass has one of its own.
type ciphers struct {
	seed     maphash.Seed
	perShard int
	shards   [cipherShards]cipherShard
}

type cipherShard struct {
	mu sync.RWMutex
	m  map[string]cipher.AEAD // guarded by mu
}

// newCiphers returns a cache of up to n ciphers (rounded up to a multiple
// of cipherShards: each shard holds its share).
func newCiphers(n int) *ciphers {
	c := &ciphers{seed: maphash.MakeSeed(), perShard: max(1, (n+cipherShards-1)/cipherShards)}
	for i := range c.shards {
		c.shards[i].m = map[string]cipher.AEAD{}
	}
	return c
}

func (c *ciphers) shard(id string) *cipherShard {
	return &c.shards[maphash.String(c.seed, id)%cipherShards]
}

func (c *ciphers) get(id string) (cipher.AEAD, bool) {
	s := c.shard(id)
	s.mu.RLock()
	a, ok := s.m[id]
	s.mu.RUnlock()
	return a, ok
}

// put caches a as id's cipher. A full shard drops one of its ciphers at
// random, so the ciphers of busy shipments mostly stay.
func (c *ciphers) put(id string, a cipher.AEAD) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok && len(s.m) >= c.perShard {
		for old := range s.m { // each range starts at a random entry
			delete(s.m, old)
			break
		}
	}
	s.m[strings.Clone(id)] = a // id may be part of a larger buffer
}

func (c *ciphers) drop(id string) {
	s := c.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (c *ciphers) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
