package snipeit

import (
	"fmt"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// readUser reads a row of GET /api/v1/users (UsersTransformer), every
// Snipe-IT version from 4.0 on, as a model.User with datetimes in UTC.
// Members it does not mirror (avatar, permissions, the formatted dates…)
// are skipped.
func readUser(r *reader) (model.User, error) {
	var u model.User
	var idOK, hasUsername, restore bool
	var firstV4, lastV4 string
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			u.ID, idOK = r.integer("id", "", 64, storedNull)
		case "username":
			// The newest Snipe-IT drops username (with most fields) from
			// rows the token may not view.
			if r.peek() == 'n' {
				r.skip()
				return
			}
			hasUsername = true
			u.Username = r.str("username", "")
		case "name":
			u.Name = r.str("name", "")
		case "first_name":
			u.FirstName = r.str("first_name", "")
		case "last_name":
			u.LastName = r.str("last_name", "")
		case "firstname": // Snipe-IT 4.0
			firstV4 = r.str("firstname", "")
		case "lastname":
			lastV4 = r.str("lastname", "")
		case "display_name":
			u.DisplayName = r.str("display_name", "")
		case "email":
			u.Email = r.str("email", "")
		case "employee_num":
			u.EmployeeNum = r.str("employee_num", "")
		case "jobtitle":
			u.JobTitle = r.str("jobtitle", "")
		case "phone":
			u.Phone = r.str("phone", "")
		case "mobile":
			u.Mobile = r.str("mobile", "")
		case "website":
			u.Website = r.str("website", "")
		case "address":
			u.Address = r.str("address", "")
		case "city":
			u.City = r.str("city", "")
		case "state":
			u.State = r.str("state", "")
		case "country":
			u.Country = r.str("country", "")
		case "zip":
			u.Zip = r.str("zip", "")
		case "locale":
			u.Locale = r.str("locale", "")
		case "notes":
			u.Notes = r.str("notes", "")
		case "role":
			u.Role = r.str("role", "")
		case "department":
			u.DepartmentID, u.DepartmentName = r.ref("department")
		case "location":
			u.LocationID, u.LocationName = r.ref("location")
		case "manager":
			u.ManagerID, u.ManagerName = r.ref("manager")
		case "company":
			u.CompanyID, u.CompanyName = r.ref("company")
		case "companies":
			u.CompanyIDs = r.refIDs("companies")
		case "groups":
			u.Groups = r.groups("groups")
		case "activated":
			u.Activated = r.boolean("activated", "")
		case "remote":
			u.Remote = r.boolean("remote", "")
		case "vip":
			u.VIP = r.boolean("vip", "")
		case "ldap_import":
			u.LDAPImport = r.boolean("ldap_import", "")
		case "two_factor_enrolled":
			u.TwoFactorEnrolled = r.boolean("two_factor_enrolled", "")
		case "two_factor_optin":
			u.TwoFactorOptin = r.boolean("two_factor_optin", "")
		case "autoassign_licenses":
			u.AutoassignLicenses = r.boolean("autoassign_licenses", "")
		case "assets_count":
			u.AssetsCount = r.int32Field("assets_count")
		case "licenses_count":
			u.LicensesCount = r.int32Field("licenses_count")
		case "accessories_count":
			u.AccessoriesCount = r.int32Field("accessories_count")
		case "consumables_count":
			u.ConsumablesCount = r.int32Field("consumables_count")
		case "manages_users_count":
			u.ManagesUsersCount = r.int32Field("manages_users_count")
		case "manages_locations_count":
			u.ManagesLocationsCount = r.int32Field("manages_locations_count")
		case "created_at":
			u.CreatedAt = r.when("created_at", true)
		case "updated_at":
			u.UpdatedAt = r.when("updated_at", true)
		case "last_login":
			u.LastLogin = r.when("last_login", true)
		case "deleted_at":
			u.DeletedAt = r.when("deleted_at", true)
		case "start_date":
			u.StartDate = r.when("start_date", false)
		case "end_date":
			u.EndDate = r.when("end_date", false)
		case "available_actions":
			restore = r.restore("available_actions")
		default:
			r.skip()
		}
	})
	r.id = u.ID
	if !idOK || u.ID <= 0 {
		return model.User{}, fmt.Errorf("%w: user row without an id", errBadRow)
	}
	if !hasUsername {
		// Mirroring a reduced row would blank a real user.
		return model.User{}, fmt.Errorf("%w: user %d came without a username: the token may not view it (use a superuser token)",
			model.ErrForbidden, u.ID)
	}
	if u.FirstName == "" && u.LastName == "" {
		u.FirstName, u.LastName = firstV4, lastV4
	}
	if u.Name == "" {
		u.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	u.DeletedAt = deletedAt(u.DeletedAt, u.UpdatedAt, restore)
	return u, nil
}

// readAsset reads a row of GET /api/v1/hardware (AssetsTransformer) as a
// model.Asset.
func readAsset(r *reader) (model.Asset, error) {
	var a model.Asset
	var idOK, restore bool
	var cost, warranty string
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			a.ID, idOK = r.integer("id", "", 64, storedNull)
		case "name":
			a.Name = r.str("name", "")
		case "asset_tag":
			a.AssetTag = r.str("asset_tag", "")
		case "serial":
			a.Serial = r.str("serial", "")
		case "model_number":
			a.ModelNumber = r.str("model_number", "")
		case "notes":
			a.Notes = r.str("notes", "")
		case "order_number":
			a.OrderNumber = r.str("order_number", "")
		case "byod":
			a.Byod = r.boolean("byod", "")
		case "requestable":
			a.Requestable = r.boolean("requestable", "")
		case "model":
			a.ModelID, a.ModelName = r.ref("model")
		case "category":
			a.CategoryID, a.CategoryName = r.ref("category")
		case "manufacturer":
			a.ManufacturerID, a.ManufacturerName = r.ref("manufacturer")
		case "supplier":
			a.SupplierID, a.SupplierName = r.ref("supplier")
		case "company":
			a.CompanyID, a.CompanyName = r.ref("company")
		case "location":
			a.LocationID, a.LocationName = r.ref("location")
		case "rtd_location":
			a.RTDLocationID, a.RTDLocationName = r.ref("rtd_location")
		case "status_label":
			r.statusLabel(&a)
		case "assigned_to":
			r.assignee(&a)
		case "purchase_cost":
			cost = r.str("purchase_cost", "")
		case "warranty_months":
			warranty = r.str("warranty_months", "")
		case "asset_eol_date":
			a.EOLDate = r.when("asset_eol_date", false)
		case "warranty_expires":
			a.WarrantyExpires = r.when("warranty_expires", false)
		case "purchase_date":
			a.PurchaseDate = r.when("purchase_date", false)
		case "next_audit_date":
			a.NextAuditDate = r.when("next_audit_date", false)
		case "expected_checkin":
			a.ExpectedCheckin = r.when("expected_checkin", false)
		case "created_at":
			a.CreatedAt = r.when("created_at", true)
		case "updated_at":
			a.UpdatedAt = r.when("updated_at", true)
		case "last_audit_date":
			a.LastAuditDate = r.when("last_audit_date", true)
		case "last_checkout":
			a.LastCheckout = r.when("last_checkout", true)
		case "last_checkin":
			a.LastCheckin = r.when("last_checkin", true)
		case "deleted_at":
			a.DeletedAt = r.when("deleted_at", true)
		case "custom_fields":
			a.CustomFields = r.customFields("custom_fields")
		case "available_actions":
			restore = r.restore("available_actions")
		default:
			r.skip()
		}
	})
	r.id = a.ID
	if !idOK || a.ID <= 0 {
		return model.Asset{}, fmt.Errorf("%w: asset row without an id", errBadRow)
	}
	if a.CustomFields == nil {
		a.CustomFields = map[string]string{}
	}
	var err error
	if a.PurchaseCost, err = parseCost(cost); err != nil {
		r.problems = append(r.problems, fieldProblem{field: "purchase_cost", value: snippet([]byte(cost)), stored: storedNull, reason: err.Error()})
	}
	a.WarrantyMonths = parseMonths(warranty)
	a.DeletedAt = deletedAt(a.DeletedAt, a.UpdatedAt, restore)
	return a, nil
}

// statusLabel reads an asset's status_label {id, name, status_type,
// status_meta}.
func (r *reader) statusLabel(a *model.Asset) {
	var id int64
	var ok bool
	var name, typ, meta string
	r.members("status_label", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			id, ok = r.integer("status_label", "id", 64, storedNull)
		case "name":
			name = r.str("status_label", "name")
		case "status_type":
			typ = r.str("status_label", "status_type")
		case "status_meta":
			meta = r.str("status_label", "status_meta")
		default:
			r.skip()
		}
	})
	if ok && id != 0 {
		a.StatusID, a.StatusName, a.StatusType, a.StatusMeta = &id, name, typ, meta
	}
}

// assignee reads an asset's assigned_to: a user, a location or another
// asset, {id, type, …}.
func (r *reader) assignee(a *model.Asset) {
	var id int64
	var ok bool
	var typ string
	r.members("assigned_to", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			id, ok = r.integer("assigned_to", "id", 64, storedNull)
		case "type":
			typ = r.str("assigned_to", "type")
		default:
			r.skip()
		}
	})
	if !ok || id == 0 {
		return
	}
	a.AssignedType, a.AssignedToID = typ, &id
	if typ == "user" {
		a.AssignedUserID = &id
	}
}

// customFields reads custom_fields: an object keyed by display name (v6+),
// or [] when empty (v4/v5). It keeps field (the db column) → value:
// strings HTML-decoded, numbers as their text, booleans and objects as
// their JSON text, null as "".
func (r *reader) customFields(field string) map[string]string {
	m := map[string]string{}
	switch r.peek() {
	case '[':
		r.elements(field, storedNull, func() {
			r.problem(field, "", r.value(), "(left out)")
		})
		return m
	case 'n':
		r.skip()
		return m
	}
	r.members(field, "", "{}", func(n []byte) {
		display := string(n)
		var column, value string
		r.members(field, display, "(left out)", func(n []byte) {
			switch string(n) {
			case "field":
				column = r.plain(field, display)
			case "value":
				value = r.customValue(field, display)
			default:
				r.skip()
			}
		})
		if column == "" {
			column = display
		}
		m[column] = value
	})
	return m
}

// plain reads a JSON string as it is (no HTML decoding); other values are
// a problem and "".
func (r *reader) plain(field, sub string) string {
	v := r.value()
	switch {
	case len(v) == 0 || string(v) == "null":
		return ""
	case v[0] == '"':
		if b, ok := r.unquoteRaw(v); ok {
			return string(b)
		}
	}
	r.problem(field, sub, v, storedEmpty)
	return ""
}

// customValue reads a custom field's value.
func (r *reader) customValue(field, sub string) string {
	switch r.peek() {
	case '"', '0', 'n':
		return r.str(field, sub)
	}
	return string(r.value())
}

// ref reads a nested {id, name} object (department, location, company…):
// its id, nil when null, absent, 0 or unreadable, and its name.
func (r *reader) ref(field string) (*int64, string) {
	id, name, _ := r.typedRef(field)
	return id, name
}

// typedRef reads a nested {id, name, type…} object (an activity entry's
// item or target carries its type): its id, nil when null, absent, 0 or
// unreadable, its name and its type.
func (r *reader) typedRef(field string) (id *int64, name, typ string) {
	var n int64
	var ok bool
	r.members(field, "", storedNull, func(member []byte) {
		switch string(member) {
		case "id":
			n, ok = r.integer(field, "id", 64, storedNull)
		case "name":
			name = r.str(field, "name")
		case "type":
			typ = r.str(field, "type")
		default:
			r.skip()
		}
	})
	if !ok || n == 0 {
		return nil, "", ""
	}
	return &n, name, typ
}

// refIDs reads an array of {id, name} objects (companies) into their ids;
// nil when null.
func (r *reader) refIDs(field string) []int64 {
	var ids []int64
	if !r.elements(field, storedNull, func() {
		if id, _ := r.ref(field); id != nil {
			ids = append(ids, *id)
		}
	}) {
		return nil
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids
}

// groups reads a user's groups: {"total":n,"rows":[{id,name}…]}, or the
// raw relation array of Snipe-IT 4.0; nil when null.
func (r *reader) groups(field string) []string {
	names := []string{}
	name := func() {
		r.members(field, "rows", storedNull, func(n []byte) {
			if string(n) == "name" {
				names = append(names, r.str(field, "name"))
			} else {
				r.skip()
			}
		})
	}
	switch r.peek() {
	case '[':
		r.elements(field, storedNull, name)
		return names
	case '{':
		r.members(field, "", storedNull, func(n []byte) {
			if string(n) == "rows" {
				r.elements(field, storedNull, name)
			} else {
				r.skip()
			}
		})
		return names
	case 'n':
		r.skip()
		return nil
	}
	r.problem(field, "", r.value(), storedNull)
	return nil
}

// restore reads available_actions' restore flag. Before Snipe-IT 6 a row
// had no deleted_at: restore=true was the only sign of a soft delete.
func (r *reader) restore(field string) (restore bool) {
	r.members(field, "", storedNull, func(n []byte) {
		if string(n) == "restore" {
			restore = r.boolean(field, "restore")
		} else {
			r.skip()
		}
	})
	return restore
}

// deletedAt returns a row's deletion time: deleted_at, or for rows from
// versions without it, updated_at when restore is offered (Laravel's soft
// delete touches updated_at).
func deletedAt(deleted, updated *time.Time, restore bool) *time.Time {
	if deleted != nil || !restore {
		return deleted
	}
	if updated != nil {
		return updated
	}
	epoch := time.Unix(0, 0).UTC()
	return &epoch
}
