package demo

import (
	"fmt"
	"os"
	"slices"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/node"
	"github.com/linkd-dev/linkd/internal/scenario"
)

// laneRules is the demo's whole rule setup: it configures the rules party
// p's node runs, in cfg, before the node opens, and returns a sentence for
// each rule it wired, for the narration. Nothing else in the demo decides
// how a node reacts to the lane's events; the demo only watches what the
// nodes record.
//
// Every distribution centre runs the lane's two rules (docs/rules.md): an
// ACT customs HOLD of a shipment re-allocates the orders the centre
// allocated against it to the other centres with the most units of each SKU
// available (internal/allocation plans, the node records the RALC events),
// and the matching RELS brings back what still makes sense.
func laneRules(p linkd.Party, cfg *node.Config) []string {
	if !slices.Contains(p.Roles, linkd.RoleWarehouse) {
		return nil
	}
	if err := os.WriteFile(cfg.Path(laneRulesFile), []byte(scenario.CentreRules), 0o644); err != nil {
		return []string{fmt.Sprintf("%s runs no rules: %v", p.Name, err)}
	}
	cfg.Rules = laneRulesFile
	return []string{
		fmt.Sprintf("%s re-allocates its orders when customs holds their inbound shipment, and takes them back on release", p.Name),
	}
}

const laneRulesFile = "rules.yaml"
