package snipeit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// listEnvelope is DatatablesTransformer's list body: {total, rows} up to
// Snipe-IT 8.5, plus page metadata from 8.6. Status and Messages catch the
// {"status":"error",…} bodies Snipe-IT sends with HTTP 200.
type listEnvelope[W any] struct {
	Total    *int64          `json:"total"`
	Rows     *[]W            `json:"rows"`
	PerPage  *int64          `json:"per_page"`
	Status   json.RawMessage `json:"status"`
	Messages json.RawMessage `json:"messages"`
	Message  json.RawMessage `json:"message"`
}

// page is one decoded list page.
type page[T any] struct {
	total   int64
	perPage int64 // 0 when the server did not say
	rows    []T
}

// errorBody is Snipe-IT's error envelope (and the 401 {"error": …} body).
// Status stays raw: in an asset row "status" is the status label object.
type errorBody struct {
	Status     json.RawMessage `json:"status"`
	Messages   json.RawMessage `json:"messages"`
	Message    json.RawMessage `json:"message"`
	Error      string          `json:"error"`
	RetryAfter *float64        `json:"retryAfter"`
}

// isErrorStatus reports whether a "status" member is the string "error".
func isErrorStatus(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == `"error"`
}

// text returns the human message of an error body, whatever its shape
// (a string, or an object of field → [messages]).
func (e *errorBody) text() string {
	for _, raw := range []json.RawMessage{e.Messages, e.Message} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return html.UnescapeString(s)
		}
		return string(raw)
	}
	return e.Error
}

// errNotData marks a body that is not the data it claims to be. It is
// retried: proxies and overloaded PHP servers produce such bodies and the
// next attempt usually succeeds.
var errNotData = errors.New("response is not Snipe-IT data")

// errBadRow marks a well-formed page with a row that cannot be mirrored
// (no id, an unparsable date or cost). Fetching it again gives the same
// row, so it is not retried: the run fails and names the row.
var errBadRow = fmt.Errorf("%w: malformed row", model.ErrUpstream)

// decodePage decodes a list body and converts its rows. A 200 with an error
// envelope, without rows or total, or that is not JSON at all is an error,
// never an empty page.
func decodePage[W, T any](body []byte, convert func(*W) (T, error)) (page[T], error) {
	var p page[T]
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return p, fmt.Errorf("%w: body starts with %q, not a JSON object", errNotData, snippet(trimmed))
	}
	var env listEnvelope[W]
	if err := json.Unmarshal(body, &env); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// Well-formed JSON of the wrong shape: the same again next time.
			return p, fmt.Errorf("%w: decode page: %w", errBadRow, err)
		}
		// Truncated or garbled: a retry usually gets the whole page.
		return p, fmt.Errorf("%w: decode page: %w", errNotData, err)
	}
	if isErrorStatus(env.Status) {
		eb := errorBody{Messages: env.Messages, Message: env.Message}
		return p, fmt.Errorf("%w: status error: %s", errNotData, eb.text())
	}
	if env.Total == nil || env.Rows == nil {
		return p, fmt.Errorf("%w: page has no total or rows", errNotData)
	}
	p.total = *env.Total
	if env.PerPage != nil {
		p.perPage = *env.PerPage
	}
	p.rows = make([]T, 0, len(*env.Rows))
	for i := range *env.Rows {
		row, err := convert(&(*env.Rows)[i])
		if err != nil {
			return p, err
		}
		p.rows = append(p.rows, row)
	}
	return p, nil
}

func snippet(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// str is a Snipe-IT string: HTML-escaped by Laravel's e(), possibly null.
// Decoding unescapes it; null becomes "".
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		// Numbers show up where strings are documented (e.g. a phone
		// number stored as an integer); keep their text.
		if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
			*s = str(b)
			return nil
		}
		return err
	}
	*s = str(html.UnescapeString(v))
	return nil
}

// flexBool accepts true/false, 1/0, "1"/"0"/"true"/"false" and null
// (false): older Snipe-IT versions leak raw column values.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1", `"1"`, `"true"`:
		*f = true
	case "false", "0", `"0"`, `"false"`, `""`, "null":
		*f = false
	default:
		return fmt.Errorf("not a boolean: %s", snippet(b))
	}
	return nil
}

// ref is a nested {id, name} object (department, location, company, …).
type ref struct {
	ID   int64 `json:"id"`
	Name str   `json:"name"`
}

func (r *ref) idName() (*int64, string) {
	if r == nil || r.ID == 0 {
		return nil, ""
	}
	id := r.ID
	return &id, string(r.Name)
}

// when holds the date or datetime string of Snipe-IT's date objects
// ({"date":"Y-m-d","formatted":…} / {"datetime":"Y-m-d H:i:s",…}). null and
// the "<raw> (Invalid date value.)" strings decode to no time.
type when struct {
	raw     string
	invalid bool
}

func (w *when) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		// Snipe-IT's unparsable-date marker: bad data in that one field,
		// not a broken page. It is stored as NULL.
		w.invalid = true
		return nil
	}
	var o struct {
		Datetime string `json:"datetime"`
		Date     string `json:"date"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("date object: %w", err)
	}
	w.raw = o.Datetime
	if w.raw == "" {
		w.raw = o.Date
	}
	return nil
}

// datetime parses a "Y-m-d H:i:s" in the server's timezone into UTC.
func (w *when) datetime(loc *time.Location) (*time.Time, error) {
	if w.raw == "" {
		return nil, nil
	}
	t, err := time.ParseInLocation(time.DateTime, w.raw, loc)
	if err != nil {
		// A datetime object whose value is only a date still says when.
		if d, derr := time.ParseInLocation(time.DateOnly, w.raw, loc); derr == nil {
			t, err = d, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("datetime %q: %w", w.raw, err)
	}
	t = t.UTC()
	return &t, nil
}

// date parses a "Y-m-d" (or the date part of a datetime) as UTC midnight.
func (w *when) date() (*time.Time, error) {
	if w.raw == "" {
		return nil, nil
	}
	s := w.raw
	if len(s) > len(time.DateOnly) {
		s = s[:len(time.DateOnly)]
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil, fmt.Errorf("date %q: %w", w.raw, err)
	}
	return &t, nil
}

// wireUser is a row of GET /api/v1/users (UsersTransformer), every
// Snipe-IT version from 4.0 on. Unknown fields are ignored.
type wireUser struct {
	ID          int64    `json:"id"`
	Type        string   `json:"type"`
	Name        str      `json:"name"`
	FirstName   str      `json:"first_name"`
	LastName    str      `json:"last_name"`
	FirstNameV4 str      `json:"firstname"`
	LastNameV4  str      `json:"lastname"`
	DisplayName str      `json:"display_name"`
	Username    *str     `json:"username"`
	Remote      flexBool `json:"remote"`
	Locale      str      `json:"locale"`
	EmployeeNum str      `json:"employee_num"`
	Manager     *ref     `json:"manager"`
	JobTitle    str      `json:"jobtitle"`
	VIP         flexBool `json:"vip"`
	Phone       str      `json:"phone"`
	Mobile      str      `json:"mobile"`
	Website     str      `json:"website"`
	Address     str      `json:"address"`
	City        str      `json:"city"`
	State       str      `json:"state"`
	Country     str      `json:"country"`
	Zip         str      `json:"zip"`
	Email       str      `json:"email"`
	Department  *ref     `json:"department"`
	Location    *ref     `json:"location"`
	Notes       str      `json:"notes"`
	Role        str      `json:"role"`
	Activated   flexBool `json:"activated"`
	Autoassign  flexBool `json:"autoassign_licenses"`
	LDAPImport  flexBool `json:"ldap_import"`
	TwoFAEnr    flexBool `json:"two_factor_enrolled"`
	TwoFAOptin  flexBool `json:"two_factor_optin"`
	Assets      int32    `json:"assets_count"`
	Licenses    int32    `json:"licenses_count"`
	Accessories int32    `json:"accessories_count"`
	Consumables int32    `json:"consumables_count"`
	ManagesU    int32    `json:"manages_users_count"`
	ManagesL    int32    `json:"manages_locations_count"`
	Company     *ref     `json:"company"`
	Companies   *[]ref   `json:"companies"`
	CreatedAt   when     `json:"created_at"`
	UpdatedAt   when     `json:"updated_at"`
	StartDate   when     `json:"start_date"`
	EndDate     when     `json:"end_date"`
	LastLogin   when     `json:"last_login"`
	DeletedAt   when     `json:"deleted_at"`
	Groups      *struct {
		Rows []ref `json:"rows"`
	} `json:"groups"`
	Actions *actions `json:"available_actions"`
}

// actions is available_actions. Before Snipe-IT 6 a row had no deleted_at;
// restore=true was the only sign that it was soft-deleted.
type actions struct {
	Restore flexBool `json:"restore"`
}

// deletedAt returns the deletion time: deleted_at, or for rows from
// versions without it, updated_at when restore is offered (Laravel's soft
// delete touches updated_at).
func (a *actions) deletedAt(deletedAt, updatedAt *time.Time) *time.Time {
	if deletedAt != nil || a == nil || !a.Restore {
		return deletedAt
	}
	if updatedAt != nil {
		return updatedAt
	}
	epoch := time.Unix(0, 0).UTC()
	return &epoch
}

// toUser converts a wire row to a model.User with datetimes read in loc.
func (w *wireUser) toUser(loc *time.Location) (model.User, error) {
	if w.ID <= 0 {
		return model.User{}, fmt.Errorf("%w: user row without an id", errBadRow)
	}
	if w.Username == nil {
		// The newest Snipe-IT reduces rows the token may not view to
		// {id, type, name}; mirroring those would blank real users.
		return model.User{}, fmt.Errorf("%w: user %d came without a username: the token may not view it (use a superuser token)",
			model.ErrForbidden, w.ID)
	}
	u := model.User{
		ID:                    w.ID,
		Username:              string(*w.Username),
		FirstName:             string(w.FirstName),
		LastName:              string(w.LastName),
		Name:                  string(w.Name),
		DisplayName:           string(w.DisplayName),
		Email:                 string(w.Email),
		EmployeeNum:           string(w.EmployeeNum),
		JobTitle:              string(w.JobTitle),
		Phone:                 string(w.Phone),
		Mobile:                string(w.Mobile),
		Website:               string(w.Website),
		Address:               string(w.Address),
		City:                  string(w.City),
		State:                 string(w.State),
		Country:               string(w.Country),
		Zip:                   string(w.Zip),
		Locale:                string(w.Locale),
		Notes:                 string(w.Notes),
		Role:                  string(w.Role),
		Activated:             bool(w.Activated),
		Remote:                bool(w.Remote),
		VIP:                   bool(w.VIP),
		LDAPImport:            bool(w.LDAPImport),
		TwoFactorEnrolled:     bool(w.TwoFAEnr),
		TwoFactorOptin:        bool(w.TwoFAOptin),
		AutoassignLicenses:    bool(w.Autoassign),
		AssetsCount:           w.Assets,
		LicensesCount:         w.Licenses,
		AccessoriesCount:      w.Accessories,
		ConsumablesCount:      w.Consumables,
		ManagesUsersCount:     w.ManagesU,
		ManagesLocationsCount: w.ManagesL,
	}
	if u.FirstName == "" && u.LastName == "" {
		u.FirstName, u.LastName = string(w.FirstNameV4), string(w.LastNameV4)
	}
	if u.Name == "" {
		u.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	u.DepartmentID, u.DepartmentName = w.Department.idName()
	u.LocationID, u.LocationName = w.Location.idName()
	u.ManagerID, u.ManagerName = w.Manager.idName()
	u.CompanyID, u.CompanyName = w.Company.idName()
	if w.Companies != nil {
		u.CompanyIDs = make([]int64, 0, len(*w.Companies))
		for _, c := range *w.Companies {
			u.CompanyIDs = append(u.CompanyIDs, c.ID)
		}
	}
	if w.Groups != nil {
		u.Groups = make([]string, 0, len(w.Groups.Rows))
		for _, g := range w.Groups.Rows {
			u.Groups = append(u.Groups, string(g.Name))
		}
	}
	tp := timeParser{loc: loc}
	u.CreatedAt = tp.datetime(w.CreatedAt)
	u.UpdatedAt = tp.datetime(w.UpdatedAt)
	u.LastLogin = tp.datetime(w.LastLogin)
	u.DeletedAt = tp.datetime(w.DeletedAt)
	u.StartDate = tp.date(w.StartDate)
	u.EndDate = tp.date(w.EndDate)
	u.DeletedAt = w.Actions.deletedAt(u.DeletedAt, u.UpdatedAt)
	if tp.err != nil {
		return model.User{}, fmt.Errorf("%w: user %d: %w", errBadRow, w.ID, tp.err)
	}
	return u, nil
}

// timeParser parses a row's date fields and collects every error.
type timeParser struct {
	loc *time.Location
	err error
}

func (p *timeParser) datetime(w when) *time.Time {
	t, err := w.datetime(p.loc)
	p.err = errors.Join(p.err, err)
	return t
}

func (p *timeParser) date(w when) *time.Time {
	t, err := w.date()
	p.err = errors.Join(p.err, err)
	return t
}

// wireStatus is an asset's status_label object.
type wireStatus struct {
	ID         int64 `json:"id"`
	Name       str   `json:"name"`
	StatusType str   `json:"status_type"`
	StatusMeta str   `json:"status_meta"`
}

// wireAssignee is an asset's assigned_to object: a user, a location or
// another asset.
type wireAssignee struct {
	ID   int64 `json:"id"`
	Type str   `json:"type"`
}

// customFields decodes custom_fields: an object keyed by display name
// (v6+), or [] when empty (v4/v5). It keeps field (the db column) → value.
type customFields map[string]string

func (c *customFields) UnmarshalJSON(b []byte) error {
	*c = customFields{}
	if string(b) == "null" || string(bytes.TrimSpace(b)) == "[]" {
		return nil
	}
	var m map[string]struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("custom_fields: %w", err)
	}
	for name, f := range m {
		key := f.Field
		if key == "" {
			key = name
		}
		var v str
		if len(f.Value) > 0 {
			if err := v.UnmarshalJSON(f.Value); err != nil {
				// Booleans or objects: keep the JSON text.
				v = str(f.Value)
			}
		}
		(*c)[key] = string(v)
	}
	return nil
}

// wireAsset is a row of GET /api/v1/hardware (AssetsTransformer).
type wireAsset struct {
	ID              int64         `json:"id"`
	Name            str           `json:"name"`
	AssetTag        str           `json:"asset_tag"`
	Serial          str           `json:"serial"`
	Model           *ref          `json:"model"`
	Byod            flexBool      `json:"byod"`
	Requestable     flexBool      `json:"requestable"`
	ModelNumber     str           `json:"model_number"`
	EOLDate         when          `json:"asset_eol_date"`
	StatusLabel     *wireStatus   `json:"status_label"`
	Category        *ref          `json:"category"`
	Manufacturer    *ref          `json:"manufacturer"`
	Supplier        *ref          `json:"supplier"`
	Notes           str           `json:"notes"`
	OrderNumber     str           `json:"order_number"`
	Company         *ref          `json:"company"`
	Location        *ref          `json:"location"`
	RTDLocation     *ref          `json:"rtd_location"`
	AssignedTo      *wireAssignee `json:"assigned_to"`
	WarrantyMonths  str           `json:"warranty_months"`
	WarrantyExpires when          `json:"warranty_expires"`
	CreatedAt       when          `json:"created_at"`
	UpdatedAt       when          `json:"updated_at"`
	LastAuditDate   when          `json:"last_audit_date"`
	NextAuditDate   when          `json:"next_audit_date"`
	DeletedAt       when          `json:"deleted_at"`
	PurchaseDate    when          `json:"purchase_date"`
	LastCheckout    when          `json:"last_checkout"`
	LastCheckin     when          `json:"last_checkin"`
	ExpectedCheckin when          `json:"expected_checkin"`
	PurchaseCost    str           `json:"purchase_cost"`
	CustomFields    customFields  `json:"custom_fields"`
	Actions         *actions      `json:"available_actions"`
}

func (w *wireAsset) toAsset(loc *time.Location) (model.Asset, error) {
	if w.ID <= 0 {
		return model.Asset{}, fmt.Errorf("%w: asset row without an id", errBadRow)
	}
	a := model.Asset{
		ID:           w.ID,
		AssetTag:     string(w.AssetTag),
		Name:         string(w.Name),
		Serial:       string(w.Serial),
		ModelNumber:  string(w.ModelNumber),
		Byod:         bool(w.Byod),
		Requestable:  bool(w.Requestable),
		OrderNumber:  string(w.OrderNumber),
		Notes:        string(w.Notes),
		CustomFields: map[string]string(w.CustomFields),
	}
	if a.CustomFields == nil {
		a.CustomFields = map[string]string{}
	}
	a.ModelID, a.ModelName = w.Model.idName()
	a.CategoryID, a.CategoryName = w.Category.idName()
	a.ManufacturerID, a.ManufacturerName = w.Manufacturer.idName()
	a.SupplierID, a.SupplierName = w.Supplier.idName()
	a.CompanyID, a.CompanyName = w.Company.idName()
	a.LocationID, a.LocationName = w.Location.idName()
	a.RTDLocationID, a.RTDLocationName = w.RTDLocation.idName()
	if s := w.StatusLabel; s != nil && s.ID != 0 {
		id := s.ID
		a.StatusID, a.StatusName, a.StatusType, a.StatusMeta = &id, string(s.Name), string(s.StatusType), string(s.StatusMeta)
	}
	if as := w.AssignedTo; as != nil && as.ID != 0 {
		id := as.ID
		a.AssignedType, a.AssignedToID = string(as.Type), &id
		if a.AssignedType == "user" {
			a.AssignedUserID = &id
		}
	}
	var err error
	if a.PurchaseCost, err = parseCost(string(w.PurchaseCost)); err != nil {
		return model.Asset{}, fmt.Errorf("%w: asset %d: %w", errBadRow, w.ID, err)
	}
	a.WarrantyMonths = parseMonths(string(w.WarrantyMonths))
	tp := timeParser{loc: loc}
	a.EOLDate = tp.date(w.EOLDate)
	a.WarrantyExpires = tp.date(w.WarrantyExpires)
	a.PurchaseDate = tp.date(w.PurchaseDate)
	a.NextAuditDate = tp.date(w.NextAuditDate)
	a.ExpectedCheckin = tp.date(w.ExpectedCheckin)
	a.CreatedAt = tp.datetime(w.CreatedAt)
	a.UpdatedAt = tp.datetime(w.UpdatedAt)
	a.LastAuditDate = tp.datetime(w.LastAuditDate)
	a.LastCheckout = tp.datetime(w.LastCheckout)
	a.LastCheckin = tp.datetime(w.LastCheckin)
	a.DeletedAt = tp.datetime(w.DeletedAt)
	a.DeletedAt = w.Actions.deletedAt(a.DeletedAt, a.UpdatedAt)
	if tp.err != nil {
		return model.Asset{}, fmt.Errorf("%w: asset %d: %w", errBadRow, w.ID, tp.err)
	}
	return a, nil
}

// parseCost turns Snipe-IT's locale-formatted money ("1,299.00",
// "1.299,00", "1 299,00", "1299") into a plain decimal ("1299.00"). The
// last '.' or ',' followed by one or two digits at the end is the decimal
// separator; every other separator groups thousands.
func parseCost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac := s, ""
	if i := strings.LastIndexAny(s, ".,"); i >= 0 && len(s)-i-1 >= 1 && len(s)-i-1 <= 2 {
		intPart, frac = s[:i], s[i+1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	digits := 0
	for _, r := range intPart {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == ',' || r == '.' || r == ' ' || r == '\'' || r == '\u00a0' || r == '\u202f':
		default:
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	if digits == 0 {
		b.WriteByte('0')
	}
	if digits > 18 {
		return "", fmt.Errorf("purchase_cost %q is too large", s)
	}
	b.WriteByte('.')
	b.WriteString((frac + "00")[:2])
	return b.String(), nil
}

// parseMonths reads the leading integer of a localised "36 months".
func parseMonths(s string) *int32 {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return nil
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil {
		return nil
	}
	m := int32(n)
	return &m
}
