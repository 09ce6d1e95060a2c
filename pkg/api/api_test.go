package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
)

func ptr[T any](v T) *T { return &v }

func testUsers() []model.User {
	return []model.User{
		{ID: 1, Username: "ada", FirstName: "Ada", LastName: "Lovelace", Name: "Ada Lovelace",
			Email: "ada@example.test", Country: "GB", DepartmentID: ptr(int64(3)), DepartmentName: "R&D",
			LocationID: ptr(int64(9)), AssetsCount: 2, LicensesCount: 1, Activated: true,
			Groups: []string{"Staff"}, CompanyIDs: []int64{1},
			StartDate: ptr(time.Date(2024, 2, 19, 0, 0, 0, 0, time.UTC)),
			UpdatedAt: ptr(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))},
		{ID: 2, Username: "grace", FirstName: "Grace", LastName: "Hopper", Name: "Grace Hopper"},
		{ID: 5, Username: "gone", FirstName: "Gone", LastName: "User", Name: "Gone User",
			DeletedAt: ptr(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))},
		{ID: 7, Username: "alan", FirstName: "Alan", LastName: "Turing", Name: "Alan Turing", DepartmentID: ptr(int64(3))},
	}
}

// newTestAPI mounts Register on humatest with the fake, public reads on
// unless deps says otherwise.
func newTestAPI(t *testing.T, store *fakeStore, edit ...func(*api.Deps)) (humatest.TestAPI, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	d := api.Deps{Users: store, Assets: store, Runs: store, Exports: store, ExportLog: store, PublicReads: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, e := range edit {
		e(&d)
	}
	_, tapi := humatest.New(t)
	api.Register(tapi, d)
	return tapi, logs
}

func decode[T any](t *testing.T, resp *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(resp.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", resp.Body.String(), err)
	}
	return v
}

// problem is the RFC 9457 body of an error response.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func wantProblem(t *testing.T, resp *httptest.ResponseRecorder, status int) problem {
	t.Helper()
	if resp.Code != status {
		t.Fatalf("status = %d, want %d; body %s", resp.Code, status, resp.Body)
	}
	if ct := resp.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	p := decode[problem](t, resp)
	if p.Status != status {
		t.Errorf("problem status = %d, want %d", p.Status, status)
	}
	return p
}

func TestGetUserKeepsTheOriginalContract(t *testing.T) {
	tapi, _ := newTestAPI(t, &fakeStore{users: testUsers()})
	resp := tapi.Get("/users/1")
	if resp.Code != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Code, resp.Body)
	}
	got := decode[map[string]any](t, resp)

	original := map[string]any{
		"id": 1.0, "first_name": "Ada", "last_name": "Lovelace", "username": "ada", "email": "ada@example.test",
		"county": "GB", "department_id": 3.0, "location_id": 9.0, "assets_count": 2.0, "license_count": 1.0,
	}
	for k, want := range original {
		if diff := cmp.Diff(want, got[k]); diff != "" {
			t.Errorf("field %s (-want +got):\n%s", k, diff)
		}
	}
	richer := map[string]any{
		"name": "Ada Lovelace", "country": "GB", "licenses_count": 1.0, "department_name": "R&D",
		"start_date": "2024-02-19", "snipeit_updated_at": "2025-01-02T03:04:05Z",
		"jobtitle": nil, "manager_id": nil, "deleted_at": nil, "activated": true, "groups": []any{"Staff"},
		"company_ids": []any{1.0},
	}
	for k, want := range richer {
		if diff := cmp.Diff(want, got[k]); diff != "" {
			t.Errorf("field %s (-want +got):\n%s", k, diff)
		}
	}
	keys := []string{}
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := strings.Fields(`accessories_count activated address assets_count autoassign_licenses city
		company_id company_ids company_name consumables_count country county deleted_at department_id
		department_name display_name email employee_num end_date first_name groups id jobtitle last_login
		last_name ldap_import license_count licenses_count locale location_id location_name manager_id
		manager_name manages_locations_count manages_users_count mobile name notes phone remote role
		snipeit_created_at snipeit_updated_at start_date state two_factor_enrolled two_factor_optin
		username vip website zip`)
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("user JSON keys (-want +got):\n%s", diff)
	}
}

func TestGetUserStatuses(t *testing.T) {
	tapi, _ := newTestAPI(t, &fakeStore{users: testUsers()})

	t.Run("deleted user is returned with deleted_at", func(t *testing.T) {
		resp := tapi.Get("/users/5")
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d", resp.Code)
		}
		if got := decode[api.User](t, resp); got.DeletedAt == nil {
			t.Errorf("deleted_at is null for a deleted user")
		}
	})
	t.Run("missing user is 404", func(t *testing.T) {
		wantProblem(t, tapi.Get("/users/404"), http.StatusNotFound)
	})
	for _, bad := range []string{"abc", "1.5", "99999999999999999999", "-"} {
		t.Run("user id "+bad+" is 422", func(t *testing.T) {
			wantProblem(t, tapi.Get("/users/"+bad), http.StatusUnprocessableEntity)
		})
	}
	t.Run("ETag and If-None-Match", func(t *testing.T) {
		first := tapi.Get("/users/1")
		etag := first.Header().Get("ETag")
		if !regexp.MustCompile(`^"[A-Za-z0-9_-]+"$`).MatchString(etag) {
			t.Fatalf("ETag = %q, want a strong quoted tag", etag)
		}
		if other := tapi.Get("/users/2").Header().Get("ETag"); other == etag {
			t.Errorf("two users share ETag %s", etag)
		}
		again := tapi.Get("/users/1", "If-None-Match: "+etag)
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("If-None-Match with the current ETag: status %d, body %q; want 304, empty", again.Code, again.Body)
		}
		if got := again.Header().Get("ETag"); got != etag {
			t.Errorf("304 ETag = %q, want %q", got, etag)
		}
		stale := tapi.Get("/users/1", `If-None-Match: "stale"`)
		if stale.Code != http.StatusOK {
			t.Errorf("If-None-Match with another ETag: status %d, want 200", stale.Code)
		}
	})
}

func ids[T any](rows []T, id func(T) int64) []int64 {
	out := []int64{}
	for _, r := range rows {
		out = append(out, id(r))
	}
	return out
}

func userID(u api.User) int64 { return u.ID }

func TestListUsersStreamsOrPages(t *testing.T) {
	store := &fakeStore{users: testUsers()}
	tapi, _ := newTestAPI(t, store)

	t.Run("without limit every live user is streamed", func(t *testing.T) {
		resp := tapi.Get("/users")
		if resp.Code != http.StatusOK || resp.Header().Get("Link") != "" {
			t.Fatalf("status %d, Link %q", resp.Code, resp.Header().Get("Link"))
		}
		if ct := resp.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if diff := cmp.Diff([]int64{1, 2, 7}, ids(decode[[]api.User](t, resp), userID)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	t.Run("an empty listing is an empty array", func(t *testing.T) {
		resp := tapi.Get("/users?q=nobody")
		if resp.Code != http.StatusOK || strings.TrimSpace(resp.Body.String()) != "[]" {
			t.Errorf("status %d, body %q; want 200 []", resp.Code, resp.Body)
		}
	})
	t.Run("pages follow Link to the end, keeping filters", func(t *testing.T) {
		var got []int64
		next := "/users?limit=1&include_deleted=true&department_id=3"
		for i := 0; next != ""; i++ {
			if i > 10 {
				t.Fatal("Link never ends")
			}
			resp := tapi.Get(next)
			if resp.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", next, resp.Code, resp.Body)
			}
			got = append(got, ids(decode[[]api.User](t, resp), userID)...)
			next = apitest.LinkNext(t, resp.Header())
			if next != "" && (!strings.Contains(next, "department_id=3") || !strings.Contains(next, "include_deleted=true") || !strings.Contains(next, "limit=1")) {
				t.Errorf("Link %q lost the filters", next)
			}
		}
		if diff := cmp.Diff([]int64{1, 7}, got); diff != "" {
			t.Errorf("paged ids (-want +got):\n%s", diff)
		}
	})
	t.Run("filters reach the store", func(t *testing.T) {
		tapi.Get("/users?q=Ad&department_id=0&location_id=-4&include_deleted=true")
		want := model.UserFilter{Query: "Ad", DepartmentID: ptr(int64(0)), LocationID: ptr(int64(-4)), IncludeDeleted: true}
		if diff := cmp.Diff(want, store.lastUserFilter); diff != "" {
			t.Errorf("filter (-want +got):\n%s", diff)
		}
	})
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "department_id=x", "include_deleted=maybe", "cursor=zzz&limit=2"} {
		t.Run(q+" is 422", func(t *testing.T) {
			wantProblem(t, tapi.Get("/users?"+q), http.StatusUnprocessableEntity)
		})
	}
}

func TestErrorsAreTranslatedOnce(t *testing.T) {
	secret := "password=hunter2 host=db.internal"
	tests := []struct {
		name       string
		err        error
		status     int
		header     string
		hideSecret bool
		logged     bool
	}{
		{"not found", fmt.Errorf("get user: %w", model.ErrNotFound), http.StatusNotFound, "", false, false},
		{"invalid", fmt.Errorf("list users: %w: malformed cursor", model.ErrInvalid), http.StatusUnprocessableEntity, "", false, false},
		{"conflict", fmt.Errorf("%w: a sync is running", model.ErrConflict), http.StatusConflict, "", false, false},
		{"database down", fmt.Errorf("get user: %w: dial %s", model.ErrUnavailable, secret), http.StatusServiceUnavailable, "Retry-After", true, true},
		{"unknown", fmt.Errorf("scan: %s: bad column", secret), http.StatusInternalServerError, "", true, true},
	}
	paths := []string{"/users/1", "/users", "/users?limit=2", "/users/1/assets", "/assets", "/assets/1", "/sync/runs", "/sync/status"}
	for _, tt := range tests {
		for _, path := range paths {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				tapi, logs := newTestAPI(t, &fakeStore{users: testUsers(), err: tt.err})
				resp := tapi.Get(path, "X-Request-Id: req-42")
				p := wantProblem(t, resp, tt.status)
				if tt.header != "" && resp.Header().Get(tt.header) == "" {
					t.Errorf("no %s header", tt.header)
				}
				if tt.hideSecret && strings.Contains(resp.Body.String(), "hunter2") {
					t.Errorf("body leaks the error text: %s", resp.Body)
				}
				if tt.status == http.StatusInternalServerError && p.Detail != "" {
					t.Errorf("500 detail = %q, want none", p.Detail)
				}
				if tt.logged && !strings.Contains(logs.String(), "hunter2") {
					t.Errorf("the error was not logged: %s", logs)
				}
			})
		}
	}
}

func TestStreamFailingBeforeTheFirstUserIsAProblem(t *testing.T) {
	// More users than the first batch, so the listing is streamed.
	many := make([]model.User, 150)
	for i := range many {
		many[i] = model.User{ID: int64(i + 1), Username: fmt.Sprintf("user%d", i+1)}
	}
	store := &fakeStore{users: many, streamErr: fmt.Errorf("%w: connection reset", model.ErrUnavailable), streamErrAfter: 0}
	tapi, _ := newTestAPI(t, store)
	wantProblem(t, tapi.Get("/users"), http.StatusServiceUnavailable)
}

func TestAssetsAndUserAssets(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: []model.Asset{
		{ID: 10, AssetTag: "A-10", Name: "Laptop", Serial: "S10", StatusType: "deployable", AssignedUserID: ptr(int64(1)),
			PurchaseCost: "1299.00", PurchaseDate: ptr(time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)),
			CustomFields: map[string]string{"_snipeit_mac_1": "aa:bb"}},
		{ID: 11, AssetTag: "A-11", Name: "Old phone", Serial: "S11", StatusType: "archived"},
		{ID: 12, AssetTag: "A-12", Name: "Monitor", Serial: "S12", StatusType: "deployable", AssignedUserID: ptr(int64(1))},
	}}
	tapi, _ := newTestAPI(t, store)
	assetID := func(a api.Asset) int64 { return a.ID }

	resp := tapi.Get("/assets/10")
	if resp.Code != http.StatusOK || resp.Header().Get("ETag") == "" {
		t.Fatalf("GET /assets/10: %d, ETag %q", resp.Code, resp.Header().Get("ETag"))
	}
	got := decode[map[string]any](t, resp)
	for k, want := range map[string]any{"asset_tag": "A-10", "purchase_cost": "1299.00", "purchase_date": "2023-05-01",
		"archived": false, "assigned_user_id": 1.0, "custom_fields": map[string]any{"_snipeit_mac_1": "aa:bb"}, "model_name": nil} {
		if diff := cmp.Diff(want, got[k]); diff != "" {
			t.Errorf("asset field %s (-want +got):\n%s", k, diff)
		}
	}
	wantProblem(t, tapi.Get("/assets/99"), http.StatusNotFound)
	wantProblem(t, tapi.Get("/assets/x"), http.StatusUnprocessableEntity)

	tests := []struct {
		path string
		want []int64
	}{
		{"/assets", []int64{10, 11, 12}},
		{"/assets?status=archived", []int64{11}},
		{"/assets?assigned_user_id=1&limit=5", []int64{10, 12}},
		{"/users/1/assets", []int64{10, 12}},
		{"/users/2/assets", []int64{}},
	}
	for _, tt := range tests {
		resp := tapi.Get(tt.path)
		if resp.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", tt.path, resp.Code, resp.Body)
			continue
		}
		if diff := cmp.Diff(tt.want, ids(decode[[]api.Asset](t, resp), assetID)); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", tt.path, diff)
		}
	}
	wantProblem(t, tapi.Get("/users/404/assets"), http.StatusNotFound)
}

func TestSyncRunsAndStatus(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	finished := now.Add(-90 * time.Minute)
	success := model.SyncRun{ID: 3, Scope: model.ScopeUsers, Trigger: "schedule", StartedAt: finished.Add(-30 * time.Second),
		FinishedAt: &finished, Status: model.RunSucceeded, Counts: model.RunCounts{Fetched: 100, Updated: 2, Unchanged: 98}}
	failed := model.SyncRun{ID: 4, Scope: model.ScopeUsers, Trigger: "webhook", JobName: "usersync-webhook-x",
		StartedAt: now.Add(-time.Minute), FinishedAt: &now, Status: model.RunFailed, Error: "snipe-it error",
		Mode: model.ModeIncremental, FallbackReason: model.FallbackTies}
	assets := model.SyncRun{ID: 2, Scope: model.ScopeAssets, Trigger: "cli", StartedAt: now.Add(-3 * time.Hour), Status: model.RunRunning}
	store := &fakeStore{
		runs: []model.SyncRun{failed, success, assets},
		statuses: []model.ScopeStatus{
			{Scope: model.ScopeUsers, LastRun: &failed, LastSuccess: &success, LiveRows: 100, DeletedRows: 3},
			{Scope: model.ScopeAssets, LastRun: &assets},
		},
	}
	tapi, _ := newTestAPI(t, store, func(d *api.Deps) { d.Now = func() time.Time { return now } })

	runID := func(r api.SyncRun) int64 { return r.ID }
	resp := tapi.Get("/sync/runs?limit=2")
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /sync/runs: %d %s", resp.Code, resp.Body)
	}
	if diff := cmp.Diff([]int64{4, 3}, ids(decode[[]api.SyncRun](t, resp), runID)); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	next := apitest.LinkNext(t, resp.Header())
	resp = tapi.Get(next)
	if diff := cmp.Diff([]int64{2}, ids(decode[[]api.SyncRun](t, resp), runID)); diff != "" || apitest.LinkNext(t, resp.Header()) != "" {
		t.Errorf("second page %s (-want +got):\n%s", next, diff)
	}
	resp = tapi.Get("/sync/runs?scope=users&status=failed")
	runs := decode[[]api.SyncRun](t, resp)
	if len(runs) != 1 || runs[0].Error == nil || *runs[0].Error != "snipe-it error" || *runs[0].DurationSeconds != 60 {
		t.Errorf("failed users runs = %+v", runs)
	}
	if r := runs[0]; r.Trigger != "webhook" || r.Mode != "incremental" || r.FallbackReason == nil || *r.FallbackReason != "ties" {
		t.Errorf("the webhook's run: trigger %s, mode %s, fallback %v; want webhook, incremental, ties", r.Trigger, r.Mode, r.FallbackReason)
	}
	if !strings.Contains(tapi.Get("/sync/runs?status=succeeded").Body.String(), `"mode":"full","fallback_reason":null`) {
		t.Error("a full run does not show mode full and no fallback reason")
	}
	wantProblem(t, tapi.Get("/sync/runs?scope=everything"), http.StatusUnprocessableEntity)

	resp = tapi.Get("/sync/status")
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /sync/status: %d %s", resp.Code, resp.Body)
	}
	type scope struct {
		Scope       string              `json:"scope"`
		LastRun     *struct{ ID int64 } `json:"last_run"`
		LastSuccess *struct{ ID int64 } `json:"last_success"`
		Age         *float64            `json:"last_success_age_seconds"`
		Live        int64               `json:"live_rows"`
		Deleted     int64               `json:"deleted_rows"`
	}
	got := decode[struct{ Scopes []scope }](t, resp)
	want := []scope{
		{Scope: "users", LastRun: &struct{ ID int64 }{4}, LastSuccess: &struct{ ID int64 }{3}, Age: ptr(5400.0), Live: 100, Deleted: 3},
		{Scope: "assets", LastRun: &struct{ ID int64 }{2}},
	}
	if diff := cmp.Diff(want, got.Scopes); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	tapi, _ := newTestAPI(t, &fakeStore{})
	oapi := tapi.OpenAPI()
	if s := oapi.Components.SecuritySchemes["bearer"]; s == nil || s.Type != "http" || s.Scheme != "bearer" {
		t.Errorf("bearer security scheme = %+v", s)
	}
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	var opIDs []string
	for path, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			opIDs = append(opIDs, op.OperationID)
			if !kebab.MatchString(op.OperationID) || len(op.Tags) == 0 || len(op.Security) == 0 {
				t.Errorf("%s: operation id %q, tags %v, security %v", path, op.OperationID, op.Tags, op.Security)
			}
		}
	}
	slices.Sort(opIDs)
	want := []string{"get-asset", "get-sync-job", "get-sync-status", "get-user", "list-assets", "list-exports",
		"list-sync-jobs", "list-sync-runs", "list-user-assets", "list-users", "start-assets-sync", "start-full-sync", "start-users-sync"}
	if diff := cmp.Diff(want, opIDs); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	// The streamed listing is still documented as an array of users.
	list := oapi.Paths["/users"].Get.Responses["200"].Content["application/json"].Schema
	if list == nil || list.Type != "array" || list.Items == nil || list.Items.Ref == "" {
		t.Fatalf("GET /users 200 schema = %+v, want an array of a referenced User", list)
	}
	user := oapi.Components.Schemas.SchemaFromRef(list.Items.Ref)
	for _, field := range []string{"id", "county", "license_count", "deleted_at"} {
		if user.Properties[field] == nil {
			t.Errorf("User schema has no %s", field)
		}
	}
	for path, want := range map[string]string{"/users/{user_id}": "User", "/assets/{asset_id}": "Asset"} {
		s := oapi.Paths[path].Get.Responses["200"].Content["application/json"].Schema
		if s == nil || !strings.HasSuffix(s.Ref, "/"+want) {
			t.Errorf("GET %s 200 schema = %+v, want a %s", path, s, want)
		}
	}
	if h := oapi.Paths["/users"].Get.Responses["200"].Headers["Link"]; h == nil {
		t.Errorf("GET /users does not document its Link header")
	}
}
