package edi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/internal/edi"
)

// TestEveryCode: every status code of every table, in a minimal message of
// its syntax, becomes the event its table says, and that event passes
// linkd's validation.
func TestEveryCode(t *testing.T) {
	type tc struct {
		syntax, table, code string
		m                   edi.Mapping
		data                string
	}
	var cases []tc
	iftsta := func(code string) string {
		segs := []string{"UNH+1+IFTSTA:D:00B:UN", "BGM+23+X1+9", "CNI+1+OCLU2611HPHHAM1", "STS+1+" + code, "RFF+BN:BKG2611030001",
			"DTM+7:202612021140?+01:303", "LOC+175+DEHAM:139:6:HAMBURG", "TDT+20+0042W+1+++++9321483:146:11:OCEANIC PIONEER:SG",
			"EQD+CN+MSKU1234565+45G1:6346:5+++5"}
		segs = append(segs, fmt.Sprintf("UNT+%d+1", len(segs)+1))
		return "UNB+UNOC:3+A:ZZZ+B:ZZZ+261208:0915+1'" + strings.Join(segs, "'") + "'UNZ+1+1'"
	}
	isa := "ISA*00*          *00*          *ZZ*A              *ZZ*B              *261208*0900*U*00401*000000001*0*P*>~"
	x12 := func(gs string, segs ...string) string {
		segs = append([]string{"ST*" + gs[len(gs)-3:] + "*0001"}, segs...)
		segs = append(segs, fmt.Sprintf("SE*%d*0001", len(segs)+1))
		return isa + "GS*" + gs[:2] + "*A*B*20261208*0900*1*X*004010~" + strings.Join(segs, "~") + "~GE*1*1~IEA*1*000000001~"
	}
	for _, code := range []string{"1", "6", "7", "8", "9", "12", "13", "17", "21", "24", "27", "28", "29", "40", "48", "74", "78", "83", "93", "94", "97", "127", "128"} {
		cases = append(cases, tc{edi.EDIFACT, "Rec24", code, edi.Rec24[code], iftsta(code)})
	}
	for code, m := range edi.Ocean {
		cases = append(cases, tc{edi.EDIFACT, "Ocean in IFTSTA", code, m, iftsta(code + "::ZZZ")})
		cases = append(cases, tc{edi.X12, "Ocean in 315", code, m, x12("QO315",
			"B4***"+code+"*20261202*1140*HAMBURG*MSKU*123456*L*45G1*DEHAM*UN*5", "N9*BN*BKG2611030001",
			"Q2*9321483*SG*******0042W***L*OCEANIC PIONEER")})
	}
	for code, m := range edi.Truck {
		at7 := "AT7*" + code + "*NS***20261205*0712*LT"
		if code == "AA" || code == "AB" {
			at7 = "AT7***" + code + "*NS*20261205*0712*LT"
		}
		cases = append(cases, tc{edi.X12, "214", code, m, x12("QM214", "B10*PRO1*SHP1*HHTR", "L11*BKG2611030001*BN",
			"N1*SF*TERMINAL", "N4*HAMBURG**21129*DE*UN*DEHAM", "N1*ST*DC", "N4*HAMBURG**22113*DE*UN*DEHAM",
			"LX*1", at7, "MS1*HAMBURG**DE", "MS2*MSKU*123456*CN*5")})
	}
	if len(cases) != len(edi.Rec24)+2*len(edi.Ocean)+len(edi.Truck) {
		t.Fatalf("%d cases for %d codes: a Recommendation 24 code is missing from this test", len(cases), len(edi.Rec24)+2*len(edi.Ocean)+len(edi.Truck))
	}
	for _, c := range cases {
		t.Run(c.table+"/"+c.code, func(t *testing.T) {
			res, err := edi.Translate([]byte(c.data), options())
			if err != nil {
				t.Fatalf("%v\n%s", err, c.data)
			}
			if len(res.Events) != 1 {
				t.Fatalf("%d events, want 1", len(res.Events))
			}
			e := res.Events[0]
			if e.EventType != c.m.Type || e.TypeCode() != c.m.Code || e.DocumentTypeCode != c.m.DocType {
				t.Errorf("%s: got %s/%s (%s), want %s/%s (%s)", c.code, e.EventType, e.TypeCode(), e.DocumentTypeCode, c.m.Type, c.m.Code, c.m.DocType)
			}
			if c.m.Classifier != "" && c.syntax == edi.X12 && e.EventClassifierCode != c.m.Classifier {
				t.Errorf("classifier %s, want %s", e.EventClassifierCode, c.m.Classifier)
			}
			if c.m.Mode != "" && (e.TransportCall == nil || e.TransportCall.ModeOfTransport != c.m.Mode) {
				t.Errorf("transport call %+v, want mode %s", e.TransportCall, c.m.Mode)
			}
			if probs := e.Validate(""); len(probs) > 0 {
				t.Errorf("the event is invalid: %v", probs)
			}
		})
	}
}
