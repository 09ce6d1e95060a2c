package snipeit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Listings of what changed since a time, for incremental runs. Snipe-IT has
// no "changed since" filter: they sort by updated_at, newest first, and stop
// once past the time asked for. Such a walk can lose rows in ways a walk by
// id cannot, so it checks every page and says when it cannot be trusted:
//
//   - Every page must come in non-increasing updated_at order. Users before
//     Snipe-IT 7.1.14 cannot be sorted by updated_at and are answered in
//     first_name order without a word; that shows in the data (a page out
//     of updated_at order, or one in first_name order), and the walk fails
//     with ErrNotIncremental (ReasonUnsorted). A first page that is all one
//     updated_at proves nothing either way (ReasonTies).
//   - updated_at is not unique, and MySQL orders rows that tie on it
//     differently from one page to the next. Each page therefore starts at
//     the last row before the previous page's trailing tie group: the whole
//     group is read again within one page, and a row counts as read only
//     once a later row with an older updated_at shows its group ended. A
//     group larger than a page cannot be read that way (ReasonTies).
//   - The list moves while it is read. A row changed meanwhile moves to the
//     front; rows deleted (or archived, for the default hardware list) move
//     the rest up, which would make a page skip rows. The first row of each
//     page must carry the updated_at the previous page had there; when it
//     is older, the walk steps back until it is not and reads again
//     (re-read rows are not yielded twice). A list that keeps shifting
//     fails with ReasonShifting. A row changed while the walk runs gets an
//     updated_at at least the walk's start, so the next run finds it.
//
// Rows come newest first; a row is yielded once, or again if it changed
// (a newer updated_at) while the walk ran: consumers keep the last.

// ErrNotIncremental marks a listing of changes that cannot be trusted to
// hold every row changed since the time asked for: the caller should read
// the whole scope instead (a full pass). *IncrementalError says why.
var ErrNotIncremental = model.ErrNotIncremental

// The reasons an *IncrementalError gives.
const (
	// ReasonUnsorted: a page was not in updated_at order; the server does
	// not sort by it (users before Snipe-IT 7.1.14) or ignores sort=.
	ReasonUnsorted = model.FallbackUnsorted
	// ReasonTies: more rows share one updated_at than a page holds (a bulk
	// edit or import in one second), so offset paging cannot be trusted
	// to read them all.
	ReasonTies = model.FallbackTies
	// ReasonShifting: the list kept moving under the walk.
	ReasonShifting = model.FallbackShifting
)

// IncrementalError says why a listing of changes cannot be trusted. It
// matches ErrNotIncremental with errors.Is.
type IncrementalError struct {
	Endpoint string // the client's endpoint label, e.g. "users_changed"
	Reason   string // ReasonUnsorted, ReasonTies or ReasonShifting
	Detail   string
}

func (e *IncrementalError) Error() string {
	return fmt.Sprintf("%s: %s (%s): %s", ErrNotIncremental, e.Endpoint, e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrNotIncremental) true.
func (e *IncrementalError) Is(target error) bool { return target == ErrNotIncremental }

// FallbackReason is the reason, for a caller that cannot name this type.
func (e *IncrementalError) FallbackReason() string { return e.Reason }

// Listing is what a walk of changes saw besides its rows (see
// model.ChangeListing).
type Listing = model.ChangeListing

// changesFirstPage is the limit of a listing's first page: an incremental
// run usually finds a few changes, and a small first page costs less to
// send and decode. Later pages ask for Config.PageSize.
const changesFirstPage = 50

// UsersChangedSince yields the live users whose updated_at is at or after
// since (in the order of the walk: newest first). It fails with
// ErrNotIncremental when the server cannot list them reliably, notably on
// Snipe-IT before 7.1.14. updated_at moves only with a user's own columns:
// counts, group membership and the names of its department, location,
// company or manager change without it. seen, when given, receives what
// the walk saw besides the rows once the sequence has ended.
func (c *Client) UsersChangedSince(ctx context.Context, since time.Time, seen ...*Listing) iter.Seq2[*model.User, error] {
	return changesOf(ctx, c, usersListing("users_changed", nil), since, userUpdated, listingOf(seen))
}

// AllUsersChangedSince yields the users, live and soft-deleted (with
// DeletedAt set), whose updated_at is at or after since: GET
// /users?all=true (Snipe-IT 5 on) by updated_at, newest first. A soft
// delete and a restore move updated_at, so one listing holds every change
// of a user's own columns and state; seen.Total counts live and deleted
// users, so a drop that no new user explains is a purge. It fails with
// ErrNotIncremental as UsersChangedSince does.
func (c *Client) AllUsersChangedSince(ctx context.Context, since time.Time, seen ...*Listing) iter.Seq2[*model.User, error] {
	return changesOf(ctx, c, usersListing("users_all_changed", url.Values{"all": {"true"}}), since, userUpdated, listingOf(seen))
}

// UsersTotal is how many users, live and soft-deleted, Snipe-IT holds:
// the total of GET /users?all=true, one row asked for. seen, when given,
// receives it with the server's clock.
func (c *Client) UsersTotal(ctx context.Context, seen ...*Listing) (int64, error) {
	p, err := fetchPage(ctx, c, usersListing("users_total", url.Values{"all": {"true"}}), 0, 1)
	if err != nil {
		return 0, fmt.Errorf("count the users: %w", err)
	}
	note(listingOf(seen), &p, userUpdated)
	return p.total, nil
}

// DeletedUsersSince yields the soft-deleted users deleted (or otherwise
// changed) at or after since: GET /users?deleted=true by updated_at.
// Purged users are in no listing; only a full pass notices them.
func (c *Client) DeletedUsersSince(ctx context.Context, since time.Time, seen ...*Listing) iter.Seq2[*model.User, error] {
	return changesOf(ctx, c, usersListing("users_deleted", url.Values{"deleted": {"true"}}), since, userUpdated, listingOf(seen))
}

// AssetsChangedSince yields the live assets changed at or after since, from
// both listings a full pass reads: the default one and the archived one
// (an asset archived or unarchived meanwhile can come from both; keep the
// last) — only the default one where it shows archived assets too, as a
// full pass does. Hardware sorts by updated_at on every Snipe-IT version.
func (c *Client) AssetsChangedSince(ctx context.Context, since time.Time, seen ...*Listing) iter.Seq2[*model.Asset, error] {
	info := listingOf(seen)
	return func(yield func(*model.Asset, error) bool) {
		var archived Listing
		for i, l := range []listing[model.Asset]{
			assetsListing("hardware_changed", nil),
			assetsListing("hardware_archived_changed", url.Values{"status": {"Archived"}}),
		} {
			into := info
			if i == 1 {
				if info.ArchivedInDefault {
					return
				}
				into = &archived
			}
			stopped := false
			for a, err := range changesOf(ctx, c, l, since, assetUpdated, into) {
				if a != nil && i == 0 && a.Archived() {
					info.ArchivedInDefault = true
				}
				if !yield(a, err) || err != nil {
					stopped = true
					break
				}
			}
			info.ArchivedTotal = archived.Total
			if stopped {
				return
			}
		}
	}
}

// DeletedAssetsSince yields the soft-deleted assets deleted (or changed) at
// or after since: GET /hardware?status=Deleted by updated_at.
func (c *Client) DeletedAssetsSince(ctx context.Context, since time.Time, seen ...*Listing) iter.Seq2[*model.Asset, error] {
	return changesOf(ctx, c, assetsListing("hardware_deleted", url.Values{"status": {"Deleted"}}), since, assetUpdated, listingOf(seen))
}

// listingOf is the optional Listing of a call, or one nobody reads.
func listingOf(seen []*Listing) *Listing {
	if len(seen) > 0 && seen[0] != nil {
		return seen[0]
	}
	return &Listing{}
}

func usersListing(endpoint string, filter url.Values) listing[model.User] {
	return listing[model.User]{endpoint: endpoint, path: "/users", filter: filter, read: readUser,
		id: func(u *model.User) int64 { return u.ID }, fallback: inFirstNameOrder}
}

// inFirstNameOrder reports whether a page of users is in first_name order,
// descending, as Snipe-IT answers an unknown sort: users before 7.1.14,
// asked for updated_at. Rows whose updated_at happen to come in order (all
// equal but a few, on a site that rarely changes) cannot hide it then. At
// least eight different names make the test safe: a page sorted by
// updated_at is in name order by chance once in 40,320.
func inFirstNameOrder(rows []model.User) bool {
	for _, fold := range []func(string) string{func(s string) string { return s }, strings.ToLower} {
		names, ordered := 1, true
		for i := 1; i < len(rows) && ordered; i++ {
			a, b := fold(rows[i-1].FirstName), fold(rows[i].FirstName)
			ordered = a >= b
			if a != b {
				names++
			}
		}
		if ordered && names >= 8 {
			return true
		}
	}
	return false
}

func assetsListing(endpoint string, filter url.Values) listing[model.Asset] {
	return listing[model.Asset]{endpoint: endpoint, path: "/hardware", filter: filter, read: readAsset,
		id: func(a *model.Asset) int64 { return a.ID }}
}

func userUpdated(u *model.User) int64   { return unixOrNull(u.UpdatedAt) }
func assetUpdated(a *model.Asset) int64 { return unixOrNull(a.UpdatedAt) }

// unixOrNull is a datetime as a sort key; NULL sorts after everything in a
// descending sort, as in MySQL.
func unixOrNull(t *time.Time) int64 {
	if t == nil {
		return math.MinInt64
	}
	return t.Unix()
}

// note records a walk's first page in seen.
func note[T any](seen *Listing, p *page[T], key func(*T) int64) {
	seen.Total, seen.ServerTime, seen.Newest = p.total, p.served, 0
	if len(p.rows) > 0 {
		seen.Newest = key(&p.rows[0])
	}
}

// changesOf walks l by updated_at, newest first, down to since, and notes
// the first page's total and time in seen.
func changesOf[T any](ctx context.Context, c *Client, l listing[T], since time.Time, key func(*T) int64, seen *Listing) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		var problems fieldWarnings
		defer problems.report(c.log, l.endpoint)
		w := descWalk[T]{c: c, l: l, sort: "updated_at", key: key, stop: since.Unix(), yield: func(row *T) bool { return yield(row, nil) },
			problems: &problems, first: func(p *page[T]) { note(seen, p, key) }}
		if err := w.run(ctx); err != nil && !errors.Is(err, errStopped) {
			yield(nil, fmt.Errorf("list %s: %w", l.endpoint, err))
		}
	}
}

// descWalk walks a listing sorted by a key, descending, down to rows whose
// key is below stop, as the package comment above describes. The key need
// not be unique.
type descWalk[T any] struct {
	c        *Client
	l        listing[T]
	sort     string // the sort column asked for
	key      func(*T) int64
	stop     int64 // rows with a key below stop end the walk and are not yielded
	yield    func(*T) bool
	problems *fieldWarnings
	// first, when set, is told of the walk's first page.
	first func(*page[T])

	yielded map[int64]int64 // id → key of the version yielded
}

// maxShifts bounds the re-reads in a row that find the list moved again.
const maxShifts = 8

func (w *descWalk[T]) run(ctx context.Context) error {
	w.yielded = map[int64]int64{}
	limit := int64(min(changesFirstPage, w.c.cfg.PageSize))
	var (
		offset    int64
		anchor    int64 // the key the page at offset must start with; unset at offset 0
		back      int64 = 1
		shifts    int
		pages     int
		lastTotal int64 = -1
	)
	for {
		if pages++; pages > 10_000 {
			return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonShifting, Detail: "the walk does not end"}
		}
		p, err := fetchOrdered(ctx, w.c, w.l, w.sort, "desc", offset, limit)
		if err != nil {
			return err
		}
		if pages == 1 && w.first != nil {
			w.first(&p)
		}
		rows := p.rows
		for i := 1; i < len(rows); i++ {
			if w.key(&rows[i]) > w.key(&rows[i-1]) {
				return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonUnsorted, Detail: fmt.Sprintf(
					"rows at offset %d are not in descending %s order (ids %d, %d): the server does not sort by it",
					offset, w.sort, w.l.id(&rows[i-1]), w.l.id(&rows[i]))}
			}
		}
		if w.l.fallback != nil && w.l.fallback(rows) {
			return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonUnsorted, Detail: fmt.Sprintf(
				"the page at offset %d is in the server's default order, not by %s: the server does not sort by it", offset, w.sort)}
		}
		if lastTotal >= 0 && p.total != lastTotal {
			w.c.log.Info("snipe-it list changed while paging", "endpoint", w.l.endpoint, "total_before", lastTotal, "total", p.total)
		}
		lastTotal = p.total
		// Rows before the page vanished (it starts later in the order than
		// the row it should start with): step back and read again.
		if offset > 0 && (len(rows) == 0 || w.key(&rows[0]) < anchor) {
			if shifts++; shifts > maxShifts {
				return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonShifting, Detail: fmt.Sprintf(
					"the list keeps shifting at offset %d (total %d)", offset, p.total)}
			}
			w.c.log.Info("snipe-it list shifted while paging; reading again from further back",
				"endpoint", w.l.endpoint, "offset", offset, "back", back, "total", p.total)
			offset = max(0, offset-back)
			back *= 2
			continue
		}
		n := int64(len(rows))
		if n == 0 {
			return nil // an empty list
		}
		last := w.key(&rows[n-1])
		// Rows tied with the last one may continue on the next page: they
		// are read again there, within one consistent page.
		g := n - 1
		for g > 0 && w.key(&rows[g-1]) == last {
			g--
		}
		end := offset+n >= p.total
		if offset == 0 && g == 0 && !end {
			// The newest rows all share one updated_at, older than since or
			// not: a server that honours the sort says nothing changed
			// since, one that ignores it (and so orders by something else)
			// says nothing at all. Only a page that shows more can tell.
			if full := int64(w.c.cfg.PageSize); limit < full && n == limit {
				limit = full
				continue
			}
			return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonTies, Detail: fmt.Sprintf(
				"the first %d rows share one %s: the order cannot be checked", n, w.sort)}
		}
		done := end || last < w.stop
		settled := g
		if done {
			settled = n
		}
		emitted := map[int64]bool{}
		for i := range settled {
			ok, yielded := w.emit(&rows[i])
			if !ok {
				return errStopped
			}
			if yielded {
				emitted[w.l.id(&rows[i])] = true
			}
		}
		// Problems are counted for the rows yielded now, not again when a
		// re-read page repeats a row.
		for _, pr := range p.problems {
			if emitted[pr.id] {
				w.problems.add(pr)
			}
		}
		w.c.obs.Page(w.l.endpoint, int64(len(w.yielded)), p.total)
		if done {
			return nil
		}
		if g < 2 {
			// The page is (nearly) one tie group: there is no row to start
			// the next page at that would also read the whole group again.
			if full := int64(w.c.cfg.PageSize); limit < full && n == limit {
				limit = full // a larger page may hold the group
				continue
			}
			return &IncrementalError{Endpoint: w.l.endpoint, Reason: ReasonTies, Detail: fmt.Sprintf(
				"at least %d rows share the %s of row %d, more than a page of %d", n-g, w.sort, w.l.id(&rows[n-1]), n)}
		}
		offset += g - 1
		anchor = w.key(&rows[g-1])
		limit = int64(w.c.cfg.PageSize)
		shifts, back = 0, 1
	}
}

// emit yields row unless it was yielded before with the same key, or its
// key is below stop; it reports whether the walk may go on and whether the
// row was yielded.
func (w *descWalk[T]) emit(row *T) (ok, yielded bool) {
	k := w.key(row)
	if k < w.stop {
		return true, false
	}
	id := w.l.id(row)
	if prev, seen := w.yielded[id]; seen && prev == k {
		return true, false
	}
	w.yielded[id] = k
	return w.yield(row), true
}

// fetchOrdered gets one page of l sorted by column in order ("asc" or
// "desc"). An empty first page of a listing whose total is not zero is
// inconsistent and retried like any other body that is not data.
func fetchOrdered[T any](ctx context.Context, c *Client, l listing[T], column, order string, offset, limit int64) (page[T], error) {
	q := url.Values{}
	for k, v := range l.filter {
		q[k] = v
	}
	q.Set("sort", column)
	q.Set("order", order)
	q.Set("limit", strconv.FormatInt(limit, 10))
	q.Set("offset", strconv.FormatInt(offset, 10))
	var p page[T]
	err := c.get(ctx, l.endpoint, l.path, q, func(body []byte, served time.Time) error {
		var err error
		p, err = decodePage(body, c.cfg.Location, l.read)
		p.served = served
		if err == nil && offset == 0 && len(p.rows) == 0 && p.total > 0 {
			return fmt.Errorf("%w: total is %d but the first page is empty", errNotData, p.total)
		}
		return err
	})
	return p, err
}
