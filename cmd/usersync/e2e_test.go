package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/metrics/pushtest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// fixture is a simulator and an empty database for one test.
type fixture struct {
	t     *testing.T
	sim   *snipeittest.Server
	dbURL string
	db    *postgres.DB
	env   map[string]string
}

func newFixture(t *testing.T, users, assets int, cfg snipeittest.Config) *fixture {
	t.Helper()
	cfg.Data = snipeittest.Generate(snipeittest.GenerateConfig{Users: users, Assets: assets, Seed: 11})
	if cfg.MaxResults == 0 {
		cfg.MaxResults = 100 // several pages even for small data
	}
	sim := snipeittest.Start(t, cfg)
	dbURL := pgtest.NewDatabase(t)
	db, err := postgres.Open(context.Background(), postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &fixture{t: t, sim: sim, dbURL: dbURL, db: db, env: map[string]string{
		"SNIPEIT_URL":        sim.URL(),
		"SNIPEIT_TOKEN":      sim.Token(),
		"DATABASE_URL":       dbURL,
		"SNIPEIT_RATE_LIMIT": "0",
		"SYNC_PROGRESS":      "none",
		"LOG_FORMAT":         "json",
		"SNIPEIT_TIMEOUT":    "1s",
		// Retries as in production, minus the waiting.
		"SNIPEIT_RETRY_BACKOFF": "10ms",
	}}
}

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func (f *fixture) run(args ...string) result {
	f.t.Helper()
	return f.runCtx(context.Background(), args...)
}

func (f *fixture) runCtx(ctx context.Context, args ...string) result {
	f.t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, func(k string) string { return f.env[k] }, &stdout, &stderr)
	return result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
}

func (f *fixture) mustRun(args ...string) result {
	f.t.Helper()
	r := f.run(args...)
	if r.code != 0 {
		f.t.Fatalf("usersync %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// mirror reads the live users and assets back through the API's queries.
func (f *fixture) mirror() ([]model.User, []model.Asset) {
	f.t.Helper()
	ctx := context.Background()
	var users []model.User
	if err := f.db.StreamUsers(ctx, model.UserFilter{}, func(u *model.User) error { users = append(users, *u); return nil }); err != nil {
		f.t.Fatal(err)
	}
	var assets []model.Asset
	if err := f.db.StreamAssets(ctx, model.AssetFilter{}, func(a *model.Asset) error { assets = append(assets, *a); return nil }); err != nil {
		f.t.Fatal(err)
	}
	return users, assets
}

var inUTC = cmp.Transformer("UTC", func(t time.Time) time.Time { return t.UTC() })

// assertMirrorsSimulator compares every mirrored field with the simulator.
func (f *fixture) assertMirrorsSimulator() {
	f.t.Helper()
	users, assets := f.mirror()
	wantUsers, wantAssets := f.sim.Users(), f.sim.Assets()
	if diff := cmp.Diff(wantUsers, users, inUTC); len(wantUsers)+len(users) > 0 && diff != "" {
		f.t.Fatalf("mirrored users differ from Snipe-IT (-snipe-it +mirror):\n%s", diff)
	}
	if diff := cmp.Diff(wantAssets, assets, inUTC); len(wantAssets)+len(assets) > 0 && diff != "" {
		f.t.Fatalf("mirrored assets differ from Snipe-IT (-snipe-it +mirror):\n%s", diff)
	}
}

// versions maps every mirror row (deleted ones too) to its xmin: a row
// written in any way gets a new one.
func (f *fixture) versions() map[string]string {
	f.t.Helper()
	m := map[string]string{}
	for _, table := range []string{"users", "assets"} {
		rows, err := f.db.Pool().Query(context.Background(), "SELECT id, xmin::text FROM "+table)
		if err != nil {
			f.t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var x string
			if err := rows.Scan(&id, &x); err != nil {
				f.t.Fatal(err)
			}
			m[fmt.Sprintf("%s/%d", table, id)] = x
		}
		rows.Close()
	}
	return m
}

// rowWrites sums the row versions PostgreSQL counted for the mirror tables,
// once the command's connections are gone (their statistics flushed).
func (f *fixture) rowWrites() int64 {
	f.t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var others int
		if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'usersync' AND pid <> pg_backend_pid()
			AND backend_type = 'client backend' AND query NOT LIKE '%pg_stat_activity%'`).Scan(&others); err != nil {
			f.t.Fatal(err)
		}
		// The test's own pool is also named usersync; only its connections
		// may be left.
		if others <= int(f.db.Pool().Stat().TotalConns()) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int64
	if err := f.db.Pool().QueryRow(ctx, `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
		FROM pg_stat_user_tables WHERE relname IN ('users', 'assets')`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

type runRow struct {
	Scope, Status, Trigger string
	Fetched, Inserted      int64
	Updated, Deleted       int64
	HasError               bool
}

func (f *fixture) runs() []runRow {
	f.t.Helper()
	rows, err := f.db.Pool().Query(context.Background(),
		"SELECT scope, status, trigger, fetched, inserted, updated, deleted, error IS NOT NULL FROM sync_runs ORDER BY id")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.Scope, &r.Status, &r.Trigger, &r.Fetched, &r.Inserted, &r.Updated, &r.Deleted, &r.HasError); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestFullSyncMirrorsSnipeITAndResyncWritesNothing(t *testing.T) {
	f := newFixture(t, 1500, 900, snipeittest.Config{})
	r := f.mustRun("--full")
	f.assertMirrorsSimulator()
	users, assets := len(f.sim.Users()), len(f.sim.Assets())
	if want := fmt.Sprintf("users: %d fetched, %d inserted, 0 updated, 0 deleted, 0 unchanged", users, users); !strings.Contains(r.stdout, want) {
		t.Errorf("summary %q lacks %q", r.stdout, want)
	}
	if want := fmt.Sprintf("assets: %d fetched, %d inserted", assets, assets); !strings.Contains(r.stdout, want) {
		t.Errorf("summary %q lacks %q", r.stdout, want)
	}

	before, writes := f.versions(), f.rowWrites()
	f.mustRun("--full")
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a re-sync with no upstream change rewrote rows (-before +after):\n%s", diff)
	}
	if got := f.rowWrites(); got != writes {
		t.Errorf("pg_stat_user_tables counted %d row versions for a re-sync with no change, want 0", got-writes)
	}
	want := []runRow{
		{Scope: "users", Status: "succeeded", Trigger: "cli", Fetched: int64(users), Inserted: int64(users)},
		{Scope: "assets", Status: "succeeded", Trigger: "cli", Fetched: int64(assets), Inserted: int64(assets)},
		{Scope: "users", Status: "succeeded", Trigger: "cli", Fetched: int64(users)},
		{Scope: "assets", Status: "succeeded", Trigger: "cli", Fetched: int64(assets)},
	}
	if diff := cmp.Diff(want, f.runs()); diff != "" {
		t.Errorf("sync_runs (-want +got):\n%s", diff)
	}
}

func TestUpstreamChangesShowUpExactly(t *testing.T) {
	f := newFixture(t, 600, 400, snipeittest.Config{})
	f.mustRun("--full")
	users, assets := f.sim.Users(), f.sim.Assets()

	gone, edited, restored := users[10].ID, users[20].ID, f.sim.DeletedUsers()[0].ID
	must(t, f.sim.DeleteUser(gone))
	must(t, f.sim.UpdateUser(edited, func(u *snipeittest.User) { u.Email = "new&improved@example.test"; u.JobTitle = "Chief <Tester>" }))
	must(t, f.sim.AddUser(snipeittest.User{ID: 777_777, Username: "fresh", FirstName: "Fresh", LastName: "O'Hire", Activated: true}))
	must(t, f.sim.RestoreUser(restored))
	must(t, f.sim.DeleteAsset(assets[5].ID))
	must(t, f.sim.ArchiveAsset(assets[6].ID))

	f.mustRun("--full")
	f.assertMirrorsSimulator()
	// Deleting a user or an asset also changes derived fields of related
	// users (manager, assets_count), so updates are at least the edit.
	got := f.runs()[2]
	if got.Inserted != 2 || got.Deleted != 1 || got.Updated < 1 {
		t.Errorf("users run = %+v, want 2 inserted (new, restored), 1 deleted, at least 1 updated", got)
	}
	var deletedAt *time.Time
	if err := f.db.Pool().QueryRow(context.Background(), "SELECT deleted_at FROM users WHERE id = $1", gone).Scan(&deletedAt); err != nil || deletedAt == nil {
		t.Errorf("user %d deleted upstream: deleted_at = %v, %v; want it set (soft delete)", gone, deletedAt, err)
	}

	// It comes back.
	must(t, f.sim.RestoreUser(gone))
	f.mustRun("--scope", "users")
	if err := f.db.Pool().QueryRow(context.Background(), "SELECT deleted_at FROM users WHERE id = $1", gone).Scan(&deletedAt); err != nil || deletedAt != nil {
		t.Errorf("user %d restored upstream: deleted_at = %v, %v; want NULL", gone, deletedAt, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeletionsWhilePagingDoNotDeleteLiveUsers(t *testing.T) {
	f := newFixture(t, 1000, 0, snipeittest.Config{})
	f.mustRun()
	live := f.sim.Users()
	var once sync.Once
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Path == "/api/v1/users" && r.Query.Get("offset") == "297" {
			// Two users before the position vanish mid-run.
			once.Do(func() {
				must(t, f.sim.DeleteUser(live[1].ID))
				must(t, f.sim.PurgeUser(live[2].ID))
			})
		}
	})
	f.mustRun()
	// Rows already fetched when they vanished are deleted by the next run;
	// what must never happen is a live user marked deleted.
	mirrored, _ := f.mirror()
	inMirror := map[int64]bool{}
	for _, u := range mirrored {
		inMirror[u.ID] = true
	}
	for _, u := range f.sim.Users() {
		if !inMirror[u.ID] {
			t.Errorf("user %d is live upstream but not in the mirror", u.ID)
		}
	}
	f.mustRun()
	f.assertMirrorsSimulator()
}

func TestTransientFaultsEndInACorrectMirror(t *testing.T) {
	kinds := []snipeittest.Fault{
		{Kind: snipeittest.FaultStatus, Status: 500},
		{Kind: snipeittest.FaultProxyError, Status: 502},
		{Kind: snipeittest.FaultErrorEnvelope, Message: "Too many requests"},
		{Kind: snipeittest.FaultLoginPage},
		{Kind: snipeittest.FaultTruncated},
		{Kind: snipeittest.FaultReset},
		{Kind: snipeittest.FaultHang},
		{Kind: snipeittest.FaultRateLimit, RetryAfter: 1},
		{Kind: snipeittest.FaultNoRows},
	}
	for _, fault := range kinds {
		t.Run(string(fault.Kind), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 400, 250, snipeittest.Config{})
			for _, path := range []string{"/api/v1/users", "/api/v1/hardware"} {
				fl := fault
				fl.Path, fl.Query, fl.Times = path, map[string]string{"offset": "99"}, 2
				f.sim.Inject(fl)
			}
			r := f.run("--full")
			if r.code != 0 {
				t.Fatalf("exit %d after a transient %s\n%s", r.code, fault.Kind, r.stderr)
			}
			f.assertMirrorsSimulator()
		})
	}
}

func TestPersistentFaultsLeaveThePreviousMirror(t *testing.T) {
	kinds := []snipeittest.Fault{
		{Kind: snipeittest.FaultStatus, Status: 503},
		{Kind: snipeittest.FaultErrorEnvelope, Message: "Server Error"},
		{Kind: snipeittest.FaultLoginPage},
		{Kind: snipeittest.FaultTruncated},
		{Kind: snipeittest.FaultUnauthorized},
		{Kind: snipeittest.FaultRedirectLogin},
		{Kind: snipeittest.FaultForbidden},
		{Kind: snipeittest.FaultEmpty},
	}
	for _, fault := range kinds {
		t.Run(string(fault.Kind), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 400, 0, snipeittest.Config{})
			f.mustRun()
			before := f.versions()
			// Upstream changes that a good run would apply.
			must(t, f.sim.UpdateUser(f.sim.Users()[0].ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))
			must(t, f.sim.DeleteUser(f.sim.Users()[1].ID))
			fl := fault
			fl.Path, fl.Query, fl.Persistent = "/api/v1/users", map[string]string{"offset": "198"}, true
			f.sim.Inject(fl)
			f.env["SNIPEIT_RETRIES"] = "3"

			r := f.run()
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "users: FAILED, mirror unchanged") {
				t.Errorf("stdout %q does not say the run failed", r.stdout)
			}
			if diff := cmp.Diff(before, f.versions()); diff != "" {
				t.Errorf("a failed run wrote rows (-before +after):\n%s", diff)
			}
			last := f.runs()[1]
			if last.Status != "failed" || !last.HasError {
				t.Errorf("sync_runs row = %+v, want failed with an error", last)
			}
		})
	}
}

func TestGuardRefusesToEmptyTheMirror(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	f.mustRun()
	before := f.versions()
	f.sim.Clear()

	r := f.run()
	if r.code != 1 || !strings.Contains(r.stdout, "refusing mass delete") {
		t.Fatalf("exit %d, stdout %q: want 1 and the mass-delete refusal", r.code, r.stdout)
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Fatalf("the refused run wrote rows:\n%s", diff)
	}
	f.mustRun("--allow-mass-delete")
	if users, _ := f.mirror(); len(users) != 0 {
		t.Fatalf("%d live users after an allowed mass delete, want 0", len(users))
	}
}

func TestGuardRefusesToDeleteMoreThanATenth(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	f.mustRun()
	users := f.sim.Users()
	for _, u := range users[:len(users)/10+1] {
		must(t, f.sim.DeleteUser(u.ID))
	}
	if r := f.run(); r.code != 1 || !strings.Contains(r.stdout, "above the 10% guard") {
		t.Fatalf("exit %d, stdout %q: want 1 and the 10%% guard", r.code, r.stdout)
	}
}

func TestSecondConcurrentRunSkips(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Query.Get("offset") == "99" {
			once.Do(func() { close(entered); <-release })
		}
	})
	first := make(chan result)
	go func() { first <- f.run() }()
	<-entered

	second := f.run()
	close(release)
	if second.code != 0 || !strings.Contains(second.stdout, "users: skipped, another sync holds the lock") {
		t.Errorf("second run: exit %d, stdout %q; want 0 and skipped", second.code, second.stdout)
	}
	if r := <-first; r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	statuses := []string{}
	for _, r := range f.runs() {
		statuses = append(statuses, r.Status)
	}
	slices.Sort(statuses)
	if diff := cmp.Diff([]string{"skipped", "succeeded"}, statuses); diff != "" {
		t.Errorf("sync_runs statuses (-want +got):\n%s", diff)
	}
}

func TestDryRunReportsAndWritesNothing(t *testing.T) {
	f := newFixture(t, 300, 100, snipeittest.Config{})
	f.mustRun("--full")
	before, runs := f.versions(), len(f.runs())
	users := f.sim.Users()
	must(t, f.sim.UpdateUser(users[0].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0199" }))
	must(t, f.sim.DeleteUser(users[1].ID))

	r := f.mustRun("--dry-run")
	for _, want := range []string{
		fmt.Sprintf("~ users %d %s: phone", users[0].ID, users[0].Username),
		fmt.Sprintf("- users %d %s", users[1].ID, users[1].Username),
		"users: dry run, nothing written: would insert 0, update 1, delete 1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a dry run wrote rows:\n%s", diff)
	}
	if n := len(f.runs()); n != runs {
		t.Errorf("a dry run recorded %d sync_runs rows", n-runs)
	}
}

func TestMetricsArePushedAndAFailedPushKeepsExitZero(t *testing.T) {
	f := newFixture(t, 200, 120, snipeittest.Config{})
	f.env["PUSHGATEWAY_URL"] = pushtest.Start(t)
	f.mustRun("--full")
	fams := pushtest.Scrape(t, f.env["PUSHGATEWAY_URL"])
	for _, scope := range []string{"users", "assets"} {
		labels := map[string]string{"job": "usersync", "scope": scope}
		if v, ok := pushtest.Value(fams, "usersync_last_success_timestamp_seconds", labels); !ok || time.Since(time.Unix(int64(v), 0)) > time.Minute {
			t.Errorf("%s = %v (found %v), want about now", pushtest.Describe("usersync_last_success_timestamp_seconds", labels), v, ok)
		}
		if v, ok := pushtest.Value(fams, "usersync_last_run_snipeit_requests", map[string]string{"scope": scope, "code": "200"}); !ok || v < 2 {
			t.Errorf("%s last_run_snipeit_requests{code=200} = %v (found %v), want at least 2", scope, v, ok)
		}
	}
	users := float64(len(f.sim.Users()))
	if v, _ := pushtest.Value(fams, "usersync_last_run_records", map[string]string{"scope": "users", "action": "fetched"}); v != users {
		t.Errorf("records{users,fetched} = %v, want %v", v, users)
	}

	// The mirror's rows, counted in the database after the run.
	gone := f.sim.Users()[0].ID
	must(t, f.sim.DeleteUser(gone))
	f.mustRun()
	fams = pushtest.Scrape(t, f.env["PUSHGATEWAY_URL"])
	for state, want := range map[string]float64{"live": users - 1, "deleted": 1} {
		labels := map[string]string{"scope": "users", "state": state}
		if v, ok := pushtest.Value(fams, "usersync_mirror_rows", labels); !ok || v != want {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe("usersync_mirror_rows", labels), v, ok, want)
		}
	}

	f.env["PUSHGATEWAY_URL"] = "http://127.0.0.1:1"
	r := f.run()
	if r.code != 0 || !strings.Contains(r.stderr, "push metrics") {
		t.Errorf("with a dead Pushgateway: exit %d, stderr has push error %v; want 0 and a logged error", r.code, strings.Contains(r.stderr, "push metrics"))
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	f := newFixture(t, 1, 0, snipeittest.Config{})
	base := maps.Clone(f.env)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"--nope"}, "flag provided but not defined"},
		{"bad scope", nil, []string{"--scope", "printers"}, "scope"},
		{"no database", map[string]string{"DATABASE_URL": ""}, nil, "DATABASE_URL"},
		{"no Snipe-IT", map[string]string{"SNIPEIT_URL": ""}, nil, "SNIPEIT_URL"},
		{"no token", map[string]string{"SNIPEIT_TOKEN": ""}, nil, "token"},
		{"token file missing", map[string]string{"SNIPEIT_TOKEN_FILE": "/nonexistent/token"}, nil, "token file"},
		{"bad rate limit", map[string]string{"SNIPEIT_RATE_LIMIT": "fast"}, nil, "rate limit"},
		{"bad timezone", map[string]string{"SNIPEIT_TIMEZONE": "Mars/Olympus"}, nil, "timezone"},
		{"malformed database URL", map[string]string{"DATABASE_URL": "postgres://u:secret@host:notaport/db"}, nil, "parse database URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.env = maps.Clone(base)
			maps.Copy(f.env, tt.env)
			r := f.run(tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", r.code, r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "secret") || strings.Contains(r.stderr, f.sim.Token()) {
				t.Errorf("stderr leaks a secret: %q", r.stderr)
			}
		})
	}
}

func TestTokenIsNeverLogged(t *testing.T) {
	f := newFixture(t, 50, 0, snipeittest.Config{})
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: 500, Path: "/api/v1/users", Times: 1})
	tokenFile := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(tokenFile, []byte(f.sim.Token()+"\n"), 0o600))
	f.env["SNIPEIT_TOKEN"], f.env["SNIPEIT_TOKEN_FILE"] = "", tokenFile
	f.env["LOG_LEVEL"] = "debug"
	r := f.mustRun()
	if strings.Contains(r.stderr+r.stdout, f.sim.Token()) {
		t.Fatal("the Snipe-IT token appears in the output")
	}
}

func TestMigrateAppliesTheSchema(t *testing.T) {
	f := newFixture(t, 1, 0, snipeittest.Config{})
	f.mustRun("migrate")
	var n int
	if err := f.db.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users', 'assets', 'sync_runs')").Scan(&n); err != nil || n != 3 {
		t.Fatalf("tables after migrate: %d, %v; want 3", n, err)
	}
	f.mustRun("migrate") // idempotent
}

// TestSIGTERMLeavesThePreviousMirror runs the real binary, stops it with
// SIGTERM mid-run, and checks that nothing was written and the run is
// recorded as failed.
func TestSIGTERMLeavesThePreviousMirror(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "usersync")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f := newFixture(t, 600, 0, snipeittest.Config{})
	f.mustRun()
	before := f.versions()
	must(t, f.sim.UpdateUser(f.sim.Users()[0].ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))

	reached := make(chan struct{})
	var once sync.Once
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Query.Get("offset") == "396" {
			once.Do(func() { close(reached) })
		}
	})
	// Hold that page so the signal lands mid-run, with rows already staged.
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultDelay, Delay: 30 * time.Second, Path: "/api/v1/users", Query: map[string]string{"offset": "396"}, Persistent: true})
	cmd := exec.Command(bin)
	for k, v := range f.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the run never reached the held page\n%s", stderr.String())
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1\nstdout: %s\nstderr: %s", code, err, stdout.String(), stderr.String())
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a stopped run wrote rows (-before +after):\n%s", diff)
	}
	last := f.runs()[1]
	if last.Status != "failed" || !last.HasError {
		t.Errorf("sync_runs row = %+v, want failed with an error", last)
	}
}
