package partylog

import "github.com/linkd-dev/linkd"

// CursorAfter returns the cursor that resumes a scan of any index right after
// rec, as if rec had been the last event of a page. A caller that filters a
// scan's events further uses it to end its page at the last event it kept.
func (l *Log) CursorAfter(rec linkd.Recorded) string {
	pos := appendPosition(nil, timeKey(rec.Event.EventDateTime.Time), l.num, rec.LogIndex)
	return encodeCursor(pos)
}

// WriteErr returns why the write path stopped (an *linkd.Error with code
// unavailable), or nil while it takes appends. Readiness checks use it.
func (l *Log) WriteErr() error { return l.stopErr() }
