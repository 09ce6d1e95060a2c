package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/model"
)

// benchStore holds 1000 users like testUsers()[0], and their JSON as
// GetUserJSON returns it, to answer with a copy: the database's part is
// not what these benchmarks measure.
type benchStore struct {
	*fakeStore
	json map[int64][]byte
}

func newBenchStore(b *testing.B) benchStore {
	users := make([]model.User, 1000)
	s := benchStore{fakeStore: &fakeStore{users: users}, json: map[int64][]byte{}}
	for i := range users {
		users[i] = testUsers()[0]
		users[i].ID = int64(i + 1)
		j, err := api.UserJSON(&users[i])
		if err != nil {
			b.Fatal(err)
		}
		s.json[users[i].ID] = j
	}
	return s
}

func (s benchStore) GetUserJSON(_ context.Context, id int64) ([]byte, error) {
	j, ok := s.json[id]
	if !ok {
		return nil, model.ErrNotFound
	}
	// A fresh copy, as pgx returns one.
	return append([]byte(nil), j...), nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGet drives h with GET /users/{id} and a bearer token from parallel
// goroutines. Besides ns/op (wall time, which other load on the machine
// inflates) it reports cpu-ns/op, the process's CPU time per request,
// which that load barely moves.
func benchGet(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	start := cpuTime(b)
	defer func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }()
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

// BenchmarkGetUser measures what the router, middleware, auth, huma, the
// ETag, the metrics and the access log add to one GET /users/{id}, with no
// database; BenchmarkGetUserJSONFloor and BenchmarkGetUserFloor are the
// bare net/http handlers of hack/apibench on the same store, for the
// ratios.
func BenchmarkGetUser(b *testing.B) {
	store := newBenchStore(b)
	path := filepath.Join(b.TempDir(), "tokens")
	writeTokens(b, path, "read:bench-token\n", time.Now())
	// As usersapi runs it: the file is checked for changes every 10 s.
	tokens, err := api.LoadTokens(api.TokensConfig{Path: path, CheckEvery: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	h, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: store, Assets: store, Runs: store, Tokens: tokens,
			Limits: api.Limits{MaxStreams: 4, RequestTimeout: 10 * time.Second, StreamTimeout: time.Minute}},
		DB:       store,
		Registry: prometheus.NewRegistry(),
		// The access log on, as usersapi writes it.
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	benchGet(b, h)
}

func BenchmarkGetUserJSONFloor(b *testing.B) {
	benchGet(b, apitest.JSONFloorHandler(newBenchStore(b).GetUserJSON))
}

func BenchmarkGetUserFloor(b *testing.B) {
	benchGet(b, apitest.FloorHandler(newBenchStore(b).GetUser))
}
