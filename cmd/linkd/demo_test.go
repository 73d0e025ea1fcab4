package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoCommand(t *testing.T) {
	code, out, stderr := run(t, "demo", "--help")
	for _, want := range []string{"--speed", "--duration", "--fault", "kill", "partition", "evil", "--dashboard", "--dir", "--fresh", "Ctrl-C"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("demo --help: exit %d, lacks %q\n%s%s", code, want, out, stderr)
		}
	}

	dir := t.TempDir()
	code, out, stderr = run(t, "demo", "--dir", dir, "--fresh", "--duration", "2d", "--speed", "200", "--dashboard", "off", "--reallocation-wait", "1s")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Setting up nine nodes", "Summary: ", "events recorded", "lane converged         yes", "Audit of the 9 party logs and of the 72 copies the nodes hold of their partners' logs"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The proof it wrote verifies with 'linkd verify'.
	key := "@" + filepath.Join(dir, "eu-customs", "keys", "log.key.pub")
	if code, out, _ := run(t, "verify", "--key", key, filepath.Join(dir, "bundle.json")); code != 0 || !strings.HasPrefix(out, "VERIFIED: eu-customs recorded event ") {
		t.Errorf("verify the demo's bundle: exit %d, %q", code, out)
	}
	if code, _, _ := run(t, "verify", "--key", key, filepath.Join(dir, "bundle-forged.json")); code != 1 {
		t.Errorf("verify the forged bundle: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.json")); err != nil {
		t.Errorf("no state to continue from: %v", err)
	}
}

func TestDemoCommandBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"busy port", []string{"--dashboard", ln.Addr().String()}, "port " + port + " is already in use (--dashboard " + ln.Addr().String() + ")"},
		{"bad duration", []string{"--duration", "a fortnight"}, `invalid argument "a fortnight" for "--duration"`},
		{"unknown fault", []string{"--fault", "kill,meteor"}, `--fault "meteor": want one of kill, partition, evil`},
		{"bad speed", []string{"--speed", "0.001"}, "--speed 0.001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"demo", "--dir", t.TempDir()}, tc.args...)
			code, _, stderr := run(t, args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
