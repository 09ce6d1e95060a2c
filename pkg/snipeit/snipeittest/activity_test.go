package snipeittest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// activityServer is a simulator of version v whose log holds, one second
// apart: the checkout of asset 911 to user 118, a seat of license 1 to
// user 118, an edit of user 118's email, a new asset with a non-ASCII
// name, and the checkin of asset 912 from user 42.
func activityServer(t *testing.T, v Version, cfg Config) *Server {
	t.Helper()
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg.Data, cfg.Version, cfg.Now = smallExampleData(), v, clock.Now
	s := mustNew(t, cfg)
	for _, act := range []func() error{
		func() error { return s.CheckoutAsset(911, 118) },
		func() error { return s.CheckoutLicenseSeat(1, 118) },
		func() error { return s.UpdateUser(118, func(u *User) { u.Email = "yara@example.test" }) },
		func() error { return s.AddAsset(Asset{ID: 5000, Name: "Bildschirm Über", AssetTag: "MON-5000"}) },
		func() error { return s.CheckinAsset(912) },
	} {
		clock.Advance(time.Second)
		must(t, act())
	}
	return s
}

// activityRows fetches a report page and decodes its rows.
func activityRows(t *testing.T, s *Server, query string) (listBody, []map[string]any) {
	t.Helper()
	b := list(t, s, "/api/v1/reports/activity?"+query)
	rows := make([]map[string]any, len(b.Rows))
	for i, raw := range b.Rows {
		if err := json.Unmarshal(raw, &rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b, rows
}

// describe writes a row as "checkout asset 911 → user 118".
func describe(row map[string]any) string {
	ref := func(k string) string {
		o, ok := row[k].(map[string]any)
		if !ok {
			return ""
		}
		return fmt.Sprintf("%s %v", o["type"], o["id"])
	}
	s := fmt.Sprintf("%s %s", row["action_type"], ref("item"))
	if t := ref("target"); t != "" {
		s += " → " + t
	}
	return s
}

func TestActivityReport(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		s := activityServer(t, v, Config{})
		all := []string{
			"checkout asset 911 → user 118",
			"checkout license 1 → user 118",
			"update user 118 → user 118",
			"create new asset 5000",
			"checkin from asset 912 → user 42",
		}
		if !v.logsUsers() {
			all = slices.Delete(all, 2, 3)
		}
		t.Run(string(v)+" lists every entry, newest first by default, action types translated", func(t *testing.T) {
			b, rows := activityRows(t, s, "")
			var got []string
			for _, r := range rows {
				got = append(got, describe(r))
			}
			want := slices.Clone(all)
			slices.Reverse(want)
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if b.Total != len(all) {
				t.Errorf("total %d, want %d", b.Total, len(all))
			}
		})
		t.Run(string(v)+" rows have the transformer's keys in order", func(t *testing.T) {
			b, _ := activityRows(t, s, "sort=id&order=asc")
			want := []string{"id", "icon", "file", "item", "location", "created_at", "updated_at", "next_audit_date",
				"days_to_next_audit", "action_type", "admin", "created_by", "target", "note", "signature_file", "log_meta",
				"remote_ip", "user_agent", "action_source", "action_date"}
			if !v.activityCreatedBy() {
				want = slices.DeleteFunc(want, func(k string) bool {
					return k == "created_by" || k == "remote_ip" || k == "user_agent" || k == "action_source"
				})
			}
			if diff := gocmp.Diff(want, topKeys(t, b.Rows[0])); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
		t.Run(string(v)+" sorts by id ascending when asked", func(t *testing.T) {
			_, rows := activityRows(t, s, "sort=id&order=asc")
			var got []string
			for _, r := range rows {
				got = append(got, describe(r))
			}
			if diff := gocmp.Diff(all, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
		t.Run(string(v)+" filters by item, target and action type", func(t *testing.T) {
			checkouts := []string{"checkout asset 911 → user 118", "checkout license 1 → user 118"}
			if v.activityForcesCreatedAt() {
				slices.Reverse(checkouts) // created_at desc first
			}
			for _, c := range []struct {
				query string
				want  []string
			}{
				{"item_type=asset&item_id=911", []string{"checkout asset 911 → user 118"}},
				{"target_type=user&target_id=42", []string{"checkin from asset 912 → user 42"}},
				{"item_type=license&item_id=1", []string{"checkout license 1 → user 118"}},
				{"action_type=checkout", checkouts},
			} {
				_, rows := activityRows(t, s, c.query+"&sort=id&order=asc")
				var got []string
				for _, r := range rows {
					got = append(got, describe(r))
				}
				if diff := gocmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.query, diff)
				}
			}
			if b, _ := activityRows(t, s, "item_type=asset"); b.Total != len(all) {
				t.Errorf("item_type without item_id filtered: total %d, want %d", b.Total, len(all))
			}
		})
	}
}

func TestActivityReportDetails(t *testing.T) {
	t.Parallel()
	t.Run("an update carries its log_meta and the acting user", func(t *testing.T) {
		s := activityServer(t, Version85, Config{})
		_, rows := activityRows(t, s, "item_type=user&item_id=118")
		if len(rows) != 1 {
			t.Fatalf("%d rows", len(rows))
		}
		r := rows[0]
		want := map[string]any{"email": map[string]any{"old": nil, "new": "yara@example.test"}}
		if diff := gocmp.Diff(want, r["log_meta"]); diff != "" {
			t.Errorf("log_meta (-want +got):\n%s", diff)
		}
		for _, k := range []string{"admin", "created_by"} {
			if diff := gocmp.Diff(map[string]any{"id": 1.0, "name": "Admin Fakeuser", "first_name": "Admin", "last_name": "Fakeuser"}, r[k]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", k, diff)
			}
		}
		if got := r["created_at"].(map[string]any)["datetime"]; got != "2026-01-02 03:04:08" {
			t.Errorf("created_at %v", got)
		}
	})
	t.Run("the body keeps non-ASCII as it is (JSON_UNESCAPED_UNICODE)", func(t *testing.T) {
		s := activityServer(t, Version86, Config{})
		w := serve(t, s, "/api/v1/reports/activity?item_type=asset&item_id=5000")
		if !strings.Contains(w.Body.String(), `"name":"Bildschirm Über (MON-5000)"`) {
			t.Errorf("body %s", w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json;charset=utf8" {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("before 8, an action_type filter orders by created_at desc whatever sort says", func(t *testing.T) {
		for v, want := range map[Version][]string{
			Version70: {"checkout license 1 → user 118", "checkout asset 911 → user 118"},
			Version85: {"checkout asset 911 → user 118", "checkout license 1 → user 118"},
		} {
			_, rows := activityRows(t, activityServer(t, v, Config{}), "action_type=checkout&sort=id&order=asc")
			var got []string
			for _, r := range rows {
				got = append(got, describe(r))
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", v, diff)
			}
		}
	})
	t.Run("it pages like the other lists", func(t *testing.T) {
		s := activityServer(t, Version86, Config{})
		b, rows := activityRows(t, s, "sort=id&order=asc&limit=2&offset=1")
		if b.Total != 5 || len(rows) != 2 || rows[0]["id"] != 2.0 || b.PerPage == nil || *b.PerPage != 2 {
			t.Errorf("total %d, %d rows, first %v, per_page %v", b.Total, len(rows), rows[0]["id"], b.PerPage)
		}
		if b, rows := activityRows(t, s, "offset=99"); b.Total != 5 || len(rows) != 0 {
			t.Errorf("past the end: total %d, %d rows", b.Total, len(rows))
		}
	})
	t.Run("5.0 ignores a limit under MAX_RESULTS", func(t *testing.T) {
		s := activityServer(t, Version50, Config{})
		if _, rows := activityRows(t, s, "limit=2"); len(rows) != 4 {
			t.Errorf("%d rows, want all 4", len(rows))
		}
	})
	t.Run("a token without activity.view gets 403; it can still read users", func(t *testing.T) {
		s := activityServer(t, Version85, Config{ActivityDeniedToken: "no-activity", RestrictedToken: "restricted"})
		for token, want := range map[string]int{"no-activity": http.StatusForbidden, "restricted": http.StatusForbidden, DefaultToken: http.StatusOK} {
			w := serve(t, s, "/api/v1/reports/activity", "Authorization", "Bearer "+token)
			if w.Code != want {
				t.Errorf("token %s: %d, want %d", token, w.Code, want)
			}
			if want == http.StatusForbidden && w.Body.String() != `{"message":"This action is unauthorized."}` {
				t.Errorf("token %s: body %s", token, w.Body)
			}
		}
		if w := serve(t, s, "/api/v1/users", "Authorization", "Bearer no-activity"); w.Code != http.StatusOK {
			t.Errorf("users: %d", w.Code)
		}
	})
	t.Run("purging removes the records and their log entries", func(t *testing.T) {
		s := activityServer(t, Version85, Config{})
		must(t, s.DeleteUser(118))
		must(t, s.DeleteAsset(5000))
		users, assets, err := s.Purge()
		if err != nil || users != 1 || assets != 1 {
			t.Fatalf("purged %d users, %d assets, %v", users, assets, err)
		}
		got := logLines(s.Log())
		want := []string{"checkin from asset 912 → user 42"}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("log left (-want +got):\n%s", diff)
		}
		if len(s.DeletedUsers()) != 0 || len(s.DeletedAssets()) != 0 {
			t.Errorf("soft-deleted records left")
		}
	})
}
