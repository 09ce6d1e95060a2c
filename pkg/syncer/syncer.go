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
//
// An incremental run (Config.Incremental) reads, per scope, only what
// changed since the scope's watermark (incremental.go); a scope whose
// changes cannot be read reliably falls back to a full pass, and says why.
// Every run that writes also leaves the scope's state — watermark,
// activity log position, what it learnt of the server — in the same
// transaction as the rows.
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

// Changes is what the syncer reads of Snipe-IT besides every row: the
// listings of what changed since a time, the activity log, and the
// listings of the records users and assets show by name. Incremental runs
// need it; full runs read the log's position and the server's clock from
// it to leave the state the next incremental run starts from.
type Changes interface {
	// UsersChangedSince and AssetsChangedSince yield the live rows whose
	// updated_at is at or after since; DeletedUsersSince and
	// DeletedAssetsSince the soft-deleted ones. A listing that cannot be
	// trusted fails with an error matching model.ErrNotIncremental. seen
	// receives the listing's totals and the server's clock.
	UsersChangedSince(ctx context.Context, since time.Time, seen ...*model.ChangeListing) iter.Seq2[*model.User, error]
	DeletedUsersSince(ctx context.Context, since time.Time, seen ...*model.ChangeListing) iter.Seq2[*model.User, error]
	// AllUsersChangedSince yields live and soft-deleted users (DeletedAt
	// set) in one listing; seen.Total counts both. UsersTotal is that
	// total alone.
	AllUsersChangedSince(ctx context.Context, since time.Time, seen ...*model.ChangeListing) iter.Seq2[*model.User, error]
	UsersTotal(ctx context.Context, seen ...*model.ChangeListing) (int64, error)
	AssetsChangedSince(ctx context.Context, since time.Time, seen ...*model.ChangeListing) iter.Seq2[*model.Asset, error]
	DeletedAssetsSince(ctx context.Context, since time.Time, seen ...*model.ChangeListing) iter.Seq2[*model.Asset, error]
	// ActivitySince returns the activity log's entries after an id,
	// oldest first; LastActivityID the newest entry's id. A token without
	// Snipe-IT's activity.view gets an error matching model.ErrForbidden.
	ActivitySince(ctx context.Context, afterID int64, seen ...*model.ChangeListing) ([]model.ActivityEntry, error)
	LastActivityID(ctx context.Context) (int64, error)
	// ActionName says how the activity log shows a stored action type
	// (translated); ok is false when the log holds no such entry.
	ActionName(ctx context.Context, stored string) (shown string, ok bool, err error)
	Departments(ctx context.Context) ([]model.Reference, error)
	Locations(ctx context.Context) ([]model.Reference, error)
	Companies(ctx context.Context) ([]model.Reference, error)
	Suppliers(ctx context.Context) ([]model.Reference, error)
	Models(ctx context.Context) ([]model.AssetModel, error)
	StatusLabels(ctx context.Context) ([]model.StatusLabel, error)
	// ServerTime is the server's clock as its newest answer gave it; zero
	// when it sends none.
	ServerTime() time.Time
}

// Store is the mirror (PostgreSQL).
type Store interface {
	TryLockSync(ctx context.Context) (release func(context.Context), err error)
	AbandonRuns(ctx context.Context) (int64, error)
	StartRun(ctx context.Context, scope model.Scope, trigger, jobName string) (int64, error)
	// RecordRun records a run's outcome (r.ID is StartRun's id).
	RecordRun(ctx context.Context, r model.SyncRun) error
	// State returns a scope's incremental state; ok is false when there
	// is none.
	State(ctx context.Context, scope model.Scope) (st model.SyncState, ok bool, err error)
	// BeginUsers and BeginAssets start writing one scope in one
	// transaction. A dry run's transaction reads one snapshot of the
	// mirror, writes nothing, and needs no lock.
	BeginUsers(ctx context.Context, dryRun bool) (model.MirrorTx[model.User], error)
	BeginAssets(ctx context.Context, dryRun bool) (model.MirrorTx[model.Asset], error)
	// CountRows returns how many live and soft-deleted rows scope's mirror
	// holds.
	CountRows(ctx context.Context, scope model.Scope) (live, deleted int64, err error)
}

// DefaultLookBack is how far before the watermark an incremental run
// reads changes again: longer than a Snipe-IT request that saves rows
// takes to commit (updated_at is set when a row is saved, not when its
// transaction commits) and than the clocks of several Snipe-IT app servers
// drift apart. Rows re-read unchanged cost nothing but their place on a
// page.
const DefaultLookBack = 5 * time.Minute

// Config configures a Syncer. Source, Store and Logger are required;
// Changes is required for incremental runs.
type Config struct {
	Source  Source
	Changes Changes
	Store   Store
	Logger  *slog.Logger
	// Incremental reads, per scope, only what changed since the last
	// run's watermark; a scope that cannot be read that way falls back to
	// a full pass (ScopeResult.FallbackReason says why).
	Incremental bool
	// LookBack is how far before the watermark changes are read again
	// (default DefaultLookBack).
	LookBack time.Duration
	// LockWait is how long a run waits for the single-writer lock while
	// another sync holds it before it is recorded skipped; 0 skips at once.
	LockWait time.Duration
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
	if cfg.LookBack == 0 {
		cfg.LookBack = DefaultLookBack
	}
	if cfg.Incremental && cfg.Changes == nil {
		return nil, errors.New("syncer: an incremental run needs Changes")
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
	// Mode is how the run read Snipe-IT; FallbackReason says why a run
	// asked to be incremental read everything ("" otherwise).
	Mode           model.RunMode
	FallbackReason string
	// Watermark is the scope's watermark the run left (nil when it left
	// none: a dry run, a failure, or no Changes to read the clock from).
	Watermark *time.Time
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
		release, err := s.lock(ctx)
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
	// the client's parallelism. An incremental run's scopes start together
	// and meet where their reads must come in order (see incremental.go):
	// users' assets_count is derived from the assets mirror, which must be
	// current by then.
	run, err := s.newRun(ctx, scopes)
	if err != nil {
		return s.failAll(scopes, err), err
	}
	defer run.close()
	results := make([]ScopeResult, len(scopes))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	close(ready)
	for i, scope := range scopes {
		fetched := make(chan struct{})
		var once sync.Once
		done := func() { once.Do(func() { close(fetched) }) }
		if s.cfg.Incremental {
			done() // the scopes start together
		}
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
			results[i] = s.runScope(ctx, scope, done, run)
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
func (s *Syncer) runScope(ctx context.Context, scope model.Scope, fetched func(), run *runState) ScopeResult {
	defer run.scopeDone(scope)
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
	var (
		err error
		out outcome
	)
	switch scope {
	case model.ScopeUsers:
		out, err = syncScope(ctx, s, log, run, scope, s.cfg.Store.BeginUsers, s.usersUpstream(), fetchDone, onChange, r.Durations)
	case model.ScopeAssets:
		out, err = syncScope(ctx, s, log, run, scope, s.cfg.Store.BeginAssets, s.assetsUpstream(), fetchDone, onChange, r.Durations)
	default:
		err = fmt.Errorf("%w: unknown scope %q", model.ErrInvalid, scope)
	}
	r.Counts, r.Mode, r.FallbackReason, r.Watermark = out.counts, out.mode, out.reason, out.watermark
	r.Durations["total"] = time.Since(start)
	if _, ok := r.Durations["fetch"]; !ok || fetchTime > 0 {
		r.Durations["fetch"] = fetchTime
	}
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
		log.Info("sync finished", "mode", string(r.Mode), "fetched", r.Counts.Fetched, "inserted", r.Counts.Inserted, "updated", r.Counts.Updated,
			"deleted", r.Counts.Deleted, "unchanged", r.Counts.Unchanged, "duration", r.Durations["total"])
		if scope == model.ScopeAssets {
			run.assetsSynced()
		}
	}
	if r.Err != nil {
		r.Watermark = nil
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
	rec := model.SyncRun{ID: runID, Status: r.Status, Counts: r.Counts, Error: errText, Mode: r.Mode,
		FallbackReason: r.FallbackReason, Watermark: r.Watermark}
	if rec.Mode == "" {
		rec.Mode = model.ModeFull
	}
	if err := s.cfg.Store.RecordRun(ctx, rec); err != nil {
		log.Error("could not record the run's outcome", "run_id", runID, "err", err)
	}
	live, deleted, err := s.cfg.Store.CountRows(ctx, r.Scope)
	if err != nil {
		log.Warn("could not count the mirror's rows", "err", err)
		return nil
	}
	return &MirrorRows{Live: live, Deleted: deleted}
}

// lockPoll is how often a run waiting for the lock (Config.LockWait) asks
// for it again.
const lockPoll = time.Second

// lock takes the single-writer lock, waiting up to Config.LockWait while
// another sync holds it: a scheduled full run that starts while an
// incremental run of a few seconds holds the lock then runs after it
// instead of being skipped until the next schedule. The error wraps
// model.ErrLocked when the lock was still held at the end of the wait.
func (s *Syncer) lock(ctx context.Context) (func(context.Context), error) {
	release, err := s.cfg.Store.TryLockSync(ctx)
	if !errors.Is(err, model.ErrLocked) || s.cfg.LockWait <= 0 {
		return release, err
	}
	log := s.cfg.Logger
	log.Info("another sync holds the lock: waiting for it", "lock_wait", s.cfg.LockWait.String())
	start := time.Now()
	deadline := time.NewTimer(s.cfg.LockWait)
	defer deadline.Stop()
	tick := time.NewTicker(lockPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the sync lock: %w", context.Cause(ctx))
		case <-deadline.C:
			return nil, fmt.Errorf("still held after waiting %s: %w", s.cfg.LockWait, err)
		case <-tick.C:
		}
		release, err = s.cfg.Store.TryLockSync(ctx)
		if !errors.Is(err, model.ErrLocked) {
			if err == nil {
				log.Info("took the lock", "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return release, err
		}
	}
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
			mode := model.ModeFull
			if s.cfg.Incremental {
				mode = model.ModeIncremental
			}
			err = s.cfg.Store.RecordRun(ctx, model.SyncRun{ID: id, Status: model.RunSkipped, Mode: mode, Error: "another sync holds the lock"})
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
