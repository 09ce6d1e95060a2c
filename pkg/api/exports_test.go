package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
)

func TestExportsAreRecordedWithTheTokenName(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: manyAssets(3)}
	tokens, _ := loadTokens(t, "finance-reports=read:fin-secret-1\nread:plain-secret-2\n")
	srv := startServer(t, store, func(d *api.Deps) { d.Tokens, d.PublicReads = tokens, false })

	for i, tt := range []struct{ path, token string }{
		{"/users?format=csv&department_id=3&include_deleted=true&q=a", "fin-secret-1"}, // CSV export, named token
		{"/assets", "plain-secret-2"},                  // whole JSON listing, unnamed token
		{"/users?limit=2", "fin-secret-1"},             // a JSON page: not an export
		{"/users/1", "fin-secret-1"},                   // not a listing
		{"/users/1/assets", "fin-secret-1"},            // one user's assets as JSON: a view, not an export
		{"/assets?limit=1&format=csv", "fin-secret-1"}, // a CSV page is an export
	} {
		resp, body := get(t, srv.url+tt.path, "Authorization", "Bearer "+tt.token, "X-Request-Id", fmt.Sprintf("req-%d", i))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", tt.path, resp.StatusCode, body)
		}
	}
	got := store.recorded()
	want := []model.Export{
		{TokenName: "finance-reports", Resource: "users", Format: "csv", Outcome: model.ExportCompleted, RequestID: "req-0",
			Filters: map[string]string{"department_id": "3", "include_deleted": "true", "q": "a"}, Rows: 2},
		{Resource: "assets", Format: "json", Outcome: model.ExportCompleted, RequestID: "req-1",
			Filters: map[string]string{}, Rows: 3},
		// The first page of a paged export: more to come.
		{TokenName: "finance-reports", Resource: "assets", Format: "csv", Outcome: model.ExportPartial, RequestID: "req-5",
			Filters: map[string]string{}, Rows: 1},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Export{}, "ID", "StartedAt", "FinishedAt", "Bytes", "NextCursor")); diff != "" {
		t.Errorf("recorded exports (-want +got):\n%s", diff)
	}
	if got[2].NextCursor == "" || got[0].NextCursor != "" || got[1].NextCursor != "" {
		t.Errorf("next cursors %q %q %q: want one on the first page of the paged export only",
			got[0].NextCursor, got[1].NextCursor, got[2].NextCursor)
	}
	for _, e := range got {
		if e.Bytes < 100 || e.FinishedAt.Before(e.StartedAt) || time.Since(e.StartedAt) > time.Minute {
			t.Errorf("export %d: %d bytes, %s … %s", e.ID, e.Bytes, e.StartedAt, e.FinishedAt)
		}
	}

	resp, body := get(t, srv.url+"/exports?limit=2", "Authorization", "Bearer plain-secret-2")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /exports: %d %s", resp.StatusCode, body)
	}
	var page []api.Export
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Format != "csv" || page[1].Format != "json" || page[1].TokenName != nil ||
		*page[0].TokenName != "finance-reports" || page[0].Outcome != "partial" || page[0].DurationSeconds < 0 {
		t.Errorf("first page of /exports: %s; want the two newest, newest first", body)
	}
	next := apitest.LinkNext(t, resp.Header)
	if _, body := get(t, srv.url+next, "Authorization", "Bearer plain-secret-2"); !strings.Contains(body, `"resource":"users"`) {
		t.Errorf("second page %s: %s", next, body)
	}
	if resp, _ := get(t, srv.url+"/exports"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /exports without a token: %d, want 401", resp.StatusCode)
	}
	for _, secret := range []string{"fin-secret-1", "plain-secret-2"} {
		if strings.Contains(srv.logs.String(), secret) {
			t.Errorf("a token is in the log")
		}
	}
	if got := srv.metric(t, `usersapi_exports_total{format="csv",outcome="completed",resource="users"}`); got != "1" {
		t.Errorf("usersapi_exports_total for users csv = %q, want 1", got)
	}
}

func TestAnExportNeverFailsOnItsHistory(t *testing.T) {
	store := &fakeStore{users: testUsers(), exportErr: errors.New("permission denied for table export_history")}
	srv := startServer(t, store)
	resp, body := get(t, srv.url+"/users?format=csv")
	if resp.StatusCode != http.StatusOK || len(readCSV(t, body)) != 4 {
		t.Fatalf("export with a failing history: %d %q", resp.StatusCode, body)
	}
	if got := srv.metric(t, "usersapi_export_history_failures_total"); got != "1" {
		t.Errorf("usersapi_export_history_failures_total = %q, want 1", got)
	}
	if !strings.Contains(srv.logs.String(), "permission denied for table export_history") {
		t.Errorf("the history failure is not logged: %s", srv.logs)
	}
}

func TestAStreamTheClientLeavesIsRecordedAsCut(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: manyAssets(500), hold: make(chan struct{}), holdAfter: 400}
	srv := startServer(t, store)
	resp := openStream(t, srv.url+"/assets?format=csv")
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the client goes away mid-stream
	eventually.Until(t, 10*time.Second, "the cut export to be recorded", func() bool { return len(store.recorded()) == 1 })
	if e := store.recorded()[0]; e.Outcome != model.ExportCut || e.Format != "csv" {
		t.Errorf("recorded %+v, want a cut csv export", e)
	}
	if got := srv.metric(t, `usersapi_exports_total{format="csv",outcome="cut",resource="assets"}`); got != "1" {
		t.Errorf("cut exports = %q, want 1", got)
	}
}

func TestUserAssetsArePagedAndStreamed(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: manyAssets(3000), hold: make(chan struct{}), holdAfter: 2500}
	srv := startServer(t, store)

	t.Run("pages follow Link", func(t *testing.T) {
		var n int
		next := "/users/1/assets?limit=1000"
		for i := 0; next != ""; i++ {
			if i > 5 {
				t.Fatal("Link never ends")
			}
			resp, body := get(t, srv.url+next)
			var page []api.Asset
			if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK || len(page) > 1000 {
				t.Fatalf("GET %s: %d, %d assets, %v", next, resp.StatusCode, len(page), err)
			}
			n += len(page)
			next = apitest.LinkNext(t, resp.Header)
		}
		if n != 3000 {
			t.Errorf("%d assets over the pages, want 3000", n)
		}
	})
	t.Run("the whole list streams before it is read to the end", func(t *testing.T) {
		// The store stands still after 2500 rows until the client has
		// read the first ones: a handler that collected every row first
		// would never answer.
		resp := openStream(t, srv.url+"/users/1/assets")
		if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("first 64 KiB of the stream: %d %v", resp.StatusCode, err)
		}
		close(store.hold)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || !strings.HasSuffix(string(rest), "]\n") {
			t.Errorf("the rest of the stream: %d bytes, %v", len(rest), err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		for _, path := range []string{"/users/404/assets", "/users/404/assets?limit=5", "/users/404/assets?format=csv"} {
			if resp, body := get(t, srv.url+path, "Accept", "text/csv"); resp.StatusCode != http.StatusNotFound ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s: %d %s, want a 404 problem", path, resp.StatusCode, body)
			}
		}
	})
}
