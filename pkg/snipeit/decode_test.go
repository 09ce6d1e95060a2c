package snipeit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func at(s string) *time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		panic(err)
	}
	return &t
}

func toUserUTC(w *wireUser) (model.User, error)    { return w.toUser(time.UTC) }
func toAssetUTC(w *wireAsset) (model.Asset, error) { return w.toAsset(time.UTC) }

func TestDecodeUsersPageFromSnipeIT(t *testing.T) {
	p, err := decodePage(readTestdata(t, "snipeit-users-page.json"), toUserUTC)
	if err != nil {
		t.Fatal(err)
	}
	if p.total != 137 || p.perPage == 0 || len(p.rows) != 2 {
		t.Fatalf("page = total %d, per_page %d, %d rows; want 137, set, 2", p.total, p.perPage, len(p.rows))
	}
	first := p.rows[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"id", first.ID, int64(42)},
		{"name (HTML-decoded)", first.Name, "Zed O'Fakename"},
		{"last_name (HTML-decoded)", first.LastName, "O'Fakename"},
		{"username", first.Username, "zed.ofakename"},
		{"department id", *first.DepartmentID, int64(3)},
		{"department name (HTML-decoded)", first.DepartmentName, "R&D (Fake)"},
		{"location id", *first.LocationID, int64(5)},
		{"manager id", *first.ManagerID, int64(7)},
		{"company id", *first.CompanyID, int64(1)},
		{"company ids", first.CompanyIDs, []int64{1}},
		{"country", first.Country, "United States"},
		{"notes keep their HTML", first.Notes, "Imported by the <em>fixture</em> script"},
		{"created_at", *first.CreatedAt, *at("2024-02-14 09:31:07")},
		{"start_date", *first.StartDate, *at("2024-02-19")},
		{"assets_count", first.AssetsCount, int32(2)},
		{"activated", first.Activated, true},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.field, diff)
		}
	}
	second := p.rows[1]
	if second.DepartmentID != nil || second.Email != "" || second.CompanyIDs == nil || len(second.CompanyIDs) != 0 || second.Groups != nil {
		t.Errorf("nulls: department %v, email %q, companies %#v, groups %#v; want nil, \"\", empty, nil",
			second.DepartmentID, second.Email, second.CompanyIDs, second.Groups)
	}
	if second.Role != "superadmin" || second.LastLogin != nil {
		t.Errorf("role %q, last_login %v; want superadmin, nil", second.Role, second.LastLogin)
	}
}

func TestDecodeHardwarePageFromSnipeIT(t *testing.T) {
	p, err := decodePage(readTestdata(t, "snipeit-hardware-page.json"), toAssetUTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.rows) != 2 {
		t.Fatalf("%d rows, want 2", len(p.rows))
	}
	a := p.rows[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"id", a.ID, int64(912)},
		{"asset tag", a.AssetTag, "LT-000912"},
		{"purchase cost (thousands separator removed)", a.PurchaseCost, "1299.00"},
		{"warranty months", *a.WarrantyMonths, int32(36)},
		{"assigned type", a.AssignedType, "user"},
		{"assigned user", *a.AssignedUserID, int64(42)},
		{"status type", a.StatusType, "deployable"},
		{"supplier (HTML-decoded)", a.SupplierName, "Placeholder Supplies & Co"},
		{"custom fields by db column", a.CustomFields, map[string]string{"_snipeit_mac_address_1": "00:00:5E:00:53:AF", "_snipeit_ram_2": "16GB"}},
		{"eol date", *a.EOLDate, *at("2028-01-15")},
		{"last audit", *a.LastAuditDate, *at("2025-09-01 00:00:00")},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.field, diff)
		}
	}
	b := p.rows[1]
	if b.PurchaseCost != "" || b.WarrantyMonths != nil || b.AssignedUserID != nil || b.CustomFields == nil || len(b.CustomFields) != 0 {
		t.Errorf("empty asset: cost %q, warranty %v, assigned %v, custom %#v; want \"\", nil, nil, empty map",
			b.PurchaseCost, b.WarrantyMonths, b.AssignedUserID, b.CustomFields)
	}
}

func TestDecodePageRejectsWhatIsNotData(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"error envelope with HTTP 200", `{"status":"error","messages":"Too many requests","payload":null}`, errNotData},
		{"validation envelope", `{"status":"error","messages":{"email":["bad"]},"payload":null}`, errNotData},
		{"HTML login page", "<!DOCTYPE html><html><body>Login</body></html>", errNotData},
		{"empty body", "", errNotData},
		{"truncated JSON", `{"total":3,"rows":[{"id":1,"username":"a"},{"id":2,"user`, errNotData},
		{"no rows", `{"total":3}`, errNotData},
		{"no total", `{"rows":[]}`, errNotData},
		{"rows of the wrong type", `{"total":1,"rows":{"id":1}}`, errBadRow},
		{"row without id", `{"total":1,"rows":[{"username":"a"}]}`, errBadRow},
		{"bad datetime", `{"total":1,"rows":[{"id":1,"username":"a","created_at":{"datetime":"yesterday"}}]}`, errBadRow},
		{"row the token may not view", `{"total":1,"rows":[{"id":7,"type":"user","name":"Hidden"}]}`, model.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodePage([]byte(tt.body), toUserUTC)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeUserAcrossVersions(t *testing.T) {
	tests := []struct {
		name string
		row  string
		want model.User
	}{
		{
			name: "v4.0 firstname/lastname keys and string booleans",
			row:  `{"id":5,"username":"old","firstname":"Ada","lastname":"L&#039;ove","activated":"1","email":"","employee_num":""}`,
			want: model.User{ID: 5, Username: "old", FirstName: "Ada", LastName: "L'ove", Name: "Ada L'ove", Activated: true},
		},
		{
			name: "an invalid date marker is no date",
			row:  `{"id":6,"username":"x","name":"X","start_date":"0000-00-00 (Invalid date value.)","last_login":null}`,
			want: model.User{ID: 6, Username: "x", Name: "X"},
		},
		{
			name: "groups and several companies",
			row: `{"id":7,"username":"g","name":"G","groups":{"total":2,"rows":[{"id":1,"name":"Admins &amp; Co"},{"id":2,"name":"Staff"}]},
				"company":{"id":3,"name":"A"},"companies":[{"id":3,"name":"A"},{"id":9,"name":"B"}]}`,
			want: model.User{ID: 7, Username: "g", Name: "G", Groups: []string{"Admins & Co", "Staff"},
				CompanyID: ptr(int64(3)), CompanyName: "A", CompanyIDs: []int64{3, 9}},
		},
		{
			name: "a datetime read in the server's timezone",
			row:  `{"id":8,"username":"tz","name":"T","updated_at":{"datetime":"2025-11-03 16:05:44","formatted":"x"}}`,
			want: model.User{ID: 8, Username: "tz", Name: "T", UpdatedAt: at("2025-11-03 15:05:44")},
		},
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePage([]byte(`{"total":1,"rows":[`+tt.row+`]}`), func(w *wireUser) (model.User, error) { return w.toUser(paris) })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.rows[0]); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCustomFieldsV5EmptyArray(t *testing.T) {
	p, err := decodePage([]byte(`{"total":1,"rows":[{"id":1,"asset_tag":"A","custom_fields":[]}]}`), toAssetUTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.rows[0].CustomFields; got == nil || len(got) != 0 {
		t.Fatalf("custom fields = %#v, want an empty map", got)
	}
}

func TestParseCost(t *testing.T) {
	tests := []struct {
		in, want string
		fails    bool
	}{
		{in: "1,299.00", want: "1299.00"},
		{in: "1.299,00", want: "1299.00"},
		{in: "1 299,50", want: "1299.50"},
		{in: "1'299.5", want: "1299.50"},
		{in: "12,345,678.90", want: "12345678.90"},
		{in: "299", want: "299.00"},
		{in: "0.99", want: "0.99"},
		{in: "-15.00", want: "-15.00"},
		{in: "", want: ""},
		{in: "$12", fails: true},
		{in: "12.3a", fails: true},
	}
	for _, tt := range tests {
		got, err := parseCost(tt.in)
		if (err != nil) != tt.fails || got != tt.want {
			t.Errorf("parseCost(%q) = %q, %v; want %q (fails %v)", tt.in, got, err, tt.want, tt.fails)
		}
	}
}

// FuzzDecodeUsersPage feeds arbitrary bodies to the page decoder: it must
// never panic, and a page it accepts must hold only mirrorable rows.
func FuzzDecodeUsersPage(f *testing.F) {
	for _, name := range []string{"snipeit-users-page.json", "snipeit-hardware-page.json", "snipeit-error-examples.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"total":1,"rows":[{"id":1,"username":"a","created_at":{"datetime":"2024-01-01 00:00:00"}}]}`))
	f.Add([]byte(`{"total":0,"rows":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePage(body, toUserUTC)
		if err != nil {
			if !errors.Is(err, errNotData) && !errors.Is(err, errBadRow) && !errors.Is(err, model.ErrForbidden) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, u := range p.rows {
			if u.ID <= 0 {
				t.Fatalf("accepted a user with id %d", u.ID)
			}
		}
	})
}

// FuzzDecodeHardwarePage does the same for assets, whose rows carry the
// trickiest strings (money, custom fields).
func FuzzDecodeHardwarePage(f *testing.F) {
	f.Add(readTestdata(f, "snipeit-hardware-page.json"))
	f.Add([]byte(`{"total":1,"rows":[{"id":1,"purchase_cost":"1.234,56","warranty_months":"12 months","custom_fields":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePage(body, toAssetUTC)
		if err != nil {
			if !errors.Is(err, errNotData) && !errors.Is(err, errBadRow) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, a := range p.rows {
			if a.ID <= 0 || a.CustomFields == nil {
				t.Fatalf("accepted asset %d with custom fields %v", a.ID, a.CustomFields)
			}
		}
	})
}
