//go:build pprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"time"
)

// A build with -tags pprof serves net/http/pprof on PPROF_ADDR (e.g.
// 127.0.0.1:6060), apart from the API, to profile it under load (see
// hack/bench-api.sh). Release builds never include it.
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
		slog.Warn("pprof server stopped", "err", srv.ListenAndServe())
	}()
}
