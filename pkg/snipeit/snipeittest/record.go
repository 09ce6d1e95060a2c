package snipeittest

import (
	"slices"
	"time"
)

// Tagged is a related record rendered as {id, name, tag_color}: a company,
// department, location, category, manufacturer or supplier. An empty
// TagColor renders as null.
type Tagged struct {
	ID       int64
	Name     string
	TagColor string
}

// Ref is a related record rendered as {id, name}: a group, a creator, a
// department's manager.
type Ref struct {
	ID   int64
	Name string
}

// Department is a user's department; Manager (may be nil) is rendered as the
// row's department_manager on 8.6.
type Department struct {
	Tagged
	Manager *Ref
}

// Permission is one entry of a user's permissions object. Snipe-IT keeps
// them in insertion order, so they are a slice, not a map.
type Permission struct {
	Name  string
	Value int
}

// StatusLabel is an asset's status label. Type is deployable, pending,
// undeployable or archived.
type StatusLabel struct {
	ID   int64
	Name string
	Type string
}

// The status types Snipe-IT derives from a label's flags.
const (
	StatusDeployable   = "deployable"
	StatusPending      = "pending"
	StatusUndeployable = "undeployable"
	StatusArchived     = "archived"
)

// Depreciation is an asset model's depreciation schedule. Minimum, when
// set, floors book_value (in whole currency units).
type Depreciation struct {
	ID      int64
	Name    string
	Months  int
	Type    string // "amount" or "percent"
	Minimum *int
}

// AssetModel is an asset's model; the asset's category, manufacturer,
// model_number, depreciation and fallback image come from it, as in
// Snipe-IT.
type AssetModel struct {
	ID           int64
	Name         string
	ModelNumber  string
	Image        string // URL; used when the asset has no image of its own
	Category     *Tagged
	Manufacturer *Tagged
	Depreciation *Depreciation
}

// AssignedType says what an asset is checked out to.
type AssignedType string

// The targets an asset can be checked out to.
const (
	AssignedUser     AssignedType = "user"
	AssignedLocation AssignedType = "location"
	AssignedAsset    AssignedType = "asset"
)

// Assignment is an asset's check-out target. For users and assets the
// rendered object is built from the target record as it is when the row is
// rendered (a purged target renders as assigned_to null); for locations,
// which the simulator does not store, Name is the location's name.
type Assignment struct {
	Type AssignedType
	ID   int64
	Name string // locations only
}

// CustomField is one custom field value of an asset, in fieldset order.
// Name is the display name (the JSON key), Field the database column
// (_snipeit_mac_address_1), the stable key a mirror uses.
type CustomField struct {
	Name    string
	Field   string
	Value   string
	Format  string // e.g. "ANY", "MAC", "DATE"
	Element string // e.g. "text", "listbox"
}

// User is one Snipe-IT user as the simulator stores it: raw values, as in
// Snipe-IT's database. Rendering escapes strings with PHP's e() and derives
// what Snipe-IT derives (name, role, counts, available_actions). An empty
// optional string renders as null (or "" where Snipe-IT sends ""), a zero
// time as null, and a zero DeletedAt means the user is live.
type User struct {
	ID          int64
	Avatar      string // URL, or "" when there is none
	FirstName   string
	LastName    string
	DisplayName string
	Username    string
	Remote      bool
	Locale      string
	EmployeeNum string
	ManagerID   int64 // 0: no manager; else another user's id, looked up when rendered
	JobTitle    string
	VIP         bool
	Phone       string
	Mobile      string
	Website     string
	Address     string
	City        string
	State       string
	Country     string
	Zip         string
	Email       string
	Department  *Department
	Location    *Tagged
	Notes       string // raw text; 8.x renders **bold** and *em* as inline HTML

	// Permissions decide the role: superuser=1 is "superadmin", admin=1 "admin".
	Permissions        []Permission
	Activated          bool
	AutoassignLicenses bool
	LDAPImport         bool
	TwoFactorEnrolled  bool
	TwoFactorOptin     bool

	// A count Snipe-IT computes from a table the simulator does not store.
	// assets_count, licenses_count, accessories_count, consumables_count,
	// manages_users_count and manages_locations_count are derived from the
	// stored assets, license seats, accessories, consumables, users and
	// locations instead.
	AssignedMaintenancesCount int

	// Companies: 8.6 renders all of them and company as the first; older
	// versions render the first as company.
	Companies []Tagged
	CreatedBy *Ref
	CreatedAt time.Time
	UpdatedAt time.Time
	StartDate time.Time // a date: only its year, month and day count
	EndDate   time.Time // a date
	LastLogin time.Time
	DeletedAt time.Time
	Groups    []Ref // nil or empty renders as null
}

// Asset is one Snipe-IT asset ("hardware") as the simulator stores it; see
// User for the conventions.
type Asset struct {
	ID          int64
	Name        string
	AssetTag    string
	Serial      string
	Model       *AssetModel
	Byod        bool
	Requestable bool
	EOLDate     time.Time // asset_eol_date, a date
	Status      *StatusLabel
	Supplier    *Tagged
	Notes       string // raw text, rendered like User.Notes
	OrderNumber string
	Company     *Tagged
	Location    *Tagged
	RTDLocation *Tagged
	Image       string // URL; "" falls back to the model's image
	AssignedTo  *Assignment

	// WarrantyMonths renders as "N months"; warranty_expires is derived
	// from it and PurchaseDate. 0 renders both as null.
	WarrantyMonths  int
	CreatedBy       *Ref
	CreatedAt       time.Time
	UpdatedAt       time.Time
	LastAuditDate   time.Time
	NextAuditDate   time.Time // a date
	DeletedAt       time.Time
	PurchaseDate    time.Time // a date
	LastCheckout    time.Time
	LastCheckin     time.Time
	ExpectedCheckin time.Time // a date

	// PurchaseCost is in cents; nil renders as null. book_value is derived
	// from it, the model's depreciation and the server's clock.
	PurchaseCost    *int64
	CheckinCounter  int
	CheckoutCounter int
	RequestsCounter int
	CustomFields    []CustomField
}

// License is a software license and its seats. A seat checked out to a
// user counts in the user's licenses_count.
type License struct {
	ID     int64
	Name   string
	Serial string
	// Seats holds one entry per seat: the id of the user it is checked out
	// to, 0 when free.
	Seats []int64
}

// Accessory is an accessory (a keyboard, a dock) of which Qty exist; each
// checkout counts in the user's accessories_count.
type Accessory struct {
	ID   int64
	Name string
	Qty  int
	// Checkouts holds one user id per checkout; a user may hold several.
	Checkouts []int64
}

// Consumable is a consumable (toner, cables); a checkout is never checked
// in and counts in the user's consumables_count for good.
type Consumable struct {
	ID        int64
	Name      string
	Qty       int
	Checkouts []int64 // one user id per checkout
}

// Dataset is what a simulator serves. The server takes ownership of the
// records it is given (mutations replace records, they never write to the
// ones passed in), so one Dataset may seed several servers.
type Dataset struct {
	Users       []User
	Assets      []Asset
	Licenses    []License
	Accessories []Accessory
	Consumables []Consumable
	// LocationManagers maps a location (one a user or asset shows) to the
	// user who manages it (locations.manager_id): GET /locations shows the
	// manager, and that user's manages_locations_count counts it.
	LocationManagers map[int64]int64
}

// clone returns a copy of u that shares no memory with it, so an update
// function can edit nested values without touching other records.
func (u *User) clone() *User {
	c := *u
	if u.Department != nil {
		d := *u.Department
		d.Manager = clonePtr(u.Department.Manager)
		c.Department = &d
	}
	c.Location = clonePtr(u.Location)
	c.CreatedBy = clonePtr(u.CreatedBy)
	c.Permissions = slices.Clone(u.Permissions)
	c.Companies = slices.Clone(u.Companies)
	c.Groups = slices.Clone(u.Groups)
	return &c
}

// clone returns a copy of a that shares no memory with it.
func (a *Asset) clone() *Asset {
	c := *a
	if a.Model != nil {
		m := *a.Model
		m.Category = clonePtr(m.Category)
		m.Manufacturer = clonePtr(m.Manufacturer)
		if m.Depreciation != nil {
			d := *m.Depreciation
			d.Minimum = clonePtr(d.Minimum)
			m.Depreciation = &d
		}
		c.Model = &m
	}
	c.Status = clonePtr(a.Status)
	c.Supplier = clonePtr(a.Supplier)
	c.Company = clonePtr(a.Company)
	c.Location = clonePtr(a.Location)
	c.RTDLocation = clonePtr(a.RTDLocation)
	c.AssignedTo = clonePtr(a.AssignedTo)
	c.CreatedBy = clonePtr(a.CreatedBy)
	c.PurchaseCost = clonePtr(a.PurchaseCost)
	c.CustomFields = slices.Clone(a.CustomFields)
	return &c
}

func (l *License) clone() *License {
	c := *l
	c.Seats = slices.Clone(l.Seats)
	return &c
}

func (a *Accessory) clone() *Accessory {
	c := *a
	c.Checkouts = slices.Clone(a.Checkouts)
	return &c
}

func (c *Consumable) clone() *Consumable {
	n := *c
	n.Checkouts = slices.Clone(c.Checkouts)
	return &n
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// archived reports whether Snipe-IT hides the asset from its default list.
func (a *Asset) archived() bool { return a.Status != nil && a.Status.Type == StatusArchived }

// customFieldMap is the mirror's view of an asset's custom fields: database
// column → value, never nil.
func (a *Asset) customFieldMap() map[string]string {
	m := make(map[string]string, len(a.CustomFields))
	for _, f := range a.CustomFields {
		m[f.Field] = f.Value
	}
	return m
}
