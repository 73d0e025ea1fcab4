package rules_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/rules"
)

// FuzzParse: a rules file is parsed or refused with an invalid error naming
// the problem; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("rules:\n  - id: reallocate-on-hold\n    when:\n      shipmentEventTypeCodes: [HOLD]\n    action:\n      reallocate: {}\n"))
	f.Add([]byte("rules:\n  - id: x\n    action:\n      record:\n        eventType: SHIPMENT\n        eventClassifierCode: ACT\n        eventTypeCode: PENU\n"))
	f.Add([]byte("rules: [{id: a, action: {webhook: {url: 'https://x.example/h', secret: s}}}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := rules.Parse(data)
		if err != nil {
			if linkd.ErrorCode(err) != linkd.EInvalid {
				t.Fatalf("Parse error %v, want an invalid error", err)
			}
			return
		}
		for _, r := range list {
			if err := r.Validate(); err != nil {
				t.Fatalf("Parse accepted rule %q that Validate refuses: %v", r.ID, err)
			}
		}
	})
}
