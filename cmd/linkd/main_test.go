package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run calls linkd in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVerifyBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte(`{"format": "linkd-proof-bundle/v1", "surprise": 1}`), 0o644)
	cases := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no key", []string{"verify", garbage}, 2, `required flag(s) "key" not set`},
		{"missing key file", []string{"verify", "--key", "@" + filepath.Join(dir, "nope"), garbage}, 2, "read key"},
		{"missing bundle", []string{"verify", "--key", "x+1+AQ==", filepath.Join(dir, "nope.json")}, 2, "read bundle"},
		{"unknown field", []string{"verify", "--key", "x+1+AQ==", garbage}, 2, "not a linkd proof bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Fatalf("exit %d stderr %q; want exit %d and %q", code, stderr, tc.code, tc.inStderr)
			}
		})
	}
}

func TestBenchIngestReportsEveryScenario(t *testing.T) {
	code, out, stderr := run(t, "bench", "ingest", "--scenarios", "10x2,1x8", "--events", "400", "--json")
	if code != 0 {
		t.Fatalf("bench exit %d: %s", code, stderr)
	}
	var res struct {
		Shape   struct{ AvgJSONBytes int }
		Results []struct {
			Scenario     string
			Events       int
			EventsPerSec float64 `json:"eventsPerSecond"`
			P99          float64 `json:"p99AckMillis"`
			Fsyncs       int64   `json:"fsyncedBatches"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json output is not JSON: %v\n%s", err, out)
	}
	if len(res.Results) != 2 || res.Results[0].Scenario != "batch 10, 2 clients" || res.Results[1].Scenario != "batch 1, 8 clients" {
		t.Fatalf("scenarios = %+v", res.Results)
	}
	for _, r := range res.Results {
		if r.Events != 400 || r.EventsPerSec <= 0 || r.P99 <= 0 || r.Fsyncs < 1 || r.Fsyncs > 400 {
			t.Fatalf("result %+v: want 400 durable events with rate, latency and fsync count", r)
		}
	}
	if res.Shape.AvgJSONBytes < 500 {
		t.Fatalf("average event is %d bytes of JSON; the benchmark should use realistic ~900-byte events", res.Shape.AvgJSONBytes)
	}
	if code, _, stderr := run(t, "bench", "ingest", "--scenarios", "100"); code != 2 || !strings.Contains(stderr, "BATCHxCLIENTS") {
		t.Fatalf("bad --scenarios: exit %d, %q", code, stderr)
	}
}

// Runs into one --dir each get a fresh store (an earlier run's store holds
// another key) and leave the directory as they found it.
func TestBenchIngestRunsAgainInOneDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine"), []byte("keep"), 0o644)
	for i := range 2 {
		if code, _, stderr := run(t, "bench", "ingest", "--scenarios", "10x1", "--events", "50", "--dir", dir, "--json"); code != 0 {
			t.Fatalf("run %d into the same --dir: exit %d: %s", i+1, code, stderr)
		}
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "mine" {
		t.Fatalf("--dir holds %v after the runs; want only what was there before", left)
	}
}

// The README's quick start must work as written.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := regexp.MustCompile("(?m)^go run ./cmd/linkd (.+)$").FindAllStringSubmatch(string(readme), -1)
	if len(cmds) == 0 {
		t.Fatal("README shows no 'go run ./cmd/linkd …' command")
	}
	t.Setenv("TMPDIR", t.TempDir()) // the demo's default data dir goes here
	for _, c := range cmds {
		args := strings.Fields(c[1])
		switch args[0] {
		case "bench":
			args = append(args, "--events", "300", "--scenarios", "100x1")
		case "demo":
			// The same lane, a week of it at a day per 2 s, without the
			// dashboard's port: the full month is demo_test.go's business.
			args = append(args, "--speed", "84", "--duration", "7d", "--dashboard", "off")
		}
		code, out, stderr := run(t, args...)
		if code != 0 {
			t.Fatalf("README command %q: exit %d\n%s\n%s", c[0], code, out, stderr)
		}
	}
	if !strings.Contains(string(readme), "go test ./...") {
		t.Fatal("README does not show the test command")
	}
}

// bench --cpuprofile and --memprofile write profiles of the run that go
// tool pprof reads: gzipped, with the CPU and the allocation sample types.
func TestBenchWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	if code, _, stderr := run(t, "bench", "ingest", "--scenarios", "10x1", "--events", "200", "--json", "--cpuprofile", cpu, "--memprofile", mem); code != 0 {
		t.Fatalf("bench exit %d: %s", code, stderr)
	}
	for _, p := range []struct{ file, sampleType string }{{cpu, "nanoseconds"}, {mem, "alloc_space"}} {
		f, err := os.Open(p.file)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			t.Fatalf("%s is not a gzipped profile: %v", filepath.Base(p.file), err)
		}
		body, err := io.ReadAll(zr)
		f.Close()
		if err != nil || !bytes.Contains(body, []byte(p.sampleType)) {
			t.Fatalf("%s: %d bytes (err %v), want a profile with %q samples", filepath.Base(p.file), len(body), err, p.sampleType)
		}
	}
	if code, _, stderr := run(t, "bench", "ingest", "--memprofile", filepath.Join(dir, "no", "such", "dir", "mem.prof")); code != 2 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("--memprofile into a missing directory: exit %d, %q; want a usage error naming the problem", code, stderr)
	}
}

func TestBenchAuditReports(t *testing.T) {
	code, out, stderr := run(t, "bench", "audit", "--events", "300", "--batch", "30", "--json")
	if code != 0 {
		t.Fatalf("bench audit exit %d: %s", code, stderr)
	}
	var res struct {
		Events      int64
		Checkpoints int
		Seconds     float64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench audit --json output is not JSON: %v\n%s", err, out)
	}
	if res.Events != 300 || res.Checkpoints != 10 || res.Seconds <= 0 {
		t.Fatalf("result %+v: want 300 events and 10 checkpoints audited, and a time", res)
	}
	for _, args := range [][]string{{"--events", "0"}, {"--batch", "10001"}} {
		if code, _, stderr := run(t, append([]string{"bench", "audit"}, args...)...); code != 2 || !strings.Contains(stderr, "--events must be at least 1 and --batch 1 to 10000") {
			t.Fatalf("bench audit %v: exit %d, %q; want a usage error", args, code, stderr)
		}
	}
}

// bench propagation --json names its figures and their units, as the other
// benchmarks do: a run for each node count and the catch-up.
func TestBenchPropagationJSON(t *testing.T) {
	code, out, stderr := run(t, "bench", "propagation", "--nodes", "2", "--rate", "500", "--duration", "1s", "--catchup", "1000", "--json", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("bench propagation exit %d: %s", code, stderr)
	}
	var res struct {
		Runs []struct {
			Nodes, Events, Arrivals int
			P50                     float64 `json:"p50Millis"`
			P99                     float64 `json:"p99Millis"`
			CPU                     float64 `json:"cpuSeconds"`
		}
		CatchUp struct {
			Events int
			Rate   float64 `json:"eventsPerSecond"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(res.Runs) != 1 || res.Runs[0].Nodes != 2 || res.Runs[0].Events < 400 || res.Runs[0].Arrivals != res.Runs[0].Events ||
		res.Runs[0].P50 <= 0 || res.Runs[0].P50 > res.Runs[0].P99 || res.Runs[0].CPU <= 0 {
		t.Fatalf("runs %+v: want one run of 2 nodes, every event arriving once, latencies in milliseconds, CPU seconds", res.Runs)
	}
	if res.CatchUp.Events != 1000 || res.CatchUp.Rate <= 0 {
		t.Fatalf("catch-up %+v: want 1000 events and a rate", res.CatchUp)
	}
}
