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
	scope   model.Scope
	columns []column[T] // id first
	id      func(*T) int64
	// label is the column that names a row in reports.
	label string
	// derive says how the columns shown from other records are derived.
	derive func(model.Facts) derivation
}

var (
	usersTable = table[model.User]{name: "users", scope: model.ScopeUsers, columns: userColumns, label: "username",
		id: func(u *model.User) int64 { return u.ID }, derive: userDerivation}
	assetsTable = table[model.Asset]{name: "assets", scope: model.ScopeAssets, columns: assetColumns, label: "asset_tag",
		id: func(a *model.Asset) int64 { return a.ID }, derive: assetDerivation}
)

// mirrorTx is one scope's write to the mirror in one transaction: the
// steps of model.MirrorTx, in SQL. Rows are staged with a binary COPY into
// a temporary table while they are fetched, unchanged rows as their id
// alone; Apply then rewrites only what differs.
type mirrorTx[T any] struct {
	db     *DB
	tx     pgx.Tx
	table  table[T]
	dryRun bool
	// snapshot is a dry run's exported snapshot, which the digest lookups
	// of Stage import (see lookups).
	snapshot string
	staged   bool
	// rows is how many distinct rows Stage staged; seq the sequence number
	// of the last one (a later row of an id wins).
	rows int64
	seq  int64
}

// BeginUsers starts writing the users table; see model.MirrorTx for the
// steps. The caller must hold the sync lock (TryLockSync) — except for a
// dry run (dryRun true), whose transaction reads one snapshot of the
// mirror and writes nothing but its own temporary table: it needs no lock,
// and no privilege beyond SELECT on the table and the right to create
// temporary tables (which every role has by default).
func (db *DB) BeginUsers(ctx context.Context, dryRun bool) (model.MirrorTx[model.User], error) {
	m, err := begin(ctx, db, usersTable, dryRun)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// BeginAssets does for assets what BeginUsers does for users. An asset
// may be staged more than once (it can move between Snipe-IT's default
// and archived listings while a sync pages); the last one wins.
func (db *DB) BeginAssets(ctx context.Context, dryRun bool) (model.MirrorTx[model.Asset], error) {
	m, err := begin(ctx, db, assetsTable, dryRun)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// begin opens the transaction. A dry run's is REPEATABLE READ, so that
// every step reads the same state of the mirror although no lock keeps a
// real run from committing meanwhile; it exports that snapshot for the
// lookups made on other connections.
func begin[T any](ctx context.Context, db *DB, t table[T], dryRun bool) (*mirrorTx[T], error) {
	opts := pgx.TxOptions{}
	if dryRun {
		opts.IsoLevel = pgx.RepeatableRead
	}
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(fmt.Errorf("begin %s transaction: %w", t.name, err))
	}
	m := &mirrorTx[T]{db: db, tx: tx, table: t, dryRun: dryRun}
	if _, err := tx.Exec(ctx, syncTimeouts); err != nil {
		m.Rollback(ctx)
		return nil, classify(fmt.Errorf("set %s transaction timeouts: %w", t.name, err))
	}
	if dryRun {
		if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&m.snapshot); err != nil {
			m.Rollback(ctx)
			return nil, classify(fmt.Errorf("export the %s dry run's snapshot: %w", t.name, err))
		}
	}
	return m, nil
}

// MirrorUsers makes the users table equal to the users yielded, in one
// transaction: new rows are inserted, changed rows rewritten (unchanged
// rows are not written at all), returning rows restored, and live rows
// that did not come soft-deleted — unless guard refuses that, and then
// nothing is written and the error wraps model.ErrMassDelete. An error
// from the sequence aborts the run the same way. The caller must hold the
// sync lock (TryLockSync).
//
// It is a full sync without a source to ask whether a vanished row is
// really gone and without a run record: tests, benchmarks and the demo
// seed mirrors with it. usersync's syncer drives the steps itself.
func (db *DB) MirrorUsers(ctx context.Context, users iter.Seq2[*model.User, error], guard model.DeleteGuard) (model.RunCounts, error) {
	return mirrorAll(ctx, db, usersTable, users, guard)
}

// MirrorAssets does for assets what MirrorUsers does for users.
func (db *DB) MirrorAssets(ctx context.Context, assets iter.Seq2[*model.Asset, error], guard model.DeleteGuard) (model.RunCounts, error) {
	return mirrorAll(ctx, db, assetsTable, assets, guard)
}

func mirrorAll[T any](ctx context.Context, db *DB, t table[T], rows iter.Seq2[*T, error], guard model.DeleteGuard) (model.RunCounts, error) {
	m, err := begin(ctx, db, t, false)
	if err != nil {
		return model.RunCounts{}, err
	}
	defer m.Rollback(ctx)
	staged, err := m.Stage(ctx, func(context.Context) iter.Seq2[*T, error] { return rows })
	if err != nil {
		return model.RunCounts{}, err
	}
	vanished, err := m.Vanished(ctx)
	if err != nil {
		return model.RunCounts{}, err
	}
	if len(vanished) > 0 {
		live, err := m.LiveRows(ctx)
		if err != nil {
			return model.RunCounts{}, err
		}
		if err := guard.Check(t.scope, live, int64(len(vanished)), staged); err != nil {
			return model.RunCounts{Fetched: staged}, err
		}
	}
	counts, err := m.Apply(ctx, vanished)
	if err != nil {
		return model.RunCounts{}, err
	}
	return counts, m.Commit(ctx)
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
// than hang. JIT compilation is turned off: the merge's and derivation's
// joins over freshly loaded tables look costly to the planner, and
// compiling them took seconds where running them takes milliseconds.
// pg_settings holds only the settings this server knows.
const syncTimeouts = `SELECT set_config(name, CASE name WHEN 'lock_timeout' THEN '1min' WHEN 'jit' THEN 'off' ELSE '0' END, true)
	FROM pg_settings WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout', 'lock_timeout', 'jit')`

func stageName[T any](t table[T]) string { return "stage_" + t.name }

// batchSize is how many rows are looked up in the mirror at once.
const batchSize = 500

// chunkSize is about how much COPY data is produced per read.
const chunkSize = 64 << 10

// errWriteFailed is why Stage stops the source: the COPY failed.
var errWriteFailed = errors.New("writing to the mirror failed")

// Stage creates the staging table and streams rows into it with a binary
// COPY while they are still being fetched. Rows go in batches: each
// batch's ids are looked up in the mirror (on another connection, see
// lookups), and a row whose digest equals the stored sync_hash is staged
// as its id alone, so an unchanged mirror costs PostgreSQL almost nothing.
// Memory stays at one batch.
//
// The rows are pulled by a goroutine of ours (the feeder) that writes the
// COPY stream into a pipe, never by pgx's own copy goroutine: pgx returns
// from CopyFrom without waiting for its reader when the server ends the
// connection (a FATAL error, a broken socket), and the source would then
// still be running while this function returns. The pipe is closed and
// the feeder joined before the source's error is read.
func (m *mirrorTx[T]) Stage(ctx context.Context, rows func(context.Context) iter.Seq2[*T, error]) (int64, error) {
	again := m.staged
	ascending, err := m.copyIn(ctx, rows)
	if err != nil {
		return 0, err
	}
	return m.rows, m.settle(ctx, !ascending || again)
}

// copyIn streams rows into the staging table (creating it first) and
// reports whether their ids came in ascending order; m.rows counts them.
func (m *mirrorTx[T]) copyIn(ctx context.Context, rows func(context.Context) iter.Seq2[*T, error]) (ascending bool, err error) {
	t := m.table
	// WITH NO DATA copies the column types but none of the constraints, so
	// the staging table takes exactly what Snipe-IT sent; seq orders
	// repeated ids (the last one wins); unchanged rows carry only their id.
	stage := stageName(t)
	again := m.staged
	if !again {
		create := fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS
			SELECT NULL::bigint AS seq, NULL::boolean AS unchanged, sync_hash, %s FROM %s WITH NO DATA`,
			stage, columnNames(t.columns, ""), t.name)
		if _, err := m.tx.Exec(ctx, create); err != nil {
			return false, classify(fmt.Errorf("create %s staging table: %w", t.name, err))
		}
		m.staged = true
	}
	lookup, endLookups, err := m.lookups(ctx)
	if err != nil {
		return false, err
	}
	defer endLookups()
	// The source runs under a context of its own, stopped when the COPY
	// fails, so that a slow page does not hold up the failure.
	srcCtx, stopSource := context.WithCancelCause(ctx)
	defer stopSource(nil)
	pr, pw := io.Pipe()
	f := &feeder[T]{ctx: ctx, lookup: lookup, table: t, w: pw, batch: make([]T, 0, batchSize), ascending: true,
		enc: newRowEncoder(t.name, t.columns, m.db.logger), seq: m.seq}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		f.err = f.feed(rows(srcCtx))
		// A nil error ends the stream with io.EOF: the COPY completes.
		// Anything else makes pgx abort the COPY with CopyFail.
		pw.CloseWithError(f.err)
	}()
	copySQL := fmt.Sprintf("COPY %s (seq, unchanged, sync_hash, %s) FROM STDIN (FORMAT binary)", stage, columnNames(t.columns, ""))
	tag, err := m.tx.Conn().PgConn().CopyFrom(ctx, pr, copySQL)
	// The feeder may be blocked writing to the pipe (pgx stopped reading)
	// or waiting on the source (a slow page): unblock the first, ask the
	// source to stop for the second, then wait for it.
	pr.CloseWithError(errCopyEnded)
	if err != nil {
		stopSource(errWriteFailed)
	}
	<-fed
	// When the source failed (e.g. Snipe-IT kept answering errors), report
	// that, not the COPY abort it caused — unless the database went away
	// first and the source failed only because it was stopped.
	dbFirst := err != nil && ctx.Err() == nil && connectionLost(err)
	if f.err != nil && !errors.Is(f.err, errCopyEnded) && !dbFirst {
		return false, fmt.Errorf("stage %s: %w", t.name, f.err)
	}
	if err != nil {
		return false, classify(fmt.Errorf("copy %s into staging: %w", t.name, err))
	}
	m.seq = f.seq
	m.rows += tag.RowsAffected()
	return f.ascending, nil
}

// settle ends a round of staging: when ids may repeat (they came out of
// order, or an earlier round staged some), each keeps its last version;
// then the staging table's statistics are taken.
func (m *mirrorTx[T]) settle(ctx context.Context, dedupe bool) error {
	stage := stageName(m.table)
	if dedupe {
		tag, err := m.tx.Exec(ctx, fmt.Sprintf(
			"DELETE FROM %[1]s s USING %[1]s later WHERE later.id = s.id AND later.seq > s.seq", stage))
		if err != nil {
			return classify(fmt.Errorf("dedupe staged %s: %w", m.table.name, err))
		}
		m.rows -= tag.RowsAffected()
	}
	// Statistics on the join key keep the planner on hash joins; the other
	// columns would cost ten times more to analyze and steer nothing.
	if _, err := m.tx.Exec(ctx, "ANALYZE "+stage+" (id)"); err != nil {
		return classify(fmt.Errorf("analyze %s staging table: %w", m.table.name, err))
	}
	return nil
}

// querier runs a query: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// lookups returns where Stage looks up the stored digests, and the
// function that ends it. The transaction's own connection is busy with the
// COPY, so they go elsewhere: for a real run, anywhere in the pool — the
// sync lock means nothing else writes the mirror. A dry run holds no lock,
// so they go through one read-only transaction that imports the dry run's
// snapshot: a real run committing meanwhile must not make a row look
// unchanged (and be staged as its id alone) that the dry run's snapshot
// holds in an older version.
func (m *mirrorTx[T]) lookups(ctx context.Context) (querier, func(), error) {
	if m.snapshot == "" {
		return m.db.pool, func() {}, nil
	}
	tx, err := m.db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, classify(fmt.Errorf("begin the %s dry run's lookups: %w", m.table.name, err))
	}
	end := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx)
	}
	// It idles between batches while pages are fetched, as the COPY
	// does, so it lifts the same timeouts.
	for _, q := range []string{"SET TRANSACTION SNAPSHOT " + quoteLiteral(m.snapshot), syncTimeouts} {
		if _, err := tx.Exec(ctx, q); err != nil {
			end()
			return nil, nil, classify(fmt.Errorf("share the %s dry run's snapshot: %w", m.table.name, err))
		}
	}
	return tx, end, nil
}

// quoteLiteral quotes s as an SQL string literal (SET takes no
// parameters).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// errCopyEnded tells the feeder that the COPY is over (it failed): its
// remaining rows have nowhere to go.
var errCopyEnded = errors.New("the staging COPY ended")

// feeder writes the binary COPY stream of the staging table into w, a
// batch at a time.
type feeder[T any] struct {
	ctx    context.Context
	lookup querier
	table  table[T]
	w      io.Writer
	enc    *rowEncoder[T]

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
	stored, err := storedRows(f.ctx, f.lookup, f.table.name, ids)
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
func storedRows(ctx context.Context, q querier, table string, ids []int64) (map[int64]storedRow, error) {
	rows, err := q.Query(ctx, "SELECT id, sync_hash, deleted_at IS NOT NULL FROM "+table+" WHERE id = ANY($1)", ids)
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

// requireStaged fails a step that reads the staging table before Stage
// made it.
func (m *mirrorTx[T]) requireStaged(step string) error {
	if !m.staged {
		return fmt.Errorf("%s %s: nothing staged yet", step, m.table.name)
	}
	return nil
}

// Vanished returns the ids of live mirror rows that were not staged,
// ascending.
func (m *mirrorTx[T]) Vanished(ctx context.Context) ([]int64, error) {
	if err := m.requireStaged("list vanished"); err != nil {
		return nil, err
	}
	ids, err := queryIDs(ctx, m.tx, fmt.Sprintf(
		"SELECT t.id FROM %s t WHERE t.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM %s s WHERE s.id = t.id) ORDER BY t.id",
		m.table.name, stageName(m.table)))
	if err != nil {
		return nil, fmt.Errorf("list vanished %s: %w", m.table.name, err)
	}
	return ids, nil
}

// LiveRows returns how many live rows the mirror table holds, as the
// transaction sees it.
func (m *mirrorTx[T]) LiveRows(ctx context.Context) (int64, error) {
	var n int64
	if err := m.tx.QueryRow(ctx, "SELECT count(*) FROM "+m.table.name+" WHERE deleted_at IS NULL").Scan(&n); err != nil {
		return 0, classify(fmt.Errorf("count live %s: %w", m.table.name, err))
	}
	return n, nil
}

// Changes lists every change Apply(deleted) would make, with the names of
// changed columns for updates, from the same conditions as Apply's
// statements, without taking a row lock or writing a row version.
func (m *mirrorTx[T]) Changes(ctx context.Context, deleted []int64, emit func(model.Change)) error {
	if err := m.requireStaged("list changes of"); err != nil {
		return err
	}
	t := m.table
	var diff strings.Builder
	for i, c := range t.columns[1:] {
		if i > 0 {
			diff.WriteString(", ")
		}
		fmt.Fprintf(&diff, "CASE WHEN t.%[1]s IS DISTINCT FROM s.%[1]s THEN '%[1]s' END", c.name)
	}
	q := fmt.Sprintf(`
		SELECT s.id, s.%[1]s::text,
		       CASE WHEN t.id IS NULL THEN 'insert' WHEN t.deleted_at IS NOT NULL THEN 'restore' ELSE 'update' END,
		       CASE WHEN t.id IS NULL THEN NULL ELSE array_remove(ARRAY[%[2]s], NULL) END
		FROM %[3]s s LEFT JOIN %[4]s t ON t.id = s.id
		WHERE NOT s.unchanged AND (t.id IS NULL OR %[5]s)
		UNION ALL
		SELECT t.id, t.%[1]s::text, 'delete', NULL FROM %[4]s t WHERE t.id = ANY($1) AND t.deleted_at IS NULL
		ORDER BY 1`,
		t.label, diff.String(), stageName(t), t.name, rowChanged(t))
	rows, err := m.tx.Query(ctx, q, nonNil(deleted))
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

// errDryRun refuses a write in a dry run's transaction.
var errDryRun = errors.New("a dry run writes nothing")

// Apply writes the staged rows and soft-deletes the live rows among
// deleted, and returns the run's counts. Only rows whose mirrored columns differ (or that come back from
// a soft delete) are written, so a run with no upstream change writes no
// row versions at all.
func (m *mirrorTx[T]) Apply(ctx context.Context, deleted []int64) (model.RunCounts, error) {
	t := m.table
	if m.dryRun {
		return model.RunCounts{}, fmt.Errorf("apply %s: %w", t.name, errDryRun)
	}
	if err := m.requireStaged("apply"); err != nil {
		return model.RunCounts{}, err
	}
	counts := model.RunCounts{Fetched: m.rows}
	stage := stageName(t)
	var set strings.Builder
	for _, c := range t.columns[1:] { // id is the join key
		fmt.Fprintf(&set, "%[1]s = s.%[1]s, ", c.name)
	}
	tag, err := m.tx.Exec(ctx, fmt.Sprintf(
		`UPDATE %s t SET %s sync_hash = s.sync_hash, deleted_at = NULL, changed_at = now() FROM %s s
		 WHERE t.id = s.id AND NOT s.unchanged AND (%s)`,
		t.name, set.String(), stage, rowChanged(t)))
	if err != nil {
		return counts, classify(fmt.Errorf("update changed %s: %w", t.name, err))
	}
	counts.Updated = tag.RowsAffected()

	tag, err = m.tx.Exec(ctx, fmt.Sprintf(
		`INSERT INTO %s (sync_hash, %s) SELECT s.sync_hash, %s FROM %s s
		 WHERE NOT s.unchanged AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.id = s.id)`,
		t.name, columnNames(t.columns, ""), columnNames(t.columns, "s."), stage, t.name))
	if err != nil {
		return counts, classify(fmt.Errorf("insert new %s: %w", t.name, err))
	}
	counts.Inserted = tag.RowsAffected()

	if len(deleted) > 0 {
		tag, err = m.tx.Exec(ctx, fmt.Sprintf(
			`UPDATE %s SET deleted_at = now(), changed_at = now() WHERE id = ANY($1) AND deleted_at IS NULL`, t.name), deleted)
		if err != nil {
			return counts, classify(fmt.Errorf("soft-delete vanished %s: %w", t.name, err))
		}
		counts.Deleted = tag.RowsAffected()
	}
	counts.Unchanged = counts.Fetched - counts.Inserted - counts.Updated
	return counts, nil
}

// Commit commits the transaction.
func (m *mirrorTx[T]) Commit(ctx context.Context) error {
	if m.dryRun {
		return fmt.Errorf("commit %s: %w", m.table.name, errDryRun)
	}
	if err := m.tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit %s: %w", m.table.name, err))
	}
	return nil
}

// Rollback rolls the transaction back, also when ctx is cancelled; after
// Commit it does nothing.
func (m *mirrorTx[T]) Rollback(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = m.tx.Rollback(ctx)
}

// nonNil makes a nil slice an empty array parameter rather than NULL
// (id = ANY(NULL) is never true either, but says so less plainly).
func nonNil(ids []int64) []int64 {
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

func queryIDs(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, classify(err)
}
