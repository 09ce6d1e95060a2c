package pgtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// binDir holds PostgreSQL's server programs (Debian's layout); PG_BIN
// overrides it.
func binDir() string {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Cluster is a PostgreSQL server of the test's own, made with initdb and
// not started until Start: for tests of what a client does while a server
// is not yet up, and of password authentication (the shared test server
// trusts everyone). The superuser is postgres, authenticated over TCP with
// scram-sha-256.
type Cluster struct {
	tb   testing.TB
	dir  string
	port int

	mu      sync.Mutex
	started bool
	stopped bool
}

// NewCluster runs initdb for a cluster whose postgres user has password,
// on a free loopback port, and removes it when the test ends (stopping it
// first if it was started). PostgreSQL refuses to run as root: as root the
// programs run as the postgres user. Without the programs the test skips
// (fails under CI).
func NewCluster(tb testing.TB, password string) *Cluster {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(binDir(), "initdb")); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("no PostgreSQL server programs in %s (set PG_BIN): %v", binDir(), err)
		}
		tb.Skipf("no PostgreSQL server programs in %s (set PG_BIN): %v", binDir(), err)
	}
	// Not t.TempDir: its parent is private to the test's user, and the
	// server may run as another.
	dir, err := os.MkdirTemp("", "pgtest-cluster-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	c := &Cluster{tb: tb, dir: dir, port: freePort(tb)}
	c.own()
	pwfile := filepath.Join(c.dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	c.run("initdb", "-D", c.data(), "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync")
	tb.Cleanup(c.stop)
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// own gives the cluster's directory to the postgres user when the tests
// run as root (PostgreSQL refuses to run as root).
func (c *Cluster) own() {
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		c.tb.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		c.tb.Fatal(err)
	}
}

// URL is the URL of database postgres on the cluster, with password.
func (c *Cluster) URL(password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// Addr is the cluster's host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Start starts the server and waits until it accepts connections. It may
// be called from another goroutine (after the test ended it does nothing);
// a failure is reported with Errorf.
func (c *Cluster) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.started = true
	if err := c.exec("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "start",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)); err != nil {
		c.tb.Errorf("start the test cluster: %v", err)
	}
}

// Stop shuts the server down as an operator or a failover would (a fast
// shutdown: sessions are ended) and waits until it is down; Start starts
// it again.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started || c.stopped {
		return
	}
	if err := c.exec("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop"); err != nil {
		c.tb.Errorf("stop the test cluster: %v", err)
	}
	c.started = false
}

func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.started {
		if err := c.exec("pg_ctl", "-D", c.data(), "-m", "immediate", "stop"); err != nil {
			c.tb.Errorf("stop the test cluster: %v", err)
		}
	}
}

func (c *Cluster) run(program string, args ...string) {
	c.tb.Helper()
	if err := c.exec(program, args...); err != nil {
		c.tb.Fatal(err)
	}
}

// exec runs one of PostgreSQL's programs, as the postgres user when root.
func (c *Cluster) exec(program string, args ...string) error {
	path := filepath.Join(binDir(), program)
	cmd := exec.Command(path, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", program, err, out)
	}
	return nil
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
