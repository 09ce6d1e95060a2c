// Package postgres is usersync's PostgreSQL adapter (pgx/v5): the schema
// migrations runner, the mirror writer (one transaction per scope, in the
// steps of model.MirrorTx: COPY into a staging table while pages arrive,
// statements that rewrite only changed rows and soft-delete exactly the
// ids given; the single-writer advisory lock, sync_runs bookkeeping) and
// the read queries the API serves.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/pkg/model"
)

// Config configures Open.
type Config struct {
	// URL is a libpq connection string or postgres:// URL.
	URL string
	// MaxConns caps the pool unless the URL sets pool_max_conns; 0 keeps
	// pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// Logger receives migration progress and warnings about values written
	// as NULL because PostgreSQL cannot hold them; nil discards them.
	Logger *slog.Logger
	// AcquireTimeout bounds how long a read waits for a free pooled
	// connection before it fails with model.ErrBusy; 0 waits as long as
	// the caller's context allows.
	AcquireTimeout time.Duration
}

// DB is a connection pool to the mirror database.
type DB struct {
	pool *pgxpool.Pool
	// probe is a pool of one connection that only Ping uses, so that a
	// readiness check never queues behind reads that hold every pooled
	// connection (long streams to slow clients).
	probe          *pgxpool.Pool
	acquireTimeout time.Duration
	// slots holds one token per pooled connection a read holds (see
	// acquire); nil without an AcquireTimeout.
	slots  chan struct{}
	logger *slog.Logger
}

// Open parses cfg.URL and creates a pool. It does not wait for the server:
// the pool connects lazily and reconnects on its own, so a database that is
// down at start-up or restarts later is picked up without a restart.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	pcfg, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConns > 0 && !strings.Contains(cfg.URL, "pool_max_conns") {
		pcfg.MaxConns = cfg.MaxConns
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "usersync"
	}
	probeCfg := pcfg.Copy()
	probeCfg.MaxConns, probeCfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool: %w", err)
	}
	// Connects only when first pinged.
	probe, err := pgxpool.NewWithConfig(ctx, probeCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("create database probe pool: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{pool: pool, probe: probe, acquireTimeout: cfg.AcquireTimeout, logger: logger}
	if cfg.AcquireTimeout > 0 {
		db.slots = make(chan struct{}, pcfg.MaxConns)
	}
	return db, nil
}

// CheckURL reports whether url is a connection string Open accepts, with
// an error that never quotes it (it may hold a password).
func CheckURL(url string) error {
	_, err := parseURL(url)
	return err
}

func parseURL(url string) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error can echo the URL, password included; keep it out.
		return nil, fmt.Errorf("%w: parse database URL: %s", model.ErrInvalid, redactParseError(err))
	}
	return pcfg, nil
}

// redactParseError keeps only the reason of a pgx parse error, never the
// connection string it may quote.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "malformed connection string"
}

// Close closes every connection.
func (db *DB) Close() {
	db.pool.Close()
	db.probe.Close()
}

// MaxConns is the size of the pool reads share.
func (db *DB) MaxConns() int32 { return db.pool.Config().MaxConns }

// Pool exposes the pgx pool to callers in this module that need a raw
// connection (tests, benchmarks).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers, on a connection of its own: it
// does not wait for the pool that reads share.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.probe.Ping(ctx); err != nil {
		return classify(fmt.Errorf("ping database: %w", err))
	}
	return nil
}

// acquire takes a pooled connection for a read, waiting at most the
// configured AcquireTimeout: when every connection stays taken that long,
// the read fails with model.ErrBusy (503 and Retry-After to a client)
// instead of queueing until its client gives up. Give the connection back
// with release.
//
// Reads take a token per connection first, from a channel as large as the
// pool: while one is free (nearly always) that costs no timer and no
// derived context; only a read that must wait starts the timer. A
// connection taken from the pool without a token (none is, in usersapi)
// would make a token holder wait in pool.Acquire, bounded by its context.
func (db *DB) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if db.slots == nil {
		c, err := db.pool.Acquire(ctx)
		return c, classify(err)
	}
	select {
	case db.slots <- struct{}{}:
	default:
		t := time.NewTimer(db.acquireTimeout)
		select {
		case db.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, fmt.Errorf("%w: no database connection became free within %s", model.ErrBusy, db.acquireTimeout)
		case <-ctx.Done():
			t.Stop()
			return nil, classify(fmt.Errorf("wait for a database connection: %w", context.Cause(ctx)))
		}
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		<-db.slots
		return nil, classify(err)
	}
	return c, nil
}

// release gives back a connection acquire took.
func (db *DB) release(c *pgxpool.Conn) {
	c.Release()
	if db.slots != nil {
		<-db.slots
	}
}

// migrationLockID is the advisory lock goose holds while migrating, so two
// processes starting at once cannot both apply the same migration.
const migrationLockID = 0x75737273796e63 // "usrsync"

func (db *DB) goose() (*goose.Provider, func() error, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		return nil, nil, fmt.Errorf("create migration lock: %w", err)
	}
	sqldb := stdlib.OpenDBFromPool(db.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, sqldb, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		sqldb.Close()
		return nil, nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, sqldb.Close, nil
}

// Migrate applies every pending migration under an advisory lock and
// returns how many it applied.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, closeDB, err := db.goose()
	if err != nil {
		return 0, err
	}
	defer closeDB()
	results, err := p.Up(ctx)
	if err != nil {
		return 0, classify(fmt.Errorf("apply migrations: %w", err))
	}
	for _, r := range results {
		db.logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return len(results), nil
}

// SchemaCurrent reports whether every embedded migration is applied.
func (db *DB) SchemaCurrent(ctx context.Context) (bool, error) {
	p, closeDB, err := db.goose()
	if err != nil {
		return false, err
	}
	defer closeDB()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, classify(fmt.Errorf("check migrations: %w", err))
	}
	return !pending, nil
}

// classify marks errors that mean "the database cannot be reached right
// now" with model.ErrUnavailable, so the API answers 503 and the caller may
// retry; everything else is returned as is.
func classify(err error) error {
	if err == nil || errors.Is(err, model.ErrUnavailable) {
		return err
	}
	if connectionLost(err) {
		return fmt.Errorf("%w: %w", model.ErrUnavailable, err)
	}
	return err
}

// connectionLost reports whether err means the database could not be
// reached or the connection broke, as opposed to a query that failed.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection exception), 57P (operator intervention:
		// shutdown, crash), 53 (insufficient resources: too many clients).
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P")
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return pgconn.Timeout(err) ||
		errors.As(err, &netErr) ||
		errors.As(err, &connectErr) ||
		// A connection the server or the network closed mid-conversation.
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		pgconn.SafeToRetry(err)
}
