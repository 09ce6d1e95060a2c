package api

import (
	"context"
	"net/http"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Asset is an asset ("hardware") as the API returns it, archived ones
// included. Optional text is null when Snipe-IT had none; dates are
// YYYY-MM-DD.
type Asset struct {
	ID               int64             `json:"id"`
	AssetTag         string            `json:"asset_tag"`
	Name             string            `json:"name"`
	Serial           string            `json:"serial"`
	ModelID          *int64            `json:"model_id"`
	ModelName        *string           `json:"model_name"`
	ModelNumber      *string           `json:"model_number"`
	CategoryID       *int64            `json:"category_id"`
	CategoryName     *string           `json:"category_name"`
	ManufacturerID   *int64            `json:"manufacturer_id"`
	ManufacturerName *string           `json:"manufacturer_name"`
	SupplierID       *int64            `json:"supplier_id"`
	SupplierName     *string           `json:"supplier_name"`
	CompanyID        *int64            `json:"company_id"`
	CompanyName      *string           `json:"company_name"`
	LocationID       *int64            `json:"location_id"`
	LocationName     *string           `json:"location_name"`
	RTDLocationID    *int64            `json:"rtd_location_id"`
	RTDLocationName  *string           `json:"rtd_location_name"`
	StatusID         *int64            `json:"status_id"`
	StatusName       *string           `json:"status_name"`
	StatusType       *string           `json:"status_type" doc:"deployable, pending, undeployable or archived."`
	StatusMeta       *string           `json:"status_meta" doc:"status_type, or deployed when checked out."`
	Archived         bool              `json:"archived"`
	AssignedType     *string           `json:"assigned_type" enum:"user,location,asset"`
	AssignedToID     *int64            `json:"assigned_to_id"`
	AssignedUserID   *int64            `json:"assigned_user_id" doc:"The user the asset is checked out to, if it is checked out to a user."`
	Byod             bool              `json:"byod"`
	Requestable      bool              `json:"requestable"`
	OrderNumber      *string           `json:"order_number"`
	Notes            *string           `json:"notes"`
	PurchaseCost     *string           `json:"purchase_cost" doc:"A plain decimal in the site's currency, e.g. 1299.00."`
	WarrantyMonths   *int32            `json:"warranty_months"`
	PurchaseDate     *string           `json:"purchase_date" format:"date"`
	WarrantyExpires  *string           `json:"warranty_expires" format:"date"`
	EOLDate          *string           `json:"eol_date" format:"date"`
	NextAuditDate    *string           `json:"next_audit_date" format:"date"`
	ExpectedCheckin  *string           `json:"expected_checkin" format:"date"`
	LastAuditDate    *time.Time        `json:"last_audit_date"`
	LastCheckout     *time.Time        `json:"last_checkout"`
	LastCheckin      *time.Time        `json:"last_checkin"`
	SnipeitCreatedAt *time.Time        `json:"snipeit_created_at"`
	SnipeitUpdatedAt *time.Time        `json:"snipeit_updated_at"`
	CustomFields     map[string]string `json:"custom_fields" doc:"Custom field values by the field's database column, e.g. _snipeit_mac_address_1."`
	DeletedAt        *time.Time        `json:"deleted_at" doc:"When the asset vanished from Snipe-IT; null while it exists there."`
}

// newAsset converts a mirrored asset; like newUser, it points into a.
func newAsset(a *model.Asset) Asset {
	return Asset{
		ID: a.ID, AssetTag: a.AssetTag, Name: a.Name, Serial: a.Serial,
		ModelID: a.ModelID, ModelName: optString(&a.ModelName), ModelNumber: optString(&a.ModelNumber),
		CategoryID: a.CategoryID, CategoryName: optString(&a.CategoryName),
		ManufacturerID: a.ManufacturerID, ManufacturerName: optString(&a.ManufacturerName),
		SupplierID: a.SupplierID, SupplierName: optString(&a.SupplierName),
		CompanyID: a.CompanyID, CompanyName: optString(&a.CompanyName),
		LocationID: a.LocationID, LocationName: optString(&a.LocationName),
		RTDLocationID: a.RTDLocationID, RTDLocationName: optString(&a.RTDLocationName),
		StatusID: a.StatusID, StatusName: optString(&a.StatusName),
		StatusType: optString(&a.StatusType), StatusMeta: optString(&a.StatusMeta), Archived: a.Archived(),
		AssignedType: optString(&a.AssignedType), AssignedToID: a.AssignedToID, AssignedUserID: a.AssignedUserID,
		Byod: a.Byod, Requestable: a.Requestable,
		OrderNumber: optString(&a.OrderNumber), Notes: optString(&a.Notes),
		PurchaseCost: optString(&a.PurchaseCost), WarrantyMonths: a.WarrantyMonths,
		PurchaseDate: optDate(a.PurchaseDate), WarrantyExpires: optDate(a.WarrantyExpires),
		EOLDate: optDate(a.EOLDate), NextAuditDate: optDate(a.NextAuditDate),
		ExpectedCheckin: optDate(a.ExpectedCheckin),
		LastAuditDate:   a.LastAuditDate, LastCheckout: a.LastCheckout, LastCheckin: a.LastCheckin,
		SnipeitCreatedAt: a.CreatedAt, SnipeitUpdatedAt: a.UpdatedAt,
		CustomFields: a.CustomFields, DeletedAt: a.DeletedAt,
	}
}

// listAssetsInput is GET /assets: paging, format and filters.
type listAssetsInput struct {
	Listing
	Q              string          `query:"q" maxLength:"200" doc:"Case-insensitive substring of the asset tag, name or serial."`
	AssignedUserID optional[int64] `query:"assigned_user_id" doc:"Only assets checked out to this user."`
	Status         string          `query:"status" maxLength:"100" doc:"A status type (deployable, pending, undeployable, archived), deployed, or a status label's name (any case)."`
	LocationID     optional[int64] `query:"location_id" doc:"Only assets at this location."`
	IncludeDeleted bool            `query:"include_deleted" doc:"Also list assets that vanished from Snipe-IT (with deleted_at set)."`
}

func (in *listAssetsInput) filter() model.AssetFilter {
	return model.AssetFilter{Query: in.Q, AssignedUserID: in.AssignedUserID.ptr(), Status: in.Status,
		LocationID: in.LocationID.ptr(), IncludeDeleted: in.IncludeDeleted}
}

// given is the filters as the request gave them, for the export history.
func (in *listAssetsInput) given() filterSet {
	f := filterSet{}
	f.text("q", in.Q)
	f.id("assigned_user_id", in.AssignedUserID)
	f.text("status", in.Status)
	f.id("location_id", in.LocationID)
	f.flag("include_deleted", in.IncludeDeleted)
	return f
}

type getAssetInput struct {
	IfNoneMatch []string `header:"If-None-Match" doc:"ETags the client holds; 304 Not Modified when one is current."`
	AssetID     int64    `path:"asset_id" doc:"The Snipe-IT asset id."`
}

func (s *service) registerAssets() {
	get(s, scopeRead, "list-assets", tagAssets, "/assets", "List assets",
		func(ctx context.Context, in *listAssetsInput) (*listOutput, error) {
			f := in.filter()
			return list(s, ctx, &in.Listing, listing[model.Asset, Asset]{
				resource: "assets", filters: in.given(), wholeJSONIsExport: true, convert: newAsset, csv: s.assetsCSV,
				page: func(ctx context.Context, p model.Page) ([]model.Asset, string, error) {
					return s.deps.Assets.ListAssets(ctx, f, p)
				},
				stream: func(ctx context.Context, fn func(*model.Asset) error) error {
					return s.deps.Assets.StreamAssets(ctx, f, fn)
				},
			})
		},
		openToPublicReads,
		withListDocs[Asset](s, "assets"),
		withErrors(http.StatusUnprocessableEntity),
		withDescription("A JSON array of assets in id order, archived ones included, live ones only unless "+
			"include_deleted; CSV with format=csv or Accept: text/csv (custom_fields as JSON text in one column). "+
			"Paging, streaming and the export history work as for GET /users."))

	get(s, scopeRead, "get-asset", tagAssets, "/assets/{asset_id}", "Get an asset",
		func(ctx context.Context, in *getAssetInput) (*resourceOutput, error) {
			a, err := s.deps.Assets.GetAsset(ctx, in.AssetID)
			return resource(in.IfNoneMatch, a, err, newAsset)
		},
		openToPublicReads,
		withResourceDocs[Asset](s),
		withErrors(http.StatusNotModified, http.StatusNotFound),
		withDescription("One asset by Snipe-IT id, deleted ones included (with deleted_at set). "+
			"Answers carry an ETag for If-None-Match."))
}
