package alerts

import "time"

// SetClock replaces the store's clock.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// SetMax lowers how many alerts the store keeps.
func SetMax(s *Store, n int) { s.max = n }
