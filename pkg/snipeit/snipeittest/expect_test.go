package snipeittest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/usersync/usersync/pkg/model"
)

// TestExpectedStateMatchesWire pages through every list over HTTP, decodes
// the rows with an independent decoder written from the conventions, and
// compares them with Users, DeletedUsers, Assets and DeletedAssets: the
// expected state is exactly what the wire says, for every version.
func TestExpectedStateMatchesWire(t *testing.T) {
	t.Parallel()
	ds := Generate(GenerateConfig{Users: 200, Assets: 250, Seed: 5, ArchivedFraction: 0.1})
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"8.6 in UTC", Config{Version: Version86}},
		{"8.5 in New York with the dot separator", Config{Version: Version85, Timezone: newYork, DigitSeparator: SeparatorDot}},
		{"7.0", Config{Version: Version70}},
		{"5.0", Config{Version: Version50}},
	} {
		t.Run(tc.name+": the expected state is what the wire says", func(t *testing.T) {
			tc.cfg.Data = ds
			s := Start(t, tc.cfg)
			dec := wireDecoder{tz: s.Timezone(), v: s.Version()}
			users := fetchAll(t, s, "/api/v1/users?", dec.user)
			deletedUsers := fetchAll(t, s, "/api/v1/users?deleted=true&", dec.user)
			assets := append(fetchAll(t, s, "/api/v1/hardware?", dec.asset), fetchAll(t, s, "/api/v1/hardware?status=Archived&", dec.asset)...)
			slices.SortFunc(assets, func(a, b model.Asset) int { return cmp.Compare(a.ID, b.ID) })
			deletedAssets := fetchAll(t, s, "/api/v1/hardware?status=Deleted&", dec.asset)
			for _, c := range []struct {
				name      string
				want, got any
			}{
				{"Users", s.Users(), users},
				{"DeletedUsers", s.DeletedUsers(), deletedUsers},
				{"Assets", s.Assets(), assets},
				{"DeletedAssets", s.DeletedAssets(), deletedAssets},
			} {
				if diff := gocmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("%s (-expected +decoded from the wire):\n%s", c.name, diff)
				}
			}
		})
	}
}

// fetchAll pages a list with sort=id over HTTP and decodes every row.
func fetchAll[T any](t *testing.T, s *Server, path string, decode func(*testing.T, map[string]any) T) []T {
	t.Helper()
	var out []T
	for offset := 0; ; {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%ssort=id&order=asc&limit=250&offset=%d", s.URL(), path, offset), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.Token())
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Total int
			Rows  []map[string]any
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, r := range page.Rows {
			out = append(out, decode(t, r))
		}
		offset += len(page.Rows)
		if len(page.Rows) == 0 || offset >= page.Total {
			return out
		}
	}
}

// wireDecoder turns decoded JSON rows into model values the way the
// project's client decodes them.
type wireDecoder struct {
	tz *time.Location
	v  Version
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return html.UnescapeString(s)
}

func boolean(m map[string]any, k string) bool { b, _ := m[k].(bool); return b }

func count(m map[string]any, k string) int32 { f, _ := m[k].(float64); return int32(f) }

func related(m map[string]any, k string) (*int64, string) {
	o, ok := m[k].(map[string]any)
	if !ok {
		return nil, ""
	}
	id := int64(o["id"].(float64))
	return &id, str(o, "name")
}

func (d wireDecoder) when(t *testing.T, m map[string]any, k string) *time.Time {
	o, ok := m[k].(map[string]any)
	if !ok {
		return nil
	}
	if s, ok := o["datetime"].(string); ok {
		v, err := time.ParseInLocation(time.DateTime, s, d.tz)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		v = v.UTC()
		return &v
	}
	v, err := time.Parse(time.DateOnly, o["date"].(string))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return &v
}

func (d wireDecoder) user(t *testing.T, m map[string]any) model.User {
	u := model.User{
		ID: int64(m["id"].(float64)), Username: str(m, "username"), FirstName: str(m, "first_name"),
		LastName: str(m, "last_name"), Name: str(m, "name"), DisplayName: str(m, "display_name"),
		Email: str(m, "email"), EmployeeNum: str(m, "employee_num"), JobTitle: str(m, "jobtitle"),
		Phone: str(m, "phone"), Mobile: str(m, "mobile"), Website: str(m, "website"), Address: str(m, "address"),
		City: str(m, "city"), State: str(m, "state"), Country: str(m, "country"), Zip: str(m, "zip"),
		Locale: str(m, "locale"), Notes: str(m, "notes"), Role: str(m, "role"),
		Activated: boolean(m, "activated"), Remote: boolean(m, "remote"), VIP: boolean(m, "vip"),
		LDAPImport: boolean(m, "ldap_import"), TwoFactorEnrolled: boolean(m, "two_factor_enrolled"),
		TwoFactorOptin: boolean(m, "two_factor_optin"), AutoassignLicenses: boolean(m, "autoassign_licenses"),
		AssetsCount: count(m, "assets_count"), LicensesCount: count(m, "licenses_count"),
		AccessoriesCount: count(m, "accessories_count"), ConsumablesCount: count(m, "consumables_count"),
		ManagesUsersCount: count(m, "manages_users_count"), ManagesLocationsCount: count(m, "manages_locations_count"),
		StartDate: d.when(t, m, "start_date"), EndDate: d.when(t, m, "end_date"), LastLogin: d.when(t, m, "last_login"),
		CreatedAt: d.when(t, m, "created_at"), UpdatedAt: d.when(t, m, "updated_at"), DeletedAt: d.when(t, m, "deleted_at"),
	}
	u.DepartmentID, u.DepartmentName = related(m, "department")
	u.LocationID, u.LocationName = related(m, "location")
	u.ManagerID, u.ManagerName = related(m, "manager")
	u.CompanyID, u.CompanyName = related(m, "company")
	if cs, ok := m["companies"].([]any); ok {
		u.CompanyIDs = []int64{}
		for _, c := range cs {
			u.CompanyIDs = append(u.CompanyIDs, int64(c.(map[string]any)["id"].(float64)))
		}
	}
	if g, ok := m["groups"].(map[string]any); ok {
		for _, r := range g["rows"].([]any) {
			u.Groups = append(u.Groups, str(r.(map[string]any), "name"))
		}
	}
	return u
}

func (d wireDecoder) asset(t *testing.T, m map[string]any) model.Asset {
	a := model.Asset{
		ID: int64(m["id"].(float64)), AssetTag: str(m, "asset_tag"), Name: str(m, "name"), Serial: str(m, "serial"),
		ModelNumber: str(m, "model_number"), Byod: boolean(m, "byod"), Requestable: boolean(m, "requestable"),
		OrderNumber: str(m, "order_number"), Notes: str(m, "notes"),
		PurchaseDate: d.when(t, m, "purchase_date"), WarrantyExpires: d.when(t, m, "warranty_expires"),
		EOLDate: d.when(t, m, "asset_eol_date"), NextAuditDate: d.when(t, m, "next_audit_date"),
		ExpectedCheckin: d.when(t, m, "expected_checkin"), LastAuditDate: d.when(t, m, "last_audit_date"),
		LastCheckout: d.when(t, m, "last_checkout"), LastCheckin: d.when(t, m, "last_checkin"),
		CreatedAt: d.when(t, m, "created_at"), UpdatedAt: d.when(t, m, "updated_at"), DeletedAt: d.when(t, m, "deleted_at"),
		CustomFields: map[string]string{},
	}
	a.ModelID, a.ModelName = related(m, "model")
	a.CategoryID, a.CategoryName = related(m, "category")
	a.ManufacturerID, a.ManufacturerName = related(m, "manufacturer")
	a.SupplierID, a.SupplierName = related(m, "supplier")
	a.CompanyID, a.CompanyName = related(m, "company")
	a.LocationID, a.LocationName = related(m, "location")
	a.RTDLocationID, a.RTDLocationName = related(m, "rtd_location")
	if st, ok := m["status_label"].(map[string]any); ok {
		a.StatusID, a.StatusName = related(m, "status_label")
		a.StatusType, a.StatusMeta = str(st, "status_type"), str(st, "status_meta")
	}
	if as, ok := m["assigned_to"].(map[string]any); ok {
		id := int64(as["id"].(float64))
		a.AssignedType, a.AssignedToID = str(as, "type"), &id
		if a.AssignedType == "user" {
			a.AssignedUserID = &id
		}
	}
	if cost, ok := m["purchase_cost"].(string); ok {
		thousands := ","
		if d.v.v6Rows() && strings.HasSuffix(cost[:len(cost)-2], ",") {
			thousands = "."
		}
		a.PurchaseCost = strings.NewReplacer(thousands, "", ",", ".").Replace(cost)
	}
	if w, ok := m["warranty_months"].(string); ok {
		n, err := strconv.Atoi(strings.TrimSuffix(w, " months"))
		if err != nil {
			t.Fatalf("warranty_months %q: %v", w, err)
		}
		n32 := int32(n)
		a.WarrantyMonths = &n32
	}
	if cf, ok := m["custom_fields"].(map[string]any); ok {
		for _, f := range cf {
			f := f.(map[string]any)
			a.CustomFields[str(f, "field")] = str(f, "value")
		}
	}
	return a
}
