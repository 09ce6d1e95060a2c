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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
)

// testServer is NewHandler on a real HTTP server, so that streams, write
// deadlines and cut connections behave as in production.
type testServer struct {
	url   string
	store *fakeStore
	logs  *logtest.Buffer
}

func startServer(t *testing.T, store *fakeStore, edit ...func(*api.Deps)) *testServer {
	t.Helper()
	logs := &logtest.Buffer{}
	// Public reads, and a token for what they do not open (GET /exports).
	tokens, _ := loadTokens(t, "read:"+readToken+"\n")
	d := api.Deps{Users: store, Assets: store, Runs: store, Exports: store, ExportLog: store, PublicReads: true, Tokens: tokens}
	for _, e := range edit {
		e(&d)
	}
	h, err := api.NewHandler(api.Config{
		Deps: d, DB: store, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, store: store, logs: logs}
}

// metric returns the value of one sample on /metrics, or "".
func (s *testServer) metric(t *testing.T, sample string) string {
	t.Helper()
	_, body := get(t, s.url+"/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// manyAssets returns n assets, all checked out to user 1.
func manyAssets(n int) []model.Asset {
	as := make([]model.Asset, n)
	for i := range as {
		as[i] = model.Asset{ID: int64(i + 1), AssetTag: fmt.Sprintf("A-%05d", i+1), Name: "Laptop", Serial: fmt.Sprintf("S%d", i+1),
			StatusType: "deployable", AssignedUserID: ptr(int64(1)), Notes: strings.Repeat("n", 200)}
	}
	return as
}

// openStream starts GET url and returns once the status line has arrived.
func openStream(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestWholeListingsBeyondMaxStreamsAre503(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: manyAssets(500), hold: make(chan struct{}), holdAfter: 400}
	srv := startServer(t, store, func(d *api.Deps) { d.Limits.MaxStreams = 1 })

	first := openStream(t, srv.url+"/assets")
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first whole listing: %d", first.StatusCode)
	}
	for _, path := range []string{"/assets", "/users/1/assets", "/assets?format=csv", "/users/1/assets?format=csv"} {
		resp, body := get(t, srv.url+path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "limit") {
			t.Errorf("GET %s beyond the cap: %d %q %s; want a 503 problem with Retry-After that suggests paging",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// Pages, single reads and listings that end within the first batch
	// (four users) do not count against the cap.
	for _, path := range []string{"/assets?limit=10", "/users/1", "/users?limit=1&format=csv", "/exports", "/users", "/users?format=csv"} {
		if resp, body := get(t, srv.url+path, "Authorization", "Bearer "+readToken); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s while a stream runs: %d %s", path, resp.StatusCode, body)
		}
	}
	if got := srv.metric(t, "usersapi_streams_in_flight"); got != "1" {
		t.Errorf("usersapi_streams_in_flight = %q, want 1", got)
	}
	if got := srv.metric(t, "usersapi_streams_rejected_total"); got != "4" {
		t.Errorf("usersapi_streams_rejected_total = %q, want 4", got)
	}

	close(store.hold)
	var got []api.Asset
	if err := json.NewDecoder(first.Body).Decode(&got); err != nil || len(got) != 500 {
		t.Fatalf("first stream: %d assets, %v; want 500", len(got), err)
	}
	eventually.Until(t, 10*time.Second, "the slot to be free", func() bool { return srv.metric(t, "usersapi_streams_in_flight") == "0" })
	if resp, _ := get(t, srv.url+"/users/1/assets"); resp.StatusCode != http.StatusOK {
		t.Errorf("whole listing after the first ended: %d, want 200", resp.StatusCode)
	}
}

func TestStreamTimeoutCutsAStreamThatStarted(t *testing.T) {
	store := &fakeStore{users: testUsers(), assets: manyAssets(500), hold: make(chan struct{}), holdAfter: 400}
	srv := startServer(t, store, func(d *api.Deps) { d.Limits.StreamTimeout = 300 * time.Millisecond })
	resp := openStream(t, srv.url+"/assets")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a stream past its time bound ended cleanly with %d bytes; want a cut connection", len(body))
	}
	eventually.Until(t, 10*time.Second, "the cut export to be recorded", func() bool { return len(store.recorded()) == 1 })
	if e := store.recorded()[0]; e.Outcome != model.ExportCut || e.Rows != 400 || e.Format != "json" || e.Resource != "assets" {
		t.Errorf("recorded %+v; want a cut json export of assets after 400 rows", e)
	}
	if !strings.Contains(srv.logs.String(), "time bound") {
		t.Errorf("the cut is not logged with its reason: %s", srv.logs)
	}
}

// stallingStore blocks single reads until their context ends, as a
// database that stopped answering does.
type stallingStore struct{ *fakeStore }

func (stallingStore) GetUserJSON(ctx context.Context, _ int64) ([]byte, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("get user: %w", ctx.Err())
}

func TestRequestTimeoutIs503NotAHang(t *testing.T) {
	store := &fakeStore{users: testUsers()}
	srv := startServer(t, store, func(d *api.Deps) {
		d.Users = stallingStore{store}
		d.Limits.RequestTimeout = 100 * time.Millisecond
	})
	resp, body := get(t, srv.url+"/users/1")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("a read past the request timeout: %d %q %s; want a 503 problem with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestOversizeRequestsAreRefusedAsProblems(t *testing.T) {
	srv := startServer(t, &fakeStore{users: testUsers()})
	tests := []struct {
		name   string
		path   string
		header []string
		status int
	}{
		{"long URL", "/users?q=" + strings.Repeat("a", api.MaxURLBytes), nil, http.StatusRequestURITooLong},
		{"large header", "/users/1", []string{"X-Padding", strings.Repeat("p", api.MaxHeaderBytes)}, http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", "/users/1", manyHeaders(400), http.StatusRequestHeaderFieldsTooLarge},
		{"limit too large", "/users?limit=1001", nil, http.StatusUnprocessableEntity},
		{"search too long", "/users?q=" + strings.Repeat("a", 201), nil, http.StatusUnprocessableEntity},
		{"status too long", "/assets?status=" + strings.Repeat("a", 101), nil, http.StatusUnprocessableEntity},
		{"unknown format", "/users?format=xml", nil, http.StatusUnprocessableEntity},
		{"id out of range", "/users/99999999999999999999/assets", nil, http.StatusUnprocessableEntity},
		{"exports limit", "/exports?limit=0", []string{"Authorization", "Bearer " + readToken}, http.StatusUnprocessableEntity},
	}
	// An Accept that huma's negotiation cannot parse is disregarded, not a 500.
	for _, path := range []string{"/users/1", "/users/2/assets", "/sync/status", "/users?format=csv", "/users/9"} {
		for _, accept := range []string{";;,,", "a;,", "text/csv;q=", ";"} {
			resp, body := get(t, srv.url+path, "Accept", accept)
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s with Accept %q: %d %s", path, accept, resp.StatusCode, body)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv.url+tt.path, tt.header...)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("status %d %q %.200s; want a %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
		})
	}
}

func manyHeaders(n int) []string {
	var h []string
	for i := range n {
		h = append(h, fmt.Sprintf("X-Header-%d", i), strings.Repeat("v", 40))
	}
	return h
}
