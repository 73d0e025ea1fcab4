package linkd

// Hooks for the external tests: the two event decoders DecodeEventsBytes
// chooses between, so a differential test can hold one to the other.
var (
	DecodeEventsFast      = decodeEventsFast
	DecodeEventsReference = decodeEventsReference
)
