package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// listingLauncher counts the lists it answers; with gate set, each list
// waits until the gate is closed.
type listingLauncher struct {
	fakeLauncher
	lists atomic.Int64
	gate  chan struct{}
}

func (l *listingLauncher) ListSyncJobs(ctx context.Context) ([]model.SyncJob, error) {
	l.lists.Add(1)
	if l.gate != nil {
		<-l.gate
	}
	return l.fakeLauncher.ListSyncJobs(ctx)
}

// jobCacheHandler serves the API with the launcher, a read and a sync
// token, and the clock.
func jobCacheHandler(t *testing.T, l api.SyncLauncher, c *snipeittest.Clock) http.Handler {
	t.Helper()
	tokens, _ := loadTokens(t, "read:"+readToken+"\nsync:"+syncToken+"\n")
	store := &fakeStore{}
	h, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: store, Assets: store, Runs: store, Tokens: tokens, Launcher: l, Now: c.Now},
		DB:   store,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSyncJobsAreListedOncePerTTL(t *testing.T) {
	c := snipeittest.NewClock(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	l := &listingLauncher{fakeLauncher: fakeLauncher{jobs: []model.SyncJob{{Name: "usersync-29000000", Scope: "all",
		Trigger: "schedule", State: model.JobRunning, CreatedAt: c.Now()}}}}
	h := jobCacheHandler(t, l, c)
	for _, path := range []string{"/sync/jobs", "/sync/jobs/usersync-29000000", "/sync/jobs", "/sync/jobs/usersync-29000000"} {
		if rec := serve(h, http.MethodGet, path, readToken); rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
		c.Advance(time.Second)
	}
	if n := l.lists.Load(); n != 1 {
		t.Errorf("four reads within the TTL listed %d times, want 1", n)
	}

	// The Job's state is at most the TTL old.
	l.mu.Lock()
	l.jobs[0].State = model.JobSucceeded
	l.mu.Unlock()
	c.Advance(api.DefaultJobsCacheTTL)
	if rec := serve(h, http.MethodGet, "/sync/jobs/usersync-29000000", readToken); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `"state":"succeeded"`) {
		t.Errorf("after the TTL: %d %s, want the new state", rec.Code, rec.Body)
	}
	if n := l.lists.Load(); n != 2 {
		t.Errorf("after the TTL: %d lists, want 2", n)
	}
}

func TestConcurrentReadersShareOneList(t *testing.T) {
	c := snipeittest.NewClock(time.Now())
	l := &listingLauncher{gate: make(chan struct{})}
	h := jobCacheHandler(t, l, c)
	const readers = 20
	codes := make(chan int, readers)
	for i := range readers {
		path := "/sync/jobs"
		if i%2 == 1 {
			path = fmt.Sprintf("/sync/jobs/usersync-%d", i)
		}
		go func() { codes <- serve(h, http.MethodGet, path, readToken).Code }()
	}
	eventually.Until(t, 10*time.Second, "the first list to start", func() bool { return l.lists.Load() == 1 })
	close(l.gate)
	for range readers {
		if code := <-codes; code != http.StatusOK && code != http.StatusNotFound {
			t.Errorf("a reader got %d", code)
		}
	}
	// The readers of a name that is not there list once more: at most
	// one list a second, shared.
	if n := l.lists.Load(); n > 2 {
		t.Errorf("%d concurrent readers made %d lists, want at most 2", readers, n)
	}
}

func TestAMissListsAgainAtMostOnceASecond(t *testing.T) {
	c := snipeittest.NewClock(time.Now())
	l := &listingLauncher{}
	h := jobCacheHandler(t, l, c)
	// A Job started through another replica after the first list.
	if rec := serve(h, http.MethodGet, "/sync/jobs", readToken); rec.Code != http.StatusOK {
		t.Fatalf("GET /sync/jobs = %d", rec.Code)
	}
	l.mu.Lock()
	l.jobs = append(l.jobs, model.SyncJob{Name: "usersync-api-x", Scope: "users", Trigger: "api", State: model.JobPending, CreatedAt: c.Now()})
	l.mu.Unlock()
	for range 5 {
		if rec := serve(h, http.MethodGet, "/sync/jobs/usersync-api-x", readToken); rec.Code != http.StatusNotFound {
			t.Fatalf("within a second of the list: %d, want 404 from the cached list", rec.Code)
		}
	}
	c.Advance(time.Second)
	if rec := serve(h, http.MethodGet, "/sync/jobs/usersync-api-x", readToken); rec.Code != http.StatusOK {
		t.Errorf("a second later: %d, want the Job found by a new list", rec.Code)
	}
	for range 5 {
		serve(h, http.MethodGet, "/sync/jobs/no-such-job", readToken)
	}
	if n := l.lists.Load(); n != 2 {
		t.Errorf("%d lists, want 2: misses list again at most once a second", n)
	}
}

func TestALaunchShowsAtOnce(t *testing.T) {
	c := snipeittest.NewClock(time.Now())
	l := &listingLauncher{}
	h := jobCacheHandler(t, l, c)
	if rec := serve(h, http.MethodGet, "/sync/jobs", readToken); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
		t.Fatalf("GET /sync/jobs = %d %s", rec.Code, rec.Body)
	}
	rec := serve(h, http.MethodPost, "/sync/users", syncToken)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /sync/users = %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	if rec := serve(h, http.MethodGet, loc, readToken); rec.Code != http.StatusOK {
		t.Errorf("GET %s right after the launch = %d, want 200", loc, rec.Code)
	}
}

func TestAFailedListIsKeptForASecond(t *testing.T) {
	c := snipeittest.NewClock(time.Now())
	l := &listingLauncher{fakeLauncher: fakeLauncher{err: fmt.Errorf("%w: list jobs", model.ErrKubernetesUnavailable)}}
	h := jobCacheHandler(t, l, c)
	for range 3 {
		if rec := serve(h, http.MethodGet, "/sync/jobs", readToken); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("GET /sync/jobs with Kubernetes down = %d, want 503", rec.Code)
		}
	}
	if n := l.lists.Load(); n != 1 {
		t.Errorf("%d lists within a second of a failure, want 1", n)
	}
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	c.Advance(time.Second)
	if rec := serve(h, http.MethodGet, "/sync/jobs", readToken); rec.Code != http.StatusOK {
		t.Errorf("a second after the failure, Kubernetes back: %d, want 200", rec.Code)
	}
}
