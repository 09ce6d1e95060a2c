package snipeit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// changedSince keeps the rows whose updated_at is at or after since.
func changedSince[T any](rows []T, since time.Time, updated func(*T) *time.Time) []T {
	var out []T
	for i := range rows {
		if u := updated(&rows[i]); u != nil && !u.Before(since) {
			out = append(out, rows[i])
		}
	}
	return out
}

func userUpdated(u *model.User) *time.Time   { return u.UpdatedAt }
func assetUpdated(a *model.Asset) *time.Time { return a.UpdatedAt }

// lastOf keeps the last version of each row, in id order: what a consumer
// of a change listing does.
func lastOf[T any](rows []T, id func(*T) int64) []T {
	byKey := map[int64]T{}
	for i := range rows {
		byKey[id(&rows[i])] = rows[i]
	}
	out := make([]T, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	return byID(out, id)
}

func assetID(a *model.Asset) int64 { return a.ID }
func userID(u *model.User) int64   { return u.ID }

// TestChangeListingsHoldEveryChange makes random changes (checkouts,
// edits, deletes, renames…) after a watermark, then reads what changed
// since: every listing holds exactly the rows of the simulator whose
// updated_at is at or after the watermark, on every version that can sort
// them.
func TestChangeListingsHoldEveryChange(t *testing.T) {
	for _, v := range []snipeittest.Version{snipeittest.Version86, snipeittest.Version85, snipeittest.Version70, snipeittest.Version50} {
		t.Run(string(v), func(t *testing.T) {
			clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			sim := snipeittest.Start(t, snipeittest.Config{Version: v, Now: clk.Now, MaxResults: 100,
				Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 600, Assets: 500, Seed: 4})})
			since := clk.Now()
			rng := rand.New(rand.NewPCG(7, 7))
			for range 150 {
				// Several changes share a second: updated_at ties.
				if rng.IntN(3) == 0 {
					clk.Advance(time.Second)
				}
				if what, err := sim.RandomChange(rng); err != nil && !errors.Is(err, model.ErrConflict) {
					t.Fatalf("%s: %v", what, err)
				}
			}
			c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 60 })
			ctx := context.Background()

			var seen snipeit.Listing
			assets, err := collect(t, c.AssetsChangedSince(ctx, since, &seen))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(changedSince(sim.Assets(), since, assetUpdated), lastOf(assets, assetID)); diff != "" {
				t.Errorf("changed assets (-simulator +client):\n%s", diff)
			}
			if got := seen.Total + seen.ArchivedTotal; got != int64(len(sim.Assets())) || !seen.ServerTime.Equal(clk.Now()) {
				t.Errorf("the listings' totals add up to %d (served at %s), want the %d live assets (at %s)", got, seen.ServerTime, len(sim.Assets()), clk.Now())
			}
			deletedAssets, err := collect(t, c.DeletedAssetsSince(ctx, since))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ids(changedSince(sim.DeletedAssets(), since, assetUpdated), assetID), ids(lastOf(deletedAssets, assetID), assetID)); diff != "" {
				t.Errorf("deleted assets (-simulator +client):\n%s", diff)
			}

			users, err := collect(t, c.UsersChangedSince(ctx, since))
			if v == snipeittest.Version70 || v == snipeittest.Version50 {
				var ie *snipeit.IncrementalError
				if !errors.As(err, &ie) || !errors.Is(err, snipeit.ErrNotIncremental) || ie.Reason != snipeit.ReasonUnsorted {
					t.Fatalf("users before 7.1.14: err %v, want ErrNotIncremental (unsorted)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(changedSince(sim.Users(), since, userUpdated), lastOf(users, userID)); diff != "" {
				t.Errorf("changed users (-simulator +client):\n%s", diff)
			}
			deleted, err := collect(t, c.DeletedUsersSince(ctx, since))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(changedSince(sim.DeletedUsers(), since, userUpdated), lastOf(deleted, userID)); diff != "" {
				t.Errorf("deleted users (-simulator +client):\n%s", diff)
			}
			// One listing of both, whose total counts both.
			var all snipeit.Listing
			both, err := collect(t, c.AllUsersChangedSince(ctx, since, &all))
			if err != nil {
				t.Fatal(err)
			}
			want := append(changedSince(sim.Users(), since, userUpdated), changedSince(sim.DeletedUsers(), since, userUpdated)...)
			if diff := cmp.Diff(byID(want, userID), lastOf(both, userID)); diff != "" {
				t.Errorf("live and deleted users (-simulator +client):\n%s", diff)
			}
			total, err := c.UsersTotal(ctx)
			if n := int64(len(sim.Users()) + len(sim.DeletedUsers())); err != nil || all.Total != n || total != n {
				t.Errorf("users total %d (listing) and %d (UsersTotal, %v), want %d", all.Total, total, err, n)
			}
		})
	}
}

// requestsServed waits until the simulator has counted at least want
// requests (it counts a request after its response is sent, so the client
// can be done first) and returns the count.
func requestsServed(t *testing.T, sim *snipeittest.Server, want int) int {
	t.Helper()
	_ = eventually.Wait(t.Context(), 5*time.Second, func() error {
		if sim.Stats().Requests < want {
			return errors.New("fewer requests than wanted")
		}
		return nil
	})
	return sim.Stats().Requests
}

func ids[T any](rows []T, id func(*T) int64) []int64 {
	out := []int64{}
	for i := range rows {
		out = append(out, id(&rows[i]))
	}
	return out
}

// tiedUsers is a data set of n users whose updated_at comes in groups of
// group users sharing a second, all after since.
func tiedUsers(n, group int, since time.Time) *snipeittest.Dataset {
	ds := &snipeittest.Dataset{}
	for i := range n {
		ds.Users = append(ds.Users, snipeittest.User{ID: int64(10 + i), Username: fmt.Sprint("u", i), FirstName: "Tied",
			Activated: true, CreatedAt: since, UpdatedAt: since.Add(time.Duration(i/group) * time.Second)})
	}
	return ds
}

// TestChangeListingsReadTiesWhole: rows that share an updated_at come in a
// different order on each page (as from MySQL); the walk still reads every
// one exactly once, and says when a tie is larger than a page.
func TestChangeListingsReadTiesWhole(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t.Run("groups of 30 across pages of 100 are all read", func(t *testing.T) {
		sim := snipeittest.Start(t, snipeittest.Config{Data: tiedUsers(400, 30, since), MaxResults: 100})
		c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 100 })
		got, err := collect(t, c.UsersChangedSince(context.Background(), since))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ids(sim.Users(), userID), ids(byID(got, userID), userID)); diff != "" {
			t.Errorf("users (-all +read):\n%s", diff)
		}
	})
	t.Run("a group larger than the first page is read with full pages", func(t *testing.T) {
		sim := snipeittest.Start(t, snipeittest.Config{Data: tiedUsers(300, 80, since), MaxResults: 200})
		c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 200 })
		got, err := collect(t, c.UsersChangedSince(context.Background(), since))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 300 {
			t.Errorf("%d users read, want 300", len(got))
		}
	})
	t.Run("a group larger than a page cannot be read incrementally", func(t *testing.T) {
		sim := snipeittest.Start(t, snipeittest.Config{Data: tiedUsers(300, 150, since), MaxResults: 100})
		c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 100 })
		_, err := collect(t, c.UsersChangedSince(context.Background(), since))
		var ie *snipeit.IncrementalError
		if !errors.As(err, &ie) || ie.Reason != snipeit.ReasonTies {
			t.Fatalf("err %v, want ErrNotIncremental (ties)", err)
		}
	})
	t.Run("a group older than the watermark does not matter", func(t *testing.T) {
		sim := snipeittest.Start(t, snipeittest.Config{Data: tiedUsers(300, 250, since), MaxResults: 100})
		c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 100 })
		got, err := collect(t, c.UsersChangedSince(context.Background(), since.Add(time.Second)))
		if err != nil || len(got) != 50 {
			t.Fatalf("%d users, %v; want the 50 newer ones", len(got), err)
		}
	})
}

// TestChangeListingsSurviveShifts deletes rows already read while the walk
// pages (the rest of the list moves up) and changes others (they move to
// the front): every row live at the end and changed since the watermark
// is still read.
func TestChangeListingsSurviveShifts(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := snipeittest.NewClock(since.Add(time.Hour))
	sim := snipeittest.Start(t, snipeittest.Config{Data: tiedUsers(500, 3, since), MaxResults: 40, Now: clk.Now})
	newest := func(s *snipeittest.Server, n int) []int64 {
		users := sim.Users()
		slices.SortFunc(users, func(a, b model.User) int { return b.UpdatedAt.Compare(*a.UpdatedAt) })
		return ids(users[:n], userID)
	}
	in := sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultMutate, Path: "/api/v1/users", MinOffset: 1, Times: 6,
		Mutate: func(s *snipeittest.Server) error {
			clk.Advance(time.Second)
			var errs []error
			// The five newest were read first: deleting them moves the
			// list up under the walk.
			for _, id := range newest(s, 5)[:5] {
				errs = append(errs, s.DeleteUser(id))
			}
			return errors.Join(errs...)
		}})
	var logs logtest.Buffer
	c := newClient(t, sim, func(c *snipeit.Config) {
		c.PageSize = 40
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	got, err := collect(t, c.UsersChangedSince(context.Background(), since))
	if err != nil {
		t.Fatal(err)
	}
	if in.Fired() == 0 || !strings.Contains(logs.String(), "reading again from further back") {
		t.Fatalf("the list did not shift under the walk (changes made %d times):\n%s", in.Fired(), logs.String())
	}
	read := map[int64]bool{}
	for _, u := range got {
		read[u.ID] = true
	}
	for _, u := range sim.Users() {
		if !read[u.ID] {
			t.Errorf("user %d, live and changed since the watermark, was not read", u.ID)
		}
	}
}

// TestIncrementalReadCostsAFewRequests: 20 changes among thousands of rows
// cost one request per listing.
func TestIncrementalReadCostsAFewRequests(t *testing.T) {
	clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sim := snipeittest.Start(t, snipeittest.Config{Now: clk.Now,
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 3000, Assets: 2000, Seed: 2})})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	lastLog, err := c.LastActivityID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	since := clk.Now()
	rng := rand.New(rand.NewPCG(3, 3))
	for range 20 {
		clk.Advance(time.Second)
		if what, err := sim.RandomChange(rng); err != nil && !errors.Is(err, model.ErrConflict) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	sim.ResetStats()
	for _, seq := range []func() error{
		func() error { _, err := collect(t, c.UsersChangedSince(ctx, since)); return err },
		func() error { _, err := collect(t, c.DeletedUsersSince(ctx, since)); return err },
		func() error { _, err := collect(t, c.AssetsChangedSince(ctx, since)); return err },
		func() error { _, err := collect(t, c.DeletedAssetsSince(ctx, since)); return err },
		func() error { _, err := c.ActivitySince(ctx, lastLog); return err },
		func() error { _, err := c.Departments(ctx); return err },
		func() error { _, err := c.Locations(ctx); return err },
		func() error { _, err := c.Companies(ctx); return err },
	} {
		if err := seq(); err != nil {
			t.Fatal(err)
		}
	}
	if n := requestsServed(t, sim, 9); n != 9 {
		t.Errorf("%d requests for 20 changes, want 9 (one per listing, two for hardware)", n)
	}
}

// TestReferenceListings: departments, locations and companies as the
// simulator has them, a rename and a location's manager (a whole user row
// in the listing) included.
func TestReferenceListings(t *testing.T) {
	clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sim := snipeittest.Start(t, snipeittest.Config{Now: clk.Now, MaxResults: 5,
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 300, Assets: 300, Seed: 9})})
	clk.Advance(time.Hour)
	must(t, sim.RenameLocation(sim.Locations()[2].ID, "Neuer Standort & Lager"))
	must(t, sim.SetLocationManager(sim.Locations()[0].ID, sim.Users()[3].ID))
	if got := sim.Locations()[0].ManagerID; got == nil || *got != sim.Users()[3].ID {
		t.Fatalf("location %d's manager %v, want user %d", sim.Locations()[0].ID, got, sim.Users()[3].ID)
	}
	c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 5 })
	ctx := context.Background()
	for _, l := range []struct {
		name string
		want []model.Reference
		list func(context.Context) ([]model.Reference, error)
	}{
		{"departments", sim.Departments(), c.Departments},
		{"locations", sim.Locations(), c.Locations},
		{"companies", sim.Companies(), c.Companies},
	} {
		got, err := l.list(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l.want, got); diff != "" {
			t.Errorf("%s (-simulator +client):\n%s", l.name, diff)
		}
	}
	must(t, sim.RenameCategory(3, "Notebooks"))
	must(t, sim.RenameStatusLabel(2, "Bereit"))
	must(t, sim.RenameSupplier(4, "Lieferant & Co"))
	models, err := c.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sim.Models(), models); diff != "" {
		t.Errorf("models (-simulator +client):\n%s", diff)
	}
	labels, err := c.StatusLabels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sim.StatusLabels(), labels); diff != "" {
		t.Errorf("status labels (-simulator +client):\n%s", diff)
	}
	suppliers, err := c.Suppliers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sim.Suppliers(), suppliers); diff != "" {
		t.Errorf("suppliers (-simulator +client):\n%s", diff)
	}
	if got := c.ServerTime(); !got.Equal(clk.Now()) {
		t.Errorf("ServerTime %s, want the server's clock %s", got, clk.Now())
	}
}

// TestActionNameIsHowTheLogShowsAType: the report shows action types
// translated; asking for one entry of a stored type tells how.
func TestActionNameIsHowTheLogShowsAType(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 20, Assets: 20, Seed: 2})})
	c := newClient(t, sim, func(*snipeit.Config) {})
	ctx := context.Background()
	if _, ok, err := c.ActionName(ctx, "create"); err != nil || ok {
		t.Fatalf("an empty log: ok %v, err %v; want not found", ok, err)
	}
	must(t, sim.AddUser(snipeittest.User{ID: 900, Username: "new", FirstName: "New", Activated: true}))
	got, ok, err := c.ActionName(ctx, "create")
	if err != nil || !ok || got != "create new" {
		t.Errorf("create is shown as %q (%v, %v), want \"create new\"", got, ok, err)
	}
}

func TestActivitySince(t *testing.T) {
	clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sim := snipeittest.Start(t, snipeittest.Config{Now: clk.Now, MaxResults: 20, ActivityDeniedToken: "no-activity",
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 200, Assets: 200, Seed: 6})})
	c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 20 })
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	change := func(n int) {
		for range n {
			clk.Advance(time.Second)
			if what, err := sim.RandomChange(rng); err != nil && !errors.Is(err, model.ErrConflict) {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	change(30)
	mark, err := c.LastActivityID(ctx)
	if err != nil || mark == 0 {
		t.Fatalf("last activity id %d, %v", mark, err)
	}
	change(100)
	got, err := c.ActivitySince(ctx, mark)
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, e := range sim.Log() {
		if e.ID > mark {
			want = append(want, e.ID)
		}
	}
	if diff := cmp.Diff(want, ids(got, func(e *model.ActivityEntry) int64 { return e.ID })); diff != "" {
		t.Errorf("entries (-log +read):\n%s", diff)
	}
	byID := map[int64]snipeittest.LogEntry{}
	for _, e := range sim.Log() {
		byID[e.ID] = e
	}
	for _, e := range got {
		l := byID[e.ID]
		if e.Action != snipeittest.ActionType(l.Action) || e.ItemType != l.ItemType || e.ItemID == nil || *e.ItemID != l.ItemID {
			t.Errorf("entry %d: %+v, log %+v", e.ID, e, l)
		}
		if (l.TargetType == "") != (e.TargetID == nil) || (e.TargetID != nil && (*e.TargetID != l.TargetID || e.TargetType != l.TargetType)) {
			t.Errorf("entry %d target: %v %v, log %s %d", e.ID, e.TargetType, e.TargetID, l.TargetType, l.TargetID)
		}
		if len(l.Changes) != len(e.Changed) {
			t.Errorf("entry %d changed %v, log %d changes", e.ID, e.Changed, len(l.Changes))
		}
	}

	t.Run("a token without activity.view is told so", func(t *testing.T) {
		denied := newClient(t, sim, func(c *snipeit.Config) { c.Token = "no-activity" })
		_, err := denied.ActivitySince(ctx, 0)
		if !errors.Is(err, model.ErrForbidden) || !strings.Contains(err.Error(), "activity.view") {
			t.Errorf("err %v, want ErrForbidden naming activity.view", err)
		}
	})
	t.Run("entries purged while the walk pages do not hide others", func(t *testing.T) {
		sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultMutate, Path: "/api/v1/reports/activity", MinOffset: 1,
			Mutate: func(s *snipeittest.Server) error { _, _, err := s.Purge(); return err }})
		got, err := c.ActivitySince(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		read := map[int64]bool{}
		for _, e := range got {
			read[e.ID] = true
		}
		for _, e := range sim.Log() {
			if !read[e.ID] {
				t.Errorf("entry %d was not read", e.ID)
			}
		}
	})
}

func TestLookupByID(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 100, Assets: 100, Seed: 5})})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	live, deleted := sim.Users(), sim.DeletedUsers()
	must(t, sim.PurgeUser(live[5].ID))
	want := []model.User{live[2], live[9], deleted[0]}
	sim.ResetStats()
	found, missing, err := c.UsersByID(ctx, []int64{live[9].ID, live[2].ID, live[5].ID, deleted[0].ID, live[2].ID})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(byID(want, userID), found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{live[5].ID}, missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if n := requestsServed(t, sim, 4); n != 4 {
		t.Errorf("%d requests, want 4 (one per distinct id)", n)
	}
	assets := sim.Assets()
	got, missing, err := c.AssetsByID(ctx, []int64{assets[1].ID, 99_999_999})
	if err != nil || len(got) != 1 || got[0].ID != assets[1].ID || !slices.Equal(missing, []int64{99_999_999}) {
		t.Errorf("assets: %d found, missing %v, %v", len(got), missing, err)
	}
	sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultForbidden, Path: "/api/v1/users/{id}", Persistent: true})
	if _, _, err := c.UsersByID(ctx, []int64{live[1].ID, live[2].ID}); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("err %v, want the lookup to fail with ErrForbidden", err)
	}
}

// TestUsersChangedSinceOnAQuietOldSite: users imported in one second and
// seldom changed. Before 7.1.14 the first_name order can look sorted by
// updated_at (all equal); the walk must still refuse, and from 7.1.14 it
// must find exactly the changes.
func TestUsersChangedSinceOnAQuietOldSite(t *testing.T) {
	imported := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	ds := &snipeittest.Dataset{}
	for i := range 400 {
		ds.Users = append(ds.Users, snipeittest.User{ID: int64(1 + i), Username: fmt.Sprint("u", i),
			FirstName: fmt.Sprintf("Name%03d", (i*37)%400), Activated: true, CreatedAt: imported, UpdatedAt: imported})
	}
	for _, v := range []snipeittest.Version{snipeittest.Version85, snipeittest.Version70, snipeittest.Version50} {
		t.Run(string(v), func(t *testing.T) {
			clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			sim := snipeittest.Start(t, snipeittest.Config{Data: ds, Version: v, Now: clk.Now})
			since := clk.Now()
			// User 228 has the name first_name desc puts first: before
			// 7.1.14 the first page is it, then users all imported in
			// one second, in order by updated_at too.
			for _, id := range []int64{17, 228, 388} {
				clk.Advance(time.Second)
				must(t, sim.UpdateUser(id, func(u *snipeittest.User) { u.JobTitle = "Changed" }))
			}
			c := newClient(t, sim, nil)
			got, err := collect(t, c.UsersChangedSince(context.Background(), since))
			if v != snipeittest.Version85 {
				if !errors.Is(err, snipeit.ErrNotIncremental) {
					t.Fatalf("got %d users, err %v; want ErrNotIncremental", len(got), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]int64{17, 228, 388}, ids(byID(got, userID), userID)); diff != "" {
				t.Errorf("changed users (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("nothing changed and the newest page is one tie: a full pass is asked for", func(t *testing.T) {
		sim := snipeittest.Start(t, snipeittest.Config{Data: ds, MaxResults: 100})
		c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize = 100 })
		_, err := collect(t, c.UsersChangedSince(context.Background(), imported.Add(time.Hour)))
		var ie *snipeit.IncrementalError
		if !errors.As(err, &ie) || ie.Reason != snipeit.ReasonTies {
			t.Fatalf("err %v, want ErrNotIncremental (ties)", err)
		}
	})
}
