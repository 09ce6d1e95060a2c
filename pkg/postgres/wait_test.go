package postgres_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// startingServer listens on loopback and answers the first n connections
// as PostgreSQL does while it starts ("the database system is starting
// up", SQLSTATE 57P03), then passes connections through to target.
func startingServer(t *testing.T, target string, n int) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	var seen atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if seen.Add(1) <= int64(n) {
					b := pgproto3.NewBackend(c, c)
					if _, err := b.ReceiveStartupMessage(); err != nil {
						return
					}
					b.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P03",
						Message: "the database system is starting up"})
					_ = b.Flush()
					return
				}
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	return l.Addr().String()
}

func withHost(t *testing.T, dbURL, host string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

func TestWaitReadyWaitsForAServerStartingUp(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	addr := startingServer(t, u.Host, 3)
	db := open(t, withHost(t, dbURL, addr))
	var waits []postgres.Waiting
	if err := db.WaitReady(context.Background(), time.Minute, func(w postgres.Waiting) { waits = append(waits, w) }); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if len(waits) != 3 {
		t.Fatalf("%d waits, want 3 (one per connection refused while starting up): %v", len(waits), waits)
	}
	for i, w := range waits {
		if w.Addr != addr || w.Attempt != i+1 || !strings.Contains(w.Err.Error(), "starting up") || w.Next <= 0 || w.Left <= 0 {
			t.Errorf("wait %d = %+v; want address %s, attempt %d, the server's reason and the time left", i, w, addr, i+1)
		}
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Errorf("the database was not usable after the wait: %v", err)
	}
}

func TestWaitReadyGivesUpAfterItsBound(t *testing.T) {
	db := open(t, "postgres://postgres:secret-pw@"+refusingAddr(t)+"/postgres?sslmode=disable")
	var waits []postgres.Waiting
	err := db.WaitReady(context.Background(), time.Second, func(w postgres.Waiting) { waits = append(waits, w) })
	if !errors.Is(err, model.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "within 1s") {
		t.Errorf("err = %v; want unavailable, refused, and the bound", err)
	}
	if len(waits) < 2 {
		t.Errorf("%d waits in 1s, want a few", len(waits))
	}
	var left time.Duration = time.Second
	for _, w := range waits {
		if w.Left > left || strings.Contains(fmt.Sprint(w), "secret-pw") {
			t.Errorf("wait %+v: time left grows, or the password shows", w)
		}
		left = w.Left
	}

	// With no bound, one attempt.
	waits = nil
	if err := db.WaitReady(context.Background(), 0, func(w postgres.Waiting) { waits = append(waits, w) }); !errors.Is(err, syscall.ECONNREFUSED) || len(waits) != 0 {
		t.Errorf("bound 0: err = %v after %d waits; want refused after none", err, len(waits))
	}
}

// refusingAddr returns a loopback address whose port is bound, not
// listening, while the test runs: connections to it are refused, and no
// other process can take the port meanwhile. (A port listened on and
// closed again can be, by a test running beside this one, which then
// answers instead of refusing.)
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func TestWaitReadyFailsAtOnceWhenWaitingCannotHelp(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	u.Path = "/usersync_no_such_database"
	db := open(t, u.String())
	waited := false
	err := db.WaitReady(context.Background(), 5*time.Minute, func(postgres.Waiting) { waited = true })
	var pgErr *pgconn.PgError
	if waited || !errors.As(err, &pgErr) || pgErr.Code != "3D000" || errors.Is(err, model.ErrUnavailable) || !strings.Contains(err.Error(), "not retried") {
		t.Errorf("a database that does not exist: err = %v (waited %v); want 3D000 at once, said not to be retried", err, waited)
	}
}

// TestStartingUp classifies errors as a connection attempt meets them.
func TestStartingUp(t *testing.T) {
	syscallErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused: nobody listens yet", syscallErr(syscall.ECONNREFUSED), true},
		{"reset", syscallErr(syscall.ECONNRESET), true},
		{"no route yet", syscallErr(syscall.EHOSTUNREACH), true},
		{"a name that does not resolve yet", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, true},
		{"the database system is starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many clients", &pgconn.PgError{Code: "53300"}, true},
		{"the connection broke", io.ErrUnexpectedEOF, true},
		{"an attempt that timed out", context.DeadlineExceeded, true},
		{"a wrong password", &pgconn.PgError{Code: "28P01"}, false},
		{"no pg_hba.conf entry", &pgconn.PgError{Code: "28000"}, false},
		{"a database that does not exist", &pgconn.PgError{Code: "3D000"}, false},
		{"no CONNECT privilege", &pgconn.PgError{Code: "42501"}, false},
		{"a certificate not trusted", x509.UnknownAuthorityError{}, false},
		{"anything else", errors.New("server does not support SSL"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("failed to connect: %w", tt.err)
			if got := postgres.StartingUp(err); got != tt.want {
				t.Errorf("StartingUp(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}
