package main_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/binarytest"
)

// runCheckCmd runs `usersapi check` with env and returns its exit code,
// stdout and stderr.
func runCheckCmd(t *testing.T, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binarytest.Build(t, "."), "check")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestCheck is what the chart's helm test runs: it passes against a
// serving API with a valid tokens file and fails, saying why, otherwise.
func TestCheck(t *testing.T) {
	url := seedDatabase(t, genUsers(3), nil)
	tokens := writeTokenFile(t)
	api := startAPI(t, "DATABASE_URL="+url, "API_TOKENS_FILE="+tokens, "BASE_PATH=/api")

	code, stdout, stderr := runCheckCmd(t, "CHECK_URL="+api.Base, "BASE_PATH=/api", "API_TOKENS_FILE="+tokens)
	if code != 0 || !strings.Contains(stdout, "/api/users?limit=1: 1 user(s)") {
		t.Fatalf("check against a serving API: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	wrong := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(wrong, []byte("# rotated\nread:not-a-valid-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCheckCmd(t, "CHECK_URL="+api.Base, "BASE_PATH=/api", "API_TOKENS_FILE="+wrong)
	if code != 1 || !strings.Contains(stderr, "status 401") {
		t.Errorf("check with a wrong token: exit %d, stderr %q; want 1 and the 401", code, stderr)
	}

	code, _, stderr = runCheckCmd(t, "CHECK_URL="+api.Base, "API_TOKENS_FILE="+tokens)
	if code != 1 || !strings.Contains(stderr, "status 404") {
		t.Errorf("check without the base path: exit %d, stderr %q; want 1 and the 404", code, stderr)
	}

	code, _, stderr = runCheckCmd(t, "CHECK_URL=http://127.0.0.1:1", "CHECK_TIMEOUT=1s", "API_TOKENS_FILE="+tokens)
	if code != 1 || !strings.Contains(stderr, "not ready within 1s") {
		t.Errorf("check against nothing: exit %d, stderr %q; want 1 and not ready", code, stderr)
	}

	if code, _, stderr = runCheckCmd(t); code != 2 || !strings.Contains(stderr, "CHECK_URL is required") {
		t.Errorf("check without CHECK_URL: exit %d, stderr %q; want 2", code, stderr)
	}
}
