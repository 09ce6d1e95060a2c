package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
)

// BenchmarkGetUser measures what the router, middleware, auth, huma, the
// ETag and the access log add to one GET /users/{id}, with no database.
func BenchmarkGetUser(b *testing.B) {
	users := make([]model.User, 1000)
	for i := range users {
		users[i] = testUsers()[0]
		users[i].ID = int64(i + 1)
	}
	store := &fakeStore{users: users}
	tokens, _ := loadTokens(b, "read:bench-token\n")
	h, err := api.NewHandler(api.Config{
		Deps:   api.Deps{Users: store, Assets: store, Runs: store, Tokens: tokens},
		DB:     store,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			req := httptest.NewRequest(http.MethodGet, "/users/"+strconv.Itoa(i%1000+1), nil)
			req.Header.Set("Authorization", "Bearer bench-token")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
