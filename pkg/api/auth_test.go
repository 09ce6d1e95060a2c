package api_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
)

// writeTokens writes a token file with a modification time that differs
// from the previous write's, as a Secret rotation would.
func writeTokens(t testing.TB, path, content string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func loadTokens(t testing.TB, content string) (*api.Tokens, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, path, content, time.Now())
	tokens, err := api.LoadTokens(api.TokensConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return tokens, path
}

// withSyncOperation adds a stand-in for the later POST /sync/* operations:
// an operation that declares scope sync, to test 403.
func withSyncOperation(tapi huma.API) {
	huma.Register(tapi, huma.Operation{
		OperationID: "start-test-sync", Method: http.MethodPost, Path: "/sync/test", Tags: []string{"sync"},
		Security: []map[string][]string{{"bearer": {"sync"}}},
	}, func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
}

func TestAuth(t *testing.T) {
	tokens, _ := loadTokens(t, "# operators\nread:r-token\n  sync : s-token  \n\n")
	tests := []struct {
		name   string
		public bool
		tokens *api.Tokens
		auth   string
		method string
		status int
	}{
		{"no token, private reads", false, tokens, "", http.MethodGet, http.StatusUnauthorized},
		{"read token reads", false, tokens, "Bearer r-token", http.MethodGet, http.StatusOK},
		{"scheme is case-insensitive", false, tokens, "bearer r-token", http.MethodGet, http.StatusOK},
		{"sync token reads too", false, tokens, "Bearer s-token", http.MethodGet, http.StatusOK},
		{"unknown token", false, tokens, "Bearer r-tokenX", http.MethodGet, http.StatusUnauthorized},
		{"token prefix", false, tokens, "Bearer r-toke", http.MethodGet, http.StatusUnauthorized},
		{"basic auth", false, tokens, "Basic cjpy", http.MethodGet, http.StatusUnauthorized},
		{"empty bearer", false, tokens, "Bearer ", http.MethodGet, http.StatusUnauthorized},
		{"read token cannot sync", false, tokens, "Bearer r-token", http.MethodPost, http.StatusForbidden},
		{"sync token syncs", false, tokens, "Bearer s-token", http.MethodPost, http.StatusNoContent},
		{"no token cannot sync", false, tokens, "", http.MethodPost, http.StatusUnauthorized},
		{"public reads need no token", true, tokens, "", http.MethodGet, http.StatusOK},
		{"public reads still refuse a wrong token", true, tokens, "Bearer nope", http.MethodGet, http.StatusUnauthorized},
		{"public reads do not open sync", true, tokens, "", http.MethodPost, http.StatusUnauthorized},
		{"no token file accepts no token", false, nil, "Bearer r-token", http.MethodGet, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tapi, logs := newTestAPI(t, &fakeStore{users: testUsers()}, func(d *api.Deps) {
				d.PublicReads, d.Tokens = tt.public, tt.tokens
			})
			withSyncOperation(tapi)
			var args []any
			if tt.auth != "" {
				args = append(args, "Authorization: "+tt.auth)
			}
			path := "/users/1"
			if tt.method == http.MethodPost {
				path = "/sync/test"
			}
			resp := tapi.Do(tt.method, path, args...)
			if resp.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.Code, tt.status, resp.Body)
			}
			if tt.status == http.StatusUnauthorized || tt.status == http.StatusForbidden {
				wantProblem(t, resp, tt.status)
				if !strings.HasPrefix(resp.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", resp.Header().Get("WWW-Authenticate"))
				}
			}
			for _, secret := range []string{"r-token", "s-token", "nope"} {
				if strings.Contains(logs.String(), secret) || strings.Contains(resp.Body.String(), secret) {
					t.Errorf("a token appears in the logs or the response")
				}
			}
		})
	}
}

func TestTokensReloadWhenTheFileChanges(t *testing.T) {
	tokens, path := loadTokens(t, "read:old\n")
	tapi, _ := newTestAPI(t, &fakeStore{users: testUsers()}, func(d *api.Deps) { d.PublicReads, d.Tokens = false, tokens })
	status := func(token string) int { return tapi.Get("/users/1", "Authorization: Bearer "+token).Code }
	if got := status("old"); got != http.StatusOK {
		t.Fatalf("old token before rotation: %d", got)
	}

	later := time.Now().Add(time.Minute)
	writeTokens(t, path, "read:new\n", later)
	if got := status("old"); got != http.StatusUnauthorized {
		t.Errorf("old token after rotation: %d, want 401", got)
	}
	if got := status("new"); got != http.StatusOK {
		t.Errorf("new token after rotation: %d, want 200", got)
	}

	// A broken file does not lock everyone out: the last good tokens stay.
	writeTokens(t, path, "admin:new\n", later.Add(time.Minute))
	if got := status("new"); got != http.StatusOK {
		t.Errorf("after a malformed rewrite: %d, want the previous tokens to stay", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := status("new"); got != http.StatusOK {
		t.Errorf("after the file vanished: %d, want the previous tokens to stay", got)
	}
}

func TestLoadTokensRejectsMalformedFiles(t *testing.T) {
	tests := map[string]string{
		"unknown scope": "admin:secret-value\n",
		"no separator":  "secret-value\n",
		"empty token":   "read:\n",
		"missing file":  "",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			if content != "" {
				writeTokens(t, path, content, time.Now())
			}
			_, err := api.LoadTokens(api.TokensConfig{Path: path})
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestTokenNames(t *testing.T) {
	t.Run("old files read as before", func(t *testing.T) {
		// A token may hold = and : after the first colon.
		tokens, _ := loadTokens(t, "read:a=b:c\nsync: s-token\n")
		tapi, _ := newTestAPI(t, &fakeStore{users: testUsers()}, func(d *api.Deps) { d.PublicReads, d.Tokens = false, tokens })
		for _, token := range []string{"a=b:c", "s-token"} {
			if got := tapi.Get("/users/1", "Authorization: Bearer "+token).Code; got != http.StatusOK {
				t.Errorf("token %q: %d, want 200", token, got)
			}
		}
	})
	t.Run("named tokens authenticate with their scope", func(t *testing.T) {
		tokens, _ := loadTokens(t, "# named\nfinance.reports=read:r-token\n ops@example.test = sync : s-token\nread=read:x\n")
		tapi, _ := newTestAPI(t, &fakeStore{users: testUsers()}, func(d *api.Deps) { d.PublicReads, d.Tokens = false, tokens })
		withSyncOperation(tapi)
		for _, tt := range []struct {
			method, token string
			status        int
		}{
			{http.MethodGet, "r-token", http.StatusOK},
			{http.MethodPost, "r-token", http.StatusForbidden},
			{http.MethodPost, "s-token", http.StatusNoContent},
			{http.MethodGet, "x", http.StatusOK},
		} {
			path := map[string]string{http.MethodGet: "/users/1", http.MethodPost: "/sync/test"}[tt.method]
			if got := tapi.Do(tt.method, path, "Authorization: Bearer "+tt.token).Code; got != tt.status {
				t.Errorf("%s with %s: %d, want %d", tt.method, tt.token, got, tt.status)
			}
		}
	})
	for name, content := range map[string]string{
		"empty name":      "=read:secret-value\n",
		"name with space": "my token=read:secret-value\n",
		"name too long":   strings.Repeat("n", 65) + "=read:secret-value\n",
		"name, no scope":  "finance=:secret-value\n",
		"name, bad scope": "finance=admin:secret-value\n",
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			writeTokens(t, path, content, time.Now())
			_, err := api.LoadTokens(api.TokensConfig{Path: path})
			if !errors.Is(err, model.ErrInvalid) || strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error = %v, want ErrInvalid without the token", err)
			}
		})
	}
}
