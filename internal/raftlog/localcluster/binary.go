package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the linkd binary once per process (a test run) into a
// temporary directory and returns its path, for tests that start real
// member or node processes.
func Binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linkd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "linkd")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/linkd-dev/linkd/cmd/linkd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}
