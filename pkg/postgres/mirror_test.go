package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// openDB returns a migrated, empty mirror database for one test.
func openDB(t testing.TB) *postgres.DB {
	t.Helper()
	db, _ := openDBURL(t)
	return db
}

// openDBURL is openDB that also returns the database's URL.
func openDBURL(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := open(t, url)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db, url
}

func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func seq[T any](rows []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func testUsers(n int) []model.User {
	us := make([]model.User, n)
	for i := range us {
		id := int64(10 + 3*i)
		us[i] = model.User{
			ID: id, Username: fmt.Sprintf("user%d", id), FirstName: "First", LastName: fmt.Sprintf("Last %d", id),
			Name: fmt.Sprintf("First Last %d", id), Email: fmt.Sprintf("user%d@example.test", id),
			DepartmentID: ptr(int64(i % 3)), DepartmentName: "R&D", Activated: true, AssetsCount: int32(i % 4),
			CompanyIDs: []int64{1, 2}, Groups: []string{"Staff"},
			StartDate: ptr(time.Date(2024, 2, 19, 0, 0, 0, 0, time.UTC)),
			CreatedAt: ptr(time.Date(2024, 2, 14, 9, 31, 7, 0, time.UTC)),
		}
	}
	return us
}

func liveIDs(t *testing.T, db *postgres.DB, table string) []int64 {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), "SELECT id FROM "+table+" WHERE deleted_at IS NULL ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func ids(us []model.User) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func TestMirrorUsersAppliesChangesAndWritesNothingWhenUnchanged(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)

	got, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Inserted: 20}, got); diff != "" {
		t.Fatalf("first run counts (-want +got):\n%s", diff)
	}

	before := pgtest.RowVersions(t, db, "users")
	got, err = db.MirrorUsers(ctx, seq(users), model.DeleteGuard{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Unchanged: 20}, got); diff != "" {
		t.Fatalf("unchanged run counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
		t.Fatalf("a run with no change rewrote rows (-before +after):\n%s", diff)
	}

	// One update, one vanished, one new.
	changed := slices.Clone(users[1:])
	changed[0].Email = "new@example.test"
	changed = append(changed, model.User{ID: 1000, Username: "newbie", FirstName: "New", Name: "New"})
	got, err = db.MirrorUsers(ctx, seq(changed), model.DeleteGuard{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Inserted: 1, Updated: 1, Deleted: 1, Unchanged: 18}, got); diff != "" {
		t.Fatalf("changed run counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append(ids(users[1:]), 1000), liveIDs(t, db, "users")); diff != "" {
		t.Fatalf("live ids (-want +got):\n%s", diff)
	}

	// The vanished user comes back.
	got, err = db.MirrorUsers(ctx, seq(append(changed, users[0])), model.DeleteGuard{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 21, Updated: 1, Unchanged: 20}, got); diff != "" {
		t.Fatalf("restore run counts (-want +got):\n%s", diff)
	}
	if n := len(liveIDs(t, db, "users")); n != 21 {
		t.Fatalf("live users after restore = %d, want 21", n)
	}
}

// TestMirrorUsersRefusesMassDelete: MirrorUsers applies the guard (its
// rule is tested in pkg/model) and a refused run writes nothing.
func TestMirrorUsersRefusesMassDelete(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		next  []model.User
		guard model.DeleteGuard
		want  error
		alive int
	}{
		{name: "more than 10% vanished is refused", next: testUsers(20)[:17], want: model.ErrMassDelete, alive: 20},
		{name: "an empty upstream is refused", next: nil, want: model.ErrMassDelete, alive: 20},
		{name: "10% vanished is allowed", next: testUsers(20)[:18], alive: 18},
		{name: "allow-mass-delete lifts the guard", next: testUsers(20)[:2], guard: model.DeleteGuard{AllowMassDelete: true}, alive: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			if _, err := db.MirrorUsers(ctx, seq(testUsers(20)), model.DeleteGuard{}); err != nil {
				t.Fatal(err)
			}
			before := pgtest.RowVersions(t, db, "users")
			_, err := db.MirrorUsers(ctx, seq(tt.next), tt.guard)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := len(liveIDs(t, db, "users")); n != tt.alive {
				t.Errorf("live users = %d, want %d", n, tt.alive)
			}
			if tt.want != nil {
				if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
					t.Errorf("a refused run wrote rows (-before +after):\n%s", diff)
				}
			}
		})
	}
}

func TestMirrorUsersSourceErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(10)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	before := pgtest.RowVersions(t, db, "users")
	boom := errors.New("page 3: snipe-it answered 500")
	failing := func(yield func(*model.User, error) bool) {
		for i := range users[:5] {
			u := users[i]
			u.Email = "changed@example.test"
			if !yield(&u, nil) {
				return
			}
		}
		yield(nil, boom)
	}
	_, err := db.MirrorUsers(ctx, failing, model.DeleteGuard{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the source's error", err)
	}
	if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
		t.Fatalf("a failed run wrote rows (-before +after):\n%s", diff)
	}
}

// stage begins a users transaction (a dry run's when dryRun) and stages
// users; the transaction is rolled back when the test ends.
func stage(t *testing.T, db *postgres.DB, dryRun bool, users []model.User) model.MirrorTx[model.User] {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginUsers(ctx, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return seq(users) }); err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestDryRunListsChangesAndWritesNothing: a dry run's transaction lists
// every change Apply would make, in id order with the changed columns, and
// refuses to apply or commit.
func TestDryRunListsChangesAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)
	if _, err := db.MirrorUsers(ctx, seq(users[:19]), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MirrorUsers(ctx, seq(users[:18]), model.DeleteGuard{}); err != nil { // users[18] is soft-deleted
		t.Fatal(err)
	}
	before := pgtest.RowVersions(t, db, "users")

	next := slices.Clone(users[1:19])
	next[0].Email = "new@example.test"
	next[0].AssetsCount = 9
	next = append(next, model.User{ID: 5, Username: "early", Name: "Early"})
	tx := stage(t, db, true, next)
	vanished, err := tx.Vanished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{users[0].ID}, vanished); diff != "" {
		t.Errorf("vanished (-want +got):\n%s", diff)
	}
	var changes []model.Change
	if err := tx.Changes(ctx, vanished, func(c model.Change) { changes = append(changes, c) }); err != nil {
		t.Fatal(err)
	}
	want := []model.Change{
		{Kind: model.ChangeInsert, ID: 5, Label: "early"},
		{Kind: model.ChangeDelete, ID: users[0].ID, Label: users[0].Username},
		{Kind: model.ChangeUpdate, ID: users[1].ID, Label: users[1].Username, Columns: []string{"email", "assets_count"}},
		{Kind: model.ChangeRestore, ID: users[18].ID, Label: users[18].Username, Columns: []string{}},
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("listed changes (-want +got):\n%s", diff)
	}
	if _, err := tx.Apply(ctx, vanished); err == nil {
		t.Error("a dry run's transaction applied")
	}
	if err := tx.Commit(ctx); err == nil {
		t.Error("a dry run's transaction committed")
	}
	if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
		t.Errorf("a dry run wrote rows (-before +after):\n%s", diff)
	}
}

// TestDryRunReadsOneSnapshot: a dry run holds no lock, so a real run may
// commit while it stages. Its report must describe the mirror as its
// snapshot holds it: a row the real run just rewrote to what the dry run
// stages is still a change from the dry run's point of view — it must not
// be staged as "unchanged" because a digest lookup saw the newer version.
func TestDryRunReadsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	next := slices.Clone(users)
	next[3].City = "Elsewhere"

	dry, err := db.BeginUsers(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dry.Rollback(ctx)
	// The real run commits after the dry run began, before it stages.
	if _, err := db.MirrorUsers(ctx, seq(next), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dry.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return seq(next) }); err != nil {
		t.Fatal(err)
	}
	var changes []model.Change
	if err := dry.Changes(ctx, nil, func(c model.Change) { changes = append(changes, c) }); err != nil {
		t.Fatal(err)
	}
	want := []model.Change{{Kind: model.ChangeUpdate, ID: users[3].ID, Label: users[3].Username, Columns: []string{"city"}}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("the dry run's changes (-want +got):\n%s", diff)
	}
}

// TestApplyDeletesOnlyTheIDsGiven: which vanished rows go is the caller's
// decision (and an incremental run's deletions come from upstream, not
// from what did not come): Apply soft-deletes the live rows among the ids
// it is given and nothing else.
func TestApplyDeletesOnlyTheIDsGiven(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MirrorUsers(ctx, seq(users[1:]), model.DeleteGuard{}); err != nil { // users[0] is soft-deleted
		t.Fatal(err)
	}
	tx := stage(t, db, false, users[4:])
	vanished, err := tx.Vanished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids(users[1:4]), vanished); diff != "" {
		t.Errorf("vanished (-want +got):\n%s", diff)
	}
	// users[2] is kept; users[0] is already deleted and 999 unknown: not counted.
	got, err := tx.Apply(ctx, []int64{users[0].ID, users[1].ID, users[3].ID, 999})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 16, Deleted: 2, Unchanged: 16}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]int64{users[2].ID}, ids(users[4:])...), liveIDs(t, db, "users")); diff != "" {
		t.Errorf("live ids (-want +got):\n%s", diff)
	}
}

func TestMirrorAssetsRepeatedRowLastWins(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	assets := []model.Asset{
		{ID: 1, AssetTag: "A1", StatusType: "deployable", PurchaseCost: "1299.00", CustomFields: map[string]string{"_snipeit_mac_1": "aa"}},
		{ID: 2, AssetTag: "A2", StatusType: "deployable"},
		{ID: 1, AssetTag: "A1", StatusType: "archived", PurchaseCost: "1299.00"},
	}
	got, err := db.MirrorAssets(ctx, seq(assets), model.DeleteGuard{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 2, Inserted: 2}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	var status, cost, fields string
	if err := db.Pool().QueryRow(ctx, "SELECT status_type, purchase_cost::text, custom_fields::text FROM assets WHERE id = 1").Scan(&status, &cost, &fields); err != nil {
		t.Fatal(err)
	}
	if status != "archived" || cost != "1299.00" || fields != "{}" {
		t.Errorf("asset 1 = (%q, %q, %q), want the last version (archived, 1299.00, {})", status, cost, fields)
	}
}

func TestTryLockSyncAllowsOneHolder(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	release, err := db.TryLockSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.TryLockSync(ctx); !errors.Is(err, model.ErrLocked) {
		t.Fatalf("second lock: err = %v, want ErrLocked", err)
	}
	release(ctx)
	release(ctx) // a second release is harmless
	again, err := db.TryLockSync(ctx)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again(ctx)
}

func TestRunsAreRecordedAndAbandonedOnesFailed(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	stale, err := db.StartRun(ctx, model.ScopeUsers, "schedule", "usersync-123")
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.AbandonRuns(ctx)
	if err != nil || n != 1 {
		t.Fatalf("AbandonRuns = %d, %v; want 1 run", n, err)
	}
	id, err := db.StartRun(ctx, model.ScopeAssets, "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, id, model.RunSucceeded, model.RunCounts{Fetched: 3, Inserted: 3}, ""); err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID       int64
		Status   string
		Fetched  int64
		Finished bool
		Error    bool
	}
	rows, err := db.Pool().Query(ctx, "SELECT id, status, fetched, finished_at IS NOT NULL, error IS NOT NULL FROM sync_runs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.Status, &r.Fetched, &r.Finished, &r.Error); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []row{{ID: stale, Status: "failed", Finished: true, Error: true}, {ID: id, Status: "succeeded", Fetched: 3, Finished: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync_runs (-want +got):\n%s", diff)
	}
}

// TestStageStopsTheSourceWhenTheCopyBackendDies terminates the backend
// running the staging COPY while the source is blocked (a slow page):
// Stage cancels the source's context, waits for it, and returns the
// database's error; nothing is written.
func TestStageStopsTheSourceWhenTheCopyBackendDies(t *testing.T) {
	ctx := context.Background()
	db, url := openDBURL(t)
	users := testUsers(700)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	before := pgtest.RowVersions(t, db, "users")

	blocked := make(chan struct{})
	var returned bool
	slow := func(ctx context.Context) iter.Seq2[*model.User, error] {
		return func(yield func(*model.User, error) bool) {
			for i := range users[:600] { // past the first batch: the COPY is streaming
				u := users[i]
				u.City = "Elsewhere"
				if !yield(&u, nil) {
					return
				}
			}
			close(blocked)
			select {
			case <-ctx.Done():
				yield(nil, context.Cause(ctx))
			case <-time.After(time.Minute):
				yield(nil, errors.New("never stopped"))
			}
			returned = true
		}
	}
	tx, err := db.BeginUsers(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	done := make(chan error)
	go func() {
		_, err := tx.Stage(ctx, slow)
		done <- err
	}()
	<-blocked
	pgtest.TerminateBackend(t, url, "COPY stage_users")
	err = <-done
	if !errors.Is(err, model.ErrUnavailable) || !strings.Contains(err.Error(), "57P01") {
		t.Errorf("err = %v, want the database's termination (unavailable)", err)
	}
	if !returned {
		t.Error("Stage returned before the source did")
	}
	tx.Rollback(ctx)
	if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
		t.Errorf("rows written (-before +after):\n%s", diff)
	}
}

// waitFor polls query (one boolean) on db until it is true, and fails
// after a deadline. It does not end the test: sources and callbacks call
// it from the store's goroutines.
func waitFor(db *postgres.DB, what, query string, args ...any) error {
	err := eventually.Wait(context.Background(), 20*time.Second, func() error {
		var ok bool
		if err := db.Pool().QueryRow(context.Background(), query, args...).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s: %w", what, err)
	}
	return nil
}

// TestMirrorOutlivesShortServerTimeouts writes a scope as a role whose
// statement_timeout and idle_in_transaction_session_timeout are 100 ms,
// far below a real sync's COPY (open for the whole fetch) and its idle
// spells (vanished rows looked up one by one upstream): the transaction
// sets its own and commits. A dry run's transaction, and the one its
// digest lookups use, outlive them too.
func TestMirrorOutlivesShortServerTimeouts(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		t.Run(map[bool]string{false: "a real run", true: "a dry run"}[dryRun], func(t *testing.T) {
			ctx := context.Background()
			admin, url := openDBURL(t)
			users := testUsers(700)
			if _, err := admin.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
				t.Fatal(err)
			}
			db := open(t, pgtest.NewRole(t, url,
				"GRANT SELECT, INSERT, UPDATE ON users, assets TO %[1]s",
				"ALTER ROLE %[1]s SET statement_timeout = '100ms'",
				"ALTER ROLE %[1]s SET idle_in_transaction_session_timeout = '100ms'"))

			// The COPY waits on the source, while the lookups' transaction
			// idles; then the transaction idles while a vanished row
			// would be checked upstream: each for four times the timeout
			// (or until the backend is gone, when the timeout killed it).
			const copyHeld = `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
				AND query LIKE 'COPY stage_users%' AND state = 'active' AND now() - query_start < interval '400ms')`
			const idleHeld = `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
				AND state = 'idle in transaction' AND now() - state_change < interval '400ms')`
			slow := func(yield func(*model.User, error) bool) {
				for i := range users[1:] {
					u := users[1+i]
					if i == 600 {
						if err := waitFor(admin, "the COPY to outlive statement_timeout", copyHeld); err != nil {
							yield(nil, err)
							return
						}
					}
					u.City = "Elsewhere"
					if !yield(&u, nil) {
						return
					}
				}
			}
			tx, err := db.BeginUsers(ctx, dryRun)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return slow }); err != nil {
				t.Fatalf("stage under short server timeouts: %v", err)
			}
			if err := waitFor(admin, "the transaction to idle past idle_in_transaction_session_timeout", idleHeld); err != nil {
				t.Fatal(err)
			}
			vanished, err := tx.Vanished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dryRun {
				n := 0
				if err := tx.Changes(ctx, vanished, func(model.Change) { n++ }); err != nil || n != 700 {
					t.Fatalf("changes: %d, %v; want 700", n, err)
				}
				return
			}
			got, err := tx.Apply(ctx, vanished)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(model.RunCounts{Fetched: 699, Updated: 699, Deleted: 1}, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSyncLockOutlivesIdleSessionTimeout holds the sync lock as a role
// whose idle_session_timeout is 100 ms: the lock's session idles for the
// whole sync and must not be ended, or a second sync would start.
func TestSyncLockOutlivesIdleSessionTimeout(t *testing.T) {
	ctx := context.Background()
	admin, url := openDBURL(t)
	db := open(t, pgtest.NewRole(t, url, "ALTER ROLE %[1]s SET idle_session_timeout = '100ms'"))
	release, err := db.TryLockSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release(ctx)
	if err := waitFor(admin, "the lock's session to idle past idle_session_timeout", `SELECT NOT EXISTS (
		SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND now() - a.state_change < interval '400ms')`); err != nil {
		t.Fatal(err)
	}
	second, err := admin.TryLockSync(ctx)
	if err == nil {
		second(ctx)
	}
	if !errors.Is(err, model.ErrLocked) {
		t.Fatalf("a second sync's lock: err = %v, want ErrLocked (the first's session was ended?)", err)
	}
}
