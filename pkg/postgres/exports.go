package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/usersync/usersync/pkg/model"
)

// RecordExport writes one row of export_history. e.ID is ignored.
func (db *DB) RecordExport(ctx context.Context, e model.Export) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("record export: %w", err)
	}
	defer db.release(c)
	filters := e.Filters
	if filters == nil {
		filters = map[string]string{}
	}
	_, err = c.Exec(ctx, `INSERT INTO export_history
		(started_at, finished_at, token_name, resource, filters, format, rows_sent, bytes_sent, outcome, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.StartedAt, e.FinishedAt, orNull(e.TokenName), e.Resource, filters, e.Format, e.Rows, e.Bytes,
		string(e.Outcome), orNull(e.RequestID))
	if err != nil {
		return classify(fmt.Errorf("record export: %w", err))
	}
	return nil
}

const exportSelect = "id, started_at, finished_at, token_name, resource, filters, format, rows_sent, bytes_sent, outcome, request_id"

func exportTargets(e *model.Export) []any {
	return []any{&e.ID, &e.StartedAt, &e.FinishedAt, (*nullText)(&e.TokenName), &e.Resource, &e.Filters, &e.Format,
		&e.Rows, &e.Bytes, &e.Outcome, (*nullText)(&e.RequestID)}
}

// ListExports returns one page of the export history, newest first, and
// the cursor of the next page ("" on the last).
func (db *DB) ListExports(ctx context.Context, p model.Page) ([]model.Export, string, error) {
	limit, after, err := pageBounds(p, cursorExports)
	if err != nil {
		return nil, "", fmt.Errorf("list exports: %w", err)
	}
	var w where
	if after != 0 {
		w.add("id < ?", after)
	}
	q := "SELECT " + exportSelect + " FROM export_history" + w.sql() + " ORDER BY id DESC LIMIT " + strconv.Itoa(limit+1)
	exports, err := collect(ctx, db, q, w.args, exportTargets)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			// usersapi started on a schema usersync has not migrated yet:
			// a deployment in progress, not a failure of the request.
			return nil, "", fmt.Errorf("%w: list exports: the export_history table does not exist yet (run usersync migrate): %w",
				model.ErrUnavailable, err)
		}
		return nil, "", classify(fmt.Errorf("list exports: %w", err))
	}
	exports, next := trimPage(exports, limit, cursorExports, func(e *model.Export) int64 { return e.ID })
	return exports, next, nil
}
