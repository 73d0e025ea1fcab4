package edi_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/internal/edi"
)

// flat renders segments as TAG|e1c1:e1c2|e2… with repetitions joined by
// ^, for comparing.
func flat(segs []edi.Segment) []string {
	var out []string
	for _, s := range segs {
		parts := []string{s.Tag}
		for _, el := range s.Elements {
			var reps []string
			for _, r := range el {
				reps = append(reps, strings.Join(r, ":"))
			}
			parts = append(parts, strings.Join(reps, "^"))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

func TestReadEDIFACT(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		delims   edi.Delimiters
	}{
		{
			name: "the service characters of UNA, released, with composites and repetitions",
			in: "UNA;#,/*~\r\nUNB#UNOC;4#A B;ZZZ#C#20261208;0915#1~\r\n" +
				"FTX#AAI###rate 1/,5 /# 2/;3/~4//5 x/*y*z~UNZ#1#1~",
			want: []string{
				"UNA",
				"UNB|UNOC:4|A B:ZZZ|C|20261208:0915|1",
				"FTX|AAI|||rate 1,5 # 2;3~4/5 x*y^z",
				"UNZ|1|1",
			},
			delims: edi.Delimiters{Component: ';', Element: '#', Decimal: ',', Release: '/', Repetition: '*', Segment: '~'},
		},
		{
			name:   "the defaults without UNA; syntax 3 has no repetition separator",
			in:     "UNB+UNOC:3+A+B+261208:0915+1'UNH+1+IFTSTA:D:00B:UN'FTX+AAI+++a*b?'c'",
			want:   []string{"UNB|UNOC:3|A|B|261208:0915|1", "UNH|1|IFTSTA:D:00B:UN", "FTX|AAI|||a*b'c"},
			delims: edi.Delimiters{Component: ':', Element: '+', Decimal: '.', Release: '?', Segment: '\''},
		},
		{
			name:   "syntax 4 without UNA repeats with *",
			in:     "UNB+UNOW:4+A+B+20261208:0915+1'RFF+BN:1*BM:2'",
			want:   []string{"UNB|UNOW:4|A|B|20261208:0915|1", "RFF|BN:1^BM:2"},
			delims: edi.Delimiters{Component: ':', Element: '+', Decimal: '.', Release: '?', Repetition: '*', Segment: '\''},
		},
		{
			name: "ISO 8859-1 under UNOC becomes UTF-8; empty elements and components stay",
			in:   "UNB+UNOC:3+A+B+261208:0915+1'TDT+20++1++++:::G\xd6TEBORG'",
			want: []string{"UNB|UNOC:3|A|B|261208:0915|1", "TDT|20||1||||:::GÖTEBORG"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, d, err := edi.ReadEDIFACT([]byte(tt.in), edi.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(segs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("segments\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if tt.delims != (edi.Delimiters{}) && d != tt.delims {
				t.Errorf("delimiters %+v, want %+v", d, tt.delims)
			}
			for i, s := range segs {
				if s.Position != i+1 || !strings.HasPrefix(tt.in[s.Offset:], s.Tag) {
					t.Errorf("segment %d: position %d offset %d (%q)", i, s.Position, s.Offset, clipped(tt.in[s.Offset:]))
				}
			}
		})
	}
}

func TestReadX12(t *testing.T) {
	isa := func(elem, rep, comp, seg byte, version string) string {
		f := []string{"00", "          ", "00", "          ", "ZZ", "SENDER         ", "ZZ", "RECEIVER       ", "261208", "0900", string(rep), version, "000000001", "0", "P"}
		return "ISA" + string(elem) + strings.Join(f, string(elem)) + string(elem) + string(comp) + string(seg)
	}
	tests := []struct {
		name, in string
		want     []string
		delims   edi.Delimiters
	}{
		{
			name:   "* > ~ with CR LF line ends, 4010 (ISA11 is U, no repetition)",
			in:     isa('*', 'U', '>', '~', "00401") + "\r\nGS*QO*S*R*20261208*0900*1*X*004010~\r\nB4***AE*C04>1>2~\r\n",
			want:   []string{"ISA|00|          |00|          |ZZ|SENDER         |ZZ|RECEIVER       |261208|0900|U|00401|000000001|0|P|>", "GS|QO|S|R|20261208|0900|1|X|004010", "B4|||AE|C04:1:2"},
			delims: edi.Delimiters{Element: '*', Component: '>', Segment: '~'},
		},
		{
			name:   "| \\ and a line feed as the terminator, 5010 with repetition {",
			in:     isa('|', '{', '\\', '\n', "00501") + "N9|BN|1{BM|2\\3\r\nN9||x\n",
			want:   []string{"ISA|00|          |00|          |ZZ|SENDER         |ZZ|RECEIVER       |261208|0900|{|00501|000000001|0|P|\\", "N9|BN|1^BM|2:3", "N9||x"},
			delims: edi.Delimiters{Element: '|', Component: '\\', Repetition: '{', Segment: '\n'},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, d, err := edi.ReadX12([]byte(tt.in), edi.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(segs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("segments\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if d != tt.delims {
				t.Errorf("delimiters %+v, want %+v", d, tt.delims)
			}
		})
	}
}

// TestTokenizerLimits: past each limit, the error names the segment,
// element and component where reading stopped.
func TestTokenizerLimits(t *testing.T) {
	unb := "UNB+UNOC:3+A+B+261208:0915+1'"
	tests := []struct {
		name       string
		in         string
		lim        edi.Limits
		seg        int
		elem, comp int
		reason     string
	}{
		{"too many elements", unb + "FTX+1+2+3+4+5+6'", edi.Limits{MaxElements: 5}, 2, 6, 0, "more than 5 data elements"},
		{"too many components", unb + "LOC+175+A:B:C:D'", edi.Limits{MaxComponents: 3}, 2, 2, 4, "more than 3 components"},
		{"too many repetitions", "UNB+UNOW:4+A+B+20261208:0915+1'RFF+1*2*3'", edi.Limits{MaxRepeats: 2}, 2, 1, 0, "more than 2 repetitions"},
		{"a value too long", unb + "FTX+AAI+++" + strings.Repeat("x", 30) + "'", edi.Limits{MaxValueBytes: 20}, 2, 4, 1, "a value of 30 bytes"},
		{"a character outside UNOA", "UNB+UNOA:3+A+B+261208:0915+1'FTX+AAI+++G\xd6'", edi.Limits{}, 2, 4, 1, "outside the character set UNOA"},
		{"not UTF-8 under UNOW", "UNB+UNOW:4+A+B+20261208:0915+1'FTX+AAI+++\xff\xfe'", edi.Limits{}, 2, 4, 1, "not valid UTF-8"},
		{"a tag of lowercase letters", unb + "sts+1'", edi.Limits{}, 2, 0, 0, `"sts" is not a segment tag`},
		{"an empty segment", unb + "'", edi.Limits{}, 2, 0, 0, "an empty segment"},
		{"a line break inside a segment", unb + "FTX+AAI\n+++x'", edi.Limits{}, 2, 1, 1, "line break inside the segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := edi.ReadEDIFACT([]byte(tt.in), tt.lim)
			var ee *edi.Error
			if !errors.As(err, &ee) || len(ee.Problems) != 1 {
				t.Fatalf("error %v, want one problem", err)
			}
			p := ee.Problems[0]
			if p.Segment != tt.seg || p.Element != tt.elem || p.Component != tt.comp || !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("problem %s (segment %d element %d.%d), want segment %d element %d.%d saying %q", p, p.Segment, p.Element, p.Component, tt.seg, tt.elem, tt.comp, tt.reason)
			}
		})
	}
}

// TestLargeInterchanges: 100,000 segments translate; past the segment
// limit the interchange is refused whole with a negative acknowledgement.
func TestLargeInterchanges(t *testing.T) {
	for _, c := range []struct {
		syntax   string
		messages int
		per      int
	}{{edi.EDIFACT, 1000, 19}, {edi.X12, 21000, 0}} {
		t.Run(c.syntax, func(t *testing.T) {
			data := edi.Sample(c.syntax, c.messages, c.per)
			res := translate(t, data, options())
			if res.Segments < 100_000 {
				t.Fatalf("the sample has %d segments; the test wants at least 100,000", res.Segments)
			}
			statuses := c.messages * c.per
			if c.syntax == edi.X12 {
				statuses = c.messages
			}
			if res.Statuses != statuses || len(res.Messages) != c.messages {
				t.Errorf("%d statuses in %d messages, want %d in %d", res.Statuses, len(res.Messages), statuses, c.messages)
			}
			lim := options()
			lim.Limits.MaxSegments = res.Segments - 1
			bad, probs := reject(t, data, lim)
			if want := fmt.Sprintf("more than %d segments", res.Segments-1); probs[0].Segment != res.Segments || !strings.Contains(probs[0].Reason, want) {
				t.Errorf("problem %s, want segment %d saying %q", probs[0], res.Segments, want)
			}
			if len(bad.Ack) == 0 {
				t.Error("no negative acknowledgement")
			}
		})
	}
}

func clipped(s string) string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}
