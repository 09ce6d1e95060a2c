package syncer_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// churn makes one change a busy Snipe-IT sees, picked with rng, through
// the simulator's mutations, as Snipe-IT's UI and API allow them: a user
// is deleted only when it holds nothing and manages nobody
// (User::isDeletable: no items, no users or locations it manages), an
// asset only when checked in. It returns what it did, or "" when the
// change it picked had nothing to act on. unlisted says whether the
// changes no listing shows may happen: group memberships, a user's
// additional companies (Snipe-IT 8.6).
func churn(rng *rand.Rand, sim *snipeittest.Server, unlisted bool) (string, error) {
	users, assets := sim.Users(), sim.Assets()
	if len(users) < 2 {
		return "", nil
	}
	user := users[rng.IntN(len(users))]
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	pickAsset := func(keep func(model.Asset) bool) *model.Asset {
		for range 30 {
			if len(assets) == 0 {
				return nil
			}
			if a := assets[rng.IntN(len(assets))]; keep(a) {
				return &a
			}
		}
		return nil
	}
	name := "Renamed " + strconv.Itoa(rng.IntN(10_000))
	do := func(what string, err error) (string, error) {
		if errors.Is(err, model.ErrConflict) || errors.Is(err, model.ErrNotFound) {
			return "", nil // lost to the data as it is (no free seat, …)
		}
		return what, err
	}
	switch r := rng.IntN(100); {
	case r < 8:
		city := []string{"Exampleville", "München", "Zürich", "東京"}[rng.IntN(4)]
		return do("update user "+id(user.ID), sim.UpdateUser(user.ID, func(u *snipeittest.User) {
			u.City, u.JobTitle = city, "Changed "+strconv.Itoa(rng.IntN(1000))
		}))
	case r < 11:
		// A name change: the user's own columns, and the manager's name
		// its reports show.
		return do("rename user "+id(user.ID), sim.UpdateUser(user.ID, func(u *snipeittest.User) {
			u.LastName = "Renamed" + strconv.Itoa(rng.IntN(100))
			if rng.IntN(2) == 0 {
				u.DisplayName = "Disp " + u.LastName
			}
		}))
	case r < 14:
		return do("login user "+id(user.ID), sim.Login(user.ID))
	case r < 17:
		m := users[rng.IntN(len(users))]
		if m.ID == user.ID {
			return "", nil
		}
		return do("set manager of "+id(user.ID), sim.SetManager(user.ID, m.ID))
	case r < 18:
		if !unlisted {
			return "", nil
		}
		gs := []snipeittest.Ref{{ID: 2, Name: "Fake Staff"}, {ID: 8, Name: "Contractors"}}[:rng.IntN(3)]
		return do("set groups of "+id(user.ID), sim.SetGroups(user.ID, gs))
	case r < 19:
		// The first company is company_id, a column (the row is saved);
		// the others are a relation, like groups.
		if !unlisted || user.CompanyID == nil {
			return "", nil
		}
		cs := sim.Companies()
		extra := cs[rng.IntN(len(cs))]
		return do("set additional companies of "+id(user.ID), sim.UpdateUser(user.ID, func(u *snipeittest.User) {
			u.Companies = u.Companies[:min(len(u.Companies), 1)]
			if extra.ID != *user.CompanyID && rng.IntN(3) > 0 {
				u.Companies = append(u.Companies, snipeittest.Tagged{ID: extra.ID, Name: extra.Name})
			}
		}))
	case r < 24:
		// Snipe-IT deletes only a user who holds nothing and manages
		// nobody.
		u := users[rng.IntN(len(users))]
		if u.ID == 1 || u.AssetsCount+u.LicensesCount+u.AccessoriesCount+u.ConsumablesCount+u.ManagesUsersCount+u.ManagesLocationsCount > 0 {
			return "", nil
		}
		return do("delete user "+id(u.ID), sim.DeleteUser(u.ID))
	case r < 27:
		if d := sim.DeletedUsers(); len(d) > 0 {
			u := d[rng.IntN(len(d))]
			return do("restore user "+id(u.ID), sim.RestoreUser(u.ID))
		}
	case r < 29:
		if d := sim.DeletedUsers(); len(d) > 0 {
			u := d[rng.IntN(len(d))]
			return do("purge user "+id(u.ID), sim.PurgeUser(u.ID))
		}
	case r < 32:
		next := slices.MaxFunc(users, func(a, b model.User) int { return int(a.ID - b.ID) }).ID + 1 + rng.Int64N(3)
		// A department as Snipe-IT joins it: its current name.
		d := sim.Departments()[rng.IntN(len(sim.Departments()))]
		return do("add user "+id(next), sim.AddUser(snipeittest.User{ID: next, FirstName: "New", LastName: id(next),
			Username: "new" + id(next), Activated: true, Department: &snipeittest.Department{Tagged: snipeittest.Tagged{ID: d.ID, Name: d.Name}}}))
	case r < 42:
		a := pickAsset(func(a model.Asset) bool { return a.AssignedToID == nil && a.StatusType == "deployable" })
		if a == nil {
			return "", nil
		}
		return do("checkout asset "+id(a.ID)+" to "+id(user.ID), sim.CheckoutAsset(a.ID, user.ID))
	case r < 50:
		a := pickAsset(func(a model.Asset) bool { return a.AssignedToID != nil })
		if a == nil {
			return "", nil
		}
		return do("checkin asset "+id(a.ID), sim.CheckinAsset(a.ID))
	case r < 52:
		a := pickAsset(func(model.Asset) bool { return true })
		if a == nil {
			return "", nil
		}
		return do("audit asset "+id(a.ID), sim.AuditAsset(a.ID))
	case r < 55:
		a := pickAsset(func(model.Asset) bool { return true })
		if a == nil {
			return "", nil
		}
		note := "Changed " + strconv.Itoa(rng.IntN(1000))
		return do("update asset "+id(a.ID), sim.UpdateAsset(a.ID, func(a *snipeittest.Asset) { a.Notes = note }))
	case r < 58:
		a := pickAsset(func(a model.Asset) bool { return a.AssignedToID == nil })
		if a == nil {
			return "", nil
		}
		if a.StatusType == "archived" {
			return do("unarchive asset "+id(a.ID), sim.UnarchiveAsset(a.ID))
		}
		return do("archive asset "+id(a.ID), sim.ArchiveAsset(a.ID))
	case r < 61:
		a := pickAsset(func(a model.Asset) bool { return a.AssignedToID == nil })
		if a == nil {
			return "", nil
		}
		return do("delete asset "+id(a.ID), sim.DeleteAsset(a.ID))
	case r < 63:
		if d := sim.DeletedAssets(); len(d) > 0 {
			a := d[rng.IntN(len(d))]
			return do("restore asset "+id(a.ID), sim.RestoreAsset(a.ID))
		}
	case r < 64:
		if d := sim.DeletedAssets(); len(d) > 0 {
			a := d[rng.IntN(len(d))]
			return do("purge asset "+id(a.ID), sim.PurgeAsset(a.ID))
		}
	case r < 66:
		next := int64(100_000 + rng.IntN(1_000_000))
		m := sim.Models()[rng.IntN(len(sim.Models()))]
		am := &snipeittest.AssetModel{ID: m.ID, Name: m.Name, ModelNumber: m.ModelNumber}
		if m.CategoryID != nil {
			am.Category = &snipeittest.Tagged{ID: *m.CategoryID, Name: m.CategoryName}
		}
		if m.ManufacturerID != nil {
			am.Manufacturer = &snipeittest.Tagged{ID: *m.ManufacturerID, Name: m.ManufacturerName}
		}
		return do("add asset "+id(next), sim.AddAsset(snipeittest.Asset{ID: next, AssetTag: "NEW-" + id(next), Model: am,
			Status: &snipeittest.StatusLabel{ID: 2, Name: labelName(sim, 2), Type: labelType(sim, 2)}}))
	case r < 72:
		l := sim.Licenses()
		lic := l[rng.IntN(len(l))]
		if rng.IntN(2) == 0 {
			for _, holder := range lic.Seats {
				if holder != 0 {
					return do(fmt.Sprintf("checkin license %d from %d", lic.ID, holder), sim.CheckinLicenseSeat(lic.ID, holder))
				}
			}
		}
		return do(fmt.Sprintf("checkout license %d to %d", lic.ID, user.ID), sim.CheckoutLicenseSeat(lic.ID, user.ID))
	case r < 76:
		as := sim.Accessories()
		acc := as[rng.IntN(len(as))]
		if len(acc.Checkouts) > 0 && rng.IntN(2) == 0 {
			from := acc.Checkouts[rng.IntN(len(acc.Checkouts))]
			return do(fmt.Sprintf("checkin accessory %d from %d", acc.ID, from), sim.CheckinAccessory(acc.ID, from))
		}
		return do(fmt.Sprintf("checkout accessory %d to %d", acc.ID, user.ID), sim.CheckoutAccessory(acc.ID, user.ID))
	case r < 79:
		cs := sim.Consumables()
		c := cs[rng.IntN(len(cs))]
		return do(fmt.Sprintf("checkout consumable %d to %d", c.ID, user.ID), sim.CheckoutConsumable(c.ID, user.ID))
	case r < 81:
		d := sim.Departments()
		return do("rename department", sim.RenameDepartment(d[rng.IntN(len(d))].ID, name))
	case r < 82:
		l := sim.Locations()
		return do("rename location", sim.RenameLocation(l[rng.IntN(len(l))].ID, name))
	case r < 84:
		// A location's manager changes: the location is saved, no user.
		l := sim.Locations()[rng.IntN(len(sim.Locations()))]
		var m int64
		if rng.IntN(4) > 0 {
			m = user.ID
		}
		return do(fmt.Sprintf("location %d managed by %d", l.ID, m), sim.SetLocationManager(l.ID, m))
	case r < 85:
		c := sim.Companies()
		return do("rename company", sim.RenameCompany(c[rng.IntN(len(c))].ID, name))
	case r < 87:
		m := sim.Models()
		return do("rename model", sim.RenameModel(m[rng.IntN(len(m))].ID, name))
	case r < 89:
		l := sim.StatusLabels()
		return do("rename status label", sim.RenameStatusLabel(l[rng.IntN(len(l))].ID, name))
	case r < 91:
		s := sim.Suppliers()
		return do("rename supplier", sim.RenameSupplier(s[rng.IntN(len(s))].ID, name))
	case r < 93:
		m := sim.Models()[rng.IntN(len(sim.Models()))]
		if m.CategoryID == nil {
			return "", nil
		}
		return do("rename category", sim.RenameCategory(*m.CategoryID, name))
	case r < 95:
		m := sim.Models()[rng.IntN(len(sim.Models()))]
		if m.ManufacturerID == nil {
			return "", nil
		}
		return do("rename manufacturer", sim.RenameManufacturer(*m.ManufacturerID, name))
	case r < 97:
		// "Out for Repair" becomes pending or undeployable: its assets
		// change status_type without moving their updated_at.
		typ := []string{"pending", "undeployable"}[rng.IntN(2)]
		return do("status label 4 is now "+typ, sim.SetStatusLabelType(4, typ))
	default:
		u := users[rng.IntN(len(users))]
		return do("display name of "+id(u.ID), sim.UpdateUser(u.ID, func(x *snipeittest.User) { x.DisplayName = name }))
	}
	return "", nil
}

func labelName(sim *snipeittest.Server, id int64) string {
	for _, l := range sim.StatusLabels() {
		if l.ID == id {
			return l.Name
		}
	}
	return ""
}

func labelType(sim *snipeittest.Server, id int64) string {
	for _, l := range sim.StatusLabels() {
		if l.ID == id {
			return l.Type
		}
	}
	return "deployable"
}
