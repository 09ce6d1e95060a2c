package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// TestReadsFromAStreamingReplica runs usersapi with DATABASE_URL on a
// primary and DATABASE_READ_URL on a hot standby streaming from it
// (pg_basebackup -R), as with CloudNativePG's -rw and -ro services. Reads
// are served by the standby: while it lags, a user changed on the primary
// still reads as before, with its old ETag, and so do the sync status and
// the export history; the export itself is written to the primary at once.
// With the standby down, reads and /readyz answer 503 until it is back;
// with the primary down, reads and /readyz go on and only the history of
// the exports made meanwhile is lost, counted in the metrics.
func TestReadsFromAStreamingReplica(t *testing.T) {
	r := pgtest.StartReplication(t)
	primaryURL, standbyURL := r.NewDatabase(t)
	users := genUsers(30)
	seed(t, primaryURL, users, nil)
	r.CatchUp(t)
	ctx := context.Background()
	exportsOnPrimary := func() int { return countExports(t, primaryURL) }

	p := startAPI(t, "DATABASE_URL="+primaryURL, "DATABASE_READ_URL="+standbyURL, "API_TOKENS_FILE="+writeTokenFile(t))
	resp, body := get(t, p.Base+"/users/1", readToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /users/1: %d %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")

	t.Run("while the replica lags", func(t *testing.T) {
		r.PauseReplay(t)
		changed := users[0]
		changed.LastName = "Renamed"
		db, err := postgres.Open(ctx, postgres.Config{URL: primaryURL})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.MirrorUsers(ctx, seq(append([]model.User{changed}, users[1:]...)), model.DeleteGuard{}); err != nil {
			t.Fatal(err)
		}
		run, err := db.StartRun(ctx, model.ScopeUsers, "api", "usersync-api-x")
		if err != nil {
			t.Fatal(err)
		}

		// The reads come from the replica: the user as it was, still
		// matching the ETag the client holds.
		if resp, body := get(t, p.Base+"/users/1", readToken, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /users/1 while the replica lags: %d %s, want 304 for the replica's copy", resp.StatusCode, body)
		}
		if _, body := get(t, p.Base+"/sync/status", readToken); json.Valid(body) && containsRun(body, run) {
			t.Errorf("/sync/status shows run %d before the replica replayed it: %s", run, body)
		}
		// The export history is written to the primary at once, and read
		// from the replica.
		before := exportsOnPrimary()
		if resp, _ := get(t, p.Base+"/users?format=csv", readToken); resp.StatusCode != http.StatusOK {
			t.Fatalf("CSV export while the replica lags: %d", resp.StatusCode)
		}
		eventually.Until(t, 30*time.Second, "the export on the primary", func() bool { return exportsOnPrimary() == before+1 })
		if h := readHistory(t, p.Base); len(h) != before {
			t.Errorf("GET /exports shows %d exports while the replica lags, want the %d it replayed", len(h), before)
		}

		r.ResumeReplay(t)
		r.CatchUp(t)
		resp, body := get(t, p.Base+"/users/1", readToken, "If-None-Match", etag)
		if resp.StatusCode != http.StatusOK || !json.Valid(body) || resp.Header.Get("ETag") == etag {
			t.Errorf("GET /users/1 after the replica caught up: %d, ETag %q (was %q) %s", resp.StatusCode, resp.Header.Get("ETag"), etag, body)
		}
		if _, body := get(t, p.Base+"/sync/status", readToken); !containsRun(body, run) {
			t.Errorf("/sync/status after the replica caught up lacks run %d: %s", run, body)
		}
		if h := readHistory(t, p.Base); len(h) != before+1 {
			t.Errorf("GET /exports shows %d exports after the replica caught up, want %d", len(h), before+1)
		}
	})

	t.Run("while the replica is down", func(t *testing.T) {
		r.Standby.Stop()
		for _, path := range []string{"/readyz", "/users/1"} {
			if resp, body := get(t, p.Base+path, readToken); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET %s with the replica down: %d %s, want 503", path, resp.StatusCode, body)
			}
		}
		r.Standby.Start()
		eventually.Until(t, 30*time.Second, "/readyz to pass with the replica back", func() bool {
			resp, _ := get(t, p.Base+"/readyz", "")
			return resp.StatusCode == http.StatusOK
		})
		if resp, body := get(t, p.Base+"/users/1", readToken); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /users/1 with the replica back: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("while the primary is down", func(t *testing.T) {
		r.Primary.Stop()
		for _, path := range []string{"/readyz", "/users/1", "/users?limit=5"} {
			if resp, body := get(t, p.Base+path, readToken); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s with the primary down: %d %s, want 200 from the replica", path, resp.StatusCode, body)
			}
		}
		if resp, _ := get(t, p.Base+"/users?format=csv", readToken); resp.StatusCode != http.StatusOK {
			t.Errorf("CSV export with the primary down: %d, want 200", resp.StatusCode)
		}
		if got := metricValue(t, p.Base, "usersapi_export_history_failures_total"); got != "1" {
			t.Errorf("usersapi_export_history_failures_total = %q, want 1: the export's history had nowhere to go", got)
		}
		r.Primary.Start()
		before := exportsOnPrimary()
		if resp, _ := get(t, p.Base+"/users?format=csv", readToken); resp.StatusCode != http.StatusOK {
			t.Fatalf("CSV export with the primary back: %d", resp.StatusCode)
		}
		eventually.Until(t, 30*time.Second, "the export on the primary once it is back", func() bool { return exportsOnPrimary() == before+1 })
	})
}

// containsRun reports whether a /sync/status body holds run id.
func containsRun(body []byte, id int64) bool {
	var st struct {
		Scopes []struct {
			LastRun *struct {
				ID int64 `json:"id"`
			} `json:"last_run"`
		} `json:"scopes"`
	}
	if json.Unmarshal(body, &st) != nil {
		return false
	}
	for _, s := range st.Scopes {
		if s.LastRun != nil && s.LastRun.ID == id {
			return true
		}
	}
	return false
}

// countExports counts the export history of the database at dbURL.
func countExports(t *testing.T, dbURL string) int {
	t.Helper()
	var n int
	onDatabase(t, dbURL, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT count(*) FROM export_history").Scan(&n)
	})
	return n
}
