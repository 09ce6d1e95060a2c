package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/usersync/usersync/pkg/snipeit"
)

// observers fans client events out to several observers (metrics, progress).
type observers []snipeit.Observer

func (os observers) Request(endpoint string, code int, d time.Duration) {
	for _, o := range os {
		o.Request(endpoint, code, d)
	}
}

func (os observers) Retry(endpoint, reason string) {
	for _, o := range os {
		o.Retry(endpoint, reason)
	}
}

func (os observers) RateLimitWait(endpoint string, d time.Duration) {
	for _, o := range os {
		o.RateLimitWait(endpoint, d)
	}
}

func (os observers) Page(endpoint string, received, total int64) {
	for _, o := range os {
		o.Page(endpoint, received, total)
	}
}

// progressState is what both progress displays know of the listing being
// paged.
type progressState struct {
	mu       sync.Mutex
	endpoint string
	pages    int
	received int64
	total    int64
	started  time.Time
}

// update records a page and reports whether a new listing started.
func (p *progressState) update(endpoint string, received, total int64) (newListing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if endpoint != p.endpoint {
		p.endpoint, p.started, p.pages, newListing = endpoint, time.Now(), 0, true
	}
	p.pages++
	p.received, p.total = received, total
	return newListing
}

// barProgress draws a progress bar per listing on a terminal: rows,
// rows/s and the time left. Log lines go through it (Write), so a line
// never lands in the middle of the bar: the bar is cleared first and
// redrawn with the next page.
type barProgress struct {
	snipeit.NoopObserver
	mu    sync.Mutex
	w     io.Writer
	state progressState
	bar   *progressbar.ProgressBar
}

func newBarProgress(w io.Writer) *barProgress {
	return &barProgress{w: w}
}

func (b *barProgress) Page(endpoint string, received, total int64) {
	newListing := b.state.update(endpoint, received, total)
	b.mu.Lock()
	defer b.mu.Unlock()
	if newListing {
		b.finish()
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(endpoint),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
		)
	}
	b.state.mu.Lock()
	b.bar.Describe(fmt.Sprintf("%s, page %d", endpoint, b.state.pages))
	b.state.mu.Unlock()
	b.bar.ChangeMax64(max(total, received))
	_ = b.bar.Set64(received)
	if received >= total {
		b.finish()
	}
}

// Write writes a log line above the bar.
func (b *barProgress) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	return b.w.Write(p)
}

// finish ends the current bar on its own line; b.mu must be held.
func (b *barProgress) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
		_, _ = io.WriteString(b.w, "\n")
		b.bar = nil
	}
}

// Close finishes the current bar.
func (b *barProgress) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finish()
}

// logProgress logs a progress line every interval while a listing pages:
// what a Job's log shows instead of a bar.
type logProgress struct {
	snipeit.NoopObserver
	log   *slog.Logger
	state progressState
	stop  chan struct{}
	done  chan struct{}
}

func newLogProgress(log *slog.Logger, interval time.Duration) *logProgress {
	l := &logProgress{log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop(interval)
	return l
}

func (l *logProgress) Page(endpoint string, received, total int64) {
	l.state.update(endpoint, received, total)
}

func (l *logProgress) loop(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.state.mu.Lock()
			endpoint, pages, received, total, started := l.state.endpoint, l.state.pages, l.state.received, l.state.total, l.state.started
			l.state.mu.Unlock()
			if endpoint == "" {
				continue
			}
			elapsed := time.Since(started)
			rate := float64(received) / elapsed.Seconds()
			attrs := []any{"endpoint", endpoint, "pages", pages, "received", received, "total", total, "rows_per_second", int64(rate)}
			if rate > 0 && total > received {
				attrs = append(attrs, "eta", time.Duration(float64(total-received)/rate*float64(time.Second)).Round(time.Second).String())
			}
			l.log.Info("sync progress", attrs...)
		}
	}
}

// Close stops the logging loop.
func (l *logProgress) Close() {
	close(l.stop)
	<-l.done
}
