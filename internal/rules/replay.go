package rules

import (
	"context"
	"fmt"
	"iter"

	"github.com/linkd-dev/linkd"
)

// Replay returns what rule would have decided over history, for
// `linkd rules test RULE --from …`. It runs the rule even when it is paused,
// with the same loop guard as Decide, and records nothing.
//
// history yields each event with the derived state of its shipment up to and
// including that event (nil when it names none), in timeline order: by
// eventDateTime as an instant, then HLC, as a shipment view or a merge of
// several lists them. Replay refuses a history that goes back in time, since
// states and planner answers out of order would show decisions the rule
// could never have made. Each event should appear once; a repeated event
// decides again, with the same event ids.
//
// The planner is asked as it is; to replay re-allocations faithfully, pass one
// whose state follows the history (for instance a Book fed the same events).
// Replay stops at the first error, returning the decisions so far and the
// error naming the event's position and id; it checks ctx every 256 events.
func Replay(ctx context.Context, self linkd.Party, rule Rule, history iter.Seq2[*linkd.Event, *linkd.ShipmentState], planner Planner) ([]Decision, error) {
	rule.Paused = false
	en, err := New(self, []Rule{rule}, planner)
	if err != nil {
		return nil, fmt.Errorf("rules: replay: %w", err)
	}
	var (
		out  []Decision
		prev *linkd.Event
		i    = -1
	)
	for e, state := range history {
		i++
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("rules: replay: stopped at event %d: %w", i, err)
			}
		}
		if prev != nil && before(e, prev) {
			return out, linkd.Errorf(linkd.EInvalid, "rules: replay: history is not in timeline order: event %d (%s at %s, hlc %s) sorts before event %d (at %s, hlc %s)",
				i, e.EventID, e.EventDateTime, e.HLC, i-1, prev.EventDateTime, prev.HLC)
		}
		prev = e
		ds, err := en.Decide(e, state)
		if err != nil {
			return out, fmt.Errorf("rules: replay: event %d (%s): %w", i, e.EventID, err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// before reports whether a sorts before b in timeline order (eventDateTime,
// then HLC).
func before(a, b *linkd.Event) bool {
	if c := a.EventDateTime.Compare(b.EventDateTime.Time); c != 0 {
		return c < 0
	}
	return a.HLC < b.HLC
}
