package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// runSelect and runTargets map sync_runs rows to model.SyncRun. The writer
// (runs.go) names its columns in its own statements; this is the one place
// that reads them.
const runSelect = "id, scope, trigger, job_name, started_at, finished_at, status, fetched, inserted, updated, deleted, unchanged, error, mode, fallback_reason"

func runTargets(r *model.SyncRun) []any {
	return []any{&r.ID, &r.Scope, &r.Trigger, (*nullText)(&r.JobName), &r.StartedAt, &r.FinishedAt, &r.Status,
		&r.Counts.Fetched, &r.Counts.Inserted, &r.Counts.Updated, &r.Counts.Deleted, &r.Counts.Unchanged,
		(*nullText)(&r.Error), &r.Mode, (*nullText)(&r.FallbackReason)}
}

// ListRuns returns one page of sync runs, newest first, and the cursor of
// the next page ("" on the last).
func (db *DB) ListRuns(ctx context.Context, f model.RunFilter, p model.Page) ([]model.SyncRun, string, error) {
	var w where
	if f.Scope != "" {
		w.add("scope = ?", string(f.Scope))
	}
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	limit, after, err := pageBounds(p, cursorRuns)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	if after != 0 {
		w.add("id < ?", after)
	}
	q := "SELECT " + runSelect + " FROM sync_runs" + w.sql() + " ORDER BY id DESC LIMIT " + strconv.Itoa(limit+1)
	runs, err := collect(ctx, db, q, w.args, runTargets)
	if err != nil {
		return nil, "", classify(fmt.Errorf("list runs: %w", err))
	}
	runs, next := trimPage(runs, limit, cursorRuns, func(r *model.SyncRun) int64 { return r.ID })
	return runs, next, nil
}

// RunsOfJobs returns the runs recorded by the Kubernetes Jobs named in
// jobs (sync_runs.job_name), oldest first; a Job that recorded none has no
// rows.
func (db *DB) RunsOfJobs(ctx context.Context, jobs []string) ([]model.SyncRun, error) {
	if len(jobs) == 0 {
		return []model.SyncRun{}, nil
	}
	q := "SELECT " + runSelect + " FROM sync_runs WHERE job_name = ANY($1) ORDER BY id"
	runs, err := collect(ctx, db, q, []any{jobs}, runTargets)
	if err != nil {
		return nil, classify(fmt.Errorf("list the runs of %d jobs: %w", len(jobs), err))
	}
	return runs, nil
}

// scopeTables names the mirror table of each scope; only these constant
// names are ever put into SQL text.
var scopeTables = map[model.Scope]string{model.ScopeUsers: "users", model.ScopeAssets: "assets"}

// ScopeStatuses reports, for every scope in model.Scopes order, its latest
// run, its latest successful run and how many live and soft-deleted rows
// the mirror holds. It sends every query in one round trip.
func (db *DB) ScopeStatuses(ctx context.Context) ([]model.ScopeStatus, error) {
	statuses := make([]model.ScopeStatus, len(model.Scopes))
	batch := &pgx.Batch{}
	for i, scope := range model.Scopes {
		st := &statuses[i]
		st.Scope = scope
		queueRun := func(q string, dst **model.SyncRun) {
			batch.Queue(q, string(scope)).QueryRow(func(row pgx.Row) error {
				var r model.SyncRun
				err := row.Scan(runTargets(&r)...)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				if err == nil {
					*dst = &r
				}
				return err
			})
		}
		queueRun("SELECT "+runSelect+" FROM sync_runs WHERE scope = $1 ORDER BY id DESC LIMIT 1", &st.LastRun)
		queueRun("SELECT "+runSelect+" FROM sync_runs WHERE scope = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1", &st.LastSuccess)
		batch.Queue(rowCountsSQL(scope)).QueryRow(func(row pgx.Row) error {
			return row.Scan(&st.LiveRows, &st.DeletedRows)
		})
	}
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sync status: %w", err)
	}
	defer db.release(c)
	if err := c.SendBatch(ctx, batch).Close(); err != nil {
		return nil, classify(fmt.Errorf("read sync status: %w", err))
	}
	return statuses, nil
}
