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
// and assets (current and default location) show their names.
func (c *Client) Locations(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "locations")
}

// Companies lists every company as Departments lists departments.
func (c *Client) Companies(ctx context.Context) ([]model.Reference, error) {
	return c.references(ctx, "companies")
}

// references pages GET /api/v1/<kind> by id; the endpoint label is kind.
func (c *Client) references(ctx context.Context, kind string) ([]model.Reference, error) {
	l := listing[model.Reference]{endpoint: kind, path: "/" + kind, read: readReference,
		id: func(r *model.Reference) int64 { return r.ID }}
	var refs []model.Reference
	var problems fieldWarnings
	defer problems.report(c.log, kind)
	if err := walk(ctx, c, l, func(r *model.Reference) bool { refs = append(refs, *r); return true }, &problems); err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	return refs, nil
}

// readReference reads a row of the departments, locations or companies
// listing: its id, name and updated_at.
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
