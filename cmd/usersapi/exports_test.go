package main_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// hostileCells are values a spreadsheet would run as formulas, as they
// come from Snipe-IT, and the cell each must become.
var hostileCells = map[string]struct{ in, want string }{
	"first_name": {`=HYPERLINK("http://evil.example","x")`, `'=HYPERLINK("http://evil.example","x")`},
	"last_name":  {"+1+cmd", "'+1+cmd"},
	"jobtitle":   {"@SUM(A1:A9)", "'@SUM(A1:A9)"},
	"phone":      {"-2+3", "'-2+3"},
	"mobile":     {"\t=1+1", "'\t=1+1"},
	"city":       {"-12.50", "-12.50"}, // a plain number stays a number
	"address":    {"Street 1, \"Top\"\nFloor 2", "Street 1, \"Top\"\nFloor 2"},
	"state":      {"Zoë ✓", "Zoë ✓"},
}

// TestCSVExportOfASyncedMirror feeds formula-like values through the
// Snipe-IT simulator and a real usersync sync, then exports them with
// usersapi: the cells are neutralised, the CSV parses as RFC 4180, and the
// export is in the history under the token's name.
func TestCSVExportOfASyncedMirror(t *testing.T) {
	ds := snipeittest.Generate(snipeittest.GenerateConfig{Users: 30, Assets: 20, Seed: 7})
	u := &ds.Users[len(ds.Users)-1]
	u.FirstName, u.LastName, u.JobTitle = hostileCells["first_name"].in, hostileCells["last_name"].in, hostileCells["jobtitle"].in
	u.Phone, u.Mobile, u.City = hostileCells["phone"].in, hostileCells["mobile"].in, hostileCells["city"].in
	u.Address, u.State = hostileCells["address"].in, hostileCells["state"].in
	u.Username = "=cmd|' /C calc'!A0"
	a := &ds.Assets[0]
	a.Name, a.AssetTag, a.Serial = "=1+1", "-A1", "@serial"
	a.AssignedTo = &snipeittest.Assignment{Type: snipeittest.AssignedUser, ID: u.ID}
	sim := snipeittest.Start(t, snipeittest.Config{Data: ds})

	dbURL := pgtest.NewDatabase(t) // usersync migrates it
	sync := exec.Command(binarytest.Build(t, "../usersync"), "--full")
	sync.Env = []string{"SNIPEIT_URL=" + sim.URL(), "SNIPEIT_TOKEN=" + sim.Token(), "DATABASE_URL=" + dbURL,
		"SNIPEIT_RATE_LIMIT=0", "SYNC_PROGRESS=none", "PATH=" + os.Getenv("PATH")}
	if out, err := sync.CombinedOutput(); err != nil {
		t.Fatalf("usersync --full: %v\n%s", err, out)
	}

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("finance=read:"+readToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAPI(t, "DATABASE_URL="+dbURL, "API_TOKENS_FILE="+tokens)

	resp, body := get(t, p.Base+"/users?format=csv&q=calc", readToken)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV: %d rows, %v:\n%s", len(rows), err, body)
	}
	cells := map[string]string{}
	for i, h := range rows[0] {
		cells[h] = rows[1][i]
	}
	for col, tt := range hostileCells {
		if cells[col] != tt.want {
			t.Errorf("%s: Snipe-IT's %q became cell %q, want %q", col, tt.in, cells[col], tt.want)
		}
	}
	if cells["username"] != "'=cmd|' /C calc'!A0" {
		t.Errorf("username cell %q", cells["username"])
	}

	resp, body = get(t, p.Base+fmt.Sprintf("/users/%d/assets", u.ID), readToken, "Accept", "text/csv")
	rows, err = csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if resp.StatusCode != http.StatusOK || err != nil || len(rows) < 2 {
		t.Fatalf("the user's assets as CSV: %d, %v:\n%s", resp.StatusCode, err, body)
	}
	asset := map[string]string{}
	for i, h := range rows[0] {
		asset[h] = rows[1][i]
	}
	if asset["name"] != "'=1+1" || asset["asset_tag"] != "'-A1" || asset["serial"] != "'@serial" {
		t.Errorf("asset cells name %q, asset_tag %q, serial %q", asset["name"], asset["asset_tag"], asset["serial"])
	}

	resp, body = get(t, p.Base+"/exports", readToken)
	var history []struct {
		TokenName *string           `json:"token_name"`
		Resource  string            `json:"resource"`
		Format    string            `json:"format"`
		Filters   map[string]string `json:"filters"`
		Rows      int64             `json:"rows"`
		Outcome   string            `json:"outcome"`
	}
	if err := json.Unmarshal(body, &history); err != nil || resp.StatusCode != http.StatusOK || len(history) != 2 {
		t.Fatalf("GET /exports: %d %s", resp.StatusCode, body)
	}
	newest, oldest := history[0], history[1]
	if newest.Resource != "user_assets" || oldest.Resource != "users" || oldest.Filters["q"] != "calc" || oldest.Rows != 1 ||
		oldest.TokenName == nil || *oldest.TokenName != "finance" || oldest.Outcome != "completed" || oldest.Format != "csv" {
		t.Errorf("export history: %s", body)
	}
	if strings.Contains(string(body), readToken) || strings.Contains(p.Logs.String(), readToken) {
		t.Errorf("the token is in the history or the log")
	}
}

// The grants of usersapi's database role: docs/database.md's, the one
// usersapi needed before migration 00004, and one without any write.
const (
	grantSelect  = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s"
	grantHistory = "GRANT INSERT, UPDATE, DELETE ON export_history TO %[1]s"
	grantInsert  = "GRANT INSERT ON export_history TO %[1]s"
)

// seedOldExport records an export that started 100 days ago, which the
// default retention of 90 days prunes.
func seedOldExport(t *testing.T, dbURL string) {
	t.Helper()
	onDatabase(t, dbURL, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO export_history (started_at, finished_at, resource, format, rows_sent, bytes_sent, outcome, request_id)
			VALUES (now() - interval '100 days', now() - interval '100 days', 'assets', 'json', 1, 1, 'completed', 'old-export')`)
		return err
	})
}

// onDatabase runs f on a connection of its own to dbURL (so that it works
// across restarts of the server), failing the test on an error.
func onDatabase(t *testing.T, dbURL string, f func(context.Context, *pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := f(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// exportHistory is GET /exports as the tests read it.
type exportHistory []struct {
	Resource  string `json:"resource"`
	Format    string `json:"format"`
	Rows      int64  `json:"rows"`
	Outcome   string `json:"outcome"`
	RequestID string `json:"request_id"`
}

func readHistory(t *testing.T, base string) exportHistory {
	t.Helper()
	resp, body := get(t, base+"/exports", readToken)
	var h exportHistory
	if err := json.Unmarshal(body, &h); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /exports: %d %s", resp.StatusCode, body)
	}
	return h
}

// pagedCSVExport follows the Link headers of GET /users?format=csv&limit=20
// to the end and returns the data rows it got.
func pagedCSVExport(t *testing.T, base string) int {
	t.Helper()
	rows := 0
	for url := base + "/users?format=csv&limit=20"; url != ""; {
		resp, body := get(t, url, readToken)
		records, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
		}
		rows += len(records) - 1
		url = apitest.LinkNext(t, resp.Header)
		if url != "" {
			url = base + url
		}
	}
	return rows
}

// TestExportHistoryWithLeastPrivilege runs usersapi as the role
// docs/database.md asks for — SELECT on the mirror; INSERT, UPDATE and
// DELETE on export_history — and as roles with less. With the documented
// role a paged CSV export is one row and the history is pruned; with the
// role usersapi needed before (INSERT only) each page is a row and nothing
// is pruned, both said in the log; a read-only role still serves exports
// and counts the history rows it could not write.
func TestExportHistoryWithLeastPrivilege(t *testing.T) {
	tokens := writeTokenFile(t)

	t.Run("documented role", func(t *testing.T) {
		dbURL := seedDatabase(t, genUsers(50), nil)
		seedOldExport(t, dbURL)
		p := startAPI(t, "DATABASE_URL="+pgtest.NewRole(t, dbURL, grantSelect, grantHistory), "API_TOKENS_FILE="+tokens)
		eventually.Until(t, 30*time.Second, "the old export to be pruned", func() bool {
			return metricValue(t, p.Base, "usersapi_export_history_pruned_total") == "1"
		})
		if got := pagedCSVExport(t, p.Base); got != 50 {
			t.Fatalf("the paged export sent %d users, want 50", got)
		}
		h := readHistory(t, p.Base)
		if len(h) != 1 || h[0].Resource != "users" || h[0].Format != "csv" || h[0].Rows != 50 || h[0].Outcome != "completed" {
			t.Errorf("export history %+v; want one completed export of 50 users", h)
		}
	})

	t.Run("the role before migration 00004", func(t *testing.T) {
		dbURL := seedDatabase(t, genUsers(50), nil)
		seedOldExport(t, dbURL)
		p := startAPI(t, "DATABASE_URL="+pgtest.NewRole(t, dbURL, grantSelect, grantInsert), "API_TOKENS_FILE="+tokens)
		eventually.Until(t, 30*time.Second, "the failed prune in the log", func() bool { return p.Logs.Index("could not prune the export history") >= 0 })
		if got := metricValue(t, p.Base, "usersapi_export_history_prune_failures_total"); got != "1" {
			t.Errorf("usersapi_export_history_prune_failures_total = %q, want 1", got)
		}
		if got := pagedCSVExport(t, p.Base); got != 50 {
			t.Fatalf("the paged export sent %d users, want 50", got)
		}
		h := readHistory(t, p.Base)
		if len(h) != 4 || h[3].RequestID != "old-export" {
			t.Errorf("export history %+v; want a row per page of the three and the old export, kept", h)
		}
		eventually.Until(t, 30*time.Second, "the log to say why each page is a row of its own", func() bool {
			return p.Logs.Index("may not UPDATE export_history") >= 0
		})
	})

	t.Run("read-only role", func(t *testing.T) {
		dbURL := seedDatabase(t, genUsers(50), nil)
		p := startAPI(t, "DATABASE_URL="+pgtest.NewRole(t, dbURL, grantSelect), "API_TOKENS_FILE="+tokens)
		resp, body := get(t, p.Base+"/users?format=csv", readToken)
		if rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll(); resp.StatusCode != http.StatusOK || err != nil || len(rows) != 51 {
			t.Fatalf("export as a read-only role: %d, %d rows, %v", resp.StatusCode, len(rows), err)
		}
		if got := metricValue(t, p.Base, "usersapi_export_history_failures_total"); got != "1" {
			t.Errorf("usersapi_export_history_failures_total = %q, want 1", got)
		}
		eventually.Until(t, 30*time.Second, "the failed history write in the log", func() bool { return p.Logs.Index("not recorded in export_history") >= 0 })
	})
}
