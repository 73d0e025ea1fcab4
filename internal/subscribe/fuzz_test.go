package subscribe_test

import (
	"testing"

	"github.com/linkd-dev/linkd/internal/subscribe"
)

// FuzzDecodeCursor: a Last-Event-ID from a client either decodes to a cursor
// that encodes back to itself, or is refused; it never panics.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(subscribe.Cursor{"haiphong-terminal": 12, "dc-hamburg": 0}.Encode())
	f.Add("")
	f.Add("!!!")
	f.Add("YT0xLGE9Mg") // a=1,a=2
	f.Fuzz(func(t *testing.T, s string) {
		c, err := subscribe.DecodeCursor(s)
		if err != nil {
			return
		}
		again, err := subscribe.DecodeCursor(c.Encode())
		if err != nil {
			t.Fatalf("re-decoding %q: %v", c.Encode(), err)
		}
		if len(again) != len(c) {
			t.Fatalf("cursor changed on a round trip: %v, then %v", c, again)
		}
		for p, i := range c {
			if again[p] != i || i < 0 {
				t.Fatalf("cursor changed on a round trip: %v, then %v", c, again)
			}
		}
	})
}
