package snipeit

import (
	"bytes"
	"errors"
	"html"
	"time"

	"github.com/go-json-experiment/json/jsontext"
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
