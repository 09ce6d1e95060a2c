package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// runState is what the scopes of one Run share: the states they start
// from, and what is read from Snipe-IT once for both (the activity log,
// the listings of names, how the log names its action types).
type runState struct {
	s      *Syncer
	states map[model.Scope]model.SyncState
	has    map[model.Scope]bool

	// In an incremental run the users scope reads its listing before the
	// activity log is read (usersListed), and derives assets_count once
	// the assets scope is done (assetsDone); each is closed at once when
	// its scope is not in the run.
	usersListed, assetsDone chan struct{}
	listedOnce, doneOnce    sync.Once

	mu        sync.Mutex
	assetsOK  bool              // the assets scope succeeded in this run
	logFrom   *int64            // the lowest activity position of the run's scopes
	log       *activityRead     // the log, once read
	position  *int64            // LastActivityID, once read (full runs)
	forbidden bool              // the token may not read the activity log
	actions   map[string]string // stored action type → as the log shows it
	probed    map[string]bool   // stored action types asked for in this run
	listings  map[string]*listingRead

	// prefetch reads the listings of names in the background once the
	// rows are read (see prefetch).
	prefetchOnce sync.Once
	prefetchCtx  context.Context
	prefetchStop context.CancelFunc
	prefetchWG   sync.WaitGroup
	scopes       []model.Scope
}

// listingRead is one listing of names, read once per run.
type listingRead struct {
	done chan struct{}
	v    any
	err  error
}

// activityRead is the activity log as the run read it.
type activityRead struct {
	entries []model.ActivityEntry // after from, oldest first
	from    int64
	seen    model.ChangeListing
}

// newRun reads the states the run's scopes start from.
func (s *Syncer) newRun(ctx context.Context, scopes []model.Scope) (*runState, error) {
	r := &runState{s: s, states: map[model.Scope]model.SyncState{}, has: map[model.Scope]bool{},
		actions: map[string]string{}, probed: map[string]bool{}, listings: map[string]*listingRead{}, scopes: scopes,
		usersListed: make(chan struct{}), assetsDone: make(chan struct{})}
	r.prefetchCtx, r.prefetchStop = context.WithCancel(ctx)
	if !s.cfg.Incremental || !slices.Contains(scopes, model.ScopeUsers) {
		r.listed()
	}
	if !s.cfg.Incremental || !slices.Contains(scopes, model.ScopeAssets) {
		r.doneOnce.Do(func() { close(r.assetsDone) })
	}
	if s.cfg.Changes == nil {
		return r, nil
	}
	for _, scope := range scopes {
		st, ok, err := s.cfg.Store.State(ctx, scope)
		if err != nil {
			return nil, fmt.Errorf("read the %s state: %w", scope, err)
		}
		if !ok {
			continue
		}
		r.states[scope], r.has[scope] = st, true
		for k, v := range st.Traits.Actions {
			r.actions[k] = v
		}
		if p := st.ActivityID; p != nil && (r.logFrom == nil || *p < *r.logFrom) {
			r.logFrom = p
		}
	}
	return r, nil
}

// listed says the users scope has read its listing (or will not).
func (r *runState) listed() { r.listedOnce.Do(func() { close(r.usersListed) }) }

// scopeDone opens what waits for scope's end.
func (r *runState) scopeDone(scope model.Scope) {
	switch scope {
	case model.ScopeUsers:
		r.listed()
	case model.ScopeAssets:
		r.doneOnce.Do(func() { close(r.assetsDone) })
	}
}

// wait waits for a gate, or ctx.
func wait(ctx context.Context, gate <-chan struct{}) error {
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (r *runState) state(scope model.Scope) (model.SyncState, bool) {
	return r.states[scope], r.has[scope]
}

func (r *runState) assetsSynced() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.assetsOK = true
}

func (r *runState) assetsFresh() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.assetsOK
}

// serverTime is the server's clock as the newest answer gave it, zero
// when unknown.
func (s *Syncer) serverTime() time.Time {
	if s.cfg.Changes == nil {
		return time.Time{}
	}
	return s.cfg.Changes.ServerTime()
}

// logPosition is the activity log's newest entry, read once per run before
// a full listing: the next incremental run applies what was logged after
// it. nil when the token may not read the log or reading it failed.
func (r *runState) logPosition(ctx context.Context, log *slog.Logger) *int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.position != nil || r.forbidden {
		return r.position
	}
	id, err := r.s.cfg.Changes.LastActivityID(ctx)
	switch {
	case errors.Is(err, model.ErrForbidden):
		r.forbidden = true
		log.Warn("the token may not read Snipe-IT's activity log (activity.view): incremental runs will read users in full", "err", err)
		return nil
	case err != nil:
		log.Warn("could not read the activity log's position; the next incremental run reads users in full", "err", err)
		return nil
	}
	r.position = &id
	return r.position
}

// listed reads a listing once per run; callers asking while it is being
// read wait for it.
func listed[T any](ctx context.Context, r *runState, name string, fetch func(context.Context) ([]T, error)) ([]T, error) {
	r.mu.Lock()
	lr, ok := r.listings[name]
	if !ok {
		lr = &listingRead{done: make(chan struct{})}
		r.listings[name] = lr
	}
	r.mu.Unlock()
	if !ok {
		v, err := fetch(ctx)
		if v == nil {
			v = []T{}
		}
		lr.v, lr.err = v, err
		close(lr.done)
	}
	select {
	case <-lr.done:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if lr.err != nil {
		return nil, lr.err
	}
	return lr.v.([]T), nil
}

// prefetch starts reading, in the background, the listings of names the
// run's incremental scopes derive from, once their changed rows are read
// (a rename after the rows is then seen by the next run, never undone by
// this one). The client paces them while the scopes check and stage what
// they read: at Snipe-IT's 120 requests a minute the database work hides
// behind the waits.
func (r *runState) prefetch() {
	r.prefetchOnce.Do(func() {
		// Users' first: their derivation need not wait for the assets
		// scope's, which their assets_count does.
		var facts []func(context.Context, *runState) (model.Facts, error)
		if slices.Contains(r.scopes, model.ScopeUsers) {
			facts = append(facts, r.s.usersUpstream().facts)
		}
		if slices.Contains(r.scopes, model.ScopeAssets) {
			facts = append(facts, r.s.assetsUpstream().facts)
		}
		r.prefetchWG.Go(func() {
			for _, f := range facts {
				if _, err := f(r.prefetchCtx, r); err != nil {
					return // the scope that needs it reports the error
				}
			}
		})
	})
}

// close stops and waits for the background reads.
func (r *runState) close() {
	r.prefetchStop()
	r.prefetchWG.Wait()
}

// learn updates traits from what the staged rows show (tx.Evidence) and
// the action names the run learnt. assets says whether the assets mirror
// is current for users' assets_count.
func (r *runState) learn(ctx context.Context, log *slog.Logger, tx interface {
	Evidence(context.Context, bool) (model.Evidence, error)
}, t model.Traits, assets bool) (model.Traits, error) {
	ev, err := tx.Evidence(ctx, assets)
	if err != nil {
		return t, err
	}
	t.ManagerName = decide(log, "how managers are named", t.ManagerName,
		model.ManagerByDisplayName, ev.ManagerByDisplayName, model.ManagerByName, ev.ManagerByName)
	t.AssetsCount = decide(log, "whether assets_count counts soft-deleted assets", t.AssetsCount,
		model.AssetsCountLive, ev.AssetsCountLive, model.AssetsCountDeleted, ev.AssetsCountDeleted)
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Actions = map[string]string{}
	for k, v := range r.actions {
		t.Actions[k] = v
	}
	if len(t.Actions) == 0 {
		t.Actions = nil
	}
	return t, nil
}

// decide picks the rule the evidence shows: a, when rows fit only it, or
// b; the current one when the evidence says nothing or contradicts itself.
func decide(log *slog.Logger, what, current, a string, na int64, b string, nb int64) string {
	switch {
	case na > 0 && nb == 0:
		return a
	case nb > 0 && na == 0:
		return b
	case na > 0 && nb > 0:
		log.Warn("Snipe-IT's rows disagree on "+what+"; keeping what was known", "known", current, a, na, b, nb)
	}
	return current
}
