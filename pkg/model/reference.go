package model

import "time"

// Reference is a record users and assets show by name: a department, a
// location, a company or a supplier. Renaming one in Snipe-IT moves its own
// updated_at and no user's or asset's, so an incremental sync compares
// these names with the mirror's.
type Reference struct {
	ID        int64
	Name      string // HTML-decoded
	UpdatedAt *time.Time
	// ManagerID is the manager a location (or department) shows: a live
	// user's id, nil when it has none. A user's manages_locations_count
	// counts the locations that show it; changing a location's manager
	// saves the location, not the user.
	ManagerID *int64
}

// AssetModel is an asset model as GET /models lists it: what an asset
// shows of its model — name, number, category and manufacturer — by their
// current names. A category's or manufacturer's rename moves no model's
// updated_at, so an incremental sync compares the whole listing with the
// mirror.
type AssetModel struct {
	ID               int64
	Name             string
	ModelNumber      string
	CategoryID       *int64
	CategoryName     string
	ManufacturerID   *int64
	ManufacturerName string
	UpdatedAt        *time.Time
}

// StatusLabel is a status label as GET /statuslabels lists it: its name
// and type (deployable, pending, undeployable or archived), which assets
// show as status_name and status_type.
type StatusLabel struct {
	ID        int64
	Name      string
	Type      string
	UpdatedAt *time.Time
}
