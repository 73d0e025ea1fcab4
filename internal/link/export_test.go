package link

import "github.com/linkd-dev/linkd/internal/partylog"

// EncodeFrameForTest encodes a frame as a sender would, from any entries.
func EncodeFrameForTest(origin string, from int64, note []byte, entries []partylog.RemoteEntry) []byte {
	var w frameWriter
	w.begin(origin, from, note, "")
	for _, e := range entries {
		if e.Canon == nil {
			w.leaf(e.Leaf)
		} else {
			w.event(e.Salt, e.Canon)
		}
	}
	return append([]byte(nil), w.finish()...)
}
