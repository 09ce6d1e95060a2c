package snipeit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// How a body is classed (one policy for every field type):
//
//   - A body that is not a Snipe-IT page at all — not JSON, truncated, an
//     error envelope sent with HTTP 200, no total or no rows — is errNotData
//     and retried: proxies and overloaded PHP servers produce such bodies
//     and the next try usually gets the page.
//   - A well-formed page of the wrong shape (rows not an array of objects,
//     a total that is not a number) or with a row that has no usable id is
//     errBadRow: the same comes again on the next try, so the run fails at
//     once and names the row.
//   - A field whose value cannot be read is not a reason to lose the row:
//     it is stored as NULL, or as its type's empty value (false, 0, "")
//     where the column is NOT NULL, and reported as a fieldProblem naming
//     the record id and the field. Zero dates (MySQL's 0000-00-00, which
//     Carbon renders as -0001-11-30) and Snipe-IT's "(Invalid date value.)"
//     strings are such values.
//   - Leniency that needs no report: numbers and booleans sent as strings
//     ("3", "1", "true"), numbers where strings are documented (their text
//     is kept), null for the empty value.
//
// The decoder reads tokens with jsontext and dispatches on member names, so
// each value is scanned once (encoding/json re-scans every value it hands
// to a custom UnmarshalJSON) and a problem knows its field.

// errNotData marks a body that is not the data it claims to be. It is
// retried: proxies and overloaded PHP servers produce such bodies and the
// next attempt usually succeeds.
var errNotData = errors.New("response is not Snipe-IT data")

// errBadRow marks a well-formed page that cannot be mirrored (a row
// without an id, rows that are not objects). Fetching it again gives the
// same page, so it is not retried: the run fails and names the row.
var errBadRow = fmt.Errorf("%w: malformed row", model.ErrUpstream)

// page is one decoded list page.
type page[T any] struct {
	total   int64
	perPage int64 // 0 when the server did not say
	rows    []T
	// problems are the values of rows that could not be read, in row
	// order.
	problems []fieldProblem
	// served is the server's clock when it answered (its Date header);
	// zero when it did not say.
	served time.Time
}

// decodePage decodes a list body, reading each row with row. A 200 with
// an error envelope, without rows or total, or that is not JSON at all is
// errNotData, never an empty page.
func decodePage[T any](body []byte, loc *time.Location, row func(*reader) (T, error)) (page[T], error) {
	var p page[T]
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return p, fmt.Errorf("%w: body starts with %q, not a JSON object", errNotData, snippet(trimmed))
	}
	r := newReader(body, loc)
	var (
		hasTotal, hasRows bool
		status, messages  []byte
		message           []byte
		shapeErr, rowErr  error
	)
	r.members("", "", "", func(name []byte) {
		switch string(name) {
		case "total":
			v := r.value()
			n, ok := parseInt(bytes.Trim(v, `"`), 64)
			switch {
			case string(v) == "null":
			case ok && n >= 0:
				p.total, hasTotal = n, true
			default:
				shapeErr = fmt.Errorf("%w: total is %s, not a count", errBadRow, snippet(v))
			}
		case "per_page":
			if v := r.value(); len(v) > 0 {
				p.perPage, _ = parseInt(bytes.Trim(v, `"`), 64)
			}
		case "rows":
			switch r.peek() {
			case '[':
				hasRows = true
				p.rows = readRows(r, p.rows, row, &shapeErr, &rowErr)
			case 'n':
				r.skip()
			default:
				shapeErr = fmt.Errorf("%w: rows is %s, not an array", errBadRow, snippet(r.value()))
			}
		case "status":
			status = bytes.Clone(r.value())
		case "messages":
			messages = bytes.Clone(r.value())
		case "message":
			message = bytes.Clone(r.value())
		default:
			r.skip()
		}
	})
	if r.err == nil {
		if _, err := r.dec.ReadToken(); !errors.Is(err, io.EOF) {
			r.fail(fmt.Errorf("data after the page: %w", err))
		}
	}
	switch {
	case r.err != nil:
		// Truncated or garbled: a retry usually gets the whole page.
		return page[T]{}, fmt.Errorf("%w: decode page: %w", errNotData, r.err)
	case isErrorStatus(status):
		eb := errorBody{Messages: messages, Message: message}
		return page[T]{}, fmt.Errorf("%w: status error: %s", errNotData, eb.text())
	case shapeErr != nil:
		return page[T]{}, shapeErr
	case !hasTotal || !hasRows:
		return page[T]{}, fmt.Errorf("%w: page has no total or rows", errNotData)
	case rowErr != nil:
		return page[T]{}, rowErr
	}
	p.problems = r.problems
	return p, nil
}

// readRows reads the rows array. After the first bad row the rest is only
// checked for syntax: the page fails, but a truncated body must still be
// told apart (it is retried, a bad row is not).
func readRows[T any](r *reader, rows []T, row func(*reader) (T, error), shapeErr, rowErr *error) []T {
	i := 0
	r.elements("rows", "", func() {
		defer func() { i++ }()
		if *shapeErr != nil || *rowErr != nil {
			r.skip()
			return
		}
		if k := r.peek(); k != '{' {
			if k != 0 {
				*shapeErr = fmt.Errorf("%w: row %d is %s, not an object", errBadRow, i, snippet(r.value()))
			}
			return
		}
		first := len(r.problems)
		v, err := row(r)
		if err != nil {
			*rowErr = err
			return
		}
		rows = append(rows, v)
		// The row's id is known only once it is read.
		for j := first; j < len(r.problems); j++ {
			r.problems[j].id = r.id
		}
	})
	return rows
}

// decodeOne decodes a single-record body. Snipe-IT answers an unknown id
// with HTTP 200 and an error envelope ("User not found", "Asset does not
// exist."): that is model.ErrNotFound, any other error envelope is retried.
func decodeOne[T any](body []byte, loc *time.Location, row func(*reader) (T, error)) (T, []fieldProblem, error) {
	var zero T
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return zero, nil, fmt.Errorf("%w: body starts with %q, not a JSON object", errNotData, snippet(trimmed))
	}
	eb, ok := parseErrorBody(body)
	if !ok {
		return zero, nil, fmt.Errorf("%w: body is not JSON", errNotData)
	}
	if isErrorStatus(eb.Status) {
		msg := eb.text()
		l := strings.ToLower(msg)
		if strings.Contains(l, "not found") || strings.Contains(l, "not exist") {
			return zero, nil, fmt.Errorf("%w: %s", model.ErrNotFound, msg)
		}
		return zero, nil, fmt.Errorf("%w: status error: %s", errNotData, msg)
	}
	r := newReader(body, loc)
	v, err := row(r)
	if r.err == nil {
		if _, terr := r.dec.ReadToken(); !errors.Is(terr, io.EOF) {
			r.fail(fmt.Errorf("data after the record: %w", terr))
		}
	}
	if r.err != nil {
		return zero, nil, fmt.Errorf("%w: decode: %w", errNotData, r.err)
	}
	if err != nil {
		return zero, nil, err
	}
	for i := range r.problems {
		r.problems[i].id = r.id
	}
	return v, r.problems, nil
}
