// Package apitest runs usersapi for tests and talks to it over HTTP: the
// built binary as a process on a loopback port, and requests with a bearer
// token. The end-to-end tests of cmd/usersapi and the chart's tests use
// the process; they and pkg/api's tests use the requests. FloorHandler is
// the bare handler the benchmarks measure usersapi against.
package apitest

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/logtest"
)

// Do sends a request with no body, with token (if any) as the bearer
// token and header as name, value pairs, and returns the response and its
// whole body. Any failure to get them fails the test.
func Do(t testing.TB, method, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// LinkNext returns the URL of a Link: <…>; rel="next" header, or "" when
// there is none; a Link header of another form fails the test.
func LinkNext(t testing.TB, h http.Header) string {
	t.Helper()
	link := h.Get("Link")
	if link == "" {
		return ""
	}
	m := linkNext.FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("Link = %q, want <url>; rel=\"next\"", link)
	}
	return m[1]
}

// Process is a running usersapi.
type Process struct {
	// Base is where it serves: http://127.0.0.1:PORT.
	Base string
	// Logs are the lines it has written to stderr.
	Logs *logtest.Lines

	cmd  *exec.Cmd
	done chan error // holds the exit error once it has exited
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// Start runs the usersapi binary with PATH, LISTEN_ADDR=127.0.0.1:0,
// SHUTDOWN_DELAY=0 and then env (a later value of a name wins) as its
// whole environment, and waits for its "listening" line. The process is
// killed when the test ends; its log is shown if the test failed.
func Start(t testing.TB, binary string, env ...string) *Process {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DELAY=0"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Logs: &logtest.Lines{}, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.Logs.Add(sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("usersapi log:\n%s", p.Logs)
		}
	})
	select {
	case a := <-addr:
		p.Base = "http://" + a
	case err := <-p.done:
		p.done <- err
		t.Fatalf("usersapi exited before listening (%v):\n%s", err, p.Logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("usersapi did not log its address within 60s:\n%s", p.Logs)
	}
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Wait waits up to timeout for the process to exit and returns whether it
// did and, if so, its exit error (nil: status 0).
func (p *Process) Wait(timeout time.Duration) (exited bool, err error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	case <-time.After(timeout):
		return false, nil
	}
}

// Stop sends SIGTERM and returns the exit error; the process not exiting
// within 60 s fails the test.
func (p *Process) Stop(t testing.TB) error {
	t.Helper()
	p.Signal(t, syscall.SIGTERM)
	exited, err := p.Wait(60 * time.Second)
	if !exited {
		t.Fatal("usersapi did not stop within 60s of SIGTERM")
	}
	return err
}
