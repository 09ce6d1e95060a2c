package snipeit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
)

// TestUnreadableValuesBecomeNullWithAProblem is the policy for malformed
// values, per field type: lenient forms are read without a word; a value
// that cannot be read is stored as NULL (or false, 0, "" where the column
// is NOT NULL) and reported with the record's id and the field; the page
// is never refused for it.
func TestUnreadableValuesBecomeNullWithAProblem(t *testing.T) {
	base := model.User{ID: 7, Username: "u", Name: "U"}
	with := func(edit func(*model.User)) model.User {
		u := base
		edit(&u)
		return u
	}
	tests := []struct {
		name     string
		member   string // one more member of the row {"id":7,"username":"u","name":"U",…}
		want     model.User
		problems []fieldProblem // id, field, sub and stored are compared
	}{
		// Lenient forms, no problem.
		{name: "a count sent as a string", member: `"assets_count":"3"`, want: with(func(u *model.User) { u.AssetsCount = 3 })},
		{name: "a boolean sent as a string", member: `"activated":"true"`, want: with(func(u *model.User) { u.Activated = true })},
		{name: "a boolean sent as 1", member: `"vip":1`, want: with(func(u *model.User) { u.VIP = true })},
		{name: "a boolean sent as \"0\"", member: `"remote":"0"`, want: base},
		{name: "a string sent as a number", member: `"phone":4930123`, want: with(func(u *model.User) { u.Phone = "4930123" })},
		{name: "an id sent as a string", member: `"department":{"id":"3","name":"R&amp;D"}`,
			want: with(func(u *model.User) { u.DepartmentID, u.DepartmentName = ptr(int64(3)), "R&D" })},
		{name: "null everywhere", member: `"email":null,"vip":null,"assets_count":null,"manager":null,"start_date":null,"groups":null`, want: base},

		// Unreadable values.
		{name: "a boolean that is a word", member: `"activated":"yes"`, want: base,
			problems: []fieldProblem{{id: 7, field: "activated", stored: storedFalse}}},
		{name: "a count that is a word", member: `"assets_count":"three"`, want: base,
			problems: []fieldProblem{{id: 7, field: "assets_count", stored: storedZero}}},
		{name: "a count beyond int32", member: `"licenses_count":3000000000`, want: base,
			problems: []fieldProblem{{id: 7, field: "licenses_count", stored: storedZero}}},
		{name: "a fractional count", member: `"consumables_count":2.5`, want: base,
			problems: []fieldProblem{{id: 7, field: "consumables_count", stored: storedZero}}},
		{name: "a string that is an object", member: `"email":{"address":"x"}`, want: base,
			problems: []fieldProblem{{id: 7, field: "email", stored: storedEmpty}}},
		{name: "a string with a NUL", member: `"notes":"a\u0000b"`, want: base,
			problems: []fieldProblem{{id: 7, field: "notes", stored: storedEmpty}}},
		{name: "a nested id that is a word", member: `"location":{"id":"ten","name":"Berlin"}`, want: base,
			problems: []fieldProblem{{id: 7, field: "location", sub: "id", stored: storedNull}}},
		{name: "a nested object that is a string", member: `"manager":"Ada"`, want: base,
			problems: []fieldProblem{{id: 7, field: "manager", stored: storedNull}}},
		{name: "companies that are not an array", member: `"companies":{"id":1}`, want: base,
			problems: []fieldProblem{{id: 7, field: "companies", stored: storedNull}}},
		{name: "groups that are a string", member: `"groups":"Admins"`, want: base,
			problems: []fieldProblem{{id: 7, field: "groups", stored: storedNull}}},
		{name: "a datetime that is not one", member: `"created_at":{"datetime":"yesterday","formatted":"x"}`, want: base,
			problems: []fieldProblem{{id: 7, field: "created_at", stored: storedNull}}},
		{name: "a date object whose date is a number", member: `"start_date":{"date":20240101}`, want: base,
			problems: []fieldProblem{{id: 7, field: "start_date", sub: "date", stored: storedNull}}},
		{name: "Snipe-IT's invalid date marker", member: `"end_date":"0000-00-00 (Invalid date value.)"`, want: base,
			problems: []fieldProblem{{id: 7, field: "end_date", stored: storedNull}}},
		{name: "a MySQL zero date", member: `"start_date":{"date":"0000-00-00","formatted":""}`, want: base,
			problems: []fieldProblem{{id: 7, field: "start_date", stored: storedNull}}},
		{name: "a zero datetime as Carbon renders it", member: `"last_login":{"datetime":"-0001-11-30 00:00:00","formatted":""}`, want: base,
			problems: []fieldProblem{{id: 7, field: "last_login", stored: storedNull}}},
		{name: "a day that does not exist", member: `"end_date":{"date":"2025-02-30"}`, want: base,
			problems: []fieldProblem{{id: 7, field: "end_date", stored: storedNull}}},
		{name: "a restore flag that is a word", member: `"available_actions":{"restore":"maybe"}`, want: base,
			problems: []fieldProblem{{id: 7, field: "available_actions", sub: "restore", stored: storedFalse}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"total":1,"rows":[{"id":7,"username":"u","name":"U",` + tt.member + `}]}`
			p, err := decodeUsers([]byte(body))
			if err != nil {
				t.Fatalf("the page was refused: %v", err)
			}
			if diff := cmp.Diff(tt.want, p.rows[0]); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
			got := make([]fieldProblem, len(p.problems))
			for i, pr := range p.problems {
				got[i] = fieldProblem{id: pr.id, field: pr.field, sub: pr.sub, stored: pr.stored}
			}
			if diff := cmp.Diff(tt.problems, got, cmp.AllowUnexported(fieldProblem{})); len(tt.problems)+len(got) > 0 && diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnreadableAssetValues covers the asset-only field types: money,
// custom fields, the status label and the assignee.
func TestUnreadableAssetValues(t *testing.T) {
	tests := []struct {
		name    string
		member  string
		check   func(t *testing.T, a model.Asset)
		problem string // the field named, "" for none
	}{
		{name: "a cost that is not money", member: `"purchase_cost":"$12"`, problem: "purchase_cost",
			check: func(t *testing.T, a model.Asset) {
				if a.PurchaseCost != "" {
					t.Errorf("cost %q, want NULL", a.PurchaseCost)
				}
			}},
		{name: "a cost sent as a number", member: `"purchase_cost":1299.5`,
			check: func(t *testing.T, a model.Asset) {
				if a.PurchaseCost != "1299.50" {
					t.Errorf("cost %q, want 1299.50", a.PurchaseCost)
				}
			}},
		{name: "custom fields as a non-empty array", member: `"custom_fields":["x"]`, problem: "custom_fields",
			check: func(t *testing.T, a model.Asset) {
				if a.CustomFields == nil || len(a.CustomFields) != 0 {
					t.Errorf("custom fields %v, want none", a.CustomFields)
				}
			}},
		{name: "custom field values of every kind", member: `"custom_fields":{"RAM":{"field":"_snipeit_ram_2","value":"16 &amp; 32"},"Cores":{"field":"_snipeit_cores_3","value":8},"Leased":{"field":"_snipeit_leased_4","value":true},"Empty":{"value":null}}`,
			check: func(t *testing.T, a model.Asset) {
				want := map[string]string{"_snipeit_ram_2": "16 & 32", "_snipeit_cores_3": "8", "_snipeit_leased_4": "true", "Empty": ""}
				if diff := cmp.Diff(want, a.CustomFields); diff != "" {
					t.Errorf("custom fields (-want +got):\n%s", diff)
				}
			}},
		{name: "a status label id that is a word", member: `"status_label":{"id":"two","name":"Ready"}`, problem: "status_label.id",
			check: func(t *testing.T, a model.Asset) {
				if a.StatusID != nil || a.StatusName != "" {
					t.Errorf("status %v %q, want none", a.StatusID, a.StatusName)
				}
			}},
		{name: "an assignee that is a string", member: `"assigned_to":"Ada"`, problem: "assigned_to",
			check: func(t *testing.T, a model.Asset) {
				if a.AssignedToID != nil {
					t.Errorf("assigned to %v, want none", *a.AssignedToID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeAssets([]byte(`{"total":1,"rows":[{"id":9,"asset_tag":"A",` + tt.member + `}]}`))
			if err != nil {
				t.Fatalf("the page was refused: %v", err)
			}
			tt.check(t, p.rows[0])
			var named []string
			for _, pr := range p.problems {
				if pr.id != 9 {
					t.Errorf("problem %+v does not name asset 9", pr)
				}
				named = append(named, pr.name())
			}
			if want := []string{tt.problem}; tt.problem == "" && len(named) > 0 || tt.problem != "" && !cmp.Equal(want, named) {
				t.Errorf("problems name %v, want %q", named, tt.problem)
			}
		})
	}
}

// TestDatesParseLikeTimeParse checks the hand-written date parsers against
// the standard library on the forms Snipe-IT sends and near misses.
func TestDatesParseLikeTimeParse(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, s := range []string{
		"2024-02-29 23:59:59", "2023-02-29 10:00:00", "2025-03-30 02:30:00", "2025-10-26 02:30:00",
		"0023-05-01 00:00:00", "9999-12-31 23:59:59", "2024-01-01", "2024-01-01 24:00:00", "2024-13-01 00:00:00",
		"2024-01-01 10:00:00.250", "2024-01-01T10:00:00", "2024-1-01 10:00:00", "2024-01-01 10:00", "",
	} {
		want, werr := time.ParseInLocation(time.DateTime, s, paris)
		if werr != nil {
			want, werr = time.ParseInLocation(time.DateOnly, s, paris)
		}
		got, gerr := parseDatetime([]byte(s), paris)
		if (werr == nil) != (gerr == nil) || !got.Equal(want) {
			t.Errorf("parseDatetime(%q) = %v, %v; time.ParseInLocation: %v, %v", s, got, gerr, want, werr)
		}
	}
}
