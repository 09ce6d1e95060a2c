package snipeittest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// exampleNow is when the example pages were taken, as far as the derived
// fields tell (asset 912's age "9 months ago", book value 974.25).
var exampleNow = time.Date(2025, time.October, 20, 12, 0, 0, 0, time.UTC)

func at(s string) time.Time {
	layout := time.DateTime
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// exampleData mirrors the records behind the example pages in
// pkg/snipeit/testdata: the two users and two assets shown, the records
// they refer to, and fillers that make the totals (137 users, 912 assets)
// and sort below them.
func exampleData() *Dataset {
	admin := &Ref{ID: 1, Name: "Admin Fakeuser"}
	fakeco := Tagged{ID: 1, Name: "Fakeco Ltd"}
	hq := &Tagged{ID: 5, Name: "Fake HQ - Floor 2", TagColor: "#3c8dbc"}
	storeRoom := &Tagged{ID: 9, Name: "Fake IT Store Room"}
	ready := StatusLabel{ID: 2, Name: "Ready to Deploy", Type: StatusDeployable}
	ds := &Dataset{
		Users: []User{
			{ID: 1, FirstName: "Admin", LastName: "Fakeuser", Username: "admin", Activated: true,
				Permissions: []Permission{{"superuser", 1}}, CreatedAt: at("2020-01-01 00:00:00")},
			{ID: 7, FirstName: "Manny", LastName: "Placeholder", Username: "manny", Activated: true,
				CreatedAt: at("2020-01-01 00:00:00")},
			{
				ID:                 42,
				Avatar:             "https://snipeit.example.test/uploads/avatars/fake-avatar-42.png",
				FirstName:          "Zed",
				LastName:           "O'Fakename",
				Username:           "zed.ofakename",
				Locale:             "en-US",
				EmployeeNum:        "FAKE-00042",
				ManagerID:          7,
				JobTitle:           "Test Data Engineer",
				Phone:              "+1-555-0100",
				Address:            "1 Example Street",
				City:               "Exampleville",
				State:              "EX",
				Country:            "United States",
				Zip:                "00000",
				Email:              "zed.ofakename@example.test",
				Department:         &Department{Tagged: Tagged{ID: 3, Name: "R&D (Fake)"}, Manager: &Ref{ID: 7, Name: "Manny Placeholder"}},
				Location:           hq,
				Notes:              "Imported by the *fixture* script",
				Activated:          true,
				AutoassignLicenses: true,
				Companies:          []Tagged{fakeco},
				CreatedBy:          admin,
				CreatedAt:          at("2024-02-14 09:31:07"),
				UpdatedAt:          at("2025-11-03 16:05:44"),
				StartDate:          at("2024-02-19"),
				LastLogin:          at("2025-11-03 08:12:19"),
				Groups:             []Ref{{ID: 2, Name: "Fake Staff"}},
			},
			{
				ID:          118,
				FirstName:   "Yara",
				Username:    "yara.test",
				Remote:      true,
				Permissions: []Permission{{"superuser", 1}},
				LDAPImport:  true,
				CreatedAt:   at("2025-06-30 23:59:01"),
				UpdatedAt:   at("2025-06-30 23:59:01"),
			},
		},
		Assets: []Asset{
			{
				ID:       912,
				Name:     "FAKE-LT-0912",
				AssetTag: "LT-000912",
				Serial:   "FAKESERIAL0912",
				Model: &AssetModel{ID: 14, Name: "Exampletop 14 (Fake)", ModelNumber: "EX-14-FAKE",
					Image:        "https://snipeit.example.test/uploads/models/exampletop-14-fake.png",
					Category:     &Tagged{ID: 3, Name: "Laptops"},
					Manufacturer: &Tagged{ID: 6, Name: "Example Devices Inc."},
					Depreciation: &Depreciation{ID: 1, Name: "Fake 3-year straight line", Months: 36, Type: "amount"}},
				EOLDate:         at("2028-01-15"),
				Status:          &ready,
				Supplier:        &Tagged{ID: 4, Name: "Placeholder Supplies & Co"},
				Notes:           "Keyboard replaced under **fake** warranty",
				OrderNumber:     "PO-FAKE-2025-001",
				Company:         &fakeco,
				Location:        hq,
				RTDLocation:     storeRoom,
				AssignedTo:      &Assignment{Type: AssignedUser, ID: 42},
				WarrantyMonths:  36,
				CreatedBy:       admin,
				CreatedAt:       at("2025-01-20 10:02:33"),
				UpdatedAt:       at("2025-10-07 14:48:10"),
				LastAuditDate:   at("2025-09-01 00:00:00"),
				NextAuditDate:   at("2026-09-01"),
				PurchaseDate:    at("2025-01-15"),
				LastCheckout:    at("2025-01-21 09:00:12"),
				PurchaseCost:    ptr[int64](129900),
				CheckoutCounter: 1,
				CustomFields: []CustomField{
					{Name: "MAC Address", Field: "_snipeit_mac_address_1", Value: "00:00:5E:00:53:AF", Format: "MAC", Element: "text"},
					{Name: "RAM", Field: "_snipeit_ram_2", Value: "16GB", Format: "ANY", Element: "text"},
				},
			},
			{
				ID:          911,
				AssetTag:    "MON-000911",
				Model:       &AssetModel{ID: 21, Name: "Sampleview 27 (Fake)", Category: &Tagged{ID: 7, Name: "Monitors"}},
				Requestable: true,
				Status:      &ready,
				Location:    storeRoom,
				RTDLocation: storeRoom,
				CreatedAt:   at("2025-01-20 09:58:47"),
				UpdatedAt:   at("2025-01-20 09:58:47"),
			},
		},
	}
	// User 42 holds a license seat and three consumables.
	ds.Licenses = []License{{ID: 1, Name: "Fake Office Suite", Seats: []int64{42, 0, 0}}}
	ds.Consumables = []Consumable{{ID: 1, Name: "Fake Toner", Qty: 10, Checkouts: []int64{42, 42, 42}}}
	ds.Accessories = []Accessory{{ID: 1, Name: "Fake Dock", Qty: 5}}
	for i := range 133 {
		ds.Users = append(ds.Users, User{ID: int64(200 + i), FirstName: "Filler", LastName: "User", Username: "filler" + pad(int64(i), 3)})
	}
	for i := range 910 {
		a := Asset{ID: int64(1 + i), AssetTag: "FILL-" + pad(int64(i), 4), Status: &ready, CreatedAt: at("2024-01-01 00:00:00")}
		if i == 0 {
			a.AssignedTo = &Assignment{Type: AssignedUser, ID: 42} // user 42 has two assets
		}
		ds.Assets = append(ds.Assets, a)
	}
	return ds
}

// smallExampleData is exampleData with only the assets tests refer to:
// 912, 911 and the fillers 1 (checked out to user 42) and 2.
func smallExampleData() *Dataset {
	ds := exampleData()
	ds.Assets = ds.Assets[:4]
	return ds
}

// TestPagesMatchExamples serves the example pages' data and compares the
// whole response, key order and types included, with the example.
func TestPagesMatchExamples(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData(), Now: func() time.Time { return exampleNow }})
	for _, tc := range []struct{ target, file string }{
		{"https://snipeit.example.test/api/v1/users?limit=2", "snipeit-users-page.json"},
		{"https://snipeit.example.test/api/v1/hardware?limit=2", "snipeit-hardware-page.json"},
	} {
		t.Run(tc.file+" is reproduced", func(t *testing.T) {
			w := serve(t, s, tc.target)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if diff := cmp.Diff(flatten(t, readTestdata(t, tc.file)), flatten(t, w.Body.Bytes())); diff != "" {
				t.Errorf("response differs from the example (-example +served):\n%s", diff)
			}
		})
	}
}

// TestRowShapeByVersion checks that each version's rows have one shape
// for every record (only the types of nullable fields vary), that 8.6 rows
// have the example's keys in the example's order, and the version-specific
// differences.
func TestRowShapeByVersion(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 120, Assets: 150, Seed: 7, DeletedUsers: 5, DeletedAssets: 5, ArchivedFraction: 0.1})
	exampleKeys := func(file string) []string {
		var page struct{ Rows []json.RawMessage }
		if err := json.Unmarshal(readTestdata(t, file), &page); err != nil {
			t.Fatal(err)
		}
		return topKeys(t, page.Rows[0])
	}
	tests := []struct {
		version           Version
		userKeys, assetKs []string
		absentUser        []string
		absentAsset       []string
	}{
		{version: Version86, userKeys: exampleKeys("snipeit-users-page.json"), assetKs: exampleKeys("snipeit-hardware-page.json")},
		{version: Version85, assetKs: exampleKeys("snipeit-hardware-page.json"),
			absentUser: []string{"qr_code_url", "department_manager", "role", "assigned_maintenances_count", "companies"}},
		{version: Version50,
			absentUser:  []string{"display_name", "mobile", "website", "remote", "vip", "locale", "deleted_at", "start_date", "companies", "role", "created_by"},
			absentAsset: []string{"byod", "requestable", "status", "depreciation", "created_by", "age", "last_checkin", "book_value", "qr_code_url", "asset_eol_date", "child_asset_count"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.version)+" rows have one stable shape", func(t *testing.T) {
			s := mustNew(t, Config{Data: ds, Version: tc.version})
			for _, c := range []struct {
				path    string
				want    []string
				absent  []string
				deleted string
			}{
				{"/api/v1/users", tc.userKeys, tc.absentUser, "deleted=true"},
				{"/api/v1/hardware", tc.assetKs, tc.absentAsset, "status=Deleted"},
			} {
				var rows []json.RawMessage
				for _, q := range []string{"", c.deleted, "status=Archived"} {
					rows = append(rows, list(t, s, c.path+"?limit=40&"+q).Rows...)
				}
				first := topKeys(t, rows[0])
				if c.want != nil {
					if diff := cmp.Diff(c.want, first); diff != "" {
						t.Errorf("%s: keys differ from the example (-example +served):\n%s", c.path, diff)
					}
				}
				for _, r := range rows[1:] {
					if diff := cmp.Diff(first, topKeys(t, r)); diff != "" {
						t.Fatalf("%s: rows differ in keys:\n%s", c.path, diff)
					}
				}
				for _, k := range c.absent {
					if strings.Contains(","+strings.Join(first, ",")+",", ","+k+",") {
						t.Errorf("%s: version %s rows have %q", c.path, tc.version, k)
					}
				}
			}
		})
	}
}

// topKeys lists an object's keys in order.
func topKeys(t *testing.T, obj []byte) []string {
	t.Helper()
	var keys []string
	for _, line := range flatten(t, obj) {
		path, _, _ := strings.Cut(line, "=")
		k, _, _ := strings.Cut(strings.TrimPrefix(path, "$."), ".")
		k, _, _ = strings.Cut(k, "[")
		if len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestVersionDifferences(t *testing.T) {
	t.Parallel()
	ds := exampleData()
	tests := []struct {
		name    string
		version Version
		target  string
		want    []string // flatten lines the response must contain
	}{
		{"5.0 sends employee_num and email as strings and the manager's username", Version50, "/api/v1/users/42",
			[]string{`$.employee_num="FAKE-00042"`, `$.manager.name="manny"`, `$.name="Zed O&#039;Fakename"`, `$.two_factor_activated=false`}},
		{"5.0 sends empty email and employee_num as empty strings and a trailing space in name", Version50, "/api/v1/users/118",
			[]string{`$.email=""`, `$.employee_num=""`, `$.name="Yara "`, `$.notes=""`, `$.permissions.superuser="1"`}},
		{"5.0 sends custom_fields [] when empty", Version50, "/api/v1/hardware/911",
			[]string{`$.custom_fields=[]`, `$.eol=null`}},
		{"5.0 sends eol as a date object", Version50, "/api/v1/hardware/912",
			[]string{`$.eol.date="2028-01-15"`}},
		{"8.x sends eol as months and asset_eol_date as a date object", Version85, "/api/v1/hardware/912",
			[]string{`$.eol="36 months"`, `$.asset_eol_date.date="2028-01-15"`}},
		{"8.x sends custom_fields {} when empty", Version85, "/api/v1/hardware/911",
			[]string{`$.custom_fields={}`}},
		{"8.5 sends the first company only", Version85, "/api/v1/users/42",
			[]string{`$.company.name="Fakeco Ltd"`}},
		{"8.6 renders notes as inline Markdown", Version86, "/api/v1/users/42",
			[]string{`$.notes="Imported by the <em>fixture</em> script"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{Data: ds, Version: tc.version, Now: func() time.Time { return exampleNow }})
			w := serve(t, s, tc.target)
			got := strings.Join(flatten(t, w.Body.Bytes()), "\n") + "\n"
			for _, line := range tc.want {
				if !strings.Contains(got, line+"\n") {
					t.Errorf("response lacks %s; got:\n%s", line, got)
				}
			}
		})
	}
}

func TestEscapingAndFormats(t *testing.T) {
	t.Parallel()
	u := User{ID: 5, FirstName: `A&B "C" 'D' <b>x</b> &amp;`, LastName: "Straße 日本 😀", Username: "x/y\\z",
		CreatedAt: time.Date(2025, 3, 30, 0, 30, 0, 0, time.UTC)}
	a := Asset{ID: 6, PurchaseCost: ptr[int64](123456789), Status: &StatusLabel{ID: 1, Name: "Ready", Type: StatusDeployable}}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		name   string
		cfg    Config
		target string
		want   []string
	}{
		{"strings are escaped like PHP e() and json_encode", Config{}, "/api/v1/users/5", []string{
			`"first_name":"A&amp;B &quot;C&quot; &#039;D&#039; &lt;b&gt;x&lt;\/b&gt; &amp;amp;"`,
			`"last_name":"Stra\u00dfe \u65e5\u672c \ud83d\ude00"`,
			`"username":"x\/y\\z"`,
		}},
		{"datetimes are shown in the server timezone", Config{Timezone: berlin}, "/api/v1/users/5", []string{
			`"created_at":{"datetime":"2025-03-30 01:30:00","formatted":"2025-03-30 01:30 AM"}`,
		}},
		{"money uses the comma separator by default", Config{}, "/api/v1/hardware/6", []string{`"purchase_cost":"1,234,567.89"`}},
		{"money uses the dot separator when configured", Config{DigitSeparator: SeparatorDot}, "/api/v1/hardware/6", []string{`"purchase_cost":"1.234.567,89"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Data = &Dataset{Users: []User{u}, Assets: []Asset{a}}
			s := mustNew(t, tc.cfg)
			body := serve(t, s, tc.target).Body.String()
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s:\n%s", w, body)
				}
			}
		})
	}
}
