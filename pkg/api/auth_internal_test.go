package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/usersync/usersync/pkg/model"
)

// TestAnUndeclaredOperationFailsClosed registers operations the way a
// future change might forget to: without a security requirement. They
// must need the strongest scope, unless marked public.
func TestAnUndeclaredOperationFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("read:r\nsync:s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(TokensConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	_, tapi := humatest.New(t)
	Register(tapi, Deps{Tokens: tokens, PublicReads: true})
	ok := func(context.Context, *struct{}) (*struct{}, error) { return nil, nil }
	huma.Register(tapi, huma.Operation{OperationID: "forgot", Method: http.MethodGet, Path: "/forgot"}, ok)
	huma.Register(tapi, huma.Operation{OperationID: "open", Method: http.MethodGet, Path: "/open",
		Metadata: map[string]any{publicMetadata: true}}, ok)

	for _, tt := range []struct {
		path, token string
		status      int
	}{
		{"/forgot", "", http.StatusUnauthorized},
		{"/forgot", "r", http.StatusForbidden},
		{"/forgot", "s", http.StatusNoContent},
		{"/open", "", http.StatusNoContent},
	} {
		var args []any
		if tt.token != "" {
			args = append(args, "Authorization: Bearer "+tt.token)
		}
		if got := tapi.Get(tt.path, args...).Code; got != tt.status {
			t.Errorf("GET %s with token %q = %d, want %d", tt.path, tt.token, got, tt.status)
		}
	}
}

func TestATokenFileWithoutTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("# nobody\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokens(TokensConfig{Path: path}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("LoadTokens of a file without a token: %v, want ErrInvalid (a service nobody can use must not start)", err)
	}

	// Emptied while running, it is obeyed: nobody gets in.
	if err := os.WriteFile(path, []byte("read:r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(TokensConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if scope, _ := tokens.lookup("r"); scope != scopeRead {
		t.Fatal("the token is not accepted")
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path, []byte("# revoked\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := tokens.lookup("r"); got != "" {
		t.Errorf("after the file was emptied the token still has scope %q", got)
	}
}
