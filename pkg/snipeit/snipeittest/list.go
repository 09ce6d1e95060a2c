package snipeittest

import (
	"cmp"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listShape says how a list response is built: as Snipe-IT would (the
// zero value), or bent by a fault.
type listShape struct {
	noRows   bool // the envelope without its rows key
	empty    bool // total 0 and no rows, whatever the data
	blank    bool // the real total, but rows: []
	unsorted bool // the page's rows in descending id order
	maxRows  int  // > 0: at most this many of the page's rows
	halve    bool // only the first half of the page's rows
}

var (
	shapeNormal = listShape{}
	shapeNoRows = listShape{noRows: true}
	shapeEmpty  = listShape{empty: true}
	shapeBlank  = listShape{blank: true}
	shapeUnsort = listShape{unsorted: true}
)

// listPlan is how one list request selects and orders records: a view,
// extra filters, and a sort (nil: by id).
type listPlan[R any] struct {
	view    int
	filters []func(*R) bool
	sort    func(a, b *R) int
	desc    bool
}

// where adds an exact-match filter for a query parameter, if it is given.
func (p *listPlan[R]) where(q url.Values, param string, value func(*R) string) {
	want := q.Get(param)
	if want == "" {
		return
	}
	p.filters = append(p.filters, func(r *R) bool { return value(r) == want })
}

// search adds the free-text filter: a case-insensitive substring of any of
// the fields. Snipe-IT ignores search when filter is given.
func (p *listPlan[R]) search(q url.Values, fields func(*R) []string) {
	needle := strings.ToLower(q.Get("search"))
	if needle == "" || q.Get("filter") != "" {
		return
	}
	p.filters = append(p.filters, func(r *R) bool {
		for _, f := range fields(r) {
			if strings.Contains(strings.ToLower(f), needle) {
				return true
			}
		}
		return false
	})
}

// ordering is a plan's result: rows in id order (possibly to be read
// backwards) or sorted.
type ordering[R any] struct {
	rows     []*row[R]
	reversed bool
}

// selectRows returns the rows a plan keeps, in id order. Without filters
// it is a view itself, so paging by id costs O(page).
func (p listPlan[R]) selectRows(t *table[R]) []*row[R] {
	base := t.views[p.view].rows
	if len(p.filters) == 0 {
		return base
	}
	var rows []*row[R]
	for _, r := range base {
		if keepAll(p.filters, r.rec) {
			rows = append(rows, r)
		}
	}
	return rows
}

// order sorts the selected rows for a page that ends at end (offset +
// limit), as MySQL's filesort does under a non-unique ORDER BY: rows that
// tie on the sort key come in an order that depends on the query's window
// (a LIMIT query keeps a priority queue of offset+limit rows) and on the
// table's content, so two pages of one listing disagree about ties, and so
// does a page asked again after any change; the same query on unchanged
// data repeats itself. Only the first end rows are put in order.
func (p listPlan[R]) order(t *table[R], rows []*row[R], end int, seed uint64) ordering[R] {
	if p.sort == nil {
		return ordering[R]{rows: rows, reversed: p.desc}
	}
	seed = mix(seed ^ uint64(end)*0x9e3779b97f4a7c15)
	less := func(a, b *row[R]) int {
		c := p.sort(a.rec, b.rec)
		if p.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(mix(uint64(t.idOf(a.rec))^seed), mix(uint64(t.idOf(b.rec))^seed))
	}
	return ordering[R]{rows: firstSorted(rows, end, less)}
}

// firstSorted returns the first n of rows in the order cmp gives (a new
// slice; rows is not changed): a bounded selection when n is small, as a
// first page usually is, else a full sort.
func firstSorted[T any](rows []T, n int, cmp func(a, b T) int) []T {
	if n >= len(rows)/4 {
		out := slices.Clone(rows)
		slices.SortFunc(out, cmp)
		return out
	}
	// A max-heap of the n smallest so far: the root is the largest kept.
	h := make([]T, 0, n+1)
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			if r := l + 1; r < len(h) && cmp(h[r], h[l]) > 0 {
				l = r
			}
			if cmp(h[l], h[i]) <= 0 {
				return
			}
			h[i], h[l] = h[l], h[i]
			i = l
		}
	}
	for _, r := range rows {
		switch {
		case len(h) < n:
			h = append(h, r)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if cmp(h[i], h[parent]) <= 0 {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
		case n > 0 && cmp(r, h[0]) < 0:
			h[0] = r
			down(0)
		}
	}
	slices.SortFunc(h, cmp)
	return h
}

func keepAll[R any](filters []func(*R) bool, rec *R) bool {
	for _, keep := range filters {
		if !keep(rec) {
			return false
		}
	}
	return true
}

// mix is splitmix64's finaliser, a bijection: it shuffles ties without
// ever making two ids equal.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// page returns rows [offset, offset+limit) of the ordering.
func (o ordering[R]) page(offset, limit int) []*row[R] {
	n := len(o.rows)
	end := min(offset+limit, n)
	if offset >= end {
		return nil
	}
	if !o.reversed {
		return o.rows[offset:end]
	}
	out := make([]*row[R], 0, end-offset)
	for i := offset; i < end; i++ {
		out = append(out, o.rows[n-1-i])
	}
	return out
}

// listPage builds a list response: DatatablesTransformer's envelope around
// the page of rows the query asks for.
func listPage[R any](s *Server, r *http.Request, t *table[R], plan listPlan[R], render func([]byte, *R) []byte, shape listShape) response {
	q := r.URL.Query()
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	selected := plan.selectRows(t)
	total := len(selected)
	if shape.empty {
		total = 0
	}
	offset, limit := s.paging(q, total)
	ordered := plan.order(t, selected, offset+limit, s.store.generation)
	return listResponse(s, r, false, total, offset, limit, ordered.page(offset, limit), shape, func(w *jsonWriter, row *row[R]) {
		w.field("")
		w.b = appendRow(w.b, row, s.store.cache, render)
	})
}

// listResponse writes DatatablesTransformer's envelope: the total, the
// page's rows (as a fault's shape bends them) and 8.6's page metadata;
// non-ASCII stays as it is when unicode is set.
func listResponse[T any](s *Server, r *http.Request, unicode bool, total, offset, limit int, page []T, shape listShape, writeRow func(*jsonWriter, T)) response {
	buf := s.getBuf()
	w := jsonWriter{b: (*buf)[:0], unicode: unicode}
	w.beginObject("")
	w.num("total", int64(total))
	if !shape.noRows {
		w.beginArray("rows")
		if !shape.empty && !shape.blank {
			if shape.halve && len(page) > 1 {
				page = page[:len(page)/2]
			}
			if shape.maxRows > 0 && len(page) > shape.maxRows {
				page = page[:shape.maxRows]
			}
			if shape.unsorted {
				page = slices.Clone(page)
				slices.Reverse(page)
			}
			for _, row := range page {
				writeRow(&w, row)
			}
		}
		w.endArray()
	}
	if s.cfg.Version.newest() {
		pageMeta(&w, r, total, offset, limit)
	}
	w.endObject()
	*buf = w.b
	return response{status: http.StatusOK, contentType: contentJSON, body: w.b, buf: buf}
}

// showRecord builds the response of GET /users/{id} or /hardware/{id}: the
// row itself, soft-deleted ones included, or Snipe-IT's HTTP 200 error
// envelope.
func showRecord[R any](s *Server, t *table[R], id string, render func([]byte, *R) []byte, notFound string) response {
	n, err := strconv.ParseInt(id, 10, 64)
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	r := t.byID[n]
	if err != nil || r == nil {
		return envelope(http.StatusOK, notFound)
	}
	buf := s.getBuf()
	*buf = appendRow((*buf)[:0], r, s.store.cache, render)
	return response{status: http.StatusOK, contentType: contentJSON, body: *buf, buf: buf}
}

// appendRow appends the row's JSON: its kept rendering, or a new one,
// kept if the cache has room.
func appendRow[R any](b []byte, r *row[R], cache *rowCache, render func([]byte, *R) []byte) []byte {
	if kept := r.cache.Load(); kept != nil {
		return append(b, *kept...)
	}
	start := len(b)
	b = render(b, r.rec)
	keepRow(cache, r, b[start:])
	return b
}

func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (s *Server) release(resp response) {
	if resp.buf != nil {
		s.bufs.Put(resp.buf)
	}
}

// paging turns limit, offset and page into the rows to send, as the
// configured version sanitises them.
func (s *Server) paging(q url.Values, total int) (offset, limit int) {
	maxResults := s.cfg.MaxResults
	if s.cfg.Version.sanitisesPaging() {
		// v6.1+: abs(intval()); 0, garbage and anything over the cap give the cap.
		limit = abs(phpIntval(q.Get("limit")))
		if limit == 0 || limit > maxResults {
			limit = maxResults
		}
		switch {
		case filled(q, "offset"):
			offset = abs(phpIntval(q.Get("offset")))
		case s.cfg.Version.newest() && filled(q, "page"):
			offset = (max(phpIntval(q.Get("page")), 1) - 1) * limit
		}
	} else {
		// v4.7.7–v6.0: a filled limit up to the cap is used as given, so
		// limit=0 (or garbage) means no rows at all.
		limit = maxResults
		if filled(q, "limit") {
			if n := phpIntval(q.Get("limit")); n >= 0 && n <= maxResults {
				limit = n
			}
		}
		offset = max(phpIntval(q.Get("offset")), 0)
	}
	if offset > total {
		offset = total
		if s.cfg.LegacyOffsetReset {
			offset = 0
		}
	}
	return offset, limit
}

// pageMeta writes 8.6's page metadata.
func pageMeta(w *jsonWriter, r *http.Request, total, offset, limit int) {
	current := offset/limit + 1
	pages := (total + limit - 1) / limit
	w.num("current_page", int64(current))
	w.num("per_page", int64(limit))
	w.num("total_pages", int64(pages))
	if current > 1 {
		w.plain("prev_page_url", pageURL(r, limit, current-1))
	} else {
		w.null("prev_page_url")
	}
	if current < pages {
		w.plain("next_page_url", pageURL(r, limit, current+1))
	} else {
		w.null("next_page_url")
	}
}

// pageURL is request()->url() with the query minus page and offset, plus
// page and limit: http_build_query keeps limit where it was and appends
// what is new.
func pageURL(r *http.Request, limit, page int) string {
	var parts []string
	hadLimit := false
	for kv := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		val, _ := url.QueryUnescape(v)
		switch key {
		case "page", "offset":
			continue
		case "limit":
			if hadLimit {
				continue
			}
			hadLimit, val = true, strconv.Itoa(limit)
		}
		parts = append(parts, url.QueryEscape(key)+"="+url.QueryEscape(val))
	}
	parts = append(parts, "page="+strconv.Itoa(page))
	if !hadLimit {
		parts = append(parts, "limit="+strconv.Itoa(limit))
	}
	return requestOrigin(r) + r.URL.Path + "?" + strings.Join(parts, "&")
}

// filled is Laravel's $request->filled(): present and not blank.
func filled(q url.Values, key string) bool { return strings.TrimSpace(q.Get(key)) != "" }

// phpIntval is PHP's intval() of a query string: leading blanks, a sign,
// then digits; anything else ends the number, no digits is 0. It is
// bounded far below overflow.
func phpIntval(s string) int {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	const bound = 1 << 40
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = min(n*10+int(s[i]-'0'), bound)
	}
	if neg {
		return -n
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// sortDesc is Snipe-IT's $order: asc only when asked for exactly.
func sortDesc(q url.Values) bool { return q.Get("order") != "asc" }

func (s *Server) listUsers(r *http.Request, shape listShape) response {
	return listPage(s, r, s.store.users, s.usersPlan(r.URL.Query()), s.appendUser, shape)
}

func (s *Server) listAssets(r *http.Request, shape listShape) response {
	return listPage(s, r, s.store.assets, s.assetsPlan(r.URL.Query()), s.appendAsset, shape)
}

func (s *Server) showUser(id string) response {
	return showRecord(s, s.store.users, id, s.appendUser, "User not found")
}

func (s *Server) showAsset(id string) response {
	return showRecord(s, s.store.assets, id, s.appendAsset, "Asset does not exist.")
}

func (s *Server) appendUser(b []byte, u *User) []byte   { return s.render.userRow(b, u, s.store) }
func (s *Server) appendAsset(b []byte, a *Asset) []byte { return s.render.assetRow(b, a, s.store) }

// usersPlan is UsersController::index's selection and order.
func (s *Server) usersPlan(q url.Values) listPlan[User] {
	p := listPlan[User]{view: usersLive, desc: sortDesc(q)}
	switch {
	case q.Get("deleted") == "true":
		p.view = usersDeleted
	case q.Get("all") == "true":
		p.view = usersAll
	}
	p.search(q, func(u *User) []string {
		return []string{u.FirstName, u.LastName, u.DisplayName, u.Username, u.Email, u.EmployeeNum, u.JobTitle}
	})
	p.where(q, "department_id", func(u *User) string {
		if u.Department == nil {
			return ""
		}
		return idString(&u.Department.Tagged)
	})
	p.where(q, "location_id", func(u *User) string { return idString(u.Location) })
	p.where(q, "manager_id", func(u *User) string { return strconv.FormatInt(u.ManagerID, 10) })
	p.where(q, "username", func(u *User) string { return u.Username })
	p.where(q, "email", func(u *User) string { return u.Email })
	p.where(q, "first_name", func(u *User) string { return u.FirstName })
	p.where(q, "last_name", func(u *User) string { return u.LastName })
	p.where(q, "employee_num", func(u *User) string { return u.EmployeeNum })
	p.where(q, "activated", func(u *User) string { return boolString(u.Activated) })
	if want := q.Get("company_id"); want != "" {
		p.filters = append(p.filters, func(u *User) bool {
			return slices.ContainsFunc(u.Companies, func(c Tagged) bool { return idString(&c) == want })
		})
	}
	v := s.cfg.Version
	switch sort := q.Get("sort"); {
	case sort == "id":
	case sort == "first_name" && v.v6Rows():
		// From v7 an explicit first_name sort has last_name as a second
		// key; the default one has none, so its ties move around.
		p.sort = func(a, b *User) int {
			return cmp.Or(cmp.Compare(a.FirstName, b.FirstName), cmp.Compare(a.LastName, b.LastName))
		}
	case sort == "updated_at" && !v.sortsUsersByUpdatedAt():
		// Not an allowed column before 7.1.14: the default, silently.
		p.sort = userSort("first_name", s.cfg.Timezone)
	default:
		p.sort = userSort(sort, s.cfg.Timezone)
	}
	return p
}

// userSort is the comparison of an allowed users sort column; unknown
// columns fall back to first_name. Datetimes compare as MySQL compares
// DATETIME columns: by their wall-clock value in the server's timezone.
func userSort(column string, tz *time.Location) func(a, b *User) int {
	field := func(get func(*User) string) func(a, b *User) int {
		return func(a, b *User) int { return cmp.Compare(get(a), get(b)) }
	}
	datetime := func(get func(*User) time.Time) func(a, b *User) int {
		return func(a, b *User) int { return cmp.Compare(wallClock(get(a), tz), wallClock(get(b), tz)) }
	}
	switch column {
	case "last_name":
		return field(func(u *User) string { return u.LastName })
	case "username":
		return field(func(u *User) string { return u.Username })
	case "email":
		return field(func(u *User) string { return u.Email })
	case "employee_num":
		return field(func(u *User) string { return u.EmployeeNum })
	case "jobtitle":
		return field(func(u *User) string { return u.JobTitle })
	case "display_name":
		return field(func(u *User) string { return u.DisplayName })
	case "created_at":
		return datetime(func(u *User) time.Time { return u.CreatedAt })
	case "updated_at":
		return datetime(func(u *User) time.Time { return u.UpdatedAt })
	case "last_login":
		return datetime(func(u *User) time.Time { return u.LastLogin })
	}
	return field(func(u *User) string { return u.FirstName })
}

// wallClock is a datetime as MySQL stores it in a DATETIME column: its
// wall clock in tz, to the second, comparable as a number. A zero time is
// NULL, which sorts first. Around a daylight-saving change the wall clock
// runs backwards for an hour, and so does the sort.
func wallClock(t time.Time, tz *time.Location) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	y, mo, d := t.In(tz).Date()
	h, mi, sec := t.In(tz).Clock()
	return time.Date(y, mo, d, h, mi, sec, 0, time.UTC).Unix()
}

// assetsPlan is AssetsController::index's selection and order.
func (s *Server) assetsPlan(q url.Values) listPlan[Asset] {
	p := listPlan[Asset]{view: assetsListed, desc: sortDesc(q)}
	if s.cfg.ShowArchivedInList || q.Get("status_id") != "" {
		p.view = assetsLive
	}
	onLive := func(keep func(*Asset) bool) {
		p.view = assetsLive
		p.filters = append(p.filters, keep)
	}
	statusIs := func(a *Asset, types ...string) bool {
		return a.Status != nil && slices.Contains(types, a.Status.Type)
	}
	switch q.Get("status") {
	case "Deleted":
		p.view = assetsDeleted
	case "Archived":
		p.view = assetsArchived
	case "Pending":
		onLive(func(a *Asset) bool { return statusIs(a, StatusPending) })
	case "RTD":
		onLive(func(a *Asset) bool { return a.AssignedTo == nil && statusIs(a, StatusDeployable) })
	case "Undeployable":
		onLive(func(a *Asset) bool { return statusIs(a, StatusUndeployable) })
	case "Deployed":
		onLive(func(a *Asset) bool { return a.AssignedTo != nil })
	case "Requestable":
		onLive(func(a *Asset) bool { return a.Requestable && statusIs(a, StatusDeployable, StatusPending) })
	case "byod":
		onLive(func(a *Asset) bool { return a.Byod })
	}
	p.search(q, func(a *Asset) []string {
		fields := []string{a.Name, a.AssetTag, a.Serial, a.OrderNumber, a.Notes}
		if a.Model != nil {
			fields = append(fields, a.Model.Name)
		}
		return fields
	})
	model := func(a *Asset) *AssetModel {
		if a.Model == nil {
			return &AssetModel{}
		}
		return a.Model
	}
	p.where(q, "status_id", func(a *Asset) string {
		if a.Status == nil {
			return ""
		}
		return strconv.FormatInt(a.Status.ID, 10)
	})
	p.where(q, "model_id", func(a *Asset) string {
		if a.Model == nil {
			return ""
		}
		return strconv.FormatInt(a.Model.ID, 10)
	})
	p.where(q, "category_id", func(a *Asset) string { return idString(model(a).Category) })
	p.where(q, "manufacturer_id", func(a *Asset) string { return idString(model(a).Manufacturer) })
	p.where(q, "location_id", func(a *Asset) string { return idString(a.Location) })
	p.where(q, "rtd_location_id", func(a *Asset) string { return idString(a.RTDLocation) })
	p.where(q, "company_id", func(a *Asset) string { return idString(a.Company) })
	p.where(q, "supplier_id", func(a *Asset) string { return idString(a.Supplier) })
	p.where(q, "asset_tag", func(a *Asset) string { return a.AssetTag })
	p.where(q, "serial", func(a *Asset) string { return a.Serial })
	p.where(q, "order_number", func(a *Asset) string { return a.OrderNumber })
	if sort := q.Get("sort"); sort != "id" {
		p.sort = assetSort(sort, s.cfg.Timezone)
	}
	return p
}

// assetSort is the comparison of an allowed hardware sort column; unknown
// columns fall back to created_at. Every modelled version allows id,
// created_at and updated_at.
func assetSort(column string, tz *time.Location) func(a, b *Asset) int {
	field := func(get func(*Asset) string) func(a, b *Asset) int {
		return func(a, b *Asset) int { return cmp.Compare(get(a), get(b)) }
	}
	datetime := func(get func(*Asset) time.Time) func(a, b *Asset) int {
		return func(a, b *Asset) int { return cmp.Compare(wallClock(get(a), tz), wallClock(get(b), tz)) }
	}
	switch column {
	case "name":
		return field(func(a *Asset) string { return a.Name })
	case "asset_tag":
		return field(func(a *Asset) string { return a.AssetTag })
	case "serial":
		return field(func(a *Asset) string { return a.Serial })
	case "updated_at":
		return datetime(func(a *Asset) time.Time { return a.UpdatedAt })
	case "last_audit_date":
		return datetime(func(a *Asset) time.Time { return a.LastAuditDate })
	case "purchase_date":
		return func(a, b *Asset) int { return a.PurchaseDate.Compare(b.PurchaseDate) }
	case "purchase_cost":
		return func(a, b *Asset) int { return cmp.Compare(centsOrMinus(a.PurchaseCost), centsOrMinus(b.PurchaseCost)) }
	}
	return datetime(func(a *Asset) time.Time { return a.CreatedAt })
}

// centsOrMinus sorts a missing cost first, as MySQL sorts NULL.
func centsOrMinus(c *int64) int64 {
	if c == nil {
		return -1
	}
	return *c
}

func idString(t *Tagged) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(t.ID, 10)
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
