package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/eventually"
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
		for id, xmin := range pgtest.RowVersions(f.t, f.db, table) {
			m[fmt.Sprintf("%s/%d", table, id)] = xmin
		}
	}
	return m
}

// rowWrites sums the row versions PostgreSQL counted for the mirror tables,
// once the command's connections are gone (their statistics flushed).
func (f *fixture) rowWrites() int64 {
	f.t.Helper()
	ctx := context.Background()
	// The test's own pool is also named usersync; only its connections
	// may be left. If others stay, the sum below is what it is.
	_ = eventually.Wait(ctx, 10*time.Second, func() error {
		var others int
		if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'usersync' AND pid <> pg_backend_pid()
			AND backend_type = 'client backend' AND query NOT LIKE '%pg_stat_activity%'`).Scan(&others); err != nil {
			f.t.Fatal(err)
		}
		if others > int(f.db.Pool().Stat().TotalConns()) {
			return errors.New("the command's connections are still open")
		}
		return nil
	})
	var n int64
	if err := f.db.Pool().QueryRow(ctx, `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
		FROM pg_stat_user_tables WHERE relname IN ('users', 'assets')`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// assertFailedRunWroteNothing checks that the run just made (what, in a
// failure message) left every mirror row as in before and is recorded in
// sync_runs as failed with an error. The mirror had one good run before.
func (f *fixture) assertFailedRunWroteNothing(before map[string]string, what string) {
	f.t.Helper()
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		f.t.Errorf("%s wrote rows (-before +after):\n%s", what, diff)
	}
	if last := f.runs()[1]; last.Status != "failed" || !last.HasError {
		f.t.Errorf("sync_runs row = %+v, want failed with an error", last)
	}
}

// requested returns a channel closed once the simulator is asked for
// path at offset.
func (f *fixture) requested(path, offset string) <-chan struct{} {
	reached := make(chan struct{})
	var once sync.Once
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Path == path && r.Query.Get("offset") == offset {
			once.Do(func() { close(reached) })
		}
	})
	return reached
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

// TestMain removes the usersync the process tests built.
func TestMain(m *testing.M) { binarytest.Main(m) }

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
			f.assertFailedRunWroteNothing(before, "a failed run")
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
	if r := f.run(); r.code != 1 || !strings.Contains(r.stdout, "more than the guard allows") || !strings.Contains(r.stdout, "10% of live rows") {
		t.Fatalf("exit %d, stdout %q: want 1 and the 10%% guard", r.code, r.stdout)
	}
}

func TestSecondConcurrentRunSkips(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	first, release := f.runHeldAt("99")

	second := f.run()
	release()
	if second.code != 0 || !strings.Contains(second.stdout, "users: skipped, another sync holds the lock") {
		t.Errorf("second run: exit %d, stdout %q; want 0 and skipped", second.code, second.stdout)
	}
	if r := <-first; r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	statuses := f.runStatuses()
	slices.Sort(statuses)
	if diff := cmp.Diff([]string{"skipped", "succeeded"}, statuses); diff != "" {
		t.Errorf("sync_runs statuses (-want +got):\n%s", diff)
	}
}

// TestLockWaitRunsAfterTheHolder: with --lock-wait a run that starts while
// another sync holds the lock waits for it and then syncs, rather than
// being skipped until the next schedule.
func TestLockWaitRunsAfterTheHolder(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	first, release := f.runHeldAt("99")

	second := make(chan result)
	go func() { second <- f.run("--lock-wait", "1m") }()
	// Each session shows its last statement: the holder's lock session and
	// the waiting run's, which asks again every second.
	conn, err := pgx.Connect(context.Background(), f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	eventually.NoError(t, 30*time.Second, "the second run to ask for the lock", func() error {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE '%pg_try_advisory_lock%'`).Scan(&n); err != nil {
			return err
		}
		if n < 2 {
			return fmt.Errorf("%d sessions asked for the lock", n)
		}
		return nil
	})
	release()
	if r := <-first; r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	r := <-second
	if r.code != 0 || strings.Contains(r.stdout, "skipped") {
		t.Fatalf("second run: exit %d, stdout %q; want 0 and synced after the first\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "another sync holds the lock: waiting for it") || !strings.Contains(r.stderr, "took the lock") {
		t.Errorf("second run's log does not say it waited for the lock:\n%s", r.stderr)
	}
	if diff := cmp.Diff([]string{"succeeded", "succeeded"}, f.runStatuses()); diff != "" {
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

// runHeldAt starts usersync with args and returns once it is waiting for
// the users page at offset (see holdPage): done receives its result after
// release is called.
func (f *fixture) runHeldAt(offset string, args ...string) (done <-chan result, release func()) {
	held, release := f.holdPage("/api/v1/users", offset)
	ch := make(chan result)
	go func() { ch <- f.run(args...) }()
	<-held
	return ch, release
}

// runStatuses returns the status of every recorded run, oldest first.
func (f *fixture) runStatuses() []string {
	f.t.Helper()
	var statuses []string
	for _, r := range f.runs() {
		statuses = append(statuses, r.Status)
	}
	return statuses
}

// holdPage makes the first request for path at offset wait until the
// returned release is called, and returns a channel closed once it does;
// later requests pass.
func (f *fixture) holdPage(path, offset string) (held <-chan struct{}, release func()) {
	reached, released := make(chan struct{}), make(chan struct{})
	var taken atomic.Bool
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Path == path && r.Query.Get("offset") == offset && taken.CompareAndSwap(false, true) {
			close(reached)
			<-released
		}
	})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	f.t.Cleanup(release)
	return reached, release
}

// TestDryRunNeverMakesARealRunSkip: a dry run takes no lock, so a real run
// that starts while it pages is not skipped (its changes would wait for
// the next schedule), and a dry run started while a real run holds the
// lock runs and reports instead of failing.
func TestDryRunNeverMakesARealRunSkip(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	f.mustRun()
	users := f.sim.Users()
	must(t, f.sim.UpdateUser(users[0].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0199" }))
	change := fmt.Sprintf("~ users %d %s: phone", users[0].ID, users[0].Username)

	dry, release := f.runHeldAt("99", "--dry-run")
	real := f.run()
	release()
	if real.code != 0 || !strings.Contains(real.stdout, fmt.Sprintf("users: %d fetched, 0 inserted, 1 updated", len(users))) {
		t.Errorf("a real run during a dry run: exit %d, stdout %q; want 0 and the change applied", real.code, real.stdout)
	}
	// The dry run read its snapshot from before the real run's commit.
	if r := <-dry; r.code != 0 || !strings.Contains(r.stdout, change) {
		t.Errorf("the dry run: exit %d, stdout %q; want 0 and %q", r.code, r.stdout, change)
	}
	if diff := cmp.Diff([]string{"succeeded", "succeeded"}, f.runStatuses()); diff != "" {
		t.Errorf("sync_runs statuses (-want +got):\n%s", diff)
	}

	// The other way round: a real run holds the lock while a dry run runs.
	must(t, f.sim.UpdateUser(users[1].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0100" }))
	realDone, release := f.runHeldAt("198")
	r := f.run("--dry-run")
	release()
	if want := fmt.Sprintf("~ users %d %s: phone", users[1].ID, users[1].Username); r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("a dry run during a real run: exit %d, stdout %q; want 0 and %q", r.code, r.stdout, want)
	}
	if r := <-realDone; r.code != 0 || !strings.Contains(r.stdout, "1 updated") {
		t.Errorf("the real run: exit %d, stdout %q; want 0 and the change applied", r.code, r.stdout)
	}
}

// TestFailedDryRunExitsNonZero: a dry run that could not compute its
// report says FAILED and exits 1, like a real run, so a script or a CI
// job checking it cannot mistake it for "no changes".
func TestFailedDryRunExitsNonZero(t *testing.T) {
	f := newFixture(t, 200, 0, snipeittest.Config{})
	f.mustRun()
	f.env["SNIPEIT_RETRIES"] = "1"
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: 503, Path: "/api/v1/users", Persistent: true})
	if r := f.run("--dry-run"); r.code != 1 || !strings.Contains(r.stdout, "users: dry run FAILED") {
		t.Errorf("a dry run against a failing Snipe-IT: exit %d, stdout %q; want 1 and FAILED", r.code, r.stdout)
	}
	f.sim.ClearFaults()
	f.env["DATABASE_URL"] = pgtest.NewDatabase(t) // never migrated
	if r := f.run("--dry-run"); r.code != 1 || !strings.Contains(r.stdout, "usersync migrate") {
		t.Errorf("a dry run on an unmigrated database: exit %d, stdout %q; want 1 and the advice to migrate", r.code, r.stdout)
	}
}

// TestTriggerIsRecordedForEachKubernetesPath: the CronJob's own Jobs,
// Jobs made from it by hand (kubectl create job --from, which copies
// SYNC_TRIGGER=schedule) and the API's Jobs each record their own trigger
// in sync_runs, read from the environment a Job gives its pod.
func TestTriggerIsRecordedForEachKubernetesPath(t *testing.T) {
	f := newFixture(t, 20, 0, snipeittest.Config{})
	minutes := time.Now().Add(-2*time.Minute).Unix() / 60
	paths := []struct {
		name, trigger, job, want string
	}{
		{"the CronJob's schedule", "schedule", fmt.Sprintf("usersync-%d", minutes), "schedule"},
		{"kubectl create job --from=cronjob/usersync", "schedule", "usersync-manual-2", "manual"},
		{"POST /sync/users", "api", "usersync-api-7xk2p", "api"},
		{"a Snipe-IT webhook", "webhook", "usersync-webhook-q9z4d", "webhook"},
	}
	var want []string
	for _, p := range paths {
		f.env["SYNC_TRIGGER"], f.env["JOB_NAME"] = p.trigger, p.job
		f.mustRun()
		want = append(want, p.name+": "+p.want)
	}
	var got []string
	for i, r := range f.runs() {
		got = append(got, paths[i].name+": "+r.Trigger)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded triggers (-want +got):\n%s", diff)
	}
	f.env["SYNC_TRIGGER"] = "cron"
	if r := f.run(); r.code != 2 || !strings.Contains(r.stderr, `trigger "cron"`) {
		t.Errorf("an unknown trigger: exit %d, stderr %q; want 2", r.code, r.stderr)
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

// TestInstancesShareAPushgateway: two installations (two Snipe-IT sites)
// push to one Pushgateway, one through PUSHGATEWAY_INSTANCE and one through
// --pushgateway-instance; each keeps its own figures, and a third that sets
// no instance pushes under {job, scope} as before.
func TestInstancesShareAPushgateway(t *testing.T) {
	gateway := pushtest.Start(t)
	sites := []struct {
		instance string
		users    int
		args     []string
	}{
		{"site-a/usersync", 30, nil},
		{"", 20, nil},
		{"site-b/usersync", 10, []string{"--pushgateway-instance", "site-b/usersync"}},
	}
	fetched := map[string]float64{}
	for _, s := range sites {
		f := newFixture(t, s.users, 0, snipeittest.Config{})
		fetched[s.instance] = float64(len(f.sim.Users()))
		f.env["PUSHGATEWAY_URL"] = gateway
		if s.args == nil {
			f.env["PUSHGATEWAY_INSTANCE"] = s.instance
		} else {
			f.env["PUSHGATEWAY_INSTANCE"] = "overridden-by-the-flag"
		}
		f.mustRun(s.args...)
	}
	fams := pushtest.Scrape(t, gateway)
	for _, s := range sites {
		labels := map[string]string{"job": "usersync", "instance": s.instance, "scope": "users", "action": "fetched"}
		if v, ok := pushtest.Value(fams, "usersync_last_run_records", labels); !ok || v != fetched[s.instance] {
			t.Errorf("%s = %v (found %v), want %v: that instance's own run", pushtest.Describe("usersync_last_run_records", labels), v, ok, fetched[s.instance])
		}
	}
	if _, ok := pushtest.Value(fams, "usersync_last_run_records", map[string]string{"instance": "overridden-by-the-flag"}); ok {
		t.Error("--pushgateway-instance did not win over PUSHGATEWAY_INSTANCE")
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
		{"bad SYNC_INCREMENTAL", map[string]string{"SYNC_INCREMENTAL": "yes please"}, nil, "SYNC_INCREMENTAL"},
		{"bad look-back", map[string]string{"SYNC_LOOKBACK": "a while"}, nil, "look-back"},
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

// terminateWhenReached starts bin with args in f's environment, sends it
// SIGTERM once reached is closed, and returns its exit status and output.
func (f *fixture) terminateWhenReached(bin string, reached <-chan struct{}, args ...string) (code int, stdout, stderr string) {
	f.t.Helper()
	cmd := exec.Command(bin, args...)
	for k, v := range f.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	must(f.t, cmd.Start())
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		f.t.Fatalf("the run never reached the held page\n%s", errOut.String())
	}
	must(f.t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestSIGTERMLeavesThePreviousMirror runs the real binary, stops it with
// SIGTERM mid-run, and checks that nothing was written and the run is
// recorded as failed.
func TestSIGTERMLeavesThePreviousMirror(t *testing.T) {
	bin := binarytest.Build(t, ".")
	f := newFixture(t, 600, 0, snipeittest.Config{})
	f.mustRun()
	before := f.versions()
	must(t, f.sim.UpdateUser(f.sim.Users()[0].ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))

	reached := f.requested("/api/v1/users", "396")
	// Hold that page so the signal lands mid-run, with rows already staged.
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultDelay, Delay: 30 * time.Second, Path: "/api/v1/users", Query: map[string]string{"offset": "396"}, Persistent: true})
	if code, stdout, stderr := f.terminateWhenReached(bin, reached); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	f.assertFailedRunWroteNothing(before, "a stopped run")
}

// TestCopyBackendKilledMidRunFailsCleanly terminates the PostgreSQL backend
// that runs the staging COPY while the source waits on a slow page (as a
// database restart or failover would): the run fails with exit 1, the
// mirror is unchanged, and the failed run is recorded on a new connection.
// Under -race this also proves the COPY feeder is joined before the source
// is stopped.
func TestCopyBackendKilledMidRunFailsCleanly(t *testing.T) {
	f := newFixture(t, 600, 0, snipeittest.Config{})
	f.mustRun()
	before := f.versions()
	must(t, f.sim.UpdateUser(f.sim.Users()[0].ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))

	reached := f.requested("/api/v1/users", "396")
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultDelay, Delay: 3 * time.Second, Path: "/api/v1/users",
		Query: map[string]string{"offset": "396"}, Times: 1})
	done := make(chan result)
	go func() { done <- f.run() }()
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("the run ended before the slow page: exit %d\n%s", r.code, r.stderr)
	}

	pgtest.TerminateBackend(t, f.dbURL, "COPY stage_users")

	r := <-done
	if r.code != 1 || !strings.Contains(r.stdout, "users: FAILED, mirror unchanged") {
		t.Fatalf("exit %d, stdout %q; want 1 and the failure summary\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	f.assertFailedRunWroteNothing(before, "the run whose COPY was killed")
}

// TestDryRunFullReportsBothScopes runs --dry-run --full with changes in
// both scopes, whose reports overlap in time (the assets scope starts as
// soon as the users' last page is in). The syncer's
// TestOnChangeIsNeverCalledConcurrently forces the overlap; this runs the
// real thing under -race.
func TestDryRunFullReportsBothScopes(t *testing.T) {
	f := newFixture(t, 2000, 600, snipeittest.Config{})
	f.mustRun("--full")
	for _, u := range f.sim.Users() {
		must(t, f.sim.UpdateUser(u.ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))
	}
	for _, a := range f.sim.Assets()[:100] {
		must(t, f.sim.DeleteAsset(a.ID))
	}
	f.env["SNIPEIT_PAGE_SIZE"] = "500"
	r := f.mustRun("--dry-run", "--full", "--allow-mass-delete")
	for _, want := range []string{
		fmt.Sprintf("users: dry run, nothing written: would insert 0, update %d", len(f.sim.Users())),
		"assets: dry run, nothing written: would insert 0, update 0, delete 100",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestGuardLetsASmallMirrorLoseAUser: 10% of 9 users is less than one, yet
// a user leaving must not stop an unattended CronJob; the floor
// (--max-delete-rows, default 10) allows it. With the floor at 0 the
// fraction alone refuses, as before.
func TestGuardLetsASmallMirrorLoseAUser(t *testing.T) {
	f := newFixture(t, 9, 0, snipeittest.Config{})
	f.mustRun()
	users := f.sim.Users()
	must(t, f.sim.DeleteUser(users[0].ID))

	f.env["SYNC_MAX_DELETE_ROWS"] = "0"
	if r := f.run(); r.code != 1 || !strings.Contains(r.stdout, "refusing mass delete") {
		t.Fatalf("with no floor: exit %d, stdout %q; want 1 and the refusal", r.code, r.stdout)
	}
	delete(f.env, "SYNC_MAX_DELETE_ROWS")
	r := f.mustRun()
	if !strings.Contains(r.stdout, "1 deleted") {
		t.Errorf("stdout %q: want 1 deleted", r.stdout)
	}
	f.assertMirrorsSimulator()

	// The zero-upstream refusal stays, whatever the floor.
	f.sim.Clear()
	if r := f.run("--max-delete-rows", "1000"); r.code != 1 || !strings.Contains(r.stdout, "returned no users") {
		t.Fatalf("an empty upstream: exit %d, stdout %q; want 1 and the refusal", r.code, r.stdout)
	}
}

// TestDryRunWithAReadOnlyRoleWritesNothing runs --dry-run --full as a role
// that may only SELECT the tables (and create temporary tables, which
// every role may by default): it reports every change, and PostgreSQL
// counts no row written.
func TestDryRunWithAReadOnlyRoleWritesNothing(t *testing.T) {
	f := newFixture(t, 300, 200, snipeittest.Config{})
	users, assets := f.sim.Users(), f.sim.Assets()
	f.mustRun("--full")
	must(t, f.sim.DeleteUser(users[2].ID))
	f.mustRun("--full") // users[2] is now soft-deleted in the mirror
	must(t, f.sim.UpdateUser(users[0].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0199" }))
	must(t, f.sim.DeleteUser(users[1].ID))
	must(t, f.sim.RestoreUser(users[2].ID))
	must(t, f.sim.AddUser(snipeittest.User{ID: 777_777, Username: "fresh", FirstName: "Fresh", Activated: true}))
	must(t, f.sim.DeleteAsset(assets[0].ID))

	f.env["DATABASE_URL"] = pgtest.NewRole(t, f.dbURL, "GRANT SELECT ON users, assets, sync_runs, sync_state, goose_db_version TO %[1]s")
	before, writes := f.versions(), f.rowWrites()
	r := f.mustRun("--dry-run", "--full")
	for _, want := range []string{
		fmt.Sprintf("~ users %d %s: phone", users[0].ID, users[0].Username),
		fmt.Sprintf("- users %d %s", users[1].ID, users[1].Username),
		"+ users 777777 fresh",
		fmt.Sprintf("- assets %d %s", assets[0].ID, assets[0].AssetTag),
		"users: dry run, nothing written: would insert 1, update",
		"assets: dry run, nothing written: would insert 0, update",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if want := fmt.Sprintf("^ users %d %s", users[2].ID, users[2].Username); !strings.Contains(r.stdout, want) {
		t.Errorf("dry-run output lacks the restore %q:\n%s", want, r.stdout)
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a dry run wrote rows:\n%s", diff)
	}
	if got := f.rowWrites(); got != writes {
		t.Errorf("pg_stat_user_tables counted %d row versions written by a dry run, want 0", got-writes)
	}
}

// TestDryRunShowsWhatTheGuardWouldRefuse: the dry run is the tool to look
// at a suspected mass delete, so it lists the changes, says a real run
// would be refused, and exits 3, without --allow-mass-delete.
func TestDryRunShowsWhatTheGuardWouldRefuse(t *testing.T) {
	f := newFixture(t, 300, 0, snipeittest.Config{})
	f.mustRun()
	before := f.versions()
	users := f.sim.Users()
	gone := users[:150]
	for _, u := range gone {
		must(t, f.sim.DeleteUser(u.ID))
	}

	r := f.run("--dry-run")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("- users %d %s", gone[0].ID, gone[0].Username),
		fmt.Sprintf("users: dry run, nothing written: would insert 0, update 0, delete %d", len(gone)),
		"users: a real run would be REFUSED: sync users: refusing mass delete",
		"… and 50 more users deletes",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	deletions := regexp.MustCompile(`(?m)^- users `)
	if n := len(deletions.FindAllString(r.stdout, -1)); n != 100 {
		t.Errorf("%d deletions listed, want the first 100", n)
	}

	// --max-changes 0 lists every one.
	r = f.run("--dry-run", "--max-changes", "0")
	if n := len(deletions.FindAllString(r.stdout, -1)); r.code != 3 || n != len(gone) {
		t.Errorf("with --max-changes 0: exit %d, %d deletions listed; want 3 and %d", r.code, n, len(gone))
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a dry run wrote rows:\n%s", diff)
	}
}

// TestConfigProblemsAreReportedTogether: a new user fixing one setting per
// run would need as many runs as mistakes.
func TestConfigProblemsAreReportedTogether(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"SNIPEIT_RATE_LIMIT": "fast", "SNIPEIT_TIMEZONE": "Mars/Olympus", "LOG_FORMAT": "xml"}
	err := run(context.Background(), []string{"--full", "--scope", "users"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code := exitCode(err); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"DATABASE_URL", "SNIPEIT_URL", "SNIPEIT_TOKEN", "rate limit", "timezone", "log format", "--full means --scope all"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"migrate", "--help"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if code := exitCode(err); code != 0 || !strings.Contains(stdout.String(), "Usage:") ||
			!strings.Contains(stdout.String(), "-max-delete-rows") || stderr.Len() > 0 {
			t.Errorf("usersync %v: exit %d, stdout %d bytes, stderr %q; want 0 and the usage on stdout", args, code, stdout.Len(), stderr.String())
		}
	}
}

func TestFullWithAnotherScopeIsAnError(t *testing.T) {
	f := newFixture(t, 1, 0, snipeittest.Config{})
	for _, scope := range []string{"users", "assets"} {
		if r := f.run("--full", "--scope", scope); r.code != 2 || !strings.Contains(r.stderr, "--full means --scope all") {
			t.Errorf("--full --scope %s: exit %d, stderr %q; want 2", scope, r.code, r.stderr)
		}
	}
	f.mustRun("--full", "--scope", "all")
}

// TestDatabaseFailuresEndWithTheRunSummary: an unreachable database or a
// failed migration ends like any failed sync, with the one-line summary
// per scope on stdout (what a CronJob's log shows last) and exit 1.
func TestDatabaseFailuresEndWithTheRunSummary(t *testing.T) {
	f := newFixture(t, 5, 0, snipeittest.Config{})
	f.env["PUSHGATEWAY_URL"] = pushtest.Start(t)
	good := f.env["DATABASE_URL"]
	f.env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=5"
	f.env["DATABASE_WAIT"] = "1s"
	r := f.run("--full")
	for _, want := range []string{"users: FAILED, mirror unchanged: temporarily unavailable: the database at 127.0.0.1:1 did not accept a connection within 1s",
		"assets: FAILED, mirror unchanged: temporarily unavailable: the database at 127.0.0.1:1"} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("unreachable database: exit %d, stdout %q; want 1 and %q", r.code, r.stdout, want)
		}
	}
	fams := pushtest.Scrape(t, f.env["PUSHGATEWAY_URL"])
	if v, ok := pushtest.Value(fams, "usersync_last_run_success", map[string]string{"scope": "users"}); !ok || v != 0 {
		t.Errorf("usersync_last_run_success{scope=users} = %v (found %v), want 0 pushed", v, ok)
	}

	// A migration that fails: a table of that name is in the way.
	f.env["DATABASE_URL"] = good
	if _, err := f.db.Pool().Exec(context.Background(), "CREATE TABLE users (x int)"); err != nil {
		t.Fatal(err)
	}
	r = f.run()
	if r.code != 1 || !strings.Contains(r.stdout, "users: FAILED, mirror unchanged: migrate the database schema") {
		t.Errorf("failed migration: exit %d, stdout %q; want 1 and the summary", r.code, r.stdout)
	}
	if r = f.run("migrate"); r.code != 1 || !strings.Contains(r.stdout, "migrate: FAILED") {
		t.Errorf("usersync migrate: exit %d, stdout %q; want 1 and the summary", r.code, r.stdout)
	}
}

// TestMigrateWaitsForADatabaseThatStartsLate: on a first install the
// migration hook starts beside a database that needs a while (image pull,
// volume, initdb). usersync migrate waits, logging each wait with the
// server's address and never its password, and succeeds once the server
// is up; a sync waits the same way.
func TestMigrateWaitsForADatabaseThatStartsLate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		args  []string
		delay time.Duration
		want  string
	}{
		{"usersync migrate", []string{"migrate"}, 20 * time.Second, "migrate: the schema is current"},
		{"a sync", nil, 3 * time.Second, "users: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 20, 0, snipeittest.Config{})
			const password = "late-db-password-5c1e"
			cluster := pgtest.NewCluster(t, password)
			f.env["DATABASE_URL"], f.env["DATABASE_WAIT"] = cluster.URL(password), "2m"
			start := time.Now()
			timer := time.AfterFunc(tt.delay, cluster.Start)
			defer timer.Stop()
			r := f.run(tt.args...)
			if r.code != 0 || !strings.Contains(r.stdout, tt.want) {
				t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr: %s", r.code, r.stdout, tt.want, r.stderr)
			}
			if took := time.Since(start); took < tt.delay {
				t.Errorf("done in %s, before the database started (%s)", took, tt.delay)
			}
			waits := 0
			for line := range strings.Lines(r.stderr) {
				if strings.Contains(line, "does not accept connections yet") {
					waits++
					// Before the server starts, connections are refused; while it
					// starts, it answers that it is starting up (57P03).
					reason := strings.Contains(line, "connection refused") || strings.Contains(line, "the database system is starting up")
					if !strings.Contains(line, `"host":"`+cluster.Addr()+`"`) || !reason {
						t.Errorf("a wait's log line does not name the host and the reason: %s", line)
					}
				}
			}
			if waits < 2 {
				t.Errorf("%d waits logged, want one per attempt:\n%s", waits, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, password) {
				t.Errorf("the output shows the database password:\n%s", r.stderr)
			}
		})
	}
}

// TestWrongDatabasePasswordFailsAtOnce: waiting cannot fix a wrong
// password or a missing database, so usersync does not wait for them,
// whatever --database-wait says: it fails at once with the server's reason.
func TestWrongDatabasePasswordFailsAtOnce(t *testing.T) {
	f := newFixture(t, 20, 0, snipeittest.Config{})
	cluster := pgtest.NewCluster(t, "right-password")
	cluster.Start()
	u, err := url.Parse(f.dbURL)
	must(t, err)
	u.Path = "/usersync_no_such_database"
	for _, tt := range []struct {
		name, url string
		args      []string
		want      string
	}{
		{"migrate with a wrong password", cluster.URL("wrong-password-77a1"), []string{"migrate"}, "migrate: FAILED: connect to the database at " + cluster.Addr()},
		{"a sync with a wrong password", cluster.URL("wrong-password-77a1"), nil, "users: FAILED, mirror unchanged: connect to the database at " + cluster.Addr()},
		{"a database that does not exist", u.String(), []string{"migrate"}, `database "usersync_no_such_database" does not exist`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.env["DATABASE_URL"], f.env["DATABASE_WAIT"] = tt.url, "5m"
			start := time.Now()
			r := f.run(tt.args...)
			took := time.Since(start)
			if r.code != 1 || !strings.Contains(r.stdout, tt.want) || !strings.Contains(r.stdout, "not retried") {
				t.Errorf("exit %d, stdout %q; want 1 and %q, not retried", r.code, r.stdout, tt.want)
			}
			if strings.Contains(tt.url, "wrong-password") && !strings.Contains(r.stdout, "password authentication failed") {
				t.Errorf("stdout %q does not give the server's reason", r.stdout)
			}
			if took > 2*time.Second {
				t.Errorf("failed after %s, want under 2s", took)
			}
			if strings.Contains(r.stdout+r.stderr, "wrong-password-77a1") {
				t.Errorf("the output shows the password:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestJSONLogDurationsAreReadable: durations in JSON logs read as "1.5s",
// not as nanoseconds.
func TestJSONLogDurationsAreReadable(t *testing.T) {
	f := newFixture(t, 50, 0, snipeittest.Config{})
	r := f.mustRun()
	found := false
	for line := range strings.Lines(r.stderr) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		d, ok := rec["duration"]
		if !ok {
			continue
		}
		found = true
		s, isString := d.(string)
		if _, err := time.ParseDuration(s); !isString || err != nil {
			t.Errorf("duration = %v (%T) in %q; want a duration such as \"1.5s\"", d, d, line)
		}
	}
	if !found {
		t.Errorf("no log line has a duration:\n%s", r.stderr)
	}
}

// TestFailingRunNeverShowsASecret runs a failing sync with a password in
// every URL and a debug log, then greps everything it printed.
func TestFailingRunNeverShowsASecret(t *testing.T) {
	f := newFixture(t, 200, 0, snipeittest.Config{})
	const snipeSecret, pushSecret, dbSecret = "snipe-url-secret-6f1d", "push-secret-9a2c", "db-secret-3e7b"
	f.env["SNIPEIT_URL"] = strings.Replace(f.sim.URL(), "http://", "http://proxyuser:"+snipeSecret+"@", 1)
	f.env["DATABASE_URL"] = strings.Replace(f.dbURL, "postgres@", "postgres:"+dbSecret+"@", 1) // trust auth ignores it
	f.env["LOG_LEVEL"] = "debug"
	f.env["SNIPEIT_RETRIES"] = "1"
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: 503, Path: "/api/v1/users", Persistent: true})

	var out strings.Builder
	check := func(r result) {
		t.Helper()
		out.WriteString(r.stdout + r.stderr)
		for _, secret := range []string{snipeSecret, pushSecret, dbSecret, f.sim.Token()} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the output shows a secret (%s):\nstdout: %s\nstderr: %s", secret, r.stdout, r.stderr)
			}
		}
	}
	// A gateway that refuses the push, one that is not there, and a
	// Snipe-IT that redirects to its login page.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "push refused", http.StatusBadRequest)
	}))
	defer refusing.Close()
	for _, gateway := range []string{refusing.URL, "http://127.0.0.1:1"} {
		f.env["PUSHGATEWAY_URL"] = strings.Replace(gateway, "http://", "http://pusher:"+pushSecret+"@", 1)
		r := f.run()
		if r.code != 1 || !strings.Contains(r.stderr, "push metrics") {
			t.Errorf("exit %d, push error logged %v; want 1 and a logged push error", r.code, strings.Contains(r.stderr, "push metrics"))
		}
		check(r)
	}
	f.sim.ClearFaults()
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultRedirectLogin, Path: "/api/v1/users", Persistent: true})
	check(f.run())
	// Configuration errors quote URLs too.
	f.env["SNIPEIT_URL"] = "ftp://proxyuser:" + snipeSecret + "@snipe.example.com"
	f.env["PUSHGATEWAY_URL"] = "http://pusher:" + pushSecret + "@bad host:9091"
	if r := f.run(); r.code != 2 {
		t.Errorf("bad URLs: exit %d, want 2", r.code)
	} else {
		check(r)
	}
	if !strings.Contains(out.String(), "xxxxx") {
		t.Errorf("no redacted URL in the output; was any URL shown?\n%s", out.String())
	}
}

// TestSyncOutlivesShortServerTimeouts runs a whole sync as a role whose
// statement_timeout and idle_in_transaction_session_timeout are far below
// what a sync holds open: its COPY lasts the whole (here slowed) fetch.
func TestSyncOutlivesShortServerTimeouts(t *testing.T) {
	f := newFixture(t, 400, 0, snipeittest.Config{})
	f.mustRun("migrate")
	f.env["DATABASE_URL"] = pgtest.NewRole(t, f.dbURL,
		"GRANT SELECT, INSERT, UPDATE ON users, assets, sync_runs, sync_state, goose_db_version TO %[1]s",
		"ALTER ROLE %[1]s SET statement_timeout = '200ms'",
		"ALTER ROLE %[1]s SET idle_in_transaction_session_timeout = '200ms'")
	f.sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultDelay, Delay: time.Second, Path: "/api/v1/users",
		Query: map[string]string{"offset": "198"}, Times: 1})
	f.mustRun()
	f.assertMirrorsSimulator()
}
