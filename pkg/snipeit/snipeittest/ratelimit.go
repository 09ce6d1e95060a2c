package snipeittest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter is Laravel's RateLimiter as the api throttle uses it: per key, a
// fixed 60-second window that starts at the first hit; once the window
// holds perMinute hits, requests fail until it ends.
type limiter struct {
	perMinute int
	mu        sync.Mutex
	windows   map[string]*window
}

type window struct {
	resetAt int64 // unix seconds
	hits    int
}

// quota is the limiter's verdict on one request.
type quota struct {
	allowed    bool
	limit      int
	remaining  int
	retryAfter int   // seconds until the window ends
	resetAt    int64 // unix seconds
}

// take counts a request for key at now. A limiter without a limit allows
// everything.
func (l *limiter) take(key string, now time.Time) quota {
	if l.perMinute <= 0 {
		return quota{allowed: true}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := now.Unix()
	w := l.windows[key]
	if w == nil || t >= w.resetAt {
		w = &window{resetAt: t + 60}
		l.windows[key] = w
	}
	q := quota{limit: l.perMinute, resetAt: w.resetAt, retryAfter: int(w.resetAt - t)}
	if w.hits >= l.perMinute {
		return q
	}
	w.hits++
	q.allowed, q.remaining = true, l.perMinute-w.hits
	return q
}

// setHeaders adds the throttle headers: limit and remaining on every
// version, and from 8.1 on (SetAPIResponseHeaders) Retry-After and the
// reset in seconds and as a timestamp too.
func (q quota) setHeaders(resp *response, v8 bool) {
	if resp.header == nil {
		resp.header = http.Header{}
	}
	h := resp.header
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.remaining))
	if v8 {
		h.Set("Retry-After", strconv.Itoa(q.retryAfter))
		h.Set("X-RateLimit-Reset", strconv.Itoa(q.retryAfter))
		h.Set("X-RateLimit-Reset-Timestamp", strconv.FormatInt(q.resetAt, 10))
	}
}

// tooManyRequests is the 429 of 8.1+ (JSON with retryAfter and the
// throttle headers) or of 5.x–8.0 (the exception handler's bare envelope,
// which loses every header).
func tooManyRequests(v8 bool, q quota) response {
	if !v8 {
		return envelope(http.StatusTooManyRequests, "Too many requests")
	}
	w := jsonWriter{}
	w.beginObject("")
	w.plain("status", "error")
	w.plain("messages", "Too many requests. Try again in "+strconv.Itoa(q.retryAfter)+" seconds.")
	w.num("status_code", http.StatusTooManyRequests)
	w.num("retryAfter", int64(q.retryAfter))
	w.endObject()
	resp := jsonResponse(http.StatusTooManyRequests, w.b)
	q.remaining = 0
	q.setHeaders(&resp, true)
	return resp
}
