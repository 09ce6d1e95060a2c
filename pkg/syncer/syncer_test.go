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
}

func rows[T any](rs []T, err error) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rs {
			if !yield(&rs[i], nil) {
				return
			}
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

func (f *fakeSource) Users(context.Context) iter.Seq2[*model.User, error] {
	return func(yield func(*model.User, error) bool) {
		for u, err := range rows(f.users, nil) {
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
	return rows(f.assets, nil)
}
func (f *fakeSource) User(_ context.Context, id int64) (*model.User, error) {
	if u := f.lookup[id]; u != nil {
		return u, nil
	}
	return nil, model.ErrNotFound
}
func (f *fakeSource) Asset(context.Context, int64) (*model.Asset, error) {
	return nil, model.ErrNotFound
}

// fakeStore records runs and drains the sequences it is given.
type fakeStore struct {
	mu       sync.Mutex
	locked   bool
	runs     map[int64]model.RunStatus
	errs     map[int64]string
	nextID   int64
	confirm  []int64 // ids MirrorUsers asks ConfirmDeleted about
	kept     []int64
	finishOK bool // FinishRun saw a live context
	// overlap, when set, makes the users scope report its changes while
	// the assets scope reports its own.
	overlap chan struct{}
}

func newStore() *fakeStore {
	return &fakeStore{runs: map[int64]model.RunStatus{}, errs: map[int64]string{}}
}

func (s *fakeStore) TryLockSync(context.Context) (func(context.Context), error) {
	if s.locked {
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
func (s *fakeStore) FinishRun(ctx context.Context, id int64, st model.RunStatus, _ model.RunCounts, errText string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[id], s.errs[id] = st, errText
	s.finishOK = ctx.Err() == nil
	return nil
}

func drain[T any](seq iter.Seq2[*T, error]) (int64, error) {
	var n int64
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *fakeStore) MirrorUsers(ctx context.Context, seq iter.Seq2[*model.User, error], opts model.MirrorOptions) (model.RunCounts, error) {
	n, err := drain(seq)
	if err != nil {
		return model.RunCounts{}, err
	}
	if s.overlap != nil {
		// Report while the assets scope reports too.
		<-s.overlap
		report(opts, n)
	}
	if opts.ConfirmDeleted != nil && len(s.confirm) > 0 {
		if s.kept, err = opts.ConfirmDeleted(ctx, s.confirm); err != nil {
			return model.RunCounts{}, err
		}
	}
	return model.RunCounts{Fetched: n, Unchanged: n}, nil
}
func (s *fakeStore) MirrorAssets(_ context.Context, seq iter.Seq2[*model.Asset, error], opts model.MirrorOptions) (model.RunCounts, error) {
	n, err := drain(seq)
	if s.overlap != nil {
		close(s.overlap)
		report(opts, n)
	}
	return model.RunCounts{Fetched: n, Unchanged: n}, err
}

// report sends one change per row, as a dry run would.
func report(opts model.MirrorOptions, n int64) {
	for i := range n {
		opts.OnChange(model.Change{Kind: model.ChangeInsert, ID: i})
	}
}

func (s *fakeStore) CountRows(context.Context, model.Scope) (int64, int64, error) { return 0, 0, nil }

func newSyncer(t *testing.T, src syncer.Source, st syncer.Store) *syncer.Syncer {
	t.Helper()
	s, err := syncer.New(syncer.Config{Source: src, Store: st, Logger: slog.New(slog.DiscardHandler)})
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
	if res[0].Counts.Fetched != 3 || res[1].Counts.Fetched != 2 {
		t.Errorf("fetched = %d, %d; want 3, 2", res[0].Counts.Fetched, res[1].Counts.Fetched)
	}
	if diff := cmp.Diff(map[int64]model.RunStatus{1: model.RunSucceeded, 2: model.RunSucceeded}, st.runs); diff != "" {
		t.Errorf("recorded runs (-want +got):\n%s", diff)
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
}

func TestVanishedUsersAreCheckedOneByOne(t *testing.T) {
	gone := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := &fakeSource{users: make([]model.User, 1), lookup: map[int64]*model.User{
		2: {ID: 2},                   // still live upstream: the paging missed it
		3: {ID: 3, DeletedAt: &gone}, // soft-deleted upstream
	}}
	st := newStore()
	st.confirm = []int64{1, 2, 3} // 1 is unknown upstream (purged)
	if _, err := newSyncer(t, src, st).Run(context.Background(), []model.Scope{model.ScopeUsers}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{2}, st.kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// TestOnChangeIsNeverCalledConcurrently runs both scopes with their change
// reports overlapping (as a dry run of --full does) and a callback that
// is not safe for concurrent use; -race fails the test if the syncer does
// not serialise the calls.
func TestOnChangeIsNeverCalledConcurrently(t *testing.T) {
	src := &fakeSource{users: make([]model.User, 300), assets: make([]model.Asset, 300)}
	st := newStore()
	st.overlap = make(chan struct{})
	seen := map[model.Scope]int{} // unguarded on purpose
	s, err := syncer.New(syncer.Config{Source: src, Store: st, Logger: slog.New(slog.DiscardHandler), DryRun: true,
		OnChange: func(scope model.Scope, _ model.Change) { seen[scope]++ }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), model.Scopes); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[model.Scope]int{model.ScopeUsers: 300, model.ScopeAssets: 300}, seen); diff != "" {
		t.Errorf("changes seen (-want +got):\n%s", diff)
	}
}
