package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// syncLockID is the advisory lock that makes usersync the mirror's single
// writer. It is a session lock: if the process dies, PostgreSQL ends the
// session and frees the lock.
const syncLockID = 0x7573657273796e63 // "usersync"

// TryLockSync takes the single-writer lock without waiting and returns the
// function that releases it. When another sync holds the lock, it returns
// an error wrapping model.ErrLocked.
func (db *DB) TryLockSync(ctx context.Context) (release func(context.Context), err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("acquire connection for the sync lock: %w", err))
	}
	// The lock's session idles for the whole sync: a role's or database's
	// idle_session_timeout (PostgreSQL 14+) would end it and free the lock
	// while the sync still runs, so it is lifted on this session.
	if _, err := conn.Exec(ctx, `SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'idle_session_timeout'`); err != nil {
		conn.Release()
		return nil, classify(fmt.Errorf("prepare the sync lock's session: %w", err))
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(syncLockID)).Scan(&ok); err != nil {
		conn.Release()
		return nil, classify(fmt.Errorf("take the sync lock: %w", err))
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("take the sync lock: %w", model.ErrLocked)
	}
	var once sync.Once
	return func(ctx context.Context) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(syncLockID)); err != nil {
				// The session may be broken; closing it frees the lock for sure.
				_ = conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

// StartRun records a run of scope as running and returns its id. The row
// is written outside any mirror transaction so that it survives a rollback.
func (db *DB) StartRun(ctx context.Context, scope model.Scope, trigger, jobName string) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx,
		`INSERT INTO sync_runs (scope, trigger, job_name, status) VALUES ($1, $2, $3, 'running') RETURNING id`,
		string(scope), trigger, orNull(jobName)).Scan(&id)
	if err != nil {
		return 0, classify(fmt.Errorf("record %s run start: %w", scope, err))
	}
	return id, nil
}

// FinishRun records the outcome of run id, a full run.
func (db *DB) FinishRun(ctx context.Context, id int64, status model.RunStatus, c model.RunCounts, errText string) error {
	return db.RecordRun(ctx, model.SyncRun{ID: id, Status: status, Counts: c, Error: errText, Mode: model.ModeFull})
}

// RecordRun records the outcome of run r.ID: its status, counts, error,
// mode, fallback reason and the watermark it left.
func (db *DB) RecordRun(ctx context.Context, r model.SyncRun) error {
	mode := r.Mode
	if mode == "" {
		mode = model.ModeFull
	}
	c := r.Counts
	_, err := db.pool.Exec(ctx,
		`UPDATE sync_runs SET status = $2, finished_at = now(), fetched = $3, inserted = $4, updated = $5,
		 deleted = $6, unchanged = $7, error = $8, mode = $9, fallback_reason = $10, watermark = $11 WHERE id = $1`,
		r.ID, string(r.Status), c.Fetched, c.Inserted, c.Updated, c.Deleted, c.Unchanged, orNull(r.Error),
		string(mode), orNull(r.FallbackReason), r.Watermark)
	if err != nil {
		return classify(fmt.Errorf("record run %d outcome: %w", r.ID, err))
	}
	return nil
}

// AbandonRuns marks runs still recorded as running as failed. Call it only
// while holding the sync lock: then no such run can be alive, so each was
// left by a process that was killed before it could record its end.
func (db *DB) AbandonRuns(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx,
		`UPDATE sync_runs SET status = 'failed', finished_at = now(),
		 error = 'abandoned: the process ended without recording an outcome (killed?)'
		 WHERE status = 'running'`)
	if err != nil {
		return 0, classify(fmt.Errorf("mark abandoned runs: %w", err))
	}
	return tag.RowsAffected(), nil
}

// rowCountsSQL counts scope's live and soft-deleted mirror rows.
func rowCountsSQL(scope model.Scope) string {
	return "SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM " + scopeTables[scope]
}

// CountRows returns how many live and soft-deleted rows scope's mirror
// table holds.
func (db *DB) CountRows(ctx context.Context, scope model.Scope) (live, deleted int64, err error) {
	if _, ok := scopeTables[scope]; !ok {
		return 0, 0, fmt.Errorf("%w: unknown scope %q", model.ErrInvalid, scope)
	}
	if err := db.pool.QueryRow(ctx, rowCountsSQL(scope)).Scan(&live, &deleted); err != nil {
		return 0, 0, classify(fmt.Errorf("count %s rows: %w", scope, err))
	}
	return live, deleted, nil
}
