package edi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Sample returns a synthetic but realistic interchange for benchmarks and
// size tests: an IFTSTA (syntax EDIFACT) of messages messages with perMsg
// statuses each, or an X12 315 of messages transaction sets (one status
// each; perMsg is ignored). Statuses follow a container through a lane
// (empty out, gate in, load, departure, arrival, discharge, gate out,
// empty return), each with its references, time, place, transport and
// equipment. The same arguments give the same bytes.
func Sample(syntax string, messages, perMsg int) []byte {
	base := time.Date(2026, 11, 2, 7, 30, 0, 0, time.FixedZone("", 7*3600))
	if syntax == X12 {
		return sample315(messages, base)
	}
	return sampleIFTSTA(messages, perMsg, base)
}

// sampleSteps is the lane a sample's container follows.
var sampleSteps = []struct {
	code, loc, name string
	transport       bool
	empty           bool
}{
	{"EE", "VNHPH", "HAI PHONG", false, true},
	{"I", "VNHPH", "HAI PHONG", false, false},
	{"AE", "VNHPH", "HAI PHONG", false, false},
	{"VD", "VNHPH", "HAI PHONG", true, false},
	{"VA", "DEHAM", "HAMBURG", true, false},
	{"UV", "DEHAM", "HAMBURG", false, false},
	{"OA", "DEHAM", "HAMBURG", false, false},
	{"RD", "DEHAM", "HAMBURG", false, true},
}

func sampleContainer(n int) string {
	s := fmt.Sprintf("OCLU%06d", n%1_000_000)
	return s + strconv.Itoa(linkd.ContainerCheckDigit(s))
}

func sampleIFTSTA(messages, perMsg int, base time.Time) []byte {
	var b strings.Builder
	b.WriteString("UNA:+.? '\n")
	b.WriteString("UNB+UNOC:3+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+261208:0915+SAMPLE1'\n")
	for m := 1; m <= messages; m++ {
		n := 0
		seg := func(s string) { b.WriteString(s); b.WriteString("'\n"); n++ }
		seg(fmt.Sprintf("UNH+%d+IFTSTA:D:00B:UN", m))
		seg(fmt.Sprintf("BGM+23+OL%010d+9", m))
		seg(fmt.Sprintf("CNI+1+OCLU26%08d", m))
		seg(fmt.Sprintf("RFF+BN:BKG26%08d", m))
		for s := 0; s < perMsg; s++ {
			step := sampleSteps[s%len(sampleSteps)]
			at := base.Add(time.Duration(m)*time.Minute + time.Duration(s)*6*time.Hour)
			seg("STS+1+" + step.code + "::ZZZ")
			seg("RFF+FF:VNF-" + strconv.Itoa(80000+m))
			seg("DTM+7:" + at.Format("200601021504") + "?+07:303")
			seg("LOC+175+" + step.loc + ":139:6:" + step.name)
			if step.transport || step.code == "AE" {
				seg("TDT+20+0042W+1++OCL:172:20+++9321483:146:11:OCEANIC PIONEER:SG")
			}
			if !step.transport {
				full := "5"
				if step.empty {
					full = "4"
				}
				seg("EQD+CN+" + sampleContainer(m) + "+45G1:6346:5+++" + full)
			}
		}
		seg(fmt.Sprintf("UNT+%d+%d", n+1, m))
	}
	fmt.Fprintf(&b, "UNZ+%d+SAMPLE1'\n", messages)
	return []byte(b.String())
}

func sample315(sets int, base time.Time) []byte {
	var b strings.Builder
	b.WriteString("ISA*00*          *00*          *ZZ*OCEANICLINES   *ZZ*VNFORWARDING   *261208*0900*U*00401*000000001*0*P*>~\n")
	b.WriteString("GS*QO*OCEANICLINES*VNFORWARDING*20261208*0900*1*X*004010~\n")
	for m := 1; m <= sets; m++ {
		n := 0
		seg := func(s string) { b.WriteString(s); b.WriteString("~\n"); n++ }
		ref := fmt.Sprintf("%04d", m%10000)
		if m >= 10000 {
			ref = strconv.Itoa(m)
		}
		step := sampleSteps[m%len(sampleSteps)]
		at := base.Add(time.Duration(m) * time.Minute)
		c := sampleContainer(m)
		seg("ST*315*" + ref)
		eq, status := "", "L"
		if step.empty {
			status = "E"
		}
		if !step.transport {
			eq = c[:4] + "*" + c[4:10] + "*" + status + "*45G1"
		} else {
			eq = "***"
		}
		seg("B4***" + step.code + "*" + at.Format("20060102") + "*" + at.Format("1504") + "*" + step.name + "*" + eq + "*" + step.loc + "*UN*" + c[10:])
		seg(fmt.Sprintf("N9*BN*BKG26%08d", m))
		seg(fmt.Sprintf("N9*BM*OCLU26%08d", m))
		if step.transport || step.code == "AE" {
			seg("Q2*9321483*SG*******0042W***L*OCEANIC PIONEER")
		}
		seg(fmt.Sprintf("SE*%d*%s", n+1, ref))
	}
	fmt.Fprintf(&b, "GE*%d*1~\nIEA*1*000000001~\n", sets)
	return []byte(b.String())
}
