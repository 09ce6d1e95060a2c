package snipeittest

import (
	"strconv"
	"strings"
	"time"
)

// column is one database column of a stored record, as MySQL holds it:
// what Eloquent compares to decide whether a save is dirty (and so bumps
// updated_at), and what an update's log_meta shows.
type column struct {
	name  string
	value *string // nil is NULL
	// logged: a user column UserObserver writes to the log when it changes.
	logged bool
}

// changedColumns lists the columns whose values differ between two
// versions of a record, in column order.
func changedColumns(old, next []column) []column {
	before := make(map[string]*string, len(old))
	for _, c := range old {
		before[c.name] = c.value
	}
	var changed []column
	for _, c := range next {
		if !sameValue(before[c.name], c.value) {
			changed = append(changed, c)
		}
	}
	return changed
}

func sameValue(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// userColumns are the users table's columns of u. Groups are a relation
// (users_groups), not a column, and updated_at is left out: it is what a
// dirty save sets. The company is company_id, the first of Companies.
func userColumns(u *User, tz *time.Location) []column {
	var dept, loc, company int64
	if u.Department != nil {
		dept = u.Department.ID
	}
	if u.Location != nil {
		loc = u.Location.ID
	}
	if c := firstCompany(u); c != nil {
		company = c.ID
	}
	perms := make([]string, 0, len(u.Permissions))
	for _, p := range u.Permissions {
		perms = append(perms, strconv.Quote(p.Name)+":"+strconv.Itoa(p.Value))
	}
	return []column{
		{"email", logString(u.Email), true},
		{"password", nil, true},
		{"permissions", logString(strings.Join(perms, ",")), false},
		{"activated", boolColumn(u.Activated), true},
		{"first_name", logString(u.FirstName), true},
		{"last_name", logString(u.LastName), true},
		{"display_name", logString(u.DisplayName), false},
		{"username", logString(u.Username), true},
		{"avatar", logString(u.Avatar), false},
		{"website", logString(u.Website), true},
		{"country", logString(u.Country), true},
		{"location_id", logID(loc), true},
		{"phone", logString(u.Phone), true},
		{"mobile", logString(u.Mobile), false},
		{"jobtitle", logString(u.JobTitle), true},
		{"manager_id", logID(u.ManagerID), true},
		{"employee_num", logString(u.EmployeeNum), true},
		{"notes", logString(u.Notes), true},
		{"company_id", logID(company), true},
		{"ldap_import", boolColumn(u.LDAPImport), true},
		{"locale", logString(u.Locale), true},
		{"two_factor_enrolled", boolColumn(u.TwoFactorEnrolled), true},
		{"two_factor_optin", boolColumn(u.TwoFactorOptin), true},
		{"department_id", logID(dept), true},
		{"address", logString(u.Address), true},
		{"city", logString(u.City), true},
		{"state", logString(u.State), true},
		{"zip", logString(u.Zip), true},
		{"remote", boolColumn(u.Remote), true},
		{"start_date", dateColumn(u.StartDate), true},
		{"end_date", dateColumn(u.EndDate), true},
		{"autoassign_licenses", boolColumn(u.AutoassignLicenses), true},
		{"vip", boolColumn(u.VIP), true},
		{"last_login", datetimeColumn(u.LastLogin, tz), false},
		{"created_at", datetimeColumn(u.CreatedAt, tz), false},
		{"deleted_at", datetimeColumn(u.DeletedAt, tz), false},
	}
}

// assetColumns are the assets table's columns of a, custom fields
// (_snipeit_*) included.
func assetColumns(a *Asset, tz *time.Location) []column {
	id := func(t *Tagged) *string {
		if t == nil {
			return nil
		}
		return logID(t.ID)
	}
	var model, status, assigned *string
	var assignedType string
	if a.Model != nil {
		model = logID(a.Model.ID)
	}
	if a.Status != nil {
		status = logID(a.Status.ID)
	}
	if a.AssignedTo != nil {
		assigned = logID(a.AssignedTo.ID)
		assignedType = map[AssignedType]string{AssignedUser: "App\\Models\\User",
			AssignedLocation: "App\\Models\\Location", AssignedAsset: "App\\Models\\Asset"}[a.AssignedTo.Type]
	}
	var cost *string
	if a.PurchaseCost != nil {
		cost = ptr(plainDecimal(a.PurchaseCost))
	}
	cols := []column{
		{name: "name", value: logString(a.Name)},
		{name: "asset_tag", value: logString(a.AssetTag)},
		{name: "model_id", value: model},
		{name: "serial", value: logString(a.Serial)},
		{name: "purchase_date", value: dateColumn(a.PurchaseDate)},
		{name: "asset_eol_date", value: dateColumn(a.EOLDate)},
		{name: "purchase_cost", value: cost},
		{name: "order_number", value: logString(a.OrderNumber)},
		{name: "assigned_to", value: assigned},
		{name: "assigned_type", value: logString(assignedType)},
		{name: "notes", value: logString(a.Notes)},
		{name: "image", value: logString(a.Image)},
		{name: "status_id", value: status},
		{name: "company_id", value: id(a.Company)},
		{name: "location_id", value: id(a.Location)},
		{name: "rtd_location_id", value: id(a.RTDLocation)},
		{name: "supplier_id", value: id(a.Supplier)},
		{name: "warranty_months", value: countColumn(a.WarrantyMonths)},
		{name: "requestable", value: boolColumn(a.Requestable)},
		{name: "byod", value: boolColumn(a.Byod)},
		{name: "last_checkout", value: datetimeColumn(a.LastCheckout, tz)},
		{name: "last_checkin", value: datetimeColumn(a.LastCheckin, tz)},
		{name: "expected_checkin", value: dateColumn(a.ExpectedCheckin)},
		{name: "last_audit_date", value: datetimeColumn(a.LastAuditDate, tz)},
		{name: "next_audit_date", value: dateColumn(a.NextAuditDate)},
		{name: "checkin_counter", value: ptr(strconv.Itoa(a.CheckinCounter))},
		{name: "checkout_counter", value: ptr(strconv.Itoa(a.CheckoutCounter))},
		{name: "requests_counter", value: ptr(strconv.Itoa(a.RequestsCounter))},
		{name: "created_at", value: datetimeColumn(a.CreatedAt, tz)},
		{name: "deleted_at", value: datetimeColumn(a.DeletedAt, tz)},
	}
	for _, f := range a.CustomFields {
		cols = append(cols, column{name: f.Field, value: logString(f.Value)})
	}
	return cols
}

// assetUpdateLogged is AssetObserver::updating's test: an update is logged
// unless it is a checkout, checkin, audit, delete or restore, which write
// entries of their own.
func assetUpdateLogged(changed []column) bool {
	for _, c := range changed {
		switch c.name {
		case "assigned_to", "checkout_counter", "checkin_counter", "next_audit_date", "last_checkout", "deleted_at":
			return false
		}
	}
	return true
}

// fieldChanges is an update's log_meta: old and new values of the changed
// columns keep selects.
func fieldChanges(old, changed []column, keep func(column) bool) []FieldChange {
	byName := make(map[string]*string, len(old))
	for _, c := range old {
		byName[c.name] = c.value
	}
	var out []FieldChange
	for _, c := range changed {
		if keep(c) {
			out = append(out, FieldChange{Field: c.name, Old: byName[c.name], New: c.value})
		}
	}
	return out
}

func boolColumn(b bool) *string {
	if b {
		return ptr("1")
	}
	return ptr("0")
}

func countColumn(n int) *string {
	if n == 0 {
		return nil
	}
	return ptr(strconv.Itoa(n))
}

func dateColumn(d time.Time) *string {
	if d.IsZero() {
		return nil
	}
	return ptr(d.Format(time.DateOnly))
}

func datetimeColumn(t time.Time, tz *time.Location) *string {
	if t.IsZero() {
		return nil
	}
	return ptr(t.In(tz).Format(time.DateTime))
}
