package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/usersync/usersync/pkg/model"
)

// column maps one mirrored field of T to its database column. The writer
// uses encode (binary COPY into staging) and the readers use scan, so the
// field list lives in exactly one place.
type column[T any] struct {
	name   string
	encode func([]byte, *T) ([]byte, error) // appends the field in binary COPY format
	scan   func(*T) any                     // a scan target for a SELECT of name
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

// col builds a column whose value pgx scans straight into the field and
// whose encoding cannot fail.
func col[T, V any](name string, f func(*T) *V, enc func([]byte, V) []byte) column[T] {
	return column[T]{name: name,
		encode: func(b []byte, t *T) ([]byte, error) { return enc(b, *f(t)), nil },
		scan:   func(t *T) any { return f(t) }}
}

// timeCol is a date or timestamptz column. A time PostgreSQL cannot hold
// is written as NULL and the error (errOutOfRange) lets the row encoder
// report it.
func timeCol[T any](name string, f func(*T) **time.Time, enc func([]byte, *time.Time) ([]byte, error)) column[T] {
	return column[T]{name: name,
		encode: func(b []byte, t *T) ([]byte, error) { return enc(b, *f(t)) },
		scan:   func(t *T) any { return f(t) }}
}

// optText is optional text: "" is written as NULL and read back as "".
func optText[T any](name string, f func(*T) *string) column[T] {
	c := col(name, f, appendOptText)
	c.scan = func(t *T) any { return (*nullText)(f(t)) }
	return c
}

// numeric is a decimal kept as a plain decimal string, "" for NULL.
func numeric[T any](name string, f func(*T) *string) column[T] {
	return column[T]{name: name,
		encode: func(b []byte, t *T) ([]byte, error) {
			s := *f(t)
			if s != "" {
				if err := checkDecimal(s); err != nil {
					return b, fmt.Errorf("%s: %w", name, err)
				}
			}
			return appendNumeric(b, s), nil
		},
		scan: func(t *T) any { return (*nullText)(f(t)) }}
}

// rowEncoder writes a table's mirrored columns in binary COPY format for
// one run. A value PostgreSQL cannot hold (a date beyond its range) is
// written as NULL and never fails the run; it is reported once per column
// per run, naming the first row.
type rowEncoder[T any] struct {
	table   string
	columns []column[T]
	log     *slog.Logger
	warned  []bool // by column
}

func newRowEncoder[T any](table string, columns []column[T], log *slog.Logger) *rowEncoder[T] {
	return &rowEncoder[T]{table: table, columns: columns, log: log, warned: make([]bool, len(columns))}
}

// encode appends the columns of row (whose id is id) to b.
func (e *rowEncoder[T]) encode(b []byte, row *T, id int64) ([]byte, error) {
	for i, c := range e.columns {
		var err error
		b, err = c.encode(b, row)
		switch {
		case err == nil:
		case errors.Is(err, errOutOfRange):
			if !e.warned[i] {
				e.warned[i] = true
				e.log.Warn("a value PostgreSQL cannot hold was stored as NULL (reported once per column and run)",
					"table", e.table, "column", c.name, "id", id, "err", err)
			}
		default:
			return b, fmt.Errorf("%s %d: %w", e.table, id, err)
		}
	}
	return b, nil
}

// userColumns are the users table's mirrored columns, id first. deleted_at
// and changed_at are the mirror's own and handled by the merge.
var userColumns = []column[model.User]{
	col("id", func(u *model.User) *int64 { return &u.ID }, appendInt8),
	col("username", func(u *model.User) *string { return &u.Username }, appendText),
	col("first_name", func(u *model.User) *string { return &u.FirstName }, appendText),
	col("last_name", func(u *model.User) *string { return &u.LastName }, appendText),
	col("name", func(u *model.User) *string { return &u.Name }, appendText),
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
	col("department_id", func(u *model.User) **int64 { return &u.DepartmentID }, appendOptInt8),
	optText("department_name", func(u *model.User) *string { return &u.DepartmentName }),
	col("location_id", func(u *model.User) **int64 { return &u.LocationID }, appendOptInt8),
	optText("location_name", func(u *model.User) *string { return &u.LocationName }),
	col("manager_id", func(u *model.User) **int64 { return &u.ManagerID }, appendOptInt8),
	optText("manager_name", func(u *model.User) *string { return &u.ManagerName }),
	col("company_id", func(u *model.User) **int64 { return &u.CompanyID }, appendOptInt8),
	optText("company_name", func(u *model.User) *string { return &u.CompanyName }),
	col("company_ids", func(u *model.User) *[]int64 { return &u.CompanyIDs }, appendInt8Array),
	col("groups", func(u *model.User) *[]string { return &u.Groups }, appendTextArray),
	optText("role", func(u *model.User) *string { return &u.Role }),
	col("activated", func(u *model.User) *bool { return &u.Activated }, appendBool),
	col("remote", func(u *model.User) *bool { return &u.Remote }, appendBool),
	col("vip", func(u *model.User) *bool { return &u.VIP }, appendBool),
	col("ldap_import", func(u *model.User) *bool { return &u.LDAPImport }, appendBool),
	col("two_factor_enrolled", func(u *model.User) *bool { return &u.TwoFactorEnrolled }, appendBool),
	col("two_factor_optin", func(u *model.User) *bool { return &u.TwoFactorOptin }, appendBool),
	col("autoassign_licenses", func(u *model.User) *bool { return &u.AutoassignLicenses }, appendBool),
	col("assets_count", func(u *model.User) *int32 { return &u.AssetsCount }, appendInt4),
	col("licenses_count", func(u *model.User) *int32 { return &u.LicensesCount }, appendInt4),
	col("accessories_count", func(u *model.User) *int32 { return &u.AccessoriesCount }, appendInt4),
	col("consumables_count", func(u *model.User) *int32 { return &u.ConsumablesCount }, appendInt4),
	col("manages_users_count", func(u *model.User) *int32 { return &u.ManagesUsersCount }, appendInt4),
	col("manages_locations_count", func(u *model.User) *int32 { return &u.ManagesLocationsCount }, appendInt4),
	timeCol("start_date", func(u *model.User) **time.Time { return &u.StartDate }, appendDate),
	timeCol("end_date", func(u *model.User) **time.Time { return &u.EndDate }, appendDate),
	timeCol("last_login", func(u *model.User) **time.Time { return &u.LastLogin }, appendTimestamptz),
	timeCol("snipeit_created_at", func(u *model.User) **time.Time { return &u.CreatedAt }, appendTimestamptz),
	timeCol("snipeit_updated_at", func(u *model.User) **time.Time { return &u.UpdatedAt }, appendTimestamptz),
}

// assetColumns are the assets table's mirrored columns, id first.
var assetColumns = []column[model.Asset]{
	col("id", func(a *model.Asset) *int64 { return &a.ID }, appendInt8),
	col("asset_tag", func(a *model.Asset) *string { return &a.AssetTag }, appendText),
	col("name", func(a *model.Asset) *string { return &a.Name }, appendText),
	col("serial", func(a *model.Asset) *string { return &a.Serial }, appendText),
	col("model_id", func(a *model.Asset) **int64 { return &a.ModelID }, appendOptInt8),
	optText("model_name", func(a *model.Asset) *string { return &a.ModelName }),
	optText("model_number", func(a *model.Asset) *string { return &a.ModelNumber }),
	col("category_id", func(a *model.Asset) **int64 { return &a.CategoryID }, appendOptInt8),
	optText("category_name", func(a *model.Asset) *string { return &a.CategoryName }),
	col("manufacturer_id", func(a *model.Asset) **int64 { return &a.ManufacturerID }, appendOptInt8),
	optText("manufacturer_name", func(a *model.Asset) *string { return &a.ManufacturerName }),
	col("supplier_id", func(a *model.Asset) **int64 { return &a.SupplierID }, appendOptInt8),
	optText("supplier_name", func(a *model.Asset) *string { return &a.SupplierName }),
	col("company_id", func(a *model.Asset) **int64 { return &a.CompanyID }, appendOptInt8),
	optText("company_name", func(a *model.Asset) *string { return &a.CompanyName }),
	col("location_id", func(a *model.Asset) **int64 { return &a.LocationID }, appendOptInt8),
	optText("location_name", func(a *model.Asset) *string { return &a.LocationName }),
	col("rtd_location_id", func(a *model.Asset) **int64 { return &a.RTDLocationID }, appendOptInt8),
	optText("rtd_location_name", func(a *model.Asset) *string { return &a.RTDLocationName }),
	col("status_id", func(a *model.Asset) **int64 { return &a.StatusID }, appendOptInt8),
	optText("status_name", func(a *model.Asset) *string { return &a.StatusName }),
	optText("status_type", func(a *model.Asset) *string { return &a.StatusType }),
	optText("status_meta", func(a *model.Asset) *string { return &a.StatusMeta }),
	optText("assigned_type", func(a *model.Asset) *string { return &a.AssignedType }),
	col("assigned_to_id", func(a *model.Asset) **int64 { return &a.AssignedToID }, appendOptInt8),
	col("assigned_user_id", func(a *model.Asset) **int64 { return &a.AssignedUserID }, appendOptInt8),
	col("byod", func(a *model.Asset) *bool { return &a.Byod }, appendBool),
	col("requestable", func(a *model.Asset) *bool { return &a.Requestable }, appendBool),
	optText("order_number", func(a *model.Asset) *string { return &a.OrderNumber }),
	optText("notes", func(a *model.Asset) *string { return &a.Notes }),
	numeric("purchase_cost", func(a *model.Asset) *string { return &a.PurchaseCost }),
	col("warranty_months", func(a *model.Asset) **int32 { return &a.WarrantyMonths }, appendOptInt4),
	timeCol("purchase_date", func(a *model.Asset) **time.Time { return &a.PurchaseDate }, appendDate),
	timeCol("warranty_expires", func(a *model.Asset) **time.Time { return &a.WarrantyExpires }, appendDate),
	timeCol("eol_date", func(a *model.Asset) **time.Time { return &a.EOLDate }, appendDate),
	timeCol("next_audit_date", func(a *model.Asset) **time.Time { return &a.NextAuditDate }, appendDate),
	timeCol("expected_checkin", func(a *model.Asset) **time.Time { return &a.ExpectedCheckin }, appendDate),
	timeCol("last_audit_date", func(a *model.Asset) **time.Time { return &a.LastAuditDate }, appendTimestamptz),
	timeCol("last_checkout", func(a *model.Asset) **time.Time { return &a.LastCheckout }, appendTimestamptz),
	timeCol("last_checkin", func(a *model.Asset) **time.Time { return &a.LastCheckin }, appendTimestamptz),
	timeCol("snipeit_created_at", func(a *model.Asset) **time.Time { return &a.CreatedAt }, appendTimestamptz),
	timeCol("snipeit_updated_at", func(a *model.Asset) **time.Time { return &a.UpdatedAt }, appendTimestamptz),
	col("custom_fields", func(a *model.Asset) *map[string]string { return &a.CustomFields }, appendJSONB),
}
