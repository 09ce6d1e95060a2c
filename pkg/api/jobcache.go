package api

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/usersync/usersync/pkg/model"
)

// DefaultJobsCacheTTL is how old the list of sync Jobs that GET /sync/jobs
// answers from may be, unless Deps.JobsCacheTTL says otherwise.
const DefaultJobsCacheTTL = 5 * time.Second

// jobsMissRefresh is how old the list must be before a GET
// /sync/jobs/{name} that does not find its Job lists again: a Job started
// through another replica is found within about a second, while clients
// asking for names that do not exist cause at most one list a second.
const jobsMissRefresh = time.Second

// jobCache answers the sync-Job reads from one list of the CronJob's Jobs,
// shared by every request for up to its TTL: each list is a namespace-wide
// LIST of the Kubernetes API (and a GET of the CronJob), which clients
// polling a Job must not repeat per request. Requests that find the list
// stale while it is being refreshed wait for that one refresh (single
// flight) instead of starting their own. A failed list is kept for
// jobsMissRefresh, so a Kubernetes API that struggles is not asked again by
// every request. A launch through this process drops the list, so the Job
// it started shows at once here; other replicas list again on a miss.
//
// The cache is a TTL, not an informer: it needs no watch on Jobs (the API's
// Role grants get, list and create), holds no connection open between
// requests, and usersapi still starts and answers whether Kubernetes does
// or not; the cost is that a Job's state may be up to the TTL old.
type jobCache struct {
	launcher SyncLauncher
	ttl      time.Duration
	now      func() time.Time
	flight   singleflight.Group

	mu sync.Mutex
	// gen counts launches: a list begun before the latest launch is not
	// kept, since it may lack the Job that launch created.
	gen     uint64
	listGen uint64
	at      time.Time
	jobs    []model.SyncJob
	err     error
	valid   bool
}

func newJobCache(l SyncLauncher, ttl time.Duration, now func() time.Time) *jobCache {
	if ttl <= 0 {
		ttl = DefaultJobsCacheTTL
	}
	return &jobCache{launcher: l, ttl: ttl, now: now}
}

// list returns the CronJob's Jobs, newest first, from a list at most the
// TTL old. The slice is shared: callers must not modify it.
func (c *jobCache) list(ctx context.Context) ([]model.SyncJob, error) {
	jobs, _, err := c.fresh(ctx, c.ttl)
	return jobs, err
}

// get returns the Job called name, or an error wrapping ErrNotFound.
func (c *jobCache) get(ctx context.Context, name string) (model.SyncJob, error) {
	jobs, age, err := c.fresh(ctx, c.ttl)
	if err != nil {
		return model.SyncJob{}, err
	}
	if j, ok := findJob(jobs, name); ok {
		return j, nil
	}
	if age >= jobsMissRefresh {
		// Perhaps started through another replica since this list.
		if jobs, _, err = c.fresh(ctx, jobsMissRefresh); err != nil {
			return model.SyncJob{}, err
		}
		if j, ok := findJob(jobs, name); ok {
			return j, nil
		}
	}
	return model.SyncJob{}, fmt.Errorf("%w: no sync Job %q", model.ErrNotFound, name)
}

func findJob(jobs []model.SyncJob, name string) (model.SyncJob, bool) {
	for _, j := range jobs {
		if j.Name == name {
			return j, true
		}
	}
	return model.SyncJob{}, false
}

// launched drops the list after a launch through this process.
func (c *jobCache) launched() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// fresh returns a list at most maxAge old (a failed one at most
// jobsMissRefresh old) and its age, listing again when there is none.
func (c *jobCache) fresh(ctx context.Context, maxAge time.Duration) ([]model.SyncJob, time.Duration, error) {
	c.mu.Lock()
	gen := c.gen
	if c.valid && c.listGen == gen {
		age := c.now().Sub(c.at)
		keep := maxAge
		if c.err != nil {
			keep = min(maxAge, jobsMissRefresh)
		}
		if age < keep {
			jobs, err := c.jobs, c.err
			c.mu.Unlock()
			return jobs, age, err
		}
	}
	c.mu.Unlock()

	// The list is shared by every request waiting for it, so it must not
	// end with the one that started it: it runs without the caller's
	// cancellation (the launcher bounds it with its own timeout).
	ch := c.flight.DoChan(strconv.FormatUint(gen, 10), func() (any, error) {
		jobs, err := c.launcher.ListSyncJobs(context.WithoutCancel(ctx))
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			c.jobs, c.err, c.at, c.listGen, c.valid = jobs, err, c.now(), gen, true
		}
		return jobs, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, 0, r.Err
		}
		return r.Val.([]model.SyncJob), 0, nil
	case <-ctx.Done():
		return nil, 0, context.Cause(ctx)
	}
}
