package api

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// FuzzAccessLineMatchesSlog holds the access line written directly to
// what slog's JSON handler writes for the same record, whatever the text
// (lines that need escaping take slog's way; the result is the same).
func FuzzAccessLineMatchesSlog(f *testing.F) {
	f.Add("GET", "/users/1", "/users/{user_id}", "0123456789abcdef01234567", "127.0.0.1:5555", 200, 1234, int64(1500000), int64(1700000000123456789))
	f.Add("GET", "/a\"b\\c\x00\xff", "unmatched", "id", "[::1]:1", 404, 0, int64(0), int64(0))
	f.Add("BREW", "/ünïcode", "/x", "", "", 499, -1, int64(-5), int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, method, path, route, id, remote string, status, n int, d, unixNano int64) {
		at := time.Unix(0, unixNano)
		if y := at.Year(); y < 0 || y >= 10000 {
			return // slog reports an error for such times; a clock never shows them
		}
		line := requestLine{ctx: context.Background(), level: slog.LevelInfo, method: method, path: path, route: route,
			status: status, bytes: n, duration: time.Duration(d), id: id, remote: remote}

		var want bytes.Buffer
		h := slog.NewJSONHandler(&want, nil)
		rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
		rec.AddAttrs(line.attrs()...)
		if err := h.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if !line.plain() {
			return // written through the Logger, which is the handler itself
		}
		if got := line.appendJSON(nil, at); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("direct line\n %q\nslog's\n %q", got, want.Bytes())
		}
	})
}

// TestAccessLogTakesTheLoggerWhenTheLineNeedsIt: debug lines and lines with
// text to escape go through the Logger, the others straight to the writer.
func TestAccessLogTakesTheLoggerWhenTheLineNeedsIt(t *testing.T) {
	var viaLogger, direct bytes.Buffer
	a := accessLog{log: slog.New(slog.NewJSONHandler(&viaLogger, &slog.HandlerOptions{Level: slog.LevelDebug})), w: &direct}
	base := requestLine{ctx: context.Background(), level: slog.LevelInfo, method: "GET", path: "/users/1", route: "/users/{user_id}", status: 200}
	a.write(base)
	odd := base
	odd.path = "/users/\"1"
	a.write(odd)
	probe := base
	probe.level = slog.LevelDebug
	a.write(probe)
	if got := bytes.Count(direct.Bytes(), []byte("\n")); got != 1 || !bytes.Contains(direct.Bytes(), []byte(`"path":"/users/1"`)) {
		t.Errorf("direct: %q, want the plain info line", direct.String())
	}
	if got := bytes.Count(viaLogger.Bytes(), []byte("\n")); got != 2 || !bytes.Contains(viaLogger.Bytes(), []byte(`/users/\"1`)) {
		t.Errorf("via the logger: %q, want the escaped line and the debug line", viaLogger.String())
	}
}
