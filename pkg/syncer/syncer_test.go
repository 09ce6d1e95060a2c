package syncer_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncer"
)

// fakeSource serves fixed rows; lookups answer from maps.
type fakeSource struct {
	users    []model.User
	usersErr error
	midway   func() // called after the users, before usersErr
	assets   []model.Asset
	lookup   map[int64]*model.User // nil entry: not found
	mu       sync.Mutex
	lookedUp []int64
}

func rows[T any](rs []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rs {
			if !yield(&rs[i], nil) {
				return
			}
		}
	}
}

func (f *fakeSource) Users(context.Context) iter.Seq2[*model.User, error] {
	return func(yield func(*model.User, error) bool) {
		for u, err := range rows(f.users) {
			if !yield(u, err) {
				return
			}
		}
		if f.midway != nil {
			f.midway()
		}
		if f.usersErr != nil {
			yield(nil, f.usersErr)
		}
	}
}
func (f *fakeSource) Assets(context.Context) iter.Seq2[*model.Asset, error] {
	return rows(f.assets)
}
func (f *fakeSource) User(_ context.Context, id int64) (*model.User, error) {
	f.mu.Lock()
	f.lookedUp = append(f.lookedUp, id)
	f.mu.Unlock()
	if u := f.lookup[id]; u != nil {
		return u, nil
	}
	return nil, model.ErrNotFound
}
func (f *fakeSource) Asset(context.Context, int64) (*model.Asset, error) {
	return nil, model.ErrNotFound
}

// scopeState is what the fake store holds and records for one scope.
type scopeState struct {
	live     int64          // live rows in the mirror
	vanished []int64        // what Vanished answers
	changes  []model.Change // what Changes emits
	// overlap, when set, is waited for (users) or closed (assets) before
	// Changes emits, so that both scopes report at once.
	overlap chan struct{}

	dryRun     bool
	applied    []int64 // the ids Apply was told to delete; nil when not called
	committed  bool
	rolledBack bool
}

// fakeStore records runs and the steps of each scope's write.
type fakeStore struct {
	mu     sync.Mutex
	locked bool
	// heldFor, when set, makes the lock held for that many asks, then free.
	heldFor  int
	lockAsks int
	runs     map[int64]model.RunStatus
	errs     map[int64]string
	nextID   int64
	finishOK bool // FinishRun saw a live context
	scopes   map[model.Scope]*scopeState
}

func newStore() *fakeStore {
	return &fakeStore{runs: map[int64]model.RunStatus{}, errs: map[int64]string{},
		scopes: map[model.Scope]*scopeState{model.ScopeUsers: {}, model.ScopeAssets: {}}}
}

func (s *fakeStore) TryLockSync(context.Context) (func(context.Context), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lockAsks++
	if s.locked || s.lockAsks <= s.heldFor {
		return nil, model.ErrLocked
	}
	return func(context.Context) {}, nil
}
func (s *fakeStore) AbandonRuns(context.Context) (int64, error) { return 0, nil }
func (s *fakeStore) StartRun(_ context.Context, _ model.Scope, _, _ string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.runs[s.nextID] = model.RunRunning
	return s.nextID, nil
}
func (s *fakeStore) RecordRun(ctx context.Context, r model.SyncRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[r.ID], s.errs[r.ID] = r.Status, r.Error
	s.finishOK = ctx.Err() == nil
	return nil
}
func (s *fakeStore) CountRows(context.Context, model.Scope) (int64, int64, error) { return 0, 0, nil }
func (s *fakeStore) State(context.Context, model.Scope) (model.SyncState, bool, error) {
	return model.SyncState{}, false, nil
}

func (s *fakeStore) BeginUsers(_ context.Context, dryRun bool) (model.MirrorTx[model.User], error) {
	st := s.scopes[model.ScopeUsers]
	st.dryRun = dryRun
	return &fakeTx[model.User]{st: st}, nil
}
func (s *fakeStore) BeginAssets(_ context.Context, dryRun bool) (model.MirrorTx[model.Asset], error) {
	st := s.scopes[model.ScopeAssets]
	st.dryRun = dryRun
	return &fakeTx[model.Asset]{st: st, closeOverlap: true}, nil
}

// fakeTx drains what it stages and answers from its scope's state.
type fakeTx[T any] struct {
	st           *scopeState
	closeOverlap bool
	staged       int64
}

func (tx *fakeTx[T]) Stage(ctx context.Context, rows func(context.Context) iter.Seq2[*T, error]) (int64, error) {
	for _, err := range rows(ctx) {
		if err != nil {
			return tx.staged, err
		}
		tx.staged++
	}
	return tx.staged, nil
}
func (tx *fakeTx[T]) Vanished(context.Context) ([]int64, error) { return tx.st.vanished, nil }
func (tx *fakeTx[T]) LiveRows(context.Context) (int64, error)   { return tx.st.live, nil }
func (tx *fakeTx[T]) Changes(_ context.Context, _ []int64, emit func(model.Change)) error {
	if tx.st.overlap != nil {
		if tx.closeOverlap {
			close(tx.st.overlap)
		} else {
			<-tx.st.overlap
		}
	}
	for _, c := range tx.st.changes {
		emit(c)
	}
	return nil
}
func (tx *fakeTx[T]) Apply(_ context.Context, deleted []int64) (model.RunCounts, error) {
	tx.st.applied = append([]int64{}, deleted...)
	return model.RunCounts{Fetched: tx.staged, Deleted: int64(len(deleted)), Unchanged: tx.staged}, nil
}
func (tx *fakeTx[T]) Derive(context.Context, model.Facts, []int64) (int64, []int64, error) {
	return 0, nil, nil
}
func (tx *fakeTx[T]) Evidence(context.Context, bool) (model.Evidence, error) {
	return model.Evidence{}, nil
}
func (tx *fakeTx[T]) Unknown(context.Context, []int64) ([]int64, error) { return nil, nil }
func (tx *fakeTx[T]) State(context.Context) (model.SyncState, bool, error) {
	return model.SyncState{}, false, nil
}
func (tx *fakeTx[T]) SetState(context.Context, model.SyncState) error { return nil }
func (tx *fakeTx[T]) Commit(context.Context) error {
	tx.st.committed = true
	return nil
}
func (tx *fakeTx[T]) Rollback(context.Context) {
	if !tx.st.committed {
		tx.st.rolledBack = true
	}
}

func newSyncer(t *testing.T, src syncer.Source, st syncer.Store, tweak ...func(*syncer.Config)) *syncer.Syncer {
	t.Helper()
	cfg := syncer.Config{Source: src, Store: st, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := syncer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statuses(rs []syncer.ScopeResult) []model.RunStatus {
	var out []model.RunStatus
	for _, r := range rs {
		out = append(out, r.Status)
	}
	return out
}

func TestRunSyncsEveryScopeInOrder(t *testing.T) {
	src := &fakeSource{users: make([]model.User, 3), assets: make([]model.Asset, 2)}
	st := newStore()
	res, err := newSyncer(t, src, st).Run(context.Background(), model.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Scope != model.ScopeUsers || res[1].Scope != model.ScopeAssets {
		t.Fatalf("results out of order: %v, %v", res[0].Scope, res[1].Scope)
	}
	if diff := cmp.Diff([]model.RunCounts{{Fetched: 3, Unchanged: 3}, {Fetched: 2, Unchanged: 2}}, []model.RunCounts{res[0].Counts, res[1].Counts}); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int64]model.RunStatus{1: model.RunSucceeded, 2: model.RunSucceeded}, st.runs); diff != "" {
		t.Errorf("recorded runs (-want +got):\n%s", diff)
	}
	for scope, state := range st.scopes {
		if !state.committed {
			t.Errorf("%s was not committed", scope)
		}
	}
}

func TestRunSkipsAndRecordsWhenLocked(t *testing.T) {
	st := newStore()
	st.locked = true
	res, err := newSyncer(t, &fakeSource{}, st).Run(context.Background(), model.Scopes)
	if !errors.Is(err, model.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if diff := cmp.Diff([]model.RunStatus{model.RunSkipped, model.RunSkipped}, statuses(res)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int64]model.RunStatus{1: model.RunSkipped, 2: model.RunSkipped}, st.runs); diff != "" {
		t.Errorf("recorded runs (-want +got):\n%s", diff)
	}
}

// TestRunWaitsForTheLockWithLockWait: with LockWait a run that finds the
// lock held asks again until it is free, and then syncs instead of being
// skipped; without it, or when the wait ends first, the run is skipped.
func TestRunWaitsForTheLockWithLockWait(t *testing.T) {
	st := newStore()
	st.heldFor = 2 // another sync finishes while this one waits
	res, err := newSyncer(t, &fakeSource{}, st, func(c *syncer.Config) { c.LockWait = time.Minute }).
		Run(context.Background(), model.Scopes)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff([]model.RunStatus{model.RunSucceeded, model.RunSucceeded}, statuses(res)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if st.lockAsks != 3 {
		t.Errorf("asked for the lock %d times, want 3 (held twice, then taken)", st.lockAsks)
	}

	st = newStore()
	st.locked = true // held for longer than the wait
	res, err = newSyncer(t, &fakeSource{}, st, func(c *syncer.Config) { c.LockWait = 1500 * time.Millisecond }).
		Run(context.Background(), model.Scopes)
	if !errors.Is(err, model.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked after the wait", err)
	}
	if diff := cmp.Diff([]model.RunStatus{model.RunSkipped, model.RunSkipped}, statuses(res)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if st.lockAsks < 2 {
		t.Errorf("asked for the lock %d times, want it asked again while waiting", st.lockAsks)
	}
}

// TestDryRunTakesNoLock: a dry run never asks for the single-writer lock,
// so it runs while a real sync holds it, and a real sync starting while it
// runs is not skipped; it records no run and commits nothing.
func TestDryRunTakesNoLock(t *testing.T) {
	st := newStore()
	st.locked = true // a real sync is running
	st.scopes[model.ScopeUsers].changes = []model.Change{{Kind: model.ChangeInsert, ID: 7}}
	src := &fakeSource{users: make([]model.User, 3)}
	res, err := newSyncer(t, src, st, func(c *syncer.Config) { c.DryRun = true }).Run(context.Background(), []model.Scope{model.ScopeUsers})
	if err != nil {
		t.Fatalf("a dry run while a real sync holds the lock: %v", err)
	}
	if st.lockAsks != 0 {
		t.Errorf("the dry run asked for the lock %d times, want never", st.lockAsks)
	}
	users := st.scopes[model.ScopeUsers]
	if res[0].Status != model.RunSucceeded || !users.dryRun || users.applied != nil || users.committed || !users.rolledBack || len(st.runs) != 0 {
		t.Errorf("status %s, dry-run transaction %v, applied %v, committed %v, rolled back %v, runs recorded %d; want succeeded, a dry-run transaction rolled back with nothing applied or recorded",
			res[0].Status, users.dryRun, users.applied, users.committed, users.rolledBack, len(st.runs))
	}
}

func TestFailedScopeIsRecordedAndTheNextStillRuns(t *testing.T) {
	boom := errors.New("snipe-it answered 500")
	st := newStore()
	res, err := newSyncer(t, &fakeSource{users: make([]model.User, 2), usersErr: boom, assets: make([]model.Asset, 1)}, st).
		Run(context.Background(), model.Scopes)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the users failure", err)
	}
	if diff := cmp.Diff([]model.RunStatus{model.RunFailed, model.RunSucceeded}, statuses(res)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if st.runs[1] != model.RunFailed || st.errs[1] == "" {
		t.Errorf("users run recorded as %s with error %q; want failed with the cause", st.runs[1], st.errs[1])
	}
	if users := st.scopes[model.ScopeUsers]; users.applied != nil || users.committed || !users.rolledBack {
		t.Errorf("the failed scope: applied %v, committed %v, rolled back %v; want rolled back, nothing applied", users.applied, users.committed, users.rolledBack)
	}
}

func TestCancelledRunIsStillRecordedAsFailed(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	src := &fakeSource{users: make([]model.User, 2), usersErr: context.Canceled,
		midway: func() { cancel(errors.New("SIGTERM")) }}
	st := newStore()
	res, _ := newSyncer(t, src, st).Run(ctx, []model.Scope{model.ScopeUsers})
	if res[0].Status != model.RunFailed {
		t.Fatalf("status = %s, want failed", res[0].Status)
	}
	if st.runs[1] != model.RunFailed || !st.finishOK {
		t.Errorf("run recorded as %q (live context %v); want failed, recorded despite the cancellation", st.runs[1], st.finishOK)
	}
	if !st.scopes[model.ScopeUsers].rolledBack {
		t.Error("the cancelled scope was not rolled back")
	}
}

// TestVanishedRowsAreDeletedOnlyWhenGoneUpstream: the few live rows that
// did not come are looked up one by one; only those the source does not
// have live are deleted. Many vanished rows are not looked up (that would
// cost a request each): all are deleted, within the guard.
func TestVanishedRowsAreDeletedOnlyWhenGoneUpstream(t *testing.T) {
	gone := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lookup := map[int64]*model.User{
		2: {ID: 2},                   // still live upstream: the paging missed it
		3: {ID: 3, DeletedAt: &gone}, // soft-deleted upstream
	} // 1 is unknown upstream (purged)
	tests := []struct {
		name         string
		vanished     []int64
		maxConfirm   int
		wantLookedUp []int64
		wantDeleted  []int64
	}{
		{name: "few are confirmed one by one", vanished: []int64{1, 2, 3}, wantLookedUp: []int64{1, 2, 3}, wantDeleted: []int64{1, 3}},
		{name: "more than MaxConfirm are deleted unconfirmed", vanished: []int64{1, 2, 3}, maxConfirm: 2, wantDeleted: []int64{1, 2, 3}},
		{name: "none vanished, none looked up", wantDeleted: []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{users: make([]model.User, 100), lookup: lookup}
			st := newStore()
			st.scopes[model.ScopeUsers].live, st.scopes[model.ScopeUsers].vanished = 103, tt.vanished
			res, err := newSyncer(t, src, st, func(c *syncer.Config) { c.MaxConfirm = tt.maxConfirm }).
				Run(context.Background(), []model.Scope{model.ScopeUsers})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantLookedUp, src.lookedUp); diff != "" {
				t.Errorf("looked up (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDeleted, st.scopes[model.ScopeUsers].applied); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if got := res[0].Counts.Deleted; got != int64(len(tt.wantDeleted)) {
				t.Errorf("counted %d deleted, want %d", got, len(tt.wantDeleted))
			}
		})
	}
}

// TestGuardRefusalWritesNothing: the syncer applies the mass-delete guard
// to the rows it would delete (after confirmation), and a refused scope is
// rolled back with nothing applied and recorded as failed.
func TestGuardRefusalWritesNothing(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*syncer.Config)
		refused bool
	}{
		{name: "3 of 20 is refused by default", refused: true},
		{name: "allow-mass-delete lets it through", cfg: func(c *syncer.Config) { c.AllowMassDelete = true }},
		{name: "the floor lets it through", cfg: func(c *syncer.Config) { c.MaxDeleteRows = 3 }},
		{name: "a larger share lets it through", cfg: func(c *syncer.Config) { c.MaxDeleteFraction = 0.2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore()
			users := st.scopes[model.ScopeUsers]
			users.live, users.vanished = 20, []int64{1, 2, 3}
			var tweaks []func(*syncer.Config)
			if tt.cfg != nil {
				tweaks = append(tweaks, tt.cfg)
			}
			res, err := newSyncer(t, &fakeSource{users: make([]model.User, 17)}, st, tweaks...).Run(context.Background(), []model.Scope{model.ScopeUsers})
			if got := errors.Is(err, model.ErrMassDelete); got != tt.refused {
				t.Fatalf("err = %v, want refused %v", err, tt.refused)
			}
			if tt.refused {
				if users.applied != nil || users.committed || !users.rolledBack || res[0].Status != model.RunFailed || st.runs[1] != model.RunFailed {
					t.Errorf("applied %v, committed %v, rolled back %v, status %s, recorded %s; want rolled back, nothing applied, failed",
						users.applied, users.committed, users.rolledBack, res[0].Status, st.runs[1])
				}
			} else if diff := cmp.Diff([]int64{1, 2, 3}, users.applied); diff != "" || !users.committed {
				t.Errorf("deleted (-want +got):\n%s\ncommitted %v", diff, users.committed)
			}
		})
	}
}

// TestDryRunCountsWhatItWouldChange: a dry run's counts are the changes
// the store lists (a restore is an update), and a dry run the guard would
// refuse still reports them, with the refusal.
func TestDryRunCountsWhatItWouldChange(t *testing.T) {
	st := newStore()
	users := st.scopes[model.ScopeUsers]
	users.live, users.vanished = 20, []int64{4, 5, 6}
	users.changes = []model.Change{
		{Kind: model.ChangeInsert, ID: 1}, {Kind: model.ChangeUpdate, ID: 2, Columns: []string{"email"}},
		{Kind: model.ChangeRestore, ID: 3}, {Kind: model.ChangeDelete, ID: 4}, {Kind: model.ChangeDelete, ID: 5}, {Kind: model.ChangeDelete, ID: 6},
	}
	var reported []model.Change
	res, err := newSyncer(t, &fakeSource{users: make([]model.User, 19)}, st, func(c *syncer.Config) {
		c.DryRun = true
		c.OnChange = func(_ model.Scope, ch model.Change) { reported = append(reported, ch) }
	}).Run(context.Background(), []model.Scope{model.ScopeUsers})
	if !errors.Is(err, model.ErrMassDelete) {
		t.Fatalf("err = %v, want the guard's refusal (3 of 20)", err)
	}
	if diff := cmp.Diff(model.RunCounts{Fetched: 19, Inserted: 1, Updated: 2, Deleted: 3, Unchanged: 16}, res[0].Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(users.changes, reported); diff != "" {
		t.Errorf("reported changes (-want +got):\n%s", diff)
	}
	if users.applied != nil || users.committed {
		t.Errorf("a dry run applied %v, committed %v", users.applied, users.committed)
	}
}

// TestOnChangeIsNeverCalledConcurrently runs both scopes with their change
// reports overlapping (as a dry run of --full does) and a callback that
// is not safe for concurrent use; -race fails the test if the syncer does
// not serialise the calls.
func TestOnChangeIsNeverCalledConcurrently(t *testing.T) {
	src := &fakeSource{users: make([]model.User, 300), assets: make([]model.Asset, 300)}
	st := newStore()
	overlap := make(chan struct{})
	for _, scope := range model.Scopes {
		st.scopes[scope].overlap = overlap
		for i := range 300 {
			st.scopes[scope].changes = append(st.scopes[scope].changes, model.Change{Kind: model.ChangeInsert, ID: int64(i)})
		}
	}
	seen := map[model.Scope]int{} // unguarded on purpose
	s := newSyncer(t, src, st, func(c *syncer.Config) {
		c.DryRun = true
		c.OnChange = func(scope model.Scope, _ model.Change) { seen[scope]++ }
	})
	if _, err := s.Run(context.Background(), model.Scopes); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[model.Scope]int{model.ScopeUsers: 300, model.ScopeAssets: 300}, seen); diff != "" {
		t.Errorf("changes seen (-want +got):\n%s", diff)
	}
}
