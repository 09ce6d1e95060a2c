package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// table describes one mirrored table to the generic writer.
type table[T any] struct {
	name    string
	columns []column[T] // id first
	id      func(*T) int64
	// label is the column that names a row in reports.
	label string
}

var (
	usersTable = table[model.User]{name: "users", columns: userColumns, label: "username",
		id: func(u *model.User) int64 { return u.ID }}
	assetsTable = table[model.Asset]{name: "assets", columns: assetColumns, label: "asset_tag",
		id: func(a *model.Asset) int64 { return a.ID }}
)

// MirrorUsers makes the users table equal to the users yielded, in one
// transaction: new rows are inserted, changed rows updated (unchanged rows
// are not written at all), rows that reappeared have deleted_at cleared, and
// live rows that did not come are soft-deleted — unless that trips the
// mass-delete guard, in which case nothing is written and the error wraps
// model.ErrMassDelete. An error from the sequence aborts the run the same
// way. The caller must hold the sync lock (TryLockSync).
//
// A dry run (opts.DryRun) computes the same counts and changes from the
// diff alone and writes nothing: it needs only SELECT on the table and the
// right to create temporary tables. When the guard would refuse the real
// run, a dry run still reports every change and the counts, and returns
// them with the guard's error.
func (db *DB) MirrorUsers(ctx context.Context, users iter.Seq2[*model.User, error], opts model.MirrorOptions) (model.RunCounts, error) {
	return mirror(ctx, db, usersTable, users, opts)
}

// MirrorAssets does for assets what MirrorUsers does for users. An asset
// may be yielded more than once (it can move between Snipe-IT's default
// and archived listings while a sync pages); the last one wins.
func (db *DB) MirrorAssets(ctx context.Context, assets iter.Seq2[*model.Asset, error], opts model.MirrorOptions) (model.RunCounts, error) {
	return mirror(ctx, db, assetsTable, assets, opts)
}

func mirror[T any](ctx context.Context, db *DB, t table[T], rows iter.Seq2[*T, error], opts model.MirrorOptions) (counts model.RunCounts, err error) {
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
	if _, err := tx.Exec(ctx, syncTimeouts); err != nil {
		return counts, classify(fmt.Errorf("set %s transaction timeouts: %w", t.name, err))
	}

	start := time.Now()
	staged, err := stageRows(ctx, db, tx, t, rows, opts)
	if err != nil {
		return counts, err
	}
	observe("stage", time.Since(start))

	start = time.Now()
	counts, err = mergeStaged(ctx, tx, t, staged, opts)
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

// syncTimeouts sets the sync transaction's timeouts, for it alone (like
// SET LOCAL). The COPY stays open for the whole fetch, paced by Snipe-IT's
// rate limit, and the transaction idles while vanished rows are looked up
// one by one: a role's or database's statement_timeout,
// idle_in_transaction_session_timeout or (PostgreSQL 17+)
// transaction_timeout, sized for interactive sessions, would kill every
// large sync, so they are lifted. lock_timeout is bounded instead: the
// sync is the only writer, so it waits on a lock only behind DDL or a
// person's open transaction, and should then fail with that reason rather
// than hang. pg_settings holds only the settings this server knows.
const syncTimeouts = `SELECT set_config(name, CASE name WHEN 'lock_timeout' THEN '1min' ELSE '0' END, true)
	FROM pg_settings WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout', 'lock_timeout')`

func stageName[T any](t table[T]) string { return "stage_" + t.name }

// staged is what stageRows put in the staging table.
type staged struct {
	rows int64
	// ascending is true when ids came strictly ascending, so none repeats
	// and the dedupe pass can be skipped.
	ascending bool
}

// batchSize is how many rows are looked up in the mirror at once.
const batchSize = 500

// chunkSize is about how much COPY data is produced per read.
const chunkSize = 64 << 10

// stageRows creates the staging table and streams rows into it with a
// binary COPY while they are still being fetched. Rows go in batches: each
// batch's ids are looked up in the mirror (on another connection, outside
// the transaction: the sync lock means nothing else writes), and a row
// whose digest equals the stored sync_hash is staged as its id alone, so an
// unchanged mirror costs PostgreSQL almost nothing. Memory stays at one
// batch.
//
// The rows are pulled by a goroutine of ours (the feeder) that writes the
// COPY stream into a pipe, never by pgx's own copy goroutine: pgx returns
// from CopyFrom without waiting for its reader when the server ends the
// connection (a FATAL error, a broken socket), and the source would then
// still be running while this function returns. The pipe is closed and
// the feeder joined before the source's error is read.
func stageRows[T any](ctx context.Context, db *DB, tx pgx.Tx, t table[T], rows iter.Seq2[*T, error], opts model.MirrorOptions) (staged, error) {
	// WITH NO DATA copies the column types but none of the constraints, so
	// the staging table takes exactly what Snipe-IT sent; seq orders
	// repeated ids (the last one wins); unchanged rows carry only their id.
	stage := stageName(t)
	create := fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS
		SELECT NULL::bigint AS seq, NULL::boolean AS unchanged, sync_hash, %s FROM %s WITH NO DATA`,
		stage, columnNames(t.columns, ""), t.name)
	if _, err := tx.Exec(ctx, create); err != nil {
		return staged{}, classify(fmt.Errorf("create %s staging table: %w", t.name, err))
	}
	pr, pw := io.Pipe()
	f := &feeder[T]{ctx: ctx, db: db, table: t, w: pw, batch: make([]T, 0, batchSize), ascending: true,
		enc: newRowEncoder(t.name, t.columns, db.logger)}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		f.err = f.feed(rows)
		// A nil error ends the stream with io.EOF: the COPY completes.
		// Anything else makes pgx abort the COPY with CopyFail.
		pw.CloseWithError(f.err)
	}()
	copySQL := fmt.Sprintf("COPY %s (seq, unchanged, sync_hash, %s) FROM STDIN (FORMAT binary)", stage, columnNames(t.columns, ""))
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, pr, copySQL)
	// The feeder may be blocked writing to the pipe (pgx stopped reading)
	// or waiting on the source (a slow page): unblock the first, ask the
	// source to stop for the second, then wait for it.
	pr.CloseWithError(errCopyEnded)
	if err != nil && opts.CancelSource != nil {
		opts.CancelSource()
	}
	<-fed
	// When the source failed (e.g. Snipe-IT kept answering errors), report
	// that, not the COPY abort it caused — unless the database went away
	// first and the source failed only because it was stopped.
	dbFirst := err != nil && ctx.Err() == nil && connectionLost(err)
	if f.err != nil && !errors.Is(f.err, errCopyEnded) && !dbFirst {
		return staged{}, fmt.Errorf("stage %s: %w", t.name, f.err)
	}
	if err != nil {
		return staged{}, classify(fmt.Errorf("copy %s into staging: %w", t.name, err))
	}
	// Statistics on the join key keep the planner on hash joins; the other
	// columns would cost ten times more to analyze and steer nothing.
	if _, err := tx.Exec(ctx, "ANALYZE "+stage+" (id)"); err != nil {
		return staged{}, classify(fmt.Errorf("analyze %s staging table: %w", t.name, err))
	}
	return staged{rows: tag.RowsAffected(), ascending: f.ascending}, nil
}

// errCopyEnded tells the feeder that the COPY is over (it failed): its
// remaining rows have nowhere to go.
var errCopyEnded = errors.New("the staging COPY ended")

// feeder writes the binary COPY stream of the staging table into w, a
// batch at a time.
type feeder[T any] struct {
	ctx   context.Context
	db    *DB
	table table[T]
	w     io.Writer
	enc   *rowEncoder[T]

	batch []T    // copies: the source's rows are only lent
	out   []byte // encoded, not yet written
	row   []byte // one row's mirrored columns, encoded

	seq       int64
	lastID    int64
	ascending bool
	err       error // set by the feeder goroutine; read after it is joined
}

// feed pulls every row from rows and writes the stream: header, rows,
// trailer. It stops at the first error, the source's or the pipe's.
func (f *feeder[T]) feed(rows iter.Seq2[*T, error]) error {
	f.out = append(f.out, copyHeader...)
	for row, err := range rows {
		if err == nil && row == nil {
			err = errors.New("row source yielded a nil row")
		}
		if err != nil {
			return err
		}
		f.batch = append(f.batch, *row)
		if len(f.batch) == batchSize {
			if err := f.flushBatch(); err != nil {
				return err
			}
		}
	}
	if err := f.flushBatch(); err != nil {
		return err
	}
	f.out = append(f.out, copyTrailer...)
	return f.write()
}

// flushBatch looks the batch up in the mirror, encodes it, and writes
// about chunkSize at a time.
func (f *feeder[T]) flushBatch() error {
	if len(f.batch) == 0 {
		return nil
	}
	ids := make([]int64, len(f.batch))
	for i := range f.batch {
		ids[i] = f.table.id(&f.batch[i])
	}
	stored, err := f.db.storedRows(f.ctx, f.table.name, ids)
	if err != nil {
		return err
	}
	for i := range f.batch {
		if err := f.appendRow(&f.batch[i], stored); err != nil {
			return err
		}
		if len(f.out) >= chunkSize {
			if err := f.write(); err != nil {
				return err
			}
		}
	}
	clear(f.batch) // drop references to the rows' strings and slices
	f.batch = f.batch[:0]
	return nil
}

// write hands what is encoded to the COPY.
func (f *feeder[T]) write() error {
	_, err := f.w.Write(f.out)
	f.out = f.out[:0]
	return err
}

// storedRow is what the mirror holds of a row: its digest, and whether it
// is soft-deleted (then it must be staged whole to be restored).
type storedRow struct {
	hash    []byte
	deleted bool
}

// appendRow encodes one staging row. Its digest covers the encoded
// mirrored columns, so equal bytes mean an unchanged row, which then goes
// as (seq, unchanged, NULL, id, NULL…).
func (f *feeder[T]) appendRow(row *T, stored map[int64]storedRow) error {
	f.seq++
	id := f.table.id(row)
	if id <= f.lastID {
		f.ascending = false
	} else {
		f.lastID = id
	}
	var err error
	if f.row, err = f.enc.encode(f.row[:0], row, id); err != nil {
		return err
	}
	sum := sha256.Sum256(f.row)
	hash := sum[:16]
	b := appendFieldCount(f.out, 3+len(f.table.columns))
	b = appendInt8(b, f.seq)
	if st, ok := stored[id]; ok && !st.deleted && bytes.Equal(st.hash, hash) {
		b = appendBool(b, true)
		b = appendNull(b)
		b = appendInt8(b, id)
		for range len(f.table.columns) - 1 {
			b = appendNull(b)
		}
	} else {
		b = appendBool(b, false)
		b = appendText(b, string(hash))
		b = append(b, f.row...)
	}
	f.out = b
	return nil
}

// storedRows returns the digests the mirror holds for ids.
func (db *DB) storedRows(ctx context.Context, table string, ids []int64) (map[int64]storedRow, error) {
	rows, err := db.pool.Query(ctx, "SELECT id, sync_hash, deleted_at IS NOT NULL FROM "+table+" WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, classify(fmt.Errorf("look up stored %s: %w", table, err))
	}
	defer rows.Close()
	m := make(map[int64]storedRow, len(ids))
	for rows.Next() {
		var id int64
		var st storedRow
		if err := rows.Scan(&id, &st.hash, &st.deleted); err != nil {
			return nil, fmt.Errorf("scan stored %s: %w", table, err)
		}
		m[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("look up stored %s: %w", table, err))
	}
	return m, nil
}

// mergeStaged applies the staged rows to the table: dedupe, guard,
// update changed, insert new, soft-delete vanished. A dry run stops after
// the guard and the change report and counts the changes from the diff
// instead: it writes nothing but its own temporary table.
func mergeStaged[T any](ctx context.Context, tx pgx.Tx, t table[T], st staged, opts model.MirrorOptions) (model.RunCounts, error) {
	counts := model.RunCounts{Fetched: st.rows}
	stage := stageName(t)

	if !st.ascending {
		// A row repeated in the stream keeps its last version.
		tag, err := tx.Exec(ctx, fmt.Sprintf(
			"DELETE FROM %[1]s s USING %[1]s later WHERE later.id = s.id AND later.seq > s.seq", stage))
		if err != nil {
			return counts, classify(fmt.Errorf("dedupe staged %s: %w", t.name, err))
		}
		counts.Fetched -= tag.RowsAffected()
	}

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
	guard := checkMassDelete(t.name, live, missing, counts.Fetched, opts)
	if guard != nil && !opts.DryRun {
		return counts, guard
	}

	if opts.OnChange != nil {
		if err := reportChanges(ctx, tx, t, vanished, keep, opts.OnChange); err != nil {
			return counts, err
		}
	}
	if opts.DryRun {
		// What the statements below would report, from the same
		// conditions, without taking a row lock or writing a row version.
		if err := tx.QueryRow(ctx, fmt.Sprintf(
			`SELECT count(*) FILTER (WHERE t.id IS NULL), count(*) FILTER (WHERE t.id IS NOT NULL)
			 FROM %s s LEFT JOIN %s t ON t.id = s.id WHERE NOT s.unchanged AND (t.id IS NULL OR %s)`,
			stage, t.name, rowChanged(t)),
		).Scan(&counts.Inserted, &counts.Updated); err != nil {
			return counts, classify(fmt.Errorf("count %s changes: %w", t.name, err))
		}
		counts.Deleted = missing
		counts.Unchanged = counts.Fetched - counts.Inserted - counts.Updated
		// A run the guard would refuse still reports what it would do.
		return counts, guard
	}

	var set strings.Builder
	for _, c := range t.columns[1:] { // id is the join key
		fmt.Fprintf(&set, "%[1]s = s.%[1]s, ", c.name)
	}
	// Only rows whose mirrored columns differ (or that come back from a
	// soft delete) are written, so a run with no upstream change writes no
	// row versions at all.
	tag, err := tx.Exec(ctx, fmt.Sprintf(
		`UPDATE %s t SET %s sync_hash = s.sync_hash, deleted_at = NULL, changed_at = now() FROM %s s
		 WHERE t.id = s.id AND NOT s.unchanged AND (%s)`,
		t.name, set.String(), stage, rowChanged(t)))
	if err != nil {
		return counts, classify(fmt.Errorf("update changed %s: %w", t.name, err))
	}
	counts.Updated = tag.RowsAffected()

	tag, err = tx.Exec(ctx, fmt.Sprintf(
		`INSERT INTO %s (sync_hash, %s) SELECT s.sync_hash, %s FROM %s s
		 WHERE NOT s.unchanged AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.id = s.id)`,
		t.name, columnNames(t.columns, ""), columnNames(t.columns, "s."), stage, t.name))
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

// rowChanged is the SQL condition under which staged row s changes mirror
// row t: a mirrored column or the digest differs, or t is soft-deleted.
func rowChanged[T any](t table[T]) string {
	var target, staged strings.Builder
	for _, c := range t.columns[1:] {
		target.WriteString("t." + c.name + ", ")
		staged.WriteString("s." + c.name + ", ")
	}
	return fmt.Sprintf("(%st.sync_hash) IS DISTINCT FROM (%ss.sync_hash) OR t.deleted_at IS NOT NULL", target.String(), staged.String())
}

// checkMassDelete is the guard: refuse a run that would delete more rows
// than the larger of the allowed share of live rows and the floor, or that
// saw nothing upstream while the mirror holds rows (an empty answer is far
// likelier a broken token or filter than an empty Snipe-IT). The floor
// keeps a small mirror from being stuck: 10% of 9 users is not one user.
func checkMassDelete(name string, live, missing, fetched int64, opts model.MirrorOptions) error {
	if opts.AllowMassDelete || missing == 0 {
		return nil
	}
	if fetched == 0 {
		return fmt.Errorf("%w: Snipe-IT returned no %s but the mirror holds %d live ones (use --allow-mass-delete if that is intended)",
			model.ErrMassDelete, name, live)
	}
	fraction := opts.MaxDeleteFraction
	if fraction <= 0 {
		fraction = model.DefaultMaxDeleteFraction
	}
	allowed := max(fraction*float64(live), float64(opts.MaxDeleteRows))
	if float64(missing) > allowed {
		return fmt.Errorf("%w: %d of %d live %s (%.1f%%) vanished upstream, more than the guard allows: %d, the larger of %.0f%% of live rows and %d rows (use --allow-mass-delete if that is intended)",
			model.ErrMassDelete, missing, live, name, 100*float64(missing)/float64(live), int64(allowed), 100*fraction, opts.MaxDeleteRows)
	}
	return nil
}

// reportChanges lists every change the merge is about to make, with the
// names of changed columns for updates.
func reportChanges[T any](ctx context.Context, tx pgx.Tx, t table[T], vanished string, keep []int64, emit func(model.Change)) error {
	var diff strings.Builder
	for i, c := range t.columns[1:] {
		if i > 0 {
			diff.WriteString(", ")
		}
		fmt.Fprintf(&diff, "CASE WHEN t.%[1]s IS DISTINCT FROM s.%[1]s THEN '%[1]s' END", c.name)
	}
	q := fmt.Sprintf(`
		SELECT s.id, s.%s::text,
		       CASE WHEN t.id IS NULL THEN 'insert' WHEN t.deleted_at IS NOT NULL THEN 'restore' ELSE 'update' END,
		       CASE WHEN t.id IS NULL THEN NULL ELSE array_remove(ARRAY[%s], NULL) END
		FROM %s s LEFT JOIN %s t ON t.id = s.id
		WHERE NOT s.unchanged AND (t.id IS NULL OR %s)
		UNION ALL
		SELECT t.id, t.%s::text, 'delete', NULL %s AND NOT (t.id = ANY($1))
		ORDER BY 1`,
		t.label, diff.String(), stageName(t), t.name, rowChanged(t), t.label, vanished)
	rows, err := tx.Query(ctx, q, keepIDs(keep))
	if err != nil {
		return classify(fmt.Errorf("list %s changes: %w", t.name, err))
	}
	defer rows.Close()
	for rows.Next() {
		var c model.Change
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
