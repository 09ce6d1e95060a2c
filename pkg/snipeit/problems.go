package snipeit

import (
	"log/slog"
	"unicode/utf8"
)

// fieldWarnings collects the unreadable values of one scope's run (the
// users listing, or both asset listings), so that a field broken in every
// row gives one warning, not one per row.
type fieldWarnings struct {
	order   []string // field names in the order first seen
	byField map[string]*fieldWarning
}

// fieldWarning is the first problem with a field and how many rows had one.
type fieldWarning struct {
	first fieldProblem
	rows  int
}

func (w *fieldWarnings) add(p fieldProblem) {
	name := p.name()
	if fw := w.byField[name]; fw != nil {
		fw.rows++
		return
	}
	if w.byField == nil {
		w.byField = map[string]*fieldWarning{}
	}
	w.byField[name] = &fieldWarning{first: p, rows: 1}
	w.order = append(w.order, name)
}

// report logs one warning per field, naming the first record and how many
// were affected.
func (w *fieldWarnings) report(log *slog.Logger, endpoint string) {
	for _, name := range w.order {
		fw := w.byField[name]
		logProblem(log, endpoint, fw.first, fw.rows)
	}
}

// reportProblems logs the problems of one record fetched on its own.
func (c *Client) reportProblems(endpoint string, problems []fieldProblem) {
	for _, p := range problems {
		logProblem(c.log, endpoint, p, 1)
	}
}

func logProblem(log *slog.Logger, endpoint string, p fieldProblem, rows int) {
	args := []any{"endpoint", endpoint, "field", p.name(), "id", p.id, "value", p.value, "stored", p.stored, "rows", rows}
	if p.reason != "" {
		args = append(args, "reason", p.reason)
	}
	log.Warn("snipe-it sent a value that cannot be read; stored as NULL or the column's empty value", args...)
}

// fieldProblem is a value that could not be read and was stored as NULL
// or as its type's empty value.
type fieldProblem struct {
	id     int64  // the record's id
	field  string // e.g. "activated"
	sub    string // the member of a nested object, e.g. "id" of department
	value  string // what came, shortened
	stored string // what is stored instead: NULL, false, 0 or ""
	reason string // why it cannot be read, when not obvious
}

// name is the dotted field name, e.g. "department.id".
func (p fieldProblem) name() string {
	if p.sub == "" {
		return p.field
	}
	return p.field + "." + p.sub
}

// Values stored in place of what cannot be read.
const (
	storedNull  = "NULL"
	storedFalse = "false"
	storedZero  = "0"
	storedEmpty = `""`
)

// snippet shortens a value for a message, on a rune boundary.
func snippet(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}
