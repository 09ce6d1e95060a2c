package snipeittest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/eventually"
)

// exchange is what a client saw of one request.
type exchange struct {
	resp    *http.Response // nil when the request failed
	body    []byte
	err     error // from sending the request
	readErr error // from reading the body
}

// get sends an authorised JSON request with a fresh connection, so that
// Go's transport cannot retry it on another one behind the test's back.
func get(t *testing.T, s *Server, path string, client *http.Client) exchange {
	t.Helper()
	if client == nil {
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return exchange{err: err}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(resp.Body)
	return exchange{resp: resp, body: body, readErr: readErr}
}

func (e exchange) status() int {
	if e.resp == nil {
		return 0
	}
	return e.resp.StatusCode
}

// isJSON reports whether the body parses as JSON.
func (e exchange) isJSON() bool { return json.Valid(e.body) }

func TestFaultKinds(t *testing.T) {
	t.Parallel()
	noRedirects := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tests := []struct {
		name   string
		fault  Fault
		client *http.Client
		check  func(t *testing.T, e exchange)
	}{
		{"status 503 is a JSON envelope", Fault{Kind: FaultStatus, Status: 503}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 503, contentJSON, `{"status":"error","messages":"Service Unavailable","payload":null}`)
		}},
		{"status defaults to 500", Fault{Kind: FaultStatus, Message: "boom"}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 500, contentJSON, `{"status":"error","messages":"boom","payload":null}`)
		}},
		{"a proxy error is an nginx HTML page", Fault{Kind: FaultProxyError, Status: 504}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 504, "text/html", "")
			if e.isJSON() || !strings.Contains(string(e.body), "504 Gateway Timeout") {
				t.Errorf("body %q", e.body)
			}
		}},
		{"an error envelope comes with HTTP 200", Fault{Kind: FaultErrorEnvelope, Message: "nope"}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentJSON, `{"status":"error","messages":"nope","payload":null}`)
		}},
		{"the login page comes with HTTP 200 as HTML", Fault{Kind: FaultLoginPage}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentHTML, "")
			if e.isJSON() {
				t.Error("the login page parses as JSON")
			}
		}},
		{"a redirect points at /login", Fault{Kind: FaultRedirectLogin}, noRedirects, func(t *testing.T, e exchange) {
			wantExchange(t, e, 302, contentHTML, "")
			if loc := e.resp.Header.Get("Location"); !strings.HasSuffix(loc, "/login") {
				t.Errorf("Location %q", loc)
			}
		}},
		{"a followed redirect ends on the HTML login page", Fault{Kind: FaultRedirectLogin}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentHTML, "")
			if e.resp.Request.URL.Path != "/login" {
				t.Errorf("ended at %s", e.resp.Request.URL)
			}
		}},
		{"a truncated body fails while reading", Fault{Kind: FaultTruncated}, nil, func(t *testing.T, e exchange) {
			if e.err != nil || e.status() != 200 {
				t.Fatalf("status %d, err %v: want the headers of a 200", e.status(), e.err)
			}
			if !errors.Is(e.readErr, io.ErrUnexpectedEOF) {
				t.Errorf("reading the body: %v, want unexpected EOF", e.readErr)
			}
			if len(e.body) == 0 || e.isJSON() {
				t.Errorf("got %d bytes, valid JSON %v: want half a page", len(e.body), e.isJSON())
			}
		}},
		{"a cut body is complete HTTP but broken JSON", Fault{Kind: FaultCutBody}, nil, func(t *testing.T, e exchange) {
			if e.err != nil || e.readErr != nil || e.status() != 200 {
				t.Fatalf("status %d, err %v, read %v", e.status(), e.err, e.readErr)
			}
			if cl := e.resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(e.body)) {
				t.Errorf("Content-Length %s for %d bytes", cl, len(e.body))
			}
			var v any
			if err := json.Unmarshal(e.body, &v); err == nil {
				t.Error("the cut body parses")
			}
			if !strings.Contains(string(e.body), `"rows":[{"id":`) {
				t.Errorf("the cut is not inside the rows: %.200s", e.body)
			}
		}},
		{"a reset fails the request", Fault{Kind: FaultReset}, nil, func(t *testing.T, e exchange) {
			if e.err == nil {
				t.Fatalf("status %d: want a transport error", e.status())
			}
		}},
		{"a hang lasts until the client gives up", Fault{Kind: FaultHang}, &http.Client{Timeout: 100 * time.Millisecond}, func(t *testing.T, e exchange) {
			var ne interface{ Timeout() bool }
			if !errors.As(e.err, &ne) || !ne.Timeout() {
				t.Fatalf("err %v: want a client timeout", e.err)
			}
		}},
		{"a delay serves the real page late", Fault{Kind: FaultDelay, Delay: 30 * time.Millisecond}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentJSON, "")
			if !strings.Contains(string(e.body), `"rows":[{`) {
				t.Errorf("body %.100s", e.body)
			}
		}},
		{"a 429 says when to retry", Fault{Kind: FaultRateLimit, RetryAfter: 7}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 429, contentJSON, `{"status":"error","messages":"Too many requests. Try again in 7 seconds.","status_code":429,"retryAfter":7}`)
			if ra := e.resp.Header.Get("Retry-After"); ra != "7" {
				t.Errorf("Retry-After %q", ra)
			}
		}},
		{"a legacy 429 says nothing about when", Fault{Kind: FaultRateLimitLegacy}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 429, contentJSON, `{"status":"error","messages":"Too many requests","payload":null}`)
			if ra, ok := e.resp.Header["Retry-After"]; ok {
				t.Errorf("Retry-After %q", ra)
			}
		}},
		{"401", Fault{Kind: FaultUnauthorized}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 401, contentJSON, `{"error":"Unauthorized or unauthenticated."}`)
		}},
		{"403", Fault{Kind: FaultForbidden}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 403, contentJSON, `{"message":"This action is unauthorized."}`)
		}},
		{"a page without rows keeps its total", Fault{Kind: FaultNoRows}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentJSON, "")
			var m map[string]json.RawMessage
			if err := json.Unmarshal(e.body, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["rows"]; ok || string(m["total"]) != "137" {
				t.Errorf("body %s", e.body)
			}
		}},
		{"an empty page says total 0", Fault{Kind: FaultEmpty}, nil, func(t *testing.T, e exchange) {
			wantExchange(t, e, 200, contentJSON, "")
			if !strings.HasPrefix(string(e.body), `{"total":0,"rows":[],`) {
				t.Errorf("body %s", e.body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, Config{Data: exampleData()})
			tc.fault.Path = "/api/v1/users"
			in := s.Inject(tc.fault)
			tc.check(t, get(t, s, "/api/v1/users?limit=20", tc.client))
			if in.Fired() != 1 {
				t.Errorf("fired %d times, want 1", in.Fired())
			}
			// The fault was transient: the next request is served normally.
			if e := get(t, s, "/api/v1/users?limit=20", nil); e.status() != 200 || !e.isJSON() {
				t.Errorf("after the fault: status %d, err %v", e.status(), e.err)
			}
			eventually.Until(t, 5*time.Second, "the faulted request to be recorded", func() bool { return s.Stats().Requests >= 2 })
			if got := s.Stats().Faults[tc.fault.Kind]; got != 1 {
				t.Errorf("stats count %d faults of kind %s, want 1", got, tc.fault.Kind)
			}
		})
	}
}

// wantExchange checks status, content type and, when body is not "", the
// exact body.
func wantExchange(t *testing.T, e exchange, status int, contentType, body string) {
	t.Helper()
	if e.err != nil || e.readErr != nil {
		t.Fatalf("request failed: %v, %v", e.err, e.readErr)
	}
	if e.status() != status || e.resp.Header.Get("Content-Type") != contentType {
		t.Errorf("got %d %q, want %d %q", e.status(), e.resp.Header.Get("Content-Type"), status, contentType)
	}
	if body != "" && string(e.body) != body {
		t.Errorf("body %s, want %s", e.body, body)
	}
}

func TestFaultMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    Fault
		requests []string
		want     []int // status per request
	}{
		{"Times fails that many matching requests", Fault{Kind: FaultStatus, Path: "/api/v1/users", Times: 2},
			[]string{"/api/v1/users", "/api/v1/hardware", "/api/v1/users", "/api/v1/users"}, []int{500, 200, 500, 200}},
		{"Persistent fails every matching request", Fault{Kind: FaultStatus, Status: 502, Path: "/api/v1/users", Persistent: true},
			[]string{"/api/v1/users", "/api/v1/users", "/api/v1/users?offset=500"}, []int{502, 502, 502}},
		{"Query restricts the fault to one page", Fault{Kind: FaultStatus, Path: "/api/v1/users", Query: map[string]string{"offset": "2"}, Persistent: true},
			[]string{"/api/v1/users?offset=0", "/api/v1/users?offset=2", "/api/v1/users?offset=4", "/api/v1/users?offset=2"}, []int{200, 500, 200, 500}},
		{"After lets the first requests through", Fault{Kind: FaultStatus, Path: "/api/v1/hardware", After: 2},
			[]string{"/api/v1/hardware", "/api/v1/hardware", "/api/v1/hardware", "/api/v1/hardware"}, []int{200, 200, 500, 200}},
		{"a route path matches every id", Fault{Kind: FaultStatus, Path: "/api/v1/users/{id}", Times: 2},
			[]string{"/api/v1/users/42", "/api/v1/users", "/api/v1/users/118", "/api/v1/users/42"}, []int{500, 200, 500, 200}},
		{"an empty path matches everything", Fault{Kind: FaultStatus, Times: 2},
			[]string{"/api/v1/users", "/api/v1/hardware/912", "/api/v1/users"}, []int{500, 500, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{Data: exampleData()})
			in := s.Inject(tc.fault)
			var got []int
			for _, target := range tc.requests {
				got = append(got, serve(t, s, target).Code)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			fired := 0
			for _, c := range got {
				if c != http.StatusOK {
					fired++
				}
			}
			if in.Fired() != fired {
				t.Errorf("Fired %d, want %d", in.Fired(), fired)
			}
		})
	}
}

func TestFaultsComeBeforeAuthentication(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData()})
	s.Inject(Fault{Kind: FaultStatus, Status: 503})
	if got := serve(t, s, "/api/v1/users", "Authorization", "").Code; got != 503 {
		t.Errorf("status %d without a token, want the fault's 503", got)
	}
}

func TestFaultRemoval(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData()})
	a := s.Inject(Fault{Kind: FaultStatus, Path: "/api/v1/users", Persistent: true})
	if got := serve(t, s, "/api/v1/users").Code; got != 500 {
		t.Fatalf("status %d with the fault armed", got)
	}
	a.Remove()
	if got := serve(t, s, "/api/v1/users").Code; got != 200 {
		t.Errorf("status %d after Remove", got)
	}
	s.Inject(Fault{Kind: FaultStatus, Persistent: true})
	s.ClearFaults()
	if got := serve(t, s, "/api/v1/users").Code; got != 200 {
		t.Errorf("status %d after ClearFaults", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("an unknown kind did not panic")
		}
	}()
	s.Inject(Fault{Kind: "bogus"})
}

func TestHangEndsWhenTheServerCloses(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Data: exampleData()})
	s.Inject(Fault{Kind: FaultHang})
	done := make(chan exchange, 1)
	go func() { done <- get(t, s, "/api/v1/users", &http.Client{}) }()
	eventually.Until(t, 5*time.Second, "the request to arrive", func() bool { return s.seq.Load() == 1 })
	s.Close() // must not wait for the client
	if e := <-done; e.err == nil {
		t.Errorf("status %d: want the connection dropped", e.status())
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Data: exampleData()})
	s.Inject(Fault{Kind: FaultRateLimit, Path: "/api/v1/users"})
	s.Inject(Fault{Kind: FaultReset, Path: "/api/v1/hardware"})
	for _, p := range []string{"/api/v1/users", "/api/v1/users", "/api/v1/hardware", "/api/v1/users/42", "/api/v1/users/7", "/api/v1/nope"} {
		get(t, s, p, nil)
	}
	want := Stats{
		Requests: 6,
		Responses: map[string]map[int]int{
			"/api/v1/users":      {429: 1, 200: 1},
			"/api/v1/hardware":   {0: 1},
			"/api/v1/users/{id}": {200: 2},
			"/api/v1/nope":       {404: 1},
		},
		TooManyRequests: 1,
		Faults:          map[FaultKind]int{FaultRateLimit: 1, FaultReset: 1},
	}
	eventually.Until(t, 5*time.Second, "every request to be recorded", func() bool { return s.Stats().Requests == 6 })
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if n := s.Stats().FaultsFired(); n != 2 {
		t.Errorf("FaultsFired %d", n)
	}
	s.ResetStats()
	if diff := cmp.Diff(Stats{Responses: map[string]map[int]int{}, Faults: map[FaultKind]int{}}, s.Stats()); diff != "" {
		t.Errorf("after ResetStats (-want +got):\n%s", diff)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Data: exampleData(), Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/users", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v: want the client's deadline while the server waits", err)
	}
	eventually.Until(t, 5*time.Second, "the waiting request to give up", func() bool { return s.Stats().Responses["/api/v1/users"][0] == 1 })
}
