package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// The reads select the mirrored columns (from columns.go, the one mapping)
// plus deleted_at, which the writer handles itself but readers report.
var (
	userSelect  = columnNames(userColumns, "") + ", deleted_at"
	assetSelect = columnNames(assetColumns, "") + ", deleted_at"
)

// userTargets returns the scan targets for userSelect, pointing into u.
func userTargets(u *model.User) []any {
	return append(scanTargets(userColumns, u), &u.DeletedAt)
}

// assetTargets returns the scan targets for assetSelect, pointing into a.
func assetTargets(a *model.Asset) []any {
	return append(scanTargets(assetColumns, a), &a.DeletedAt)
}

func scanTargets[T any](cols []column[T], t *T) []any {
	targets := make([]any, 0, len(cols)+1)
	for _, c := range cols {
		targets = append(targets, c.scan(t))
	}
	return targets
}

// GetUser returns the user with id, soft-deleted or not: a user that
// vanished upstream is still answered, with DeletedAt set, so a client that
// holds its id learns what happened to it instead of a bare 404. The error
// wraps model.ErrNotFound when the mirror never had the user.
func (db *DB) GetUser(ctx context.Context, id int64) (*model.User, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	defer db.release(c)
	var u model.User
	err = c.QueryRow(ctx, "SELECT "+userSelect+" FROM users WHERE id = $1", id).Scan(userTargets(&u)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("user %d: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("get user %d: %w", id, err))
	}
	return &u, nil
}

// GetAsset returns the asset with id, soft-deleted or not (see GetUser).
func (db *DB) GetAsset(ctx context.Context, id int64) (*model.Asset, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("get asset %d: %w", id, err)
	}
	defer db.release(c)
	var a model.Asset
	err = c.QueryRow(ctx, "SELECT "+assetSelect+" FROM assets WHERE id = $1", id).Scan(assetTargets(&a)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("asset %d: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("get asset %d: %w", id, err))
	}
	return &a, nil
}

// ListUsers returns one page of users in id order, soft-deleted ones only
// when f.IncludeDeleted, and the cursor of the next page ("" on the last).
func (db *DB) ListUsers(ctx context.Context, f model.UserFilter, p model.Page) ([]model.User, string, error) {
	w, err := userWhere(f)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	users, next, err := listPage(ctx, db, "users", userSelect, w, p, cursorUsers, userTargets, func(u *model.User) int64 { return u.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	return users, next, nil
}

// StreamUsers calls fn for every user f selects, in id order, as the rows
// arrive from one query: memory stays constant however many users there
// are. fn receives the same *model.User each time, overwritten per row; it
// must not keep it. An error from fn stops the stream and is returned as is.
func (db *DB) StreamUsers(ctx context.Context, f model.UserFilter, fn func(*model.User) error) error {
	w, err := userWhere(f)
	if err != nil {
		return fmt.Errorf("stream users: %w", err)
	}
	return streamRows(ctx, db, "SELECT "+userSelect+" FROM users"+w.sql()+" ORDER BY id", w.args, "stream users", userTargets, fn)
}

// ListAssets returns one page of assets in id order (see ListUsers).
func (db *DB) ListAssets(ctx context.Context, f model.AssetFilter, p model.Page) ([]model.Asset, string, error) {
	w, err := assetWhere(f)
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	assets, next, err := listPage(ctx, db, "assets", assetSelect, w, p, cursorAssets, assetTargets, func(a *model.Asset) int64 { return a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	return assets, next, nil
}

// StreamAssets calls fn for every asset f selects (see StreamUsers).
func (db *DB) StreamAssets(ctx context.Context, f model.AssetFilter, fn func(*model.Asset) error) error {
	w, err := assetWhere(f)
	if err != nil {
		return fmt.Errorf("stream assets: %w", err)
	}
	return streamRows(ctx, db, "SELECT "+assetSelect+" FROM assets"+w.sql()+" ORDER BY id", w.args, "stream assets", assetTargets, fn)
}

// ListUserAssets returns one page of the assets checked out to user
// userID that f selects (f.AssignedUserID is ignored), in id order, and the
// next page's cursor. The error wraps model.ErrNotFound when the mirror has
// no such user, deleted or not, so an unknown user is told apart from one
// without assets.
func (db *DB) ListUserAssets(ctx context.Context, userID int64, f model.AssetFilter, p model.Page) ([]model.Asset, string, error) {
	f.AssignedUserID = &userID
	w, err := assetWhere(f)
	if err != nil {
		return nil, "", fmt.Errorf("list assets of user %d: %w", userID, err)
	}
	assets, next, err := listPage(ctx, db, "assets", assetSelect, w, p, cursorAssets, assetTargets, func(a *model.Asset) int64 { return a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list assets of user %d: %w", userID, err)
	}
	if len(assets) == 0 {
		if err := db.userExists(ctx, userID); err != nil {
			return nil, "", err
		}
	}
	return assets, next, nil
}

// StreamUserAssets calls fn for every asset checked out to user userID
// that f selects, in id order, as StreamAssets does. When there is none, it
// returns an error wrapping model.ErrNotFound if the user is unknown.
func (db *DB) StreamUserAssets(ctx context.Context, userID int64, f model.AssetFilter, fn func(*model.Asset) error) error {
	f.AssignedUserID = &userID
	w, err := assetWhere(f)
	if err != nil {
		return fmt.Errorf("stream assets of user %d: %w", userID, err)
	}
	n := 0
	err = streamRows(ctx, db, "SELECT "+assetSelect+" FROM assets"+w.sql()+" ORDER BY id", w.args,
		fmt.Sprintf("stream assets of user %d", userID), assetTargets, func(a *model.Asset) error {
			n++
			return fn(a)
		})
	if err != nil || n > 0 {
		return err
	}
	return db.userExists(ctx, userID)
}

// userExists answers the second question an empty list of a user's assets
// raises: is there such a user at all? Only then is it asked.
func (db *DB) userExists(ctx context.Context, userID int64) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("look up user %d: %w", userID, err)
	}
	defer db.release(c)
	var present bool
	err = c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", userID).Scan(&present)
	if err != nil {
		return classify(fmt.Errorf("look up user %d: %w", userID, err))
	}
	if !present {
		return fmt.Errorf("user %d: %w", userID, model.ErrNotFound)
	}
	return nil
}

func userWhere(f model.UserFilter) (*where, error) {
	w := &where{}
	if !f.IncludeDeleted {
		w.conds = append(w.conds, "deleted_at IS NULL")
	}
	if f.Query != "" {
		if err := searchText(f.Query); err != nil {
			return nil, err
		}
		w.add(contains("name", "username", "email"), f.Query)
	}
	if f.DepartmentID != nil {
		w.add("department_id = ?", *f.DepartmentID)
	}
	if f.LocationID != nil {
		w.add("location_id = ?", *f.LocationID)
	}
	return w, nil
}

func assetWhere(f model.AssetFilter) (*where, error) {
	w := &where{}
	if !f.IncludeDeleted {
		w.conds = append(w.conds, "deleted_at IS NULL")
	}
	if f.Query != "" {
		if err := searchText(f.Query); err != nil {
			return nil, err
		}
		w.add(contains("asset_tag", "name", "serial"), f.Query)
	}
	if f.AssignedUserID != nil {
		w.add("assigned_user_id = ?", *f.AssignedUserID)
	}
	if f.Status != "" {
		if err := searchText(f.Status); err != nil {
			return nil, err
		}
		// A status type ("deployable", "archived"), the "deployed" meta
		// status, or a status label's name, the way people say it.
		w.add("(status_type = lower(?) OR status_meta = lower(?) OR lower(status_name) = lower(?))", f.Status)
	}
	if f.LocationID != nil {
		w.add("location_id = ?", *f.LocationID)
	}
	return w, nil
}
