package main

import (
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"
)

func newLogger(c *config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel, ReplaceAttr: readableDuration}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
}

// readableDuration writes durations as Go duration strings ("1.532s"),
// rounded to the millisecond, instead of the JSON handler's nanoseconds.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		d := a.Value.Duration()
		if d >= time.Millisecond || d <= -time.Millisecond {
			d = d.Round(time.Millisecond)
		}
		a.Value = slog.StringValue(d.String())
	}
	return a
}

// isTerminal reports whether w is a terminal (for the progress bar and
// log format).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
