package shred

// CiphersHeld is how many ciphers the keys keep in memory.
func (k *Keys) CiphersHeld() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.ciphers.len()
}

// MaxCiphers is the bound on CiphersHeld.
const MaxCiphers = maxCiphers
