package edi

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The fuzz targets read the seed corpora under testdata/fuzz, made from the
// samples and damaged copies of them by TestSeedCorpus -regenerate.
var updateSeeds = flag.Bool("regenerate", false, "rewrite the fuzz seed corpora under testdata/fuzz and the code tables of docs/edi.md")

// encodeEDIFACT writes segments back with the service characters they were
// read with, releasing what needs it, without dropping empty values.
func encodeEDIFACT(segs []Segment, d Delimiters) []byte {
	var b []byte
	charset := ""
	for _, s := range segs {
		if s.Tag == "UNA" {
			w := &edifactWriter{d: d}
			w.una()
			b = append(b, w.b...)
			continue
		}
		// UNB is read before its character set is known (as ISO 8859-1).
		w := &edifactWriter{d: d, latin1: charset == "" || charset == "UNOC"}
		w.b = append(w.b, s.Tag...)
		for _, el := range s.Elements {
			w.b = append(w.b, d.Element)
			for ri, rep := range el {
				if ri > 0 {
					w.b = append(w.b, d.Repetition)
				}
				for ci, c := range rep {
					if ci > 0 {
						w.b = append(w.b, d.Component)
					}
					w.esc(c)
				}
			}
		}
		w.b = append(w.b, d.Segment)
		b = append(b, w.b...)
		if s.Tag == "UNB" && charset == "" {
			charset = s.V(1, 1)
		}
	}
	return b
}

func encodeX12(segs []Segment, d Delimiters) []byte {
	var b []byte
	for i, s := range segs {
		b = append(b, s.Tag...)
		for _, el := range s.Elements {
			b = append(b, d.Element)
			for ri, rep := range el {
				if ri > 0 {
					b = append(b, d.Repetition)
				}
				for ci, c := range rep {
					if ci > 0 && i > 0 {
						b = append(b, d.Component)
					}
					b = append(b, c...)
				}
			}
		}
		b = append(b, d.Segment)
	}
	return b
}

// FuzzReadEDIFACT: whatever bytes arrive, the tokenizer never panics, and
// what it reads, written back with its service characters, reads the same.
func FuzzReadEDIFACT(f *testing.F) {
	seeds(f, "FuzzReadEDIFACT")
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, d, err := ReadEDIFACT(data, Limits{MaxBytes: 1 << 20, MaxSegments: 5000})
		if err != nil {
			checkError(t, err)
			return
		}
		again, d2, err := ReadEDIFACT(encodeEDIFACT(segs, d), Limits{MaxBytes: 4 << 20, MaxSegments: 5000})
		if err != nil {
			t.Fatalf("re-reading what was read: %v\n%q", err, encodeEDIFACT(segs, d))
		}
		if d2 != d || !sameSegments(segs, again) {
			t.Fatalf("segments changed on a round trip:\n%v\n%v", segs, again)
		}
	})
}

// FuzzReadX12: the same for X12.
func FuzzReadX12(f *testing.F) {
	seeds(f, "FuzzReadX12")
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, d, err := ReadX12(data, Limits{MaxBytes: 1 << 20, MaxSegments: 5000})
		if err != nil {
			checkError(t, err)
			return
		}
		again, d2, err := ReadX12(encodeX12(segs, d), Limits{MaxBytes: 4 << 20, MaxSegments: 5000})
		if err != nil {
			t.Fatalf("re-reading what was read: %v\n%q", err, encodeX12(segs, d))
		}
		if d2 != d || !sameSegments(segs, again) {
			t.Fatalf("segments changed on a round trip:\n%v\n%v", segs, again)
		}
	})
}

// FuzzTranslate: any bytes give either valid events and a positive
// acknowledgement, or no events, precise problems and (when there is a
// header to answer) a negative acknowledgement that itself reads; the
// same bytes always give the same answer.
func FuzzTranslate(f *testing.F) {
	seeds(f, "FuzzTranslate")
	opts := Options{Origin: "haiphong-terminal", Now: func() time.Time { return time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC) },
		Limits: Limits{MaxBytes: 1 << 20, MaxSegments: 5000}}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Translate(data, opts)
		if res == nil {
			t.Fatal("no result")
		}
		if err != nil {
			checkError(t, err)
			if res.Events != nil {
				t.Fatalf("a rejected interchange gave %d events", len(res.Events))
			}
			for _, p := range res.Problems {
				if p.Segment > res.Segments+1 || p.Reason == "" {
					t.Fatalf("problem %+v outside the %d segments read", p, res.Segments)
				}
			}
		} else {
			if len(res.Events) == 0 || len(res.Problems) != 0 {
				t.Fatalf("accepted with %d events and %d problems", len(res.Events), len(res.Problems))
			}
			for _, e := range res.Events {
				if probs := e.Validate(""); len(probs) > 0 {
					t.Fatalf("accepted an invalid event: %v", probs)
				}
			}
		}
		if res.Ack != nil {
			var aerr error
			if res.Syntax == EDIFACT {
				_, _, aerr = ReadEDIFACT(res.Ack, Limits{})
			} else {
				_, _, aerr = ReadX12(res.Ack, Limits{})
			}
			if aerr != nil {
				t.Fatalf("the acknowledgement does not read: %v\n%s", aerr, res.Ack)
			}
		}
		again, _ := Translate(data, opts)
		if !reflect.DeepEqual(again.Summary, res.Summary) || !bytes.Equal(again.Ack, res.Ack) || !reflect.DeepEqual(again.Events, res.Events) {
			t.Fatal("the same bytes translated twice differ")
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	ee, ok := err.(*Error)
	if !ok || len(ee.Problems) == 0 {
		t.Fatalf("error %T %v: want *Error with problems", err, err)
	}
	for _, p := range ee.Problems {
		if p.Reason == "" || p.Field == "" {
			t.Fatalf("problem %+v says nothing", p)
		}
	}
}

func sameSegments(a, b []Segment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Tag != b[i].Tag || !reflect.DeepEqual(a[i].Elements, b[i].Elements) {
			return false
		}
	}
	return true
}

// seeds adds the checked-in corpus of target to f.
func seeds(f *testing.F, target string) {
	dir := filepath.Join("testdata", "fuzz", target)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		f.Fatalf("no seed corpus in %s (run go test -run TestSeedCorpus -regenerate): %v", dir, err)
	}
	// go test reads testdata/fuzz/<target> itself.
}

// TestSeedCorpus keeps the seed corpora: every sample, and damaged copies
// of them (cut short, a delimiter changed, a count off, garbage inside).
func TestSeedCorpus(t *testing.T) {
	samples, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	var corpus = map[string][]byte{}
	for _, path := range samples {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(filepath.Base(path), ".", "-")
		corpus[name] = data
		corpus[name+"-cut"] = data[:len(data)*2/3]
		corpus[name+"-cut-release"] = append(data[:len(data)/2:len(data)/2], '?')
		corpus[name+"-count"] = bytes.Replace(data, []byte("UNT+1"), []byte("UNT+9"), 1)
		corpus[name+"-se"] = bytes.Replace(data, []byte("SE*5*"), []byte("SE*9*"), 1)
		corpus[name+"-garbage"] = append(append(data[:len(data)/3:len(data)/3], 0, 0xff, 0x1b, 0x7f), data[len(data)/3:]...)
		corpus[name+"-delims"] = bytes.Replace(bytes.Replace(data, []byte("UNA:+.? '"), []byte("UNA::.? '"), 1), []byte("*P*>~"), []byte("*P*~~"), 1)
	}
	// Small seeds: the fuzzer minimizes what it finds interesting, which
	// takes long on large inputs.
	corpus["sample-edifact"] = Sample(EDIFACT, 2, 3)
	corpus["sample-x12"] = Sample(X12, 3, 0)
	corpus["empty"] = nil
	corpus["binary"] = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
	for _, target := range []string{"FuzzReadEDIFACT", "FuzzReadX12", "FuzzTranslate"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, data := range corpus {
			x12 := strings.Contains(name, "x12") || strings.Contains(name, "X12")
			if (target == "FuzzReadEDIFACT" && x12) || (target == "FuzzReadX12" && !x12 && name != "binary" && name != "empty") {
				continue
			}
			path := filepath.Join(dir, name)
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != content {
				t.Errorf("seed %s is missing or stale (run go test -run TestSeedCorpus -regenerate): %v", path, err)
			}
		}
	}
}
