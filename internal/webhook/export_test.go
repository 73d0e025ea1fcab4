package webhook

// ParseRetryAfter exposes parseRetryAfter to the fuzz target.
var ParseRetryAfter = parseRetryAfter
