package shred

// CiphersHeld is how many ciphers the keys keep in memory.
func (k *Keys) CiphersHeld() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.ciphers.len()
}

// MaxCiphers is the bound on CiphersHeld.
const MaxCiphers = maxCiphers

// Held is how many ciphers the pass keeps of its own.
func (p *Pass) Held() int {
	if c := p.ciphers.Load(); c != nil {
		return c.len()
	}
	return 0
}
