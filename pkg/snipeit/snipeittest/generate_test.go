package snipeittest

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	cfg := GenerateConfig{Users: 100, Assets: 100, Seed: 42}
	if diff := cmp.Diff(Generate(cfg), Generate(cfg)); diff != "" {
		t.Errorf("two runs differ:\n%s", diff)
	}
	other := cfg
	other.Seed = 43
	if cmp.Equal(Generate(cfg), Generate(other)) {
		t.Error("different seeds give the same data")
	}
}

func TestGenerateSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		cfg                           GenerateConfig
		users, assets, deletedU, delA int
	}{
		{"nothing", GenerateConfig{}, 0, 0, 0, 0},
		{"one user is the admin", GenerateConfig{Users: 1}, 1, 0, 0, 0},
		{"4 % are deleted by default", GenerateConfig{Users: 1000, Assets: 500}, 1000, 500, 40, 20},
		{"deletions can be set", GenerateConfig{Users: 100, Assets: 100, DeletedUsers: 7, DeletedAssets: 9}, 100, 100, 7, 9},
		{"negative means none deleted", GenerateConfig{Users: 100, Assets: 100, DeletedUsers: -1, DeletedAssets: -1}, 100, 100, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := Generate(tc.cfg)
			deletedU, deletedA := 0, 0
			for _, u := range ds.Users {
				if !u.DeletedAt.IsZero() {
					deletedU++
				}
			}
			for _, a := range ds.Assets {
				if !a.DeletedAt.IsZero() {
					deletedA++
				}
			}
			got := []int{len(ds.Users), len(ds.Assets), deletedU, deletedA}
			if diff := cmp.Diff([]int{tc.users, tc.assets, tc.deletedU, tc.delA}, got); diff != "" {
				t.Errorf("users, assets, deleted users, deleted assets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGeneratedDataIsVaried checks that generated data has every trap a
// mirror must handle.
func TestGeneratedDataIsVaried(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 2000, Assets: 2000, Seed: 1})
	s := mustNew(t, Config{Data: ds})
	users, assets := s.Users(), s.Assets()
	var names strings.Builder
	for _, u := range users {
		names.WriteString(u.Name + "|" + u.JobTitle + "|" + u.DepartmentName + "|" + u.LocationName + "|" + u.CompanyName + "\n")
	}
	all := names.String()
	anyUser := func(f func(i int) bool) bool {
		for i := range users {
			if f(i) {
				return true
			}
		}
		return false
	}
	anyAsset := func(f func(i int) bool) bool {
		for i := range assets {
			if f(i) {
				return true
			}
		}
		return false
	}
	gaps := false
	for i := 1; i < len(ds.Users); i++ {
		if ds.Users[i].ID <= ds.Users[i-1].ID {
			t.Fatalf("user ids not increasing at %d", i)
		}
		gaps = gaps || ds.Users[i].ID > ds.Users[i-1].ID+1
	}
	archived := 0
	for _, a := range assets {
		if a.StatusType == StatusArchived {
			archived++
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"ids have gaps", gaps},
		{"names have &", strings.Contains(all, "&")},
		{"names have '", strings.Contains(all, "'")},
		{`names have "`, strings.Contains(all, `"`)},
		{"names have <b>", strings.Contains(all, "<b>")},
		{"names have é", strings.Contains(all, "é")},
		{"names have ß", strings.Contains(all, "ß")},
		{"names have CJK", strings.ContainsAny(all, "日本山田東京")},
		{"names are valid UTF-8", utf8.ValidString(all)},
		{"some users have no last name", anyUser(func(i int) bool { return users[i].LastName == "" })},
		{"some users have no email", anyUser(func(i int) bool { return users[i].Email == "" })},
		{"some users have no department", anyUser(func(i int) bool { return users[i].DepartmentID == nil })},
		{"some users have no location", anyUser(func(i int) bool { return users[i].LocationID == nil })},
		{"some users have no manager", anyUser(func(i int) bool { return users[i].ManagerID == nil })},
		{"some users have a manager", anyUser(func(i int) bool { return users[i].ManagerID != nil })},
		{"some users have no company", anyUser(func(i int) bool { return len(users[i].CompanyIDs) == 0 })},
		{"some users have several companies", anyUser(func(i int) bool { return len(users[i].CompanyIDs) > 1 })},
		{"some users have no groups", anyUser(func(i int) bool { return users[i].Groups == nil })},
		{"some users have groups", anyUser(func(i int) bool { return len(users[i].Groups) > 1 })},
		{"some users have assets", anyUser(func(i int) bool { return users[i].AssetsCount > 0 })},
		{"some users are admins", anyUser(func(i int) bool { return users[i].Role == "admin" })},
		{"some users have notes with markup", anyUser(func(i int) bool { return strings.Contains(users[i].Notes, "<em>") })},
		{"about 5 % of live assets are archived", archived > len(assets)/40 && archived < len(assets)/10},
		{"some assets have no custom fields", anyAsset(func(i int) bool { return len(assets[i].CustomFields) == 0 })},
		{"some assets have custom fields", anyAsset(func(i int) bool { return len(assets[i].CustomFields) > 1 })},
		{"some assets are checked out to users", anyAsset(func(i int) bool { return assets[i].AssignedType == "user" })},
		{"some assets are checked out to locations", anyAsset(func(i int) bool { return assets[i].AssignedType == "location" })},
		{"some assets are checked out to assets", anyAsset(func(i int) bool { return assets[i].AssignedType == "asset" })},
		{"some assets cost over 1,000", anyAsset(func(i int) bool { return len(assets[i].PurchaseCost) > len("999.99") })},
		{"some assets have no cost", anyAsset(func(i int) bool { return assets[i].PurchaseCost == "" })},
		{"some assets have no name", anyAsset(func(i int) bool { return assets[i].Name == "" })},
		{"some assets have no model number", anyAsset(func(i int) bool { return assets[i].ModelNumber == "" })},
		{"some assets have no warranty", anyAsset(func(i int) bool { return assets[i].WarrantyMonths == nil })},
		{"some assets share created_at", anyAsset(func(i int) bool { return i > 0 && assets[i].CreatedAt.Equal(*assets[i-1].CreatedAt) })},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Error("not in the generated data")
			}
		})
	}
}
