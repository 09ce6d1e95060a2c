package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/usersync/usersync/pkg/model"
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

// listingName is how progress names a Snipe-IT listing endpoint: by what
// it holds, as people call it, not by its API path.
func listingName(endpoint string) string {
	switch endpoint {
	case "hardware":
		return "assets"
	case "hardware_archived":
		return "archived assets"
	case "users_changed", "users_all_changed":
		return "changed users"
	case "users_deleted":
		return "deleted users"
	case "hardware_changed":
		return "changed assets"
	case "hardware_archived_changed":
		return "changed archived assets"
	case "hardware_deleted":
		return "deleted assets"
	case "reports_activity":
		return "activity log"
	case "statuslabels":
		return "status labels"
	}
	return endpoint
}

// changeListing reports whether endpoint lists changes: it reads what
// changed down to a time and stops, so the total it reports (every row of
// the listing, e.g. 100,000 users for 20 changed) is not where it ends.
func changeListing(endpoint string) bool {
	return strings.HasSuffix(endpoint, "_changed") || strings.HasSuffix(endpoint, "_deleted") || endpoint == "reports_activity"
}

// scopeOf names the scope a listing belongs to.
func scopeOf(endpoint string) model.Scope {
	switch {
	case strings.HasPrefix(endpoint, "hardware"), endpoint == "models", endpoint == "statuslabels", endpoint == "suppliers":
		return model.ScopeAssets
	}
	return model.ScopeUsers
}

// progressState is what both progress displays know of the listing being
// paged.
type progressState struct {
	mu       sync.Mutex
	endpoint string
	pages    int
	received int64
	total    int64
	// started is when the listing's first request was sent, learnt from
	// the requests that completed: the first page's arrival would make a
	// one-page listing look infinitely fast.
	started map[string]time.Time
}

// request notes when a request to endpoint was sent.
func (p *progressState) request(endpoint string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started == nil {
		p.started = map[string]time.Time{}
	}
	sent := time.Now().Add(-d)
	if t, ok := p.started[endpoint]; !ok || sent.Before(t) {
		p.started[endpoint] = sent
	}
}

// update records a page and reports whether a new listing started.
func (p *progressState) update(endpoint string, received, total int64) (newListing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if endpoint != p.endpoint {
		p.endpoint, p.pages, newListing = endpoint, 0, true
	}
	p.pages++
	p.received, p.total = received, total
	return newListing
}

// snapshot is the state at one moment, with the listing's rate in rows per
// second (0 when unknown).
type snapshot struct {
	listing         string
	scope           model.Scope
	archived        bool
	changes         bool // a listing of changes: total is not its end
	pages           int
	received, total int64
	rate            float64
}

func (p *progressState) snapshot() snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := snapshot{listing: listingName(p.endpoint), scope: scopeOf(p.endpoint), archived: p.endpoint == "hardware_archived",
		changes: changeListing(p.endpoint), pages: p.pages, received: p.received, total: p.total}
	if t, ok := p.started[p.endpoint]; ok {
		if elapsed := time.Since(t).Seconds(); elapsed > 0 {
			s.rate = float64(p.received) / elapsed
		}
	}
	return s
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

func (b *barProgress) Request(endpoint string, _ int, d time.Duration) {
	b.state.request(endpoint, d)
}

func (b *barProgress) Page(endpoint string, received, total int64) {
	newListing := b.state.update(endpoint, received, total)
	snap := b.state.snapshot()
	b.mu.Lock()
	defer b.mu.Unlock()
	if newListing {
		b.finish()
		max := total
		if snap.changes {
			max = -1 // a spinner with the count: the end is unknown
		}
		b.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(snap.listing),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
		)
	}
	desc := fmt.Sprintf("%s, page %d", snap.listing, snap.pages)
	if snap.changes {
		desc = fmt.Sprintf("%s since the last run (of %d), page %d", snap.listing, total, snap.pages)
	} else if snap.rate > 0 {
		desc += fmt.Sprintf(", %.0f rows/s", snap.rate)
	}
	b.bar.Describe(desc)
	if !snap.changes {
		b.bar.ChangeMax64(max(total, received))
	}
	_ = b.bar.Set64(received)
	if !snap.changes && received >= total {
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
// what a Job's log shows instead of a bar. An interval without a new page
// logs nothing.
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

func (l *logProgress) Request(endpoint string, _ int, d time.Duration) {
	l.state.request(endpoint, d)
}

func (l *logProgress) Page(endpoint string, received, total int64) {
	l.state.update(endpoint, received, total)
}

func (l *logProgress) loop(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	var last snapshot
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			s := l.state.snapshot()
			if s.pages == 0 || s.listing == last.listing && s.pages == last.pages {
				continue
			}
			last = s
			if s.changes {
				// A listing of changes ends at the last run's watermark, not
				// at its total: no rate or time left.
				l.log.Info("sync progress", "scope", string(s.scope), "listing", s.listing, "pages", s.pages, "changed", s.received,
					"listing_total", s.total)
				continue
			}
			attrs := []any{"scope", string(s.scope), "pages", s.pages, "received", s.received, "total", s.total, "rows_per_second", int64(s.rate)}
			if s.archived {
				attrs = append(attrs, "archived", true)
			}
			if s.rate > 0 && s.total > s.received {
				attrs = append(attrs, "eta", time.Duration(float64(s.total-s.received)/s.rate*float64(time.Second)).Round(time.Second).String())
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
