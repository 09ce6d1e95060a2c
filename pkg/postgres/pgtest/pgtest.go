// Package pgtest gives tests a throwaway PostgreSQL database: one fresh
// database per test on the server named by TEST_DATABASE_URL, or on a
// postgres container started with dockertest where Docker runs. With
// neither, tests skip — except under CI (CI set), where a missing database
// is a failure. StartReplication starts a primary and a streaming hot
// standby of their own, for tests of reads from a replica.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/postgres"
)

var (
	dockerOnce sync.Once
	dockerURL  string
	dockerErr  error
)

// ServerURL returns the URL of a PostgreSQL server whose user may create
// databases, or skips (fails under CI) when none can be had.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	dockerOnce.Do(func() { dockerURL, dockerErr = startContainer() })
	if dockerErr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("no test database: TEST_DATABASE_URL is unset and dockertest failed: %v", dockerErr)
		}
		tb.Skipf("no test database: set TEST_DATABASE_URL (dockertest: %v)", dockerErr)
	}
	return dockerURL
}

// NewDatabase creates an empty database for this test, drops it when the
// test ends, and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, drop, err := Recreate(ctx, server, "usersync_test_"+hex.EncodeToString(b[:]))
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("test database: %v", err)
		}
		tb.Skipf("test database (set TEST_DATABASE_URL): %v", err)
	}
	tb.Cleanup(drop)
	return u
}

// MigratedDB opens a fresh database (NewDatabase) with the mirror's
// schema migrated in, and closes it when the test ends.
func MigratedDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: NewDatabase(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// RowVersions maps each row of table (by its id column) to its xmin: a
// row written in any way gets a new one, so equal maps taken before and
// after prove that nothing was written.
func RowVersions(tb testing.TB, db *postgres.DB, table string) map[int64]string {
	tb.Helper()
	rows, err := db.Pool().Query(context.Background(), "SELECT id, xmin::text FROM "+pgx.Identifier{table}.Sanitize())
	if err != nil {
		tb.Fatal(err)
	}
	m := map[int64]string{}
	var id int64
	var xmin string
	_, err = pgx.ForEachRow(rows, []any{&id, &xmin}, func() error {
		m[id] = xmin
		return nil
	})
	if err != nil {
		tb.Fatalf("row versions of %s: %v", table, err)
	}
	return m
}

// Recreate drops database name on server if it exists, creates it empty,
// and returns its URL (server's, with the database replaced) and a
// function that drops it. Benchmarks and the demo use it too.
func Recreate(ctx context.Context, server, name string) (string, func(), error) {
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		return "", nil, fmt.Errorf("parse database server URL: %w", err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + ident + " WITH (FORCE)", "CREATE DATABASE " + ident} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return "", nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return // the server is gone; so is the database's use
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	}
	u := &url.URL{Scheme: "postgres", Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + name}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	} else {
		u.User = url.User(cfg.User)
	}
	q := url.Values{"sslmode": {"disable"}}
	if cfg.TLSConfig != nil {
		q.Set("sslmode", "require")
	}
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// startContainer runs postgres:15 with dockertest and waits until it
// accepts connections. The container removes itself after ten minutes even
// if the test binary dies.
func startContainer() (string, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return "", fmt.Errorf("docker pool: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return "", fmt.Errorf("docker is not running: %w", err)
	}
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "postgres",
		Tag:        "15-alpine",
		Env:        []string{"POSTGRES_HOST_AUTH_METHOD=trust"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return "", fmt.Errorf("start postgres container: %w", err)
	}
	_ = res.Expire(600)
	u := "postgres://postgres@" + res.GetHostPort("5432/tcp") + "/postgres?sslmode=disable"
	pool.MaxWait = 60 * time.Second
	err = pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		return "", fmt.Errorf("wait for postgres container: %w", err)
	}
	return u, nil
}

// NewRole creates a login role for the test's database at dbURL, runs
// setup there as a superuser with the role's name substituted for %[1]s
// (grants, ALTER ROLE … SET …), and returns dbURL with the role as its
// user. The role and its privileges are dropped when the test ends.
func NewRole(tb testing.TB, dbURL string, setup ...string) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "usersync_test_role_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+ident+" LOGIN"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			tb.Errorf("drop role %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		// Its sessions first, then what it owns or was granted here.
		for _, q := range []string{
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + name + "'",
			"REASSIGN OWNED BY " + ident + " TO CURRENT_USER",
			"DROP OWNED BY " + ident,
			"DROP ROLE " + ident,
		} {
			if _, err := c.Exec(ctx, q); err != nil {
				tb.Errorf("drop role %s: %s: %v", name, q, err)
				return
			}
		}
	})
	for _, q := range setup {
		if _, err := admin.Exec(ctx, fmt.Sprintf(q, ident)); err != nil {
			tb.Fatalf("role %s: %s: %v", name, fmt.Sprintf(q, ident), err)
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.User(name)
	return u.String()
}

// TerminateBackend waits up to 10 s for an active backend in the database
// at dbURL whose query starts with queryPrefix ("COPY stage_users"), and
// terminates it as a database restart or failover would. No such backend,
// or one that survives pg_terminate_backend, fails the test.
func TerminateBackend(tb testing.TB, dbURL, queryPrefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	var pid int
	eventually.NoError(tb, 10*time.Second, fmt.Sprintf("an active backend running %q", queryPrefix), func() error {
		return c.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND starts_with(query, $1) AND state = 'active'`, queryPrefix).Scan(&pid)
	})
	var terminated bool
	if err := c.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&terminated); err != nil || !terminated {
		tb.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, terminated, err)
	}
}
