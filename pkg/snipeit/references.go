package snipeit

import (
	"context"
	"fmt"

	"github.com/usersync/usersync/pkg/model"
)

// Departments lists every department: id, name and updated_at, by id.
// Renaming a department changes the name its users show without moving
// their updated_at or writing to the activity log; this listing is where
// an incremental run sees it. A site has few, so it is one request.
func (c *Client) Departments(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "departments")
}

// Locations lists every location as Departments lists departments; users
// and assets (current and default location) show their names, and each
// user's manages_locations_count counts the locations that show it as
// their manager.
func (c *Client) Locations(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "locations")
}

// Companies lists every company as Departments lists departments.
func (c *Client) Companies(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "companies")
}

// Suppliers lists every supplier as Departments lists departments; assets
// show their names.
func (c *Client) Suppliers(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "suppliers")
}

// Models lists every asset model with what assets show of it: name,
// number, category and manufacturer. A category's or manufacturer's rename
// shows here without the model's updated_at moving.
func (c *Client) Models(ctx context.Context) ([]model.AssetModel, error) {
	return listAll(ctx, c, "models", readAssetModel, func(m *model.AssetModel) int64 { return m.ID })
}

// StatusLabels lists every status label with its name and type.
func (c *Client) StatusLabels(ctx context.Context) ([]model.StatusLabel, error) {
	return listAll(ctx, c, "statuslabels", readStatusLabel, func(l *model.StatusLabel) int64 { return l.ID })
}

// references pages GET /api/v1/<kind> by id; the endpoint label is kind.
func (c *Client) references(ctx context.Context, kind string) ([]model.Reference, error) {
	return listAll(ctx, c, kind, readReference, func(r *model.Reference) int64 { return r.ID })
}

// listAll pages GET /api/v1/<kind> by id into a slice; the endpoint label
// is kind.
func listAll[T any](ctx context.Context, c *Client, kind string, read func(*reader) (T, error), id func(*T) int64) ([]T, error) {
	l := listing[T]{endpoint: kind, path: "/" + kind, read: read, id: id}
	var out []T
	var problems fieldWarnings
	defer problems.report(c.log, kind)
	if err := walk(ctx, c, l, func(r *T) bool { out = append(out, *r); return true }, &problems); err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	return out, nil
}

// readReference reads a row of the departments, locations or companies
// listing: its id, name, updated_at and manager (a location's is a whole
// user row, of which the id is read).
func readReference(r *reader) (model.Reference, error) {
	var ref model.Reference
	var idOK bool
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			ref.ID, idOK = r.integer("id", "", 64, storedNull)
		case "name":
			ref.Name = r.str("name", "")
		case "updated_at":
			ref.UpdatedAt = r.when("updated_at", true)
		case "manager":
			ref.ManagerID, _ = r.ref("manager")
		default:
			r.skip()
		}
	})
	r.id = ref.ID
	if !idOK || ref.ID <= 0 {
		return model.Reference{}, fmt.Errorf("%w: row without an id", errBadRow)
	}
	return ref, nil
}

// readAssetModel reads a row of GET /api/v1/models
// (AssetModelsTransformer): id, name, model_number, category,
// manufacturer and updated_at.
func readAssetModel(r *reader) (model.AssetModel, error) {
	var m model.AssetModel
	var idOK bool
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			m.ID, idOK = r.integer("id", "", 64, storedNull)
		case "name":
			m.Name = r.str("name", "")
		case "model_number":
			m.ModelNumber = r.str("model_number", "")
		case "category":
			m.CategoryID, m.CategoryName = r.ref("category")
		case "manufacturer":
			m.ManufacturerID, m.ManufacturerName = r.ref("manufacturer")
		case "updated_at":
			m.UpdatedAt = r.when("updated_at", true)
		default:
			r.skip()
		}
	})
	r.id = m.ID
	if !idOK || m.ID <= 0 {
		return model.AssetModel{}, fmt.Errorf("%w: row without an id", errBadRow)
	}
	return m, nil
}

// readStatusLabel reads a row of GET /api/v1/statuslabels
// (StatuslabelsTransformer): id, name, type and updated_at.
func readStatusLabel(r *reader) (model.StatusLabel, error) {
	var l model.StatusLabel
	var idOK bool
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			l.ID, idOK = r.integer("id", "", 64, storedNull)
		case "name":
			l.Name = r.str("name", "")
		case "type":
			l.Type = r.str("type", "")
		case "updated_at":
			l.UpdatedAt = r.when("updated_at", true)
		default:
			r.skip()
		}
	})
	r.id = l.ID
	if !idOK || l.ID <= 0 {
		return model.StatusLabel{}, fmt.Errorf("%w: row without an id", errBadRow)
	}
	return l, nil
}
