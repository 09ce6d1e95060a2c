package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
)

// fakeLauncher records launches and answers with err when set.
type fakeLauncher struct {
	mu       sync.Mutex
	err      error
	jobs     []model.SyncJob
	launches []string // "scope key", "scope incremental key"
}

func (f *fakeLauncher) LaunchSync(_ context.Context, scope model.Scope, incremental bool, key string) (model.SyncJob, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if incremental {
		f.launches = append(f.launches, string(scope)+" incremental "+key)
	} else {
		f.launches = append(f.launches, string(scope)+" "+key)
	}
	if f.err != nil {
		return model.SyncJob{}, false, f.err
	}
	for _, j := range f.jobs {
		if key != "" && j.Name == "job-"+key {
			return j, false, nil
		}
	}
	j := model.SyncJob{Name: fmt.Sprintf("usersync-api-%d", len(f.launches)), Scope: scope, Incremental: incremental, Trigger: "api",
		State: model.JobPending, CreatedAt: time.Now()}
	if key != "" {
		j.Name = "job-" + key
	}
	f.jobs = append(f.jobs, j)
	return j, true, nil
}

func (f *fakeLauncher) ListSyncJobs(context.Context) ([]model.SyncJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs, f.err
}

func (f *fakeLauncher) GetSyncJob(_ context.Context, name string) (model.SyncJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return model.SyncJob{}, f.err
	}
	for _, j := range f.jobs {
		if j.Name == name {
			return j, nil
		}
	}
	return model.SyncJob{}, fmt.Errorf("%w: no sync Job %q", model.ErrNotFound, name)
}

const (
	readToken = "read-token"
	syncToken = "sync-token"
)

// jobsServer is the whole handler, under /api, with tokens and private
// reads, and its metrics registry.
func jobsServer(t *testing.T, store *fakeStore, launcher api.SyncLauncher) (*httptest.Server, *prometheus.Registry, *logtest.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("read:"+readToken+"\nsync:"+syncToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := api.LoadTokens(api.TokensConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logs := &logtest.Buffer{}
	h, err := api.NewHandler(api.Config{
		Deps:     api.Deps{Users: store, Assets: store, Runs: store, Tokens: tokens, Launcher: launcher},
		BasePath: "/api",
		DB:       store,
		Registry: reg,
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, reg, logs
}

func do(t *testing.T, method, url, token string, header ...string) (*http.Response, string) {
	t.Helper()
	resp, body := apitest.Do(t, method, url, token, header...)
	return resp, string(body)
}

func TestStartSyncAnswersWithTheOriginalStatusAndTheJob(t *testing.T) {
	launcher := &fakeLauncher{}
	srv, _, _ := jobsServer(t, &fakeStore{}, launcher)
	for _, tt := range []struct{ path, scope, status string }{
		{"/api/sync/users", "users", "users sync scheduled"},
		{"/api/sync/assets", "assets", "assets sync scheduled"},
		{"/api/sync/all", "all", "full sync scheduled (assets + users)"},
	} {
		resp, body := do(t, http.MethodPost, srv.URL+tt.path, syncToken)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s = %d %s", tt.path, resp.StatusCode, body)
		}
		var got struct{ Status, Job string }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != tt.status || !strings.HasPrefix(got.Job, "usersync-api-") {
			t.Errorf("POST %s body %s, want status %q and the Job", tt.path, body, tt.status)
		}
		if loc := resp.Header.Get("Location"); loc != "/api/sync/jobs/"+got.Job {
			t.Errorf("POST %s Location = %q, want /api/sync/jobs/%s", tt.path, loc, got.Job)
		}
		last := launcher.launches[len(launcher.launches)-1]
		if last != tt.scope+" " {
			t.Errorf("POST %s launched %q, want scope %s", tt.path, last, tt.scope)
		}
	}
}

func TestStartSyncAuth(t *testing.T) {
	launcher := &fakeLauncher{}
	srv, _, _ := jobsServer(t, &fakeStore{}, launcher)
	for token, want := range map[string]int{"": 401, "wrong": 401, readToken: 403, syncToken: 202} {
		resp, body := do(t, http.MethodPost, srv.URL+"/api/sync/users", token)
		if resp.StatusCode != want {
			t.Errorf("POST with token %q = %d %s, want %d", token, resp.StatusCode, body, want)
		}
	}
	if len(launcher.launches) != 1 {
		t.Errorf("%d launches, want only the sync token's", len(launcher.launches))
	}
	for _, path := range []string{"/api/sync/jobs", "/api/sync/jobs/usersync-api-1"} {
		if resp, body := do(t, http.MethodGet, srv.URL+path, readToken); resp.StatusCode != 200 {
			t.Errorf("GET %s with a read token = %d %s", path, resp.StatusCode, body)
		}
	}
}

// TestStartSyncMode: ?mode=incremental reaches the launcher and the Job's
// mode is shown; full is the default; another mode is 422 and launches
// nothing.
func TestStartSyncMode(t *testing.T) {
	launcher := &fakeLauncher{}
	srv, _, _ := jobsServer(t, &fakeStore{}, launcher)
	for _, tt := range []struct{ query, launch string }{
		{"", "users "}, {"?mode=full", "users "}, {"?mode=incremental", "users incremental "},
	} {
		resp, body := do(t, http.MethodPost, srv.URL+"/api/sync/users"+tt.query, syncToken)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /api/sync/users%s = %d %s", tt.query, resp.StatusCode, body)
		}
		if last := launcher.launches[len(launcher.launches)-1]; last != tt.launch {
			t.Errorf("POST /api/sync/users%s launched %q, want %q", tt.query, last, tt.launch)
		}
	}
	resp, body := do(t, http.MethodPost, srv.URL+"/api/sync/users?mode=fast", syncToken)
	if resp.StatusCode != http.StatusUnprocessableEntity || len(launcher.launches) != 3 {
		t.Errorf("mode=fast = %d %s after %d launches; want 422 and no launch", resp.StatusCode, body, len(launcher.launches))
	}
	_, body = do(t, http.MethodGet, srv.URL+"/api/sync/jobs", readToken)
	var jobs []struct{ Name, Mode string }
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, j := range jobs {
		modes = append(modes, j.Mode)
	}
	if diff := cmp.Diff([]string{"full", "full", "incremental"}, modes); diff != "" {
		t.Errorf("the Jobs' modes (-want +got):\n%s", diff)
	}
}

func TestStartSyncIdempotencyKey(t *testing.T) {
	launcher := &fakeLauncher{}
	srv, _, _ := jobsServer(t, &fakeStore{}, launcher)
	post := func(key string) (int, string) {
		resp, body := do(t, http.MethodPost, srv.URL+"/api/sync/assets", syncToken, "Idempotency-Key", key)
		return resp.StatusCode, body
	}
	code1, body1 := post("abc")
	code2, body2 := post("abc")
	if code1 != 202 || code2 != 202 || body1 != body2 {
		t.Errorf("the same key twice: %d %s, then %d %s; want the same 202", code1, body1, code2, body2)
	}
	if diff := cmp.Diff([]string{"assets abc", "assets abc"}, launcher.launches); diff != "" {
		t.Errorf("the key does not reach the launcher (-want +got):\n%s", diff)
	}
	if code, body := post(strings.Repeat("k", 256)); code != http.StatusUnprocessableEntity {
		t.Errorf("a 256-character key = %d %s, want 422", code, body)
	}
}

func TestStartSyncErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		detail string
		logged bool
	}{
		{"a sync Job is unfinished", fmt.Errorf("%w: sync Job usersync-29000000 (scope all, trigger schedule) is running; try again when it has finished", model.ErrConflict),
			409, "sync Job usersync-29000000 (scope all, trigger schedule) is running", false},
		{"the CronJob is missing", fmt.Errorf("%w: CronJob sync/usersync does not exist (SYNC_NAMESPACE, SYNC_CRONJOB)", model.ErrNotConfigured),
			503, "sync on demand is not configured: CronJob sync/usersync does not exist", true},
		{"RBAC forbids", fmt.Errorf("%w: usersapi may not create jobs in namespace sync (RBAC; see the Role in docs/sync-on-demand.md): jobs.batch is forbidden", model.ErrDenied),
			503, "denied by the Kubernetes API: usersapi may not create jobs in namespace sync", true},
		{"admission refuses the Job", fmt.Errorf("%w: the Kubernetes API's admission refused to create jobs in namespace sync (a ResourceQuota, LimitRange, admission policy or webhook; see docs/sync-on-demand.md): exceeded quota: jobs", model.ErrAdmissionDenied),
			503, "refused by Kubernetes admission: the Kubernetes API's admission refused to create jobs in namespace sync", true},
		{"Kubernetes does not answer", fmt.Errorf("%w: get cronjobs usersync in namespace sync: dial tcp 10.0.0.1:443: i/o timeout", model.ErrKubernetesUnavailable),
			503, "the Kubernetes API is unavailable; try again later", true},
		{"the idempotency key was used for another scope", fmt.Errorf("%w: this Idempotency-Key started Job x of scope users, not all", model.ErrInvalid),
			422, "this Idempotency-Key started Job x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, logs := jobsServer(t, &fakeStore{}, &fakeLauncher{err: tt.err})
			resp, body := do(t, http.MethodPost, srv.URL+"/api/sync/all", syncToken)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.detail) {
				t.Errorf("POST = %d %s, want %d with detail containing %q", resp.StatusCode, body, tt.status, tt.detail)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(body, "10.0.0.1") {
				t.Errorf("the answer leaks the connection error: %s", body)
			}
			if logged := strings.Contains(logs.String(), `"msg":"request failed"`); logged != tt.logged {
				t.Errorf("logged %v, want %v:\n%s", logged, tt.logged, logs)
			} else if tt.logged && !strings.Contains(logs.String(), tt.err.Error()[:20]) {
				t.Errorf("the log lacks the reason:\n%s", logs)
			}
		})
	}
}

func TestWithoutSyncCronJobEveryJobOperationIs503(t *testing.T) {
	srv, _, _ := jobsServer(t, &fakeStore{users: testUsers()}, nil)
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/sync/users"}, {"POST", "/api/sync/assets"}, {"POST", "/api/sync/all"},
		{"GET", "/api/sync/jobs"}, {"GET", "/api/sync/jobs/usersync-1"},
	} {
		resp, body := do(t, r.method, srv.URL+r.path, syncToken)
		if resp.StatusCode != 503 || !strings.Contains(body, "sync on demand is not configured: SYNC_CRONJOB is unset") {
			t.Errorf("%s %s = %d %s, want 503 saying sync on demand is not configured", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "GET", srv.URL+"/api/users/1", readToken); resp.StatusCode != 200 {
		t.Errorf("reads without SYNC_CRONJOB: %d %s", resp.StatusCode, body)
	}
}

func TestListSyncJobsJoinsTheirRuns(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	fin := t0.Add(time.Minute)
	launcher := &fakeLauncher{jobs: []model.SyncJob{
		{Name: "usersync-api-b", Scope: "all", Trigger: "api", State: "running", CreatedAt: t0.Add(time.Hour), StartedAt: &fin},
		{Name: "usersync-29000000", Scope: "all", Trigger: "schedule", State: "succeeded", CreatedAt: t0, StartedAt: &t0, FinishedAt: &fin},
	}}
	store := &fakeStore{runs: []model.SyncRun{
		{ID: 1, Scope: "users", Trigger: "schedule", JobName: "usersync-29000000", Status: "succeeded", StartedAt: t0, FinishedAt: &fin},
		{ID: 2, Scope: "assets", Trigger: "schedule", JobName: "usersync-29000000", Status: "succeeded", StartedAt: t0, FinishedAt: &fin},
		{ID: 3, Scope: "users", Trigger: "cli", Status: "succeeded", StartedAt: t0},
		{ID: 4, Scope: "users", Trigger: "api", JobName: "usersync-api-b", Status: "running", StartedAt: fin},
	}}
	srv, _, _ := jobsServer(t, store, launcher)

	resp, body := do(t, "GET", srv.URL+"/api/sync/jobs", readToken)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /sync/jobs = %d %s", resp.StatusCode, body)
	}
	var jobs []struct {
		Name, Scope, Trigger, State string
		CreatedAt                   time.Time  `json:"created_at"`
		StartedAt                   *time.Time `json:"started_at"`
		FinishedAt                  *time.Time `json:"finished_at"`
		Runs                        []struct {
			ID      int64  `json:"id"`
			JobName string `json:"job_name"`
		}
	}
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		line := fmt.Sprintf("%s %s %s %s started=%v finished=%v runs:", j.Name, j.Scope, j.Trigger, j.State, j.StartedAt != nil, j.FinishedAt != nil)
		for _, r := range j.Runs {
			line += fmt.Sprintf(" %d", r.ID)
		}
		got = append(got, line)
	}
	want := []string{
		"usersync-api-b all api running started=true finished=false runs: 4",
		"usersync-29000000 all schedule succeeded started=true finished=true runs: 1 2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /sync/jobs (-want +got):\n%s", diff)
	}

	resp, body = do(t, "GET", srv.URL+"/api/sync/jobs/usersync-29000000", readToken)
	if resp.StatusCode != 200 || !strings.Contains(body, `"runs":[{"id":1,`) {
		t.Errorf("GET /sync/jobs/usersync-29000000 = %d %s", resp.StatusCode, body)
	}
	for path, status := range map[string]int{
		"/api/sync/jobs/not-ours":                   404,
		"/api/sync/jobs/Not_A_Name":                 422,
		"/api/sync/jobs/" + strings.Repeat("a", 64): 422,
	} {
		if resp, body := do(t, "GET", srv.URL+path, readToken); resp.StatusCode != status {
			t.Errorf("GET %s = %d %s, want %d", path, resp.StatusCode, body, status)
		}
	}
}

func TestSyncTriggerMetrics(t *testing.T) {
	launcher := &fakeLauncher{}
	srv, reg, _ := jobsServer(t, &fakeStore{}, launcher)
	do(t, "POST", srv.URL+"/api/sync/users", syncToken)
	launcher.err = fmt.Errorf("%w: busy", model.ErrConflict)
	do(t, "POST", srv.URL+"/api/sync/users", syncToken)
	do(t, "POST", srv.URL+"/api/sync/users", syncToken)
	launcher.err = fmt.Errorf("%w: no", model.ErrDenied)
	do(t, "POST", srv.URL+"/api/sync/all", syncToken)
	launcher.err = fmt.Errorf("%w: down", model.ErrKubernetesUnavailable)
	do(t, "POST", srv.URL+"/api/sync/assets", syncToken)

	want := `
# HELP usersapi_sync_triggers_total POST /sync/* requests by scope and outcome: accepted (a Job started, or an idempotent repeat), conflict (a sync Job was unfinished), forbidden (Kubernetes RBAC refused usersapi), failed (anything else).
# TYPE usersapi_sync_triggers_total counter
`
	var lines []string
	for _, scope := range []string{"all", "assets", "users"} {
		for _, o := range []string{"accepted", "conflict", "failed", "forbidden"} {
			n := map[string]int{"users accepted": 1, "users conflict": 2, "all forbidden": 1, "assets failed": 1}[scope+" "+o]
			lines = append(lines, fmt.Sprintf(`usersapi_sync_triggers_total{outcome=%q,scope=%q} %d`, o, scope, n))
		}
	}
	// Every series exists from the start, so rate() and absent() work.
	sort.Strings(lines)
	want += strings.Join(lines, "\n") + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "usersapi_sync_triggers_total"); err != nil {
		t.Error(err)
	}
}

// TestEveryRouteRefusesAnonymousRequests walks every route the router
// serves and sends it a request without a token: only the probes,
// /metrics and the documents may answer it. With public reads, only the
// reads of the mirror and of the syncs' state may too: never the export
// history (token names, search texts) nor the sync Jobs, and no anonymous
// request reaches the Kubernetes API.
func TestEveryRouteRefusesAnonymousRequests(t *testing.T) {
	public := regexp.MustCompile(`^/(healthz|readyz|metrics|docs(/.*)?|openapi(-3\.0)?\.(json|yaml)|schemas/.*)$`)
	openToPublicReads := map[string]bool{
		"/api/users": true, "/api/users/{user_id}": true, "/api/users/{user_id}/assets": true,
		"/api/assets": true, "/api/assets/{asset_id}": true, "/api/sync/runs": true, "/api/sync/status": true,
	}
	// The webhook's credential is the secret in its path: a wrong one is
	// 404, as for a path that does not exist (TestWebhookWrongSecret).
	secretInPath := map[string]int{"/api" + api.WebhookPath: http.StatusNotFound}
	params := regexp.MustCompile(`\{[^}]+\}`)
	for _, publicReads := range []bool{false, true} {
		t.Run(fmt.Sprintf("PUBLIC_READS=%v", publicReads), func(t *testing.T) {
			store := &fakeStore{users: testUsers()}
			launcher := &countingLauncher{}
			h, err := api.NewHandler(api.Config{
				Deps:     api.Deps{Users: store, Assets: store, Runs: store, Exports: store, ExportLog: store, PublicReads: publicReads, Launcher: launcher},
				BasePath: "/api",
				DB:       store,
			})
			if err != nil {
				t.Fatal(err)
			}
			routes, ok := h.Handler.(chi.Routes)
			if !ok {
				t.Fatalf("the handler is a %T, not a chi router", h.Handler)
			}
			walked, opened := 0, 0
			err = chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
				path := strings.ReplaceAll(params.ReplaceAllString(route, "1"), "/*", "/x")
				req := httptest.NewRequest(method, path, nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				walked++
				isPublic := public.MatchString(route)
				openRead := publicReads && method == http.MethodGet && openToPublicReads[route]
				if openRead {
					opened++
				}
				switch want, ok := secretInPath[route]; {
				case ok:
					if rec.Code != want {
						t.Errorf("%s %s = %d with a wrong secret, want %d", method, route, rec.Code, want)
					}
				case isPublic || openRead:
					if rec.Code == http.StatusUnauthorized {
						t.Errorf("%s %s = 401 without a token; it should be open", method, route)
					}
				case rec.Code != http.StatusUnauthorized:
					t.Errorf("%s %s = %d without a token, want 401", method, route, rec.Code)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if walked < 17 {
				t.Errorf("walked %d routes: the walk missed the API", walked)
			}
			if publicReads && opened != len(openToPublicReads) {
				t.Errorf("the walk met %d of the %d routes open to public reads", opened, len(openToPublicReads))
			}
			if n := launcher.calls.Load(); n != 0 {
				t.Errorf("anonymous requests reached the launcher %d times", n)
			}
		})
	}
}

// countingLauncher counts every call.
type countingLauncher struct {
	fakeLauncher
	calls atomic.Int64
}

func (c *countingLauncher) LaunchSync(ctx context.Context, scope model.Scope, incremental bool, key string) (model.SyncJob, bool, error) {
	c.calls.Add(1)
	return c.fakeLauncher.LaunchSync(ctx, scope, incremental, key)
}

func (c *countingLauncher) ListSyncJobs(ctx context.Context) ([]model.SyncJob, error) {
	c.calls.Add(1)
	return c.fakeLauncher.ListSyncJobs(ctx)
}

func (c *countingLauncher) GetSyncJob(ctx context.Context, name string) (model.SyncJob, error) {
	c.calls.Add(1)
	return c.fakeLauncher.GetSyncJob(ctx, name)
}

// TestEveryOperationDeclaresATokenScope reads the OpenAPI document: every
// operation needs the bearer scheme with a scope, and only read ones may
// also accept no token, and only with public reads.
func TestEveryOperationDeclaresATokenScope(t *testing.T) {
	store := &fakeStore{}
	h, err := api.NewHandler(api.Config{Deps: api.Deps{Users: store, Assets: store, Runs: store}, DB: store})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			n++
			if len(op.Security) != 1 || len(op.Security[0]["bearer"]) != 1 {
				t.Errorf("%s %s (%s) declares security %v, want one bearer scope", method, path, op.OperationID, op.Security)
				continue
			}
			scope := op.Security[0]["bearer"][0]
			if method == "post" && scope != "sync" {
				t.Errorf("%s %s needs scope %s, want sync", method, path, scope)
			}
		}
	}
	if n < 12 {
		t.Errorf("%d operations in the document", n)
	}
}

// FuzzSyncJobPath fuzzes the name segment of GET /sync/jobs/{name}: the
// answer is never a 5xx. (No name reaches the launcher: the Job is looked
// up in the cached list.)
func FuzzSyncJobPath(f *testing.F) {
	for _, s := range []string{"usersync-29000000", "a", "A", "-a", "a-", "a.b", "a/b", "%2e%2e", "..", strings.Repeat("a", 64), "a\x00"} {
		f.Add(s)
	}
	store := &fakeStore{}
	tokens, _ := loadTokens(f, "read:"+readToken+"\n")
	h, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: store, Assets: store, Runs: store, Tokens: tokens, Launcher: &fakeLauncher{}},
		DB:   store,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		req := httptest.NewRequest(http.MethodGet, "/sync/jobs/x", nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		req.URL.Path, req.URL.RawPath = "/sync/jobs/"+name, ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("GET /sync/jobs/%q = %d %s", name, rec.Code, rec.Body)
		}
	})
}
