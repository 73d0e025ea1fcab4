package link

import (
	"fmt"
	"slices"

	"github.com/linkd-dev/linkd"
)

// Entitled reports whether party may see e's payload. The origin always may.
// Otherwise the party must be on the event's party list — the shipment's
// parties as the origin knew them when it recorded the event — and, when the
// event names a visibility list, on that too. An event with no party list is
// the origin's alone.
func Entitled(e *linkd.Event, party string) bool {
	if party == e.Origin {
		return true
	}
	on := slices.ContainsFunc(e.Parties, func(p linkd.ShipmentParty) bool { return p.Party == party })
	if !on {
		return false
	}
	return len(e.Visibility) == 0 || slices.Contains(e.Visibility, party)
}

// Shares reports whether a node of party may be sent e's payload: it must be
// entitled to it and its jurisdiction must be admitted by e's residency.
// Everyone else gets only the salted commitment.
func Shares(e *linkd.Event, party linkd.Party) bool {
	return Entitled(e, party.ID) && party.Admits(e.Residency)
}

// admit is the receive-side check of a payload a peer sent: this node must
// be entitled to it and allowed to store it. A payload that fails is refused
// with the whole frame and raises an alert: the sender broke the rules.
func admit(self linkd.Party) func(*linkd.Event) error {
	return func(e *linkd.Event) error {
		if !self.Admits(e.Residency) {
			return &residencyError{fmt.Sprintf("its residency %v excludes this node's jurisdiction %v", e.Residency, self.Jurisdiction)}
		}
		if !Entitled(e, self.ID) {
			return fmt.Errorf("%s is not entitled to it (parties %v, visibility %v)", self.ID, partyIDs(e.Parties), e.Visibility)
		}
		return nil
	}
}

type residencyError struct{ msg string }

func (e *residencyError) Error() string { return e.msg }

func partyIDs(ps []linkd.ShipmentParty) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Party
	}
	return out
}
