// Package model holds usersync's domain types — the mirrored Snipe-IT users
// and assets, sync runs, query filters — and the sentinel errors every layer
// maps to. It depends on the standard library only.
package model

import (
	"fmt"
	"time"
)

// Scope names one mirrored collection. A sync run covers exactly one scope
// and writes it in one transaction.
type Scope string

// The scopes usersync mirrors.
const (
	ScopeUsers  Scope = "users"
	ScopeAssets Scope = "assets"
)

// Scopes lists every scope in the order a full sync runs them.
var Scopes = []Scope{ScopeUsers, ScopeAssets}

// ParseScope turns a command-line or API scope name into the scopes it
// covers: "users", "assets", or "all" for both.
func ParseScope(s string) ([]Scope, error) {
	switch s {
	case string(ScopeUsers):
		return []Scope{ScopeUsers}, nil
	case string(ScopeAssets):
		return []Scope{ScopeAssets}, nil
	case "all":
		return []Scope{ScopeUsers, ScopeAssets}, nil
	}
	return nil, fmt.Errorf("%w: scope %q: want users, assets or all", ErrInvalid, s)
}

// User is one Snipe-IT user as mirrored. Strings are HTML-decoded; an empty
// string means Snipe-IT sent null or "" (the mirror stores NULL for both
// where the column is optional). Ids of related records are nil when the
// relation is empty.
type User struct {
	ID          int64
	Username    string
	FirstName   string
	LastName    string
	Name        string // Snipe-IT's display-formatted full name
	DisplayName string
	Email       string
	EmployeeNum string
	JobTitle    string
	Phone       string
	Mobile      string
	Website     string
	Address     string
	City        string
	State       string
	Country     string
	Zip         string
	Locale      string
	Notes       string // HTML as Snipe-IT renders it, entities decoded

	DepartmentID   *int64
	DepartmentName string
	LocationID     *int64
	LocationName   string
	ManagerID      *int64
	ManagerName    string
	CompanyID      *int64 // the first company (Snipe-IT's legacy "company")
	CompanyName    string
	CompanyIDs     []int64 // every company (Snipe-IT ≥ 8.6); nil when unknown
	Groups         []string

	Role               string // "superadmin", "admin" or ""
	Activated          bool
	Remote             bool
	VIP                bool
	LDAPImport         bool
	TwoFactorEnrolled  bool
	TwoFactorOptin     bool
	AutoassignLicenses bool

	AssetsCount           int32
	LicensesCount         int32
	AccessoriesCount      int32
	ConsumablesCount      int32
	ManagesUsersCount     int32
	ManagesLocationsCount int32

	StartDate *time.Time // a date (UTC midnight)
	EndDate   *time.Time // a date (UTC midnight)
	LastLogin *time.Time
	CreatedAt *time.Time // Snipe-IT's created_at
	UpdatedAt *time.Time // Snipe-IT's updated_at

	// DeletedAt is set by the mirror when the user vanished upstream (or
	// Snipe-IT reported it deleted); nil for a live user.
	DeletedAt *time.Time
}

// Asset is one Snipe-IT asset ("hardware") as mirrored, archived ones
// included. Strings are HTML-decoded.
type Asset struct {
	ID          int64
	AssetTag    string
	Name        string
	Serial      string
	ModelID     *int64
	ModelName   string
	ModelNumber string

	CategoryID       *int64
	CategoryName     string
	ManufacturerID   *int64
	ManufacturerName string
	SupplierID       *int64
	SupplierName     string
	CompanyID        *int64
	CompanyName      string
	LocationID       *int64
	LocationName     string
	RTDLocationID    *int64
	RTDLocationName  string

	StatusID   *int64
	StatusName string
	StatusType string // deployable, pending, undeployable or archived
	StatusMeta string // status_type, or "deployed" when checked out

	// AssignedType is "user", "location" or "asset" when checked out, "" otherwise.
	AssignedType   string
	AssignedToID   *int64
	AssignedUserID *int64 // AssignedToID when AssignedType is "user"

	Byod        bool
	Requestable bool
	OrderNumber string
	Notes       string

	// PurchaseCost is the cost in the site's currency, parsed from Snipe-IT's
	// locale-formatted string ("1,299.00" or "1.299,00") to a plain decimal
	// ("1299.00"); "" when unset.
	PurchaseCost   string
	WarrantyMonths *int32

	PurchaseDate    *time.Time // date
	WarrantyExpires *time.Time // date
	EOLDate         *time.Time // date (asset_eol_date)
	NextAuditDate   *time.Time // date
	ExpectedCheckin *time.Time // date
	LastAuditDate   *time.Time
	LastCheckout    *time.Time
	LastCheckin     *time.Time
	CreatedAt       *time.Time
	UpdatedAt       *time.Time

	// CustomFields maps a custom field's database column (its stable key,
	// e.g. "_snipeit_mac_address_1") to its value.
	CustomFields map[string]string

	DeletedAt *time.Time
}

// Archived reports whether Snipe-IT hides the asset from its default list.
func (a *Asset) Archived() bool { return a.StatusType == "archived" }

// RunStatus is the outcome of a sync run.
type RunStatus string

// The states a sync_runs row goes through.
const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunSkipped   RunStatus = "skipped"
)

// RunCounts are what one run fetched and changed.
type RunCounts struct {
	Fetched   int64
	Inserted  int64
	Updated   int64
	Deleted   int64
	Unchanged int64
}

// SyncRun is one recorded run of one scope.
type SyncRun struct {
	ID         int64
	Scope      Scope
	Trigger    string // one of Triggers
	JobName    string
	StartedAt  time.Time
	FinishedAt *time.Time
	Status     RunStatus
	Counts     RunCounts
	Error      string
	// Mode is how the run read Snipe-IT; FallbackReason says why a run
	// planned as incremental read everything ("" otherwise).
	Mode           RunMode
	FallbackReason string
	// Watermark is the scope's watermark the run left (nil: it left
	// none, e.g. it failed).
	Watermark *time.Time
}

// Page asks for one page of a keyset-paged listing: at most Limit rows
// after the position encoded in Cursor (empty for the first page).
type Page struct {
	Limit  int
	Cursor string
}

// UserFilter selects users for listing.
type UserFilter struct {
	Query          string // matches name, username or email (case-insensitive substring)
	DepartmentID   *int64
	LocationID     *int64
	IncludeDeleted bool
}

// AssetFilter selects assets for listing.
type AssetFilter struct {
	Query          string // matches asset tag, name or serial (case-insensitive substring)
	AssignedUserID *int64
	Status         string // status type (deployable, archived, …) or status label name
	LocationID     *int64
	IncludeDeleted bool
}

// RunFilter selects sync runs for listing, newest first.
type RunFilter struct {
	Scope  Scope
	Status RunStatus
}

// ScopeStatus summarises the recorded runs of one scope.
type ScopeStatus struct {
	Scope       Scope
	LastRun     *SyncRun
	LastSuccess *SyncRun
	LiveRows    int64
	DeletedRows int64
}

// ChangeKind says what a Change does to a row.
type ChangeKind string

// The kinds of change a sync makes.
const (
	ChangeInsert  ChangeKind = "insert"
	ChangeUpdate  ChangeKind = "update"
	ChangeRestore ChangeKind = "restore"
	ChangeDelete  ChangeKind = "delete"
)

// Change is one row a sync inserts, updates, restores or soft-deletes.
type Change struct {
	Kind ChangeKind
	ID   int64
	// Label names the row for people: a username or an asset tag.
	Label string
	// Columns lists the changed columns of an update.
	Columns []string
}

// ExportOutcome says whether an export reached its client whole.
type ExportOutcome string

// The outcomes of an export.
const (
	// ExportCompleted: every row was sent and the response ended normally.
	ExportCompleted ExportOutcome = "completed"
	// ExportCut: the response ended early — the client went away or read
	// too slowly, the stream hit its time bound, the server shut down, or
	// the database failed midway.
	ExportCut ExportOutcome = "cut"
	// ExportPartial: a paged export whose client has not fetched its last
	// page (yet); every page it fetched was sent whole.
	ExportPartial ExportOutcome = "partial"
)

// Export is one recorded export: a CSV listing or a full JSON stream of a
// listing, as the original service's ExportHistory kept them.
type Export struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time
	// TokenName is the name the token carries in the token file; "" when
	// it has none or no token was sent (public reads). Never the token.
	TokenName string
	// Resource is the listing: users, assets or user_assets.
	Resource string
	// Filters are the listing's filters as the request gave them, by
	// query parameter name (user_id for user_assets).
	Filters map[string]string
	// Format is json or csv.
	Format string
	Rows   int64
	Bytes  int64
	// Outcome is completed, cut or partial.
	Outcome ExportOutcome
	// RequestID is the X-Request-Id of the export's first request.
	RequestID string
	// PageCursor is the cursor a page of a paged export was requested
	// with: the NextCursor of the export's previous page, by which that
	// page's record is found and added to. "" for a first page and for a
	// listing served whole.
	PageCursor string
	// NextCursor is the cursor the page handed out for the next one; ""
	// when it was the last page, or the listing was served whole.
	NextCursor string
}
