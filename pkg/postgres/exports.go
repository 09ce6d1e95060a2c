package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usersync/usersync/pkg/model"
)

// RecordExport records an export: one row per export, however many pages
// it takes. A page requested with e.PageCursor adds its rows, bytes, end
// and outcome to the row of the export whose last page handed out that
// cursor, the newest such row of the same token name, resource, format
// and filters (so a cursor cannot add to someone else's export); a cut
// page leaves the row's cursor as it was, so that the client's retry of
// the page continues the same export. A first page, a listing served
// whole, and a page whose row is not found (recorded by an older
// usersapi, or pruned since) insert a row. e.ID is ignored.
//
// A role that may not UPDATE export_history (the privilege usersapi
// needed before migration 00004) still records every page, as a row of
// its own, and a warning says so.
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
	if e.PageCursor != "" {
		added, err := addToExport(ctx, c, e, filters)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
			db.logger.Warn("the database role may not UPDATE export_history: a page of a paged export is recorded as an "+
				"export of its own (GRANT UPDATE ON export_history to the role)", "request_id", e.RequestID)
		case err != nil:
			return classify(fmt.Errorf("record export: %w", err))
		case added:
			return nil
		}
	}
	_, err = c.Exec(ctx, `INSERT INTO export_history
		(started_at, finished_at, token_name, resource, filters, format, rows_sent, bytes_sent, outcome, request_id, next_cursor)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.StartedAt, e.FinishedAt, orNull(e.TokenName), e.Resource, filters, e.Format, e.Rows, e.Bytes,
		string(e.Outcome), orNull(e.RequestID), orNull(nextCursor(e)))
	if err != nil {
		return classify(fmt.Errorf("record export: %w", err))
	}
	return nil
}

// nextCursor is the cursor a row keeps for the export's next page: the
// one the page handed out, unless it was cut (then the one it came with,
// which the client will retry).
func nextCursor(e model.Export) string {
	if e.Outcome == model.ExportCut {
		return e.PageCursor
	}
	return e.NextCursor
}

// addToExport adds a page to its export's row; false when there is none.
func addToExport(ctx context.Context, c *pgxpool.Conn, e model.Export, filters map[string]string) (bool, error) {
	tag, err := c.Exec(ctx, `UPDATE export_history
		SET finished_at = $1, rows_sent = rows_sent + $2, bytes_sent = bytes_sent + $3, outcome = $4, next_cursor = $5
		WHERE id = (SELECT id FROM export_history
			WHERE next_cursor = $6 AND resource = $7 AND format = $8 AND filters = $9 AND token_name IS NOT DISTINCT FROM $10
			ORDER BY id DESC LIMIT 1)`,
		e.FinishedAt, e.Rows, e.Bytes, string(e.Outcome), orNull(nextCursor(e)),
		e.PageCursor, e.Resource, e.Format, filters, orNull(e.TokenName))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// pruneBatch is how many export_history rows one DELETE removes: small
// enough that each statement is short and holds few locks.
const pruneBatch = 1000

// PruneExports deletes the export_history rows of exports that started
// before before, in batches, and returns how many it deleted. Several
// usersapi replicas may prune at once: a row one of them deletes is
// skipped by the others. The role needs DELETE on export_history.
func (db *DB) PruneExports(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		c, err := db.acquire(ctx)
		if err != nil {
			return total, fmt.Errorf("prune export history: %w", err)
		}
		tag, err := c.Exec(ctx, `DELETE FROM export_history WHERE id IN
			(SELECT id FROM export_history WHERE started_at < $1 ORDER BY started_at LIMIT `+strconv.Itoa(pruneBatch)+`)`, before)
		db.release(c)
		if err != nil {
			return total, classify(fmt.Errorf("prune export history: %w", err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
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
