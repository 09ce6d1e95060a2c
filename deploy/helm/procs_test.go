package helm

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/binarytest"
)

// binaries builds usersync and usersapi from this tree (once per test
// binary) and returns the directory holding them: the processes the tests
// run are the code under test, not an installed copy.
func binaries(t *testing.T) string {
	t.Helper()
	return binarytest.BuildAll(t, "github.com/usersync/usersync/cmd/usersync", "github.com/usersync/usersync/cmd/usersapi")
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
