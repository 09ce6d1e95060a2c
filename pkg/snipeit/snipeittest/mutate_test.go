package snipeittest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/usersync/usersync/pkg/model"
)

func TestMutations(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	tests := []struct {
		name   string
		mutate func(s *Server) error
		target string
		want   []string // lines the rendered JSON must contain
	}{
		{"an added user is listed", func(s *Server) error {
			return s.AddUser(User{ID: 500, FirstName: "New", Username: "new"})
		}, "/api/v1/users/500", []string{`$.username="new"`}},
		{"an update bumps updated_at", func(s *Server) error {
			return s.UpdateUser(118, func(u *User) { u.Email = "yara@example.test" })
		}, "/api/v1/users/118", []string{`$.email="yara@example.test"`, `$.updated_at.datetime="2026-01-02 03:04:05"`}},
		{"an update that sets updated_at keeps it", func(s *Server) error {
			return s.UpdateUser(118, func(u *User) { u.UpdatedAt = at("2020-02-02 02:02:02") })
		}, "/api/v1/users/118", []string{`$.updated_at.datetime="2020-02-02 02:02:02"`}},
		{"a soft-deleted user is shown with deleted_at", func(s *Server) error { return s.DeleteUser(118) },
			"/api/v1/users/118", []string{`$.deleted_at.datetime="2026-01-02 03:04:05"`, `$.available_actions.restore=true`}},
		{"a restored user is live again", func(s *Server) error {
			return errors.Join(s.DeleteUser(118), s.RestoreUser(118))
		}, "/api/v1/users/118", []string{`$.deleted_at=null`}},
		{"a purged user is gone", func(s *Server) error { return s.PurgeUser(118) },
			"/api/v1/users/118", []string{`$.messages="User not found"`}},
		{"renaming a manager renames it in the rows it manages", func(s *Server) error {
			return s.UpdateUser(7, func(u *User) { u.LastName = "Renamed" })
		}, "/api/v1/users/42", []string{`$.manager.name="Manny Renamed"`}},
		{"purging a manager empties manager in the rows it managed", func(s *Server) error { return s.PurgeUser(7) },
			"/api/v1/users/42", []string{`$.manager=null`}},
		{"managers count the live users they manage", func(s *Server) error {
			return s.UpdateUser(118, func(u *User) { u.ManagerID = 7 })
		}, "/api/v1/users/7", []string{`$.manages_users_count=2`, `$.available_actions.delete=false`}},
		{"checking an asset in lowers the user's assets_count", func(s *Server) error {
			return s.UpdateAsset(912, func(a *Asset) { a.AssignedTo = nil })
		}, "/api/v1/users/42", []string{`$.assets_count=1`}},
		{"deleting an asset lowers the user's assets_count", func(s *Server) error { return s.DeleteAsset(912) },
			"/api/v1/users/42", []string{`$.assets_count=1`}},
		{"checking out to a user raises its assets_count", func(s *Server) error {
			return s.UpdateAsset(911, func(a *Asset) { a.AssignedTo = &Assignment{Type: AssignedUser, ID: 118} })
		}, "/api/v1/users/118", []string{`$.assets_count=1`, `$.available_actions.delete=false`}},
		{"renaming a user renames it in assigned_to", func(s *Server) error {
			return s.UpdateUser(42, func(u *User) { u.FirstName = "Zedd" })
		}, "/api/v1/hardware/912", []string{`$.assigned_to.first_name="Zedd"`, `$.assigned_to.name="Zedd O&#039;Fakename"`}},
		{"purging the assignee empties assigned_to", func(s *Server) error { return s.PurgeUser(42) },
			"/api/v1/hardware/912", []string{`$.assigned_to=null`, `$.status_label.status_meta="deployable"`}},
		{"checking out to an asset counts a child", func(s *Server) error {
			return s.UpdateAsset(2, func(a *Asset) { a.AssignedTo = &Assignment{Type: AssignedAsset, ID: 911} })
		}, "/api/v1/hardware/911", []string{`$.child_asset_count=1`, `$.user_can_checkout=true`}},
		{"an asset shows its parent asset's name", func(s *Server) error {
			return s.UpdateAsset(2, func(a *Asset) { a.AssignedTo = &Assignment{Type: AssignedAsset, ID: 912} })
		}, "/api/v1/hardware/2", []string{`$.assigned_to.name="FAKE-LT-0912"`, `$.assigned_to.type="asset"`}},
		{"archiving sets the archived label", func(s *Server) error { return s.ArchiveAsset(911) },
			"/api/v1/hardware/911", []string{`$.status_label.name="Archived"`, `$.status_label.status_type="archived"`}},
		{"an added asset is shown", func(s *Server) error {
			return s.AddAsset(Asset{ID: 5000, AssetTag: "NEW-1"})
		}, "/api/v1/hardware/5000", []string{`$.asset_tag="NEW-1"`}},
		{"a purged asset does not exist", func(s *Server) error { return s.PurgeAsset(911) },
			"/api/v1/hardware/911", []string{`$.messages="Asset does not exist."`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{Data: smallExampleData(), Now: clock.Now})
			// Render everything once so that stale cached rows would show.
			list(t, s, "/api/v1/users?limit=500")
			for _, id := range []string{"2", "911", "912"} {
				serve(t, s, "/api/v1/hardware/"+id)
			}
			if err := tc.mutate(s); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(flatten(t, serve(t, s, tc.target).Body.Bytes()), "\n") + "\n"
			for _, line := range tc.want {
				if !strings.Contains(got, line+"\n") {
					t.Errorf("%s lacks %s:\n%s", tc.target, line, got)
				}
			}
		})
	}
}

func TestMutationErrors(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData()})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"adding a taken id conflicts", s.AddUser(User{ID: 42}), model.ErrConflict},
		{"updating a missing user is not found", s.UpdateUser(999, func(*User) {}), model.ErrNotFound},
		{"changing the id is invalid", s.UpdateAsset(911, func(a *Asset) { a.ID = 1 }), model.ErrInvalid},
		{"restoring a live user conflicts", s.RestoreUser(42), model.ErrConflict},
		{"deleting twice conflicts", errors.Join(s.DeleteAsset(2), s.DeleteAsset(2)), model.ErrConflict},
		{"purging a missing asset is not found", s.PurgeAsset(999_999), model.ErrNotFound},
		{"duplicate ids are refused", s.Replace(&Dataset{Users: []User{{ID: 1}, {ID: 1}}}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || (tc.want != nil && !errors.Is(tc.err, tc.want)) {
				t.Errorf("err %v, want %v", tc.err, tc.want)
			}
		})
	}
}

func TestMutationsMoveRecordsBetweenLists(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: smallExampleData()})
	ids := func(target string) []int64 { return list(t, s, target+"&sort=id&order=asc&limit=500").rowIDs(t) }
	steps := []struct {
		name   string
		mutate func() error
		target string
		want   []int64
	}{
		{"a deleted user leaves the default list", func() error { return s.DeleteUser(42) }, "/api/v1/users?deleted=true", []int64{42}},
		{"a restored user leaves deleted=true", func() error { return s.RestoreUser(42) }, "/api/v1/users?deleted=true", nil},
		{"an archived asset moves to status=Archived", func() error { return s.ArchiveAsset(911) }, "/api/v1/hardware?status=Archived", []int64{911}},
		{"an unarchived asset leaves it", func() error { return s.UnarchiveAsset(911) }, "/api/v1/hardware?status=Archived", nil},
		{"a deleted archived asset is only in status=Deleted", func() error {
			return errors.Join(s.ArchiveAsset(911), s.DeleteAsset(911))
		}, "/api/v1/hardware?status=Deleted", []int64{911}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.mutate(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st.want, ids(st.target), cmpEmpty); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("Clear empties everything: total 0", func(t *testing.T) {
		s.Clear()
		if b := list(t, s, "/api/v1/users"); b.Total != 0 || len(b.Rows) != 0 || len(s.Users()) != 0 {
			t.Errorf("total %d, %d rows, %d expected users", b.Total, len(b.Rows), len(s.Users()))
		}
	})
	t.Run("Replace installs a new data set", func(t *testing.T) {
		if err := s.Replace(exampleData()); err != nil {
			t.Fatal(err)
		}
		if b := list(t, s, "/api/v1/users"); b.Total != 137 {
			t.Errorf("total %d", b.Total)
		}
	})
}

func TestMutationsLeaveTheDatasetAlone(t *testing.T) {
	t.Parallel()
	ds := exampleData()
	before := fmt.Sprintf("%+v", ds.Users[2])
	s := mustNew(t, Config{Data: ds})
	if err := s.UpdateUser(42, func(u *User) {
		u.Department.Name = "changed"
		u.Groups[0].Name = "changed"
		u.Companies[0].Name = "changed"
	}); err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprintf("%+v", ds.Users[2]); after != before {
		t.Errorf("the caller's record changed:\n%s\n%s", before, after)
	}
}

// TestRequestHook mutates the data between two pages, as a test of a
// client's paging does.
func TestRequestHook(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData()})
	var seen []RequestInfo
	s.OnRequest(func(r RequestInfo) {
		seen = append(seen, r)
		if r.Query.Get("offset") == "2" {
			if err := s.DeleteUser(7); err != nil {
				t.Error(err)
			}
		}
	})
	first := list(t, s, "/api/v1/users?sort=id&order=asc&limit=2&offset=0").rowIDs(t)
	second := list(t, s, "/api/v1/users?sort=id&order=asc&limit=2&offset=2")
	if diff := cmp.Diff([]int64{1, 7}, first); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	// User 7 went away before the second page was built: every row moved
	// up by one, so user 42 (third before) is skipped by offset paging.
	if diff := cmp.Diff([]int64{118, 200}, second.rowIDs(t)); diff != "" {
		t.Errorf("second page (-want +got):\n%s", diff)
	}
	if second.Total != 136 {
		t.Errorf("total %d", second.Total)
	}
	if len(seen) != 2 || seen[0].Seq != 1 || seen[1].Seq != 2 || seen[1].Path != "/api/v1/users" || seen[1].Method != "GET" {
		t.Errorf("hook saw %+v", seen)
	}
	s.OnRequest(nil)
	list(t, s, "/api/v1/users")
	if len(seen) != 2 {
		t.Error("the hook ran after being removed")
	}
}

// TestMutationsDuringRequests runs mutations against concurrent paging;
// run with -race it shows the store is safe to share, and every page is
// well-formed whatever happens between pages.
func TestMutationsDuringRequests(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Data: Generate(GenerateConfig{Users: 400, Assets: 400, Seed: 9}), MaxResults: 50})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{} // reused connections, as a real client's
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := []string{"/api/v1/users?", "/api/v1/hardware?status=Archived&", "/api/v1/users?all=true&"}[(w+i)%3]
				e := get(t, s, fmt.Sprintf("%ssort=id&order=asc&offset=%d", path, (i*50)%400), client)
				if e.status() != 200 || !e.isJSON() {
					t.Errorf("status %d, err %v, JSON %v", e.status(), e.err, e.isJSON())
					return
				}
			}
		})
	}
	users, assets := s.Users(), s.Assets()
	replacement := Generate(GenerateConfig{Users: 100, Assets: 100, Seed: 10})
	for i := range 200 {
		if i%50 == 49 {
			if err := s.Replace(replacement); err != nil {
				t.Fatal(err)
			}
			users, assets = s.Users(), s.Assets()
		}
		u, a := users[i%len(users)], assets[i%len(assets)]
		errs := []error{
			s.UpdateUser(u.ID, func(x *User) { x.FirstName += "!" }),
			s.DeleteUser(u.ID), s.RestoreUser(u.ID),
			s.ArchiveAsset(a.ID), s.UnarchiveAsset(a.ID),
			s.UpdateAsset(a.ID, func(x *Asset) { x.AssignedTo = &Assignment{Type: AssignedUser, ID: u.ID} }),
			s.AddUser(User{ID: int64(1_000_000 + i), FirstName: "Added"}),
			s.PurgeUser(int64(1_000_000 + i)),
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestRandomChanges makes many random changes: the same seed makes the
// same ones, and the expected state still is what the wire says.
func TestRandomChanges(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 120, Assets: 150, Seed: 8})
	run := func(v Version) (*Server, []string) {
		clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		s := Start(t, Config{Data: ds, Version: v, Now: clock.Now})
		rng := rand.New(rand.NewPCG(1, 2))
		var done []string
		for range 400 {
			clock.Advance(time.Second)
			what, err := s.RandomChange(rng)
			if err != nil && !errors.Is(err, model.ErrConflict) {
				t.Fatalf("%s: %v", what, err)
			}
			done = append(done, what)
		}
		return s, done
	}
	s, first := run(Version85)
	if _, again := run(Version85); !slices.Equal(first, again) {
		t.Errorf("the same seed made other changes")
	}
	kinds := map[string]bool{}
	for _, what := range first {
		kinds[strings.Fields(what)[0]] = true
	}
	for _, k := range []string{"checkout", "checkin", "audit", "update", "login", "rename", "delete", "restore", "archive", "add"} {
		if !kinds[k] {
			t.Errorf("no %q among the changes: %v", k, kinds)
		}
	}
	dec := wireDecoder{tz: s.Timezone(), v: s.Version()}
	if diff := cmp.Diff(s.Users(), fetchAll(t, s, "/api/v1/users?", dec.user)); diff != "" {
		t.Errorf("users after the changes (-expected +wire):\n%s", diff)
	}
	if len(s.Log()) == 0 {
		t.Error("nothing was logged")
	}
}

// TestMutateFault makes a change between two pages of a walk.
func TestMutateFault(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: smallExampleData()})
	in := s.Inject(Fault{Kind: FaultMutate, Path: "/api/v1/users", Query: map[string]string{"offset": "2"},
		Mutate: func(s *Server) error { return s.CheckoutAsset(911, 118) }})
	list(t, s, "/api/v1/users?limit=2&offset=0")
	if a := findAsset(s.Assets(), 911); a.AssignedUserID != nil {
		t.Fatal("changed before the matching page")
	}
	list(t, s, "/api/v1/users?limit=2&offset=2")
	if a := findAsset(s.Assets(), 911); a.AssignedUserID == nil || in.Fired() != 1 {
		t.Errorf("not changed by the matching page (fired %d)", in.Fired())
	}
}
