package postgres

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PostgreSQL's binary COPY format, written directly: a sync streams about
// fifty columns for every row, and encoding them through pgx's generic
// value path (boxing each into an interface, then a type lookup) cost the
// client more CPU than decoding Snipe-IT's JSON. Each appender writes one
// field: its length, then its binary representation (the *_send format);
// length -1 is NULL.

// copyHeader starts a binary COPY stream: signature, flags, extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends it.
var copyTrailer = []byte{0xff, 0xff}

// Type oids of array elements.
const (
	oidInt8 = 20
	oidText = 25
)

// The range PostgreSQL accepts (src/include/datatype/timestamp.h), counted
// from its epoch, 2000-01-01 UTC: dates from 4714-11-24 BC (Julian day 0)
// to 5874897-12-31, timestamps from 4714-11-24 00:00 BC to
// 294276-12-31 23:59:59.999999 UTC. Upper bounds are exclusive.
const (
	y2kUnix        = 946_684_800 // 2000-01-01 in Unix seconds
	minDateDays    = -2_451_545
	endDateDays    = 2_145_031_949
	minTimestampUS = -211_813_488_000_000_000
	endTimestampUS = 9_223_371_331_200_000_000
)

// errOutOfRange is a time PostgreSQL cannot hold; the appenders write it
// as NULL.
var errOutOfRange = errors.New("outside the range PostgreSQL can store")

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

func appendFieldCount(b []byte, n int) []byte { return binary.BigEndian.AppendUint16(b, uint16(n)) }

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendOptText(b []byte, s string) []byte {
	if s == "" {
		return appendNull(b)
	}
	return appendText(b, s)
}

func appendInt8(b []byte, n int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendOptInt8(b []byte, n *int64) []byte {
	if n == nil {
		return appendNull(b)
	}
	return appendInt8(b, *n)
}

func appendInt4(b []byte, n int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendOptInt4(b []byte, n *int32) []byte {
	if n == nil {
		return appendNull(b)
	}
	return appendInt4(b, *n)
}

func appendBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTimestamptz writes microseconds since 2000-01-01 UTC, computed as
// pgx does from Unix() and Nanosecond() (a time.Duration from the epoch
// saturates at ±292 years: 0023-05-01 came out as 1707-09-23). A time
// PostgreSQL cannot hold is written as NULL, with errOutOfRange.
func appendTimestamptz(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return appendNull(b), nil
	}
	// Seconds since 2000 first: Unix()*1e6 overflows int64 in the last
	// thirty years of PostgreSQL's range (pgx's own encoder does).
	sec := t.Unix() - y2kUnix
	if sec < minTimestampUS/1_000_000 || sec >= endTimestampUS/1_000_000 {
		return appendNull(b), fmt.Errorf("%s is %w", t.Format(time.RFC3339Nano), errOutOfRange)
	}
	us := sec*1_000_000 + int64(t.Nanosecond()/1000)
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(us)), nil
}

// appendDate writes the calendar day of t (in t's location, as pgx does)
// as days since 2000-01-01; a day PostgreSQL cannot hold as NULL, with
// errOutOfRange.
func appendDate(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return appendNull(b), nil
	}
	y, m, d := t.Date()
	days := (time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() - y2kUnix) / 86400
	if days < minDateDays || days >= endDateDays {
		return appendNull(b), fmt.Errorf("%s is %w", t.Format(time.DateOnly), errOutOfRange)
	}
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil
}

// appendArrayHeader writes a one-dimensional array's header, inside a field
// whose total length is patched by the caller.
func appendArrayHeader(b []byte, elemOID uint32, n int) []byte {
	if n == 0 {
		b = binary.BigEndian.AppendUint32(b, 0) // no dimensions
		b = binary.BigEndian.AppendUint32(b, 0) // no nulls
		return binary.BigEndian.AppendUint32(b, elemOID)
	}
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, elemOID)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1) // lower bound
}

// appendSized reserves a length, lets fill append the value, then patches the
// length in.
func appendSized(b []byte, fill func([]byte) []byte) []byte {
	at := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = fill(b)
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

func appendInt8Array(b []byte, v []int64) []byte {
	if v == nil {
		return appendNull(b)
	}
	return appendSized(b, func(b []byte) []byte {
		b = appendArrayHeader(b, oidInt8, len(v))
		for _, n := range v {
			b = appendInt8(b, n)
		}
		return b
	})
}

func appendTextArray(b []byte, v []string) []byte {
	if v == nil {
		return appendNull(b)
	}
	return appendSized(b, func(b []byte) []byte {
		b = appendArrayHeader(b, oidText, len(v))
		for _, s := range v {
			b = appendText(b, s)
		}
		return b
	})
}

// appendJSONB writes jsonb: a version byte, then the JSON text. A nil map
// is written as {} (the column is NOT NULL). encoding/json sorts map keys,
// so the same map always gives the same bytes (and digest).
func appendJSONB(b []byte, m map[string]string) []byte {
	if m == nil {
		m = map[string]string{}
	}
	return appendSized(b, func(b []byte) []byte {
		js, err := json.Marshal(m)
		if err != nil { // map[string]string always marshals
			panic(err)
		}
		return append(append(b, 1), js...)
	})
}

// appendNumeric writes a plain decimal string ("-1299.50", "" for NULL) as
// numeric: digit groups of base 10000 around the decimal point.
func appendNumeric(b []byte, s string) []byte {
	if s == "" {
		return appendNull(b)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	dscale := len(frac)
	// Pad both parts to whole groups of four digits.
	intPart = strings.Repeat("0", (4-len(intPart)%4)%4) + intPart
	frac += strings.Repeat("0", (4-len(frac)%4)%4)
	var groups []uint16
	for i := 0; i < len(intPart); i += 4 {
		groups = append(groups, group(intPart[i:i+4]))
	}
	weight := len(groups) - 1
	for i := 0; i < len(frac); i += 4 {
		groups = append(groups, group(frac[i:i+4]))
	}
	// Drop leading zero groups (each lowers the weight) and trailing ones.
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(0)
	if neg && len(groups) > 0 {
		sign = 0x4000
	}
	if len(groups) == 0 {
		weight = 0
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+2*len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale))
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b
}

func group(s string) uint16 {
	var n uint16
	for i := 0; i < len(s); i++ {
		n = n*10 + uint16(s[i]-'0')
	}
	return n
}

// checkDecimal rejects what appendNumeric cannot write.
func checkDecimal(s string) error {
	t := strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(t, ".")
	if intPart == "" && frac == "" {
		return fmt.Errorf("%q is not a decimal", s)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return fmt.Errorf("%q is not a decimal", s)
			}
		}
	}
	return nil
}
