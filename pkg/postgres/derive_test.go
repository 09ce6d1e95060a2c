package postgres_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// readUsers reads every user row back as the mirror holds it, by id.
func readUsers(t *testing.T, db *postgres.DB) map[int64]model.User {
	t.Helper()
	out := map[int64]model.User{}
	err := db.StreamUsers(context.Background(), model.UserFilter{IncludeDeleted: true}, func(u *model.User) error {
		out[u.ID] = *u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readAssets(t *testing.T, db *postgres.DB) map[int64]model.Asset {
	t.Helper()
	out := map[int64]model.Asset{}
	err := db.StreamAssets(context.Background(), model.AssetFilter{IncludeDeleted: true}, func(a *model.Asset) error {
		out[a.ID] = *a
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// applyIncremental stages changed, derives with facts, applies deleted and
// commits; it returns what Derive staged and left undecided.
func applyIncremental(t *testing.T, db *postgres.DB, changed []model.User, facts model.Facts, deleted []int64) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginUsers(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return seq(changed) }); err != nil {
		t.Fatal(err)
	}
	n, undecided, err := tx.Derive(ctx, facts, deleted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Apply(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return n, undecided
}

// derivedUsers is a small mirror: a manager (10) of two users (11, 12),
// 13 in another department; assets checked out to 11 and 12.
func derivedUsers() []model.User {
	dep := func(id int64, name string) (*int64, string) { return &id, name }
	us := []model.User{
		{ID: 10, Username: "boss", FirstName: "Bo", LastName: "Ss", Name: "Bo Ss", ManagesUsersCount: 2, LicensesCount: 1},
		{ID: 11, Username: "a", FirstName: "A", Name: "A", ManagerID: ptr(int64(10)), ManagerName: "Bo Ss", AssetsCount: 1, LicensesCount: 2},
		{ID: 12, Username: "b", FirstName: "B", Name: "B", ManagerID: ptr(int64(10)), ManagerName: "Bo Ss", AssetsCount: 1},
		{ID: 13, Username: "c", FirstName: "C", Name: "C"},
	}
	for i := range us {
		if i < 3 {
			us[i].DepartmentID, us[i].DepartmentName = dep(3, "R&D")
		} else {
			us[i].DepartmentID, us[i].DepartmentName = dep(4, "Sales")
		}
	}
	return us
}

func TestDeriveBringsDerivedUserColumnsUpToDate(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, err := db.MirrorUsers(ctx, seq(derivedUsers()), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	assets := []model.Asset{
		{ID: 1, AssetTag: "A1", AssignedType: "user", AssignedToID: ptr(int64(11)), AssignedUserID: ptr(int64(11))},
		{ID: 2, AssetTag: "A2", AssignedType: "user", AssignedToID: ptr(int64(12)), AssignedUserID: ptr(int64(12))},
		{ID: 3, AssetTag: "A3", AssignedType: "user", AssignedToID: ptr(int64(13)), AssignedUserID: ptr(int64(13))},
	}
	if _, err := db.MirrorAssets(ctx, seq(assets), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	// The manager is renamed (a row of its own), 12 is deleted, the
	// department renamed, a license seat goes to 13, and asset 3 (to 13)
	// now counts.
	boss := derivedUsers()[0]
	boss.LastName, boss.Name = "Boss", "Bo Boss"
	facts := model.Facts{
		Departments:  []model.Reference{{ID: 3, Name: "Research"}, {ID: 4, Name: "Sales"}},
		ItemDeltas:   map[int64]model.ItemCounts{13: {Licenses: 1}},
		AssetsCounts: true,
		Traits:       model.Traits{ManagerName: model.ManagerByDisplayName},
	}
	n, undecided := applyIncremental(t, db, []model.User{boss}, facts, []int64{12})
	if len(undecided) != 0 {
		t.Errorf("undecided %v, want none: the rule is known", undecided)
	}
	got := readUsers(t, db)
	type derived struct {
		Dept, Manager             string
		Manages, Assets, Licenses int32
		Deleted                   bool
	}
	view := func(u model.User) derived {
		return derived{u.DepartmentName, u.ManagerName, u.ManagesUsersCount, u.AssetsCount, u.LicensesCount, u.DeletedAt != nil}
	}
	want := map[int64]derived{
		// The manager's own counts are kept: it was staged with 0 licenses
		// (Snipe-IT's value) but its stored 1 plus no delta wins.
		10: {Dept: "Research", Manages: 1, Licenses: 1},
		11: {Dept: "Research", Manager: "Bo Boss", Assets: 1, Licenses: 2},
		12: {Dept: "R&D", Manager: "Bo Ss", Assets: 1, Deleted: true},
		13: {Dept: "Sales", Assets: 1, Licenses: 1},
	}
	gotView := map[int64]derived{}
	for id, u := range got {
		gotView[id] = view(u)
	}
	if diff := cmp.Diff(want, gotView); diff != "" {
		t.Errorf("derived columns (-want +got):\n%s", diff)
	}
	if n != 3 {
		t.Errorf("derived %d rows, want 3 (10, 11, 13)", n)
	}

	// Nothing changed upstream: deriving again writes nothing.
	before := pgtest.RowVersions(t, db, "users")
	if n, _ := applyIncremental(t, db, nil, model.Facts{Departments: facts.Departments, AssetsCounts: true, Traits: facts.Traits}, nil); n != 0 {
		t.Errorf("a second derivation staged %d rows, want 0", n)
	}
	if diff := cmp.Diff(before, pgtest.RowVersions(t, db, "users")); diff != "" {
		t.Errorf("a derivation with nothing to change wrote rows (-before +after):\n%s", diff)
	}
}

// TestDeriveCountsManagedLocationsFromTheListing: a location's manager
// changes by saving the location, not a user; each user's
// manages_locations_count is what the locations listing shows, and stays
// as it was when the listing was not read.
func TestDeriveCountsManagedLocationsFromTheListing(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	us := derivedUsers()
	us[0].ManagesLocationsCount, us[3].ManagesLocationsCount = 1, 2
	if _, err := db.MirrorUsers(ctx, seq(us), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	counts := func() map[int64]int32 {
		out := map[int64]int32{}
		for id, u := range readUsers(t, db) {
			out[id] = u.ManagesLocationsCount
		}
		return out
	}
	traits := model.Traits{ManagerName: model.ManagerByDisplayName}
	// Not read: left as they are.
	applyIncremental(t, db, nil, model.Facts{Traits: traits}, nil)
	if diff := cmp.Diff(map[int64]int32{10: 1, 11: 0, 12: 0, 13: 2}, counts()); diff != "" {
		t.Errorf("without the listing (-want +got):\n%s", diff)
	}
	// 11 now manages two locations, 10 and 13 none; 8 has no manager.
	locations := []model.Reference{{ID: 5, Name: "HQ", ManagerID: ptr(int64(11))}, {ID: 6, Name: "Lab", ManagerID: ptr(int64(11))},
		{ID: 8, Name: "Depot"}}
	if n, _ := applyIncremental(t, db, nil, model.Facts{Locations: locations, Traits: traits}, nil); n != 3 {
		t.Errorf("derived %d rows, want 3 (10, 11, 13)", n)
	}
	if diff := cmp.Diff(map[int64]int32{10: 0, 11: 2, 12: 0, 13: 0}, counts()); diff != "" {
		t.Errorf("after the listing (-want +got):\n%s", diff)
	}
}

func TestDeriveLeavesWhatAnUnknownRuleDecides(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, err := db.MirrorUsers(ctx, seq(derivedUsers()), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	boss := derivedUsers()[0]
	boss.DisplayName = "The Boss"
	_, undecided := applyIncremental(t, db, []model.User{boss}, model.Facts{}, nil)
	if diff := cmp.Diff([]int64{11, 12}, undecided); diff != "" {
		t.Errorf("undecided (-want +got):\n%s", diff)
	}
	if got := readUsers(t, db)[11].ManagerName; got != "Bo Ss" {
		t.Errorf("manager name %q, want it left as it was", got)
	}
}

func TestDeriveRenamesAssetReferences(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	assets := []model.Asset{
		{ID: 1, AssetTag: "A1", ModelID: ptr(int64(14)), ModelName: "Old", CategoryID: ptr(int64(3)), CategoryName: "Laptops",
			StatusID: ptr(int64(2)), StatusName: "Ready", StatusType: "deployable", StatusMeta: "deployable",
			SupplierID: ptr(int64(4)), SupplierName: "Sup", LocationID: ptr(int64(5)), LocationName: "HQ",
			RTDLocationID: ptr(int64(5)), RTDLocationName: "HQ"},
		{ID: 2, AssetTag: "A2", ModelID: ptr(int64(14)), ModelName: "Old", CategoryID: ptr(int64(3)), CategoryName: "Laptops",
			StatusID: ptr(int64(2)), StatusName: "Ready", StatusType: "deployable", StatusMeta: "deployed",
			AssignedType: "user", AssignedToID: ptr(int64(7)), AssignedUserID: ptr(int64(7))},
	}
	if _, err := db.MirrorAssets(ctx, seq(assets), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginAssets(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.Asset, error] { return seq([]model.Asset(nil)) }); err != nil {
		t.Fatal(err)
	}
	facts := model.Facts{
		Models:       []model.AssetModel{{ID: 14, Name: "New", ModelNumber: "N-1", CategoryID: ptr(int64(3)), CategoryName: "Notebooks"}},
		StatusLabels: []model.StatusLabel{{ID: 2, Name: "Gone", Type: "archived"}},
		Suppliers:    []model.Reference{{ID: 4, Name: "Supplier & Co"}},
		Locations:    []model.Reference{{ID: 5, Name: "Head Office"}},
	}
	if n, _, err := tx.Derive(ctx, facts, nil); err != nil || n != 2 {
		t.Fatalf("derived %d rows (%v), want 2", n, err)
	}
	if _, err := tx.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := readAssets(t, db)
	a1, a2 := got[1], got[2]
	if a1.ModelName != "New" || a1.ModelNumber != "N-1" || a1.CategoryName != "Notebooks" || a1.StatusName != "Gone" ||
		a1.StatusType != "archived" || a1.StatusMeta != "archived" || a1.SupplierName != "Supplier & Co" ||
		a1.LocationName != "Head Office" || a1.RTDLocationName != "Head Office" {
		t.Errorf("asset 1 after the renames: %+v", a1)
	}
	if a2.StatusMeta != "deployed" || a2.ModelName != "New" {
		t.Errorf("asset 2 (checked out) after the renames: status_meta %q, model %q; want deployed, New", a2.StatusMeta, a2.ModelName)
	}
}

func TestStateIsCommittedWithTheRowsOrNotAtAll(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, ok, err := db.State(ctx, model.ScopeUsers); err != nil || ok {
		t.Fatalf("state of a new mirror: ok %v, err %v; want none", ok, err)
	}
	mark := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := model.SyncState{Scope: model.ScopeUsers, Watermark: mark, ActivityID: ptr(int64(42)),
		Traits: model.Traits{Actions: map[string]string{"checkout": "checkout"}, ManagerName: model.ManagerByName}}
	write := func(commit bool, st model.SyncState) {
		t.Helper()
		tx, err := db.BeginUsers(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := tx.SetState(ctx, st); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(true, st)
	write(false, model.SyncState{Scope: model.ScopeUsers, Watermark: mark.Add(time.Hour)})
	got, ok, err := db.State(ctx, model.ScopeUsers)
	if err != nil || !ok {
		t.Fatalf("state: ok %v, err %v", ok, err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("state after a committed and a rolled-back write (-want +got):\n%s", diff)
	}
	tx, err := db.BeginUsers(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := tx.SetState(ctx, st); err == nil {
		t.Error("a dry run's transaction wrote the state")
	}
	if got, ok, err := tx.State(ctx); err != nil || !ok || !got.Watermark.Equal(mark) {
		t.Errorf("a dry run reads state %+v, %v, %v", got, ok, err)
	}
}

func TestStagingTwiceKeepsTheLastRow(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := testUsers(3)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginUsers(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	changed := users[0]
	changed.City = "Elsewhere"
	stage := func(rows ...model.User) int64 {
		n, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return seq(rows) })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	stage(changed, users[1])
	// The second call stages users[0] as the mirror holds it: the change
	// is taken back.
	if n := stage(users[0]); n != 2 {
		t.Errorf("staged %d distinct rows, want 2", n)
	}
	counts, err := tx.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 2, Unchanged: 2}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if err := tx.Commit(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if got := readUsers(t, db)[users[0].ID].City; got != "" {
		t.Errorf("city %q, want the last staged version's", got)
	}
}

// TestEvidenceTellsTheServersRules: staged rows fresh from Snipe-IT show
// how it names managers and whether assets_count counts deleted assets.
func TestEvidenceTellsTheServersRules(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	users := derivedUsers()
	users[0].DisplayName = "The Boss"
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	// Asset 1 live, asset 2 soft-deleted, both assigned to user 11.
	live := []model.Asset{{ID: 1, AssetTag: "A1", AssignedType: "user", AssignedToID: ptr(int64(11)), AssignedUserID: ptr(int64(11))}}
	if _, err := db.MirrorAssets(ctx, seq(live), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO assets (id, asset_tag, name, serial, byod, requestable, assigned_type, assigned_to_id, assigned_user_id, deleted_at)
		VALUES (2, 'A2', '', '', false, false, 'user', 11, 11, now())`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginUsers(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	sub := users[1]
	sub.ManagerName, sub.AssetsCount = "The Boss", 2 // Snipe-IT 8 names the manager by display name; 7.1.15 counts asset 2
	if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*model.User, error] { return seq([]model.User{sub}) }); err != nil {
		t.Fatal(err)
	}
	got, err := tx.Evidence(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.Evidence{ManagerByDisplayName: 1, AssetsCountDeleted: 1}, got); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
}
