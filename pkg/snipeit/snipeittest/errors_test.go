package snipeittest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// errorExample is one entry of snipeit-error-examples.json.
type errorExample struct {
	Scenario   string            `json:"scenario"`
	AppliesTo  string            `json:"applies_to"`
	HTTPStatus int               `json:"http_status"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
}

// TestErrorsMatchExamples reproduces every scenario of the error examples
// the simulator models and compares status, headers and body.
func TestErrorsMatchExamples(t *testing.T) {
	t.Parallel()
	var examples []errorExample
	if err := json.Unmarshal(readTestdata(t, "snipeit-error-examples.json"), &examples); err != nil {
		t.Fatal(err)
	}
	const host = "https://snipeit.example.test"
	for _, ex := range examples {
		run, ignore, why := errorCase(t, ex)
		if run == nil {
			t.Run(ex.Scenario+" is not modelled", func(t *testing.T) { t.Skip(why) })
			continue
		}
		t.Run(ex.Scenario+" is reproduced", func(t *testing.T) {
			w := run(t, host)
			if w.Code != ex.HTTPStatus {
				t.Errorf("status %d, want %d (body %s)", w.Code, ex.HTTPStatus, w.Body)
			}
			for k, v := range ex.Headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s: %q, want %q", k, got, v)
				}
			}
			if string(ex.Body) == "null" {
				return
			}
			var got, want map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if err := json.Unmarshal(ex.Body, &want); err != nil {
				t.Fatal(err)
			}
			for _, k := range ignore {
				delete(got, k)
				delete(want, k)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body differs (-example +served):\n%s", diff)
			}
		})
	}
}

// errorCase returns how to provoke an example's scenario, the body keys
// whose text the example does not pin down, or why it is not modelled.
func errorCase(t *testing.T, ex errorExample) (run func(t *testing.T, host string) *httptest.ResponseRecorder, ignore []string, notModelled string) {
	on := func(cfg Config, method, path string, headers ...string) func(*testing.T, string) *httptest.ResponseRecorder {
		return func(t *testing.T, host string) *httptest.ResponseRecorder {
			if cfg.Data == nil {
				cfg.Data = exampleData()
			}
			return serveMethod(t, mustNew(t, cfg), method, host+path, headers...)
		}
	}
	sc := ex.Scenario
	switch {
	case strings.HasPrefix(sc, "Missing, malformed"):
		return on(Config{}, "GET", "/api/v1/users", "Authorization", "Bearer revoked"), nil, ""
	case strings.HasPrefix(sc, "Same auth failure but WITHOUT Accept"):
		return on(Config{}, "GET", "/api/v1/users", "Authorization", "", "Accept", ""), nil, ""
	case strings.HasPrefix(sc, "Valid token but the user lacks"):
		return on(Config{RestrictedToken: "viewer"}, "GET", "/api/v1/users", "Authorization", "Bearer viewer"), nil, ""
	case strings.HasPrefix(sc, "GET /api/v1/hardware/999999"):
		return on(Config{}, "GET", "/api/v1/hardware/999999"), nil, ""
	case strings.HasPrefix(sc, "GET /api/v1/users/999999"):
		return on(Config{}, "GET", "/api/v1/users/999999"), nil, ""
	case strings.HasPrefix(sc, "Unknown API endpoint"):
		return on(Config{}, "GET", "/api/v1/hardwares"), nil, ""
	case strings.HasPrefix(sc, "GET /api/v1/ (the API base URL"):
		return on(Config{}, "GET", "/api/v1/"), nil, ""
	case strings.HasPrefix(sc, "Wrong HTTP method"):
		return on(Config{}, "DELETE", "/api/v1/users"), nil, ""
	case strings.HasPrefix(sc, "User-Agent blank"):
		// The example's message is a placeholder for a translation.
		return on(Config{BlockGenericUserAgents: true}, "GET", "/api/v1/users", "User-Agent", "python-requests/2.32.3"), []string{"messages"}, ""
	case strings.HasPrefix(sc, "NOT an error: offset"):
		return on(Config{Version: Version85}, "GET", "/api/v1/users?offset=1000"), nil, ""
	case strings.HasPrefix(sc, "Rate limit exceeded") && strings.HasPrefix(ex.AppliesTo, "v5.4"):
		return rateLimitCase(Version50, 0), nil, ""
	case strings.HasPrefix(sc, "Rate limit exceeded") && strings.HasPrefix(ex.AppliesTo, "v8.1"):
		// The example's 429 comes 23 s into a window that resets at 1767225637.
		return rateLimitCase(Version86, 23*time.Second), nil, ""
	case strings.HasPrefix(sc, "Token belongs to a deactivated user"):
		return nil, nil, "deactivated token owners are not modelled"
	case strings.HasPrefix(sc, "Write request"), strings.HasPrefix(sc, "Malformed JSON request body"):
		return nil, nil, "the simulator serves reads only"
	}
	t.Fatalf("scenario %q (%s) has no case: add one or say why it is not modelled", sc, ex.AppliesTo)
	return nil, nil, ""
}

// rateLimitCase exhausts a 120/minute limit at unix 1767225577, then sends
// one more request after wait.
func rateLimitCase(v Version, wait time.Duration) func(*testing.T, string) *httptest.ResponseRecorder {
	return func(t *testing.T, host string) *httptest.ResponseRecorder {
		clock := NewClock(time.Unix(1767225577, 0))
		s := mustNew(t, Config{Data: exampleData(), Version: v, RateLimitPerMinute: 120, Now: clock.Now})
		for range 120 {
			if w := serve(t, s, host+"/api/v1/users/42"); w.Code != http.StatusOK {
				t.Fatalf("status %d before the limit", w.Code)
			}
		}
		clock.Advance(wait)
		w := serve(t, s, host+"/api/v1/users")
		if v == Version50 {
			for _, h := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				if got := w.Header().Get(h); got != "" {
					t.Errorf("5.0's 429 has %s: %s; its handler drops every throttle header", h, got)
				}
			}
		}
		return w
	}
}

func TestRoutingAndAuth(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Data: exampleData(), RestrictedToken: "viewer", BlockGenericUserAgents: true})
	tests := []struct {
		name        string
		method      string
		target      string
		headers     []string
		wantStatus  int
		wantType    string
		wantContain string
	}{
		{"a 404 without Accept json is an HTML page", "GET", "/api/v1/nope", []string{"Accept", ""}, 404, contentHTML, "Not Found"},
		{"a 405 without Accept json is an HTML page", "POST", "/api/v1/users", []string{"Accept", "text/html"}, 405, contentHTML, "Method Not Allowed"},
		{"an XMLHttpRequest gets JSON", "GET", "/api/v1/users", []string{"Accept", "", "Authorization", "", "X-Requested-With", "XMLHttpRequest"}, 401, contentJSON, "Unauthorized or unauthenticated."},
		{"the login page is HTML", "GET", "/login", []string{"Authorization", ""}, 200, contentHTML, "<form"},
		{"users/me returns the token's user", "GET", "/api/v1/users/me", nil, 200, contentJSON, `"username":"admin"`},
		{"the restricted token may read users/me", "GET", "/api/v1/users/me", []string{"Authorization", "Bearer viewer"}, 200, contentJSON, `"id":1,`},
		{"the restricted token may not read hardware", "GET", "/api/v1/hardware/912", []string{"Authorization", "Bearer viewer"}, 403, contentJSON, "This action is unauthorized."},
		{"a blank User-Agent is rejected", "GET", "/api/v1/users", []string{"User-Agent", ""}, 403, contentJSON, `"user_agent":null`},
		{"Go's default User-Agent is rejected", "GET", "/api/v1/users", []string{"User-Agent", "Go-http-client/1.1"}, 403, contentJSON, `"user_agent":"Go-http-client\/1.1"`},
		{"a lower-case bearer scheme is accepted", "GET", "/api/v1/users/42", []string{"Authorization", "bearer " + DefaultToken}, 200, contentJSON, `"id":42`},
		{"a non-numeric id is not found", "GET", "/api/v1/users/abc", nil, 200, contentJSON, `"messages":"User not found"`},
		{"HEAD is served like GET", "HEAD", "/api/v1/users/42", nil, 200, contentJSON, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serveMethod(t, s, tc.method, tc.target, tc.headers...)
			if w.Code != tc.wantStatus || w.Header().Get("Content-Type") != tc.wantType || !strings.Contains(w.Body.String(), tc.wantContain) {
				t.Errorf("got %d %q %.300s; want %d %q containing %q", w.Code, w.Header().Get("Content-Type"), w.Body, tc.wantStatus, tc.wantType, tc.wantContain)
			}
		})
	}
}
