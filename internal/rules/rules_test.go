package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/expr"
)

func TestRender(t *testing.T) {
	trigger := customsHold()
	tests := []struct {
		name string
		tmpl RecordAction
		want func(e *linkd.Event) // adjusts the expected event from the common base
	}{
		{"shipment event copies references", RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU", Reason: "r", DocumentTypeCode: "CUS"},
			func(e *linkd.Event) { e.ShipmentEventTypeCode, e.Reason, e.DocumentTypeCode = "PENU", "r", "CUS" }},
		{"copyReferences true is the default", RecordAction{EventType: linkd.Shipment, EventClassifierCode: "EST", EventTypeCode: "RELS", CopyReferences: boolp(true)},
			func(e *linkd.Event) { e.EventClassifierCode, e.ShipmentEventTypeCode = "EST", "RELS" }},
		{"equipment event", RecordAction{EventType: linkd.Equipment, EventClassifierCode: "PLN", EventTypeCode: "INSP", EmptyIndicatorCode: "LADEN"},
			func(e *linkd.Event) {
				e.EventType, e.EventClassifierCode, e.EquipmentEventTypeCode, e.EmptyIndicatorCode = linkd.Equipment, "PLN", "INSP", "LADEN"
			}},
		{"copyReferences false", RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU", CopyReferences: boolp(false)},
			func(e *linkd.Event) {
				e.ShipmentEventTypeCode = "PENU"
				e.CarrierBookingReference, e.TransportDocumentReference, e.EquipmentReference, e.References = "", "", "", nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(&tt.tmpl, "r1", trigger, self.ID)
			want := linkd.Event{
				EventID:                    EventID(self.ID, "r1", trigger.EventID, 0),
				EventType:                  linkd.Shipment,
				EventClassifierCode:        "ACT",
				EventDateTime:              trigger.EventDateTime,
				CarrierBookingReference:    trigger.CarrierBookingReference,
				TransportDocumentReference: trigger.TransportDocumentReference,
				EquipmentReference:         trigger.EquipmentReference,
				References:                 trigger.References,
				Origin:                     self.ID,
				Parties:                    trigger.Parties,
				Visibility:                 trigger.Visibility,
				Residency:                  trigger.Residency,
				CausedBy:                   []string{trigger.EventID},
			}
			tt.want(&want)
			if !bytes.Equal(linkd.AppendCanonical(nil, &got), linkd.AppendCanonical(nil, &want)) {
				t.Errorf("rendered\n got %+v\nwant %+v", got, want)
			}
			// The rendered event owns its slices: changing it leaves the trigger alone.
			if len(got.Parties) > 0 {
				got.Parties[0].Party = "changed"
				if trigger.Parties[0].Party == "changed" {
					t.Error("the rendered event shares the trigger's party list")
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	record := func(m func(*RecordAction)) Rule {
		a := &RecordAction{EventType: linkd.Shipment, EventClassifierCode: "ACT", EventTypeCode: "PENU"}
		m(a)
		return Rule{ID: "r", When: filterCodes("HOLD"), Action: Action{Record: a}}
	}
	webhook := func(url, secret string) Rule {
		return Rule{ID: "w", Action: Action{Webhook: &WebhookAction{URL: url, Secret: secret}}}
	}
	tests := []struct {
		name string
		rule Rule
		want []linkd.Problem
	}{
		{"valid record", record(func(*RecordAction) {}), nil},
		{"valid webhook", webhook("https://erp.example.com/hooks/linkd?x=1", "erp-hook"), nil},
		{"valid reallocate", Rule{ID: "x", Action: Action{Reallocate: &PlanAction{}}}, nil},
		{"missing id", Rule{Action: Action{Restore: &PlanAction{}}},
			[]linkd.Problem{{Field: "id", Reason: "required: lowercase letters, digits and inner hyphens"}}},
		{"bad id", Rule{ID: "Hold Rule", Action: Action{Restore: &PlanAction{}}},
			[]linkd.Problem{{Field: "id", Reason: `"Hold Rule": use lowercase letters, digits and inner hyphens, at most 63`}}},
		{"long name", Rule{ID: "x", Name: strings.Repeat("n", 201), Action: Action{Restore: &PlanAction{}}},
			[]linkd.Problem{{Field: "name", Reason: "201 bytes; at most 200"}}},
		{"no action", Rule{ID: "x"},
			[]linkd.Problem{{Field: "action", Reason: "give exactly one of record, webhook, reallocate, restore (found 0)"}}},
		{"two actions", Rule{ID: "x", Action: Action{Reallocate: &PlanAction{}, Restore: &PlanAction{}}},
			[]linkd.Problem{{Field: "action", Reason: "give exactly one of record, webhook, reallocate, restore (found 2)"}}},
		{"filter problems under when", Rule{ID: "x", When: expr.Filter{Origins: []string{"EU"}, Expression: "event.hlc"}, Action: Action{Restore: &PlanAction{}}},
			[]linkd.Problem{
				{Field: "when.origins[0]", Reason: `"EU" is not a party id: use lowercase letters, digits and inner hyphens, at most 63`},
				{Field: "when.expression", Reason: "expression:1:1: gives int; a filter or condition must give a bool"}}},
		{"unknown event type", record(func(a *RecordAction) { a.EventType = "CUSTOMS" }),
			[]linkd.Problem{{Field: "action.record.eventType", Reason: `"CUSTOMS": want SHIPMENT, TRANSPORT, EQUIPMENT or INVENTORY`}}},
		{"code of another family", record(func(a *RecordAction) { a.EventTypeCode = "ARRI" }),
			[]linkd.Problem{{Field: "action.record.eventTypeCode", Reason: `unknown code "ARRI"; one of APPR, CANC, CMPL, CONF, DRFT, HOLD, ISSU, PENA, PENU, RECE, REJE, RELS, …`}}},
		{"missing code and classifier", record(func(a *RecordAction) { a.EventTypeCode, a.EventClassifierCode = "", "" }),
			[]linkd.Problem{
				{Field: "action.record.eventClassifierCode", Reason: "required; one of ACT, EST, PLN"},
				{Field: "action.record.eventTypeCode", Reason: "required; one of APPR, CANC, CMPL, CONF, DRFT, HOLD, ISSU, PENA, PENU, RECE, REJE, RELS, …"}}},
		{"unknown document type", record(func(a *RecordAction) { a.DocumentTypeCode = "INVOICE" }),
			[]linkd.Problem{{Field: "action.record.documentTypeCode", Reason: `unknown code "INVOICE"; one of ARN, BKG, CAS, CBR, COO, CUS, DGD, INV, OOG, PHY, PKL, SHI, …`}}},
		{"reason too long", record(func(a *RecordAction) { a.Reason = strings.Repeat("r", 5001) }),
			[]linkd.Problem{{Field: "action.record.reason", Reason: "5001 bytes; at most 5000"}}},
		{"equipment without empty indicator", record(func(a *RecordAction) { a.EventType, a.EventTypeCode = linkd.Equipment, "INSP" }),
			[]linkd.Problem{{Field: "action.record.emptyIndicatorCode", Reason: "required; one of EMPTY, LADEN"}}},
		{"transport event needs a transport call", record(func(a *RecordAction) { a.EventType, a.EventTypeCode = linkd.Transport, "ARRI" }),
			[]linkd.Problem{
				{Field: "action.record", Reason: "the recorded event would be invalid: transportCall: required for TRANSPORT events"}}},
		{"no references", record(func(a *RecordAction) { a.CopyReferences = boolp(false) }),
			[]linkd.Problem{{Field: "action.record.copyReferences", Reason: "false leaves the recorded event without the trigger's shipment keys: names no shipment: give carrierBookingReference, transportDocumentReference or equipmentReference"}}},
		{"webhook without url and secret", webhook("", ""),
			[]linkd.Problem{
				{Field: "action.webhook.url", Reason: "required: an http or https URL"},
				{Field: "action.webhook.secret", Reason: "required: the name of the signing secret in the node's configuration"}}},
		{"webhook relative url", webhook("/hooks", "s"),
			[]linkd.Problem{{Field: "action.webhook.url", Reason: `"/hooks" is not an absolute http or https URL`}}},
		{"webhook ftp url", webhook("ftp://files.example.com/x", "s"),
			[]linkd.Problem{{Field: "action.webhook.url", Reason: `"ftp://files.example.com/x" is not an absolute http or https URL`}}},
		{"webhook credentials in url", webhook("https://user:pw@erp.example.com/x", "s"),
			[]linkd.Problem{{Field: "action.webhook.url", Reason: "must not carry credentials; name a secret instead"}}},
		{"webhook secret value instead of name", webhook("https://erp.example.com/x", "s3cr3t/KEY=="),
			[]linkd.Problem{{Field: "action.webhook.secret", Reason: `"s3cr3t/KEY==": use lowercase letters, digits and inner hyphens, at most 63 (a secret's name, not its value)`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			var ve *linkd.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v; want a *linkd.ValidationError", err)
			}
			if !slices.Equal(ve.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ve.Problems, tt.want)
			}
		})
	}
}

// TestRuleJSON checks the shape the API accepts, and that a rule read from
// JSON decides like one read from YAML.
func TestRuleJSON(t *testing.T) {
	body := `{"id":"hold-notice","when":{"shipmentEventTypeCodes":["HOLD"],"documentTypeCodes":["CUS"]},
		"action":{"record":{"eventType":"SHIPMENT","eventClassifierCode":"ACT","eventTypeCode":"PENU","reason":"re-allocated"}}}`
	var r Rule
	d := json.NewDecoder(strings.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		t.Fatal(err)
	}
	y, err := Parse([]byte(`
rules:
  - id: hold-notice
    when:
      shipmentEventTypeCodes: [HOLD]
      documentTypeCodes: [CUS]
    action:
      record:
        eventType: SHIPMENT
        eventClassifierCode: ACT
        eventTypeCode: PENU
        reason: re-allocated
`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := mustEngine(t, []Rule{r}, nil).Decide(customsHold(), nil)
	b, _ := mustEngine(t, y, nil).Decide(customsHold(), nil)
	if len(a) != 1 || !bytes.Equal(encode(a), encode(b)) {
		t.Errorf("JSON rule decided %+v, YAML rule %+v", a, b)
	}
}
