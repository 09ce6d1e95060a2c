package helm

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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

// logBuffer collects a process's output lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(l string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, l)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// apiProcess is a usersapi serving on a loopback port.
type apiProcess struct {
	base string // http://127.0.0.1:PORT
	logs *logBuffer
}

var listeningAddr = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startUsersapi runs the built usersapi with exactly env (plus PATH) on
// 127.0.0.1:0 until the test ends, and waits for its listening line.
func startUsersapi(t *testing.T, env []string) *apiProcess {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "usersapi"))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Env = append(cmd.Env, "LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DELAY=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &apiProcess{logs: &logBuffer{}}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
			if m := listeningAddr.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("usersapi log:\n%s", p.logs)
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-done:
		done <- err
		t.Fatalf("usersapi exited before listening (%v):\n%s", err, p.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("usersapi did not listen within 60s:\n%s", p.logs)
	}
	return p
}
