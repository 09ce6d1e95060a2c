package snipeit

import (
	"bytes"
	"errors"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

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
