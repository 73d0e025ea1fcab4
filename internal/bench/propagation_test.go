package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// memberEnv makes this test binary a propagation member (see TestMain).
const memberEnv = "LINKD_TEST_PROPAGATION_MEMBER"

func TestMain(m *testing.M) {
	switch os.Getenv(memberEnv) {
	case "":
		os.Exit(m.Run())
	case "fail":
		fmt.Fprintln(os.Stderr, "member gave up: no disk today")
		os.Exit(1)
	default:
		if err := PropagationMember(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// memberCmd runs this test binary as a member process.
func memberCmd(mode string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), memberEnv+"="+mode)
		return cmd
	}
}

// checkPropagation checks what a user reads off a run: every event the
// origin recorded reached every peer, at the rate asked for, and the wire
// carried the payloads.
func checkPropagation(t *testing.T, res PropagationResult, nodes, rate int, d time.Duration) {
	t.Helper()
	want := int(float64(rate) * d.Seconds())
	if res.Events < want*8/10 || res.Events > want+rate/100+1 {
		t.Errorf("origin recorded %d events; want about %d", res.Events, want)
	}
	if res.Latency.N != (nodes-1)*res.Events {
		t.Errorf("%d arrivals measured; want %d (each of %d events at %d peers)", res.Latency.N, (nodes-1)*res.Events, res.Events, nodes-1)
	}
	if res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max || res.Latency.Max > 10*time.Second {
		t.Errorf("latencies out of order or unbounded: %+v", res.Latency)
	}
	if res.PayloadBytes < int64(res.Events)*100 || res.WireBytes == 0 {
		t.Errorf("payload %d bytes, wire %d bytes for %d events", res.PayloadBytes, res.WireBytes, res.Events)
	}
	if res.CPU <= 0 {
		t.Errorf("no CPU time measured")
	}
}

func TestPropagationInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	cfg := PropagationConfig{Dir: t.TempDir(), Nodes: 3, Rate: 500, Duration: time.Second}
	res, err := Propagation(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPropagation(t, res, cfg.Nodes, cfg.Rate, cfg.Duration)
}

// TestPropagationProcs runs each node in a process of its own: the events
// reach every peer's process, and the CPU of the members is counted.
func TestPropagationProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three node processes")
	}
	cfg := PropagationConfig{Dir: t.TempDir(), Nodes: 3, Rate: 500, Duration: time.Second, Member: memberCmd("member")}
	cpu0 := cpuTime()
	res, err := Propagation(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPropagation(t, res, cfg.Nodes, cfg.Rate, cfg.Duration)
	// The nodes ran elsewhere: this process did little of the work.
	if self := cpuTime() - cpu0; res.CPU < 2*self {
		t.Errorf("run took %v of CPU, this process %v: the members' time is missing", res.CPU, self)
	}
	left, _ := os.ReadDir(cfg.Dir)
	if len(left) != 0 {
		t.Errorf("the run left %d entries in its directory", len(left))
	}
}

// TestPropagationProcsMemberFails: a member that cannot start ends the run
// with an error that says what the member said.
func TestPropagationProcsMemberFails(t *testing.T) {
	cfg := PropagationConfig{Dir: t.TempDir(), Nodes: 3, Rate: 500, Duration: time.Second, Member: memberCmd("fail")}
	_, err := Propagation(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no disk today") {
		t.Fatalf("got %v; want the member's own words", err)
	}
}
