package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestShutdownCutsAStalledStreamWithinTheBudget: a SIGTERM while a client
// holds a stream it does not read ends within SHUTDOWN_TIMEOUT with exit
// 0 — the stream is cut when the drain budget ends, not waited for (it
// used to take the 30 s write timeout, or exit 1 after a 60 s drain, past
// Kubernetes' 30 s grace period) — and the cut stream is in the export
// history as cut.
func TestShutdownCutsAStalledStreamWithinTheBudget(t *testing.T) {
	const n = 20000
	url := seedDatabase(t, genUsers(n), nil)
	const budget = 4 * time.Second
	p := startAPI(t, "DATABASE_URL="+url, "PUBLIC_READS=true", "SHUTDOWN_DELAY=1s", "SHUTDOWN_TIMEOUT="+budget.String(),
		// Far longer than the budget: only the shutdown can cut this stream.
		"STREAM_STALL_TIMEOUT=5m")

	stalled := stall(t, p.Base+"/users", 1024)
	if stalled.resp.StatusCode != 200 {
		t.Fatalf("stream: %d", stalled.resp.StatusCode)
	}
	signalled := time.Now()
	p.Signal(t, syscall.SIGTERM)
	exited, exitErr := p.Wait(budget + 20*time.Second)
	if !exited {
		t.Fatalf("usersapi still running %s after SIGTERM with SHUTDOWN_TIMEOUT=%s", time.Since(signalled), budget)
	}
	took := time.Since(signalled)
	var ee *exec.ExitError
	if exitErr != nil {
		if errors.As(exitErr, &ee) {
			t.Errorf("exit status %d after SIGTERM, want 0", ee.ExitCode())
		} else {
			t.Errorf("exit: %v", exitErr)
		}
	}
	// The budget plus what a loaded machine adds to process exit.
	if took > budget+3*time.Second {
		t.Errorf("shutdown took %s with SHUTDOWN_TIMEOUT=%s", took.Round(time.Millisecond), budget)
	}
	if p.Logs.Index("cutting them") < 0 {
		t.Errorf("no log line says the stream was cut at shutdown")
	}

	// The client sees a cut, not a complete listing.
	rest, err := io.ReadAll(stalled.resp.Body)
	var users []json.RawMessage
	if err == nil && json.Unmarshal(append(stalled.head, rest...), &users) == nil {
		t.Errorf("the stalled stream arrived whole (%d users): it was drained, not cut", len(users))
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var outcome, format string
	var rows int64
	err = conn.QueryRow(ctx, "SELECT outcome, format, rows_sent FROM export_history").Scan(&outcome, &format, &rows)
	if err != nil || outcome != "cut" || format != "json" || rows >= n {
		t.Errorf("export history: %s %s %d rows, %v; want one cut json export", outcome, format, rows, err)
	}
}
