// Package webhookqueue turns Snipe-IT's webhook events into incremental
// sync Jobs: a burst of events becomes one Job, launched DefaultDebounce
// after the burst's last event (or DefaultMaxWait after its first, so a
// steady stream still launches); while a sync Job is unfinished the launch
// waits for it, and events that arrive meanwhile make exactly one more Job
// after it.
//
// The queue's state that matters lives in Kubernetes, on the Lease that
// serialises launches (pkg/kube: RecordEvents, LaunchPending), so it holds
// across the replicas of usersapi and across restarts: each replica counts
// the events it received there, and retries the launch until the Lease
// says a Job covers them. A Queue keeps only its own burst's times, on its
// own clock, and never compares them with another replica's.
package webhookqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/model"
)

// Defaults of Config.
const (
	DefaultDebounce = 5 * time.Second
	DefaultMaxWait  = 30 * time.Second
	// DefaultRetry is how often a pending launch is tried again while a
	// sync Job is unfinished: how late, at most, the queued Job starts
	// after that one finished.
	DefaultRetry = 3 * time.Second
	// maxBackoff bounds the wait after failures (Kubernetes unavailable,
	// RBAC, admission), which doubles from Retry.
	maxBackoff = time.Minute
	// flushTimeout bounds counting the events still unrecorded at
	// shutdown.
	flushTimeout = 2 * time.Second
)

// Launcher is what the queue needs of Kubernetes. *kube.Launcher
// satisfies it.
type Launcher interface {
	// RecordEvents counts n events as pending.
	RecordEvents(ctx context.Context, n int64) error
	// PendingEvents returns how many events no launched Job covers.
	PendingEvents(ctx context.Context) (int64, error)
	// LaunchPending launches one Job covering every pending event and
	// returns it with created true; with no event pending it returns
	// created false. While a sync Job is unfinished it returns an error
	// wrapping model.ErrConflict.
	LaunchPending(ctx context.Context) (job model.SyncJob, created bool, err error)
}

// Config configures a Queue.
type Config struct {
	Launcher Launcher
	// Debounce is how long after a burst's last event the launch is
	// tried; 0 means DefaultDebounce.
	Debounce time.Duration
	// MaxWait is how long after a burst's first event the launch is tried
	// at the latest; 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Retry is how often a pending launch is tried again while a Job is
	// unfinished; 0 means DefaultRetry.
	Retry time.Duration
	// Registry receives the queue's metrics; nil keeps them unexported.
	Registry prometheus.Registerer
	// Logger receives launches and failures; nil discards them.
	Logger *slog.Logger
}

// Queue collects this replica's webhook events and launches their Jobs.
// Add may be called from any goroutine; Run does the work.
type Queue struct {
	cfg Config
	log *slog.Logger

	// coalesced counts the events that joined a launch already pending;
	// launches counts launch attempts by result.
	coalesced prometheus.Counter
	launches  *prometheus.CounterVec

	wake chan struct{}
	mu   sync.Mutex
	// unrecorded events, not yet counted on the Lease, and when the first
	// and last of them arrived.
	unrecorded  int64
	first, last time.Time
}

// Results of a launch attempt, as usersapi_webhook_launches_total counts
// them.
const (
	resultCreated = "created"
	resultQueued  = "queued"
	resultNone    = "nothing_pending"
	resultFailed  = "failed"
)

// New returns a Queue; Run starts it.
func New(cfg Config) (*Queue, error) {
	if cfg.Launcher == nil {
		return nil, fmt.Errorf("%w: the webhook queue needs a launcher", model.ErrInvalid)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Retry == 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Debounce < 0 || cfg.MaxWait < cfg.Debounce || cfg.Retry < 0 {
		return nil, fmt.Errorf("%w: webhook debounce %s, max wait %s: want 0 < debounce <= max wait",
			model.ErrInvalid, cfg.Debounce, cfg.MaxWait)
	}
	q := &Queue{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersapi_webhook_events_coalesced_total",
			Help: "Accepted webhook events that joined a sync launch already pending instead of making a Job of their own.",
		}),
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersapi_webhook_launches_total",
			Help: "Attempts to launch the incremental sync Job of pending webhook events, by result: created, " +
				"queued (a sync Job was unfinished; counted once per wait), nothing_pending (another replica's Job " +
				"covered them), failed.",
		}, []string{"result"}),
	}
	for _, r := range []string{resultCreated, resultQueued, resultNone, resultFailed} {
		q.launches.WithLabelValues(r)
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(q.coalesced); err != nil {
			return nil, fmt.Errorf("register webhook queue metrics: %w", err)
		}
		if err := cfg.Registry.Register(q.launches); err != nil {
			return nil, fmt.Errorf("register webhook queue metrics: %w", err)
		}
	}
	return q, nil
}

// Add counts one event. It never blocks.
func (q *Queue) Add() {
	now := time.Now()
	q.mu.Lock()
	if q.unrecorded == 0 {
		q.first = now
	}
	q.unrecorded++
	q.last = now
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the unrecorded events and their times, and forgets them.
func (q *Queue) take() (n int64, first, last time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, first, last = q.unrecorded, q.first, q.last
	q.unrecorded = 0
	return n, first, last
}

// giveBack returns events take returned that could not be recorded.
func (q *Queue) giveBack(n int64, first, last time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unrecorded == 0 || first.Before(q.first) {
		q.first = first
	}
	if last.After(q.last) {
		q.last = last
	}
	q.unrecorded += n
}

// state is Run's view of the launch this replica owes.
type state struct {
	// pending: this replica counted events on the Lease (or found some
	// there at start) that no Job may cover yet.
	pending bool
	// first and last are the times of this burst's events, zero outside
	// a burst: the launch is due Debounce after last or MaxWait after
	// first.
	first, last time.Time
	// retryAt, when set, is when a refused or failed launch is tried
	// again.
	retryAt time.Time
	// failures counts the launch's consecutive failures, for backoff.
	failures int
	// queued: the launch waits for a Job; counted in the metric once.
	queued bool
	// recount: a failed launch may have left its events marked as
	// covered; count one more before trying again.
	recount bool
	// checked: the Lease was read for events pending from before this
	// replica started.
	checked bool
	// recordAt, when set, is when events that could not be counted are
	// tried again.
	recordAt time.Time
}

// Run works until ctx ends: it counts the events Add takes on the Lease
// (all that arrived during one write in the next), and launches the Job
// when it is due. At start it reads the Lease for events left pending
// (by a replica that stopped, or this one before a restart). When ctx
// ends it counts the events not counted yet, so that another replica or
// the next start launches their Job, and returns.
func (q *Queue) Run(ctx context.Context) {
	var st state
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			q.flush()
			return
		case <-q.wake:
		case <-timer.C:
		}
		now := time.Now()
		if !st.checked && !now.Before(st.retryAt) {
			q.checkPending(ctx, &st, now)
		}
		if now.After(st.recordAt) {
			q.record(ctx, &st, now)
		}
		if due, ok := st.due(q.cfg); ok && !now.Before(due) && st.recordAt.IsZero() {
			q.launch(ctx, &st, time.Now())
		}
		timer.Reset(st.next(q.cfg, time.Now()))
	}
}

// checkPending reads the Lease for events pending from before.
func (q *Queue) checkPending(ctx context.Context, st *state, now time.Time) {
	n, err := q.cfg.Launcher.PendingEvents(ctx)
	if err != nil {
		if ctx.Err() == nil {
			st.failures++
			q.log.Warn("cannot read the webhook's pending events; trying again", "err", err, "retry_in", q.backoff(st))
		}
		st.retryAt = now.Add(q.backoff(st))
		return
	}
	st.checked, st.retryAt, st.failures = true, time.Time{}, 0
	if n > 0 {
		q.log.Info("webhook events pending from before; launching their sync", "events", n)
		st.pending, st.retryAt = true, now
	}
}

// record counts the unrecorded events on the Lease.
func (q *Queue) record(ctx context.Context, st *state, now time.Time) {
	n, first, last := q.take()
	if n == 0 {
		return
	}
	if err := q.cfg.Launcher.RecordEvents(ctx, n); err != nil {
		q.giveBack(n, first, last)
		if ctx.Err() == nil {
			q.log.Warn("cannot count webhook events; trying again", "events", n, "err", err)
		}
		st.recordAt = now.Add(q.cfg.Retry)
		return
	}
	st.recordAt = time.Time{}
	joined := n - 1
	if st.pending {
		joined = n
	}
	q.coalesced.Add(float64(joined))
	st.pending = true
	if st.first.IsZero() {
		st.first = first
	}
	st.last = last
}

// due is when the pending launch is to be tried: the burst's time, or the
// retry's when that is sooner.
func (st *state) due(cfg Config) (time.Time, bool) {
	if !st.pending {
		return time.Time{}, false
	}
	var due time.Time
	if !st.first.IsZero() {
		due = st.last.Add(cfg.Debounce)
		if limit := st.first.Add(cfg.MaxWait); limit.Before(due) {
			due = limit
		}
	}
	if !st.retryAt.IsZero() && (due.IsZero() || st.retryAt.Before(due)) {
		due = st.retryAt
	}
	return due, !due.IsZero()
}

// next is how long Run sleeps: until the launch, a retry or a check is
// due, or an hour (Add wakes it).
func (st *state) next(cfg Config, now time.Time) time.Duration {
	wake := now.Add(time.Hour)
	for _, t := range []time.Time{st.recordAt, st.retryAt} {
		if !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	if due, ok := st.due(cfg); ok && due.Before(wake) {
		wake = due
	}
	return max(wake.Sub(now), 0)
}

// launch tries the pending launch once.
func (q *Queue) launch(ctx context.Context, st *state, now time.Time) {
	if st.recount {
		if err := q.cfg.Launcher.RecordEvents(ctx, 1); err != nil {
			q.fail(ctx, st, now, err)
			return
		}
		st.recount = false
	}
	job, created, err := q.cfg.Launcher.LaunchPending(ctx)
	switch {
	case err == nil:
		result := resultNone
		if created {
			result = resultCreated
			q.log.Info("sync job started for webhook events", "job", job.Name, "scope", string(job.Scope), "mode", "incremental")
		}
		q.launches.WithLabelValues(result).Inc()
		*st = state{checked: st.checked}
	case errors.Is(err, model.ErrConflict):
		if !st.queued {
			q.launches.WithLabelValues(resultQueued).Inc()
			q.log.Info("webhook events queued behind an unfinished sync Job", "err", err)
		}
		st.queued, st.failures = true, 0
		st.first, st.last = time.Time{}, time.Time{}
		st.retryAt = now.Add(q.cfg.Retry)
	default:
		q.fail(ctx, st, now, err)
	}
}

// fail records a failed launch and backs off.
func (q *Queue) fail(ctx context.Context, st *state, now time.Time, err error) {
	if ctx.Err() != nil {
		return // shutting down: the events are on the Lease
	}
	q.launches.WithLabelValues(resultFailed).Inc()
	st.failures++
	wait := q.backoff(st)
	q.log.Warn("cannot launch the sync of webhook events; trying again", "err", err, "retry_in", wait)
	st.recount = true
	st.first, st.last = time.Time{}, time.Time{}
	st.retryAt = now.Add(wait)
}

// backoff is the wait after st.failures consecutive failures: Retry,
// doubling, at most maxBackoff.
func (q *Queue) backoff(st *state) time.Duration {
	return min(q.cfg.Retry<<min(max(st.failures-1, 0), 8), maxBackoff)
}

// flush counts the events not counted yet, within flushTimeout.
func (q *Queue) flush() {
	n, _, _ := q.take()
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := q.cfg.Launcher.RecordEvents(ctx, n); err != nil {
		q.log.Warn("webhook events lost at shutdown: they could not be counted", "events", n, "err", err)
		return
	}
	q.log.Info("webhook events left pending at shutdown", "events", n)
}
