package snipeittest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/usersync/usersync/pkg/model"
)

// Checkouts of license seats, accessories and consumables change a user's
// licenses_count, accessories_count or consumables_count, which Snipe-IT
// counts when it reads the user: the user's row and updated_at stay as
// they are. Each is logged ("checkout" or "checkin from", item the
// license, accessory or consumable, target the user) and sends its
// webhook.

// CheckoutLicenseSeat checks a free seat of the license out to a live
// user.
func (s *Server) CheckoutLicenseSeat(licenseID, userID int64) error {
	return s.apply(func(t *tx) error {
		l := s.store.licenses[licenseID]
		if l == nil {
			return fmt.Errorf("checkout license %d: %w", licenseID, model.ErrNotFound)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("checkout license %d: %w", licenseID, err)
		}
		seat := slices.Index(l.Seats, 0)
		if seat < 0 {
			return fmt.Errorf("checkout license %d: %w: no free seat", licenseID, model.ErrConflict)
		}
		next := l.clone()
		next.Seats[seat] = userID
		s.store.setLicense(next)
		t.log(LogEntry{Action: ActionCheckout, ItemType: TypeLicense, ItemID: licenseID, TargetType: TypeUser, TargetID: userID})
		t.notify(s.itemMessage(":arrow_up: :floppy_disk: License Checked Out", "licenses", licenseID, l.Name, u, t.admin()))
		return nil
	})
}

// CheckinLicenseSeat frees a seat of the license checked out to the user.
func (s *Server) CheckinLicenseSeat(licenseID, userID int64) error {
	return s.apply(func(t *tx) error {
		l := s.store.licenses[licenseID]
		if l == nil {
			return fmt.Errorf("checkin license %d: %w", licenseID, model.ErrNotFound)
		}
		seat := slices.Index(l.Seats, userID)
		if seat < 0 || userID == 0 {
			return fmt.Errorf("checkin license %d: %w: no seat is checked out to user %d", licenseID, model.ErrConflict, userID)
		}
		next := l.clone()
		next.Seats[seat] = 0
		s.store.setLicense(next)
		t.log(LogEntry{Action: ActionCheckin, ItemType: TypeLicense, ItemID: licenseID, TargetType: TypeUser, TargetID: userID})
		t.notify(s.itemMessage(":arrow_down: :floppy_disk: License checked in", "licenses", licenseID, l.Name, s.store.user(userID), t.admin()))
		return nil
	})
}

// CheckoutAccessory checks one of the accessory out to a live user, while
// stock remains.
func (s *Server) CheckoutAccessory(accessoryID, userID int64) error {
	return s.apply(func(t *tx) error {
		a := s.store.accessories[accessoryID]
		if a == nil {
			return fmt.Errorf("checkout accessory %d: %w", accessoryID, model.ErrNotFound)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("checkout accessory %d: %w", accessoryID, err)
		}
		if len(a.Checkouts) >= a.Qty {
			return fmt.Errorf("checkout accessory %d: %w: none left", accessoryID, model.ErrConflict)
		}
		next := a.clone()
		next.Checkouts = append(next.Checkouts, userID)
		s.store.setAccessory(next)
		t.log(LogEntry{Action: ActionCheckout, ItemType: TypeAccessory, ItemID: accessoryID, TargetType: TypeUser, TargetID: userID})
		title := a.Name
		if s.cfg.Version.v8Rows() {
			title = "1 x " + title // checkout_qty
		}
		t.notify(s.itemMessage(":arrow_up: :keyboard: Accessory Checked Out", "accessories", accessoryID, title, u, t.admin()))
		return nil
	})
}

// CheckinAccessory checks one of the accessory in from the user.
func (s *Server) CheckinAccessory(accessoryID, userID int64) error {
	return s.apply(func(t *tx) error {
		a := s.store.accessories[accessoryID]
		if a == nil {
			return fmt.Errorf("checkin accessory %d: %w", accessoryID, model.ErrNotFound)
		}
		i := slices.Index(a.Checkouts, userID)
		if i < 0 {
			return fmt.Errorf("checkin accessory %d: %w: not checked out to user %d", accessoryID, model.ErrConflict, userID)
		}
		next := a.clone()
		next.Checkouts = slices.Delete(next.Checkouts, i, i+1)
		s.store.setAccessory(next)
		t.log(LogEntry{Action: ActionCheckin, ItemType: TypeAccessory, ItemID: accessoryID, TargetType: TypeUser, TargetID: userID})
		t.notify(s.itemMessage(":arrow_down: :keyboard: Accessory checked in", "accessories", accessoryID, a.Name, s.store.user(userID), t.admin()))
		return nil
	})
}

// CheckoutConsumable hands one of the consumable to a live user, while
// stock remains. Consumables are never checked in.
func (s *Server) CheckoutConsumable(consumableID, userID int64) error {
	return s.apply(func(t *tx) error {
		c := s.store.consumables[consumableID]
		if c == nil {
			return fmt.Errorf("checkout consumable %d: %w", consumableID, model.ErrNotFound)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("checkout consumable %d: %w", consumableID, err)
		}
		if len(c.Checkouts) >= c.Qty {
			return fmt.Errorf("checkout consumable %d: %w: none left", consumableID, model.ErrConflict)
		}
		next := c.clone()
		next.Checkouts = append(next.Checkouts, userID)
		s.store.setConsumable(next)
		t.log(LogEntry{Action: ActionCheckout, ItemType: TypeConsumable, ItemID: consumableID, TargetType: TypeUser, TargetID: userID})
		t.notify(s.itemMessage(":arrow_up: :paperclip: Consumable Checked Out", "consumables", consumableID, c.Name, u, t.admin()))
		return nil
	})
}

// Licenses, Accessories and Consumables return the items as stored now.
func (s *Server) Licenses() []License { return items(s, s.store.licenses) }

// Accessories returns the accessories as stored now.
func (s *Server) Accessories() []Accessory { return items(s, s.store.accessories) }

// Consumables returns the consumables as stored now.
func (s *Server) Consumables() []Consumable { return items(s, s.store.consumables) }

// cloner is a pointer to a record that copies itself deeply.
type cloner[T any] interface {
	*T
	clone() *T
}

// checkable is a license, an accessory or a consumable.
type checkable[T any] interface {
	cloner[T]
	key() int64
}

func (l *License) key() int64    { return l.ID }
func (a *Accessory) key() int64  { return a.ID }
func (c *Consumable) key() int64 { return c.ID }

func items[T any, P checkable[T]](s *Server, m map[int64]*T) []T {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	out := make([]T, 0, len(m))
	for _, it := range m {
		out = append(out, *P(it).clone())
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(P(&a).key(), P(&b).key()) })
	return out
}

// Renaming a department, location, company, model, status label,
// supplier, category or manufacturer changes the name every row that shows
// it renders, and bumps no user's or asset's updated_at: Snipe-IT stores
// only the id in a user or an asset and joins the name when it reads. The
// renamed record's own row is saved (GET /departments, /locations,
// /companies, /models, /statuslabels, /suppliers show the new name and
// updated_at; a category or manufacturer shows in /models, whose rows are
// not saved). Nothing is logged and no webhook is sent. Each fails with
// model.ErrNotFound for an id nothing knows.

// RenameDepartment renames the department with id.
func (s *Server) RenameDepartment(id int64, name string) error {
	return s.rename("department", refDepartments, id, name, func(u *User) bool {
		if u.Department == nil || u.Department.ID != id {
			return false
		}
		u.Department.Name = name
		return true
	}, nil)
}

// RenameLocation renames the location with id: users' location, assets'
// location and default location, and the target of assets checked out to
// it.
func (s *Server) RenameLocation(id int64, name string) error {
	return s.rename("location", refLocations, id, name, func(u *User) bool {
		if u.Location == nil || u.Location.ID != id {
			return false
		}
		u.Location.Name = name
		return true
	}, func(a *Asset) bool {
		hit := false
		for _, l := range []*Tagged{a.Location, a.RTDLocation} {
			if l != nil && l.ID == id {
				l.Name, hit = name, true
			}
		}
		if t := a.AssignedTo; t != nil && t.Type == AssignedLocation && t.ID == id {
			t.Name, hit = name, true
		}
		return hit
	})
}

// SetLocationManager makes the user with managerID (0: nobody) the
// manager of the location with id, as editing the location does: the
// location is saved (its updated_at moves), no user is; the old and new
// managers' manages_locations_count change. Nothing is logged.
func (s *Server) SetLocationManager(id, managerID int64) error {
	return s.apply(func(t *tx) error {
		if managerID != 0 {
			if _, err := t.liveUser(managerID); err != nil {
				return fmt.Errorf("set the manager of location %d: %w", id, err)
			}
		}
		if !s.store.setLocationManager(id, managerID, t.now) {
			return fmt.Errorf("set the manager of location %d: %w", id, model.ErrNotFound)
		}
		return nil
	})
}

// RenameCompany renames the company with id, among users' companies and
// assets' company.
func (s *Server) RenameCompany(id int64, name string) error {
	return s.rename("company", refCompanies, id, name, func(u *User) bool {
		hit := false
		for i := range u.Companies {
			if u.Companies[i].ID == id {
				u.Companies[i].Name, hit = name, true
			}
		}
		return hit
	}, func(a *Asset) bool {
		if a.Company == nil || a.Company.ID != id {
			return false
		}
		a.Company.Name = name
		return true
	})
}

// RenameModel renames the asset model with id.
func (s *Server) RenameModel(id int64, name string) error {
	return s.rename("model", refModels, id, name, nil, func(a *Asset) bool {
		if a.Model == nil || a.Model.ID != id {
			return false
		}
		a.Model.Name = name
		return true
	})
}

// RenameStatusLabel renames the status label with id.
func (s *Server) RenameStatusLabel(id int64, name string) error {
	return s.rename("status label", refStatusLabels, id, name, nil, func(a *Asset) bool {
		if a.Status == nil || a.Status.ID != id {
			return false
		}
		a.Status.Name = name
		return true
	})
}

// RenameSupplier renames the supplier with id.
func (s *Server) RenameSupplier(id int64, name string) error {
	return s.rename("supplier", refSuppliers, id, name, nil, func(a *Asset) bool {
		if a.Supplier == nil || a.Supplier.ID != id {
			return false
		}
		a.Supplier.Name = name
		return true
	})
}

// RenameCategory renames the category with id. Assets show it through
// their model, and so does GET /models, whose rows keep their updated_at:
// only the category's own row is saved.
func (s *Server) RenameCategory(id int64, name string) error {
	return s.renameInModels("category", id, name, func(m *reference) **Tagged { return &m.Category },
		func(m *AssetModel) **Tagged { return &m.Category })
}

// RenameManufacturer renames the manufacturer with id, as RenameCategory
// renames a category.
func (s *Server) RenameManufacturer(id int64, name string) error {
	return s.renameInModels("manufacturer", id, name, func(m *reference) **Tagged { return &m.Manufacturer },
		func(m *AssetModel) **Tagged { return &m.Manufacturer })
}

// SetStatusLabelType edits the status label with id to be of type typ
// (deployable, pending, undeployable or archived): the label's row is
// saved, no asset's. Assets with the label change status_type (and
// status_meta unless checked out), and move in or out of the archived
// listing, without an updated_at of their own moving.
func (s *Server) SetStatusLabelType(id int64, typ string) error {
	return s.apply(func(t *tx) error {
		r := s.store.refs[refStatusLabels][id]
		if r == nil {
			return fmt.Errorf("edit status label %d: %w", id, model.ErrNotFound)
		}
		next := *r
		next.Type, next.UpdatedAt = typ, t.now
		s.store.refs[refStatusLabels][id] = &next
		renameIn(s.store, s.store.assets, func(a *Asset) bool {
			if a.Status == nil || a.Status.ID != id {
				return false
			}
			a.Status.Type = typ
			return true
		}, s.store.countAsset)
		return nil
	})
}

// renameInModels renames a category or manufacturer (what field picks)
// inside the models listing and the assets of those models.
func (s *Server) renameInModels(kind string, id int64, name string, ref func(*reference) **Tagged, field func(*AssetModel) **Tagged) error {
	return s.apply(func(*tx) error {
		hits := 0
		for mid, m := range s.store.refs[refModels] {
			if t := *ref(m); t != nil && t.ID == id {
				next := *m
				renamed := *t
				renamed.Name = name
				*ref(&next) = &renamed
				s.store.refs[refModels][mid] = &next
				hits++
			}
		}
		hits += renameIn(s.store, s.store.assets, func(a *Asset) bool {
			if a.Model == nil {
				return false
			}
			t := *field(a.Model)
			if t == nil || t.ID != id {
				return false
			}
			t.Name = name
			return true
		}, s.store.countAsset)
		if hits == 0 {
			return fmt.Errorf("rename %s %s: %w", kind, strconv.FormatInt(id, 10), model.ErrNotFound)
		}
		return nil
	})
}

// rename applies edit to a copy of every user and asset (soft-deleted ones
// too) and stores the copies edit changed, keeping their updated_at, and
// renames the reference's own row.
func (s *Server) rename(kind string, ref refKind, id int64, name string, editUser func(*User) bool, editAsset func(*Asset) bool) error {
	return s.apply(func(t *tx) error {
		hits := 0
		if s.store.renameRef(ref, id, name, t.now) {
			hits++
		}
		if editUser != nil {
			hits += renameIn(s.store, s.store.users, editUser, s.store.countUser)
		}
		if editAsset != nil {
			hits += renameIn(s.store, s.store.assets, editAsset, s.store.countAsset)
		}
		if hits == 0 {
			return fmt.Errorf("rename %s %s: %w", kind, strconv.FormatInt(id, 10), model.ErrNotFound)
		}
		return nil
	})
}

// renameIn stores the copies of t's records that edit changed and
// returns how many. Only a record's own rendering shows its embedded
// names, so nothing else is invalidated. Callers hold mu.
func renameIn[R any, P cloner[R]](s *store, t *table[R], edit func(*R) bool, count func(*R, int)) int {
	var changed []*R
	for _, r := range t.byID {
		if next := P(r.rec).clone(); edit(next) {
			changed = append(changed, next)
		}
	}
	for _, next := range changed {
		replace(t, t.idOf(next), next, count)
	}
	s.generation++
	return len(changed)
}
