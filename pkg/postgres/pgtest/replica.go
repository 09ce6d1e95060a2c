package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replication is a PostgreSQL primary and a hot standby that streams its
// WAL, as CloudNativePG runs them: the standby was made from the primary by
// pg_basebackup -R and answers read-only queries. Both are servers of
// their own, started for one test from the PostgreSQL binaries on the
// machine (PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else
// PATH), each with a data directory under a temporary directory and a port
// of its own, so the machine's server is never touched. They are stopped
// and removed when the test ends. Without the binaries the test is skipped
// — under CI it fails.
//
// The servers trust every local connection and run with fsync off: they
// are for tests only.
type Replication struct {
	Primary *Server
	Standby *Server
}

// Server is one PostgreSQL server of a Replication.
type Server struct {
	name string
	bin  *binaries
	dir  string // the data directory
	port int
	log  string // the server's stderr, shown when the test fails

	cmd  *exec.Cmd
	done chan error
}

// StartReplication starts a primary and a streaming hot standby of it (a
// second or three on a 2-core machine) and waits until the standby
// streams.
func StartReplication(tb testing.TB) *Replication {
	tb.Helper()
	bin, err := findBinaries()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("streaming replica: %v", err)
		}
		tb.Skipf("streaming replica: %v", err)
	}
	root, err := os.MkdirTemp("", "pgrepl")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := bin.own(root); err != nil {
		tb.Fatal(err)
	}

	r := &Replication{
		Primary: &Server{name: "primary", bin: bin, dir: filepath.Join(root, "primary"), log: filepath.Join(root, "primary.log")},
		Standby: &Server{name: "standby", bin: bin, dir: filepath.Join(root, "standby"), log: filepath.Join(root, "standby.log")},
	}
	for _, s := range []*Server{r.Primary, r.Standby} {
		tb.Cleanup(func() {
			s.stop(syscall.SIGQUIT) // immediate: nothing is kept
			if tb.Failed() {
				if b, err := os.ReadFile(s.log); err == nil {
					tb.Logf("%s log:\n%s", s.name, b)
				}
			}
		})
		if s.port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
	}

	p := r.Primary
	if err := bin.run("initdb", "--no-sync", "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C",
		"--pgdata="+p.dir); err != nil {
		tb.Fatal(err)
	}
	if err := appendConf(p.dir, p.port,
		"wal_level = replica", "max_wal_senders = 4", "wal_keep_size = '64MB'", "hot_standby = on",
		"fsync = off", "full_page_writes = off", "shared_buffers = '16MB'", "max_connections = 60"); err != nil {
		tb.Fatal(err)
	}
	p.Start(tb)
	// -R writes standby.signal and primary_conninfo; the copied
	// postgresql.conf gets the standby's own port appended.
	if err := bin.run("pg_basebackup", "--host=127.0.0.1", "--port="+strconv.Itoa(p.port), "--username=postgres",
		"--pgdata="+r.Standby.dir, "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast", "--no-sync"); err != nil {
		tb.Fatal(err)
	}
	if err := appendConf(r.Standby.dir, r.Standby.port); err != nil {
		tb.Fatal(err)
	}
	r.Standby.Start(tb)
	r.waitStreaming(tb)
	return r
}

// URL is the postgres:// URL of database on the server.
func (s *Server) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	s.cmd = s.bin.command("postgres", "-D", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", s.name, err)
	}
	s.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			_ = c.Close(ctx)
			return
		}
		select {
		case err := <-s.done:
			s.done <- err
			b, _ := os.ReadFile(s.log)
			tb.Fatalf("%s exited while starting (%v):\n%s", s.name, err, b)
		case <-ctx.Done():
			tb.Fatalf("%s does not accept connections: %v", s.name, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop shuts the server down as an operator or a failover would (fast
// shutdown: sessions are ended) and waits until it is gone.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if !s.stop(syscall.SIGINT) {
		tb.Fatalf("%s did not stop within 60 s", s.name)
	}
}

// stop sends sig to a running server and waits up to a minute for it to
// exit; it reports whether the server is down.
func (s *Server) stop(sig syscall.Signal) bool {
	if s.cmd == nil {
		return true
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
		s.cmd = nil
		return true
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		return false
	}
}

// NewDatabase creates an empty database on the primary, drops it when the
// test ends, and returns its URL on the primary and on the standby once
// the standby has it.
func (r *Replication) NewDatabase(tb testing.TB) (primaryURL, standbyURL string) {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "usersync_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, drop, err := Recreate(ctx, r.Primary.URL("postgres"), name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(drop)
	r.CatchUp(tb)
	return u, r.Standby.URL(name)
}

// CatchUp waits until the standby has replayed everything the primary
// wrote so far.
func (r *Replication) CatchUp(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lsn string
	if err := queryRow(ctx, r.Primary.URL("postgres"), "SELECT pg_current_wal_insert_lsn()::text", &lsn); err != nil {
		tb.Fatal(err)
	}
	for {
		var replayed bool
		err := queryRow(ctx, r.Standby.URL("postgres"), "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", &replayed, lsn)
		if err == nil && replayed {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("the standby has not replayed the primary's WAL up to %s: %v", lsn, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// PauseReplay makes the standby lag: it keeps receiving the primary's
// WAL but applies none of it, so its readers see the data as it was.
func (r *Replication) PauseReplay(tb testing.TB) {
	tb.Helper()
	r.standbyExec(tb, "SELECT pg_wal_replay_pause()")
}

// ResumeReplay lets the standby apply what it received.
func (r *Replication) ResumeReplay(tb testing.TB) {
	tb.Helper()
	r.standbyExec(tb, "SELECT pg_wal_replay_resume()")
}

func (r *Replication) standbyExec(tb testing.TB, q string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, r.Standby.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, q); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// waitStreaming waits until the primary reports the standby streaming.
func (r *Replication) waitStreaming(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var n int
		err := queryRow(ctx, r.Primary.URL("postgres"), "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", &n)
		if err == nil && n == 1 {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("the standby does not stream from the primary: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func queryRow(ctx context.Context, dbURL, q string, dst any, args ...any) error {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.QueryRow(ctx, q, args...).Scan(dst)
}

// appendConf sets the server's port and the given settings, listening on
// loopback only and on no Unix socket (its path could be too long).
func appendConf(dir string, port int, settings ...string) error {
	lines := append([]string{"", "# pgtest.StartReplication", "port = " + strconv.Itoa(port),
		"listen_addresses = '127.0.0.1'", "unix_socket_directories = ''"}, settings...)
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// binaries runs PostgreSQL's programs; as root, as the postgres user
// (PostgreSQL refuses to run as root).
type binaries struct {
	dir  string
	cred *syscall.Credential // nil: as the current user
}

// findBinaries locates initdb, pg_basebackup and postgres.
func findBinaries() (*binaries, error) {
	var dirs []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
	dirs = append(dirs, found...)
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	b := &binaries{}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_basebackup")); err == nil {
			b.dir = d
			break
		}
	}
	if b.dir == "" {
		return nil, errors.New("no PostgreSQL binaries (initdb, pg_basebackup, postgres): set PG_BINDIR or install postgresql")
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		b.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return b, nil
}

// versionOf reads the major version out of /usr/lib/postgresql/<v>/bin.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// own gives dir to the user the servers run as.
func (b *binaries) own(dir string) error {
	if b.cred == nil {
		return nil
	}
	return os.Chown(dir, int(b.cred.Uid), int(b.cred.Gid))
}

// command prepares program with args, as the servers' user; the process
// dies with the test binary where the kernel allows it.
func (b *binaries) command(program string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(b.dir, program), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + os.TempDir()}
	cmd.SysProcAttr = sysProcAttr(b.cred)
	return cmd
}

// run runs program to completion.
func (b *binaries) run(program string, args ...string) error {
	out, err := b.command(program, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", program, err, out)
	}
	return nil
}
