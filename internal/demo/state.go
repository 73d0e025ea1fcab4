package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/linkd-dev/linkd/internal/scenario"
)

// stateFile is where the demo keeps where the lane's simulation stands, so
// the next run continues it.
const stateFile = "demo.json"

// stateVersion changes when a data directory of an older demo can no
// longer be continued.
const stateVersion = 2

// state is the simulation's position across runs.
type state struct {
	Version int       `json:"version"`
	Epoch   time.Time `json:"epoch"` // the first window's start; the lane's calendar hangs off it
	Seed    uint64    `json:"seed"`
	// Through is the simulated time up to which every step of the calendar
	// was recorded; zero until the lane's history is in.
	Through time.Time         `json:"through"`
	Runs    int               `json:"runs"`
	Holds   []scenario.Hold   `json:"holds,omitempty"`
	HoldIDs map[string]string `json:"holdEventIDs,omitempty"` // booking → the HOLD's event id, for its RELS
}

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w (start over with --fresh)", filepath.Join(dir, stateFile), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s holds data of another version of the linkd demo (version %d, this is %d); start over with --fresh",
			dir, s.Version, stateVersion)
	}
	if s.HoldIDs == nil {
		s.HoldIDs = map[string]string{}
	}
	return &s, nil
}

// write replaces the state file atomically: a crash leaves the old or the new.
func (s *state) write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("save the demo's state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, stateFile))
	}
	if err != nil {
		return fmt.Errorf("save the demo's state: %w", err)
	}
	return nil
}

// demoFiles are the names a demo directory may hold besides party
// directories.
var demoFiles = []string{stateFile, stateFile + ".tmp", logFile, "bundle.json", "bundle-forged.json", twinDir}

// isDemoDir reports whether dir holds nothing but what a linkd demo,
// this one or the single-log one before it, puts there: --fresh deletes
// only such a directory.
func isDemoDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	parties := map[string]bool{}
	for _, p := range scenario.Cast() {
		parties[p.ID] = true
	}
	for _, e := range entries {
		if !parties[e.Name()] && !slices.Contains(demoFiles, e.Name()) {
			return false, nil
		}
	}
	return true, nil
}

// isOldDemo reports whether dir holds the single-log demo's data: the
// terminal's log key and store, with no node config.
func isOldDemo(dir string) bool {
	t := filepath.Join(dir, scenario.Terminal.ID)
	_, key := os.Stat(filepath.Join(t, "log.key"))
	_, cfg := os.Stat(filepath.Join(t, "linkd.yaml"))
	return key == nil && cfg != nil
}
