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

// rowVersions returns each user's id and xmin: a row rewritten in any way
// gets a new xmin, so equal maps prove that nothing was written.
func rowVersions(t *testing.T, db *postgres.DB, table string) map[int64]string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), "SELECT id, xmin::text FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[int64]string{}
	for rows.Next() {
		var id int64
		var x string
		if err := rows.Scan(&id, &x); err != nil {
			t.Fatal(err)
		}
		m[id] = x
	}
	return m
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

	got, err := db.MirrorUsers(ctx, seq(users), model.MirrorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Inserted: 20}, got); diff != "" {
		t.Fatalf("first run counts (-want +got):\n%s", diff)
	}

	before := rowVersions(t, db, "users")
	got, err = db.MirrorUsers(ctx, seq(users), model.MirrorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Unchanged: 20}, got); diff != "" {
		t.Fatalf("unchanged run counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, rowVersions(t, db, "users")); diff != "" {
		t.Fatalf("a run with no change rewrote rows (-before +after):\n%s", diff)
	}

	// One update, one vanished, one new.
	changed := slices.Clone(users[1:])
	changed[0].Email = "new@example.test"
	changed = append(changed, model.User{ID: 1000, Username: "newbie", FirstName: "New", Name: "New"})
	got, err = db.MirrorUsers(ctx, seq(changed), model.MirrorOptions{})
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
	got, err = db.MirrorUsers(ctx, seq(append(changed, users[0])), model.MirrorOptions{})
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

func TestMirrorUsersRefusesMassDelete(t *testing.T) {
	ctx := context.Background()
	floor := model.MirrorOptions{MaxDeleteRows: 10}
	tests := []struct {
		name  string
		live  int // rows in the mirror before; 20 when 0
		next  []model.User
		opts  model.MirrorOptions
		want  error
		alive int
	}{
		{name: "more than 10% vanished is refused", next: testUsers(20)[:17], want: model.ErrMassDelete, alive: 20},
		{name: "an empty upstream is refused", next: nil, want: model.ErrMassDelete, alive: 20},
		{name: "10% vanished is allowed", next: testUsers(20)[:18], alive: 18},
		{name: "allow-mass-delete lifts the guard", next: testUsers(20)[:2], opts: model.MirrorOptions{AllowMassDelete: true}, alive: 2},
		{name: "a custom threshold applies", next: testUsers(20)[:15], opts: model.MirrorOptions{MaxDeleteFraction: 0.3}, alive: 15},
		// The floor: a run may always delete MaxDeleteRows rows.
		{name: "one of 9 may go under the floor", live: 9, next: testUsers(9)[1:], opts: floor, alive: 8},
		{name: "the floor allows exactly its rows", next: testUsers(20)[:10], opts: floor, alive: 10},
		{name: "one row past the floor is refused", next: testUsers(20)[:9], opts: floor, want: model.ErrMassDelete, alive: 20},
		{name: "the fraction wins when larger: 10% of 200", live: 200, next: testUsers(200)[:180], opts: floor, alive: 180},
		{name: "the fraction wins when larger: one past it", live: 200, next: testUsers(200)[:179], opts: floor, want: model.ErrMassDelete, alive: 200},
		{name: "an empty upstream is refused under the floor", live: 5, next: nil, opts: floor, want: model.ErrMassDelete, alive: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			if tt.live == 0 {
				tt.live = 20
			}
			if _, err := db.MirrorUsers(ctx, seq(testUsers(tt.live)), model.MirrorOptions{}); err != nil {
				t.Fatal(err)
			}
			before := rowVersions(t, db, "users")
			_, err := db.MirrorUsers(ctx, seq(tt.next), tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := len(liveIDs(t, db, "users")); n != tt.alive {
				t.Errorf("live users = %d, want %d", n, tt.alive)
			}
			if tt.want != nil {
				if diff := cmp.Diff(before, rowVersions(t, db, "users")); diff != "" {
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
	if _, err := db.MirrorUsers(ctx, seq(users), model.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	before := rowVersions(t, db, "users")
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
	_, err := db.MirrorUsers(ctx, failing, model.MirrorOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the source's error", err)
	}
	if diff := cmp.Diff(before, rowVersions(t, db, "users")); diff != "" {
		t.Fatalf("a failed run wrote rows (-before +after):\n%s", diff)
	}
}

func TestMirrorUsersDryRunReportsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)
	if _, err := db.MirrorUsers(ctx, seq(users), model.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	before := rowVersions(t, db, "users")

	next := slices.Clone(users[1:])
	next[0].Email = "new@example.test"
	next[0].AssetsCount = 9
	next = append(next, model.User{ID: 5, Username: "early", Name: "Early"})
	var changes []model.Change
	got, err := db.MirrorUsers(ctx, seq(next), model.MirrorOptions{DryRun: true, OnChange: func(c model.Change) { changes = append(changes, c) }})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 20, Inserted: 1, Updated: 1, Deleted: 1, Unchanged: 18}, got); diff != "" {
		t.Errorf("dry-run counts (-want +got):\n%s", diff)
	}
	want := []model.Change{
		{Kind: model.ChangeInsert, ID: 5, Label: "early"},
		{Kind: model.ChangeDelete, ID: users[0].ID, Label: users[0].Username},
		{Kind: model.ChangeUpdate, ID: users[1].ID, Label: users[1].Username, Columns: []string{"email", "assets_count"}},
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("reported changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, rowVersions(t, db, "users")); diff != "" {
		t.Errorf("a dry run wrote rows (-before +after):\n%s", diff)
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
	got, err := db.MirrorAssets(ctx, seq(assets), model.MirrorOptions{})
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

func TestMirrorUsersConfirmDeletedKeepsStillLiveRows(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(20)
	if _, err := db.MirrorUsers(ctx, seq(users), model.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	var asked []int64
	opts := model.MirrorOptions{MaxConfirm: 10, ConfirmDeleted: func(_ context.Context, ids []int64) ([]int64, error) {
		asked = ids
		return ids[:1], nil // the first is still live upstream; the paging missed it
	}}
	got, err := db.MirrorUsers(ctx, seq(users[2:]), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids(users[:2]), asked); diff != "" {
		t.Errorf("candidates asked about (-want +got):\n%s", diff)
	}
	if got.Deleted != 1 {
		t.Errorf("deleted = %d, want 1", got.Deleted)
	}
	if diff := cmp.Diff(append([]int64{users[0].ID}, ids(users[2:])...), liveIDs(t, db, "users")); diff != "" {
		t.Errorf("live ids (-want +got):\n%s", diff)
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

// TestMirrorStopsTheSourceWhenTheCopyBackendDies terminates the backend
// running the staging COPY while the source is blocked (a slow page): the
// store asks the source to stop, waits for it, and returns the database's
// error; nothing is written.
func TestMirrorStopsTheSourceWhenTheCopyBackendDies(t *testing.T) {
	ctx := context.Background()
	db, url := openDBURL(t)
	users := testUsers(700)
	if _, err := db.MirrorUsers(ctx, seq(users), model.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	before := rowVersions(t, db, "users")

	blocked, cancelled := make(chan struct{}), make(chan struct{})
	var returned bool
	slow := func(yield func(*model.User, error) bool) {
		for i := range users[:600] { // past the first batch: the COPY is streaming
			u := users[i]
			u.City = "Elsewhere"
			if !yield(&u, nil) {
				return
			}
		}
		close(blocked)
		select {
		case <-cancelled:
			yield(nil, context.Canceled)
		case <-time.After(time.Minute):
			yield(nil, errors.New("never stopped"))
		}
		returned = true
	}
	done := make(chan error)
	go func() {
		_, err := db.MirrorUsers(ctx, slow, model.MirrorOptions{CancelSource: func() { close(cancelled) }})
		done <- err
	}()
	<-blocked
	pgtest.TerminateBackend(t, url, "COPY stage_users")
	err := <-done
	if !errors.Is(err, model.ErrUnavailable) || !strings.Contains(err.Error(), "57P01") {
		t.Errorf("err = %v, want the database's termination (unavailable)", err)
	}
	if !returned {
		t.Error("MirrorUsers returned before the source did")
	}
	if diff := cmp.Diff(before, rowVersions(t, db, "users")); diff != "" {
		t.Errorf("rows written (-before +after):\n%s", diff)
	}
}

// waitFor polls query (one boolean) on db until it is true, and fails
// after a deadline. It does not end the test: sources and callbacks call
// it from the store's goroutines.
func waitFor(db *postgres.DB, what, query string, args ...any) error {
	for deadline := time.Now().Add(20 * time.Second); ; {
		var ok bool
		if err := db.Pool().QueryRow(context.Background(), query, args...).Scan(&ok); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMirrorOutlivesShortServerTimeouts runs a sync as a role whose
// statement_timeout and idle_in_transaction_session_timeout are 100 ms,
// far below a real sync's COPY (open for the whole fetch) and its idle
// spells (vanished rows looked up one by one upstream): the sync sets its
// own and succeeds.
func TestMirrorOutlivesShortServerTimeouts(t *testing.T) {
	ctx := context.Background()
	admin, url := openDBURL(t)
	users := testUsers(700)
	if _, err := admin.MirrorUsers(ctx, seq(users), model.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	db := open(t, pgtest.NewRole(t, url,
		"GRANT SELECT, INSERT, UPDATE ON users, assets TO %[1]s",
		"ALTER ROLE %[1]s SET statement_timeout = '100ms'",
		"ALTER ROLE %[1]s SET idle_in_transaction_session_timeout = '100ms'"))

	// The COPY waits on the source, then the transaction idles while a
	// vanished row is checked upstream: each for four times the timeout
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
	confirm := func(context.Context, []int64) ([]int64, error) {
		return nil, waitFor(admin, "the transaction to idle past idle_in_transaction_session_timeout", idleHeld)
	}
	got, err := db.MirrorUsers(ctx, slow, model.MirrorOptions{MaxConfirm: 10, ConfirmDeleted: confirm})
	if err != nil {
		t.Fatalf("a sync under short server timeouts failed: %v", err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 699, Updated: 699, Deleted: 1}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
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
