package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ediSample(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "internal", "edi", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// badEDI writes a copy of a sample with one status code no table knows.
func badEDI(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(ediSample(t, "315-carrier.x12"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad-315.x12")
	if err := os.WriteFile(path, bytes.Replace(data, []byte("B4***CT*"), []byte("B4***ZQ*"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEDITranslateCommand(t *testing.T) {
	file := ediSample(t, "iftsta-carrier.edi")
	code, out, stderr := run(t, "edi", "translate", file)
	if code != 0 {
		t.Fatalf("translate: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"EVENT TIME", "EQUIPMENT/GTOT", "TRANSPORT/ARRI  EST", "SHIPMENT/HOLD", "MSKU1234565",
		"EDIFACT interchange OL0000417 from OCEANICLINES to VNFORWARDING: 12 events from 11 statuses in 4 messages, 71 segments; acknowledgement CONTRL"} {
		if !strings.Contains(out, want) {
			t.Errorf("translate output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = run(t, "edi", "translate", "--json", "--party", "haiphong-terminal", "--zone", "+01:00", ediSample(t, "214-drayage.x12"))
	var tr translation
	if err := json.Unmarshal([]byte(out), &tr); code != 0 || err != nil {
		t.Fatalf("translate --json: exit %d, %v\n%s", code, err, out)
	}
	if len(tr.Events) != 6 || tr.Events[0].EventID == "" || tr.Events[1].EventDateTime.String() != "2026-12-05T07:12:00+01:00" || tr.AckType != "997" {
		t.Errorf("translate --json: %d events, first id %q, time %s, ack %s", len(tr.Events), tr.Events[0].EventID, tr.Events[1].EventDateTime, tr.AckType)
	}

	code, out, _ = run(t, "edi", "translate", "--ack", file)
	if code != 0 || !strings.HasPrefix(out, "UNA:+.? '") || !strings.Contains(out, "UCI+OL0000417+OCEANICLINES:ZZZ+VNFORWARDING:ZZZ+7'") {
		t.Errorf("translate --ack: exit %d\n%s", code, out)
	}

	// Refused: exit 1, every problem named, and the negative 997 on --ack.
	bad := badEDI(t)
	code, out, _ = run(t, "edi", "translate", bad)
	if code != 1 || !strings.Contains(out, `segment 46 (B403): unknown status code "ZQ"`) {
		t.Errorf("translate of a bad interchange: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "edi", "translate", "--ack", bad)
	if code != 1 || !strings.Contains(out, "AK4*3*157*7*ZQ~") || !strings.Contains(out, "AK9*R*10*10*0~") {
		t.Errorf("translate --ack of a bad interchange: exit %d\n%s", code, out)
	}
	if code, _, stderr := run(t, "edi", "translate", "--zone", "Mars/Olympus", file); code != 2 || !strings.Contains(stderr, "--zone") {
		t.Errorf("bad --zone: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run(t, "edi", "translate", filepath.Join(t.TempDir(), "none.edi")); code != 2 || !strings.Contains(stderr, "none.edi") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}

// TestEDIImportCommand imports interchanges into a real node served in
// this process: recorded with their lineage, recorded once when imported
// again, and a bad one refused with its problems and nothing recorded.
func TestEDIImportCommand(t *testing.T) {
	n := startCLINode(t, "oceanic-lines", "SG")
	good := []string{ediSample(t, "iftsta-carrier.edi"), ediSample(t, "315-carrier.x12")}
	acks := t.TempDir()
	code, out, stderr := run(t, append(append([]string{"edi", "import", "--zone", "+07:00", "--ack-dir", acks}, good...), n.flags...)...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"iftsta-carrier.edi: EDIFACT interchange OL0000417 from OCEANICLINES: 12 events recorded, 0 already recorded, from 11 statuses in 4 messages; acknowledgement CONTRL",
		"315-carrier.x12: X12 interchange 000004711 from OCEANICLINES: 10 events recorded, 0 already recorded, from 10 statuses in 10 messages; acknowledgement 997",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	if ack, err := os.ReadFile(filepath.Join(acks, "315-carrier.x12.ack")); err != nil || !bytes.Contains(ack, []byte("AK9*A*10*10*10~")) {
		t.Errorf("--ack-dir: %v\n%s", err, ack)
	}

	// Again, with a bad one between: the good ones are duplicates, the bad
	// one refused whole; exit 1.
	code, out, stderr = run(t, append([]string{"edi", "import", "--zone", "+07:00", good[0], badEDI(t), good[1]}, n.flags...)...)
	if code != 1 || !strings.Contains(stderr, "1 of 3 interchanges refused") {
		t.Fatalf("import with a bad file: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"iftsta-carrier.edi: EDIFACT interchange OL0000417 from OCEANICLINES: 0 events recorded, 12 already recorded",
		"bad-315.x12: X12 interchange 000004711 from OCEANICLINES refused, nothing recorded; 1 problems:",
		`  segment 46 (B403): unknown status code "ZQ"`, // the problem keeps its X12 notation across the API
		"negative acknowledgement: 997",
		"315-carrier.x12: X12 interchange 000004711 from OCEANICLINES: 0 events recorded, 10 already recorded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}

	// --json, and the node's log holds the 22 events once.
	code, out, _ = run(t, append([]string{"edi", "import", "--json", "--zone", "+07:00", good[1]}, n.flags...)...)
	var results []importResult
	if err := json.Unmarshal([]byte(out), &results); code != 0 || err != nil || len(results) != 1 || len(results[0].Report.Acks) != 10 || results[0].Report.Size != 22 {
		t.Fatalf("import --json: exit %d, %v\n%s", code, err, out)
	}
	if !results[0].Report.Acks[9].Duplicate || results[0].Report.Acks[9].LogIndex != 21 {
		t.Errorf("the last event of the 315 is %+v, want a duplicate at index 21", results[0].Report.Acks[9])
	}

	// A token the node never issued may not import.
	code, _, stderr = run(t, "edi", "import", good[0], "--config", n.flags[1], "--token", "lkd_abcdefghij_bm90LWEtdG9rZW4tb2YtdGhpcy1ub2RlLW5vdC1ldmVy")
	if code != 1 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("import with a token the node never issued: exit %d, %q", code, stderr)
	}
}

func TestBenchEDICommand(t *testing.T) {
	code, out, stderr := run(t, "bench", "edi", "--messages", "5", "--statuses", "4", "--duration", "20ms", "--json")
	if code != 0 {
		t.Fatalf("bench edi: exit %d\n%s", code, stderr)
	}
	var res []benchEDIResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 4 {
		t.Fatalf("bench edi --json: %v\n%s", err, out)
	}
	for _, r := range res {
		if r.Interchanges < 1 || r.StatusesSec <= 0 || r.InterchangesSec <= 0 || r.Statuses < 1 {
			t.Errorf("case %+v: want positive figures", r)
		}
	}
	if res[0].Statuses != 20 || res[2].Statuses != 20 {
		t.Errorf("statuses %d and %d, want 5×4 in each syntax", res[0].Statuses, res[2].Statuses)
	}
	if code, out, _ := run(t, "bench", "edi", "--duration", "10ms"); code != 0 || !strings.Contains(out, "statuses/s") || !strings.Contains(out, "X12 315 single status") {
		t.Errorf("bench edi: exit %d\n%s", code, out)
	}
}
