package snipeittest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// renderer turns records into Snipe-IT's JSON rows (UsersTransformer and
// AssetsTransformer) for one version and one site configuration. The
// helpers below it (fullName, role, …) are the one place each derived value
// is computed: the expected model values use them too.
type renderer struct {
	version Version
	tz      *time.Location
	sep     digitSeparator
	appURL  string
	now     func() time.Time
}

// relations is what a row needs from the other stored records.
type relations interface {
	user(id int64) *User
	asset(id int64) *Asset
	// assetsCount is the assets checked out to the user: live ones, and
	// soft-deleted ones too withTrashed.
	assetsCount(userID int64, withTrashed bool) int
	managesCount(userID int64) int     // live users the user manages
	managedLocations(userID int64) int // locations the user manages
	childAssets(assetID int64) int     // live assets checked out to the asset
	// itemCounts are the license seats, accessories and consumables
	// checked out to the user.
	itemCounts(userID int64) (licenses, accessories, consumables int)
}

// userRow appends the JSON row of u.
func (r *renderer) userRow(b []byte, u *User, rel relations) []byte {
	v := r.version
	w := jsonWriter{b: b}
	w.beginObject("")
	w.num("id", u.ID)
	w.plain("avatar", u.Avatar)
	if v.newest() {
		w.plain("qr_code_url", r.appURL+"/users/"+strconv.FormatInt(u.ID, 10)+"/qr_code")
	}
	w.str("name", fullName(u, v))
	w.str("first_name", u.FirstName)
	w.str("last_name", u.LastName)
	if v.v8Rows() {
		w.strOrNull("display_name", u.DisplayName)
	}
	w.str("username", u.Username)
	if v.v6Rows() {
		w.boolean("remote", u.Remote)
		w.strOrNull("locale", u.Locale)
		w.strOrNull("employee_num", u.EmployeeNum)
	} else {
		w.str("employee_num", u.EmployeeNum)
	}
	if m := rel.user(u.ManagerID); m != nil {
		w.beginObject("manager")
		w.num("id", m.ID)
		w.str("name", managerName(m, v))
		w.endObject()
	} else {
		w.null("manager")
	}
	w.strOrNull("jobtitle", u.JobTitle)
	if v.v6Rows() {
		w.boolean("vip", u.VIP)
	}
	w.strOrNull("phone", u.Phone)
	if v.v8Rows() {
		w.strOrNull("mobile", u.Mobile)
	}
	if v.v6Rows() {
		w.strOrNull("website", u.Website)
	}
	w.strOrNull("address", u.Address)
	w.strOrNull("city", u.City)
	w.strOrNull("state", u.State)
	w.strOrNull("country", u.Country)
	w.strOrNull("zip", u.Zip)
	if v.v6Rows() {
		w.strOrNull("email", u.Email)
	} else {
		w.str("email", u.Email)
	}
	var dept *Tagged
	if u.Department != nil {
		dept = &u.Department.Tagged
	}
	r.tagged(&w, "department", dept)
	if v.newest() {
		if d := u.Department; d != nil && d.Manager != nil {
			r.ref(&w, "department_manager", d.Manager)
		} else {
			w.null("department_manager")
		}
	}
	r.tagged(&w, "location", u.Location)
	r.notes(&w, u.Notes, v.v6Rows())
	if v.newest() {
		w.strOrNull("role", role(u))
	}
	r.permissions(&w, u.Permissions)
	w.boolean("activated", u.Activated)
	if v.v6Rows() {
		w.boolean("autoassign_licenses", u.AutoassignLicenses)
	}
	w.boolean("ldap_import", u.LDAPImport)
	if !v.v6Rows() {
		w.boolean("two_factor_activated", u.TwoFactorEnrolled)
	}
	w.boolean("two_factor_enrolled", u.TwoFactorEnrolled)
	if v.v6Rows() {
		w.boolean("two_factor_optin", u.TwoFactorOptin)
	}
	assets, manages := rel.assetsCount(u.ID, v.countsTrashedAssets()), rel.managesCount(u.ID)
	licenses, accessories, consumables := rel.itemCounts(u.ID)
	w.num("assets_count", int64(assets))
	w.num("licenses_count", int64(licenses))
	w.num("accessories_count", int64(accessories))
	w.num("consumables_count", int64(consumables))
	if v.v6Rows() {
		w.num("manages_users_count", int64(manages))
		w.num("manages_locations_count", int64(rel.managedLocations(u.ID)))
	}
	if v.newest() {
		w.num("assigned_maintenances_count", int64(u.AssignedMaintenancesCount))
	}
	r.tagged(&w, "company", firstCompany(u))
	if v.newest() {
		w.beginArray("companies")
		for i := range u.Companies {
			r.tagged(&w, "", &u.Companies[i])
		}
		w.endArray()
	}
	if v.v6Rows() {
		r.ref(&w, "created_by", u.CreatedBy)
	}
	w.datetime("created_at", u.CreatedAt, r.tz)
	w.datetime("updated_at", u.UpdatedAt, r.tz)
	if v.v6Rows() {
		w.date("start_date", u.StartDate)
		w.date("end_date", u.EndDate)
	}
	w.datetime("last_login", u.LastLogin, r.tz)
	if v.v6Rows() {
		w.datetime("deleted_at", u.DeletedAt, r.tz)
	}
	live := u.DeletedAt.IsZero()
	hasItems := assets+licenses+accessories+consumables > 0
	w.beginObject("available_actions")
	w.boolean("update", live)
	w.boolean("delete", live && !hasItems && manages == 0 && rel.managedLocations(u.ID) == 0)
	w.boolean("clone", live)
	w.boolean("restore", !live)
	if v.newest() {
		w.beginObject("bulk_selectable")
		w.boolean("edit", true)
		w.boolean("send_assigned", u.Email != "" && hasItems)
		w.boolean("delete", true)
		w.boolean("merge", true)
		w.boolean("bulkpasswordreset", u.Email != "" && !u.LDAPImport)
		w.boolean("print", true)
		w.endObject()
	}
	w.endObject()
	if len(u.Groups) == 0 {
		w.null("groups")
	} else {
		w.beginObject("groups")
		w.num("total", int64(len(u.Groups)))
		w.beginArray("rows")
		for i := range u.Groups {
			r.ref(&w, "", &u.Groups[i])
		}
		w.endArray()
		w.endObject()
	}
	w.endObject()
	return w.b
}

// assetRow appends the JSON row of a.
func (r *renderer) assetRow(b []byte, a *Asset, rel relations) []byte {
	v := r.version
	w := jsonWriter{b: b}
	m := a.Model
	if m == nil {
		m = &AssetModel{}
	}
	w.beginObject("")
	w.num("id", a.ID)
	w.str("name", a.Name)
	w.str("asset_tag", a.AssetTag)
	w.str("serial", a.Serial)
	if a.Model != nil {
		r.ref(&w, "model", &Ref{ID: m.ID, Name: m.Name})
	} else {
		w.null("model")
	}
	if v.v6Rows() {
		w.boolean("byod", a.Byod)
		w.boolean("requestable", a.Requestable)
		w.num("child_asset_count", int64(rel.childAssets(a.ID)))
	}
	w.strOrNull("model_number", m.ModelNumber)
	if v.v6Rows() {
		if !a.EOLDate.IsZero() && !a.PurchaseDate.IsZero() {
			w.str("eol", strconv.Itoa(monthsBetween(a.PurchaseDate, a.EOLDate))+" months")
		} else {
			w.null("eol")
		}
		w.date("asset_eol_date", a.EOLDate)
	} else if !a.PurchaseDate.IsZero() {
		w.date("eol", a.EOLDate)
	} else {
		w.null("eol")
	}
	target := resolveAssignment(a, rel)
	r.status(&w, "status_label", a, target)
	if v.v6Rows() {
		r.status(&w, "status", a, target)
	}
	r.tagged(&w, "category", m.Category)
	r.tagged(&w, "manufacturer", m.Manufacturer)
	if v.v6Rows() {
		if d := m.Depreciation; d != nil {
			w.beginObject("depreciation")
			w.num("id", d.ID)
			w.str("name", d.Name)
			w.num("months", int64(d.Months))
			w.str("type", d.Type)
			if d.Minimum != nil {
				w.num("minimum", int64(*d.Minimum))
			} else {
				w.null("minimum")
			}
			w.endObject()
		} else {
			w.null("depreciation")
		}
	}
	r.tagged(&w, "supplier", a.Supplier)
	if v.v6Rows() {
		r.notes(&w, a.Notes, true)
	} else {
		w.strOrNull("notes", a.Notes)
	}
	w.strOrNull("order_number", a.OrderNumber)
	r.tagged(&w, "company", a.Company)
	r.tagged(&w, "location", a.Location)
	r.tagged(&w, "rtd_location", a.RTDLocation)
	image := a.Image
	if image == "" {
		image = m.Image
	}
	w.plainOrNull("image", image)
	if v.v8Rows() {
		w.plain("qr_code_url", r.appURL+"/hardware/"+strconv.FormatInt(a.ID, 10)+"/qr_code")
	}
	w.null("qr")
	w.null("alt_barcode")
	r.assignedTo(&w, target)
	if a.WarrantyMonths > 0 {
		w.str("warranty_months", strconv.Itoa(a.WarrantyMonths)+" months")
	} else {
		w.null("warranty_months")
	}
	w.date("warranty_expires", warrantyExpires(a))
	if v.v6Rows() {
		r.ref(&w, "created_by", a.CreatedBy)
	}
	w.datetime("created_at", a.CreatedAt, r.tz)
	w.datetime("updated_at", a.UpdatedAt, r.tz)
	w.datetime("last_audit_date", a.LastAuditDate, r.tz)
	w.date("next_audit_date", a.NextAuditDate)
	w.datetime("deleted_at", a.DeletedAt, r.tz)
	w.date("purchase_date", a.PurchaseDate)
	if v.v6Rows() {
		w.plain("age", age(a.PurchaseDate, r.now().In(r.tz)))
	}
	w.datetime("last_checkout", a.LastCheckout, r.tz)
	if v.v6Rows() {
		w.datetime("last_checkin", a.LastCheckin, r.tz)
	}
	w.date("expected_checkin", a.ExpectedCheckin)
	r.money(&w, "purchase_cost", a.PurchaseCost)
	w.num("checkin_counter", int64(a.CheckinCounter))
	w.num("checkout_counter", int64(a.CheckoutCounter))
	w.num("requests_counter", int64(a.RequestsCounter))
	live := a.DeletedAt.IsZero()
	w.boolean("user_can_checkout", live && target == nil && a.Status != nil && a.Status.Type == StatusDeployable)
	if v.v6Rows() {
		r.money(&w, "book_value", bookValue(a, r.now().In(r.tz)))
	}
	if len(a.CustomFields) == 0 && !v.v6Rows() {
		w.raw("custom_fields", []byte("[]"))
	} else {
		w.beginObject("custom_fields")
		for _, f := range a.CustomFields {
			w.beginObject(f.Name)
			w.str("field", f.Field)
			w.str("value", f.Value)
			w.plain("field_format", f.Format)
			w.plain("element", f.Element)
			w.endObject()
		}
		w.endObject()
	}
	w.beginObject("available_actions")
	w.boolean("checkout", true)
	w.boolean("checkin", true)
	w.boolean("clone", true)
	w.boolean("restore", !live)
	w.boolean("update", live)
	w.boolean("audit", true)
	w.boolean("delete", live && a.AssignedTo == nil)
	w.endObject()
	w.endObject()
	return w.b
}

// tagged writes {id, name, tag_color} (8.x) or {id, name} (5.0), or null.
func (r *renderer) tagged(w *jsonWriter, k string, t *Tagged) {
	if t == nil {
		w.null(k)
		return
	}
	w.beginObject(k)
	w.num("id", t.ID)
	w.str("name", t.Name)
	if r.version.v8Rows() {
		w.plainOrNull("tag_color", t.TagColor)
	}
	w.endObject()
}

// ref writes {id, name}, or null.
func (r *renderer) ref(w *jsonWriter, k string, ref *Ref) {
	if ref == nil {
		w.null(k)
		return
	}
	w.beginObject(k)
	w.num("id", ref.ID)
	w.str("name", ref.Name)
	w.endObject()
}

// notes writes a notes field: 8.x renders e(notes) as inline Markdown and
// sends null for empty notes; 5.0 sends e(notes), "" included.
func (r *renderer) notes(w *jsonWriter, notes string, v8 bool) {
	if !v8 {
		w.str("notes", notes)
		return
	}
	w.plainOrNull("notes", notesHTML(notes))
}

// permissions writes the permissions object: ints on 8.x ({} when empty),
// the raw column's strings on 5.0 (null when empty).
func (r *renderer) permissions(w *jsonWriter, perms []Permission) {
	if len(perms) == 0 && !r.version.v6Rows() {
		w.null("permissions")
		return
	}
	w.beginObject("permissions")
	for _, p := range perms {
		if r.version.v6Rows() {
			w.num(p.Name, int64(p.Value))
		} else {
			w.plain(p.Name, strconv.Itoa(p.Value))
		}
	}
	w.endObject()
}

func (r *renderer) status(w *jsonWriter, k string, a *Asset, target *assignee) {
	s := a.Status
	if s == nil {
		w.null(k)
		return
	}
	w.beginObject(k)
	w.num("id", s.ID)
	w.str("name", s.Name)
	w.str("status_type", s.Type)
	w.str("status_meta", statusMeta(s, target))
	w.endObject()
}

// assignedTo writes AssetsTransformer's assigned_to object.
func (r *renderer) assignedTo(w *jsonWriter, t *assignee) {
	if t == nil {
		w.null("assigned_to")
		return
	}
	w.beginObject("assigned_to")
	w.num("id", t.id)
	if u := t.user; u != nil {
		w.str("username", u.Username)
		w.str("name", fullName(u, r.version))
		w.str("first_name", u.FirstName)
		w.strOrNull("last_name", u.LastName)
		if r.version.v6Rows() {
			w.strOrNull("email", u.Email)
		}
		w.strOrNull("employee_number", u.EmployeeNum)
		if r.version.v6Rows() {
			w.strOrNull("jobtitle", u.JobTitle)
		}
	} else {
		w.str("name", t.name)
	}
	w.plain("type", string(t.typ))
	w.endObject()
}

// money writes Helper::formatCurrencyOutput: the site's digit separator,
// two decimals, null for no value.
func (r *renderer) money(w *jsonWriter, k string, cents *int64) {
	if cents == nil {
		w.null(k)
		return
	}
	w.plain(k, r.sep.format(*cents))
}

// digitSeparator is Snipe-IT's digit_separator setting.
type digitSeparator struct {
	thousands, decimal byte
}

// The two settings Snipe-IT offers.
const (
	SeparatorComma = "1,234.56"
	SeparatorDot   = "1.234,56"
)

func parseDigitSeparator(s string) (digitSeparator, error) {
	switch s {
	case "", SeparatorComma:
		return digitSeparator{',', '.'}, nil
	case SeparatorDot:
		return digitSeparator{'.', ','}, nil
	}
	return digitSeparator{}, fmt.Errorf("digit separator %q: want %q or %q", s, SeparatorComma, SeparatorDot)
}

// format is PHP's number_format($cents/100, 2, decimal, thousands).
func (d digitSeparator) format(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	units := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range []byte(units) {
		if i > 0 && (len(units)-i)%3 == 0 && d.thousands != 0 {
			b.WriteByte(d.thousands)
		}
		b.WriteByte(c)
	}
	b.WriteByte(d.decimal)
	frac := cents % 100
	b.WriteByte(byte('0' + frac/10))
	b.WriteByte(byte('0' + frac%10))
	return b.String()
}

// plainDecimal is the mirror's form of a cost: "1299.00", "" for none.
// It is the format without a thousands separator.
func plainDecimal(cents *int64) string {
	if cents == nil {
		return ""
	}
	return digitSeparator{decimal: '.'}.format(*cents)
}

// fullName is User::getFullNameAttribute: "First Last", or just "First"
// without a last name on 7.x and 8.x; 5.0 joined them with a space
// regardless.
func fullName(u *User, v Version) string {
	if u.LastName == "" && v.v6Rows() {
		return u.FirstName
	}
	return u.FirstName + " " + u.LastName
}

// managerName is the manager object's name: the manager's display name on
// 8.x (its display_name, else its full name), its full name on 7.x, its
// username on 5.0.
func managerName(m *User, v Version) string {
	if !v.v6Rows() {
		return m.Username
	}
	if m.DisplayName != "" && v.v8Rows() {
		return m.DisplayName
	}
	return fullName(m, v)
}

// role is the newest UsersTransformer's role: "superadmin", "admin" or "".
func role(u *User) string {
	has := func(name string) bool {
		for _, p := range u.Permissions {
			if p.Name == name && p.Value == 1 {
				return true
			}
		}
		return false
	}
	switch {
	case has("superuser"):
		return "superadmin"
	case has("admin"):
		return "admin"
	}
	return ""
}

// firstCompany is the legacy company field: the first of the companies.
func firstCompany(u *User) *Tagged {
	if len(u.Companies) == 0 {
		return nil
	}
	return &u.Companies[0]
}

// markdownStrong and markdownEm are the inline Markdown the simulator
// renders in notes (Parsedown's line() does much more; generated notes use
// only these).
var (
	markdownStrong = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	markdownEm     = regexp.MustCompile(`\*([^*]+)\*`)
)

// notesHTML is Helper::parseEscapedMarkedownInline: e(notes), then inline
// Markdown. The result is escaped already.
func notesHTML(notes string) string {
	if notes == "" {
		return ""
	}
	s := htmlEscape(notes)
	s = markdownStrong.ReplaceAllString(s, "<strong>$1</strong>")
	return markdownEm.ReplaceAllString(s, "<em>$1</em>")
}

// htmlEscape is PHP's e().
func htmlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&', '"', '\'', '<', '>':
			b.WriteString(escapeASCII(c, true))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// assignee is an asset's resolved check-out target.
type assignee struct {
	typ  AssignedType
	id   int64
	name string // location and asset targets
	user *User  // user targets
}

// resolveAssignment looks the check-out target up as Snipe-IT's morphTo
// relation does: a user or asset that no longer exists (purged) gives no
// target; soft-deleted ones still do.
func resolveAssignment(a *Asset, rel relations) *assignee {
	t := a.AssignedTo
	if t == nil {
		return nil
	}
	switch t.Type {
	case AssignedUser:
		if u := rel.user(t.ID); u != nil {
			return &assignee{typ: t.Type, id: t.ID, user: u}
		}
	case AssignedAsset:
		if target := rel.asset(t.ID); target != nil {
			name := target.Name
			if name == "" {
				name = target.AssetTag
			}
			return &assignee{typ: t.Type, id: t.ID, name: name}
		}
	case AssignedLocation:
		return &assignee{typ: t.Type, id: t.ID, name: t.Name}
	}
	return nil
}

// statusMeta is the asset presenter's statusMeta: "deployed" while checked
// out, else the label's type.
func statusMeta(s *StatusLabel, target *assignee) string {
	if target != nil {
		return "deployed"
	}
	return s.Type
}

// warrantyExpires is purchase_date + warranty_months, zero when either is
// missing.
func warrantyExpires(a *Asset) time.Time {
	if a.WarrantyMonths <= 0 || a.PurchaseDate.IsZero() {
		return time.Time{}
	}
	return a.PurchaseDate.AddDate(0, a.WarrantyMonths, 0)
}

// bookValue is a linear depreciation of the purchase cost by whole months
// elapsed since purchase, floored at the schedule's minimum; the cost
// itself when there is no schedule or purchase date.
func bookValue(a *Asset, now time.Time) *int64 {
	if a.PurchaseCost == nil {
		return nil
	}
	cost := *a.PurchaseCost
	d := a.Model
	if d == nil || d.Depreciation == nil || d.Depreciation.Months <= 0 || a.PurchaseDate.IsZero() {
		return &cost
	}
	months := int64(d.Depreciation.Months)
	left := max(months-int64(monthsBetween(a.PurchaseDate, civil(now))), 0)
	v := (cost*left*2 + months) / (2 * months)
	if d.Depreciation.Minimum != nil {
		v = max(v, int64(*d.Depreciation.Minimum)*100)
	}
	return &v
}

// civil is the calendar date of t as a UTC midnight, the form of date
// fields.
func civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// monthsBetween is Carbon's absolute diffInMonths of two dates.
func monthsBetween(a, b time.Time) int {
	if b.Before(a) {
		a, b = b, a
	}
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	n := (by-ay)*12 + int(bm-am)
	if bd < ad {
		n--
	}
	return n
}

// age is Carbon's diffForHumans of a purchase date, e.g. "9 months ago",
// or "" without a date.
func age(purchase, now time.Time) string {
	if purchase.IsZero() {
		return ""
	}
	from, to := purchase, civil(now)
	suffix := " ago"
	if from.After(to) {
		from, to, suffix = to, from, " from now"
	}
	months := monthsBetween(from, to)
	days := int(to.Sub(from).Hours() / 24)
	unit := func(n int, name string) string {
		if n != 1 {
			name += "s"
		}
		return strconv.Itoa(n) + " " + name + suffix
	}
	switch {
	case months >= 12:
		return unit(months/12, "year")
	case months >= 1:
		return unit(months, "month")
	case days >= 7:
		return unit(days/7, "week")
	case days >= 1:
		return unit(days, "day")
	}
	y, m, d := purchase.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	return unit(int(now.Sub(midnight).Abs().Hours()), "hour")
}
