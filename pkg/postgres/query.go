package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/usersync/usersync/pkg/model"
)

// where collects the conditions of a WHERE clause and their arguments.
type where struct {
	conds []string
	args  []any
}

// add appends cond, in which every ? stands for arg (one placeholder, so a
// condition can use its argument several times).
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// searchText validates a free-text search. PostgreSQL text cannot hold NUL
// or invalid UTF-8; reject them as bad input rather than let the query fail.
func searchText(q string) error {
	if !utf8.ValidString(q) || strings.ContainsRune(q, 0) {
		return fmt.Errorf("%w: search text is not valid UTF-8 text", model.ErrInvalid)
	}
	return nil
}

// contains is a case-insensitive substring match of ? in each column.
// strpos treats the search text literally (no LIKE wildcards to escape).
func contains(cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "strpos(lower(" + c + "), lower(?)) > 0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// listPage runs one keyset page of a listing: the rows after the cursor's
// id, one more than asked to learn whether a next page exists.
func listPage[T any](ctx context.Context, db *DB, table, cols string, w *where, p model.Page, kind cursorKind,
	targets func(*T) []any, id func(*T) int64) ([]T, string, error) {
	limit, after, err := pageBounds(p, kind)
	if err != nil {
		return nil, "", err
	}
	if after != 0 {
		w.add("id > ?", after)
	}
	q := "SELECT " + cols + " FROM " + table + w.sql() + " ORDER BY id LIMIT " + strconv.Itoa(limit+1)
	rows, err := collect(ctx, db, q, w.args, targets)
	if err != nil {
		return nil, "", classify(err)
	}
	rows, next := trimPage(rows, limit, kind, id)
	return rows, next, nil
}

func collect[T any](ctx context.Context, db *DB, q string, args []any, targets func(*T) []any) ([]T, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer db.release(c)
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var t T
		if err := rows.Scan(targets(&t)...); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// streamRows runs q and calls fn for each row as it arrives, reusing one T.
func streamRows[T any](ctx context.Context, db *DB, q string, args []any, what string, targets func(*T) []any, fn func(*T) error) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer db.release(c)
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return classify(fmt.Errorf("%s: %w", what, err))
	}
	defer rows.Close()
	var t T
	dst := targets(&t)
	for rows.Next() {
		// Clear what the previous row left, so no field leaks into the next.
		var zero T
		t = zero
		if err := rows.Scan(dst...); err != nil {
			return fmt.Errorf("%s: scan: %w", what, err)
		}
		if err := fn(&t); err != nil {
			// The consumer's own failure (a client gone away): not a
			// database condition, so it is not classified.
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("%s: %w", what, err))
	}
	return nil
}
