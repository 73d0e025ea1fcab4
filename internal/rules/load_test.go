package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

const laneFile = `# The Hamburg centre's rules.
rules:
  - id: hold-reallocate
    name: Re-allocate orders held by customs
    when:
      shipmentEventTypeCodes: [HOLD]
      documentTypeCodes: [CUS]
      expression: |
        event.eventLocation.UNLocationCode.startsWith("DE") &&
        shipment.status == "ON_HOLD"
    action:
      reallocate: {}
  - id: hold-notice
    when:
      shipmentEventTypeCodes: [HOLD]
      documentTypeCodes: [CUS]
      expression: event.eventLocation.UNLocationCode.startsWith("DE") && shipment.status == "ON_HOLD"
    action:
      record:
        eventType: SHIPMENT
        eventClassifierCode: ACT
        eventTypeCode: PENU
        reason: "orders re-allocated: customs hold"
        documentTypeCode: CUS
  - id: hold-webhook
    when:
      shipmentEventTypeCodes: [HOLD]
      documentTypeCodes: [CUS]
      expression: event.eventLocation.UNLocationCode.startsWith("DE") && shipment.status == "ON_HOLD"
    action:
      webhook: {url: "https://erp.example.com/linkd/holds", secret: erp-hook}
  - id: release-restore
    paused: false
    when: {shipmentEventTypeCodes: [RELS]}
    action:
      restore: {}
`

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(laneFile), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rules); got != 4 {
		t.Fatalf("loaded %d rules, want 4", got)
	}
	// The file decides exactly as the same rules written in Go.
	h := customsHold()
	a, err := mustEngine(t, rules, newBook()).Decide(h, stateOf(h))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := mustEngine(t, holdRules(), newBook()).Decide(h, stateOf(h))
	if len(a) != 3 || string(encode(a)) != string(encode(b)) {
		t.Errorf("file rules decided %v, Go rules %v", ruleIDs(a), ruleIDs(b))
	}

	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v; want fs.ErrNotExist", err)
	}
}

// TestParseErrors checks strict decoding and that every problem names the
// rule, the field and the line.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []linkd.Problem
	}{
		{"unknown top-level field", "rule:\n  - id: x\n",
			[]linkd.Problem{{Field: "rule", Reason: `line 1: unknown field "rule"; known: rules`}}},
		{"unknown rule field", `
rules:
  - id: hold-notice
    when: {shipmentEventTypeCodes: [HOLD]}
    enabled: true
    action: {restore: {}}
`, []linkd.Problem{{Field: "rules[0].enabled", Reason: `rule hold-notice: line 5: unknown field "enabled"; known: id, name, when, action, paused`}}},
		{"unknown filter field", `
rules:
  - id: hold-notice
    when:
      shipmentEventTypeCode: [HOLD]
    action: {restore: {}}
`, []linkd.Problem{{Field: "rules[0].when.shipmentEventTypeCode", Reason: `rule hold-notice: line 5: unknown field "shipmentEventTypeCode"; known: eventTypes, eventClassifierCodes, shipmentEventTypeCodes, transportEventTypeCodes, equipmentEventTypeCodes, inventoryEventTypeCodes, documentTypeCodes, carrierBookingReferences, transportDocumentReferences, equipmentReferences, UNLocationCodes, origins, parties, skus, expression`}}},
		{"unknown template field, second rule", `
rules:
  - id: first
    action: {restore: {}}
  - id: hold-notice
    action:
      record:
        eventType: SHIPMENT
        eventClassifierCode: ACT
        eventTypeCode: PENU
        colour: red
`, []linkd.Problem{{Field: "rules[1].action.record.colour", Reason: `rule hold-notice: line 11: unknown field "colour"; known: eventType, eventClassifierCode, eventTypeCode, reason, documentTypeCode, emptyIndicatorCode, copyReferences`}}},
		{"wrong type", `
rules:
  - id: hold-notice
    when:
      shipmentEventTypeCodes: HOLD
    action: {restore: {}}
`, []linkd.Problem{{Field: "rules[0]", Reason: "rule hold-notice: line 5: cannot unmarshal !!str `HOLD` into []string"}}},
		{"invalid expression", `
rules:
  - id: hold-notice
    when:
      shipmentEventTypeCodes: [HOLD]
      expression: event.eventLocation.UNLocode == "DEHAM"
    action: {restore: {}}
`, []linkd.Problem{{Field: "rules[0].when.expression", Reason: "rule hold-notice: line 6: expression:1:20: undefined field 'UNLocode'"}}},
		{"invalid code in a list", `
rules:
  - id: hold-notice
    when:
      shipmentEventTypeCodes:
        - HOLD
        - HOLF
    action: {restore: {}}
`, []linkd.Problem{{Field: "rules[0].when.shipmentEventTypeCodes[1]", Reason: `rule hold-notice: line 7: unknown code "HOLF"; one of APPR, CANC, CMPL, CONF, DRFT, HOLD, ISSU, PENA, PENU, RECE, REJE, RELS, REQS, SUBM, SURR, VOID`}}},
		{"invalid template", `
rules:
  - id: hold-notice
    action:
      record: {eventType: SHIPMENT, eventClassifierCode: ACT, eventTypeCode: ARRI}
`, []linkd.Problem{{Field: "rules[0].action.record.eventTypeCode", Reason: `rule hold-notice: line 5: unknown code "ARRI"; one of APPR, CANC, CMPL, CONF, DRFT, HOLD, ISSU, PENA, PENU, RECE, REJE, RELS, …`}}},
		{"duplicate id and missing id", `
rules:
  - id: a
    action: {restore: {}}
  - id: a
    action: {reallocate: {}}
  - action: {reallocate: {}}
`, []linkd.Problem{
			{Field: "rules[1].id", Reason: "rule a: line 5: repeats the id of rules[0]"},
			{Field: "rules[2].id", Reason: "line 7: required: lowercase letters, digits and inner hyphens"}}},
		{"action given as null", `
rules:
  - id: x
    action:
      reallocate:
`, []linkd.Problem{{Field: "rules[0].action", Reason: "rule x: line 5: give exactly one of record, webhook, reallocate, restore (found 0)"}}},
		{"rules not a list", "rules: {id: x}\n",
			[]linkd.Problem{{Field: "rules", Reason: "line 1: want a list of rules"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := Parse([]byte(tt.file))
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %v, %v; want a *linkd.ValidationError", rules, err)
			}
			if !slices.Equal(ve.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ve.Problems, tt.want)
			}
		})
	}
}

func TestParseDocuments(t *testing.T) {
	if rules, err := Parse(nil); err != nil || rules != nil {
		t.Errorf("empty file: %v, %v; want no rules", rules, err)
	}
	if rules, err := Parse([]byte("rules: []\n")); err != nil || len(rules) != 0 {
		t.Errorf("empty list: %v, %v; want no rules", rules, err)
	}
	if _, err := Parse([]byte("rules: []\n---\nrules: []\n")); err == nil || !strings.Contains(err.Error(), "one YAML document") {
		t.Errorf("two documents: %v; want an error", err)
	}
	if _, err := Parse([]byte("rules: [\n")); linkd.ErrorCode(err) != linkd.EInvalid || !strings.Contains(err.Error(), "not a YAML rule file") {
		t.Errorf("broken YAML: %v; want invalid", err)
	}
	big := make([]byte, MaxFileBytes+1)
	if _, err := Parse(big); linkd.ErrorCode(err) != linkd.ETooLarge {
		t.Errorf("oversize file: %v; want too_large", err)
	}
}
