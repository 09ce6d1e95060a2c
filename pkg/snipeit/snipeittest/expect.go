package snipeittest

import (
	"html"
	"maps"
	"slices"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Users returns the live users as a correct mirror holds them after a sync
// against this server, ascending id: what the server renders, decoded by
// the project's conventions (HTML entities decoded, null as "", datetimes
// in UTC, fields the version does not send left zero).
func (s *Server) Users() []model.User { return expected(s, s.store.users, usersLive, s.modelUser) }

// DeletedUsers returns the soft-deleted users as GET /users?deleted=true
// describes them, ascending id. DeletedAt is set where the version sends
// deleted_at (8.x).
func (s *Server) DeletedUsers() []model.User {
	return expected(s, s.store.users, usersDeleted, s.modelUser)
}

// Assets returns the live assets, archived ones included, as a correct
// mirror holds them, ascending id.
func (s *Server) Assets() []model.Asset { return expected(s, s.store.assets, assetsLive, s.modelAsset) }

// DeletedAssets returns the soft-deleted assets as GET
// /hardware?status=Deleted describes them, ascending id.
func (s *Server) DeletedAssets() []model.Asset {
	return expected(s, s.store.assets, assetsDeleted, s.modelAsset)
}

func expected[R, M any](s *Server, t *table[R], view int, convert func(*R) M) []M {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	rows := t.views[view].rows
	out := make([]M, 0, len(rows))
	for _, r := range rows {
		out = append(out, convert(r.rec))
	}
	return out
}

// modelUser is the mirror's view of u's row. Callers hold the store lock.
func (s *Server) modelUser(u *User) model.User {
	v := s.cfg.Version
	m := model.User{
		ID:                u.ID,
		Username:          u.Username,
		FirstName:         u.FirstName,
		LastName:          u.LastName,
		Name:              fullName(u, v),
		Email:             u.Email,
		EmployeeNum:       u.EmployeeNum,
		JobTitle:          u.JobTitle,
		Phone:             u.Phone,
		Address:           u.Address,
		City:              u.City,
		State:             u.State,
		Country:           u.Country,
		Zip:               u.Zip,
		Notes:             u.Notes,
		Activated:         u.Activated,
		LDAPImport:        u.LDAPImport,
		TwoFactorEnrolled: u.TwoFactorEnrolled,
		AssetsCount:       int32(s.store.assetsCount(u.ID, v.countsTrashedAssets())),
		CreatedAt:         s.datetime(u.CreatedAt),
		UpdatedAt:         s.datetime(u.UpdatedAt),
		LastLogin:         s.datetime(u.LastLogin),
	}
	licenses, accessories, consumables := s.store.itemCounts(u.ID)
	m.LicensesCount, m.AccessoriesCount, m.ConsumablesCount = int32(licenses), int32(accessories), int32(consumables)
	if v.v8Rows() {
		m.DisplayName = u.DisplayName
		m.Mobile = u.Mobile
	}
	if v.v6Rows() {
		m.Website = u.Website
		m.Locale = u.Locale
		m.Notes = html.UnescapeString(notesHTML(u.Notes))
		m.Remote = u.Remote
		m.VIP = u.VIP
		m.TwoFactorOptin = u.TwoFactorOptin
		m.AutoassignLicenses = u.AutoassignLicenses
		m.ManagesUsersCount = int32(s.store.managesCount(u.ID))
		m.ManagesLocationsCount = int32(s.store.managedLocations(u.ID))
		m.StartDate = date(u.StartDate)
		m.EndDate = date(u.EndDate)
		m.DeletedAt = s.datetime(u.DeletedAt)
	}
	if v.newest() {
		m.Role = role(u)
		m.CompanyIDs = make([]int64, 0, len(u.Companies))
		for _, c := range u.Companies {
			m.CompanyIDs = append(m.CompanyIDs, c.ID)
		}
	}
	if u.Department != nil {
		m.DepartmentID, m.DepartmentName = idName(&u.Department.Tagged)
	}
	m.LocationID, m.LocationName = idName(u.Location)
	m.CompanyID, m.CompanyName = idName(firstCompany(u))
	if mgr := s.store.user(u.ManagerID); mgr != nil {
		m.ManagerID, m.ManagerName = ptr(mgr.ID), managerName(mgr, v)
	}
	for _, g := range u.Groups {
		m.Groups = append(m.Groups, g.Name)
	}
	return m
}

// modelAsset is the mirror's view of a's row. Callers hold the store lock.
func (s *Server) modelAsset(a *Asset) model.Asset {
	v := s.cfg.Version
	m := model.Asset{
		ID:              a.ID,
		AssetTag:        a.AssetTag,
		Name:            a.Name,
		Serial:          a.Serial,
		OrderNumber:     a.OrderNumber,
		Notes:           a.Notes,
		PurchaseCost:    plainDecimal(a.PurchaseCost),
		PurchaseDate:    date(a.PurchaseDate),
		WarrantyExpires: date(warrantyExpires(a)),
		NextAuditDate:   date(a.NextAuditDate),
		ExpectedCheckin: date(a.ExpectedCheckin),
		LastAuditDate:   s.datetime(a.LastAuditDate),
		LastCheckout:    s.datetime(a.LastCheckout),
		CreatedAt:       s.datetime(a.CreatedAt),
		UpdatedAt:       s.datetime(a.UpdatedAt),
		DeletedAt:       s.datetime(a.DeletedAt),
		CustomFields:    a.customFieldMap(),
	}
	if v.v6Rows() {
		m.Byod = a.Byod
		m.Requestable = a.Requestable
		m.Notes = html.UnescapeString(notesHTML(a.Notes))
		m.EOLDate = date(a.EOLDate)
		m.LastCheckin = s.datetime(a.LastCheckin)
	}
	if md := a.Model; md != nil {
		m.ModelID, m.ModelName = ptr(md.ID), md.Name
		m.ModelNumber = md.ModelNumber
		m.CategoryID, m.CategoryName = idName(md.Category)
		m.ManufacturerID, m.ManufacturerName = idName(md.Manufacturer)
	}
	m.SupplierID, m.SupplierName = idName(a.Supplier)
	m.CompanyID, m.CompanyName = idName(a.Company)
	m.LocationID, m.LocationName = idName(a.Location)
	m.RTDLocationID, m.RTDLocationName = idName(a.RTDLocation)
	target := resolveAssignment(a, s.store)
	if st := a.Status; st != nil {
		m.StatusID, m.StatusName, m.StatusType, m.StatusMeta = ptr(st.ID), st.Name, st.Type, statusMeta(st, target)
	}
	if target != nil {
		m.AssignedType, m.AssignedToID = string(target.typ), ptr(target.id)
		if target.typ == AssignedUser {
			m.AssignedUserID = ptr(target.id)
		}
	}
	if a.WarrantyMonths > 0 {
		m.WarrantyMonths = ptr(int32(a.WarrantyMonths))
	}
	return m
}

// datetime is what a client reads back from a rendered datetime: the wall
// clock in the server's zone, parsed in that zone, in UTC.
func (s *Server) datetime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	tz := s.cfg.Timezone
	back, err := time.ParseInLocation(wireDatetime, t.In(tz).Format(wireDatetime), tz)
	if err != nil {
		// Only years outside 0000–9999 do not parse back; keep the instant.
		back = t.Truncate(time.Second)
	}
	return ptr(back.UTC())
}

// date is a rendered date read back: UTC midnight of its calendar day.
func date(d time.Time) *time.Time {
	if d.IsZero() {
		return nil
	}
	return ptr(civil(d))
}

// idName returns the id (a fresh pointer) and name of a related record.
func idName(t *Tagged) (*int64, string) {
	if t == nil {
		return nil, ""
	}
	return ptr(t.ID), t.Name
}

func ptr[T any](v T) *T { return &v }

// Departments, Locations and Companies return what GET /departments,
// /locations and /companies list, ascending id, as a client reads them.
func (s *Server) Departments() []model.Reference { return s.references(refDepartments) }

// Locations returns the locations as GET /locations lists them.
func (s *Server) Locations() []model.Reference { return s.references(refLocations) }

// Companies returns the companies as GET /companies lists them.
func (s *Server) Companies() []model.Reference { return s.references(refCompanies) }

// Suppliers returns the suppliers as GET /suppliers lists them.
func (s *Server) Suppliers() []model.Reference { return s.references(refSuppliers) }

// Models returns the asset models as GET /models lists them.
func (s *Server) Models() []model.AssetModel {
	return listed(s, refModels, func(r *reference) model.AssetModel {
		m := model.AssetModel{ID: r.ID, Name: r.Name, ModelNumber: r.ModelNumber, UpdatedAt: s.datetime(r.UpdatedAt)}
		m.CategoryID, m.CategoryName = idName(r.Category)
		m.ManufacturerID, m.ManufacturerName = idName(r.Manufacturer)
		return m
	})
}

// StatusLabels returns the status labels as GET /statuslabels lists them.
func (s *Server) StatusLabels() []model.StatusLabel {
	return listed(s, refStatusLabels, func(r *reference) model.StatusLabel {
		return model.StatusLabel{ID: r.ID, Name: r.Name, Type: r.Type, UpdatedAt: s.datetime(r.UpdatedAt)}
	})
}

func (s *Server) references(kind refKind) []model.Reference {
	return listed(s, kind, func(r *reference) model.Reference {
		ref := model.Reference{ID: r.ID, Name: r.Name, UpdatedAt: s.datetime(r.UpdatedAt)}
		if m := s.store.user(r.ManagerID); m != nil && m.DeletedAt.IsZero() {
			ref.ManagerID = ptr(m.ID)
		}
		return ref
	})
}

// listed converts the references of kind, ascending id.
func listed[M any](s *Server, kind refKind, convert func(*reference) M) []M {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	ids := slices.Sorted(maps.Keys(s.store.refs[kind]))
	out := make([]M, 0, len(ids))
	for _, id := range ids {
		out = append(out, convert(s.store.refs[kind][id]))
	}
	return out
}
