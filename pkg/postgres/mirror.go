package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// MirrorOptions is model.MirrorOptions; the alias keeps callers that
// name it through this package compiling.
type MirrorOptions = model.MirrorOptions

// Change is model.Change, likewise.
type Change = model.Change

// table describes one mirrored table to the generic writer.
type table[T any] struct {
	name    string
	columns []column[T]
	// label is the column that names a row in reports.
	label string
}

var (
	usersTable  = table[model.User]{name: "users", columns: userColumns, label: "username"}
	assetsTable = table[model.Asset]{name: "assets", columns: assetColumns, label: "asset_tag"}
)

// MirrorUsers makes the users table equal to the users yielded, in one
// transaction: new rows are inserted, changed rows updated (unchanged rows
// are not written at all), rows that reappeared have deleted_at cleared, and
// live rows that did not come are soft-deleted — unless that trips the
// mass-delete guard, in which case nothing is written and the error wraps
// model.ErrMassDelete. An error from the sequence aborts the run the same
// way. The caller must hold the sync lock (TryLockSync).
func (db *DB) MirrorUsers(ctx context.Context, users iter.Seq2[*model.User, error], opts MirrorOptions) (model.RunCounts, error) {
	return mirror(ctx, db, usersTable, users, opts)
}

// MirrorAssets does for assets what MirrorUsers does for users. An asset
// may be yielded more than once (it can move between Snipe-IT's default
// and archived listings while a sync pages); the last one wins.
func (db *DB) MirrorAssets(ctx context.Context, assets iter.Seq2[*model.Asset, error], opts MirrorOptions) (model.RunCounts, error) {
	return mirror(ctx, db, assetsTable, assets, opts)
}

func mirror[T any](ctx context.Context, db *DB, t table[T], rows iter.Seq2[*T, error], opts MirrorOptions) (counts model.RunCounts, err error) {
	observe := opts.Observe
	if observe == nil {
		observe = func(string, time.Duration) {}
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return counts, classify(fmt.Errorf("begin %s transaction: %w", t.name, err))
	}
	defer func() {
		// Rollback after Commit is a no-op; this covers every error path
		// and the dry run.
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = tx.Rollback(rbCtx)
	}()

	start := time.Now()
	copied, err := stageRows(ctx, tx, t, rows)
	if err != nil {
		return counts, err
	}
	observe("stage", time.Since(start))

	start = time.Now()
	counts, err = mergeStaged(ctx, tx, t, copied, opts)
	if err != nil {
		return counts, err
	}
	if opts.DryRun {
		observe("merge", time.Since(start))
		return counts, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return model.RunCounts{}, classify(fmt.Errorf("commit %s: %w", t.name, err))
	}
	observe("merge", time.Since(start))
	return counts, nil
}

func stageName[T any](t table[T]) string { return "stage_" + t.name }

// stageRows creates the staging table and streams rows into it with COPY
// while they are still being fetched; memory stays at one row.
func stageRows[T any](ctx context.Context, tx pgx.Tx, t table[T], rows iter.Seq2[*T, error]) (int64, error) {
	// WITH NO DATA copies the column types but none of the constraints, so
	// the staging table takes exactly what Snipe-IT sent; seq orders
	// repeated ids (the last one wins).
	create := fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT NULL::bigint AS seq, %s FROM %s WITH NO DATA",
		stageName(t), columnNames(t.columns, ""), t.name)
	if _, err := tx.Exec(ctx, create); err != nil {
		return 0, classify(fmt.Errorf("create %s staging table: %w", t.name, err))
	}
	names := make([]string, 0, len(t.columns)+1)
	names = append(names, "seq")
	for _, c := range t.columns {
		names = append(names, c.name)
	}
	src := &seqSource[T]{columns: t.columns, values: make([]any, len(names))}
	next, stop := iter.Pull2(rows)
	defer stop()
	src.next = next
	n, err := tx.CopyFrom(ctx, pgx.Identifier{stageName(t)}, names, src)
	if src.err != nil {
		// The row source failed (e.g. Snipe-IT kept answering errors):
		// report that, not the COPY abort it caused.
		return n, fmt.Errorf("stage %s: %w", t.name, src.err)
	}
	if err != nil {
		return n, classify(fmt.Errorf("copy %s into staging: %w", t.name, err))
	}
	if _, err := tx.Exec(ctx, "ANALYZE "+stageName(t)); err != nil {
		return n, classify(fmt.Errorf("analyze %s staging table: %w", t.name, err))
	}
	return n, nil
}

// seqSource adapts a pulled iterator to pgx.CopyFromSource.
type seqSource[T any] struct {
	next    func() (*T, error, bool)
	columns []column[T]
	values  []any
	row     *T
	seq     int64
	err     error
}

func (s *seqSource[T]) Next() bool {
	row, err, ok := s.next()
	if !ok {
		return false
	}
	if err != nil {
		s.err = err
		return false
	}
	if row == nil {
		s.err = errors.New("row source yielded a nil row")
		return false
	}
	s.row = row
	s.seq++
	return true
}

// Values reuses one slice: pgx encodes a row before asking for the next.
func (s *seqSource[T]) Values() ([]any, error) {
	s.values[0] = s.seq
	for i, c := range s.columns {
		s.values[i+1] = c.value(s.row)
	}
	return s.values, nil
}

func (s *seqSource[T]) Err() error { return s.err }

// mergeStaged applies the staged rows to the table: dedupe, guard,
// update changed, insert new, soft-delete vanished.
func mergeStaged[T any](ctx context.Context, tx pgx.Tx, t table[T], copied int64, opts MirrorOptions) (model.RunCounts, error) {
	var counts model.RunCounts
	stage := stageName(t)

	// A row repeated in the stream keeps its last version.
	tag, err := tx.Exec(ctx, fmt.Sprintf(
		"DELETE FROM %[1]s s USING %[1]s later WHERE later.id = s.id AND later.seq > s.seq", stage))
	if err != nil {
		return counts, classify(fmt.Errorf("dedupe staged %s: %w", t.name, err))
	}
	counts.Fetched = copied - tag.RowsAffected()

	vanished := fmt.Sprintf("FROM %s t WHERE t.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM %s s WHERE s.id = t.id)", t.name, stage)
	var live, missing int64
	if err := tx.QueryRow(ctx, fmt.Sprintf(
		"SELECT (SELECT count(*) FROM %s WHERE deleted_at IS NULL), (SELECT count(*) %s)", t.name, vanished),
	).Scan(&live, &missing); err != nil {
		return counts, classify(fmt.Errorf("count vanished %s: %w", t.name, err))
	}

	var keep []int64
	if missing > 0 && opts.ConfirmDeleted != nil && missing <= int64(opts.MaxConfirm) {
		ids, err := queryIDs(ctx, tx, "SELECT t.id "+vanished+" ORDER BY t.id")
		if err != nil {
			return counts, fmt.Errorf("list vanished %s: %w", t.name, err)
		}
		if keep, err = opts.ConfirmDeleted(ctx, ids); err != nil {
			return counts, fmt.Errorf("confirm vanished %s: %w", t.name, err)
		}
		missing -= int64(len(keep))
	}
	if err := checkMassDelete(t.name, live, missing, counts.Fetched, opts); err != nil {
		return counts, err
	}

	if opts.OnChange != nil {
		if err := reportChanges(ctx, tx, t, vanished, keep, opts.OnChange); err != nil {
			return counts, err
		}
	}

	cols := t.columns[1:] // id is the join key
	var set, targetRow, stagedRow strings.Builder
	for i, c := range cols {
		if i > 0 {
			set.WriteString(", ")
			targetRow.WriteString(", ")
			stagedRow.WriteString(", ")
		}
		fmt.Fprintf(&set, "%[1]s = s.%[1]s", c.name)
		targetRow.WriteString("t." + c.name)
		stagedRow.WriteString("s." + c.name)
	}
	// Only rows whose mirrored columns differ (or that come back from a
	// soft delete) are written, so a run with no upstream change writes no
	// row versions at all.
	tag, err = tx.Exec(ctx, fmt.Sprintf(
		`UPDATE %s t SET %s, deleted_at = NULL, changed_at = now() FROM %s s
		 WHERE t.id = s.id AND ((%s) IS DISTINCT FROM (%s) OR t.deleted_at IS NOT NULL)`,
		t.name, set.String(), stage, targetRow.String(), stagedRow.String()))
	if err != nil {
		return counts, classify(fmt.Errorf("update changed %s: %w", t.name, err))
	}
	counts.Updated = tag.RowsAffected()

	names := columnNames(t.columns, "")
	tag, err = tx.Exec(ctx, fmt.Sprintf(
		`INSERT INTO %s (%s) SELECT %s FROM %s s WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE t.id = s.id)`,
		t.name, names, columnNames(t.columns, "s."), stage, t.name))
	if err != nil {
		return counts, classify(fmt.Errorf("insert new %s: %w", t.name, err))
	}
	counts.Inserted = tag.RowsAffected()

	tag, err = tx.Exec(ctx, fmt.Sprintf(
		`UPDATE %s t SET deleted_at = now(), changed_at = now() WHERE t.deleted_at IS NULL
		 AND NOT EXISTS (SELECT 1 FROM %s s WHERE s.id = t.id) AND NOT (t.id = ANY($1))`, t.name, stage), keepIDs(keep))
	if err != nil {
		return counts, classify(fmt.Errorf("soft-delete vanished %s: %w", t.name, err))
	}
	counts.Deleted = tag.RowsAffected()
	counts.Unchanged = counts.Fetched - counts.Inserted - counts.Updated
	return counts, nil
}

func keepIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// checkMassDelete is the guard: refuse a run that would delete more than
// the allowed share of live rows, or that saw nothing upstream while the
// mirror holds rows (an empty answer is far likelier a broken token or
// filter than an empty Snipe-IT).
func checkMassDelete(name string, live, missing, fetched int64, opts MirrorOptions) error {
	if opts.AllowMassDelete || missing == 0 {
		return nil
	}
	if fetched == 0 {
		return fmt.Errorf("%w: Snipe-IT returned no %s but the mirror holds %d live ones (use --allow-mass-delete if that is intended)",
			model.ErrMassDelete, name, live)
	}
	limit := opts.MaxDeleteFraction
	if limit <= 0 {
		limit = model.DefaultMaxDeleteFraction
	}
	if float64(missing) > limit*float64(live) {
		return fmt.Errorf("%w: %d of %d live %s (%.1f%%) vanished upstream, above the %.0f%% guard (use --allow-mass-delete if that is intended)",
			model.ErrMassDelete, missing, live, name, 100*float64(missing)/float64(live), 100*limit)
	}
	return nil
}

// reportChanges lists every change the merge is about to make, with the
// names of changed columns for updates.
func reportChanges[T any](ctx context.Context, tx pgx.Tx, t table[T], vanished string, keep []int64, emit func(Change)) error {
	cols := t.columns[1:]
	var diff, targetRow, stagedRow strings.Builder
	for i, c := range cols {
		if i > 0 {
			diff.WriteString(", ")
			targetRow.WriteString(", ")
			stagedRow.WriteString(", ")
		}
		fmt.Fprintf(&diff, "CASE WHEN t.%[1]s IS DISTINCT FROM s.%[1]s THEN '%[1]s' END", c.name)
		targetRow.WriteString("t." + c.name)
		stagedRow.WriteString("s." + c.name)
	}
	q := fmt.Sprintf(`
		SELECT s.id, s.%s::text,
		       CASE WHEN t.id IS NULL THEN 'insert' WHEN t.deleted_at IS NOT NULL THEN 'restore' ELSE 'update' END,
		       CASE WHEN t.id IS NULL THEN NULL ELSE array_remove(ARRAY[%s], NULL) END
		FROM %s s LEFT JOIN %s t ON t.id = s.id
		WHERE t.id IS NULL OR t.deleted_at IS NOT NULL OR (%s) IS DISTINCT FROM (%s)
		UNION ALL
		SELECT t.id, t.%s::text, 'delete', NULL %s AND NOT (t.id = ANY($1))
		ORDER BY 1`,
		t.label, diff.String(), stageName(t), t.name, targetRow.String(), stagedRow.String(),
		t.label, vanished)
	rows, err := tx.Query(ctx, q, keepIDs(keep))
	if err != nil {
		return classify(fmt.Errorf("list %s changes: %w", t.name, err))
	}
	defer rows.Close()
	for rows.Next() {
		var c Change
		var kind string
		if err := rows.Scan(&c.ID, &c.Label, &kind, &c.Columns); err != nil {
			return fmt.Errorf("scan %s change: %w", t.name, err)
		}
		c.Kind = model.ChangeKind(kind)
		emit(c)
	}
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("list %s changes: %w", t.name, err))
	}
	return nil
}

func queryIDs(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, classify(err)
}
