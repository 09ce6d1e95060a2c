package api

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// accessLog writes the line every request logs. Formatting it through
// slog's JSON handler was two fifths of what usersapi added to a GET
// /users/{id} over a bare handler; when the line's text needs no escaping
// (nearly always: a method, a path, a route pattern, a request id and an
// address) it is appended here instead, to the very bytes the handler
// writes (FuzzAccessLineMatchesSlog holds them equal). Any other line goes
// through the Logger.
type accessLog struct {
	log *slog.Logger
	// w is the JSON handler's writer, or nil to always use log.
	w io.Writer
}

// lineBuffers recycles the buffers access lines are built in.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// write logs one request.
func (a accessLog) write(r requestLine) {
	if a.w != nil && r.level == slog.LevelInfo && r.plain() {
		buf := lineBuffers.Get().(*[]byte)
		b := r.appendJSON((*buf)[:0], time.Now())
		_, _ = a.w.Write(b) // nowhere to report a failed log write
		*buf = b
		lineBuffers.Put(buf)
		return
	}
	a.log.LogAttrs(r.ctx, r.level, "request", r.attrs()...)
}

// requestLine is what the access log says about a request.
type requestLine struct {
	ctx                             context.Context
	level                           slog.Level
	method, path, route, id, remote string
	status, bytes                   int
	duration                        time.Duration
}

// attrs are the line's attributes, in order.
func (r requestLine) attrs() []slog.Attr {
	return []slog.Attr{slog.String("method", r.method), slog.String("path", r.path),
		slog.String("route", r.route), slog.Int("status", r.status), slog.Int("bytes", r.bytes),
		slog.Duration("duration", r.duration), slog.String("request_id", r.id),
		slog.String("remote", r.remote)}
}

// plain reports whether every text of the line is printable ASCII without
// " or \, which JSON writes as it is.
func (r requestLine) plain() bool {
	for _, s := range [...]string{r.method, r.path, r.route, r.id, r.remote} {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
				return false
			}
		}
	}
	return true
}

// appendJSON appends the line as slog.NewJSONHandler writes a record of
// level r.level, message "request", time t and r.attrs().
func (r requestLine) appendJSON(b []byte, t time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, r.level.String()...)
	b = append(b, `","msg":"request","method":"`...)
	b = append(b, r.method...)
	b = append(b, `","path":"`...)
	b = append(b, r.path...)
	b = append(b, `","route":"`...)
	b = append(b, r.route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(r.bytes), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(r.duration), 10)
	b = append(b, `,"request_id":"`...)
	b = append(b, r.id...)
	b = append(b, `","remote":"`...)
	b = append(b, r.remote...)
	return append(b, "\"}\n"...)
}
