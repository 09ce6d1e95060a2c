package snipeittest

import (
	"encoding/json"
	"errors"
	"net/http"
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
	t.Run("a location's manager is shown by the location and counted by the user", func(t *testing.T) {
		clock.Advance(time.Minute)
		before := findUser(s.Users(), 42).UpdatedAt
		must(t, s.SetLocationManager(5, 42))
		type located struct {
			ID        int64
			UpdatedAt struct{ Datetime string } `json:"updated_at"`
			Manager   *struct {
				ID                    int64
				Username              string
				ManagesLocationsCount *int `json:"manages_locations_count"`
			}
		}
		locations := func() map[int64]located {
			t.Helper()
			out := map[int64]located{}
			for _, raw := range list(t, s, "/api/v1/locations?sort=id&order=asc").Rows {
				var l located
				if err := json.Unmarshal(raw, &l); err != nil {
					t.Fatal(err)
				}
				out[l.ID] = l
			}
			return out
		}
		// The manager is UsersTransformer's whole row, its counts 0: the
		// listing loads none.
		got := locations()
		if m := got[5].Manager; m == nil || m.ID != 42 || m.Username == "" || m.ManagesLocationsCount == nil || *m.ManagesLocationsCount != 0 {
			t.Errorf("location 5's manager %+v, want user 42's row with its counts at 0", m)
		}
		if got[5].UpdatedAt.Datetime != "2026-01-02 03:06:05" || got[9].Manager != nil {
			t.Errorf("locations after the change: %+v; want 5 saved, 9 without a manager", got)
		}
		if u := findUser(s.Users(), 42); u.ManagesLocationsCount != 1 || !u.UpdatedAt.Equal(*before) {
			t.Errorf("user 42: manages_locations_count %d, updated_at %v (was %v); want 1, unchanged", u.ManagesLocationsCount, u.UpdatedAt, before)
		}
		if l := s.Locations(); l[0].ManagerID == nil || *l[0].ManagerID != 42 {
			t.Errorf("Locations()[0] %+v, want managed by 42", l[0])
		}
		// Bulk-deleted as it is, the manager is no relation any more; its
		// deleted row still counts the location.
		must(t, s.DeleteUser(42))
		if m := locations()[5].Manager; m != nil {
			t.Errorf("location 5's manager %+v after the manager's delete, want null", m)
		}
		var row struct {
			ManagesLocationsCount int `json:"manages_locations_count"`
		}
		if err := json.Unmarshal(serve(t, s, "/api/v1/users/42").Body.Bytes(), &row); err != nil || row.ManagesLocationsCount != 1 {
			t.Errorf("deleted user 42's manages_locations_count %d (%v), want 1", row.ManagesLocationsCount, err)
		}
		if err := s.SetLocationManager(9, 42); !errors.Is(err, model.ErrConflict) {
			t.Errorf("a deleted manager: err %v, want ErrConflict", err)
		}
		if err := s.SetLocationManager(999, 0); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("an unknown location: err %v, want ErrNotFound", err)
		}
	})
}

// TestAssetReferenceListings: models, status labels and suppliers are
// listed from what assets show; a category's or manufacturer's rename
// shows in the models listing without moving a model's updated_at, and a
// status label's type edit moves its assets between the listings without
// moving theirs.
func TestAssetReferenceListings(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := mustNew(t, Config{Data: Generate(GenerateConfig{Users: 30, Assets: 60, Seed: 3}), Now: clock.Now})
	model14 := func() model.AssetModel {
		for _, m := range s.Models() {
			if m.ID == 14 {
				return m
			}
		}
		t.Fatal("no model 14")
		return model.AssetModel{}
	}
	before := model14()
	clock.Advance(time.Minute)
	must(t, s.RenameCategory(*before.CategoryID, "Notebooks"))
	must(t, s.RenameManufacturer(*before.ManufacturerID, "Example Devices GmbH"))
	after := model14()
	if after.CategoryName != "Notebooks" || after.ManufacturerName != "Example Devices GmbH" || !after.UpdatedAt.Equal(*before.UpdatedAt) {
		t.Errorf("model 14 after renaming its category and manufacturer: %+v (was %+v)", after, before)
	}
	for _, a := range s.Assets() {
		if a.ModelID != nil && *a.ModelID == 14 && (a.CategoryName != "Notebooks" || a.ManufacturerName != "Example Devices GmbH") {
			t.Fatalf("asset %d shows category %q, manufacturer %q", a.ID, a.CategoryName, a.ManufacturerName)
		}
	}

	var body struct {
		Rows []struct {
			ID           int64
			Name         string
			ModelNumber  string `json:"model_number"`
			Category     struct{ Name string }
			Manufacturer struct{ Name string }
		}
	}
	if err := json.Unmarshal(serve(t, s, "/api/v1/models?sort=id&order=asc").Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if got := body.Rows[0]; got.ID != 14 || got.Category.Name != "Notebooks" || got.ModelNumber != "EX-14-FAKE" {
		t.Errorf("GET /models first row: %+v", got)
	}

	clock.Advance(time.Minute)
	archived := len(list(t, s, "/api/v1/hardware?status=Archived").Rows)
	must(t, s.SetStatusLabelType(4, StatusArchived))
	if got := len(list(t, s, "/api/v1/hardware?status=Archived").Rows); got <= archived {
		t.Errorf("archived assets: %d before, %d after label 4 became archived", archived, got)
	}
	for _, l := range s.StatusLabels() {
		if l.ID == 4 && (l.Type != StatusArchived || !l.UpdatedAt.Equal(clock.Now())) {
			t.Errorf("label 4: %+v", l)
		}
	}
	must(t, s.RenameSupplier(4, "Supplies & Co"))
	if got := s.Suppliers()[0]; got.ID != 4 || got.Name != "Supplies & Co" {
		t.Errorf("first supplier %+v", got)
	}
	if w := serve(t, s, "/api/v1/suppliers"); w.Header().Get("Date") != clock.Now().Format(http.TimeFormat) {
		t.Errorf("Date %q, want the server's clock %s", w.Header().Get("Date"), clock.Now().Format(http.TimeFormat))
	}
}
