package peers

import "time"

// SetClock replaces the directory's clock; call it before any other use.
func SetClock(d *Directory, now func() time.Time) { d.now = now }
