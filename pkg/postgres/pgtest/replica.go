package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replication is a PostgreSQL primary and a hot standby that streams its
// WAL, as CloudNativePG runs them: the standby was made from the primary by
// pg_basebackup -R and answers read-only queries. Both are Clusters of the
// test's own (so the machine's server is never touched), stopped and
// removed when the test ends.
type Replication struct {
	Primary  *Cluster
	Standby  *Cluster
	password string
}

// replicationPassword is the postgres user's password on both servers.
const replicationPassword = "replication-test"

// StartReplication starts a primary, makes a standby of it with
// pg_basebackup -R, starts that and waits until it streams: about three
// seconds on a 2-core machine. PostgreSQL's defaults already allow it
// (wal_level replica, ten WAL senders, hot_standby on). Without the server
// programs the test skips (fails under CI), as NewCluster does.
func StartReplication(tb testing.TB) *Replication {
	tb.Helper()
	r := &Replication{Primary: NewCluster(tb, replicationPassword), password: replicationPassword}
	r.Primary.Start()
	if tb.Failed() {
		tb.FailNow()
	}
	dir, err := os.MkdirTemp("", "pgtest-standby-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	r.Standby = &Cluster{tb: tb, dir: dir, port: freePort(tb)}
	r.Standby.own()
	// -R writes standby.signal and primary_conninfo (password included)
	// into the copy; Start gives the standby a port of its own.
	r.Standby.run("pg_basebackup", "--dbname="+r.Primary.URL(r.password), "--pgdata="+r.Standby.data(),
		"--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast", "--no-sync")
	tb.Cleanup(r.Standby.stop)
	r.Standby.Start()
	if tb.Failed() {
		tb.FailNow()
	}
	r.poll(tb, "the standby to stream from the primary", r.Primary, "SELECT count(*) = 1 FROM pg_stat_replication WHERE state = 'streaming'")
	return r
}

// PrimaryURL and StandbyURL are the URLs of database on each server.
func (r *Replication) PrimaryURL(database string) string {
	return withDatabase(r.Primary.URL(r.password), database)
}

func (r *Replication) StandbyURL(database string) string {
	return withDatabase(r.Standby.URL(r.password), database)
}

func withDatabase(u, database string) string {
	return strings.Replace(u, "/postgres?", "/"+database+"?", 1)
}

// NewDatabase creates an empty database on the primary and returns its URL
// on the primary and on the standby, once the standby has it.
func (r *Replication) NewDatabase(tb testing.TB) (primaryURL, standbyURL string) {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "usersync_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := Recreate(ctx, r.Primary.URL(r.password), name); err != nil {
		tb.Fatal(err)
	}
	r.CatchUp(tb)
	return r.PrimaryURL(name), r.StandbyURL(name)
}

// CatchUp waits until the standby has replayed everything the primary
// wrote so far.
func (r *Replication) CatchUp(tb testing.TB) {
	tb.Helper()
	var lsn string
	if err := queryRow(r.Primary.URL(r.password), "SELECT pg_current_wal_insert_lsn()::text", &lsn); err != nil {
		tb.Fatal(err)
	}
	r.poll(tb, "the standby to replay the primary's WAL up to "+lsn, r.Standby,
		"SELECT pg_last_wal_replay_lsn() >= '"+lsn+"'::pg_lsn")
}

// PauseReplay makes the standby lag: it keeps receiving the primary's WAL
// but applies none of it, so its readers see the data as it was.
func (r *Replication) PauseReplay(tb testing.TB) {
	tb.Helper()
	var ok bool
	if err := queryRow(r.Standby.URL(r.password), "SELECT pg_wal_replay_pause() IS NULL", &ok); err != nil {
		tb.Fatal(err)
	}
}

// ResumeReplay lets the standby apply what it received.
func (r *Replication) ResumeReplay(tb testing.TB) {
	tb.Helper()
	var ok bool
	if err := queryRow(r.Standby.URL(r.password), "SELECT pg_wal_replay_resume() IS NULL", &ok); err != nil {
		tb.Fatal(err)
	}
}

// poll runs q, a query of one boolean, on c until it is true, for up to 30 s.
func (r *Replication) poll(tb testing.TB, what string, c *Cluster, q string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		err := queryRow(c.URL(r.password), q, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func queryRow(dbURL, q string, dst any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.QueryRow(ctx, q).Scan(dst)
}
