package snipeittest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// row is one stored record with its rendered JSON. A changed record gets a
// new row, so a cached rendering never outlives the record it shows; rows
// whose rendering shows other records (a manager's name, a count) are
// invalidated when those change.
type row[R any] struct {
	rec   *R
	cache atomic.Pointer[[]byte]
}

// view is an id-ordered list of the rows a predicate keeps: the
// unfiltered listings (live users, deleted assets, …) are slices of a view,
// so paging them by id costs O(page).
type view[R any] struct {
	keep func(*R) bool
	rows []*row[R]
}

// rowCache accounts for the rendered rows kept, within a byte budget: a
// page is then a copy of kept bytes, and a huge data set cannot make the
// simulator keep gigabytes of JSON.
type rowCache struct {
	limit int64 // 0 or less: keep nothing
	used  atomic.Int64
}

// keepRow keeps b as r's rendering if the budget allows.
func keepRow[R any](c *rowCache, r *row[R], b []byte) {
	n := int64(len(b))
	if c.limit <= 0 {
		return
	}
	if c.used.Add(n) > c.limit {
		c.used.Add(-n)
		return
	}
	kept := slices.Clone(b)
	if !r.cache.CompareAndSwap(nil, &kept) { // a concurrent request kept it first
		c.used.Add(-n)
	}
}

// dropRow forgets r's rendering.
func dropRow[R any](c *rowCache, r *row[R]) {
	if p := r.cache.Swap(nil); p != nil {
		c.used.Add(-int64(len(*p)))
	}
}

// table holds the records of one kind by id and in their views.
type table[R any] struct {
	idOf  func(*R) int64
	cache *rowCache
	byID  map[int64]*row[R]
	views []*view[R]
}

func newTable[R any](cache *rowCache, idOf func(*R) int64, keeps ...func(*R) bool) *table[R] {
	t := &table[R]{idOf: idOf, cache: cache, byID: map[int64]*row[R]{}}
	for _, keep := range keeps {
		t.views = append(t.views, &view[R]{keep: keep})
	}
	return t
}

// load replaces the table's content with recs, which it keeps (pointers
// into the slice, never written to).
func (t *table[R]) load(recs []R) error {
	rows := make([]*row[R], len(recs))
	byID := make(map[int64]*row[R], len(recs))
	for i := range recs {
		r := &row[R]{rec: &recs[i]}
		id := t.idOf(r.rec)
		if _, dup := byID[id]; dup {
			return fmt.Errorf("duplicate id %d", id)
		}
		byID[id] = r
		rows[i] = r
	}
	slices.SortFunc(rows, t.compareRows)
	t.byID = byID
	for _, v := range t.views {
		v.rows = nil
		for _, r := range rows {
			if v.keep(r.rec) {
				v.rows = append(v.rows, r)
			}
		}
	}
	return nil
}

func (t *table[R]) compareRows(a, b *row[R]) int { return cmp.Compare(t.idOf(a.rec), t.idOf(b.rec)) }

func (t *table[R]) get(id int64) *R {
	if r := t.byID[id]; r != nil {
		return r.rec
	}
	return nil
}

// put inserts rec or replaces the record with its id.
func (t *table[R]) put(rec *R) {
	id := t.idOf(rec)
	t.remove(id)
	r := &row[R]{rec: rec}
	t.byID[id] = r
	for _, v := range t.views {
		if v.keep(rec) {
			i, _ := slices.BinarySearchFunc(v.rows, r, t.compareRows)
			v.rows = slices.Insert(v.rows, i, r)
		}
	}
}

// remove deletes the record with id, if any.
func (t *table[R]) remove(id int64) {
	old := t.byID[id]
	if old == nil {
		return
	}
	delete(t.byID, id)
	dropRow(t.cache, old)
	for _, v := range t.views {
		if i, found := slices.BinarySearchFunc(v.rows, old, t.compareRows); found {
			v.rows = slices.Delete(v.rows, i, i+1)
		}
	}
}

// invalidate drops the cached rendering of the record with id.
func (t *table[R]) invalidate(id int64) {
	if r := t.byID[id]; r != nil {
		dropRow(t.cache, r)
	}
}

// invalidateWhere drops the cached rendering of every record that shows.
func (t *table[R]) invalidateWhere(shows func(*R) bool) {
	for _, r := range t.byID {
		if shows(r.rec) {
			dropRow(t.cache, r)
		}
	}
}

// The views of the users table, in newTable order.
const (
	usersLive = iota
	usersDeleted
	usersAll
)

// The views of the assets table, in newTable order.
const (
	assetsListed   = iota // live and not archived: /hardware's default
	assetsArchived        // live and archived
	assetsLive
	assetsDeleted
)

// store is the simulator's database. Requests read it under mu.RLock;
// mutations hold mu.Lock.
type store struct {
	mu     sync.RWMutex
	cache  *rowCache
	users  *table[User]
	assets *table[Asset]
	// The checkable items a user's counts count. Records are replaced,
	// never written to, like users and assets.
	licenses    map[int64]*License
	accessories map[int64]*Accessory
	consumables map[int64]*Consumable
	// counts are what Snipe-IT computes with withCount(), kept up to date
	// on every change of the records they count.
	counts counts
	// refs are the departments, locations and companies users and assets
	// show, by kind and id.
	refs [refKinds]map[int64]*reference
	// log is the action log (GET /reports/activity), ascending id.
	log       []*LogEntry
	lastLogID int64
	// generation counts changes; it seeds the order of rows that tie on a
	// sort key, which in MySQL changes with the table's content.
	generation uint64
}

// counts map a record id to how many other records point at it.
type counts struct {
	assets        map[int64]int // user id → live assets checked out to the user
	trashedAssets map[int64]int // user id → soft-deleted assets still checked out to the user
	manages       map[int64]int // user id → live users with that manager
	locations     map[int64]int // user id → locations with that manager
	children      map[int64]int // asset id → live assets checked out to the asset
	seats         map[int64]int // user id → license seats checked out to the user
	accessories   map[int64]int // user id → accessory checkouts
	consumables   map[int64]int // user id → consumable checkouts
}

func newCounts() counts {
	return counts{assets: map[int64]int{}, trashedAssets: map[int64]int{}, manages: map[int64]int{},
		locations: map[int64]int{}, children: map[int64]int{}, seats: map[int64]int{}, accessories: map[int64]int{}, consumables: map[int64]int{}}
}

// newStore returns an empty store that keeps up to cacheBytes of rendered
// rows.
func newStore(cacheBytes int64) *store {
	liveUser := func(u *User) bool { return u.DeletedAt.IsZero() }
	liveAsset := func(a *Asset) bool { return a.DeletedAt.IsZero() }
	cache := &rowCache{limit: cacheBytes}
	return &store{
		cache: cache,
		users: newTable(cache, func(u *User) int64 { return u.ID },
			liveUser,
			func(u *User) bool { return !liveUser(u) },
			func(*User) bool { return true }),
		assets: newTable(cache, func(a *Asset) int64 { return a.ID },
			func(a *Asset) bool { return liveAsset(a) && !a.archived() },
			func(a *Asset) bool { return liveAsset(a) && a.archived() },
			liveAsset,
			func(a *Asset) bool { return !liveAsset(a) }),
		licenses:    map[int64]*License{},
		accessories: map[int64]*Accessory{},
		consumables: map[int64]*Consumable{},
		counts:      newCounts(),
		refs:        [refKinds]map[int64]*reference{{}, {}, {}, {}, {}, {}},
	}
}

// loadItems copies items into m by id and counts them.
func loadItems[T any, P checkable[T]](m map[int64]*T, items []T, count func(*T, int)) error {
	for i := range items {
		it := P(&items[i]).clone()
		if m[P(it).key()] != nil {
			return fmt.Errorf("duplicate id %d", P(it).key())
		}
		m[P(it).key()] = it
		count(it, 1)
	}
	return nil
}

// load replaces everything with ds (nil: empty), or nothing when ds is
// invalid. The action log starts empty.
func (s *store) load(ds *Dataset) error {
	if ds == nil {
		ds = &Dataset{}
	}
	next := newStore(s.cache.limit)
	if err := next.users.load(ds.Users); err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	if err := next.assets.load(ds.Assets); err != nil {
		return fmt.Errorf("load assets: %w", err)
	}
	if err := loadItems(next.licenses, ds.Licenses, next.countLicense); err != nil {
		return fmt.Errorf("load licenses: %w", err)
	}
	if err := loadItems(next.accessories, ds.Accessories, next.countAccessory); err != nil {
		return fmt.Errorf("load accessories: %w", err)
	}
	if err := loadItems(next.consumables, ds.Consumables, next.countConsumable); err != nil {
		return fmt.Errorf("load consumables: %w", err)
	}
	for _, r := range next.users.byID {
		next.countUser(r.rec, 1)
		next.registerUser(r.rec)
	}
	for _, r := range next.assets.byID {
		next.countAsset(r.rec, 1)
		next.registerAsset(r.rec)
	}
	for loc, manager := range ds.LocationManagers {
		r := next.refs[refLocations][loc]
		if r == nil {
			return fmt.Errorf("load location managers: no user or asset shows location %d", loc)
		}
		r.ManagerID = manager
		next.countLocation(manager, 1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The tables stay the same objects, which callers reach without the
	// lock; only what they hold changes.
	s.users.byID, s.users.views = next.users.byID, next.users.views
	s.assets.byID, s.assets.views = next.assets.byID, next.assets.views
	s.cache.used.Store(0) // the new rows have kept nothing yet
	s.licenses, s.accessories, s.consumables = next.licenses, next.accessories, next.consumables
	s.counts = next.counts
	s.refs = next.refs
	s.log, s.lastLogID = nil, 0
	s.generation++
	return nil
}

// setUser stores next as the user with id (nil purges it) and invalidates
// every rendering that shows the user. Callers hold mu.
func (s *store) setUser(id int64, next *User) {
	s.generation++
	s.registerUser(next)
	replace(s.users, id, next, s.countUser)
	s.users.invalidateWhere(func(u *User) bool { return u.ManagerID == id })
	s.assets.invalidateWhere(func(a *Asset) bool { return assignedTo(a, AssignedUser, id) })
}

// setAsset stores next as the asset with id (nil purges it) and invalidates
// every rendering that shows the asset. Callers hold mu.
func (s *store) setAsset(id int64, next *Asset) {
	s.generation++
	s.registerAsset(next)
	replace(s.assets, id, next, s.countAsset)
	s.assets.invalidateWhere(func(a *Asset) bool { return assignedTo(a, AssignedAsset, id) })
}

// setLicense, setAccessory and setConsumable store the new version of an
// item and move the counts of the users it is checked out to. Callers
// hold mu.
func (s *store) setLicense(next *License) {
	s.generation++
	s.countLicense(s.licenses[next.ID], -1)
	s.licenses[next.ID] = next
	s.countLicense(next, 1)
}

func (s *store) setAccessory(next *Accessory) {
	s.generation++
	s.countAccessory(s.accessories[next.ID], -1)
	s.accessories[next.ID] = next
	s.countAccessory(next, 1)
}

func (s *store) setConsumable(next *Consumable) {
	s.generation++
	s.countConsumable(s.consumables[next.ID], -1)
	s.consumables[next.ID] = next
	s.countConsumable(next, 1)
}

// replace swaps the record with id for next (nil: none), moving what the
// record counts towards from the old version to the new one.
func replace[R any](t *table[R], id int64, next *R, count func(*R, int)) {
	count(t.get(id), -1)
	if next == nil {
		t.remove(id)
	} else {
		t.put(next)
	}
	count(next, 1)
}

func assignedTo(a *Asset, typ AssignedType, id int64) bool {
	return a.AssignedTo != nil && a.AssignedTo.Type == typ && a.AssignedTo.ID == id
}

// countUser adds delta to what u counts towards: its manager's
// manages_users_count.
func (s *store) countUser(u *User, delta int) {
	if u == nil || !u.DeletedAt.IsZero() || u.ManagerID == 0 {
		return
	}
	s.counts.manages[u.ManagerID] += delta
	s.users.invalidate(u.ManagerID)
}

// countAsset adds delta to what a counts towards: the assets_count of the
// user it is checked out to (in trashedAssets while a is soft-deleted), or
// the child_asset_count of the asset.
func (s *store) countAsset(a *Asset, delta int) {
	if a == nil || a.AssignedTo == nil {
		return
	}
	id := a.AssignedTo.ID
	switch {
	case a.AssignedTo.Type == AssignedUser && a.DeletedAt.IsZero():
		s.counts.assets[id] += delta
		s.users.invalidate(id)
	case a.AssignedTo.Type == AssignedUser:
		s.counts.trashedAssets[id] += delta
		s.users.invalidate(id)
	case a.AssignedTo.Type == AssignedAsset && a.DeletedAt.IsZero():
		s.counts.children[id] += delta
		s.assets.invalidate(id)
	}
}

func (s *store) countLicense(l *License, delta int) {
	if l != nil {
		s.countUsers(s.counts.seats, l.Seats, delta)
	}
}

func (s *store) countAccessory(a *Accessory, delta int) {
	if a != nil {
		s.countUsers(s.counts.accessories, a.Checkouts, delta)
	}
}

func (s *store) countConsumable(c *Consumable, delta int) {
	if c != nil {
		s.countUsers(s.counts.consumables, c.Checkouts, delta)
	}
}

// countUsers adds delta to the count of every user in ids (0: nobody).
func (s *store) countUsers(count map[int64]int, ids []int64, delta int) {
	for _, id := range ids {
		if id != 0 {
			count[id] += delta
			s.users.invalidate(id)
		}
	}
}

// The relations a rendering reads; callers hold mu.
func (s *store) user(id int64) *User               { return s.users.get(id) }
func (s *store) asset(id int64) *Asset             { return s.assets.get(id) }
func (s *store) managesCount(userID int64) int     { return s.counts.manages[userID] }
func (s *store) managedLocations(userID int64) int { return s.counts.locations[userID] }
func (s *store) childAssets(assetID int64) int     { return s.counts.children[assetID] }

// assetsCount is a user's assets_count; withTrashed counts soft-deleted
// assets still checked out to the user, as Snipe-IT did before 7.1.16.
func (s *store) assetsCount(userID int64, withTrashed bool) int {
	n := s.counts.assets[userID]
	if withTrashed {
		n += s.counts.trashedAssets[userID]
	}
	return n
}

// itemCounts are a user's licenses_count, accessories_count and
// consumables_count.
func (s *store) itemCounts(userID int64) (licenses, accessories, consumables int) {
	return s.counts.seats[userID], s.counts.accessories[userID], s.counts.consumables[userID]
}
