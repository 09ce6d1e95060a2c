package snipeittest

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonWriter appends JSON the way PHP's json_encode with Laravel's default
// flags writes it: keys in the order given, "/" escaped as "\/", non-ASCII
// as \uXXXX. Building rows by hand (instead of encoding/json) is what keeps
// Snipe-IT's field order and makes rendering cheap.
type jsonWriter struct {
	b []byte
	// comma is true when the next value or key needs a separating comma.
	comma bool
	// unicode writes non-ASCII as it is, as json_encode does with
	// JSON_UNESCAPED_UNICODE (the activity report sets it).
	unicode bool
}

// field starts a value: a comma if needed, then the key unless k is ""
// (an array element).
func (w *jsonWriter) field(k string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	if k != "" {
		w.b = appendJSONString(w.b, k, false, w.unicode)
		w.b = append(w.b, ':')
	}
	w.comma = true
}

func (w *jsonWriter) beginObject(k string) { w.open(k, '{') }
func (w *jsonWriter) endObject()           { w.close('}') }
func (w *jsonWriter) beginArray(k string)  { w.open(k, '[') }
func (w *jsonWriter) endArray()            { w.close(']') }

// open starts an object or array: no comma before its first member.
func (w *jsonWriter) open(k string, delim byte) {
	w.field(k)
	w.b = append(w.b, delim)
	w.comma = false
}

// close ends an object or array: a sibling after it needs a comma.
func (w *jsonWriter) close(delim byte) {
	w.b = append(w.b, delim)
	w.comma = true
}

// str writes s escaped by PHP's e() (HTML entities) and then as JSON.
func (w *jsonWriter) str(k, s string) {
	w.field(k)
	w.b = appendJSONString(w.b, s, true, w.unicode)
}

// strOrNull writes e(s), or null when s is empty: Snipe-IT's
// `($x) ? e($x) : null`.
func (w *jsonWriter) strOrNull(k, s string) {
	if s == "" {
		w.null(k)
		return
	}
	w.str(k, s)
}

// plain writes s as JSON without HTML escaping (URLs, formatted dates,
// values Snipe-IT does not pass through e(), or text escaped already).
func (w *jsonWriter) plain(k, s string) {
	w.field(k)
	w.b = appendJSONString(w.b, s, false, w.unicode)
}

func (w *jsonWriter) plainOrNull(k, s string) {
	if s == "" {
		w.null(k)
		return
	}
	w.plain(k, s)
}

func (w *jsonWriter) num(k string, n int64) {
	w.field(k)
	w.b = strconv.AppendInt(w.b, n, 10)
}

func (w *jsonWriter) boolean(k string, v bool) {
	w.field(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonWriter) null(k string) {
	w.field(k)
	w.b = append(w.b, "null"...)
}

// raw writes an already encoded JSON value.
func (w *jsonWriter) raw(k string, v []byte) {
	w.field(k)
	w.b = append(w.b, v...)
}

// The display formats of a default Snipe-IT install (date_display_format
// "Y-m-d", time_display_format "h:i A").
const (
	wireDate          = time.DateOnly
	wireDatetime      = time.DateTime
	formattedDatetime = "2006-01-02 03:04 PM"
)

// date writes Helper::getFormattedDateObject($d, 'date'): only the year,
// month and day of d count; a zero d is null.
func (w *jsonWriter) date(k string, d time.Time) {
	if d.IsZero() {
		w.null(k)
		return
	}
	s := d.Format(wireDate)
	w.beginObject(k)
	w.plain("date", s)
	w.plain("formatted", s)
	w.endObject()
}

// datetime writes getFormattedDateObject($t, 'datetime') with t shown in
// the server's timezone; a zero t is null.
func (w *jsonWriter) datetime(k string, t time.Time, tz *time.Location) {
	if t.IsZero() {
		w.null(k)
		return
	}
	t = t.In(tz)
	w.beginObject(k)
	w.plain("datetime", t.Format(wireDatetime))
	w.plain("formatted", t.Format(formattedDatetime))
	w.endObject()
}

// appendJSONString appends s as a JSON string, first escaping it as PHP's
// e() (htmlspecialchars, ENT_QUOTES, double encoding) when html is set;
// non-ASCII stays as it is when unicode is set (JSON_UNESCAPED_UNICODE),
// else it is written as \uXXXX.
func appendJSONString(b []byte, s string, html, unicode bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode && r != utf8.RuneError {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = appendUnicodeEscape(b, r)
			i += size
			start = i
			continue
		}
		rep := escapeASCII(c, html)
		if rep == "" {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, rep...)
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// escapeASCII returns what an ASCII byte becomes inside a JSON string, or
// "" when it stays as it is.
func escapeASCII(c byte, html bool) string {
	if html {
		switch c {
		case '&':
			return "&amp;"
		case '"':
			return "&quot;"
		case '\'':
			return "&#039;"
		case '<':
			return "&lt;"
		case '>':
			return "&gt;"
		}
	}
	switch c {
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '/':
		return `\/`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if c < 0x20 {
		return `\u00` + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&0xf])
	}
	return ""
}

// appendUnicodeEscape writes r as PHP does: \uXXXX in lower-case hex, a
// surrogate pair above the BMP, U+FFFD for invalid UTF-8.
func appendUnicodeEscape(b []byte, r rune) []byte {
	if r > 0xFFFF {
		r1, r2 := utf16.EncodeRune(r)
		return appendUnicodeEscape(appendUnicodeEscape(b, r1), r2)
	}
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
