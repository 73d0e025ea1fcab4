package roster

// HashAllAlike makes every reference of r hash alike, so that all but one
// collide in the cache.
func HashAllAlike(r *Roster) { r.oneHash = true }
