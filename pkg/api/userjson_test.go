package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// sameUserJSON fails unless GetUserJSON writes user id (GET /users/{id})
// byte for byte as the API's encoder writes the same row read back (GET
// /users and its pages).
func sameUserJSON(t testing.TB, db *postgres.DB, id int64) {
	t.Helper()
	ctx := context.Background()
	u, err := db.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want, err := api.UserJSON(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetUserJSON(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("user %d:\nPostgreSQL %s\nGo         %s", id, got, want)
	}
}

func TestGetUserJSONIsTheListingsJSON(t *testing.T) {
	db := pgtest.MigratedDB(t)
	at := func(y int, mo time.Month, d, h, mi, s, ns int) *time.Time {
		t := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
		return &t
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	inBerlin := time.Date(2025, 7, 1, 12, 0, 0, 0, berlin)
	every := model.User{ID: 1, Username: "ada", FirstName: "Ada", LastName: "Lovelace", Name: "Ada Lovelace",
		DisplayName: "Ada", Email: "ada@example.test", EmployeeNum: "E1", JobTitle: "Engineer", Phone: "+44 20 1234",
		Mobile: "+44 7700", Website: "https://ada.example", Address: "1 St James's Sq", City: "London", State: "LDN",
		Country: "GB", Zip: "SW1Y", Locale: "en-GB", Notes: "first programmer", DepartmentID: ptr(int64(3)),
		DepartmentName: "R&D", LocationID: ptr(int64(9)), LocationName: "HQ", ManagerID: ptr(int64(7)), ManagerName: "Babbage",
		CompanyID: ptr(int64(1)), CompanyName: "Analytical", CompanyIDs: []int64{1, 9223372036854775807}, Groups: []string{"Staff", "VPN"},
		Role: "admin", Activated: true, Remote: true, VIP: true, LDAPImport: true, TwoFactorEnrolled: true, TwoFactorOptin: true,
		AutoassignLicenses: true, AssetsCount: 2, LicensesCount: 1, AccessoriesCount: 3, ConsumablesCount: 4,
		ManagesUsersCount: 5, ManagesLocationsCount: 6,
		StartDate: at(2024, 2, 19, 0, 0, 0, 0), EndDate: at(1, 1, 1, 0, 0, 0, 0),
		LastLogin: at(2025, 1, 2, 3, 4, 5, 120_000_000), CreatedAt: at(1999, 12, 31, 23, 59, 59, 999_999_000),
		UpdatedAt: &inBerlin}
	users := []model.User{
		every,
		// Nothing optional at all, and text that JSON must escape.
		{ID: 2, Username: `quote"back\slash`, FirstName: "tab\there\nnewline\r\b\f\x01\x1f\x7f", LastName: "<&>'",
			Name: "line\u2028para\u2029sep", CompanyIDs: []int64{}, Groups: []string{}},
		{ID: 3, Username: "zoë ✓ 𝄞", FirstName: "日本", LastName: "🙂", Name: "x", Groups: []string{"a\"b", "c\\d", "e\u2028"},
			Email: "  ", City: "-", LastLogin: at(9999, 12, 31, 23, 59, 59, 999_999_000), StartDate: at(44, 3, 15, 0, 0, 0, 0),
			CreatedAt: at(1, 1, 1, 0, 0, 0, 1000)},
		{ID: 9223372036854775807, Username: "max", FirstName: "m", LastName: "m", Name: "m", ManagerID: ptr(int64(-1))},
		// Times beyond the years Go's time.Time writes in four digits, as
		// the mirror holds them.
		{ID: 4, Username: "far", FirstName: "f", LastName: "f", Name: "f", StartDate: at(-4713, 11, 24, 0, 0, 0, 0),
			EndDate: at(5874897, 12, 31, 0, 0, 0, 0), LastLogin: at(294276, 12, 31, 23, 59, 59, 999_999_000),
			CreatedAt: at(-4713, 11, 24, 0, 0, 0, 0), UpdatedAt: at(10000, 1, 1, 0, 0, 0, 0)},
	}
	ctx := context.Background()
	if _, err := db.MirrorUsers(ctx, sliceSeq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	// A user deleted upstream carries deleted_at.
	if _, err := db.MirrorUsers(ctx, sliceSeq(users[1:]), model.DeleteGuard{AllowMassDelete: true}); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		sameUserJSON(t, db, u.ID)
	}
	got, err := db.GetUserJSON(ctx, 1)
	if err != nil || !strings.Contains(string(got), `"deleted_at":"20`) || !strings.Contains(string(got), `"snipeit_updated_at":"2025-07-01T10:00:00Z"`) {
		t.Errorf("user 1: %s, %v; want deleted_at set and times in UTC", got, err)
	}
}

// FuzzGetUserJSONIsTheListingsJSON mirrors users with fuzzed text, numbers
// and times and requires GetUserJSON to equal Go's encoding of the row
// read back, byte for byte.
func FuzzGetUserJSONIsTheListingsJSON(f *testing.F) {
	db := pgtest.MigratedDB(f)
	f.Add("ada", "Ada Lovelace", "\u2028\"\\\x01", int64(3), int64(1_700_000_000), int64(123_456_789), int64(19_000))
	f.Add("", "", "", int64(-1), int64(-210_000_000_000), int64(-1), int64(-2_000_000))
	f.Fuzz(func(t *testing.T, username, name, text string, n, unixSeconds, nanos, days int64) {
		clean := func(s string) string { return strings.ReplaceAll(strings.ToValidUTF8(s, "?"), "\x00", "") }
		username, name, text = clean(username), clean(name), clean(text)
		if !utf8.ValidString(username) || username == "" {
			username = "u"
		}
		// Times across PostgreSQL's range (4713 BC to 294276 AD; beyond
		// it the mirror holds NULL), to the microsecond it keeps.
		ts := time.Unix(unixSeconds%9_400_000_000_000, nanos%1e9).UTC().Truncate(time.Microsecond)
		day := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days%2_000_000_000))
		u := model.User{ID: 1, Username: username, FirstName: text, LastName: name, Name: name, Email: text, Notes: text,
			City: name, DepartmentID: &n, AssetsCount: int32(n), CompanyIDs: []int64{n, -n}, Groups: []string{text, name},
			StartDate: &day, LastLogin: &ts, UpdatedAt: &ts}
		if _, err := db.MirrorUsers(context.Background(), sliceSeq([]model.User{u}), model.DeleteGuard{AllowMassDelete: true}); err != nil {
			t.Fatal(err)
		}
		sameUserJSON(t, db, 1)
	})
}
