package api_test

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// fuzzHandler mounts the API on a real, migrated database holding a few
// users and assets: the fuzzed parameters must reach PostgreSQL, where a
// NUL byte or a huge number would fail if nothing stopped them earlier.
func fuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	users := testUsers()
	if _, err := db.MirrorUsers(ctx, sliceSeq(users), model.MirrorOptions{}); err != nil {
		f.Fatal(err)
	}
	assets := []model.Asset{{ID: 1, AssetTag: "A-1", Name: "Laptop", Serial: "S1", StatusType: "deployable", AssignedUserID: ptr(int64(1))}}
	if _, err := db.MirrorAssets(ctx, sliceSeq(assets), model.MirrorOptions{}); err != nil {
		f.Fatal(err)
	}
	h, tapi := humatest.New(f)
	api.Register(tapi, api.Deps{Users: db, Assets: db, Runs: db, PublicReads: true})
	return h
}

func sliceSeq[T any](rows []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

// noServerError serves GET path?rawQuery and fails on any 5xx.
func noServerError(t *testing.T, h http.Handler, path, rawQuery string) {
	req := (&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path, RawQuery: rawQuery},
		Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "example.test"}).WithContext(context.Background())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("GET %s?%q = %d: %s", path, rawQuery, rec.Code, rec.Body)
	}
}

var querySeeds = []string{
	"", "limit=1", "limit=1000", "limit=0", "limit=-1", "limit=99999999999999999999", "cursor=x&limit=2",
	"cursor=AQEAAAAAAAAAAQ", "q=%00", "q=%ff%fe", "q=%25_%5C", "q=" + string(make([]byte, 300)),
	"department_id=9223372036854775807", "department_id=-9223372036854775808", "department_id=1e3",
	"location_id=%00", "include_deleted=1", "include_deleted=yes", "limit=2&limit=3", "q=a&q=b",
	"assigned_user_id=1&status=archived", "status=%00", "scope=users&status=failed", "scope=%ff",
}

func fuzzQuery(f *testing.F, path string) {
	h := fuzzHandler(f)
	for _, s := range querySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		noServerError(t, h, path, rawQuery)
	})
}

func FuzzListUsersQuery(f *testing.F)  { fuzzQuery(f, "/users") }
func FuzzListAssetsQuery(f *testing.F) { fuzzQuery(f, "/assets") }
func FuzzListRunsQuery(f *testing.F)   { fuzzQuery(f, "/sync/runs") }

// FuzzResourcePath fuzzes the id segment of the single-resource paths.
func FuzzResourcePath(f *testing.F) {
	h := fuzzHandler(f)
	for _, s := range []string{"1", "0", "-1", "abc", "1.5", "99999999999999999999", "%00", "1/assets", "", "1/../2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, p := range []string{"/users/%s", "/users/%s/assets", "/assets/%s"} {
			noServerError(t, h, fmt.Sprintf(p, id), "")
		}
	})
}
