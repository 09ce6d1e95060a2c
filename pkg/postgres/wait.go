package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/usersync/usersync/pkg/model"
)

// Waiting is one wait of WaitReady for a database that is not ready yet.
type Waiting struct {
	// Addr is the server's host:port (never the URL: it may hold a
	// password).
	Addr string
	// Attempt counts the connections tried so far.
	Attempt int
	// Err is why the last one failed.
	Err error
	// Next is how long WaitReady waits before it tries again, and Left how
	// much of its bound remains after that.
	Next, Left time.Duration
}

// The backoff between connection attempts: quick at first (a restart
// takes seconds), then every few seconds, with ±50% jitter so that the
// Jobs of several installations do not knock in step.
const (
	waitInitial = 250 * time.Millisecond
	waitMax     = 5 * time.Second
	// attemptTimeout bounds one connection attempt, so that a server that
	// drops packets is tried again rather than waited on for the
	// operating system's connect timeout.
	attemptTimeout = 15 * time.Second
)

// Addr is the server's host:port, for messages.
func (db *DB) Addr() string {
	c := db.pool.Config().ConnConfig
	if strings.HasPrefix(c.Host, "/") { // a Unix socket directory
		return c.Host
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// WaitReady connects to the database, waiting up to bound for one that is
// still starting: a refused or reset connection, a host name that does
// not resolve yet, "the database system is starting up", too many clients
// or a timeout are tried again with exponential backoff and jitter, each
// wait reported to onWait (which may be nil). Anything else — a wrong
// password, a database or role that does not exist, a missing permission,
// a TLS failure — fails at once: waiting cannot cure it. With bound 0 it
// tries once. The error says which it was; after the bound it wraps
// model.ErrUnavailable.
func (db *DB) WaitReady(ctx context.Context, bound time.Duration, onWait func(Waiting)) error {
	deadline := time.Now().Add(bound)
	b := &backoff.ExponentialBackOff{InitialInterval: waitInitial, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: waitMax}
	b.Reset()
	for attempt := 1; ; attempt++ {
		err := db.tryConnect(ctx, bound, deadline)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to the database at %s: %w", db.Addr(), context.Cause(ctx))
		}
		if !startingUp(err) {
			return fmt.Errorf("connect to the database at %s (not retried: waiting cannot fix this): %w", db.Addr(), err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			if bound == 0 {
				return fmt.Errorf("%w: connect to the database at %s: %w", model.ErrUnavailable, db.Addr(), err)
			}
			return fmt.Errorf("%w: the database at %s did not accept a connection within %s (--database-wait): %w",
				model.ErrUnavailable, db.Addr(), bound, err)
		}
		next := min(b.NextBackOff(), left)
		if onWait != nil {
			onWait(Waiting{Addr: db.Addr(), Attempt: attempt, Err: err, Next: next, Left: left - next})
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("connect to the database at %s: %w", db.Addr(), context.Cause(ctx))
		case <-t.C:
		}
	}
}

// tryConnect takes a connection from the pool (opening one), which stays
// there for the work that follows.
func (db *DB) tryConnect(ctx context.Context, bound time.Duration, deadline time.Time) error {
	if bound > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, max(min(time.Until(deadline), attemptTimeout), time.Second))
		defer cancel()
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	c.Release()
	return nil
}

// startingUp reports whether err, from connecting, is one that a database
// still starting, restarting or not yet reachable gives, which waiting
// may cure.
func startingUp(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P03": // cannot_connect_now: starting up, shutting down, in recovery
		case pgErr.Code == "57P01", pgErr.Code == "57P02": // terminated by a shutdown or crash
		case strings.HasPrefix(pgErr.Code, "53"): // insufficient resources: too many clients
		case strings.HasPrefix(pgErr.Code, "08"): // connection exceptions
		default:
			// Authentication (28…), a missing database (3D000), a
			// permission (42501), and the rest: the server answered.
			return false
		}
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) || // a Service whose name does not resolve yet
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}
