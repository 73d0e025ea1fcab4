package subscribe

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// A Cursor is a position in every log the node holds: for each party, the
// index of the next entry to read. A log it does not name starts at 0, so a
// partner linked after the cursor was made has its whole log read.
type Cursor map[string]int64

// maxCursorParties bounds a decoded cursor (Last-Event-ID comes from clients).
const maxCursorParties = 1024

// Encode is the cursor as an opaque token: SSE ids, Last-Event-ID, and the
// position stored for a subscription.
func (c Cursor) Encode() string {
	var b strings.Builder
	for i, p := range slices.Sorted(maps.Keys(c)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(c[p], 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

// DecodeCursor parses what Encode made; anything else is an invalid error.
func DecodeCursor(s string) (Cursor, error) {
	bad := func(why string) error {
		return linkd.Errorf(linkd.EInvalid, "cursor %q is not one this node issued: %s", clip(s), why)
	}
	if len(s) > 64*1024 {
		return nil, bad("too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad("not base64url")
	}
	c := Cursor{}
	if len(raw) == 0 {
		return c, nil
	}
	for _, part := range strings.Split(string(raw), ",") {
		party, idx, ok := strings.Cut(part, "=")
		if !ok || party == "" {
			return nil, bad("malformed position")
		}
		n, err := strconv.ParseInt(idx, 10, 64)
		if err != nil || n < 0 {
			return nil, bad(fmt.Sprintf("bad index for %s", clip(party)))
		}
		if _, dup := c[party]; dup {
			return nil, bad("a party appears twice")
		}
		c[party] = n
		if len(c) > maxCursorParties {
			return nil, bad("too many logs")
		}
	}
	return c, nil
}

// Clone returns a copy of c.
func (c Cursor) Clone() Cursor { return maps.Clone(c) }

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
