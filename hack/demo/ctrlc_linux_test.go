package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// TestMakeDemoStopsCleanlyOnCtrlC runs `make demo` in a terminal (a
// pseudo-terminal, so that Ctrl-C goes through the kernel's line
// discipline to the foreground process group, as it does for a user),
// follows the printed curl line for a user's assets, then types Ctrl-C:
// make must exit 0 without "make: ***", and the demo must say what it
// cleaned up, having dropped its database and stopped usersapi.
func TestMakeDemoStopsCleanlyOnCtrlC(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	server := pgtest.ServerURL(t)
	database := fmt.Sprintf("usersync_demo_ctrlc_test_%d", os.Getpid()) // see TestDemoRunsEndToEnd
	terminal, tty := openPTY(t)
	cmd := exec.Command("make", "--no-print-directory", "demo", "BIN="+t.TempDir(),
		"DEMO_FLAGS=-server "+server+" -database "+database+" -users 300 -assets 200 -listen 127.0.0.1:0")
	cmd.Dir = "../.."
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// make leads a session whose controlling terminal is tty, like a shell's job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	screen := &logtest.Buffer{}
	copied := make(chan struct{})
	go func() {
		// Reading the terminal ends with EIO once nothing holds it open.
		_, _ = io.Copy(screen, terminal)
		close(copied)
	}()
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			// Closing the terminal hangs the demo up; it cleans up on SIGHUP.
			terminal.Close()
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		terminal.Close()
	})

	waitForScreen(t, screen, exited, "Serving until Ctrl-C")
	m := regexp.MustCompile(`curl -s -H '(Authorization: Bearer [0-9a-f]+)' '(http://[^']+/users/\d+/assets)'`).FindStringSubmatch(screen.String())
	if m == nil {
		t.Fatalf("no curl line for a user's assets:\n%s", screen)
	}
	req, _ := http.NewRequest(http.MethodGet, m[2], nil)
	req.Header.Set("Authorization", strings.TrimPrefix(m[1], "Authorization: "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var assets []json.RawMessage
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &assets) != nil || len(assets) == 0 {
		t.Errorf("the demo's curl line %s answers %d %.200s; want some assets", m[2], resp.StatusCode, body)
	}

	if _, err := terminal.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	select {
	case <-exited:
		<-copied
		if exitErr != nil {
			t.Errorf("make demo after Ctrl-C: %v (want exit status 0)\n%s", exitErr, screen)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("make demo still running 2 minutes after Ctrl-C:\n%s", screen)
	}
	out := screen.String()
	for _, want := range []string{"==> Cleaning up", "stopped usersapi", "(the API tokens)", "dropped the database " + database,
		"stopped the Snipe-IT simulator"} {
		if !strings.Contains(out, want) {
			t.Errorf("after Ctrl-C the demo did not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "make: ***") || strings.Contains(out, "FAILED") {
		t.Errorf("make demo stopped with an error:\n%s", out)
	}
	if _, err := http.Get(m[2]); err == nil {
		t.Errorf("usersapi still answers after Ctrl-C")
	}
	if err := databaseGone(server, database); err != nil {
		t.Error(err)
	}
}

// openPTY opens a pseudo-terminal: the terminal end to type into and read
// from, and the tty end for the process.
func openPTY(t *testing.T) (terminal, tty *os.File) {
	t.Helper()
	terminal, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	fd := int(terminal.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the tty: %v", err)
	}
	return terminal, tty
}

// waitForScreen polls the terminal's output until it shows want.
func waitForScreen(t *testing.T, screen *logtest.Buffer, exited <-chan struct{}, want string) {
	t.Helper()
	eventually.NoError(t, 5*time.Minute, fmt.Sprintf("make demo to show %q", want), func() error {
		select {
		case <-exited:
			t.Fatalf("make demo exited before showing %q:\n%s", want, screen)
		default:
		}
		if !strings.Contains(screen.String(), want) {
			return fmt.Errorf("the screen shows:\n%s", screen)
		}
		return nil
	})
}
