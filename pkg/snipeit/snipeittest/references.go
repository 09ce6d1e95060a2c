package snipeittest

import (
	"cmp"
	"net/http"
	"time"
)

// reference is a department, location, company, asset model, status label
// or supplier: a row of its own in Snipe-IT, which users and assets show by
// name. Renaming one saves its row (its updated_at moves) and no user's or
// asset's.
type reference struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// An asset model's number, category and manufacturer: GET /models
	// shows them by their current names (a category's rename moves no
	// model's updated_at).
	ModelNumber  string
	Category     *Tagged
	Manufacturer *Tagged
	// A status label's type (deployable, pending, undeployable, archived).
	Type string
	// A location's manager (manager_id): a user id, 0 for none.
	ManagerID int64
}

// refKind names the reference listings.
type refKind int

const (
	refDepartments refKind = iota
	refLocations
	refCompanies
	refModels
	refStatusLabels
	refSuppliers
	refKinds // how many kinds there are
)

// register adds the reference id to kind's table if it is new there: its
// name is what the record showing it says, its times the record's
// creation, the earliest such one while loading. Callers hold mu.
func (s *store) register(kind refKind, id int64, name string, created time.Time) {
	if id == 0 {
		return
	}
	r := s.refs[kind][id]
	switch {
	case r == nil:
		s.refs[kind][id] = &reference{ID: id, Name: name, CreatedAt: created, UpdatedAt: created}
	case !created.IsZero() && (r.CreatedAt.IsZero() || created.Before(r.CreatedAt)) && r.CreatedAt.Equal(r.UpdatedAt):
		r.CreatedAt, r.UpdatedAt = created, created
	}
}

// registerUser registers the department, location and companies u shows.
func (s *store) registerUser(u *User) {
	if u == nil {
		return
	}
	if u.Department != nil {
		s.register(refDepartments, u.Department.ID, u.Department.Name, u.CreatedAt)
	}
	if u.Location != nil {
		s.register(refLocations, u.Location.ID, u.Location.Name, u.CreatedAt)
	}
	for _, c := range u.Companies {
		s.register(refCompanies, c.ID, c.Name, u.CreatedAt)
	}
}

// registerAsset registers the locations, company, model, status label and
// supplier a shows.
func (s *store) registerAsset(a *Asset) {
	if a == nil {
		return
	}
	if m := a.Model; m != nil && m.ID != 0 {
		s.register(refModels, m.ID, m.Name, a.CreatedAt)
		if r := s.refs[refModels][m.ID]; r.Category == nil && r.Manufacturer == nil && r.ModelNumber == "" {
			r.ModelNumber, r.Category, r.Manufacturer = m.ModelNumber, clonePtr(m.Category), clonePtr(m.Manufacturer)
		}
	}
	if l := a.Status; l != nil && l.ID != 0 {
		s.register(refStatusLabels, l.ID, l.Name, a.CreatedAt)
		if r := s.refs[refStatusLabels][l.ID]; r.Type == "" {
			r.Type = l.Type
		}
	}
	if sp := a.Supplier; sp != nil {
		s.register(refSuppliers, sp.ID, sp.Name, a.CreatedAt)
	}
	for _, l := range []*Tagged{a.Location, a.RTDLocation} {
		if l != nil {
			s.register(refLocations, l.ID, l.Name, a.CreatedAt)
		}
	}
	if t := a.AssignedTo; t != nil && t.Type == AssignedLocation {
		s.register(refLocations, t.ID, t.Name, a.CreatedAt)
	}
	if a.Company != nil {
		s.register(refCompanies, a.Company.ID, a.Company.Name, a.CreatedAt)
	}
}

// setLocationManager makes managerID (0: none) the manager of the
// location with id, moving the managers' manages_locations_count. Callers
// hold mu.
func (s *store) setLocationManager(id, managerID int64, now time.Time) bool {
	r := s.refs[refLocations][id]
	if r == nil {
		return false
	}
	if r.ManagerID == managerID {
		return true // nothing changed: the location is not saved
	}
	s.generation++
	next := *r
	next.ManagerID, next.UpdatedAt = managerID, now
	s.refs[refLocations][id] = &next
	s.countLocation(r.ManagerID, -1)
	s.countLocation(managerID, 1)
	return true
}

// countLocation adds delta to the manages_locations_count of managerID
// (0: nobody). Locations are never deleted here, so each one counts.
func (s *store) countLocation(managerID int64, delta int) {
	if managerID != 0 {
		s.counts.locations[managerID] += delta
		s.users.invalidate(managerID)
	}
}

// renameRef renames a reference as saving its row does. Callers hold mu.
func (s *store) renameRef(kind refKind, id int64, name string, now time.Time) bool {
	r := s.refs[kind][id]
	if r == nil {
		return false
	}
	next := *r
	next.Name, next.UpdatedAt = name, now
	s.refs[kind][id] = &next
	return true
}

// listReferences is GET /api/v1/departments, /locations, /companies,
// /models, /statuslabels or /suppliers: the rows of the transformer that
// matter to a mirror (id, name, a few counts, the dates; a model's number,
// category and manufacturer, a label's type), sorted by id, name,
// created_at or updated_at, paged like the other lists.
func (s *Server) listReferences(r *http.Request, kind refKind, shape listShape) response {
	q := r.URL.Query()
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	refs := make([]*reference, 0, len(s.store.refs[kind]))
	for _, ref := range s.store.refs[kind] {
		refs = append(refs, ref)
	}
	total := len(refs)
	if shape.empty {
		total = 0
	}
	offset, limit := s.paging(q, total)
	tz := s.cfg.Timezone
	var key func(a, b *reference) int
	switch q.Get("sort") {
	case "id":
		key = func(a, b *reference) int { return cmp.Compare(a.ID, b.ID) }
	case "name":
		key = func(a, b *reference) int { return cmp.Compare(a.Name, b.Name) }
	case "updated_at":
		key = func(a, b *reference) int { return cmp.Compare(wallClock(a.UpdatedAt, tz), wallClock(b.UpdatedAt, tz)) }
	default:
		key = func(a, b *reference) int { return cmp.Compare(wallClock(a.CreatedAt, tz), wallClock(b.CreatedAt, tz)) }
	}
	desc := sortDesc(q)
	seed := mix(s.store.generation ^ uint64(offset+limit)*0x9e3779b97f4a7c15)
	refs = firstSorted(refs, offset+limit, func(a, b *reference) int {
		c := key(a, b)
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(mix(uint64(a.ID)^seed), mix(uint64(b.ID)^seed)))
	})
	users, assets := s.refCounts(kind)
	return listResponse(s, r, false, total, offset, limit, refs[min(offset, len(refs)):min(offset+limit, len(refs))], shape, func(w *jsonWriter, ref *reference) {
		w.beginObject("")
		w.num("id", ref.ID)
		w.str("name", ref.Name)
		switch kind {
		case refModels:
			s.render.tagged(w, "manufacturer", ref.Manufacturer)
			w.null("image")
			w.strOrNull("model_number", ref.ModelNumber)
			w.num("assets_count", int64(assets[ref.ID]))
			s.render.tagged(w, "category", ref.Category)
		case refStatusLabels:
			w.plain("type", ref.Type)
			w.null("color")
			w.num("assets_count", int64(assets[ref.ID]))
		default:
			w.null("image")
			if kind != refDepartments {
				w.num("assets_count", int64(assets[ref.ID]))
			}
			if kind != refSuppliers {
				w.num("users_count", int64(users[ref.ID]))
			}
		}
		w.null("notes")
		w.datetime("created_at", ref.CreatedAt, tz)
		w.datetime("updated_at", ref.UpdatedAt, tz)
		if kind == refLocations {
			// The whole row of UsersTransformer, of a live manager
			// (belongsTo leaves soft-deleted users out), with the counts
			// it takes from withCount() at 0: the listing loads none.
			if m := s.store.user(ref.ManagerID); m != nil && m.DeletedAt.IsZero() {
				w.raw("manager", s.render.userRow(nil, m, uncounted{s.store}))
			} else {
				w.null("manager")
			}
		}
		w.beginObject("available_actions")
		w.boolean("update", true)
		w.boolean("delete", users[ref.ID]+assets[ref.ID] == 0)
		w.endObject()
		w.endObject()
	})
}

// uncounted are the relations of a user row loaded without withCount(),
// as GET /locations loads a location's manager: every count is 0.
type uncounted struct{ *store }

func (uncounted) assetsCount(int64, bool) int                               { return 0 }
func (uncounted) managesCount(int64) int                                    { return 0 }
func (uncounted) managedLocations(int64) int                                { return 0 }
func (uncounted) itemCounts(int64) (licenses, accessories, consumables int) { return 0, 0, 0 }

// refCounts counts the live users and assets that show each reference of
// kind. Callers hold mu.
func (s *Server) refCounts(kind refKind) (users, assets map[int64]int) {
	users, assets = map[int64]int{}, map[int64]int{}
	for _, r := range s.store.users.views[usersLive].rows {
		u := r.rec
		switch {
		case kind == refDepartments && u.Department != nil:
			users[u.Department.ID]++
		case kind == refLocations && u.Location != nil:
			users[u.Location.ID]++
		case kind == refCompanies:
			for _, c := range u.Companies {
				users[c.ID]++
			}
		}
	}
	for _, r := range s.store.assets.views[assetsLive].rows {
		a := r.rec
		switch {
		case kind == refLocations && a.Location != nil:
			assets[a.Location.ID]++
		case kind == refCompanies && a.Company != nil:
			assets[a.Company.ID]++
		case kind == refModels && a.Model != nil:
			assets[a.Model.ID]++
		case kind == refStatusLabels && a.Status != nil:
			assets[a.Status.ID]++
		case kind == refSuppliers && a.Supplier != nil:
			assets[a.Supplier.ID]++
		}
	}
	return users, assets
}
