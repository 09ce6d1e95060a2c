package snipeittest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/usersync/usersync/pkg/model"
)

func TestPaging(t *testing.T) {
	t.Parallel()
	ds := exampleData() // 137 live users
	var ids []int64
	for _, u := range ds.Users {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	rows := func(offset, n int) []int64 { return ids[min(offset, len(ids)):min(offset+n, len(ids))] }
	tests := []struct {
		name    string
		cfg     Config
		query   string
		want    []int64
		perPage int // 0: the version has no per_page
	}{
		{"no limit gives MAX_RESULTS", Config{}, "", rows(0, 50), 50},
		{"a limit under the cap is used", Config{}, "limit=20", rows(0, 20), 20},
		{"a negative limit is made positive", Config{}, "limit=-20", rows(0, 20), 20},
		{"limit 0 gives MAX_RESULTS", Config{}, "limit=0", rows(0, 50), 50},
		{"a garbage limit gives MAX_RESULTS", Config{}, "limit=abc", rows(0, 50), 50},
		{"a limit with trailing garbage is read like intval", Config{}, "limit=7abc", rows(0, 7), 7},
		{"a limit over the cap is cut to the cap silently", Config{}, "limit=100000", rows(0, 50), 50},
		{"offset skips rows", Config{}, "limit=20&offset=130", rows(130, 20), 20},
		{"a negative offset is made positive", Config{}, "limit=5&offset=-10", rows(10, 5), 5},
		{"offset at the total gives no rows", Config{}, "offset=137", nil, 50},
		{"offset past the total is clamped: no rows, the right total", Config{}, "offset=100000", nil, 50},
		{"page selects offset (page-1)*limit", Config{}, "limit=20&page=3", rows(40, 20), 20},
		{"offset wins over page", Config{}, "limit=20&page=3&offset=5", rows(5, 20), 20},
		{"page 0 is the first page", Config{}, "limit=20&page=0", rows(0, 20), 20},
		{"8.5 ignores page", Config{Version: Version85}, "limit=20&page=3", rows(0, 20), 0},
		{"5.0 takes limit 0 as zero rows", Config{Version: Version50}, "limit=0", nil, 0},
		{"5.0 takes a garbage limit as zero rows", Config{Version: Version50}, "limit=abc", nil, 0},
		{"5.0 cuts a large limit to the cap", Config{Version: Version50}, "limit=1000", rows(0, 50), 0},
		{"5.0 clamps an offset past the total", Config{Version: Version50}, "offset=1000", nil, 0},
		{"before 2020 an offset past the total started over", Config{Version: Version50, LegacyOffsetReset: true}, "limit=10&offset=1000", rows(0, 10), 0},
		{"MaxResults is configurable", Config{MaxResults: 100}, "limit=1000", rows(0, 100), 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Data = ds
			if tc.cfg.MaxResults == 0 {
				tc.cfg.MaxResults = 50
			}
			s := mustNew(t, tc.cfg)
			b := list(t, s, "/api/v1/users?sort=id&order=asc&"+tc.query)
			if b.Total != len(ids) {
				t.Errorf("total %d, want %d", b.Total, len(ids))
			}
			if diff := cmp.Diff(tc.want, b.rowIDs(t), cmpEmpty); diff != "" {
				t.Errorf("row ids (-want +got):\n%s", diff)
			}
			gotPerPage := 0
			if b.PerPage != nil {
				gotPerPage = *b.PerPage
			}
			if gotPerPage != tc.perPage {
				t.Errorf("per_page %d, want %d", gotPerPage, tc.perPage)
			}
		})
	}
}

// cmpEmpty makes nil and empty slices equal.
var cmpEmpty = cmp.Comparer(func(a, b []int64) bool { return slices.Equal(a, b) })

func TestPageMetadata(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData(), MaxResults: 50})
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	tests := []struct {
		name   string
		target string
		want   listBody
	}{
		{"the first page has no previous page", "https://snipeit.example.test/api/v1/users?sort=id&order=asc&limit=2",
			listBody{Total: 137, CurrentPage: num(1), PerPage: num(2), TotalPages: num(69),
				NextPageURL: str("https://snipeit.example.test/api/v1/users?sort=id&order=asc&limit=2&page=2")}},
		{"a middle page links both ways and drops offset", "http://sim.test/api/v1/users?offset=4&sort=id&limit=2",
			listBody{Total: 137, CurrentPage: num(3), PerPage: num(2), TotalPages: num(69),
				PrevPageURL: str("http://sim.test/api/v1/users?sort=id&limit=2&page=2"),
				NextPageURL: str("http://sim.test/api/v1/users?sort=id&limit=2&page=4")}},
		{"a query without limit gets it appended", "http://sim.test/api/v1/users?page=2&foo=a+b%2Fc",
			listBody{Total: 137, CurrentPage: num(2), PerPage: num(50), TotalPages: num(3),
				PrevPageURL: str("http://sim.test/api/v1/users?foo=a+b%2Fc&page=1&limit=50"),
				NextPageURL: str("http://sim.test/api/v1/users?foo=a+b%2Fc&page=3&limit=50")}},
		{"the last page has no next page", "http://sim.test/api/v1/users?limit=50&page=3",
			listBody{Total: 137, CurrentPage: num(3), PerPage: num(50), TotalPages: num(3),
				PrevPageURL: str("http://sim.test/api/v1/users?limit=50&page=2")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := list(t, s, tc.target)
			got.Rows = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTiedSortsPageInconsistently shows the trap of paging a sort that is
// not unique: as in MySQL, which tied rows fill a page depends on the
// page's window and on the table's content, so walking such a listing by
// offset skips some rows and repeats others even when nothing changes,
// while sort=id pages every row once. The same query on unchanged data
// repeats itself; any change reorders the ties.
func TestTiedSortsPageInconsistently(t *testing.T) {
	t.Parallel()
	ds := &Dataset{}
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 40 {
		ds.Users = append(ds.Users, User{ID: int64(10 + 3*i), FirstName: "Same", LastName: fmt.Sprint(i % 2), Username: fmt.Sprint("u", i),
			UpdatedAt: created})
		ds.Assets = append(ds.Assets, Asset{ID: int64(10 + 3*i), AssetTag: fmt.Sprint("T", i), CreatedAt: created, UpdatedAt: created})
	}
	tests := []struct {
		name   string
		target string
		unique bool
	}{
		{"users' default first_name sort", "/api/v1/users?limit=10", false},
		{"an explicit first_name sort on full ties", "/api/v1/users?limit=10&sort=first_name", false},
		{"users by updated_at", "/api/v1/users?limit=10&sort=updated_at", false},
		{"hardware's default created_at sort", "/api/v1/hardware?limit=10", false},
		{"hardware by updated_at", "/api/v1/hardware?limit=10&sort=updated_at", false},
		{"users by id", "/api/v1/users?limit=10&sort=id", true},
		{"hardware by id", "/api/v1/hardware?limit=10&sort=id&order=asc", true},
	}
	for _, tc := range tests {
		s := mustNew(t, Config{Data: ds})
		walk := func() map[int64]int {
			seen := map[int64]int{}
			for offset := 0; offset < 40; offset += 10 {
				for _, id := range list(t, s, fmt.Sprintf("%s&offset=%d", tc.target, offset)).rowIDs(t) {
					seen[id]++
				}
			}
			return seen
		}
		if tc.unique {
			t.Run(tc.name+" pages every row once", func(t *testing.T) {
				seen := walk()
				for id, n := range seen {
					if n != 1 {
						t.Errorf("row %d came %d times", id, n)
					}
				}
				if len(seen) != 40 {
					t.Errorf("%d rows seen, want 40", len(seen))
				}
			})
			continue
		}
		t.Run(tc.name+" skips and repeats tied rows across pages", func(t *testing.T) {
			if seen := walk(); len(seen) == 40 {
				t.Errorf("every one of the 40 tied rows came once: ties are ordered consistently across pages")
			}
		})
		t.Run(tc.name+" repeats a page on unchanged data", func(t *testing.T) {
			first := list(t, s, tc.target).rowIDs(t)
			if again := list(t, s, tc.target).rowIDs(t); !slices.Equal(first, again) {
				t.Errorf("the same query gave %v, then %v", first, again)
			}
		})
		t.Run(tc.name+" reorders ties after a change", func(t *testing.T) {
			first := list(t, s, tc.target).rowIDs(t)
			must(t, s.UpdateUser(10, func(u *User) { u.Email = "changed@example.test" }))
			if again := list(t, s, tc.target).rowIDs(t); slices.Equal(first, again) {
				t.Errorf("the page is the same after a change: %v", again)
			}
		})
	}
}

func TestSortOrder(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: Generate(GenerateConfig{Users: 200, Assets: 200, Seed: 3})})
	users := s.Users()
	assets := s.Assets()
	tests := []struct {
		name   string
		target string
		key    func(id int64) string
		asc    bool
	}{
		{"users by username ascending", "/api/v1/users?sort=username&order=asc", func(id int64) string { return findUser(users, id).Username }, true},
		{"users by last_name, desc unless order is exactly asc", "/api/v1/users?sort=last_name&order=ASC", func(id int64) string { return findUser(users, id).LastName }, false},
		{"an unknown users sort falls back to first_name desc", "/api/v1/users?sort=bogus", func(id int64) string { return findUser(users, id).FirstName }, false},
		{"users by id descending", "/api/v1/users?sort=id", func(id int64) string { return fmt.Sprintf("%09d", id) }, false},
		{"hardware by asset_tag ascending", "/api/v1/hardware?sort=asset_tag&order=asc", func(id int64) string { return findAsset(assets, id).AssetTag }, true},
		{"hardware defaults to created_at desc", "/api/v1/hardware", func(id int64) string { return findAsset(assets, id).CreatedAt.Format(time.RFC3339) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := list(t, s, tc.target).rowIDs(t)
			if len(ids) < 100 {
				t.Fatalf("only %d rows", len(ids))
			}
			for i := 1; i < len(ids); i++ {
				a, b := tc.key(ids[i-1]), tc.key(ids[i])
				if (tc.asc && a > b) || (!tc.asc && a < b) {
					t.Fatalf("rows %d and %d out of order: %q, %q", i-1, i, a, b)
				}
			}
		})
	}
}

func findUser(us []model.User, id int64) model.User {
	for _, u := range us {
		if u.ID == id {
			return u
		}
	}
	panic(fmt.Sprint("no user ", id))
}

func findAsset(as []model.Asset, id int64) model.Asset {
	for _, a := range as {
		if a.ID == id {
			return a
		}
	}
	panic(fmt.Sprint("no asset ", id))
}

func TestSelection(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 250, Assets: 400, Seed: 11, ArchivedFraction: 0.2})
	idsWhere := func(keepUser func(*User) bool, keepAsset func(*Asset) bool) []int64 {
		var ids []int64
		for i := range ds.Users {
			if keepUser != nil && keepUser(&ds.Users[i]) {
				ids = append(ids, ds.Users[i].ID)
			}
		}
		for i := range ds.Assets {
			if keepAsset != nil && keepAsset(&ds.Assets[i]) {
				ids = append(ids, ds.Assets[i].ID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	live := func(a *Asset) bool { return a.DeletedAt.IsZero() }
	statusType := func(a *Asset) string { return a.Status.Type }
	tests := []struct {
		name         string
		showArchived bool
		query        string
		want         []int64
	}{
		{"users are live ones by default", false, "/api/v1/users", idsWhere(func(u *User) bool { return u.DeletedAt.IsZero() }, nil)},
		{"deleted=true lists only soft-deleted users", false, "/api/v1/users?deleted=true", idsWhere(func(u *User) bool { return !u.DeletedAt.IsZero() }, nil)},
		{"all=true lists live and deleted users", false, "/api/v1/users?all=true", idsWhere(func(*User) bool { return true }, nil)},
		{"deleted wins over all", false, "/api/v1/users?all=true&deleted=true", idsWhere(func(u *User) bool { return !u.DeletedAt.IsZero() }, nil)},
		{"search matches names case-insensitively", false, "/api/v1/users?search=m%C3%9CLLER", idsWhere(func(u *User) bool {
			return u.DeletedAt.IsZero() && (strings.Contains(u.LastName, "Müller") || strings.Contains(u.FirstName, "Müller"))
		}, nil)},
		{"department_id filters users", false, "/api/v1/users?department_id=3", idsWhere(func(u *User) bool {
			return u.DeletedAt.IsZero() && u.Department != nil && u.Department.ID == 3
		}, nil)},
		{"company_id matches any of a user's companies", false, "/api/v1/users?company_id=2", idsWhere(func(u *User) bool {
			return u.DeletedAt.IsZero() && slices.ContainsFunc(u.Companies, func(c Tagged) bool { return c.ID == 2 })
		}, nil)},
		{"hardware hides archived assets by default", false, "/api/v1/hardware", idsWhere(nil, func(a *Asset) bool { return live(a) && statusType(a) != StatusArchived })},
		{"show_archived_in_list shows them", true, "/api/v1/hardware", idsWhere(nil, live)},
		{"status=Archived lists only live archived assets", false, "/api/v1/hardware?status=Archived", idsWhere(nil, func(a *Asset) bool { return live(a) && statusType(a) == StatusArchived })},
		{"status=Deleted lists only soft-deleted assets", false, "/api/v1/hardware?status=Deleted", idsWhere(nil, func(a *Asset) bool { return !live(a) })},
		{"status_id includes archived assets", false, "/api/v1/hardware?status_id=3", idsWhere(nil, func(a *Asset) bool { return live(a) && a.Status.ID == 3 })},
		{"status=Pending", false, "/api/v1/hardware?status=Pending", idsWhere(nil, func(a *Asset) bool { return live(a) && statusType(a) == StatusPending })},
		{"status=RTD is deployable and not checked out", false, "/api/v1/hardware?status=RTD", idsWhere(nil, func(a *Asset) bool {
			return live(a) && statusType(a) == StatusDeployable && a.AssignedTo == nil
		})},
		{"status=Deployed is checked out", false, "/api/v1/hardware?status=Deployed", idsWhere(nil, func(a *Asset) bool { return live(a) && a.AssignedTo != nil })},
		{"status=Undeployable", false, "/api/v1/hardware?status=Undeployable", idsWhere(nil, func(a *Asset) bool { return live(a) && statusType(a) == StatusUndeployable })},
		{"status=byod", false, "/api/v1/hardware?status=byod", idsWhere(nil, func(a *Asset) bool { return live(a) && a.Byod })},
		{"an unknown status is the default list", false, "/api/v1/hardware?status=Bogus", idsWhere(nil, func(a *Asset) bool { return live(a) && statusType(a) != StatusArchived })},
	}
	// One server per setting, so that rows are rendered once.
	servers := map[bool]*Server{
		false: mustNew(t, Config{Data: ds, MaxResults: 1000}),
		true:  mustNew(t, Config{Data: ds, MaxResults: 1000, ShowArchivedInList: true}),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatal("the generated data has no rows for this case; the test proves nothing")
			}
			s := servers[tc.showArchived]
			sep := "?"
			if strings.Contains(tc.query, "?") {
				sep = "&"
			}
			b := list(t, s, tc.query+sep+"sort=id&order=asc&limit=1000")
			if diff := cmp.Diff(tc.want, b.rowIDs(t)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if b.Total != len(tc.want) {
				t.Errorf("total %d, want %d", b.Total, len(tc.want))
			}
		})
	}
}

// TestSortByUpdatedAt: hardware sorts by updated_at on every version;
// users only from 7.1.14 (8.5 here): before, sort=updated_at is answered
// in first_name order, desc, without a word.
func TestSortByUpdatedAt(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 300, Assets: 300, Seed: 21})
	for _, v := range versions {
		s := mustNew(t, Config{Data: ds, Version: v})
		users, assets := s.Users(), s.Assets()
		nonIncreasing := func(ids []int64, key func(int64) string) bool {
			for i := 1; i < len(ids); i++ {
				if key(ids[i-1]) < key(ids[i]) {
					return false
				}
			}
			return true
		}
		userUpdated := func(id int64) string { return findUser(users, id).UpdatedAt.Format(time.RFC3339) }
		userFirst := func(id int64) string { return findUser(users, id).FirstName }
		assetUpdated := func(id int64) string { return findAsset(assets, id).UpdatedAt.Format(time.RFC3339) }
		u := list(t, s, "/api/v1/users?sort=updated_at&order=desc&limit=200").rowIDs(t)
		byUpdated, byFirst := nonIncreasing(u, userUpdated), nonIncreasing(u, userFirst)
		if wantUpdated := v.sortsUsersByUpdatedAt(); byUpdated != wantUpdated || byFirst == wantUpdated {
			t.Errorf("%s users: in updated_at order %v, in first_name order %v; want updated_at %v", v, byUpdated, byFirst, wantUpdated)
		}
		if a := list(t, s, "/api/v1/hardware?sort=updated_at&order=desc&limit=200").rowIDs(t); !nonIncreasing(a, assetUpdated) {
			t.Errorf("%s hardware: not in updated_at order", v)
		}
	}
}

// TestDatetimeSortFollowsTheWallClock: around a change from summer time
// the wall clock repeats an hour, and MySQL sorts the DATETIME column by
// it, not by the instant.
func TestDatetimeSortFollowsTheWallClock(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	// 00:50 UTC is 02:50 CEST; 01:10 UTC, twenty minutes later, is 02:10
	// CET: earlier on the wall clock.
	ds := &Dataset{Assets: []Asset{
		{ID: 1, AssetTag: "A", UpdatedAt: time.Date(2025, 10, 26, 0, 50, 0, 0, time.UTC)},
		{ID: 2, AssetTag: "B", UpdatedAt: time.Date(2025, 10, 26, 1, 10, 0, 0, time.UTC)},
	}}
	s := mustNew(t, Config{Data: ds, Timezone: paris})
	if got := list(t, s, "/api/v1/hardware?sort=updated_at&order=desc").rowIDs(t); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("order %v, want [1 2] (02:50 before 02:10 on the wall clock)", got)
	}
}
