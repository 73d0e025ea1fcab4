package edi_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/internal/edi"
)

// replace returns data with the one occurrence of old replaced by new.
func replace(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(data, []byte(old)); n != 1 {
		t.Fatalf("the sample has %q %d times; the test needs it once", old, n)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

// lineOf is the 1-based line of the first line starting with prefix: in
// the samples with one segment per line, its segment position.
func lineOf(t *testing.T, data []byte, prefix string) int {
	t.Helper()
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return 0
}

type badCase struct {
	name   string
	sample string
	edit   func(t *testing.T, data []byte) []byte
	opts   func(o *edi.Options)
	// Where the problem must be: the segment the line starting with line
	// is (or seg when line is ""; -1 the last), its tag, element,
	// component, and words of its reason.
	line       string
	seg        int
	tag        string
	elem, comp int
	reason     string
	// Segments the acknowledgement must hold; nil when none can be made.
	ack []string
}

func edit(old, new string) func(t *testing.T, data []byte) []byte {
	return func(t *testing.T, data []byte) []byte { return replace(t, data, old, new) }
}

func cut(before string, extra int) func(t *testing.T, data []byte) []byte {
	return func(t *testing.T, data []byte) []byte {
		i := bytes.Index(data, []byte(before))
		if i < 0 {
			t.Fatalf("no %q in the sample", before)
		}
		return data[:i+extra]
	}
}

// TestBadInput: every kind of bad interchange the issue names is refused
// whole, with a precise problem and a negative acknowledgement that names
// the same place, and nothing else comes out.
func TestBadInput(t *testing.T) {
	const carrier, ocean, truck = "iftsta-carrier.edi", "315-carrier.x12", "214-drayage.x12"
	cases := []badCase{
		// EDIFACT.
		{name: "UNA gives one character for two separators", sample: carrier, edit: edit("UNA:+.? '", "UNA::.? '"),
			seg: 1, tag: "UNA", elem: 2, reason: "data element separator ':' is also the component data element separator"},
		{name: "UNA gives a letter as a separator", sample: carrier, edit: edit("UNA:+.? '", "UNA:+.?X'"),
			seg: 1, tag: "UNA", elem: 5, reason: "may not be a letter"},
		{name: "a second UNA inside the interchange", sample: carrier, edit: edit("UNT+12+1'", "UNA+'\nUNT+12+1'"),
			line: "UNA+", tag: "UNA", reason: "UNA (the service string advice) may only open the interchange",
			ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4"}},
		{name: "release character at the very end", sample: carrier, edit: edit("UNZ+4+OL0000417'\n", "UNZ+4+OL0000417?"),
			seg: 71, tag: "UNZ", elem: 2, comp: 1, reason: "release character", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+13+UNZ+2:1"}},
		{name: "UNT counts the wrong number of segments", sample: carrier, edit: edit("UNT+12+1'", "UNT+11+1'"),
			line: "UNT+11+1", tag: "UNT", elem: 1, reason: "UNT counts 11 segments; the message has 12",
			ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4", "UCM+1+IFTSTA:D:00B:UN+4+29+UNT+1", "UCM+2+IFTSTA:D:00B:UN+4"}},
		{name: "UNT names another message", sample: carrier, edit: edit("UNT+16+2'", "UNT+16+7'"),
			line: "UNT+16+7", tag: "UNT", elem: 2, reason: `UNT names message "7"; its UNH names "2"`, ack: []string{"UCM+2+IFTSTA:D:00B:UN+4+28+UNT+2"}},
		{name: "UNZ counts the wrong number of messages", sample: carrier, edit: edit("UNZ+4+", "UNZ+3+"),
			line: "UNZ", tag: "UNZ", elem: 1, reason: "UNZ counts 3 messages; the interchange has 4", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+29+UNZ+1"}},
		{name: "UNZ names another interchange", sample: carrier, edit: edit("UNZ+4+OL0000417", "UNZ+4+OL0000418"),
			line: "UNZ", tag: "UNZ", elem: 2, reason: `UNZ names interchange "OL0000418"`, ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+28+UNZ+2"}},
		{name: "unknown status code", sample: carrier, edit: edit("STS+1+EE::ZZZ:Empty equipment dispatched'", "STS+1+XX::ZZZ'"),
			line: "STS+1+XX", tag: "STS", elem: 2, comp: 1, reason: `unknown status code "XX"`,
			ack: []string{"UCM+1+IFTSTA:D:00B:UN+4", "UCS+6", "UCD+12+2:1"}},
		{name: "container fails its check digit", sample: carrier, edit: edit("EQD+CN+MSKU1234565+45G1:6346:5+++4'\nUNT+12+1", "EQD+CN+MSKU1234566+45G1:6346:5+++4'\nUNT+12+1"),
			line: "EQD+CN+MSKU1234566", tag: "EQD", elem: 2, comp: 1, reason: "check digit", ack: []string{"UCS+11", "UCD+12+2:1"}},
		{name: "no such date", sample: carrier, edit: edit("202611020730?+0700", "202613020730?+0700"),
			line: "DTM+334", tag: "DTM", elem: 1, comp: 2, reason: "not a calendar date", ack: []string{"UCS+9", "UCD+12+1:2"}},
		{name: "an unreleased + in a value", sample: carrier, edit: edit("DTM+7:202611030815?+07:303", "DTM+7:202611030815+07:303"),
			line: "DTM+7:202611030815+07", tag: "DTM", elem: 2, reason: "needs the release character", ack: []string{"UCD+16+2"}},
		{name: "truncated between segments", sample: carrier, edit: cut("UNH+3+", 0),
			seg: 30, tag: "UNT", reason: "ends without UNZ", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+13+UNZ"}},
		{name: "truncated inside a message", sample: carrier, edit: cut("STS+1+VA", 0),
			seg: 47, tag: "RFF", reason: "ends inside message 4, without its UNT", ack: []string{"UCM+4+IFTSTA:D:00B:UN+4+13+UNT"}},
		{name: "truncated inside a segment", sample: carrier, edit: cut("STS+1+VA", 5),
			seg: 48, tag: "STS", reason: "ends inside this segment", ack: []string{"UCM+4+IFTSTA:D:00B:UN+4+13+UNT"}},
		{name: "binary garbage", sample: carrier, edit: func(t *testing.T, _ []byte) []byte { return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") },
			seg: 1, reason: "neither UN/EDIFACT"},
		{name: "binary garbage inside", sample: carrier, edit: edit("RFF+FF:VNF-88213'", "RFF+FF:VNF\x00\x01\x02'"),
			line: "RFF+FF:VNF", tag: "RFF", elem: 1, comp: 2, reason: "control character 0x00", ack: []string{"UCM+1+IFTSTA:D:00B:UN+4+21+RFF+1:2"}},
		{name: "a message type the gateway does not read", sample: carrier, edit: edit("UNH+3+IFTSTA:D:00B:UN'", "UNH+3+IFTMIN:D:99B:UN'"),
			line: "UNH+3+IFTMIN", tag: "UNH", elem: 2, comp: 1, reason: "message type IFTMIN", ack: []string{"UCM+3+IFTMIN:D:99B:UN+4+14+UNH+2:1"}},
		{name: "a segment outside any message", sample: carrier, edit: edit("UNH+2+", "FTX+AAI+++stray'\nUNH+2+"),
			line: "FTX+AAI+++stray", tag: "FTX", reason: "outside a message", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+15+FTX"}},
		{name: "two messages with one reference", sample: carrier, edit: func(t *testing.T, d []byte) []byte {
			return replace(t, replace(t, d, "UNH+2+", "UNH+1+"), "UNT+16+2", "UNT+16+1")
		}, seg: 15, tag: "UNH", elem: 1, reason: "used by an earlier message", ack: []string{"UCM+1+IFTSTA:D:00B:UN+4+26+UNH+1"}},
		{name: "a syntax version that does not exist", sample: carrier, edit: edit("UNB+UNOC:3", "UNB+UNOC:5"),
			seg: 2, tag: "UNB", elem: 1, comp: 2, reason: "syntax version", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4+2+UNB+1:2"}},
		{name: "a status without a time", sample: carrier, edit: edit("DTM+334:202611020730?+0700:303'\n", ""),
			line: "STS+1+EE", tag: "STS", reason: "has no date/time", ack: []string{"UCS+6+13"}},
		{name: "more segments than the limit", sample: carrier, opts: func(o *edi.Options) { o.Limits.MaxSegments = 50 },
			seg: 51, reason: "more than 50 segments", ack: []string{"UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+4"}},
		{name: "more bytes than the limit", sample: carrier, opts: func(o *edi.Options) { o.Limits.MaxBytes = 1000 },
			seg: 0, reason: "at most 1000"},

		// X12.
		{name: "ISA is not fixed-length", sample: ocean, edit: edit("*ZZ*OCEANICLINES   *", "*ZZ*OCEANICLINES  *"),
			seg: 1, tag: "ISA", elem: 6, reason: "fixed-length"},
		{name: "ISA16 is the element separator", sample: ocean, edit: edit("*P*>~", "*P**~"),
			seg: 1, tag: "ISA", elem: 16, reason: "must differ"},
		{name: "SE counts the wrong number of segments", sample: ocean, edit: edit("SE*5*0001~", "SE*6*0001~"),
			line: "SE*6*0001", tag: "SE", elem: 1, reason: "SE counts 6 segments; the message has 5",
			ack: []string{"AK2*315*0001", "AK5*R*4", "AK9*R*10*10*0"}},
		{name: "SE names another transaction set", sample: ocean, edit: edit("SE*5*0003~", "SE*5*0033~"),
			line: "SE*5*0033", tag: "SE", elem: 2, reason: `SE names transaction set "0033"`, ack: []string{"AK5*R*3"}},
		{name: "GE counts the wrong number of sets", sample: ocean, edit: edit("GE*10*4711~", "GE*9*4711~"),
			line: "GE*9", tag: "GE", elem: 1, reason: "GE counts 9 transaction sets", ack: []string{"AK9*R*9*10*0*5"}},
		{name: "GE names another group", sample: ocean, edit: edit("GE*10*4711~", "GE*10*4712~"),
			line: "GE*10*4712", tag: "GE", elem: 2, reason: `GE names group "4712"`, ack: []string{"AK9*R*10*10*0*4"}},
		{name: "IEA names another interchange", sample: ocean, edit: edit("IEA*1*000004711~", "IEA*1*000004712~"),
			line: "IEA", tag: "IEA", elem: 2, reason: `IEA names interchange "000004712"`, ack: []string{"TA1*000004711*261208*0900*R*001"}},
		{name: "IEA counts the wrong number of groups", sample: ocean, edit: edit("IEA*1*000004711~", "IEA*2*000004711~"),
			line: "IEA", tag: "IEA", elem: 1, reason: "IEA counts 2 functional groups", ack: []string{"TA1*000004711*261208*0900*R*021"}},
		{name: "unknown status code in B403", sample: ocean, edit: edit("B4***CT*", "B4***ZQ*"),
			line: "B4***ZQ", tag: "B4", elem: 3, reason: `unknown status code "ZQ"`, ack: []string{"AK2*315*0008", "AK3*B4*2**8", "AK4*3*157*7*ZQ", "AK5*R*5"}},
		{name: "no such date in B404", sample: ocean, edit: edit("B4***UV*20261202*", "B4***UV*20261302*"),
			line: "B4***UV", tag: "B4", elem: 4, reason: "want CCYYMMDD", ack: []string{"AK4*4*373*8*20261302"}},
		{name: "a UN/LOCODE of no country", sample: ocean, edit: edit("B4***VA*20261202*0630*HAMBURG*****DEHAM*UN~", "B4***VA*20261202*0630*HAMBURG*****XXHAM*UN~"),
			line: "B4***VA", tag: "B4", elem: 11, reason: "UNLocationCode", ack: []string{"AK4*11*310*7*XXHAM"}},
		{name: "an equipment status without its container", sample: ocean, edit: edit("B4***OA*20261205*0905*HAMBURG*OOLU*880011*L*45G1*DEHAM*UN*5~", "B4***OA*20261205*0905*HAMBURG*****DEHAM*UN~"),
			line: "B4***OA", tag: "B4", reason: "needs the container", ack: []string{"AK3*B4*2**3"}},
		{name: "truncated inside a transaction set", sample: ocean, edit: cut("SE*5*0005~", 0),
			seg: 33, tag: "Q2", reason: "ends without IEA", ack: []string{"TA1*000004711*261208*0900*R*023"}},
		{name: "binary garbage after the ISA", sample: ocean, edit: edit("GS*QO*", "GS\x7f\x00*"),
			seg: 2, reason: "control character 0x7F", ack: []string{"TA1*000004711*261208*0900*R*024"}},
		{name: "an unknown time code in AT707", sample: truck, edit: edit("*20261205*1046*UT~", "*20261205*1046*XT~"),
			line: "AT7*CD", tag: "AT7", elem: 7, reason: `time code "XT"`, ack: []string{"AK4*7*623*7*XT"}},
		{name: "a transport status without a place", sample: truck, edit: func(t *testing.T, d []byte) []byte {
			d = replace(t, d, "N4*HAMBURG**21129*DE*UN*DEHAM~\n", "")
			d = replace(t, d, "MS1*HAMBURG**DE~\n", "")
			return replace(t, d, "SE*28*0001~", "SE*26*0001~")
		}, line: "AT7***AA", tag: "AT7", reason: "needs the place", ack: []string{"AK3*AT7*10**3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := readSample(t, tc.sample)
			if tc.edit != nil {
				data = tc.edit(t, data)
			}
			opts := options()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			res, probs := reject(t, data, opts)
			seg := tc.seg
			if tc.line != "" {
				seg = lineOf(t, data, tc.line)
			}
			var found bool
			for _, p := range probs {
				if p.Segment == seg && p.Tag == tc.tag && p.Element == tc.elem && p.Component == tc.comp && strings.Contains(p.Reason, tc.reason) {
					found = true
					if !strings.HasPrefix(p.String(), p.Field+": ") || (seg > 0 && p.Field != fmt.Sprintf("segment %d", seg) && !strings.HasPrefix(p.Field, fmt.Sprintf("segment %d ", seg))) {
						t.Errorf("problem %q does not name its place", p.String())
					}
				}
			}
			if !found {
				t.Errorf("no problem at segment %d (%s) element %d.%d saying %q; problems:\n%s", seg, tc.tag, tc.elem, tc.comp, tc.reason, list(probs))
			}
			if tc.ack == nil {
				if res.Ack != nil {
					t.Errorf("an acknowledgement was made with nothing to address it to:\n%s", res.Ack)
				}
				return
			}
			term := byte('\'')
			if strings.HasSuffix(tc.sample, ".x12") {
				term = '~'
			}
			got := segments(res.Ack, term)
			for _, want := range tc.ack {
				if !hasSegment(got, want) {
					t.Errorf("the acknowledgement lacks %q:\n%s", want, res.Ack)
				}
			}
			checkAck(t, res)
		})
	}
}

func list(ps []edi.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// checkAck checks an acknowledgement's own envelope: it tokenizes, and its
// counts and control references match.
func checkAck(t *testing.T, res *edi.Result) {
	t.Helper()
	switch res.Syntax {
	case edi.EDIFACT:
		segs, _, err := edi.ReadEDIFACT(res.Ack, edi.Limits{})
		if err != nil {
			t.Fatalf("the CONTRL does not tokenize: %v\n%s", err, res.Ack)
		}
		start := -1
		for i, s := range segs {
			switch s.Tag {
			case "UNH":
				start = i
			case "UNT":
				if n := fmt.Sprint(i - start + 1); s.V(1, 1) != n {
					t.Errorf("CONTRL UNT counts %s segments; it has %s", s.V(1, 1), n)
				}
			}
		}
		if res.AckType != edi.AckCONTRL {
			t.Errorf("acknowledgement type %q, want CONTRL", res.AckType)
		}
	case edi.X12:
		segs, _, err := edi.ReadX12(res.Ack, edi.Limits{})
		if err != nil {
			t.Fatalf("the acknowledgement does not tokenize: %v\n%s", err, res.Ack)
		}
		start, sets, groups := -1, 0, 0
		for i, s := range segs {
			switch s.Tag {
			case "ST":
				start = i
				sets++
			case "SE":
				if n := fmt.Sprint(i - start + 1); s.V(1, 1) != n {
					t.Errorf("SE counts %s segments; the set has %s", s.V(1, 1), n)
				}
			case "GS":
				groups++
			case "GE":
				if s.V(1, 1) != fmt.Sprint(sets) {
					t.Errorf("GE counts %s sets; the group has %d", s.V(1, 1), sets)
				}
			case "IEA":
				if s.V(1, 1) != fmt.Sprint(groups) || s.V(2, 1) != segs[0].V(13, 1) {
					t.Errorf("IEA %s*%s does not match %d groups and ISA13 %s", s.V(1, 1), s.V(2, 1), groups, segs[0].V(13, 1))
				}
			}
		}
	}
}
