package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// TestMain removes the usersapi and usersync the tests built, and stops
// the control plane of the sync-on-demand tests (kubetest.Get), started by
// the first of them.
func TestMain(m *testing.M) { kubetest.Main(m, binarytest.RemoveAll) }

const (
	readToken = "read-token-e2e"
	syncToken = "sync-token-e2e"
)

// startAPI runs this package's usersapi with env (see apitest.Start).
func startAPI(t *testing.T, env ...string) *apitest.Process {
	t.Helper()
	return apitest.Start(t, binarytest.Build(t, "."), env...)
}

func get(t *testing.T, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return apitest.Do(t, http.MethodGet, url, token, header...)
}

func ptr[T any](v T) *T { return &v }

// genUsers makes n users with ids 1, 3, 5, … (gaps, as in Snipe-IT).
func genUsers(n int) []model.User {
	us := make([]model.User, n)
	for i := range us {
		id := int64(2*i + 1)
		us[i] = model.User{
			ID: id, Username: fmt.Sprintf("user%05d", id), FirstName: "Ann", LastName: fmt.Sprintf("Example %d", id),
			Name: fmt.Sprintf("Ann Example %d", id), Email: fmt.Sprintf("user%05d@example.test", id),
			JobTitle: "Engineer", Country: "DE", City: "Berlin", DepartmentID: ptr(int64(i % 7)), DepartmentName: "Dept",
			LocationID: ptr(int64(i % 5)), LocationName: "HQ", Activated: true, Groups: []string{"Staff"},
			AssetsCount: int32(i % 3), LicensesCount: int32(i % 2), CompanyIDs: []int64{1},
			StartDate: ptr(time.Date(2024, 2, 19, 0, 0, 0, 0, time.UTC)),
			UpdatedAt: ptr(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		}
	}
	return us
}

func seq[T any](rows []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

// seedDatabase creates a migrated database holding users (minus deleted,
// which end up soft-deleted), three assets of user 1 and two runs, and
// returns its URL.
func seedDatabase(t *testing.T, users []model.User, deleted []int64) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	seed(t, url, users, deleted)
	return url
}

// seed migrates the database at url and fills it as seedDatabase does.
func seed(t *testing.T, url string, users []model.User, deleted []int64) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	if len(deleted) > 0 {
		keep := slices.DeleteFunc(slices.Clone(users), func(u model.User) bool { return slices.Contains(deleted, u.ID) })
		if _, err := db.MirrorUsers(ctx, seq(keep), model.DeleteGuard{AllowMassDelete: true}); err != nil {
			t.Fatal(err)
		}
	}
	assets := []model.Asset{
		{ID: 1, AssetTag: "A-1", Name: "Laptop", Serial: "S1", StatusType: "deployable", StatusMeta: "deployed",
			AssignedType: "user", AssignedToID: ptr(int64(1)), AssignedUserID: ptr(int64(1)), PurchaseCost: "1299.00"},
		{ID: 2, AssetTag: "A-2", Name: "Phone", Serial: "S2", StatusType: "archived", StatusMeta: "archived"},
		{ID: 3, AssetTag: "A-3", Name: "Monitor", Serial: "S3", StatusType: "deployable", StatusMeta: "deployed",
			AssignedType: "user", AssignedToID: ptr(int64(1)), AssignedUserID: ptr(int64(1))},
	}
	if _, err := db.MirrorAssets(ctx, seq(assets), model.DeleteGuard{}); err != nil {
		t.Fatal(err)
	}
	for _, scope := range model.Scopes {
		id, err := db.StartRun(ctx, scope, "cli", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.FinishRun(ctx, id, model.RunSucceeded, model.RunCounts{Fetched: int64(len(users))}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTokenFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	content := "# test tokens\nread:" + readToken + "\nsync:" + syncToken + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEndToEnd(t *testing.T) {
	users := genUsers(2500)
	deleted := []int64{3, 501, 4999}
	url := seedDatabase(t, users, deleted)
	p := startAPI(t, "DATABASE_URL="+url, "BASE_PATH=/api", "API_TOKENS_FILE="+writeTokenFile(t), "LOG_LEVEL=debug")
	var live []int64
	for _, u := range users {
		if !slices.Contains(deleted, u.ID) {
			live = append(live, u.ID)
		}
	}

	t.Run("paths, statuses and bodies", func(t *testing.T) {
		tests := []struct {
			path, token string
			status      int
			contains    string
		}{
			{"/api/users/1", readToken, 200, `"username":"user00001"`},
			{"/api/users/1", syncToken, 200, `"county":"DE"`},
			{"/api/users/1", "", 401, `"status":401`},
			{"/api/users/1", "wrong", 401, `"status":401`},
			{"/api/users/3", readToken, 200, `"deleted_at":"20`},
			{"/api/users/2", readToken, 404, `"status":404`},
			{"/api/users/abc", readToken, 422, `"status":422`},
			{"/api/users/1/assets", readToken, 200, `"asset_tag":"A-1"`},
			{"/api/users/2/assets", readToken, 404, `"status":404`},
			{"/api/users/5/assets", readToken, 200, `[]`},
			{"/api/users?limit=1001", readToken, 422, `"status":422`},
			{"/api/users?limit=2&cursor=bogus", readToken, 422, `cursor`},
			{"/api/users?q=user00005&limit=10", readToken, 200, `"id":5,`},
			{"/api/assets", readToken, 200, `"asset_tag":"A-2"`},
			{"/api/assets?status=archived", readToken, 200, `"archived":true`},
			{"/api/assets/1", readToken, 200, `"purchase_cost":"1299.00"`},
			{"/api/assets/9", readToken, 404, `"status":404`},
			{"/api/sync/runs?scope=users", readToken, 200, `"status":"succeeded"`},
			{"/api/sync/status", readToken, 200, `"live_rows":2497`},
			{"/users", readToken, 404, `"status":404`},
			{"/healthz", "", 200, `"ok"`},
			{"/readyz", "", 200, `"ready"`},
			{"/openapi.json", "", 200, `"bearer"`},
			{"/docs", "", 200, `html`},
		}
		for _, tt := range tests {
			resp, body := get(t, p.Base+tt.path, tt.token)
			if resp.StatusCode != tt.status || !bytes.Contains(body, []byte(tt.contains)) {
				t.Errorf("GET %s = %d %.300s; want %d containing %s", tt.path, resp.StatusCode, body, tt.status, tt.contains)
			}
		}
	})

	t.Run("paging returns every user exactly once and equals the stream", func(t *testing.T) {
		var paged []map[string]any
		next := "/api/users?limit=97"
		for i := 0; next != ""; i++ {
			if i > 100 {
				t.Fatal("Link never ends")
			}
			resp, body := get(t, p.Base+next, readToken)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
			}
			var page []map[string]any
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			next = apitest.LinkNext(t, resp.Header)
		}
		var got []int64
		for _, u := range paged {
			got = append(got, int64(u["id"].(float64)))
		}
		if diff := cmp.Diff(live, got); diff != "" {
			t.Errorf("paged ids (-want +got):\n%s", diff)
		}

		resp, body := get(t, p.Base+"/api/users", readToken)
		var streamed []map[string]any
		if err := json.Unmarshal(body, &streamed); err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %d, %v", resp.StatusCode, err)
		}
		if diff := cmp.Diff(paged, streamed); diff != "" {
			t.Errorf("streamed users differ from paged ones (-paged +streamed):\n%s", diff)
		}
	})

	t.Run("a user's assets are paged like /assets", func(t *testing.T) {
		var tags []string
		next := "/api/users/1/assets?limit=1"
		for i := 0; next != ""; i++ {
			if i > 5 {
				t.Fatal("Link never ends")
			}
			resp, body := get(t, p.Base+next, readToken)
			var page []struct {
				AssetTag string `json:"asset_tag"`
			}
			if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 || len(page) != 1 {
				t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
			}
			tags = append(tags, page[0].AssetTag)
			next = apitest.LinkNext(t, resp.Header)
			if next != "" && !strings.HasPrefix(next, "/api/users/1/assets?") {
				t.Errorf("Link %q leaves the listing", next)
			}
		}
		if diff := cmp.Diff([]string{"A-1", "A-3"}, tags); diff != "" {
			t.Errorf("paged assets of user 1 (-want +got):\n%s", diff)
		}
	})

	t.Run("oversize and malformed requests are 4xx problems", func(t *testing.T) {
		tests := []struct {
			name   string
			path   string
			header []string
			status int
		}{
			{"long query", "/api/users?q=" + strings.Repeat("x", 5000), nil, http.StatusRequestURITooLong},
			{"large header", "/api/users/1", []string{"X-Padding", strings.Repeat("p", 20<<10)}, http.StatusRequestHeaderFieldsTooLarge},
			{"limit", "/api/users/1/assets?limit=100000", nil, http.StatusUnprocessableEntity},
			{"format", "/api/users?format=xlsx", nil, http.StatusUnprocessableEntity},
			{"Accept huma cannot parse", "/api/sync/status", []string{"Accept", ";;,,"}, http.StatusOK},
			{"Accept on an error", "/api/users/2", []string{"Accept", "a;,"}, http.StatusNotFound},
		}
		for _, tt := range tests {
			resp, body := get(t, p.Base+tt.path, readToken, tt.header...)
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != tt.status || (tt.status >= 400 && ct != "application/problem+json") {
				t.Errorf("%s: %d %s %.200s; want %d (a problem if an error)", tt.name, resp.StatusCode, ct, body, tt.status)
			}
		}
		// Beyond what the server reads at all, net/http refuses by itself.
		resp, _ := get(t, p.Base+"/api/users/1", readToken, "X-Padding", strings.Repeat("p", 100<<10))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a 100 KiB header: %d, want 431", resp.StatusCode)
		}
	})

	t.Run("ETag and If-None-Match", func(t *testing.T) {
		resp, _ := get(t, p.Base+"/api/users/1", readToken)
		etag := resp.Header.Get("ETag")
		again, body := get(t, p.Base+"/api/users/1", readToken, "If-None-Match", etag)
		if etag == "" || again.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("ETag %q; If-None-Match answered %d %q, want 304", etag, again.StatusCode, body)
		}
	})

	t.Run("metrics by route pattern", func(t *testing.T) {
		_, body := get(t, p.Base+"/metrics", "")
		for _, want := range []string{
			`usersapi_http_requests_total{code="200",method="GET",route="/api/users/{user_id}"}`,
			`usersapi_http_requests_total{code="401",method="GET",route="/api/users/{user_id}"}`,
			`usersapi_http_request_duration_seconds_bucket{code="200",method="GET",route="/api/users"`,
			`process_resident_memory_bytes`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("tokens never logged", func(t *testing.T) {
		if strings.Contains(p.Logs.String(), readToken) || strings.Contains(p.Logs.String(), syncToken) {
			t.Errorf("a token appears in the log")
		}
	})

	if err := p.Stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", err)
	}
}

func TestShutdownDrainsASlowRequest(t *testing.T) {
	const n = 20000 // about 30 MB of JSON: far more than socket buffers hold
	url := seedDatabase(t, genUsers(n), nil)
	p := startAPI(t, "DATABASE_URL="+url, "PUBLIC_READS=true", "SHUTDOWN_DELAY=1s")

	resp, err := http.Get(p.Base + "/users")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read a little, then stall like a slow client while shutdown starts.
	head := make([]byte, 4096)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGTERM)
	eventually.Until(t, 30*time.Second, "the shutting down log line", func() bool { return p.Logs.Index(`"msg":"shutting down"`) >= 0 })
	if r, _ := get(t, p.Base+"/readyz", ""); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz during the shutdown delay = %d, want 503", r.StatusCode)
	}

	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the in-flight stream was cut: %v", err)
	}
	var got []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(append(head, rest...), &got); err != nil || len(got) != n {
		t.Fatalf("drained stream: %d users, err %v; want %d", len(got), err, n)
	}
	exited, err := p.Wait(60 * time.Second)
	if !exited {
		t.Fatal("usersapi did not exit after draining")
	}
	if err != nil {
		t.Errorf("exit after draining: %v, want 0", err)
	}
	shutdown := p.Logs.Index(`"msg":"shutting down"`)
	served := p.Logs.Index(`"route":"/users","status":200`)
	if served < shutdown {
		t.Errorf("the stream finished (log line %d) before shutdown began (line %d): the test proved nothing", served, shutdown)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	tests := map[string][]string{
		"no database URL":        {"PUBLIC_READS=true"},
		"relative base path":     {"DATABASE_URL=postgres://x@127.0.0.1:1/x", "PUBLIC_READS=true", "BASE_PATH=api"},
		"no way in":              {"DATABASE_URL=postgres://x@127.0.0.1:1/x"},
		"missing token file":     {"DATABASE_URL=postgres://x@127.0.0.1:1/x", "API_TOKENS_FILE=/nonexistent/tokens"},
		"bad PUBLIC_READS":       {"DATABASE_URL=postgres://x@127.0.0.1:1/x", "PUBLIC_READS=yes please"},
		"bad LOG_FORMAT":         {"DATABASE_URL=postgres://x@127.0.0.1:1/x", "PUBLIC_READS=true", "LOG_FORMAT=xml"},
		"bad SHUTDOWN_DELAY":     {"DATABASE_URL=postgres://x@127.0.0.1:1/x", "PUBLIC_READS=true", "SHUTDOWN_DELAY=soon"},
		"malformed database URL": {"DATABASE_URL=postgres://x@127.0.0.1:notaport/x", "PUBLIC_READS=true"},
	}
	assertExit2(t, tests)
}

// assertExit2 runs the binary once per test with its environment (and
// LISTEN_ADDR=127.0.0.1:0), expecting exit status 2: a configuration error.
func assertExit2(t *testing.T, tests map[string][]string) {
	t.Helper()
	bin := binarytest.Build(t, ".")
	for name, env := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = append([]string{"LISTEN_ADDR=127.0.0.1:0"}, env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("exit: %v, want status 2; output %s", err, out)
			}
		})
	}
}
