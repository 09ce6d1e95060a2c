package postgres

import (
	"encoding/binary"
	"encoding/json"
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

// postgresEpoch is 2000-01-01, where timestamps and dates count from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

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

// appendTimestamptz writes microseconds since 2000-01-01 UTC.
func appendTimestamptz(b []byte, t *time.Time) []byte {
	if t == nil {
		return appendNull(b)
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(t.Sub(postgresEpoch).Microseconds()))
}

// appendDate writes the calendar day of t (in t's location, as pgx does)
// as days since 2000-01-01.
func appendDate(b []byte, t *time.Time) []byte {
	if t == nil {
		return appendNull(b)
	}
	y, m, d := t.Date()
	days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(postgresEpoch) / (24 * time.Hour)
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(int32(days)))
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
