package snipeit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"

	"github.com/usersync/usersync/pkg/model"
)

// Users yields every live user once, in ascending id order. The sequence
// ends with a non-nil error (and no more users) when the listing cannot be
// read completely.
func (c *Client) Users(ctx context.Context) iter.Seq2[*model.User, error] {
	l := usersListing("users", nil)
	return func(yield func(*model.User, error) bool) {
		var problems fieldWarnings
		defer problems.report(c.log, "users")
		walkAll(ctx, c, yield, l, &problems)
	}
}

// Assets yields every live asset once per listing, archived ones included:
// Snipe-IT hides archived assets from /hardware unless asked for them with
// status=Archived, so this pages both. An asset archived or unarchived
// while the run pages can come in both listings; consumers keep the last.
func (c *Client) Assets(ctx context.Context) iter.Seq2[*model.Asset, error] {
	base := assetsListing("hardware", nil)
	archived := assetsListing("hardware_archived", url.Values{"status": {"Archived"}})
	return func(yield func(*model.Asset, error) bool) {
		// Where the site sets show_archived_in_list, the default listing
		// already holds the archived assets and the second pass would only
		// repeat them.
		sawArchived := false
		first := func(a *model.Asset, err error) bool {
			if a != nil && a.Archived() {
				sawArchived = true
			}
			return yield(a, err)
		}
		// One report for both listings: one warning per field per run.
		var problems fieldWarnings
		defer problems.report(c.log, "hardware")
		if !walkAll(ctx, c, first, base, &problems) || sawArchived {
			return
		}
		walkAll(ctx, c, yield, archived, &problems)
	}
}

// errStopped reports that the consumer stopped the iteration.
var errStopped = errors.New("iteration stopped")

// walkAll walks l into yield and reports whether the sequence may go on
// (no error, and the consumer did not stop).
func walkAll[T any](ctx context.Context, c *Client, yield func(*T, error) bool, l listing[T], problems *fieldWarnings) bool {
	err := walk(ctx, c, l, func(row *T) bool { return yield(row, nil) }, problems)
	if errors.Is(err, errStopped) {
		return false
	}
	if err != nil {
		yield(nil, fmt.Errorf("list %s: %w", l.endpoint, err))
		return false
	}
	return true
}

// listing describes one paged Snipe-IT list.
type listing[T any] struct {
	endpoint string                   // label for logs and metrics
	path     string                   // below /api/v1
	filter   url.Values               // extra query parameters
	read     func(*reader) (T, error) // reads one row
	id       func(*T) int64
	// fallback, when set, reports whether a page is in the order the
	// server falls back to for a sort it does not know.
	fallback func([]T) bool
}

// fetchPage gets one page sorted by id.
func fetchPage[T any](ctx context.Context, c *Client, l listing[T], offset, limit int64) (page[T], error) {
	return fetchOrdered(ctx, c, l, "id", "asc", offset, limit)
}

// pageResult is a page fetched ahead of its turn.
type pageResult[T any] struct {
	offset int64
	page   page[T]
	err    error
}

// pending is a page request in flight.
type pending[T any] struct {
	offset int64
	done   chan pageResult[T]
	cancel context.CancelFunc
}

// outcome says what accepting a page means for the walk.
type outcome int

const (
	more     outcome = iota // continue with the planned pages
	finished                // the listing is complete
	replan                  // the server's page cap is smaller than planned; plan again from the anchor
	reanchor                // rows before the anchor vanished: the anchor must be found again
)

// walker holds the position of one walk over a listing. Pages overlap by
// one row: each page after the first starts at the offset of the last row
// received (the anchor), so the walk can check that the list did not shift
// under it. If a page starts with an id at or below the anchor's, every row
// after the anchor is in it (the list is sorted by id); if it starts above,
// rows before the anchor were deleted and rows may have slid past, so the
// walk steps back until it finds the anchor's neighbourhood again.
type walker[T any] struct {
	c      *Client
	l      listing[T]
	yield  func(*T) bool
	limit  int64 // rows asked per page: the server's cap once known
	lastID int64 // id of the last row yielded; 0 before any
	anchor int64 // offset of that row in the listing as last seen
	total  int64 // the total the server last reported
	seen   int64 // rows yielded
	pages  int64 // pages accepted, to bound a walk that does not converge
	// firstTotal is the total of the first page. The page bound derives
	// from it, not from the latest total: a list that grows faster than it
	// is read would otherwise raise its own bound forever.
	firstTotal int64
	stalls     int            // re-anchors in a row without a new row
	problems   *fieldWarnings // unreadable values of the rows yielded
}

// maxStalls bounds re-anchoring that yields nothing: a server answering
// the same offset inconsistently again and again is broken, not changing.
const maxStalls = 5

func walk[T any](ctx context.Context, c *Client, l listing[T], yield func(*T) bool, problems *fieldWarnings) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &walker[T]{c: c, l: l, yield: yield, limit: int64(c.cfg.PageSize), anchor: -1, problems: problems}

	first, err := fetchPage(ctx, c, l, 0, w.limit)
	if err != nil {
		return err
	}
	// Learn the server's page cap (MAX_RESULTS) from the first page:
	// Snipe-IT cuts a larger limit silently.
	n := int64(len(first.rows))
	switch {
	case first.perPage > 1 && first.perPage < w.limit:
		w.limit = first.perPage
	case n > 1 && n < w.limit && n < first.total:
		w.limit = n
	}
	w.firstTotal = first.total
	o, err := w.accept(0, first)
	for err == nil && o != finished {
		if o == reanchor {
			if w.stalls++; w.stalls > maxStalls {
				return fmt.Errorf("%w: the list keeps shifting at offset %d without new rows (last id %d, total %d): the server answers inconsistently",
					model.ErrUpstream, w.anchor, w.lastID, w.total)
			}
			o, err = w.reanchor(ctx)
			continue
		}
		o, err = w.pipeline(ctx)
	}
	return err
}

// pipeline fetches the planned pages after the anchor, up to Parallelism
// at a time, and accepts them in order until the listing is finished or
// the plan no longer holds.
func (w *walker[T]) pipeline(ctx context.Context) (outcome, error) {
	var queue []*pending[T]
	defer func() {
		for _, p := range queue {
			p.cancel()
		}
	}()
	next := w.anchor
	launch := func() {
		// Plan only pages that start inside the list as last reported.
		if next >= w.total && len(queue) > 0 {
			return
		}
		pctx, cancel := context.WithCancel(ctx)
		p := &pending[T]{offset: next, done: make(chan pageResult[T], 1), cancel: cancel}
		// offset and limit go by value: accept re-plans (writes w.limit)
		// while fetches launched under the old plan are still running.
		go func(offset, limit int64) {
			pg, err := fetchPage(pctx, w.c, w.l, offset, limit)
			p.done <- pageResult[T]{offset: offset, page: pg, err: err}
		}(next, w.limit)
		queue = append(queue, p)
		next += w.limit - 1
	}
	for range w.c.cfg.Parallelism {
		launch()
	}
	for len(queue) > 0 {
		p := queue[0]
		var r pageResult[T]
		select {
		case r = <-p.done:
		case <-ctx.Done():
			return finished, ctx.Err()
		}
		queue = queue[1:]
		p.cancel()
		if r.err != nil {
			return finished, r.err
		}
		o, err := w.accept(r.offset, r.page)
		if err != nil || o != more {
			return o, err
		}
		launch()
	}
	// Every planned page was accepted but the list grew meanwhile: plan
	// again from the anchor.
	return more, nil
}

// accept checks a page against the anchor and yields its new rows.
func (w *walker[T]) accept(offset int64, p page[T]) (outcome, error) {
	w.pages++
	if limitPages := 2*(w.firstTotal/(w.limit-1)) + 64; w.pages > limitPages {
		return finished, fmt.Errorf("%w: paging did not converge after %d pages (%d rows read, total %d at the start, %d now): the list changes faster than it can be read",
			model.ErrUpstream, w.pages, w.seen, w.firstTotal, p.total)
	}
	rows := p.rows
	if len(rows) == 1 && offset+1 < p.total {
		// A page of one row overlaps the previous one entirely: the walk
		// could only repeat it.
		return finished, fmt.Errorf("%w: the server returns one row per page (offset %d of %d); overlapped paging needs at least two: raise Snipe-IT's MAX_RESULTS",
			model.ErrUpstream, offset, p.total)
	}
	for i := 1; i < len(rows); i++ {
		if w.l.id(&rows[i]) <= w.l.id(&rows[i-1]) {
			return finished, fmt.Errorf("%w: rows are not in ascending id order at offset %d: the server ignored sort=id&order=asc",
				model.ErrUpstream, offset)
		}
	}
	w.total = p.total
	if len(rows) == 0 {
		if offset == 0 {
			return finished, nil // an empty list
		}
		// The anchor's offset is past the end now: rows before it vanished.
		return reanchor, nil
	}
	if offset > 0 && w.l.id(&rows[0]) > w.lastID {
		return reanchor, nil
	}
	// Problems are counted for the rows yielded now (ids above lastID),
	// not again when an overlapping page repeats a row.
	for _, pr := range p.problems {
		if pr.id > w.lastID {
			w.problems.add(pr)
		}
	}
	for i := range rows {
		if id := w.l.id(&rows[i]); id > w.lastID {
			if !w.yield(&rows[i]) {
				return finished, errStopped
			}
			w.lastID = id
			w.seen++
			w.stalls = 0
		}
	}
	w.anchor = offset + int64(len(rows)) - 1
	w.c.obs.Page(w.l.endpoint, w.seen, w.total)
	if offset+int64(len(rows)) >= p.total {
		return finished, nil
	}
	if int64(len(rows)) < w.limit {
		// A short page mid-list: the server's cap is lower than we ask.
		w.limit = max(int64(len(rows)), 2)
		return replan, nil
	}
	return more, nil
}

// reanchor steps back from the anchor's old offset, doubling the step,
// until a page starts at or before the last row yielded (or at offset 0),
// then accepts that page.
func (w *walker[T]) reanchor(ctx context.Context) (outcome, error) {
	w.c.log.Info("snipe-it list shifted while paging; finding the last row again",
		"endpoint", w.l.endpoint, "last_id", w.lastID, "offset", w.anchor, "total", w.total)
	back := int64(1)
	for range 64 {
		offset := max(0, min(w.anchor, w.total-1)-back)
		p, err := fetchPage(ctx, w.c, w.l, offset, w.limit)
		if err != nil {
			return finished, err
		}
		covers := len(p.rows) > 0 && w.l.id(&p.rows[0]) <= w.lastID
		if covers || offset == 0 {
			return w.accept(offset, p)
		}
		w.total = p.total
		back *= 2
	}
	return finished, fmt.Errorf("%w: could not find row %d again after the list shifted", model.ErrUpstream, w.lastID)
}
