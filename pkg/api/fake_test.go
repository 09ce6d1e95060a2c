package api_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/model"
)

// fakeStore is an in-memory mirror that satisfies the api readers. err,
// when set, is what every read returns; streamErrAfter makes a stream fail
// after that many rows.
type fakeStore struct {
	mu             sync.Mutex
	users          []model.User
	assets         []model.Asset
	runs           []model.SyncRun
	statuses       []model.ScopeStatus
	err            error
	streamErrAfter int
	streamErr      error
	lastUserFilter model.UserFilter
	// hold, when set, stops an asset stream before row holdAfter until it
	// is closed.
	hold      chan struct{}
	holdAfter int
	// exports is the export history; exportErr fails RecordExport.
	exports   []model.Export
	exportErr error
}

func (f *fakeStore) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeStore) GetUser(_ context.Context, id int64) (*model.User, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	for i := range f.users {
		if f.users[i].ID == id {
			u := f.users[i]
			return &u, nil
		}
	}
	return nil, fmt.Errorf("user %d: %w", id, model.ErrNotFound)
}

func (f *fakeStore) GetUserJSON(ctx context.Context, id int64) ([]byte, error) {
	u, err := f.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return api.UserJSON(u)
}

func (f *fakeStore) selectUsers(flt model.UserFilter) []model.User {
	f.mu.Lock()
	f.lastUserFilter = flt
	f.mu.Unlock()
	var out []model.User
	for _, u := range f.users {
		if u.DeletedAt != nil && !flt.IncludeDeleted {
			continue
		}
		if flt.DepartmentID != nil && (u.DepartmentID == nil || *u.DepartmentID != *flt.DepartmentID) {
			continue
		}
		if flt.Query != "" && !strings.Contains(strings.ToLower(u.Username), strings.ToLower(flt.Query)) {
			continue
		}
		out = append(out, u)
	}
	return out
}

// fakeCursor is deliberately simple: the last id, as text.
func fakePage[T any](rows []T, p model.Page, id func(*T) int64) ([]T, string, error) {
	if p.Cursor != "" {
		after, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: malformed cursor", model.ErrInvalid)
		}
		start := slices.IndexFunc(rows, func(r T) bool { return id(&r) > after })
		if start < 0 {
			return []T{}, "", nil
		}
		rows = rows[start:]
	}
	if len(rows) <= p.Limit {
		return rows, "", nil
	}
	return rows[:p.Limit], strconv.FormatInt(id(&rows[p.Limit-1]), 10), nil
}

func (f *fakeStore) ListUsers(_ context.Context, flt model.UserFilter, p model.Page) ([]model.User, string, error) {
	if err := f.fail(); err != nil {
		return nil, "", err
	}
	return fakePage(f.selectUsers(flt), p, func(u *model.User) int64 { return u.ID })
}

func (f *fakeStore) StreamUsers(_ context.Context, flt model.UserFilter, fn func(*model.User) error) error {
	if err := f.fail(); err != nil {
		return err
	}
	for i, u := range f.selectUsers(flt) {
		if f.streamErr != nil && i == f.streamErrAfter {
			return f.streamErr
		}
		if err := fn(&u); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) GetAsset(_ context.Context, id int64) (*model.Asset, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	for i := range f.assets {
		if f.assets[i].ID == id {
			a := f.assets[i]
			return &a, nil
		}
	}
	return nil, fmt.Errorf("asset %d: %w", id, model.ErrNotFound)
}

func (f *fakeStore) selectAssets(flt model.AssetFilter) []model.Asset {
	var out []model.Asset
	for _, a := range f.assets {
		if flt.AssignedUserID != nil && (a.AssignedUserID == nil || *a.AssignedUserID != *flt.AssignedUserID) {
			continue
		}
		if flt.Status != "" && a.StatusType != flt.Status {
			continue
		}
		out = append(out, a)
	}
	return out
}

func (f *fakeStore) ListAssets(_ context.Context, flt model.AssetFilter, p model.Page) ([]model.Asset, string, error) {
	if err := f.fail(); err != nil {
		return nil, "", err
	}
	return fakePage(f.selectAssets(flt), p, func(a *model.Asset) int64 { return a.ID })
}

func (f *fakeStore) StreamAssets(ctx context.Context, flt model.AssetFilter, fn func(*model.Asset) error) error {
	if err := f.fail(); err != nil {
		return err
	}
	for i, a := range f.selectAssets(flt) {
		if f.hold != nil && i == f.holdAfter {
			// Stand still mid-stream until the test lets go, as a large
			// listing does while the client reads the first rows.
			select {
			case <-f.hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) ListUserAssets(ctx context.Context, userID int64, flt model.AssetFilter, p model.Page) ([]model.Asset, string, error) {
	if _, err := f.GetUser(ctx, userID); err != nil {
		return nil, "", err
	}
	flt.AssignedUserID = &userID
	return fakePage(f.selectAssets(flt), p, func(a *model.Asset) int64 { return a.ID })
}

func (f *fakeStore) StreamUserAssets(ctx context.Context, userID int64, flt model.AssetFilter, fn func(*model.Asset) error) error {
	if _, err := f.GetUser(ctx, userID); err != nil {
		return err
	}
	flt.AssignedUserID = &userID
	return f.StreamAssets(ctx, flt, fn)
}

func (f *fakeStore) ListRuns(_ context.Context, flt model.RunFilter, p model.Page) ([]model.SyncRun, string, error) {
	if err := f.fail(); err != nil {
		return nil, "", err
	}
	var out []model.SyncRun
	for _, r := range f.runs {
		if (flt.Scope == "" || r.Scope == flt.Scope) && (flt.Status == "" || r.Status == flt.Status) {
			out = append(out, r)
		}
	}
	// Newest first: the fake's cursor counts down, so negate the ids.
	return fakePage(out, p, func(r *model.SyncRun) int64 { return -r.ID })
}

func (f *fakeStore) ScopeStatuses(context.Context) ([]model.ScopeStatus, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.statuses, nil
}

func (f *fakeStore) RunsOfJobs(_ context.Context, jobs []string) ([]model.SyncRun, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	out := []model.SyncRun{}
	for _, r := range f.runs {
		if slices.Contains(jobs, r.JobName) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) Ping(context.Context) error { return f.fail() }

func (f *fakeStore) RecordExport(_ context.Context, e model.Export) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exportErr != nil {
		return f.exportErr
	}
	e.ID = int64(len(f.exports) + 1)
	f.exports = append(f.exports, e)
	return nil
}

func (f *fakeStore) recorded() []model.Export {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.exports)
}

func (f *fakeStore) ListExports(_ context.Context, p model.Page) ([]model.Export, string, error) {
	if err := f.fail(); err != nil {
		return nil, "", err
	}
	newest := f.recorded()
	slices.Reverse(newest)
	return fakePage(newest, p, func(e *model.Export) int64 { return -e.ID })
}
