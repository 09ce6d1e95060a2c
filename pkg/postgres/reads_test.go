package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
)

// equalTimes compares instants, not locations: pgx reads timestamptz in
// the local zone.
var equalTimes = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// seedUsers mirrors us and then, when deleted is not empty, mirrors again
// without those ids so they end up soft-deleted.
func seedUsers(t *testing.T, db *postgres.DB, us []model.User, deleted ...int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.MirrorUsers(ctx, seq(us), model.DeleteGuard{}); err != nil {
		t.Fatalf("seed users: %v", err)
	}
	if len(deleted) == 0 {
		return
	}
	var keep []model.User
	for _, u := range us {
		if !containsID(deleted, u.ID) {
			keep = append(keep, u)
		}
	}
	if _, err := db.MirrorUsers(ctx, seq(keep), model.DeleteGuard{AllowMassDelete: true}); err != nil {
		t.Fatalf("soft-delete users: %v", err)
	}
}

func containsID(ids []int64, id int64) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

func userIDs(us []model.User) []int64 {
	out := []int64{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

// allPages follows ListUsers cursors to the end, failing on a loop.
func allUserPages(t *testing.T, db *postgres.DB, f model.UserFilter, limit int) []int64 {
	t.Helper()
	got := []int64{}
	cursor := ""
	for range 1000 {
		page, next, err := db.ListUsers(context.Background(), f, model.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListUsers(cursor %q): %v", cursor, err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d users, limit %d", len(page), limit)
		}
		got = append(got, userIDs(page)...)
		if next == "" {
			return got
		}
		cursor = next
	}
	t.Fatal("ListUsers cursors never ended")
	return nil
}

func TestGetUserReturnsMirroredDeletedAndMissing(t *testing.T) {
	db := openDB(t)
	us := testUsers(3)
	us[0].Country, us[0].Notes = "Deutschland", "<p>Hallo & tschüss</p>"
	us[0].LocationID, us[0].ManagerID = ptr(int64(7)), ptr(int64(13))
	us[0].LastLogin = ptr(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	seedUsers(t, db, us, us[2].ID)
	ctx := context.Background()

	got, err := db.GetUser(ctx, us[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&us[0], got, equalTimes); diff != "" {
		t.Errorf("GetUser(%d) (-want +got):\n%s", us[0].ID, diff)
	}

	gone, err := db.GetUser(ctx, us[2].ID)
	if err != nil {
		t.Fatalf("GetUser of a soft-deleted user: %v", err)
	}
	if gone.DeletedAt == nil || gone.Username != us[2].Username {
		t.Errorf("GetUser of a soft-deleted user = %+v, want it with DeletedAt set", gone)
	}

	if _, err := db.GetUser(ctx, 999999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("GetUser(missing) error = %v, want ErrNotFound", err)
	}
}

func TestListUsersPagesEveryUserExactlyOnce(t *testing.T) {
	db := openDB(t)
	us := testUsers(23)
	seedUsers(t, db, us, us[4].ID, us[5].ID)
	live := userIDs(append(append([]model.User{}, us[:4]...), us[6:]...))

	for _, limit := range []int{1, 5, 21, 23, 1000} {
		if diff := cmp.Diff(live, allUserPages(t, db, model.UserFilter{}, limit)); diff != "" {
			t.Errorf("limit %d: paged ids (-want +got):\n%s", limit, diff)
		}
	}
	if diff := cmp.Diff(userIDs(us), allUserPages(t, db, model.UserFilter{IncludeDeleted: true}, 4)); diff != "" {
		t.Errorf("include deleted: paged ids (-want +got):\n%s", diff)
	}
}

func TestListUsersFilters(t *testing.T) {
	db := openDB(t)
	us := testUsers(6) // ids 10, 13, 16, 19, 22, 25; departments 0,1,2,0,1,2
	us[1].Email = "Ada.Lovelace@Example.test"
	us[2].Username = "100%_real"
	us[3].LocationID = ptr(int64(4))
	us[4].Name = "Zoë Ünal"
	seedUsers(t, db, us, us[5].ID)

	tests := []struct {
		name string
		f    model.UserFilter
		want []int64
	}{
		{"email substring, any case", model.UserFilter{Query: "ada.LOVELACE"}, []int64{13}},
		{"username", model.UserFilter{Query: "user19"}, []int64{19}},
		{"name with accents, any case", model.UserFilter{Query: "zoË"}, []int64{22}},
		{"percent and underscore are literal", model.UserFilter{Query: "0%_"}, []int64{16}},
		{"LIKE wildcard matches nothing", model.UserFilter{Query: "%"}, []int64{16}},
		{"department", model.UserFilter{DepartmentID: ptr(int64(0))}, []int64{10, 19}},
		{"deleted users only when asked", model.UserFilter{DepartmentID: ptr(int64(2)), IncludeDeleted: true}, []int64{16, 25}},
		{"location", model.UserFilter{LocationID: ptr(int64(4))}, []int64{19}},
		{"all filters together", model.UserFilter{Query: "user", DepartmentID: ptr(int64(0)), LocationID: ptr(int64(4))}, []int64{19}},
		{"no match", model.UserFilter{Query: "nobody"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, allUserPages(t, db, tt.f, 2)); diff != "" {
				t.Errorf("paged (-want +got):\n%s", diff)
			}
			streamed := []int64{}
			err := db.StreamUsers(context.Background(), tt.f, func(u *model.User) error {
				streamed = append(streamed, u.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, streamed); diff != "" {
				t.Errorf("streamed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListUsersRejectsBadInput(t *testing.T) {
	db := openDB(t)
	seedUsers(t, db, testUsers(5))
	ctx := context.Background()
	_, userCursor, err := db.ListUsers(ctx, model.UserFilter{}, model.Page{Limit: 2})
	if err != nil || userCursor == "" {
		t.Fatalf("first page: cursor %q, err %v", userCursor, err)
	}
	_, _, err = db.ListRuns(ctx, model.RunFilter{}, model.Page{Limit: 1, Cursor: userCursor})
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("a users cursor for runs: error %v, want ErrInvalid", err)
	}
	flipped := []byte(userCursor)
	flipped[3] ^= 1

	tests := []struct {
		name string
		f    model.UserFilter
		p    model.Page
	}{
		{"garbage cursor", model.UserFilter{}, model.Page{Limit: 2, Cursor: "not a cursor"}},
		{"edited cursor", model.UserFilter{}, model.Page{Limit: 2, Cursor: string(flipped)}},
		{"truncated cursor", model.UserFilter{}, model.Page{Limit: 2, Cursor: userCursor[:len(userCursor)-2]}},
		{"zero limit", model.UserFilter{}, model.Page{Limit: 0}},
		{"limit over the cap", model.UserFilter{}, model.Page{Limit: postgres.MaxPageLimit + 1}},
		{"NUL in search", model.UserFilter{Query: "a\x00b"}, model.Page{Limit: 2}},
		{"invalid UTF-8 in search", model.UserFilter{Query: "\xff"}, model.Page{Limit: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := db.ListUsers(ctx, tt.f, tt.p)
			if !errors.Is(err, model.ErrInvalid) {
				t.Errorf("ListUsers error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestStreamUsersStopsOnCallbackError(t *testing.T) {
	db := openDB(t)
	seedUsers(t, db, testUsers(10))
	stop := errors.New("client went away")
	calls := 0
	err := db.StreamUsers(context.Background(), model.UserFilter{}, func(*model.User) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || errors.Is(err, model.ErrUnavailable) {
		t.Errorf("StreamUsers error = %v, want the callback's error, not ErrUnavailable", err)
	}
	if calls != 3 {
		t.Errorf("callback called %d times, want 3", calls)
	}
}

func testAssets() []model.Asset {
	return []model.Asset{
		{ID: 1, AssetTag: "A-1", Name: "Laptop", Serial: "S1", StatusType: "deployable", StatusMeta: "deployed",
			StatusName: "Ready to Deploy", AssignedType: "user", AssignedToID: ptr(int64(10)), AssignedUserID: ptr(int64(10)),
			PurchaseCost: "1299.00", WarrantyMonths: ptr(int32(36)), CustomFields: map[string]string{"_snipeit_mac_1": "aa:bb"},
			PurchaseDate: ptr(time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC))},
		{ID: 2, AssetTag: "A-2", Name: "Phone", Serial: "S2", StatusType: "archived", StatusMeta: "archived", StatusName: "Archived",
			CustomFields: map[string]string{}},
		{ID: 3, AssetTag: "A-3", Name: "Monitor", Serial: "S3", StatusType: "deployable", StatusMeta: "deployed",
			StatusName: "In Use", AssignedType: "user", AssignedToID: ptr(int64(10)), AssignedUserID: ptr(int64(10)),
			CustomFields: map[string]string{}},
	}
}

func TestAssetReads(t *testing.T) {
	db := openDB(t)
	seedUsers(t, db, testUsers(2)) // ids 10 and 13
	as := testAssets()
	ctx := context.Background()
	if _, err := db.MirrorAssets(ctx, seq(as), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}

	got, err := db.GetAsset(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&as[0], got, equalTimes); diff != "" {
		t.Errorf("GetAsset(1) (-want +got):\n%s", diff)
	}
	if _, err := db.GetAsset(ctx, 4); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("GetAsset(missing) error = %v, want ErrNotFound", err)
	}

	assetIDs := func(as []model.Asset) []int64 {
		out := []int64{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	filters := []struct {
		name string
		f    model.AssetFilter
		want []int64
	}{
		{"status type", model.AssetFilter{Status: "archived"}, []int64{2}},
		{"status label, any case", model.AssetFilter{Status: "in use"}, []int64{3}},
		{"meta status", model.AssetFilter{Status: "deployed"}, []int64{1, 3}},
		{"assigned user", model.AssetFilter{AssignedUserID: ptr(int64(10))}, []int64{1, 3}},
		{"tag search", model.AssetFilter{Query: "a-2"}, []int64{2}},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			page, next, err := db.ListAssets(ctx, tt.f, model.Page{Limit: 10})
			if err != nil || next != "" {
				t.Fatalf("ListAssets: next %q, err %v", next, err)
			}
			if diff := cmp.Diff(tt.want, assetIDs(page)); diff != "" {
				t.Errorf("ListAssets (-want +got):\n%s", diff)
			}
			var streamed []model.Asset
			err = db.StreamAssets(ctx, tt.f, func(a *model.Asset) error { streamed = append(streamed, *a); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(page, streamed, equalTimes); diff != "" {
				t.Errorf("StreamAssets differs from ListAssets (-list +stream):\n%s", diff)
			}
		})
	}

	t.Run("assets of a user, paged and streamed", func(t *testing.T) {
		var paged []int64
		cursor := ""
		for range 10 {
			page, next, err := db.ListUserAssets(ctx, 10, model.AssetFilter{}, model.Page{Limit: 1, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, assetIDs(page)...)
			if cursor = next; cursor == "" {
				break
			}
		}
		if diff := cmp.Diff([]int64{1, 3}, paged); diff != "" {
			t.Errorf("ListUserAssets(10) pages (-want +got):\n%s", diff)
		}
		var streamed []int64
		err := db.StreamUserAssets(ctx, 10, model.AssetFilter{}, func(a *model.Asset) error { streamed = append(streamed, a.ID); return nil })
		if err != nil || !cmp.Equal([]int64{1, 3}, streamed) {
			t.Errorf("StreamUserAssets(10) = %v, %v; want [1 3]", streamed, err)
		}
		none, next, err := db.ListUserAssets(ctx, 13, model.AssetFilter{}, model.Page{Limit: 5})
		if err != nil || len(none) != 0 || next != "" {
			t.Errorf("ListUserAssets(user without assets) = %v, %q, %v; want none, nil", none, next, err)
		}
		if err := db.StreamUserAssets(ctx, 13, model.AssetFilter{}, func(*model.Asset) error { return nil }); err != nil {
			t.Errorf("StreamUserAssets(user without assets) = %v, want nil", err)
		}
		if _, _, err := db.ListUserAssets(ctx, 77, model.AssetFilter{}, model.Page{Limit: 5}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("ListUserAssets(unknown user) error = %v, want ErrNotFound", err)
		}
		if err := db.StreamUserAssets(ctx, 77, model.AssetFilter{}, func(*model.Asset) error { return nil }); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("StreamUserAssets(unknown user) error = %v, want ErrNotFound", err)
		}
	})
}

func TestListRunsAndScopeStatuses(t *testing.T) {
	db := openDB(t)
	seedUsers(t, db, testUsers(4), 10)
	ctx := context.Background()
	record := func(scope model.Scope, status model.RunStatus, errText string) int64 {
		t.Helper()
		id, err := db.StartRun(ctx, scope, "cli", "")
		if err != nil {
			t.Fatal(err)
		}
		if status != model.RunRunning {
			if err := db.FinishRun(ctx, id, status, model.RunCounts{Fetched: 4, Inserted: 4}, errText); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	u1 := record(model.ScopeUsers, model.RunSucceeded, "")
	a1 := record(model.ScopeAssets, model.RunFailed, "snipe-it error")
	u2 := record(model.ScopeUsers, model.RunFailed, "boom")
	u3 := record(model.ScopeUsers, model.RunRunning, "")

	var all []int64
	cursor := ""
	for range 10 {
		page, next, err := db.ListRuns(ctx, model.RunFilter{}, model.Page{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			all = append(all, r.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff([]int64{u3, u2, a1, u1}, all); diff != "" {
		t.Errorf("ListRuns newest first (-want +got):\n%s", diff)
	}
	failed, _, err := db.ListRuns(ctx, model.RunFilter{Scope: model.ScopeUsers, Status: model.RunFailed}, model.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].ID != u2 || failed[0].Error != "boom" || failed[0].FinishedAt == nil {
		t.Errorf("failed users runs = %+v, want run %d with its error", failed, u2)
	}

	sts, err := db.ScopeStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Scope                 model.Scope
		LastRun, LastSuccess  int64
		LiveRows, DeletedRows int64
		LastSuccessFetched    int64
		LastRunStatus         model.RunStatus
	}
	got := []summary{}
	for _, s := range sts {
		sm := summary{Scope: s.Scope, LiveRows: s.LiveRows, DeletedRows: s.DeletedRows}
		if s.LastRun != nil {
			sm.LastRun, sm.LastRunStatus = s.LastRun.ID, s.LastRun.Status
		}
		if s.LastSuccess != nil {
			sm.LastSuccess, sm.LastSuccessFetched = s.LastSuccess.ID, s.LastSuccess.Counts.Fetched
		}
		got = append(got, sm)
	}
	want := []summary{
		{Scope: model.ScopeUsers, LastRun: u3, LastRunStatus: model.RunRunning, LastSuccess: u1, LastSuccessFetched: 4, LiveRows: 3, DeletedRows: 1},
		{Scope: model.ScopeAssets, LastRun: a1, LastRunStatus: model.RunFailed},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScopeStatuses (-want +got):\n%s", diff)
	}

	// An incremental run that fell back to a full read shows its mode and
	// reason; a full run its mode and no reason.
	a2, err := db.StartRun(ctx, model.ScopeAssets, model.TriggerWebhook, "usersync-webhook-x")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordRun(ctx, model.SyncRun{ID: a2, Status: model.RunSucceeded, Mode: model.ModeIncremental,
		FallbackReason: model.FallbackNoWatermark}); err != nil {
		t.Fatal(err)
	}
	modes, _, err := db.ListRuns(ctx, model.RunFilter{Scope: model.ScopeAssets}, model.Page{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	type mode struct {
		Trigger, Reason string
		Mode            model.RunMode
	}
	var gotModes []mode
	for _, r := range modes {
		gotModes = append(gotModes, mode{r.Trigger, r.FallbackReason, r.Mode})
	}
	if diff := cmp.Diff([]mode{{"webhook", "no_watermark", model.ModeIncremental}, {"cli", "", model.ModeFull}}, gotModes); diff != "" {
		t.Errorf("the runs' modes (-want +got):\n%s", diff)
	}
}

func TestRunsOfJobs(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	record := func(scope model.Scope, job string) int64 {
		t.Helper()
		id, err := db.StartRun(ctx, scope, "api", job)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	u1 := record(model.ScopeUsers, "sync-a")
	a1 := record(model.ScopeAssets, "sync-a")
	record(model.ScopeUsers, "sync-b")
	record(model.ScopeUsers, "")
	u3 := record(model.ScopeUsers, "sync-c")

	runs, err := db.RunsOfJobs(ctx, []string{"sync-a", "sync-c", "sync-absent"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%d %s %s", r.ID, r.JobName, r.Scope))
	}
	want := []string{fmt.Sprintf("%d sync-a users", u1), fmt.Sprintf("%d sync-a assets", a1), fmt.Sprintf("%d sync-c users", u3)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunsOfJobs (-want +got):\n%s", diff)
	}
	if runs, err := db.RunsOfJobs(ctx, nil); err != nil || len(runs) != 0 {
		t.Errorf("RunsOfJobs(nil) = %v, %v; want none", runs, err)
	}
}

func TestReadsReportUnavailableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens, the connection is refused.
	db, err := postgres.Open(ctx, postgres.Config{URL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reads := map[string]func() error{
		"GetUser":     func() error { _, err := db.GetUser(ctx, 1); return err },
		"ListUsers":   func() error { _, _, err := db.ListUsers(ctx, model.UserFilter{}, model.Page{Limit: 1}); return err },
		"StreamUsers": func() error { return db.StreamUsers(ctx, model.UserFilter{}, func(*model.User) error { return nil }) },
		"ListAssets":  func() error { _, _, err := db.ListAssets(ctx, model.AssetFilter{}, model.Page{Limit: 1}); return err },
		"StreamUserAssets": func() error {
			return db.StreamUserAssets(ctx, 1, model.AssetFilter{}, func(*model.Asset) error { return nil })
		},
		"ListExports": func() error { _, _, err := db.ListExports(ctx, model.Page{Limit: 1}); return err },
		"RecordExport": func() error {
			return db.RecordExport(ctx, model.Export{Resource: "users", Format: "csv", Outcome: model.ExportCompleted})
		},
		"Ping":          func() error { return db.Ping(ctx) },
		"ListRuns":      func() error { _, _, err := db.ListRuns(ctx, model.RunFilter{}, model.Page{Limit: 1}); return err },
		"ScopeStatuses": func() error { _, err := db.ScopeStatuses(ctx); return err },
	}
	for name, read := range reads {
		if err := read(); !errors.Is(err, model.ErrUnavailable) {
			t.Errorf("%s error = %v, want ErrUnavailable", name, err)
		}
	}
}
