package snipeittest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so benchmarks measure
// the simulator and not a recorder.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		Generate(GenerateConfig{Users: 100_000, Assets: 50_000, Seed: 1})
	}
}

// benchmarkPages serves the pages of a 100,000-user list one after the
// other, as a client paging with sort=id does.
func benchmarkPages(b *testing.B, cfg Config, path string) {
	cfg.Data = Generate(GenerateConfig{Users: 100_000, Assets: 50_000, Seed: 1})
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var reqs []*http.Request
	for offset := 0; offset < 95_000; offset += 500 {
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("%s&limit=500&offset=%d", path, offset), nil)
		r.Header.Set("Authorization", "Bearer "+DefaultToken)
		r.Header.Set("Accept", "application/json")
		reqs = append(reqs, r)
	}
	w := &discard{h: http.Header{}}
	for _, r := range reqs { // render and cache every row once
		s.ServeHTTP(w, r)
	}
	w.n = 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s.ServeHTTP(w, reqs[i%len(reqs)])
		i++
	}
	b.SetBytes(int64(w.n / i))
}

func BenchmarkServeUsersPage(b *testing.B) {
	benchmarkPages(b, Config{}, "/api/v1/users?sort=id&order=asc")
}

func BenchmarkServeUsersPageUncached(b *testing.B) {
	benchmarkPages(b, Config{RowCacheBytes: -1}, "/api/v1/users?sort=id&order=asc")
}

func BenchmarkServeUsersPageDefaultSort(b *testing.B) {
	benchmarkPages(b, Config{}, "/api/v1/users?x=1")
}
