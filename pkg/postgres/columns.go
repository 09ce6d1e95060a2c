package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/usersync/usersync/pkg/model"
)

// column maps one mirrored field of T to its database column. The writer
// uses value (COPY into staging) and the readers use scan, so the field
// list lives in exactly one place.
type column[T any] struct {
	name  string
	value func(*T) any // what COPY writes
	scan  func(*T) any // a scan target for a SELECT of name
}

// columnNames returns the comma-separated column list, each prefixed with
// prefix (e.g. "u.") when it is not empty.
func columnNames[T any](cols []column[T], prefix string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(c.name)
	}
	return b.String()
}

// nullText scans a nullable text column into a plain string: NULL becomes "".
type nullText string

// ScanText implements pgtype.TextScanner.
func (s *nullText) ScanText(v pgtype.Text) error {
	*s = nullText(v.String)
	return nil
}

// orNull writes "" as SQL NULL, so optional text is NULL in the mirror
// whether Snipe-IT sent null or "".
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func reqText[T any](name string, f func(*T) *string) column[T] {
	return column[T]{name: name,
		value: func(t *T) any { return *f(t) },
		scan:  func(t *T) any { return f(t) }}
}

func optText[T any](name string, f func(*T) *string) column[T] {
	return column[T]{name: name,
		value: func(t *T) any { return orNull(*f(t)) },
		scan:  func(t *T) any { return (*nullText)(f(t)) }}
}

// field covers every column whose Go type pgx reads and writes as is
// (bool, int32, *int64, []int64, []string, and *time.Time for timestamptz
// and for date, which pgx maps to UTC midnight).
func field[T, V any](name string, f func(*T) *V) column[T] {
	return column[T]{name: name,
		value: func(t *T) any { return *f(t) },
		scan:  func(t *T) any { return f(t) }}
}

// userColumns are the users table's mirrored columns, id first. deleted_at
// and changed_at are the mirror's own and handled by the merge.
var userColumns = []column[model.User]{
	field("id", func(u *model.User) *int64 { return &u.ID }),
	reqText("username", func(u *model.User) *string { return &u.Username }),
	reqText("first_name", func(u *model.User) *string { return &u.FirstName }),
	reqText("last_name", func(u *model.User) *string { return &u.LastName }),
	reqText("name", func(u *model.User) *string { return &u.Name }),
	optText("display_name", func(u *model.User) *string { return &u.DisplayName }),
	optText("email", func(u *model.User) *string { return &u.Email }),
	optText("employee_num", func(u *model.User) *string { return &u.EmployeeNum }),
	optText("jobtitle", func(u *model.User) *string { return &u.JobTitle }),
	optText("phone", func(u *model.User) *string { return &u.Phone }),
	optText("mobile", func(u *model.User) *string { return &u.Mobile }),
	optText("website", func(u *model.User) *string { return &u.Website }),
	optText("address", func(u *model.User) *string { return &u.Address }),
	optText("city", func(u *model.User) *string { return &u.City }),
	optText("state", func(u *model.User) *string { return &u.State }),
	optText("country", func(u *model.User) *string { return &u.Country }),
	optText("zip", func(u *model.User) *string { return &u.Zip }),
	optText("locale", func(u *model.User) *string { return &u.Locale }),
	optText("notes", func(u *model.User) *string { return &u.Notes }),
	field("department_id", func(u *model.User) **int64 { return &u.DepartmentID }),
	optText("department_name", func(u *model.User) *string { return &u.DepartmentName }),
	field("location_id", func(u *model.User) **int64 { return &u.LocationID }),
	optText("location_name", func(u *model.User) *string { return &u.LocationName }),
	field("manager_id", func(u *model.User) **int64 { return &u.ManagerID }),
	optText("manager_name", func(u *model.User) *string { return &u.ManagerName }),
	field("company_id", func(u *model.User) **int64 { return &u.CompanyID }),
	optText("company_name", func(u *model.User) *string { return &u.CompanyName }),
	field("company_ids", func(u *model.User) *[]int64 { return &u.CompanyIDs }),
	field("groups", func(u *model.User) *[]string { return &u.Groups }),
	optText("role", func(u *model.User) *string { return &u.Role }),
	field("activated", func(u *model.User) *bool { return &u.Activated }),
	field("remote", func(u *model.User) *bool { return &u.Remote }),
	field("vip", func(u *model.User) *bool { return &u.VIP }),
	field("ldap_import", func(u *model.User) *bool { return &u.LDAPImport }),
	field("two_factor_enrolled", func(u *model.User) *bool { return &u.TwoFactorEnrolled }),
	field("two_factor_optin", func(u *model.User) *bool { return &u.TwoFactorOptin }),
	field("autoassign_licenses", func(u *model.User) *bool { return &u.AutoassignLicenses }),
	field("assets_count", func(u *model.User) *int32 { return &u.AssetsCount }),
	field("licenses_count", func(u *model.User) *int32 { return &u.LicensesCount }),
	field("accessories_count", func(u *model.User) *int32 { return &u.AccessoriesCount }),
	field("consumables_count", func(u *model.User) *int32 { return &u.ConsumablesCount }),
	field("manages_users_count", func(u *model.User) *int32 { return &u.ManagesUsersCount }),
	field("manages_locations_count", func(u *model.User) *int32 { return &u.ManagesLocationsCount }),
	field("start_date", func(u *model.User) **time.Time { return &u.StartDate }),
	field("end_date", func(u *model.User) **time.Time { return &u.EndDate }),
	field("last_login", func(u *model.User) **time.Time { return &u.LastLogin }),
	field("snipeit_created_at", func(u *model.User) **time.Time { return &u.CreatedAt }),
	field("snipeit_updated_at", func(u *model.User) **time.Time { return &u.UpdatedAt }),
}

// assetColumns are the assets table's mirrored columns, id first.
var assetColumns = []column[model.Asset]{
	field("id", func(a *model.Asset) *int64 { return &a.ID }),
	reqText("asset_tag", func(a *model.Asset) *string { return &a.AssetTag }),
	reqText("name", func(a *model.Asset) *string { return &a.Name }),
	reqText("serial", func(a *model.Asset) *string { return &a.Serial }),
	field("model_id", func(a *model.Asset) **int64 { return &a.ModelID }),
	optText("model_name", func(a *model.Asset) *string { return &a.ModelName }),
	optText("model_number", func(a *model.Asset) *string { return &a.ModelNumber }),
	field("category_id", func(a *model.Asset) **int64 { return &a.CategoryID }),
	optText("category_name", func(a *model.Asset) *string { return &a.CategoryName }),
	field("manufacturer_id", func(a *model.Asset) **int64 { return &a.ManufacturerID }),
	optText("manufacturer_name", func(a *model.Asset) *string { return &a.ManufacturerName }),
	field("supplier_id", func(a *model.Asset) **int64 { return &a.SupplierID }),
	optText("supplier_name", func(a *model.Asset) *string { return &a.SupplierName }),
	field("company_id", func(a *model.Asset) **int64 { return &a.CompanyID }),
	optText("company_name", func(a *model.Asset) *string { return &a.CompanyName }),
	field("location_id", func(a *model.Asset) **int64 { return &a.LocationID }),
	optText("location_name", func(a *model.Asset) *string { return &a.LocationName }),
	field("rtd_location_id", func(a *model.Asset) **int64 { return &a.RTDLocationID }),
	optText("rtd_location_name", func(a *model.Asset) *string { return &a.RTDLocationName }),
	field("status_id", func(a *model.Asset) **int64 { return &a.StatusID }),
	optText("status_name", func(a *model.Asset) *string { return &a.StatusName }),
	optText("status_type", func(a *model.Asset) *string { return &a.StatusType }),
	optText("status_meta", func(a *model.Asset) *string { return &a.StatusMeta }),
	optText("assigned_type", func(a *model.Asset) *string { return &a.AssignedType }),
	field("assigned_to_id", func(a *model.Asset) **int64 { return &a.AssignedToID }),
	field("assigned_user_id", func(a *model.Asset) **int64 { return &a.AssignedUserID }),
	field("byod", func(a *model.Asset) *bool { return &a.Byod }),
	field("requestable", func(a *model.Asset) *bool { return &a.Requestable }),
	optText("order_number", func(a *model.Asset) *string { return &a.OrderNumber }),
	optText("notes", func(a *model.Asset) *string { return &a.Notes }),
	optText("purchase_cost", func(a *model.Asset) *string { return &a.PurchaseCost }),
	field("warranty_months", func(a *model.Asset) **int32 { return &a.WarrantyMonths }),
	field("purchase_date", func(a *model.Asset) **time.Time { return &a.PurchaseDate }),
	field("warranty_expires", func(a *model.Asset) **time.Time { return &a.WarrantyExpires }),
	field("eol_date", func(a *model.Asset) **time.Time { return &a.EOLDate }),
	field("next_audit_date", func(a *model.Asset) **time.Time { return &a.NextAuditDate }),
	field("expected_checkin", func(a *model.Asset) **time.Time { return &a.ExpectedCheckin }),
	field("last_audit_date", func(a *model.Asset) **time.Time { return &a.LastAuditDate }),
	field("last_checkout", func(a *model.Asset) **time.Time { return &a.LastCheckout }),
	field("last_checkin", func(a *model.Asset) **time.Time { return &a.LastCheckin }),
	field("snipeit_created_at", func(a *model.Asset) **time.Time { return &a.CreatedAt }),
	field("snipeit_updated_at", func(a *model.Asset) **time.Time { return &a.UpdatedAt }),
	{name: "custom_fields",
		value: func(a *model.Asset) any {
			if a.CustomFields == nil {
				return map[string]string{}
			}
			return a.CustomFields
		},
		scan: func(a *model.Asset) any { return &a.CustomFields }},
}

// digest returns a 16-byte digest of a row's mirrored values, as COPY
// writes them. A sync compares it with the stored sync_hash to leave
// unchanged rows out of what it sends. buf is scratch space, reused.
func digest(values []any, buf []byte) ([]byte, []byte) {
	buf = buf[:0]
	for _, v := range values {
		buf = appendValue(buf, v)
	}
	sum := sha256.Sum256(buf)
	return sum[:16:16], buf
}

// appendValue encodes one column value unambiguously: a type tag, then a
// fixed-width number or a length-prefixed string.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, 0)
	case string:
		b = binary.AppendUvarint(append(b, 1), uint64(len(v)))
		return append(b, v...)
	case int64:
		return binary.LittleEndian.AppendUint64(append(b, 2), uint64(v))
	case *int64:
		if v == nil {
			return append(b, 0)
		}
		return appendValue(b, *v)
	case int32:
		return binary.LittleEndian.AppendUint32(append(b, 3), uint32(v))
	case *int32:
		if v == nil {
			return append(b, 0)
		}
		return appendValue(b, *v)
	case bool:
		if v {
			return append(b, 4, 1)
		}
		return append(b, 4, 0)
	case *time.Time:
		if v == nil {
			return append(b, 0)
		}
		return binary.LittleEndian.AppendUint64(append(b, 5), uint64(v.UnixNano()))
	case []int64:
		if v == nil {
			return append(b, 0)
		}
		b = binary.AppendUvarint(append(b, 6), uint64(len(v)))
		for _, n := range v {
			b = binary.LittleEndian.AppendUint64(b, uint64(n))
		}
		return b
	case []string:
		if v == nil {
			return append(b, 0)
		}
		b = binary.AppendUvarint(append(b, 7), uint64(len(v)))
		for _, s := range v {
			b = appendValue(b, s)
		}
		return b
	case map[string]string:
		keys := slices.Sorted(maps.Keys(v))
		b = binary.AppendUvarint(append(b, 8), uint64(len(keys)))
		for _, k := range keys {
			b = appendValue(appendValue(b, k), v[k])
		}
		return b
	default:
		// A column type without a case: still deterministic.
		return fmt.Appendf(append(b, 9), "%T:%v", v, v)
	}
}
