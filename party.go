package linkd

import (
	"fmt"
	"slices"
	"strings"
)

// Party is an organisation in a lane. Its node records events under ID.
type Party struct {
	ID           string   `json:"id"`                 // lowercase slug, e.g. haiphong-terminal
	Name         string   `json:"name"`               // display name
	Roles        []Role   `json:"roles"`              // what it does in the lane
	Jurisdiction []string `json:"jurisdiction"`       // ISO 3166 country first, then region tags: ["DE","EU"]
	Location     string   `json:"location,omitempty"` // UN/LOCODE of the site, e.g. DEHAM; places the node on maps
}

// Country is the party's ISO 3166 country: the first jurisdiction tag that is one.
func (p Party) Country() string {
	for _, j := range p.Jurisdiction {
		if countries[j] {
			return j
		}
	}
	return ""
}

// Admits reports whether a payload whose residency is the given list may be
// stored on this party's nodes. An empty residency admits every party; else
// some tag must name the party's country, a region containing it, or a tag the
// party lists itself.
func (p Party) Admits(residency []string) bool {
	if len(residency) == 0 {
		return true
	}
	country := p.Country()
	for _, r := range residency {
		if slices.Contains(p.Jurisdiction, r) {
			return true
		}
		if members, ok := regionTags[r]; ok && country != "" && slices.Contains(strings.Fields(members), country) {
			return true
		}
	}
	return false
}

// Validate checks the party's identity fields.
func (p Party) Validate() error {
	var probs []Problem
	if err := checkPartyID(p.ID); err != "" {
		probs = append(probs, Problem{"id", err})
	}
	if len(p.Name) > 200 {
		probs = append(probs, Problem{"name", "longer than 200 characters"})
	}
	for i, r := range p.Roles {
		if !knownRole(r) {
			probs = append(probs, Problem{fmt.Sprintf("roles[%d]", i), fmt.Sprintf("unknown role %q; known: %s", r, roleList())})
		}
	}
	if len(p.Jurisdiction) == 0 {
		probs = append(probs, Problem{"jurisdiction", "required: the party's ISO 3166 country, then any region tags (EU, EEA, ASEAN)"})
	} else if p.Country() == "" {
		probs = append(probs, Problem{"jurisdiction", "names no ISO 3166 country code"})
	}
	country := p.Country()
	for i, j := range p.Jurisdiction {
		if !KnownJurisdiction(j) {
			probs = append(probs, Problem{fmt.Sprintf("jurisdiction[%d]", i), fmt.Sprintf("unknown jurisdiction %q", j)})
		} else if members, region := regionTags[j]; region && country != "" && !slices.Contains(strings.Fields(members), country) {
			// A party cannot claim a region it is not in: residency checks trust these tags.
			probs = append(probs, Problem{fmt.Sprintf("jurisdiction[%d]", i), fmt.Sprintf("%s is not in %s", country, j)})
		} else if !region && j != country {
			probs = append(probs, Problem{fmt.Sprintf("jurisdiction[%d]", i), fmt.Sprintf("a party has one country (%s); %s cannot be a second", country, j)})
		}
	}
	if p.Location != "" {
		if why := checkUNLocode(p.Location); why != "" {
			probs = append(probs, Problem{"location", why})
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// LogOrigin is the origin line of a party's checkpoints (C2SP tlog-checkpoint):
// a schema-less, globally unique name for the log.
func LogOrigin(partyID string) string { return "linkd.dev/log/" + partyID }

func roleList() string {
	s := make([]string, len(Roles))
	for i, r := range Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// checkPartyID returns why id is not a valid party id, or "".
func checkPartyID(id string) string {
	if id == "" {
		return "required"
	}
	if len(id) > 63 {
		return "longer than 63 characters"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(id)-1:
		default:
			return fmt.Sprintf("%q is not a party id: use lowercase letters, digits and inner hyphens", id)
		}
	}
	return ""
}
