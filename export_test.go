package linkd

// Hooks for the external tests: the two event decoders DecodeEventsBytes
// chooses between, so a differential test can hold one to the other, and
// the canonical decoder's check of a date-time's spelling, which a fuzz
// target holds to time.Time.AppendFormat.
var (
	DecodeEventsFast       = decodeEventsFast
	DecodeEventsReference  = decodeEventsReference
	TimeSpelledCanonically = timeSpelledCanonically
)
