package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/model"
)

// readCSV parses an RFC 4180 body into rows of cells.
func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(body))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse CSV %q: %v", body, err)
	}
	return rows
}

// jsonFields is the json names of T's fields, in order.
func jsonFields[T any]() []string {
	var names []string
	typ := reflect.TypeFor[T]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// cellsByColumn maps a CSV row onto its header.
func cellsByColumn(header, row []string) map[string]string {
	m := map[string]string{}
	for i, h := range header {
		m[h] = row[i]
	}
	return m
}

func TestCSVHasTheJSONColumnsAndValues(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: []model.Asset{
		{ID: 10, AssetTag: "A-10", Name: "Laptop", Serial: "S10", StatusType: "deployable", AssignedUserID: ptr(int64(1)),
			PurchaseCost: "1299.00", PurchaseDate: ptr(time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)),
			CustomFields: map[string]string{"_snipeit_mac_1": "aa:bb", "_snipeit_ram_2": "16"}},
	}}
	srv := startServer(t, store)

	resp, body := get(t, srv.url+"/users?format=csv")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/csv; charset=utf-8; header=present" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="users.csv"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if !strings.Contains(body, "\r\n") || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") {
		t.Errorf("line ends are not CRLF: %q", body)
	}
	rows := readCSV(t, body)
	if diff := cmp.Diff(jsonFields[api.User](), rows[0]); diff != "" {
		t.Errorf("header (-JSON fields +CSV):\n%s", diff)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want a header and 3 live users", len(rows))
	}
	ada := cellsByColumn(rows[0], rows[1])
	for col, want := range map[string]string{
		"id": "1", "first_name": "Ada", "username": "ada", "email": "ada@example.test", "county": "GB",
		"department_id": "3", "location_id": "9", "assets_count": "2", "license_count": "1",
		"jobtitle": "", "manager_id": "", "activated": "true", "vip": "false", "groups": `["Staff"]`,
		"company_ids": "[1]", "start_date": "2024-02-19", "snipeit_updated_at": "2025-01-02T03:04:05Z", "deleted_at": "",
	} {
		if got := ada[col]; got != want {
			t.Errorf("column %s = %q, want %q", col, got, want)
		}
	}

	resp, body = get(t, srv.url+"/users/1/assets", "Accept", "text/csv")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="user_assets.csv"` {
		t.Fatalf("GET /users/1/assets as CSV: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	rows = readCSV(t, body)
	if diff := cmp.Diff(jsonFields[api.Asset](), rows[0]); diff != "" {
		t.Errorf("asset header (-JSON fields +CSV):\n%s", diff)
	}
	laptop := cellsByColumn(rows[0], rows[1])
	var custom map[string]string
	if err := json.Unmarshal([]byte(laptop["custom_fields"]), &custom); err != nil || custom["_snipeit_ram_2"] != "16" {
		t.Errorf("custom_fields cell %q: %v", laptop["custom_fields"], err)
	}
	if laptop["purchase_cost"] != "1299.00" || laptop["purchase_date"] != "2023-05-01" || laptop["archived"] != "false" {
		t.Errorf("asset cells %v", laptop)
	}
}

func TestCSVIsNegotiated(t *testing.T) {
	srv := startServer(t, &fakeStore{users: testUsers()})
	tests := []struct {
		name, path, accept, want string
	}{
		{"default", "/users", "", "application/json"},
		{"Accept text/csv", "/users", "text/csv", "text/csv"},
		{"JSON preferred", "/users", "application/json, text/csv;q=0.5", "application/json"},
		{"CSV preferred", "/users", "application/json;q=0.4, text/csv", "text/csv"},
		{"format wins over Accept", "/users?format=json", "text/csv", "application/json"},
		{"format=csv", "/users?format=csv", "application/json", "text/csv"},
		{"a CSV page", "/users?limit=1&format=csv", "", "text/csv"},
		{"anything", "/users", "*/*", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := get(t, srv.url+tt.path, "Accept", tt.accept)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, tt.want) {
				t.Errorf("status %d, Content-Type %q; want %s", resp.StatusCode, ct, tt.want)
			}
			if v := resp.Header.Get("Vary"); v != "Accept" {
				t.Errorf("Vary = %q, want Accept", v)
			}
		})
	}
}

func TestCSVPagesFollowLinkWithAHeaderRowEach(t *testing.T) {
	srv := startServer(t, &fakeStore{users: testUsers()})
	var ids []string
	next := "/users?limit=2&format=csv&include_deleted=true"
	for i := 0; next != ""; i++ {
		if i > 5 {
			t.Fatal("Link never ends")
		}
		resp, body := get(t, srv.url+next)
		rows := readCSV(t, body)
		if rows[0][0] != "id" {
			t.Errorf("page %d has no header row: %q", i, rows[0])
		}
		for _, r := range rows[1:] {
			ids = append(ids, r[0])
		}
		next = apitest.LinkNext(t, resp.Header)
		if next != "" && !strings.Contains(next, "format=csv") {
			t.Errorf("Link %q lost the format", next)
		}
	}
	if diff := cmp.Diff([]string{"1", "2", "5", "7"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestCSVNeutralisesFormulasAndQuotes(t *testing.T) {
	hostile := map[string]struct{ in, want string }{
		"first_name": {"=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"},
		"last_name":  {"+1+2", "'+1+2"},
		"email":      {"-2+3@x", "'-2+3@x"},
		"jobtitle":   {"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		"phone":      {"\tcmd", "'\tcmd"},
		// encoding/csv writing CRLF line ends drops a lone CR; the
		// apostrophe comes first all the same.
		"mobile":  {"\rcmd", "'cmd"},
		"city":    {"-12.50", "-12.50"},
		"zip":     {"+49", "+49"},
		"address": {"Street 1, \"Top\"\nFloor 2", "Street 1, \"Top\"\nFloor 2"},
		"state":   {" =not first", " =not first"},
		"notes":   {"Zoë ünïcode ✓", "Zoë ünïcode ✓"},
	}
	u := model.User{ID: 1, Username: "=cmd|' /C calc'!A0", FirstName: hostile["first_name"].in, LastName: hostile["last_name"].in,
		Name: "x", Email: hostile["email"].in, JobTitle: hostile["jobtitle"].in, Phone: hostile["phone"].in,
		Mobile: hostile["mobile"].in, City: hostile["city"].in, Zip: hostile["zip"].in, Address: hostile["address"].in,
		State: hostile["state"].in, Notes: hostile["notes"].in, Groups: []string{"=evil"}}
	srv := startServer(t, &fakeStore{users: []model.User{u}})
	_, body := get(t, srv.url+"/users?format=csv")
	rows := readCSV(t, body)
	got := cellsByColumn(rows[0], rows[1])
	for col, tt := range hostile {
		if got[col] != tt.want {
			t.Errorf("%s: %q became %q, want %q", col, tt.in, got[col], tt.want)
		}
	}
	if got["username"] != "'=cmd|' /C calc'!A0" {
		t.Errorf("username cell %q", got["username"])
	}
	if got["groups"] != `["=evil"]` {
		t.Errorf("groups cell %q: JSON text starts with [ and needs no apostrophe", got["groups"])
	}
}
