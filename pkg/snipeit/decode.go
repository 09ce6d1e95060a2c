package snipeit

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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

// readerOptions: duplicate names are allowed (the last wins, as in PHP and
// encoding/json) and cost nothing to track; invalid UTF-8 is a broken body,
// since PHP's json_encode cannot produce it.
var readerOptions = jsontext.AllowDuplicateNames(true)

// reader reads one body: the JSON tokens with Snipe-IT's leniency, and the
// problems found. After the first syntax error every read returns nothing
// and err holds it.
type reader struct {
	dec      *jsontext.Decoder
	loc      *time.Location // the server's APP_TIMEZONE
	err      error          // the first syntax error: the body is not JSON
	id       int64          // the id of the row just read, set by the row's reader
	problems []fieldProblem
	scratch  []byte // unquoted strings with escapes
	dateBuf  []byte // a date object's datetime
	dayBuf   []byte // a date object's date
}

func newReader(body []byte, loc *time.Location) *reader {
	// A bytes.Buffer is read in place, without a copy.
	return &reader{dec: jsontext.NewDecoder(bytes.NewBuffer(body), readerOptions), loc: loc}
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// peek returns the kind of the next token ('{', '}', '[', ']', '"', '0',
// 'n', 't', 'f'), or 0 after an error.
func (r *reader) peek() jsontext.Kind {
	if r.err != nil {
		return 0
	}
	k := r.dec.PeekKind()
	if k == 0 {
		// PeekKind keeps its error for the next read: read, so that err
		// holds it and every loop ends.
		_, err := r.dec.ReadToken()
		if err == nil {
			err = errors.New("invalid token")
		}
		r.fail(err)
	}
	return k
}

// value reads the next value raw; it is valid until the next read.
func (r *reader) value() jsontext.Value {
	if r.err != nil {
		return nil
	}
	v, err := r.dec.ReadValue()
	if err != nil {
		r.fail(err)
		return nil
	}
	return v
}

func (r *reader) skip() {
	if r.err == nil {
		if err := r.dec.SkipValue(); err != nil {
			r.fail(err)
		}
	}
}

// delim reads a '{', '}', '[' or ']'.
func (r *reader) delim() {
	if r.err == nil {
		if _, err := r.dec.ReadToken(); err != nil {
			r.fail(err)
		}
	}
}

// problem records a value of field (sub: of its nested member) that
// cannot be read; stored is what is kept instead.
func (r *reader) problem(field, sub string, v jsontext.Value, stored string) {
	r.problems = append(r.problems, fieldProblem{field: field, sub: sub, value: snippet(v), stored: stored})
}

// members reads an object, calling member with each name (valid until the
// next read); member must read or skip the value. It reports whether an
// object came: null gives false, and anything else is a problem of field
// (its empty value stored).
func (r *reader) members(field, sub, stored string, member func(name []byte)) bool {
	switch r.peek() {
	case '{':
	case 'n', 0:
		r.skip()
		return false
	default:
		r.problem(field, sub, r.value(), stored)
		return false
	}
	r.delim()
	for k := r.peek(); k != '}' && k != 0; k = r.peek() {
		name := r.name()
		if r.err != nil {
			break
		}
		member(name)
	}
	r.delim()
	return r.err == nil
}

// elements reads an array, calling element for each value, which it must
// read or skip. null gives false; anything else is a problem of field.
func (r *reader) elements(field, stored string, element func()) bool {
	switch r.peek() {
	case '[':
	case 'n', 0:
		r.skip()
		return false
	default:
		r.problem(field, "", r.value(), stored)
		return false
	}
	r.delim()
	for k := r.peek(); k != ']' && k != 0; k = r.peek() {
		element()
	}
	r.delim()
	return r.err == nil
}

// name reads an object member's name, unquoted.
func (r *reader) name() []byte {
	v := r.value()
	if len(v) < 2 {
		return nil
	}
	b := v[1 : len(v)-1]
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	var err error
	if r.scratch, err = jsontext.AppendUnquote(r.scratch[:0], v); err != nil {
		r.fail(err)
		return nil
	}
	return r.scratch
}

// str reads a Snipe-IT string: HTML-escaped by Laravel's e(), possibly
// null (""). Numbers show up where strings are documented (a phone number
// stored as an integer) and keep their text.
func (r *reader) str(field, sub string) string {
	v := r.value()
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		s, ok := r.unquote(v)
		if !ok {
			r.problems = append(r.problems, fieldProblem{field: field, sub: sub, value: snippet(v),
				stored: storedEmpty, reason: "contains NUL, which PostgreSQL text cannot hold"})
			return ""
		}
		return s
	case 'n':
		return ""
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(v)
	}
	r.problem(field, sub, v, storedEmpty)
	return ""
}

// unquote returns a JSON string's value, HTML entities decoded; false when
// it holds a NUL.
func (r *reader) unquote(v jsontext.Value) (string, bool) {
	b, ok := r.unquoteRaw(v)
	if !ok {
		return "", false
	}
	if bytes.IndexByte(b, '&') >= 0 {
		return html.UnescapeString(string(b)), true
	}
	return string(b), true
}

// unquoteRaw returns a JSON string's bytes as they are (valid until the
// next read); false when they hold a NUL, which PostgreSQL text cannot.
// Only escaped strings can: JSON forbids raw control characters.
func (r *reader) unquoteRaw(v jsontext.Value) ([]byte, bool) {
	b := v[1 : len(v)-1]
	if bytes.IndexByte(b, '\\') < 0 {
		return b, true
	}
	var err error
	if r.scratch, err = jsontext.AppendUnquote(r.scratch[:0], v); err != nil {
		r.fail(err)
		return nil, true
	}
	return r.scratch, bytes.IndexByte(r.scratch, 0) < 0
}

// boolean reads true/false, 1/0, "1"/"0"/"true"/"false", "" or null
// (false): older Snipe-IT versions leak raw column values. Anything else
// is a problem, stored as false (every boolean column is NOT NULL).
func (r *reader) boolean(field, sub string) bool {
	v := r.value()
	switch string(v) {
	case "true", "1", `"1"`, `"true"`:
		return true
	case "false", "0", `"0"`, `"false"`, `""`, "null", "":
		return false
	}
	r.problem(field, sub, v, storedFalse)
	return false
}

// integer reads a whole number that fits in bits, also sent as a string
// ("3"). ok is false for null and "" (no value) and for what cannot be read
// (a problem, with stored recorded).
func (r *reader) integer(field, sub string, bits int, stored string) (n int64, ok bool) {
	v := r.value()
	if len(v) == 0 || v[0] == 'n' {
		return 0, false
	}
	digits := []byte(v)
	if v[0] == '"' {
		digits = v[1 : len(v)-1]
		if len(bytes.TrimSpace(digits)) == 0 {
			return 0, false
		}
	}
	n, ok = parseInt(digits, bits)
	if !ok {
		r.problem(field, sub, v, stored)
	}
	return n, ok
}

// parseInt parses an optionally signed decimal integer that fits in bits,
// surrounding spaces allowed.
func parseInt(b []byte, bits int) (int64, bool) {
	b = bytes.TrimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	limit := uint64(1) << (bits - 1)
	if n > limit || (n == limit && !neg) {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// int32Field reads a count (NOT NULL: 0 when it cannot be read).
func (r *reader) int32Field(field string) int32 {
	n, _ := r.integer(field, "", 32, storedZero)
	return int32(n)
}

// ref reads a nested {id, name} object (department, location, company…):
// its id, nil when null, absent, 0 or unreadable, and its name.
func (r *reader) ref(field string) (*int64, string) {
	var id int64
	var ok bool
	var name string
	r.members(field, "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			id, ok = r.integer(field, "id", 64, storedNull)
		case "name":
			name = r.str(field, "name")
		default:
			r.skip()
		}
	})
	if !ok || id == 0 {
		return nil, ""
	}
	return &id, name
}

// refIDs reads an array of {id, name} objects (companies) into their ids;
// nil when null.
func (r *reader) refIDs(field string) []int64 {
	var ids []int64
	if !r.elements(field, storedNull, func() {
		if id, _ := r.ref(field); id != nil {
			ids = append(ids, *id)
		}
	}) {
		return nil
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids
}

// groups reads a user's groups: {"total":n,"rows":[{id,name}…]}, or the
// raw relation array of Snipe-IT 4.0; nil when null.
func (r *reader) groups(field string) []string {
	names := []string{}
	name := func() {
		r.members(field, "rows", storedNull, func(n []byte) {
			if string(n) == "name" {
				names = append(names, r.str(field, "name"))
			} else {
				r.skip()
			}
		})
	}
	switch r.peek() {
	case '[':
		r.elements(field, storedNull, name)
		return names
	case '{':
		r.members(field, "", storedNull, func(n []byte) {
			if string(n) == "rows" {
				r.elements(field, storedNull, name)
			} else {
				r.skip()
			}
		})
		return names
	case 'n':
		r.skip()
		return nil
	}
	r.problem(field, "", r.value(), storedNull)
	return nil
}

// restore reads available_actions' restore flag. Before Snipe-IT 6 a row
// had no deleted_at: restore=true was the only sign of a soft delete.
func (r *reader) restore(field string) (restore bool) {
	r.members(field, "", storedNull, func(n []byte) {
		if string(n) == "restore" {
			restore = r.boolean(field, "restore")
		} else {
			r.skip()
		}
	})
	return restore
}

// deletedAt returns a row's deletion time: deleted_at, or for rows from
// versions without it, updated_at when restore is offered (Laravel's soft
// delete touches updated_at).
func deletedAt(deleted, updated *time.Time, restore bool) *time.Time {
	if deleted != nil || !restore {
		return deleted
	}
	if updated != nil {
		return updated
	}
	epoch := time.Unix(0, 0).UTC()
	return &epoch
}

// when reads one of Snipe-IT's date objects ({"datetime":"Y-m-d H:i:s",…}
// or {"date":"Y-m-d",…}); withTime picks the datetime reading (in the
// server's timezone, returned in UTC) over the date one (UTC midnight of
// the calendar day). null is no date. A zero date, Snipe-IT's
// "<raw> (Invalid date value.)" string and anything unparsable are
// problems, stored as NULL.
func (r *reader) when(field string, withTime bool) *time.Time {
	switch r.peek() {
	case '{':
	case 'n', 0:
		r.skip()
		return nil
	default:
		r.problem(field, "", r.value(), storedNull)
		return nil
	}
	r.dateBuf, r.dayBuf = r.dateBuf[:0], r.dayBuf[:0]
	bad := false
	r.members(field, "", storedNull, func(n []byte) {
		var dst *[]byte
		switch string(n) {
		case "datetime":
			dst = &r.dateBuf
		case "date":
			dst = &r.dayBuf
		default:
			r.skip()
			return
		}
		v := r.value()
		switch {
		case len(v) >= 2 && v[0] == '"':
			var err error
			if *dst, err = jsontext.AppendUnquote((*dst)[:0], v); err != nil {
				r.fail(err)
			}
		case string(v) == "null":
		default:
			r.problem(field, string(n), v, storedNull)
			bad = true
		}
	})
	raw := r.dateBuf
	if len(raw) == 0 {
		raw = r.dayBuf
	}
	if bad || len(raw) == 0 {
		return nil
	}
	var t time.Time
	var err error
	if withTime {
		t, err = parseDatetime(raw, r.loc)
	} else {
		t, err = parseDate(raw)
	}
	if err != nil {
		r.problems = append(r.problems, fieldProblem{field: field, value: snippet(raw), stored: storedNull, reason: err.Error()})
		return nil
	}
	return &t
}

// errZeroDate is MySQL's 0000-00-00, rendered by Carbon as -0001-11-30.
var errZeroDate = errors.New("a zero date")

// parseDatetime reads "Y-m-d H:i:s" (fractional seconds allowed, as
// time.Parse allows them) or a bare "Y-m-d" in loc, returned in UTC.
func parseDatetime(b []byte, loc *time.Location) (time.Time, error) {
	y, m, d, err := parseYMD(b)
	if err != nil {
		return time.Time{}, err
	}
	if len(b) == len(time.DateOnly) {
		return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC(), nil
	}
	rest := b[len(time.DateOnly):]
	if len(rest) < 9 || rest[0] != ' ' || rest[3] != ':' || rest[6] != ':' {
		return time.Time{}, errors.New("not a Y-m-d H:i:s datetime")
	}
	h, ok1 := twoDigits(rest[1:3])
	mi, ok2 := twoDigits(rest[4:6])
	s, ok3 := twoDigits(rest[7:9])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, errors.New("not a Y-m-d H:i:s datetime")
	}
	ns := 0
	if frac := rest[9:]; len(frac) > 0 {
		if frac[0] != '.' && frac[0] != ',' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, errors.New("not a Y-m-d H:i:s datetime")
		}
		scale := 1_000_000_000
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, errors.New("not a Y-m-d H:i:s datetime")
			}
			scale /= 10
			ns += int(c-'0') * scale
		}
	}
	return time.Date(y, m, d, h, mi, s, ns, loc).UTC(), nil
}

// parseDate reads the "Y-m-d" at the start of b (a date object's date, or
// the date part of a datetime) as UTC midnight.
func parseDate(b []byte) (time.Time, error) {
	y, m, d, err := parseYMD(b)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// parseYMD reads the "YYYY-MM-DD" at the start of b, checking the day
// exists.
func parseYMD(b []byte) (int, time.Month, int, error) {
	if bytes.HasPrefix(b, []byte("0000-00-00")) || bytes.HasPrefix(b, []byte("-0001-11-30")) {
		return 0, 0, 0, errZeroDate
	}
	if len(b) < len(time.DateOnly) || b[4] != '-' || b[7] != '-' {
		return 0, 0, 0, errors.New("not a Y-m-d date")
	}
	hi, ok1 := twoDigits(b[0:2])
	lo, ok2 := twoDigits(b[2:4])
	m, ok3 := twoDigits(b[5:7])
	d, ok4 := twoDigits(b[8:10])
	y := hi*100 + lo
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, 0, 0, errors.New("not a Y-m-d date")
	}
	return y, time.Month(m), d, nil
}

func twoDigits(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
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

// errorBody is Snipe-IT's error envelope (and the 401 {"error": …} body).
// Every member stays raw, so no shape of a member can hide the others: in
// an asset row "status" is the status label object.
type errorBody struct {
	Status     jsontext.Value `json:"status"`
	Messages   jsontext.Value `json:"messages"`
	Message    jsontext.Value `json:"message"`
	Error      jsontext.Value `json:"error"`
	RetryAfter jsontext.Value `json:"retryAfter"`
}

// parseErrorBody reads the members of an error envelope from body; false
// when body is not a JSON object.
func parseErrorBody(body []byte) (errorBody, bool) {
	var eb errorBody
	err := json.Unmarshal(body, &eb, jsontext.AllowDuplicateNames(true))
	return eb, err == nil
}

// isErrorStatus reports whether a "status" member is the string "error".
func isErrorStatus(raw []byte) bool {
	return string(bytes.TrimSpace(raw)) == `"error"`
}

// text returns the human message of an error body, whatever its shape
// (a string, or an object of field → [messages]).
func (e *errorBody) text() string {
	for _, raw := range []jsontext.Value{e.Messages, e.Message, e.Error} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return html.UnescapeString(s)
		}
		return string(raw)
	}
	return ""
}

// retryAfter is the body's retryAfter in seconds (a number, or a numeric
// string); false when absent or unreadable.
func (e *errorBody) retryAfter() (float64, bool) {
	f, err := strconv.ParseFloat(string(bytes.Trim(e.RetryAfter, `"`)), 64)
	return f, err == nil && f >= 0
}

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

// parseCost turns Snipe-IT's locale-formatted money ("1,299.00",
// "1.299,00", "1 299,00", "1299") into a plain decimal ("1299.00"). The
// last '.' or ',' followed by one or two digits at the end is the decimal
// separator; every other separator groups thousands.
func parseCost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac := s, ""
	if i := strings.LastIndexAny(s, ".,"); i >= 0 && len(s)-i-1 >= 1 && len(s)-i-1 <= 2 {
		intPart, frac = s[:i], s[i+1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	digits := 0
	for _, r := range intPart {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == ',' || r == '.' || r == ' ' || r == '\'' || r == '\u00a0' || r == '\u202f':
		default:
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("purchase_cost %q is not a number", s)
		}
	}
	if digits == 0 {
		b.WriteByte('0')
	}
	if digits > 18 {
		return "", fmt.Errorf("purchase_cost %q is too large", s)
	}
	b.WriteByte('.')
	b.WriteString((frac + "00")[:2])
	return b.String(), nil
}

// parseMonths reads the leading integer of a localised "36 months".
func parseMonths(s string) *int32 {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return nil
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil {
		return nil
	}
	m := int32(n)
	return &m
}
