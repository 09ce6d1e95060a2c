package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// requestIDHeader carries the request id in and out.
const requestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the request id middleware put in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id: the caller's X-Request-Id when
// it is a sane token (so a proxy's id follows the request through), else a
// random one. It is echoed in the response and logged with every line.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !saneRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// saneRequestID accepts up to 128 printable ASCII characters without
// spaces or quotes, so a hostile id cannot forge log lines or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// observe wraps every request: it counts it in the metrics by route
// pattern (never by raw path, which would explode the label set), writes
// the access log line, and turns a panic into a bare 500 with the stack
// in the log. An http.ErrAbortHandler panic — a stream cut on purpose —
// is passed on to net/http, which closes the connection.
func observe(log *slog.Logger, m *metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			m.inFlight.Inc()
			defer func() {
				m.inFlight.Dec()
				rec := recover()
				if rec != nil && rec != http.ErrAbortHandler {
					log.ErrorContext(r.Context(), "panic serving request", "err", rec, "request_id", RequestID(r.Context()),
						"stack", string(debug.Stack()))
					if ww.Status() == 0 {
						writeProblem(ww, http.StatusInternalServerError, "")
					}
				}
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				if rec == http.ErrAbortHandler {
					// The client got a cut response; count it as the failure it is.
					status = statusClientClosed
				}
				route := routePattern(r)
				d := time.Since(start)
				m.observe(r.Method, route, status, d)
				level := slog.LevelInfo
				if route == "/healthz" || route == "/readyz" || route == "/metrics" {
					level = slog.LevelDebug
				}
				path := r.URL.Path
				if strings.Contains(route, "{secret}") {
					// The webhook's secret is in its path: log the pattern.
					path = route
				}
				log.LogAttrs(r.Context(), level, "request", slog.String("method", r.Method), slog.String("path", path),
					slog.String("route", route), slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()),
					slog.Duration("duration", d), slog.String("request_id", RequestID(r.Context())),
					slog.String("remote", r.RemoteAddr))
				if rec == http.ErrAbortHandler {
					panic(rec)
				}
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// routePattern is the chi pattern the request matched, or "unmatched".
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}
