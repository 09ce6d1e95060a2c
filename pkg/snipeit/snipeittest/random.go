package snipeittest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
)

// RandomChange makes one change a busy Snipe-IT sees, picked with rng
// among the UI actions of this package: checkouts and checkins of assets,
// license seats and accessories, consumable checkouts, audits, edits,
// logins, manager and group changes, renames of departments, locations
// and companies, archiving, soft deletes, restores and purges, new users
// and assets. It returns what it did, e.g. "checkout asset 912 to user
// 42". An action that finds nothing to act on (no deleted user to
// restore) tries another; one that loses a race with a concurrent change
// returns its error. The same rng on the same data makes the same changes.
func (s *Server) RandomChange(rng *rand.Rand) (string, error) {
	for range 20 {
		if what, do := s.pickChange(rng); do != nil {
			return what, do()
		}
	}
	return "", fmt.Errorf("random change: nothing to change")
}

// pickChange chooses an action and its records; a nil func means the data
// offers nothing for the action chosen.
func (s *Server) pickChange(rng *rand.Rand) (string, func() error) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	st := s.store
	liveUsers := st.users.views[usersLive].rows
	deletedUsers := st.users.views[usersDeleted].rows
	liveAssets := st.assets.views[assetsLive].rows
	deletedAssets := st.assets.views[assetsDeleted].rows
	user := func() *User {
		if len(liveUsers) == 0 {
			return nil
		}
		return liveUsers[rng.IntN(len(liveUsers))].rec
	}
	asset := func(keep func(*Asset) bool) *Asset {
		for range 50 {
			if len(liveAssets) == 0 {
				return nil
			}
			if a := liveAssets[rng.IntN(len(liveAssets))].rec; keep(a) {
				return a
			}
		}
		return nil
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	anyAsset := func(*Asset) bool { return true }
	u := user()
	if u == nil {
		return "add user", s.addRandomUser(rng)
	}
	switch r := rng.IntN(100); {
	case r < 14:
		a := asset(func(a *Asset) bool {
			return a.AssignedTo == nil && a.Status != nil && a.Status.Type == StatusDeployable
		})
		if a == nil {
			return "", nil
		}
		return "checkout asset " + id(a.ID) + " to user " + id(u.ID), func() error { return s.CheckoutAsset(a.ID, u.ID) }
	case r < 26:
		a := asset(func(a *Asset) bool { return a.AssignedTo != nil })
		if a == nil {
			return "", nil
		}
		return "checkin asset " + id(a.ID), func() error { return s.CheckinAsset(a.ID) }
	case r < 30:
		a := asset(anyAsset)
		if a == nil {
			return "", nil
		}
		return "audit asset " + id(a.ID), func() error { return s.AuditAsset(a.ID) }
	case r < 42:
		city := choose(rng, []string{"Exampleville", "München", "Zürich", "Springfield", "東京"})
		return "update user " + id(u.ID), func() error {
			return s.UpdateUser(u.ID, func(u *User) { u.City, u.JobTitle = city, "Changed "+strconv.Itoa(rng.IntN(1000)) })
		}
	case r < 48:
		a := asset(anyAsset)
		if a == nil {
			return "", nil
		}
		note := "Changed " + strconv.Itoa(rng.IntN(1000))
		return "update asset " + id(a.ID), func() error { return s.UpdateAsset(a.ID, func(a *Asset) { a.Notes = note }) }
	case r < 54:
		if l := chooseItem(rng, st.licenses); l != nil && len(l.Seats) > 0 {
			if seat := l.Seats[rng.IntN(len(l.Seats))]; seat != 0 && rng.IntN(2) == 0 {
				return "checkin license " + id(l.ID) + " from user " + id(seat), func() error { return s.CheckinLicenseSeat(l.ID, seat) }
			}
			return "checkout license " + id(l.ID) + " to user " + id(u.ID), func() error { return s.CheckoutLicenseSeat(l.ID, u.ID) }
		}
	case r < 58:
		if a := chooseItem(rng, st.accessories); a != nil {
			if len(a.Checkouts) > 0 && rng.IntN(2) == 0 {
				from := a.Checkouts[rng.IntN(len(a.Checkouts))]
				return "checkin accessory " + id(a.ID) + " from user " + id(from), func() error { return s.CheckinAccessory(a.ID, from) }
			}
			return "checkout accessory " + id(a.ID) + " to user " + id(u.ID), func() error { return s.CheckoutAccessory(a.ID, u.ID) }
		}
	case r < 61:
		if c := chooseItem(rng, st.consumables); c != nil {
			return "checkout consumable " + id(c.ID) + " to user " + id(u.ID), func() error { return s.CheckoutConsumable(c.ID, u.ID) }
		}
	case r < 65:
		return "login user " + id(u.ID), func() error { return s.Login(u.ID) }
	case r < 68:
		m := user()
		return "set the manager of user " + id(u.ID) + " to " + id(m.ID), func() error { return s.SetManager(u.ID, m.ID) }
	case r < 70:
		groups := []Ref{{2, "Fake Staff"}, {8, "Contractors"}}[:rng.IntN(3)]
		return "set the groups of user " + id(u.ID), func() error { return s.SetGroups(u.ID, groups) }
	case r < 74:
		name := "Renamed " + strconv.Itoa(rng.IntN(1000))
		switch {
		case u.Department != nil && rng.IntN(3) == 0:
			return "rename department " + id(u.Department.ID), func() error { return s.RenameDepartment(u.Department.ID, name) }
		case u.Location != nil && rng.IntN(3) == 0:
			loc := u.Location.ID
			return "location " + id(loc) + " managed by user " + id(u.ID), func() error { return s.SetLocationManager(loc, u.ID) }
		case u.Location != nil && rng.IntN(2) == 0:
			return "rename location " + id(u.Location.ID), func() error { return s.RenameLocation(u.Location.ID, name) }
		case len(u.Companies) > 0:
			return "rename company " + id(u.Companies[0].ID), func() error { return s.RenameCompany(u.Companies[0].ID, name) }
		}
	case r < 78:
		a := asset(anyAsset)
		if a == nil {
			return "", nil
		}
		if a.archived() {
			return "unarchive asset " + id(a.ID), func() error { return s.UnarchiveAsset(a.ID) }
		}
		return "archive asset " + id(a.ID), func() error { return s.ArchiveAsset(a.ID) }
	case r < 83:
		return "delete user " + id(u.ID), func() error { return s.DeleteUser(u.ID) }
	case r < 86:
		if len(deletedUsers) == 0 {
			return "", nil
		}
		d := deletedUsers[rng.IntN(len(deletedUsers))].rec
		return "restore user " + id(d.ID), func() error { return s.RestoreUser(d.ID) }
	case r < 90:
		a := asset(func(a *Asset) bool { return a.AssignedTo == nil })
		if a == nil {
			return "", nil
		}
		return "delete asset " + id(a.ID), func() error { return s.DeleteAsset(a.ID) }
	case r < 92:
		if len(deletedAssets) == 0 {
			return "", nil
		}
		d := deletedAssets[rng.IntN(len(deletedAssets))].rec
		return "restore asset " + id(d.ID), func() error { return s.RestoreAsset(d.ID) }
	case r < 94:
		if len(deletedUsers) == 0 {
			return "", nil
		}
		d := deletedUsers[rng.IntN(len(deletedUsers))].rec
		return "purge user " + id(d.ID), func() error { return s.PurgeUser(d.ID) }
	case r < 97:
		return "add user", s.addRandomUser(rng)
	default:
		next := maxID(st.assets) + 1
		label := st.label(readyLabel())
		return "add asset " + id(next), func() error {
			return s.AddAsset(Asset{ID: next, AssetTag: "NEW-" + id(next), Status: &label})
		}
	}
	return "", nil
}

// addRandomUser adds a user after the highest id. Callers hold mu for
// reading.
func (s *Server) addRandomUser(rng *rand.Rand) func() error {
	next := maxID(s.store.users) + 1
	first := choose(rng, []string{"Neu", "Nouveau", "New", "Nuevo", "Новый"})
	return func() error {
		return s.AddUser(User{ID: next, FirstName: first, LastName: strconv.FormatInt(next, 10),
			Username: "new" + strconv.FormatInt(next, 10), Activated: true})
	}
}

func choose[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// chooseItem picks one of m's items by rng, in id order so that the
// choice does not depend on map iteration; nil when m is empty.
func chooseItem[T any](rng *rand.Rand, m map[int64]*T) *T {
	if len(m) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(m))
	return m[ids[rng.IntN(len(ids))]]
}
