package snipeit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// newClient returns a client for sim with fast retries, no rate limit.
func newClient(t *testing.T, sim *snipeittest.Server, tweak func(*snipeit.Config)) *snipeit.Client {
	t.Helper()
	cfg := snipeit.Config{
		BaseURL: sim.URL(), Token: sim.Token(), Location: sim.Timezone(),
		RatePerMinute: -1, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := snipeit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect[T any](t *testing.T, seq func(func(*T, error) bool)) ([]T, error) {
	t.Helper()
	var out []T
	for row, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, *row)
	}
	return out, nil
}

func byID[T any](rows []T, id func(*T) int64) []T {
	s := slices.Clone(rows)
	slices.SortFunc(s, func(a, b T) int { return int(id(&a) - id(&b)) })
	return s
}

func userIDs(us []model.User) []int64 {
	ids := make([]int64, len(us))
	for i := range us {
		ids[i] = us[i].ID
	}
	return ids
}

func TestClientMirrorsEveryRecordExactlyOnce(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	tests := []struct {
		name string
		cfg  snipeittest.Config
		page int
	}{
		{name: "8.6 with page metadata", cfg: snipeittest.Config{}},
		{name: "8.5 plain envelope, server cap below the page size", cfg: snipeittest.Config{Version: snipeittest.Version85, MaxResults: 100}},
		{name: "5.0 with a dot digit separator and a non-UTC timezone", cfg: snipeittest.Config{Version: snipeittest.Version50, DigitSeparator: snipeittest.SeparatorDot, Timezone: paris}},
		{name: "legacy offset reset past the end", cfg: snipeittest.Config{Version: snipeittest.Version50, LegacyOffsetReset: true}, page: 97},
		{name: "archived assets shown in the default list", cfg: snipeittest.Config{ShowArchivedInList: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Data = snipeittest.Generate(snipeittest.GenerateConfig{Users: 1234, Assets: 777, Seed: 7})
			sim := snipeittest.Start(t, tt.cfg)
			c := newClient(t, sim, func(c *snipeit.Config) {
				if tt.page > 0 {
					c.PageSize = tt.page
				}
			})
			ctx := context.Background()
			users, err := collect(t, c.Users(ctx))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sim.Users(), users); diff != "" {
				t.Fatalf("users (-simulator +client):\n%s", diff)
			}
			assets, err := collect(t, c.Assets(ctx))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sim.Assets(), byID(assets, func(a *model.Asset) int64 { return a.ID })); diff != "" {
				t.Fatalf("assets (-simulator +client):\n%s", diff)
			}
		})
	}
}

func TestClientSendsWhatSnipeITNeeds(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{
		Data:                   snipeittest.Generate(snipeittest.GenerateConfig{Users: 30, Seed: 1}),
		BlockGenericUserAgents: true,
	})
	var mu sync.Mutex
	var queries []string
	sim.OnRequest(func(r snipeittest.RequestInfo) {
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.Query.Get("sort")+" "+r.Query.Get("order"))
	})
	c := newClient(t, sim, func(c *snipeit.Config) { c.UserAgent = "usersync-test/1.0" })
	if _, err := collect(t, c.Users(context.Background())); err != nil {
		t.Fatalf("a specific User-Agent, Accept and the token must pass: %v", err)
	}
	for _, q := range queries {
		if q != "id asc" {
			t.Errorf("request sorted by %q, want sort=id&order=asc on every page", q)
		}
	}
}

// TestClientSurvivesChangesWhilePaging deletes, purges, adds and restores
// users between pages; every user live for the whole walk must come
// exactly once.
func TestClientSurvivesChangesWhilePaging(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, sim *snipeittest.Server, live []model.User)
	}{
		{"a user before the position is deleted", func(t *testing.T, sim *snipeittest.Server, live []model.User) {
			must(t, sim.DeleteUser(live[3].ID))
		}},
		{"many users before the position are purged", func(t *testing.T, sim *snipeittest.Server, live []model.User) {
			for _, u := range live[10:150] {
				must(t, sim.PurgeUser(u.ID))
			}
		}},
		{"a deleted user is restored before the position", func(t *testing.T, sim *snipeittest.Server, _ []model.User) {
			must(t, sim.RestoreUser(sim.DeletedUsers()[0].ID))
		}},
		{"users are added and one before the position is deleted", func(t *testing.T, sim *snipeittest.Server, live []model.User) {
			for i := range 5 {
				must(t, sim.AddUser(snipeittest.User{ID: 900_000 + int64(i), Username: fmt.Sprintf("new%d", i), FirstName: "New", Activated: true}))
			}
			must(t, sim.DeleteUser(live[0].ID))
		}},
	}
	for _, tt := range tests {
		for _, parallel := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s, %d in flight", tt.name, parallel), func(t *testing.T) {
				sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 1000, Seed: 3}), MaxResults: 100})
				before := sim.Users()
				var once sync.Once
				sim.OnRequest(func(r snipeittest.RequestInfo) {
					if r.Path == "/api/v1/users" && r.Query.Get("offset") != "" && r.Query.Get("offset") != "0" {
						once.Do(func() { tt.mutate(t, sim, before[:400]) })
					}
				})
				c := newClient(t, sim, func(c *snipeit.Config) { c.Parallelism = parallel })
				got, err := collect(t, c.Users(context.Background()))
				if err != nil {
					t.Fatal(err)
				}
				ids := userIDs(got)
				if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
					t.Fatalf("ids are not unique and ascending")
				}
				after := map[int64]bool{}
				for _, u := range sim.Users() {
					after[u.ID] = true
				}
				seen := map[int64]bool{}
				for _, id := range ids {
					seen[id] = true
				}
				for _, u := range before {
					if after[u.ID] && !seen[u.ID] {
						t.Errorf("user %d was live throughout but the client did not see it: it would look deleted", u.ID)
					}
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

func TestClientRetriesTransientFaults(t *testing.T) {
	kinds := []snipeittest.Fault{
		{Kind: snipeittest.FaultStatus, Status: 500},
		{Kind: snipeittest.FaultStatus, Status: 503},
		{Kind: snipeittest.FaultProxyError, Status: 502},
		{Kind: snipeittest.FaultErrorEnvelope, Message: "Something went wrong"},
		{Kind: snipeittest.FaultLoginPage},
		{Kind: snipeittest.FaultTruncated},
		{Kind: snipeittest.FaultCutBody},
		{Kind: snipeittest.FaultReset},
		{Kind: snipeittest.FaultHang},
		{Kind: snipeittest.FaultRateLimit, RetryAfter: 0},
		{Kind: snipeittest.FaultRateLimitLegacy},
		{Kind: snipeittest.FaultNoRows},
	}
	for _, f := range kinds {
		t.Run(string(f.Kind), func(t *testing.T) {
			sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 300, Seed: 5}), MaxResults: 100})
			f.Path, f.Query, f.Times = "/api/v1/users", map[string]string{"offset": "99"}, 2
			in := sim.Inject(f)
			c := newClient(t, sim, func(c *snipeit.Config) {
				c.RequestTimeout = 300 * time.Millisecond // a hang ends quickly
				c.MaxRetryAfter = 50 * time.Millisecond   // the legacy 429 has no Retry-After: 60s otherwise
			})
			got, err := collect(t, c.Users(context.Background()))
			if err != nil {
				t.Fatalf("a transient %s must be retried: %v", f.Kind, err)
			}
			if in.Fired() != 2 {
				t.Fatalf("fault fired %d times, want 2", in.Fired())
			}
			if diff := cmp.Diff(userIDs(sim.Users()), userIDs(got)); diff != "" {
				t.Fatalf("users after retries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientFailsOnPersistentFaults(t *testing.T) {
	tests := []struct {
		fault    snipeittest.Fault
		want     error
		maxTries int // requests to the faulted page, at most
	}{
		{snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: 500}, model.ErrUpstream, 3},
		{snipeittest.Fault{Kind: snipeittest.FaultErrorEnvelope, Message: "Server Error"}, model.ErrUpstream, 3},
		{snipeittest.Fault{Kind: snipeittest.FaultTruncated}, model.ErrUpstream, 3},
		{snipeittest.Fault{Kind: snipeittest.FaultEmpty}, model.ErrUpstream, 8},
		{snipeittest.Fault{Kind: snipeittest.FaultUnauthorized}, model.ErrUnauthorized, 1},
		{snipeittest.Fault{Kind: snipeittest.FaultRedirectLogin}, model.ErrUnauthorized, 1},
		{snipeittest.Fault{Kind: snipeittest.FaultForbidden}, model.ErrForbidden, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind), func(t *testing.T) {
			sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 300, Seed: 5}), MaxResults: 100})
			f := tt.fault
			f.Path, f.Query, f.Persistent = "/api/v1/users", map[string]string{"offset": "99"}, true
			in := sim.Inject(f)
			c := newClient(t, sim, func(c *snipeit.Config) { c.MaxAttempts = 3 })
			got, err := collect(t, c.Users(context.Background()))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if in.Fired() > tt.maxTries || in.Fired() == 0 {
				t.Errorf("faulted page requested %d times, want 1 to %d", in.Fired(), tt.maxTries)
			}
			if len(got) > 100 {
				t.Errorf("%d users yielded before the failure; only the first page (100) was good", len(got))
			}
		})
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 50, Seed: 5})})
	sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultRateLimit, Path: "/api/v1/users", RetryAfter: 1})
	c := newClient(t, sim, nil)
	start := time.Now()
	if _, err := collect(t, c.Users(context.Background())); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("finished %s after a 429 with Retry-After: 1; the client did not wait", d)
	}
}

func TestClientPacesToTheRateLimit(t *testing.T) {
	// 600/minute: 10 requests a second. Eleven pages take a second.
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 1100, Seed: 5, DeletedUsers: -1}),
		MaxResults: 100, RateLimitPerMinute: 600})
	c := newClient(t, sim, func(c *snipeit.Config) { c.RatePerMinute = 600 })
	start := time.Now()
	if _, err := collect(t, c.Users(context.Background())); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	if st.TooManyRequests != 0 {
		t.Errorf("%d 429s, want none when the client paces itself", st.TooManyRequests)
	}
	if d, min := time.Since(start), time.Duration(st.Requests-1)*100*time.Millisecond; d < min {
		t.Errorf("%d requests in %s: faster than 600/minute allows (%s)", st.Requests, d, min)
	}
}

func TestClientAdoptsTheServersLowerLimit(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 600, Seed: 5, DeletedUsers: -1}),
		MaxResults: 100, RateLimitPerMinute: 300})
	c := newClient(t, sim, func(c *snipeit.Config) { c.RatePerMinute = 6000 })
	if _, err := collect(t, c.Users(context.Background())); err != nil {
		t.Fatal(err)
	}
	// The first request learns X-RateLimit-Limit: 300; the rest are paced at
	// 5/s, so none is refused.
	if n := sim.Stats().TooManyRequests; n != 0 {
		t.Errorf("%d 429s, want none after adopting the server's limit", n)
	}
}

func TestClientLooksUpOneRecord(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 50, Assets: 50, Seed: 5})})
	c := newClient(t, sim, nil)
	ctx := context.Background()

	live := sim.Users()[3]
	got, err := c.User(ctx, live.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(live, *got); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	gone := sim.DeletedUsers()[0]
	if got, err := c.User(ctx, gone.ID); err != nil || got.DeletedAt == nil {
		t.Errorf("deleted user: %v, %v; want it with deleted_at", got, err)
	}
	if _, err := c.User(ctx, 99_999_999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}
	if _, err := c.Asset(ctx, 99_999_999); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown asset: err = %v, want ErrNotFound", err)
	}
	asset := sim.Assets()[0]
	if got, err := c.Asset(ctx, asset.ID); err != nil || got.AssetTag != asset.AssetTag {
		t.Errorf("asset: %v, %v; want %s", got, err, asset.AssetTag)
	}
}

// TestClientSeesDeletionsOnOldVersions: 5.0 rows have no deleted_at; a
// soft-deleted record offers restore instead.
func TestClientSeesDeletionsOnOldVersions(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Version: snipeittest.Version50,
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 50, Assets: 50, Seed: 5})})
	c := newClient(t, sim, nil)
	ctx := context.Background()
	for _, u := range sim.DeletedUsers()[:2] {
		got, err := c.User(ctx, u.ID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			t.Fatal(err)
		}
		if err == nil && got.DeletedAt == nil {
			t.Errorf("deleted user %d looks live", u.ID)
		}
	}
	for _, a := range sim.DeletedAssets()[:2] {
		got, err := c.Asset(ctx, a.ID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			t.Fatal(err)
		}
		if err == nil && got.DeletedAt == nil {
			t.Errorf("deleted asset %d looks live", a.ID)
		}
	}
	if got, err := c.User(ctx, sim.Users()[0].ID); err != nil || got.DeletedAt != nil {
		t.Errorf("live user: %v, %v; want it live", got, err)
	}
}

func TestClientStopsWhenTheConsumerStops(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 2000, Seed: 5}), MaxResults: 100})
	c := newClient(t, sim, nil)
	n := 0
	for _, err := range c.Users(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 150 {
			break
		}
	}
	if r := sim.Stats().Requests; r > 2+4+1 {
		t.Errorf("%d requests after the consumer stopped at row 150; want the pipeline to stop", r)
	}
}

func TestClientRejectsBadConfig(t *testing.T) {
	for _, cfg := range []snipeit.Config{
		{Token: "t"},
		{BaseURL: "ftp://x", Token: "t"},
		{BaseURL: "https://snipe.example.com"},
		{BaseURL: "https://snipe.example.com", Token: "t", PageSize: 1},
	} {
		if _, err := snipeit.New(cfg); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("New(%+v) err = %v, want ErrInvalid", cfg, err)
		}
	}
}

// observed counts client events.
type observed struct {
	snipeit.NoopObserver
	requests, retries atomic.Int64
	codes             sync.Map
}

func (o *observed) Request(_ string, code int, _ time.Duration) {
	o.requests.Add(1)
	n, _ := o.codes.LoadOrStore(code, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}
func (o *observed) Retry(string, string) { o.retries.Add(1) }

func TestClientReportsRequestsAndRetries(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 250, Seed: 5}), MaxResults: 100})
	sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: http.StatusBadGateway, Path: "/api/v1/users", Times: 1})
	o := &observed{}
	c := newClient(t, sim, func(c *snipeit.Config) { c.Observer = o })
	if _, err := collect(t, c.Users(context.Background())); err != nil {
		t.Fatal(err)
	}
	if o.retries.Load() != 1 {
		t.Errorf("retries = %d, want 1", o.retries.Load())
	}
	if n, ok := o.codes.Load(http.StatusBadGateway); !ok || n.(*atomic.Int64).Load() != 1 {
		t.Errorf("502s observed = %v, want 1", n)
	}
	// The server counts a request after its response is written: poll.
	eventually.NoError(t, 2*time.Second, "the server to count the requests observed", func() error {
		if o, s := int(o.requests.Load()), sim.Stats().Requests; o != s {
			return fmt.Errorf("observed %d requests, the server saw %d", o, s)
		}
		return nil
	})
}
