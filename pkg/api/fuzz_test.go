package api_test

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// fuzzHandler mounts the API on a real, migrated database holding a few
// users and assets: the fuzzed parameters must reach PostgreSQL, where a
// NUL byte or a huge number would fail if nothing stopped them earlier.
func fuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	ctx := context.Background()
	db := pgtest.MigratedDB(f)
	users := testUsers()
	if _, err := db.MirrorUsers(ctx, sliceSeq(users), model.DeleteGuard{}); err != nil {
		f.Fatal(err)
	}
	assets := []model.Asset{{ID: 1, AssetTag: "A-1", Name: "Laptop", Serial: "S1", StatusType: "deployable", AssignedUserID: ptr(int64(1))}}
	if _, err := db.MirrorAssets(ctx, sliceSeq(assets), model.DeleteGuard{}); err != nil {
		f.Fatal(err)
	}
	if err := db.RecordExport(ctx, model.Export{Resource: "users", Format: "csv", Outcome: model.ExportCompleted,
		Filters: map[string]string{"q": "a"}}); err != nil {
		f.Fatal(err)
	}
	// The whole router, so that the size bounds in front of the
	// operations are fuzzed too. Requests carry fuzzToken (unless a test
	// fuzzes Authorization), so that the operations PUBLIC_READS does not
	// open are reached too.
	tokens, _ := loadTokens(f, "read:"+fuzzToken+"\n")
	h, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: db, Assets: db, Runs: db, Exports: db, ExportLog: db, PublicReads: true, Tokens: tokens,
			Limits: api.Limits{MaxStreams: 4, RequestTimeout: 10 * time.Second, StreamTimeout: time.Minute}},
		DB: db,
	})
	if err != nil {
		f.Fatal(err)
	}
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

// fuzzToken is the read token of fuzzHandler's requests.
const fuzzToken = "fuzz-token"

// noServerError serves GET path?rawQuery (with header, name then value,
// and fuzzToken unless header sets Authorization) and fails on any 5xx, or
// an error that is not a problem response. It returns the status.
func noServerError(t testing.TB, h http.Handler, path, rawQuery string, header ...string) int {
	u := &url.URL{Path: path, RawQuery: rawQuery}
	req := (&http.Request{Method: http.MethodGet, URL: u, RequestURI: u.RequestURI(),
		Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "example.test"}).WithContext(context.Background())
	req.Header.Set("Authorization", "Bearer "+fuzzToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("GET %s?%q %q = %d: %s", path, rawQuery, header, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && ct != "application/problem+json" {
		t.Fatalf("GET %s?%q %q = %d as %q: %s; want a problem", path, rawQuery, header, rec.Code, ct, rec.Body)
	}
	return rec.Code
}

var querySeeds = []string{
	"", "limit=1", "limit=1000", "limit=0", "limit=-1", "limit=99999999999999999999", "cursor=x&limit=2",
	"cursor=AQEAAAAAAAAAAQ", "q=%00", "q=%ff%fe", "q=%25_%5C", "q=" + string(make([]byte, 300)),
	"department_id=9223372036854775807", "department_id=-9223372036854775808", "department_id=1e3",
	"location_id=%00", "include_deleted=1", "include_deleted=yes", "limit=2&limit=3", "q=a&q=b",
	"assigned_user_id=1&status=archived", "status=%00", "scope=users&status=failed", "scope=%ff",
	"format=csv", "format=csv&limit=1", "format=CSV", "format=%00", "format=json&q=%3Dcmd",
	"q=" + strings.Repeat("%41", 3000),
}

func fuzzQuery(f *testing.F, path string) {
	h := fuzzHandler(f)
	// The fuzzed requests must reach the operation, not stop at auth.
	if code := noServerError(f, h, path, ""); code != http.StatusOK {
		f.Fatalf("GET %s = %d, want 200", path, code)
	}
	for _, s := range querySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		noServerError(t, h, path, rawQuery)
	})
}

func FuzzListUsersQuery(f *testing.F)   { fuzzQuery(f, "/users") }
func FuzzListAssetsQuery(f *testing.F)  { fuzzQuery(f, "/assets") }
func FuzzListRunsQuery(f *testing.F)    { fuzzQuery(f, "/sync/runs") }
func FuzzListExportsQuery(f *testing.F) { fuzzQuery(f, "/exports") }
func FuzzUserAssetsQuery(f *testing.F)  { fuzzQuery(f, "/users/1/assets") }

// FuzzListingHeaders fuzzes the headers a listing reads (Accept decides
// the format; Authorization names the token in the export history).
func FuzzListingHeaders(f *testing.F) {
	h := fuzzHandler(f)
	for _, s := range []string{"text/csv", "application/json;q=0.1, text/csv", "text/csv;q=x", ";;,,", "text/csv;q=", "*/*",
		"\x00", strings.Repeat("text/csv,", 3000)} {
		f.Add(s, "Bearer x")
	}
	f.Fuzz(func(t *testing.T, accept, authorization string) {
		for _, p := range []string{"/users", "/assets?limit=1", "/users/1/assets"} {
			path, query, _ := strings.Cut(p, "?")
			noServerError(t, h, path, query, "Accept", accept, "Authorization", authorization)
		}
	})
}

// FuzzResourcePath fuzzes the id segment of the single-resource paths.
func FuzzResourcePath(f *testing.F) {
	h := fuzzHandler(f)
	for _, s := range []string{"1", "0", "-1", "abc", "1.5", "99999999999999999999", "%00", "1/assets", "", "1/../2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, p := range []string{"/users/%s", "/users/%s/assets", "/assets/%s", "/users/%s/assets?format=csv"} {
			p, query, _ := strings.Cut(p, "?")
			noServerError(t, h, fmt.Sprintf(p, id), query)
		}
	})
}
