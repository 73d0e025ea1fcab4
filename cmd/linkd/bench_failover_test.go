package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// The failover benchmark runs on real member processes and reports a gap
// for every kill and the throughput of both kinds of node.
func TestBenchFailoverReports(t *testing.T) {
	cmd := newBenchFailoverCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--bin", binary(t), "--kills", "2", "--writers", "4", "--tevents", "4000", "--clients", "4", "--dir", t.TempDir(), "--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("bench failover: %v\n%s", err, errOut.String())
	}
	var res FailoverResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if res.Kills != 2 || len(res.GapsMillis) != 2 || res.P99Millis <= 0 || res.Writes == 0 {
		t.Fatalf("result %+v: want a gap per kill and acknowledged writes", res)
	}
	if len(res.Throughput) != 2 || res.Throughput[0].Target != "single node" || res.Throughput[1].Target != "3-member cluster" {
		t.Fatalf("throughput %+v: want the single node and the cluster", res.Throughput)
	}
	for _, tr := range res.Throughput {
		if tr.Events != 4000 || tr.EventsPerSec <= 0 {
			t.Fatalf("throughput %+v: want 4000 durable events and a rate", tr)
		}
	}
}
