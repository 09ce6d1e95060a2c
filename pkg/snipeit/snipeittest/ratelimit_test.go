package snipeittest

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// throttleHeaders are the rate-limit headers of a response, "" when absent.
func throttleHeaders(h http.Header) []string {
	var out []string
	for _, k := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After", "X-RateLimit-Reset", "X-RateLimit-Reset-Timestamp"} {
		out = append(out, k+"="+h.Get(k))
	}
	return out
}

func TestRateLimitWindow(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_800_000_000, 0)
	type step struct {
		after   time.Duration // since start
		token   string
		status  int
		headers []string
	}
	hdr := func(limit, remaining, retry int, reset int64) []string {
		return []string{"X-RateLimit-Limit=" + strconv.Itoa(limit), "X-RateLimit-Remaining=" + strconv.Itoa(remaining),
			"Retry-After=" + strconv.Itoa(retry), "X-RateLimit-Reset=" + strconv.Itoa(retry),
			"X-RateLimit-Reset-Timestamp=" + strconv.FormatInt(reset, 10)}
	}
	end := start.Unix() + 60
	none := []string{"X-RateLimit-Limit=", "X-RateLimit-Remaining=", "Retry-After=", "X-RateLimit-Reset=", "X-RateLimit-Reset-Timestamp="}
	tests := []struct {
		name    string
		version Version
		limit   int
		steps   []step
		limited int
	}{
		{"8.x: a fixed window from the first hit, then 429 until it ends", Version86, 3, []step{
			{0, DefaultToken, 200, hdr(3, 2, 60, end)},
			{30 * time.Second, DefaultToken, 200, hdr(3, 1, 30, end)},
			{59 * time.Second, DefaultToken, 200, hdr(3, 0, 1, end)},
			{59 * time.Second, DefaultToken, 429, hdr(3, 0, 1, end)},
			{60 * time.Second, DefaultToken, 200, hdr(3, 2, 60, end+60)},
		}, 1},
		{"the window is per token", Version85, 1, []step{
			{0, DefaultToken, 200, hdr(1, 0, 60, end)},
			{0, DefaultToken, 429, hdr(1, 0, 60, end)},
			{10 * time.Second, "viewer", 403, hdr(1, 0, 60, end+10)},
		}, 1},
		{"unauthenticated requests get 401 and use no quota", Version86, 1, []step{
			{0, "wrong", 401, none},
			{0, DefaultToken, 200, hdr(1, 0, 60, end)},
		}, 0},
		{"5.x sends limit and remaining only, and a bare 429", Version50, 1, []step{
			{0, DefaultToken, 200, []string{"X-RateLimit-Limit=1", "X-RateLimit-Remaining=0", "Retry-After=", "X-RateLimit-Reset=", "X-RateLimit-Reset-Timestamp="}},
			{0, DefaultToken, 429, none},
		}, 1},
		{"no limit, no headers", Version86, 0, []step{{0, DefaultToken, 200, none}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(start)
			s := mustNew(t, Config{Data: exampleData(), Version: tc.version, RateLimitPerMinute: tc.limit,
				RestrictedToken: "viewer", Now: clock.Now})
			for i, st := range tc.steps {
				clock.Set(start.Add(st.after))
				w := serve(t, s, "/api/v1/users/42", "Authorization", "Bearer "+st.token)
				if w.Code != st.status {
					t.Errorf("step %d: status %d, want %d", i, w.Code, st.status)
				}
				if diff := cmp.Diff(st.headers, throttleHeaders(w.Header())); diff != "" {
					t.Errorf("step %d: headers (-want +got):\n%s", i, diff)
				}
			}
			st := s.Stats()
			if st.RateLimited != tc.limited || st.TooManyRequests != tc.limited {
				t.Errorf("RateLimited %d, TooManyRequests %d, want %d", st.RateLimited, st.TooManyRequests, tc.limited)
			}
		})
	}
}
