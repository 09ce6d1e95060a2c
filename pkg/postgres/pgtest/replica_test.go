package pgtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// TestReplication writes on the primary and reads on the standby: what is
// written shows there, not while replay is paused, and the standby refuses
// writes.
func TestReplication(t *testing.T) {
	r := pgtest.StartReplication(t)
	primaryURL, standbyURL := r.NewDatabase(t)
	ctx := context.Background()
	primary, err := pgx.Connect(ctx, primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(ctx)
	standby, err := pgx.Connect(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	count := func() int {
		t.Helper()
		var n int
		if err := standby.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if _, err := primary.Exec(ctx, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	r.CatchUp(t)
	if n := count(); n != 1 {
		t.Fatalf("the standby has %d rows, want 1", n)
	}
	r.PauseReplay(t)
	if _, err := primary.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("with replay paused the standby has %d rows, want the 1 from before", n)
	}
	r.ResumeReplay(t)
	r.CatchUp(t)
	if n := count(); n != 2 {
		t.Errorf("after replay resumed the standby has %d rows, want 2", n)
	}
	var pgErr interface{ SQLState() string }
	if _, err := standby.Exec(ctx, "INSERT INTO t VALUES (3)"); !errors.As(err, &pgErr) || pgErr.SQLState() != "25006" {
		t.Errorf("a write on the standby: %v, want read_only_sql_transaction", err)
	}
}
