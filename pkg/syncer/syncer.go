// Package syncer is the sync use case: for each scope, stream every
// record from the source into the store in one transaction, record the run
// in sync_runs, and report what happened; a real run does so under the
// single-writer lock, a dry run reads and writes nothing. It declares the
// small Source and Store interfaces it consumes.
//
// The store exposes a scope's write as steps (model.MirrorTx: stage,
// vanished, live rows, changes, apply, commit) and the syncer decides
// between them: which vanished rows are really gone (it asks the source
// about each when they are few), whether the mass-delete guard lets the
// run delete them, what to report, and how long each step took. Keeping
// those decisions here, rather than handing the store callbacks to call
// back up with, keeps the sync's rules out of the SQL adapter and the data
// flowing one way, source to syncer to store; and an incremental run can
// apply "these rows changed, these ids were deleted" with the same steps,
// because nothing in the store deletes whatever did not come.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// Source is where the mirrored records come from (Snipe-IT).
type Source interface {
	Users(ctx context.Context) iter.Seq2[*model.User, error]
	Assets(ctx context.Context) iter.Seq2[*model.Asset, error]
	// User and Asset look one record up, soft-deleted ones too; an unknown
	// id is model.ErrNotFound.
	User(ctx context.Context, id int64) (*model.User, error)
	Asset(ctx context.Context, id int64) (*model.Asset, error)
}

// Store is the mirror (PostgreSQL).
type Store interface {
	TryLockSync(ctx context.Context) (release func(context.Context), err error)
	AbandonRuns(ctx context.Context) (int64, error)
	StartRun(ctx context.Context, scope model.Scope, trigger, jobName string) (int64, error)
	FinishRun(ctx context.Context, id int64, status model.RunStatus, c model.RunCounts, errText string) error
	// BeginUsers and BeginAssets start writing one scope in one
	// transaction. A dry run's transaction reads one snapshot of the
	// mirror, writes nothing, and needs no lock.
	BeginUsers(ctx context.Context, dryRun bool) (model.MirrorTx[model.User], error)
	BeginAssets(ctx context.Context, dryRun bool) (model.MirrorTx[model.Asset], error)
	// CountRows returns how many live and soft-deleted rows scope's mirror
	// holds.
	CountRows(ctx context.Context, scope model.Scope) (live, deleted int64, err error)
}

// Config configures a Syncer. Source, Store and Logger are required.
type Config struct {
	Source Source
	Store  Store
	Logger *slog.Logger
	// Trigger and JobName are recorded with each run (one of
	// model.Triggers; the Kubernetes Job's name).
	Trigger string
	JobName string
	// AllowMassDelete lifts the mass-delete guard.
	AllowMassDelete bool
	// MaxDeleteFraction overrides the guard's threshold (default 10%).
	MaxDeleteFraction float64
	// MaxDeleteRows is the guard's floor: a run may always soft-delete this
	// many rows (0: no floor; the command's default is
	// model.DefaultMaxDeleteRows).
	MaxDeleteRows int64
	// DryRun computes and reports every change and writes nothing, not even
	// a sync_runs row. It takes no lock: each scope reads one snapshot of
	// the mirror, so a real run may start (and commit) meanwhile.
	DryRun bool
	// OnChange receives each change in a dry run (and in a real run when
	// set). It is never called concurrently, though the scopes of one Run
	// overlap, so it needs no locking of its own; a scope's changes come in
	// the store's order (by id).
	OnChange func(model.Scope, model.Change)
	// MaxConfirm is how many vanished rows are double-checked one by one
	// against the source before they are soft-deleted (default 50).
	MaxConfirm int
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Syncer runs syncs.
type Syncer struct {
	cfg      Config
	guard    model.DeleteGuard
	changeMu sync.Mutex // serialises OnChange
}

// New returns a Syncer for cfg.
func New(cfg Config) (*Syncer, error) {
	if cfg.Source == nil || cfg.Store == nil || cfg.Logger == nil {
		return nil, errors.New("syncer: Source, Store and Logger are required")
	}
	if cfg.Trigger == "" {
		cfg.Trigger = "cli"
	}
	if cfg.MaxConfirm == 0 {
		cfg.MaxConfirm = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	guard := model.DeleteGuard{AllowMassDelete: cfg.AllowMassDelete, MaxDeleteFraction: cfg.MaxDeleteFraction, MaxDeleteRows: cfg.MaxDeleteRows}
	return &Syncer{cfg: cfg, guard: guard}, nil
}

// ScopeResult is what one scope's run did. A dry run that the
// mass-delete guard would refuse is failed with an Err wrapping
// model.ErrMassDelete, and its Counts say what the real run would do.
type ScopeResult struct {
	Scope  model.Scope
	Status model.RunStatus
	Counts model.RunCounts
	// Durations of the run's steps: "fetch" (until the last row arrived,
	// overlapping "stage"), "stage", "merge" and "total".
	Durations map[string]time.Duration
	Started   time.Time
	Finished  time.Time
	Err       error
	// Rows is what the mirror holds after the run; nil in a dry run, for a
	// skipped run, or when the rows could not be counted.
	Rows *MirrorRows
}

// MirrorRows are a mirror table's rows by state.
type MirrorRows struct {
	Live, Deleted int64
}

// Run syncs the scopes, each in its own transaction, and returns one result
// per scope in the order given. The error is model.ErrLocked (wrapped) when
// another sync holds the lock — every scope is then reported skipped — or
// the first scope's failure. A failed scope does not stop the next one
// unless the context is done.
//
// A dry run takes no lock. It only reads, each scope in one snapshot, so
// a real run committing meanwhile cannot make its report inconsistent; and
// the lock would have it the other way round: a real run starting while a
// dry run held it — exclusive or shared, the real run's is exclusive —
// would be skipped, its changes waiting for the next schedule.
func (s *Syncer) Run(ctx context.Context, scopes []model.Scope) ([]ScopeResult, error) {
	log := s.cfg.Logger
	if !s.cfg.DryRun {
		release, err := s.cfg.Store.TryLockSync(ctx)
		if errors.Is(err, model.ErrLocked) {
			return s.skip(ctx, scopes, err), err
		}
		if err != nil {
			return s.failAll(scopes, err), fmt.Errorf("lock the mirror: %w", err)
		}
		defer release(ctx)

		n, err := s.cfg.Store.AbandonRuns(ctx)
		if err != nil {
			return s.failAll(scopes, err), err
		}
		if n > 0 {
			log.Warn("marked runs left running by a killed process as failed", "runs", n)
		}
	}

	// Scopes run as a pipeline: the next scope starts fetching as soon as
	// the previous one has received its last row, so one scope's merge in
	// PostgreSQL overlaps the next one's paging; pages in flight stay at
	// the client's parallelism.
	results := make([]ScopeResult, len(scopes))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	close(ready)
	for i, scope := range scopes {
		fetched := make(chan struct{})
		var once sync.Once
		done := func() { once.Do(func() { close(fetched) }) }
		wg.Add(1)
		go func(prev <-chan struct{}) {
			defer wg.Done()
			defer done()
			select {
			case <-prev:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				now := s.cfg.Now()
				results[i] = ScopeResult{Scope: scope, Status: model.RunFailed, Started: now, Finished: now,
					Err: fmt.Errorf("sync %s: not started: %w", scope, context.Cause(ctx))}
				return
			}
			results[i] = s.runScope(ctx, scope, done)
		}(ready)
		ready = fetched
	}
	wg.Wait()
	var firstErr error
	for _, r := range results {
		if r.Err != nil {
			firstErr = r.Err
			break
		}
	}
	return results, firstErr
}

// runScope syncs one scope and records it; fetched is called once the
// last row has arrived (or fetching failed).
func (s *Syncer) runScope(ctx context.Context, scope model.Scope, fetched func()) ScopeResult {
	log := s.cfg.Logger.With("scope", string(scope))
	r := ScopeResult{Scope: scope, Started: s.cfg.Now(), Durations: map[string]time.Duration{}}
	var runID int64
	if !s.cfg.DryRun {
		id, err := s.cfg.Store.StartRun(ctx, scope, s.cfg.Trigger, s.cfg.JobName)
		if err != nil {
			r.Status, r.Err, r.Finished = model.RunFailed, err, s.cfg.Now()
			return r
		}
		runID = id
	}
	log.Info("sync started", "run_id", runID, "dry_run", s.cfg.DryRun)

	var onChange func(model.Change)
	if s.cfg.OnChange != nil {
		onChange = func(c model.Change) {
			// Scopes overlap (see Run): one scope's changes can be
			// reported while the next one's are.
			s.changeMu.Lock()
			defer s.changeMu.Unlock()
			s.cfg.OnChange(scope, c)
		}
	}
	start := time.Now()
	var fetchTime time.Duration
	fetchDone := func() {
		fetchTime = time.Since(start)
		fetched()
	}
	var err error
	switch scope {
	case model.ScopeUsers:
		r.Counts, err = mirror(ctx, s, log, scope, s.cfg.Store.BeginUsers, upstream[model.User]{
			list: s.cfg.Source.Users, get: s.cfg.Source.User, deleted: func(u *model.User) bool { return u.DeletedAt != nil },
		}, fetchDone, onChange, r.Durations)
	case model.ScopeAssets:
		r.Counts, err = mirror(ctx, s, log, scope, s.cfg.Store.BeginAssets, upstream[model.Asset]{
			list: s.cfg.Source.Assets, get: s.cfg.Source.Asset, deleted: func(a *model.Asset) bool { return a.DeletedAt != nil },
		}, fetchDone, onChange, r.Durations)
	default:
		err = fmt.Errorf("%w: unknown scope %q", model.ErrInvalid, scope)
	}
	r.Durations["total"] = time.Since(start)
	r.Durations["fetch"] = fetchTime
	r.Finished = s.cfg.Now()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (stopped: %w)", err, context.Cause(ctx))
		}
		r.Status, r.Err = model.RunFailed, fmt.Errorf("sync %s: %w", scope, err)
		if s.cfg.DryRun && errors.Is(err, model.ErrMassDelete) {
			log.Warn("dry run: a real run would be refused", "err", err, "fetched", r.Counts.Fetched,
				"inserted", r.Counts.Inserted, "updated", r.Counts.Updated, "deleted", r.Counts.Deleted, "duration", r.Durations["total"])
		} else {
			log.Error("sync failed; the mirror is unchanged", "err", err, "duration", r.Durations["total"])
		}
	} else {
		r.Status = model.RunSucceeded
		log.Info("sync finished", "fetched", r.Counts.Fetched, "inserted", r.Counts.Inserted, "updated", r.Counts.Updated,
			"deleted", r.Counts.Deleted, "unchanged", r.Counts.Unchanged, "duration", r.Durations["total"])
	}
	if !s.cfg.DryRun {
		r.Rows = s.finish(ctx, log, runID, r)
	}
	return r
}

// finish records the outcome even when ctx is cancelled (SIGTERM): the
// failed run must show in sync_runs. It returns the mirror's rows after
// the run, or nil when they cannot be counted.
func (s *Syncer) finish(ctx context.Context, log *slog.Logger, runID int64, r ScopeResult) *MirrorRows {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errText string
	if r.Err != nil {
		errText = r.Err.Error()
	}
	if err := s.cfg.Store.FinishRun(ctx, runID, r.Status, r.Counts, errText); err != nil {
		log.Error("could not record the run's outcome", "run_id", runID, "err", err)
	}
	live, deleted, err := s.cfg.Store.CountRows(ctx, r.Scope)
	if err != nil {
		log.Warn("could not count the mirror's rows", "err", err)
		return nil
	}
	return &MirrorRows{Live: live, Deleted: deleted}
}

// skip records a skipped run per scope (another sync holds the lock).
func (s *Syncer) skip(ctx context.Context, scopes []model.Scope, cause error) []ScopeResult {
	var results []ScopeResult
	now := s.cfg.Now()
	for _, scope := range scopes {
		s.cfg.Logger.Warn("sync skipped: another sync holds the lock", "scope", string(scope))
		results = append(results, ScopeResult{Scope: scope, Status: model.RunSkipped, Started: now, Finished: now, Err: cause})
		if s.cfg.DryRun {
			continue
		}
		id, err := s.cfg.Store.StartRun(ctx, scope, s.cfg.Trigger, s.cfg.JobName)
		if err == nil {
			err = s.cfg.Store.FinishRun(ctx, id, model.RunSkipped, model.RunCounts{}, "another sync holds the lock")
		}
		if err != nil {
			s.cfg.Logger.Error("could not record the skipped run", "scope", string(scope), "err", err)
		}
	}
	return results
}

func (s *Syncer) failAll(scopes []model.Scope, err error) []ScopeResult {
	now := s.cfg.Now()
	results := make([]ScopeResult, 0, len(scopes))
	for _, scope := range scopes {
		results = append(results, ScopeResult{Scope: scope, Status: model.RunFailed, Started: now, Finished: now, Err: err})
	}
	return results
}

// timed calls done when seq is exhausted (or fails).
func timed[T any](seq iter.Seq2[*T, error], done func()) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		defer done()
		for row, err := range seq {
			if !yield(row, err) {
				return
			}
		}
	}
}

// upstream is what the syncer reads of one scope from the source.
type upstream[T any] struct {
	list func(context.Context) iter.Seq2[*T, error]
	// get looks one row up, soft-deleted ones too; model.ErrNotFound when
	// the source has no such row.
	get     func(context.Context, int64) (*T, error)
	deleted func(*T) bool
}

// mirror writes one scope to the mirror, step by step: stage the
// listing; take the live rows that did not come, and when they are few
// keep those the source still has live; check the guard; report the
// changes (a dry run counts them and stops there); apply; commit. fetched
// is called when the listing has ended; steps receives the durations of
// "stage" and "merge" (everything after the stage, the commit included).
func mirror[T any](ctx context.Context, s *Syncer, log *slog.Logger, scope model.Scope,
	begin func(context.Context, bool) (model.MirrorTx[T], error), src upstream[T],
	fetched func(), onChange func(model.Change), steps map[string]time.Duration,
) (model.RunCounts, error) {
	var counts model.RunCounts
	tx, err := begin(ctx, s.cfg.DryRun)
	if err != nil {
		return counts, err
	}
	defer tx.Rollback(ctx)

	start := time.Now()
	counts.Fetched, err = tx.Stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] { return timed(src.list(ctx), fetched) })
	steps["stage"] = time.Since(start)
	if err != nil {
		return counts, err
	}

	start = time.Now()
	deleted, err := tx.Vanished(ctx)
	if err != nil {
		return counts, err
	}
	// A row can slip between Snipe-IT's default and archived asset
	// listings while they are paged; when few rows vanished, each is
	// looked up on its own before it is deleted.
	if n := len(deleted); n > 0 && n <= s.cfg.MaxConfirm {
		if deleted, err = confirmGone(ctx, log, src, deleted); err != nil {
			return counts, err
		}
	}
	var refused error
	if len(deleted) > 0 {
		live, err := tx.LiveRows(ctx)
		if err != nil {
			return counts, err
		}
		refused = s.guard.Check(scope, live, int64(len(deleted)), counts.Fetched)
	}
	if refused != nil && !s.cfg.DryRun {
		return counts, refused
	}
	if s.cfg.DryRun || onChange != nil {
		var would model.RunCounts
		err := tx.Changes(ctx, deleted, func(c model.Change) {
			tally(&would, c)
			if onChange != nil {
				onChange(c)
			}
		})
		if err != nil {
			return counts, err
		}
		if s.cfg.DryRun {
			// A run the guard would refuse still reports what it would do.
			counts.Inserted, counts.Updated, counts.Deleted = would.Inserted, would.Updated, would.Deleted
			counts.Unchanged = counts.Fetched - counts.Inserted - counts.Updated
			steps["merge"] = time.Since(start)
			return counts, refused
		}
	}
	applied, err := tx.Apply(ctx, deleted)
	if err != nil {
		return counts, err
	}
	if err := tx.Commit(ctx); err != nil {
		return counts, err
	}
	steps["merge"] = time.Since(start)
	return applied, nil
}

// tally counts a change as the run's counts do: a restore is an update.
func tally(c *model.RunCounts, ch model.Change) {
	switch ch.Kind {
	case model.ChangeInsert:
		c.Inserted++
	case model.ChangeUpdate, model.ChangeRestore:
		c.Updated++
	case model.ChangeDelete:
		c.Deleted++
	}
}

// confirmGone looks up each of the vanished ids on its own and returns
// those the source does not have live: unknown (purged) or soft-deleted
// there. Rows still live upstream are kept as they are.
func confirmGone[T any](ctx context.Context, log *slog.Logger, src upstream[T], vanished []int64) ([]int64, error) {
	var gone, live []int64
	for _, id := range vanished {
		row, err := src.get(ctx, id)
		switch {
		case errors.Is(err, model.ErrNotFound):
			gone = append(gone, id)
		case err != nil:
			return nil, fmt.Errorf("check whether %d is gone: %w", id, err)
		case src.deleted(row):
			gone = append(gone, id)
		default:
			live = append(live, id)
		}
	}
	if len(live) > 0 {
		log.Warn("rows missing from the listing are still live upstream; kept", "ids", live)
	}
	return gone, nil
}
