package snipeit

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/usersync/usersync/pkg/model"
)

// UsersByID fetches the users with the given ids, soft-deleted ones too
// (with DeletedAt set), one GET /users/{id} each, Config.Parallelism at a
// time: the users an incremental run learned changed without their
// updated_at moving (a license seat checked out to them, say). Snipe-IT
// has no filter for a set of ids. Found users come in ascending id order;
// ids Snipe-IT does not know (purged) come back in missing. Any other
// failure fails the whole lookup.
func (c *Client) UsersByID(ctx context.Context, ids []int64) (found []model.User, missing []int64, err error) {
	return lookup(ctx, c, ids, c.User, func(u *model.User) int64 { return u.ID })
}

// AssetsByID fetches the assets with the given ids as UsersByID fetches
// users, one GET /hardware/{id} each.
func (c *Client) AssetsByID(ctx context.Context, ids []int64) (found []model.Asset, missing []int64, err error) {
	return lookup(ctx, c, ids, c.Asset, func(a *model.Asset) int64 { return a.ID })
}

func lookup[T any](ctx context.Context, c *Client, ids []int64, get func(context.Context, int64) (*T, error), idOf func(*T) int64) ([]T, []int64, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		found    []T
		missing  []int64
		firstErr error
		wg       sync.WaitGroup
	)
	slots := make(chan struct{}, max(c.cfg.Parallelism, 1))
	for _, id := range ids {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			rec, err := get(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, model.ErrNotFound):
				missing = append(missing, id)
			case err != nil:
				if firstErr == nil {
					firstErr = err
					cancel()
				}
			default:
				found = append(found, *rec)
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	slices.SortFunc(found, func(a, b T) int { return cmp.Compare(idOf(&a), idOf(&b)) })
	slices.Sort(missing)
	return found, missing, nil
}
