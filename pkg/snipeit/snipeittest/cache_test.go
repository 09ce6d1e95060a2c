package snipeittest

import (
	"testing"
)

func TestRowCacheBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		budget   int64
		wantKept func(used, limit, pageBytes int64) bool
	}{
		{"the default keeps every row of a small data set", 0,
			func(used, _, page int64) bool { return used > page*9/10 && used < page }},
		{"a small budget keeps what fits", 20_000,
			func(used, limit, _ int64) bool { return used > limit/2 && used <= limit }},
		{"a negative budget keeps nothing", -1,
			func(used, _, _ int64) bool { return used == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{Data: exampleData(), RowCacheBytes: tc.budget})
			first := serve(t, s, "/api/v1/users?sort=id&order=asc&limit=500").Body.String()
			used := s.store.cache.used.Load()
			if !tc.wantKept(used, s.store.cache.limit, int64(len(first))) {
				t.Errorf("kept %d bytes of a %d-byte page with a budget of %d", used, len(first), s.store.cache.limit)
			}
			if again := serve(t, s, "/api/v1/users?sort=id&order=asc&limit=500").Body.String(); again != first {
				t.Error("the page changed when served from the cache")
			}
			// Changing a manager drops its row and the rows showing it.
			if err := s.UpdateUser(7, func(u *User) { u.FirstName = "Many" }); err != nil {
				t.Fatal(err)
			}
			if after := s.store.cache.used.Load(); (used > 0 && after >= used) || after > max(s.store.cache.limit, 0) {
				t.Errorf("kept %d bytes after an update, %d before", after, used)
			}
		})
	}
}
