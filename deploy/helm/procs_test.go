package helm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/usersync/usersync/pkg/api/apitest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds usersync and usersapi from this tree once per test
// binary and returns the directory holding them: the processes the tests
// run are the code under test, not an installed copy.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "usersync-helm-bin")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"github.com/usersync/usersync/cmd/usersync", "github.com/usersync/usersync/cmd/usersapi").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build usersync and usersapi: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// startUsersapi runs the built usersapi with exactly env (plus PATH) on
// 127.0.0.1:0 until the test ends, and waits for its listening line. The
// listen address and a shutdown delay of 0 replace any in env (the
// chart's Deployment sets SHUTDOWN_DELAY).
func startUsersapi(t *testing.T, env []string) *apitest.Process {
	t.Helper()
	env = append(slices.Clip(env), "LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DELAY=0")
	return apitest.Start(t, filepath.Join(binaries(t), "usersapi"), env...)
}
