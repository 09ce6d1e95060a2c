package snipeittest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/usersync/usersync/pkg/model"
)

func TestReferenceListings(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := mustNew(t, Config{Data: smallExampleData(), Now: clock.Now})
	type row struct {
		ID          int64
		Name        string
		UsersCount  int                       `json:"users_count"`
		AssetsCount *int                      `json:"assets_count"`
		UpdatedAt   struct{ Datetime string } `json:"updated_at"`
	}
	rows := func(path string) []row {
		t.Helper()
		var out []row
		for _, raw := range list(t, s, path).Rows {
			var r row
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	one := 1
	t.Run("each lists what users and assets show, with counts", func(t *testing.T) {
		for path, want := range map[string][]row{
			"/api/v1/departments?sort=id&order=asc": {{ID: 3, Name: "R&amp;D (Fake)", UsersCount: 1}},
			"/api/v1/companies?sort=id&order=asc":   {{ID: 1, Name: "Fakeco Ltd", UsersCount: 1, AssetsCount: &one}},
		} {
			got := rows(path)
			for i := range got {
				got[i].UpdatedAt.Datetime = ""
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		}
		if got := rows("/api/v1/locations?sort=id&order=asc"); len(got) != 2 || got[0].ID != 5 || got[1].ID != 9 {
			t.Errorf("locations %+v, want 5 and 9", got)
		}
	})
	t.Run("a rename saves the reference's row, not its users'", func(t *testing.T) {
		clock.Advance(time.Minute)
		before := findUser(s.Users(), 42).UpdatedAt
		must(t, s.RenameDepartment(3, "Research"))
		got := rows("/api/v1/departments?sort=updated_at&order=desc")[0]
		if got.ID != 3 || got.Name != "Research" || got.UpdatedAt.Datetime != "2026-01-02 03:05:05" {
			t.Errorf("department after the rename: %+v", got)
		}
		want := []model.Reference{{ID: 3, Name: "Research", UpdatedAt: ptr(time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC))}}
		if diff := gocmp.Diff(want, s.Departments()); diff != "" {
			t.Errorf("Departments (-want +got):\n%s", diff)
		}
		if after := findUser(s.Users(), 42); !after.UpdatedAt.Equal(*before) || after.DepartmentName != "Research" {
			t.Errorf("user 42: department %q, updated_at %v (was %v)", after.DepartmentName, after.UpdatedAt, before)
		}
	})
	t.Run("renaming what nothing knows is not found", func(t *testing.T) {
		if err := s.RenameLocation(999, "Nowhere"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
}
