package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
)

// panicky is a store whose GetUserJSON panics.
type panicky struct{ *fakeStore }

func (panicky) GetUserJSON(context.Context, int64) ([]byte, error) { panic("boom") }

func newServer(t *testing.T, store *fakeStore, users api.UserReader) (*httptest.Server, *api.Handler, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	if users == nil {
		users = store
	}
	h, err := api.NewHandler(api.Config{
		Deps:     api.Deps{Users: users, Assets: store, Runs: store, PublicReads: true},
		BasePath: "/api/",
		DB:       store,
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Version:  "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h, logs
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	resp, body := apitest.Do(t, http.MethodGet, url, "", header...)
	return resp, string(body)
}

func TestHandlerRoutes(t *testing.T) {
	store := &fakeStore{users: testUsers()}
	srv, _, _ := newServer(t, store, nil)
	tests := []struct {
		path   string
		status int
		ct     string
		body   string
	}{
		{"/api/users/1", http.StatusOK, "application/json", `"username":"ada"`},
		{"/api/users", http.StatusOK, "application/json", `"username":"alan"`},
		{"/users/1", http.StatusNotFound, "application/problem+json", `"status":404`},
		{"/api/nothing", http.StatusNotFound, "application/problem+json", `"status":404`},
		{"/healthz", http.StatusOK, "application/json", `"ok"`},
		{"/readyz", http.StatusOK, "application/json", `"ready"`},
		{"/openapi.json", http.StatusOK, "application/openapi+json", `"/api/users/{user_id}"`},
		{"/docs", http.StatusOK, "text/html", `openapi`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ct) || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s = %d %s %q; want %d %s containing %s", tt.path, resp.StatusCode,
					resp.Header.Get("Content-Type"), body, tt.status, tt.ct, tt.body)
			}
		})
	}
	resp, body := get(t, srv.URL+"/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") || resp.StatusCode != 200 {
		t.Errorf("openapi version %q, err %v", doc.OpenAPI, err)
	}
}

func TestReadinessFollowsTheDatabaseAndShutdown(t *testing.T) {
	store := &fakeStore{users: testUsers()}
	srv, h, _ := newServer(t, store, nil)
	ready := func() int { resp, _ := get(t, srv.URL+"/readyz"); return resp.StatusCode }

	if got := ready(); got != http.StatusOK {
		t.Fatalf("readyz = %d", got)
	}
	store.mu.Lock()
	store.err = fmt.Errorf("%w: connection refused", model.ErrUnavailable)
	store.mu.Unlock()
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down = %d, want 503", got)
	}
	if resp, _ := get(t, srv.URL+"/api/users/1"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET a user with the database down = %d, want 503", resp.StatusCode)
	}
	store.mu.Lock()
	store.err = nil
	store.mu.Unlock()
	if got := ready(); got != http.StatusOK {
		t.Errorf("readyz after the database came back = %d, want 200", got)
	}
	h.Drain()
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining = %d, want 503", got)
	}
	if resp, _ := get(t, srv.URL+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz while draining = %d, want 200 (the process is alive)", resp.StatusCode)
	}
}

func TestRequestIDsAndMetrics(t *testing.T) {
	srv, _, logs := newServer(t, &fakeStore{users: testUsers()}, nil)

	resp, _ := get(t, srv.URL+"/api/users/2", "X-Request-Id", "trace-abc")
	if got := resp.Header.Get("X-Request-Id"); got != "trace-abc" {
		t.Errorf("echoed request id = %q", got)
	}
	resp, _ = get(t, srv.URL+"/api/users/3", "X-Request-Id", "bad id\"with quotes")
	if got := resp.Header.Get("X-Request-Id"); len(got) != 24 {
		t.Errorf("request id for an unusable one = %q, want a fresh one", got)
	}
	if !strings.Contains(logs.String(), `"request_id":"trace-abc"`) || !strings.Contains(logs.String(), `"route":"/api/users/{user_id}"`) {
		t.Errorf("access log lacks the request id or route: %s", logs)
	}

	_, metrics := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`usersapi_http_requests_total{code="200",method="GET",route="/api/users/{user_id}"} 1`,
		`usersapi_http_requests_total{code="404",method="GET",route="/api/users/{user_id}"} 1`,
		`usersapi_http_request_duration_seconds_bucket{code="200",method="GET",route="/api/users/{user_id}",le="+Inf"} 1`,
		`usersapi_http_requests_in_flight 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestPanicIsABare500(t *testing.T) {
	store := &fakeStore{users: testUsers()}
	srv, _, logs := newServer(t, store, panicky{store})
	resp, body := get(t, srv.URL+"/api/users/1", "X-Request-Id", "req-panic")
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "boom") {
		t.Errorf("panic answered %d %q; want a bare 500", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "req-panic") {
		t.Errorf("panic not logged with its request id: %s", logs)
	}
}

func TestStreamFailingMidwayCutsTheResponse(t *testing.T) {
	many := make([]model.User, 3000)
	for i := range many {
		many[i] = model.User{ID: int64(i + 1), Username: fmt.Sprintf("user%d", i+1)}
	}
	// After 2 rows nothing has left the buffer yet; after 2000 the status
	// line and many rows have reached the client.
	for _, after := range []int{2, 2000} {
		t.Run(fmt.Sprintf("after %d rows", after), func(t *testing.T) {
			store := &fakeStore{users: many, streamErrAfter: after, streamErr: fmt.Errorf("%w: connection reset", model.ErrUnavailable)}
			srv, _, logs := newServer(t, store, nil)
			// Either way the client must see an error, never a short
			// array that parses as complete.
			resp, err := http.Get(srv.URL + "/api/users")
			if err == nil {
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Errorf("a stream that failed midway read as complete: %d bytes", len(body))
				}
			}
			if !strings.Contains(logs.String(), "connection reset") {
				t.Errorf("the failure was not logged: %s", logs)
			}
		})
	}
}

func TestBasePathIsValidated(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/api": "/api", "/api/v1/": "/api/v1"} {
		if got, err := api.CleanBasePath(in); err != nil || got != want {
			t.Errorf("CleanBasePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"api", "/a pi", "/api?x", "/{id}"} {
		if _, err := api.CleanBasePath(bad); err == nil {
			t.Errorf("CleanBasePath(%q) accepted", bad)
		}
	}
}
