package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// User is a user as the API returns it. The first ten fields keep the
// original service's names and meaning; the rest add what Snipe-IT knows.
// Optional text is null when Snipe-IT had none; dates are YYYY-MM-DD.
type User struct {
	ID           int64   `json:"id"`
	FirstName    string  `json:"first_name"`
	LastName     string  `json:"last_name"`
	Username     string  `json:"username"`
	Email        *string `json:"email"`
	County       *string `json:"county" doc:"Snipe-IT's country, under the original service's name (Snipe-IT has no county); the same as country."`
	DepartmentID *int64  `json:"department_id"`
	LocationID   *int64  `json:"location_id"`
	AssetsCount  int32   `json:"assets_count"`
	LicenseCount int32   `json:"license_count" doc:"The original service's name for licenses_count."`

	Name                  string     `json:"name" doc:"Snipe-IT's formatted full name."`
	DisplayName           *string    `json:"display_name"`
	EmployeeNum           *string    `json:"employee_num"`
	JobTitle              *string    `json:"jobtitle"`
	Phone                 *string    `json:"phone"`
	Mobile                *string    `json:"mobile"`
	Website               *string    `json:"website"`
	Address               *string    `json:"address"`
	City                  *string    `json:"city"`
	State                 *string    `json:"state"`
	Country               *string    `json:"country"`
	Zip                   *string    `json:"zip"`
	Locale                *string    `json:"locale"`
	Notes                 *string    `json:"notes"`
	DepartmentName        *string    `json:"department_name"`
	LocationName          *string    `json:"location_name"`
	ManagerID             *int64     `json:"manager_id"`
	ManagerName           *string    `json:"manager_name"`
	CompanyID             *int64     `json:"company_id"`
	CompanyName           *string    `json:"company_name"`
	CompanyIDs            []int64    `json:"company_ids" doc:"Every company of the user; null when Snipe-IT did not say."`
	Groups                []string   `json:"groups"`
	Role                  *string    `json:"role" enum:"superadmin,admin"`
	Activated             bool       `json:"activated"`
	Remote                bool       `json:"remote"`
	VIP                   bool       `json:"vip"`
	LDAPImport            bool       `json:"ldap_import"`
	TwoFactorEnrolled     bool       `json:"two_factor_enrolled"`
	TwoFactorOptin        bool       `json:"two_factor_optin"`
	AutoassignLicenses    bool       `json:"autoassign_licenses"`
	LicensesCount         int32      `json:"licenses_count"`
	AccessoriesCount      int32      `json:"accessories_count"`
	ConsumablesCount      int32      `json:"consumables_count"`
	ManagesUsersCount     int32      `json:"manages_users_count"`
	ManagesLocationsCount int32      `json:"manages_locations_count"`
	StartDate             *string    `json:"start_date" format:"date"`
	EndDate               *string    `json:"end_date" format:"date"`
	LastLogin             *time.Time `json:"last_login"`
	SnipeitCreatedAt      *time.Time `json:"snipeit_created_at"`
	SnipeitUpdatedAt      *time.Time `json:"snipeit_updated_at"`
	DeletedAt             *time.Time `json:"deleted_at" doc:"When the user vanished from Snipe-IT; null while it exists there."`
}

// newUser converts a mirrored user. The optional strings point into u, so
// u must outlive the result (it does: both live for one element).
func newUser(u *model.User) User {
	return User{
		ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username,
		Email: optString(&u.Email), County: optString(&u.Country),
		DepartmentID: u.DepartmentID, LocationID: u.LocationID,
		AssetsCount: u.AssetsCount, LicenseCount: u.LicensesCount,

		Name: u.Name, DisplayName: optString(&u.DisplayName), EmployeeNum: optString(&u.EmployeeNum),
		JobTitle: optString(&u.JobTitle), Phone: optString(&u.Phone), Mobile: optString(&u.Mobile),
		Website: optString(&u.Website), Address: optString(&u.Address), City: optString(&u.City),
		State: optString(&u.State), Country: optString(&u.Country), Zip: optString(&u.Zip),
		Locale: optString(&u.Locale), Notes: optString(&u.Notes),
		DepartmentName: optString(&u.DepartmentName), LocationName: optString(&u.LocationName),
		ManagerID: u.ManagerID, ManagerName: optString(&u.ManagerName),
		CompanyID: u.CompanyID, CompanyName: optString(&u.CompanyName), CompanyIDs: u.CompanyIDs,
		Groups: u.Groups, Role: optString(&u.Role),
		Activated: u.Activated, Remote: u.Remote, VIP: u.VIP, LDAPImport: u.LDAPImport,
		TwoFactorEnrolled: u.TwoFactorEnrolled, TwoFactorOptin: u.TwoFactorOptin,
		AutoassignLicenses: u.AutoassignLicenses,
		LicensesCount:      u.LicensesCount, AccessoriesCount: u.AccessoriesCount,
		ConsumablesCount: u.ConsumablesCount, ManagesUsersCount: u.ManagesUsersCount,
		ManagesLocationsCount: u.ManagesLocationsCount,
		StartDate:             optDate(u.StartDate), EndDate: optDate(u.EndDate),
		LastLogin: utc(u.LastLogin), SnipeitCreatedAt: utc(u.CreatedAt), SnipeitUpdatedAt: utc(u.UpdatedAt),
		DeletedAt: utc(u.DeletedAt),
	}
}

// utc is t in UTC: timestamps are written "…Z" whatever the server's
// zone, as postgres.DB.GetUserJSON writes them for GET /users/{id}.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// optString is nil for "", so optional text is JSON null when empty.
func optString(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}

// optDate formats a date column as YYYY-MM-DD.
func optDate(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

// listUsersInput is GET /users: paging, format and filters. (Huma reads
// only exported embedded structs, hence the flat filter fields.)
type listUsersInput struct {
	Listing
	Q              string          `query:"q" maxLength:"200" doc:"Case-insensitive substring of the name, username or email."`
	DepartmentID   optional[int64] `query:"department_id" doc:"Only users of this department."`
	LocationID     optional[int64] `query:"location_id" doc:"Only users at this location."`
	IncludeDeleted bool            `query:"include_deleted" doc:"Also list users that vanished from Snipe-IT (with deleted_at set)."`
}

func (in *listUsersInput) filter() model.UserFilter {
	return model.UserFilter{Query: in.Q, DepartmentID: in.DepartmentID.ptr(), LocationID: in.LocationID.ptr(), IncludeDeleted: in.IncludeDeleted}
}

// given is the filters as the request gave them, for the export history.
func (in *listUsersInput) given() filterSet {
	f := filterSet{}
	f.text("q", in.Q)
	f.id("department_id", in.DepartmentID)
	f.id("location_id", in.LocationID)
	f.flag("include_deleted", in.IncludeDeleted)
	return f
}

type getUserInput struct {
	IfNoneMatch []string `header:"If-None-Match" doc:"ETags the client holds; 304 Not Modified when one is current."`
	UserID      int64    `path:"user_id" doc:"The Snipe-IT user id."`
}

type listUserAssetsInput struct {
	Listing
	UserID         int64 `path:"user_id" doc:"The Snipe-IT user id."`
	IncludeDeleted bool  `query:"include_deleted" doc:"Also list assets that vanished from Snipe-IT."`
}

func (s *service) registerUsers() {
	get(s, scopeRead, "list-users", tagUsers, "/users", "List users",
		func(ctx context.Context, in *listUsersInput) (*listOutput, error) {
			f := in.filter()
			return list(s, ctx, &in.Listing, listing[model.User, User]{
				resource: "users", filters: in.given(), wholeJSONIsExport: true, convert: newUser, csv: s.usersCSV,
				page: func(ctx context.Context, p model.Page) ([]model.User, string, error) {
					return s.deps.Users.ListUsers(ctx, f, p)
				},
				stream: func(ctx context.Context, fn func(*model.User) error) error {
					return s.deps.Users.StreamUsers(ctx, f, fn)
				},
			})
		},
		openToPublicReads,
		withListDocs[User](s, "users"),
		withErrors(http.StatusUnprocessableEntity),
		withDescription("A JSON array of users in id order, live ones only unless include_deleted; CSV with "+
			"format=csv or Accept: text/csv (the same columns as the JSON fields). "+
			"Without limit and cursor every matching user is streamed. With limit (and cursor) one page "+
			"is returned, and a Link header with rel=\"next\" gives the next page's URL; its absence marks "+
			"the last page. Paging is by id, so a sync running meanwhile never makes a user appear twice. "+
			"A CSV answer, or a JSON listing without limit, is recorded in the export history (GET /exports)."))

	get(s, scopeRead, "get-user", tagUsers, "/users/{user_id}", "Get a user",
		func(ctx context.Context, in *getUserInput) (*resourceOutput, error) {
			body, err := s.deps.Users.GetUserJSON(ctx, in.UserID)
			if err != nil {
				return nil, err
			}
			return jsonResource(in.IfNoneMatch, body)
		},
		openToPublicReads,
		withResourceDocs[User](s),
		withErrors(http.StatusNotModified, http.StatusNotFound),
		withDescription("One user by Snipe-IT id. A user that vanished from Snipe-IT is still returned, "+
			"with deleted_at set. Answers carry an ETag; send it in If-None-Match to get 304 when unchanged."))

	get(s, scopeRead, "list-user-assets", tagUsers, "/users/{user_id}/assets", "List the assets checked out to a user",
		func(ctx context.Context, in *listUserAssetsInput) (*listOutput, error) {
			f := model.AssetFilter{IncludeDeleted: in.IncludeDeleted}
			given := filterSet{"user_id": strconv.FormatInt(in.UserID, 10)}
			given.flag("include_deleted", in.IncludeDeleted)
			return list(s, ctx, &in.Listing, listing[model.Asset, Asset]{
				resource: "user_assets", filters: given, convert: newAsset, csv: s.assetsCSV,
				page: func(ctx context.Context, p model.Page) ([]model.Asset, string, error) {
					return s.deps.Assets.ListUserAssets(ctx, in.UserID, f, p)
				},
				stream: func(ctx context.Context, fn func(*model.Asset) error) error {
					return s.deps.Assets.StreamUserAssets(ctx, in.UserID, f, fn)
				},
			})
		},
		openToPublicReads,
		withListDocs[Asset](s, "assets checked out to the user"),
		withErrors(http.StatusNotFound, http.StatusUnprocessableEntity),
		withDescription("The assets checked out to the user, in id order, paged, streamed and exported as "+
			"GET /assets: without limit all of them are streamed; with limit (and cursor) one page and a Link "+
			"header to the next. 404 when the mirror has no such user."))
}
