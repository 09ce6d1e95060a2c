package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"
)

// decodeField reads back one field written by an appender with pgx's own
// binary decoders, into a value of the same kind as want.
func decodeField(t *testing.T, b []byte, oid uint32, dst any) (null bool) {
	t.Helper()
	n := int32(binary.BigEndian.Uint32(b))
	if n == -1 {
		if len(b) != 4 {
			t.Fatalf("NULL field followed by %d bytes", len(b)-4)
		}
		return true
	}
	if int(n) != len(b)-4 {
		t.Fatalf("field length %d, but %d bytes follow", n, len(b)-4)
	}
	m := pgtype.NewMap()
	if err := m.Scan(oid, pgtype.BinaryFormatCode, b[4:], dst); err != nil {
		t.Fatalf("pgx cannot read it back: %v", err)
	}
	return false
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestBinaryFieldsReadBackWithPgx(t *testing.T) {
	ts := time.Date(2025, 11, 3, 16, 5, 44, 123456000, time.UTC)
	day := time.Date(2024, 2, 19, 0, 0, 0, 0, time.UTC)
	t.Run("text", func(t *testing.T) {
		var got string
		decodeField(t, appendText(nil, "Zoë O'Fakename <b>"), pgtype.TextOID, &got)
		if got != "Zoë O'Fakename <b>" {
			t.Errorf("got %q", got)
		}
		if !decodeField(t, appendOptText(nil, ""), pgtype.TextOID, &got) {
			t.Error("empty optional text is not NULL")
		}
	})
	t.Run("integers and booleans", func(t *testing.T) {
		var i8 int64
		var i4 int32
		var bo bool
		decodeField(t, appendInt8(nil, -9_000_000_000), pgtype.Int8OID, &i8)
		decodeField(t, appendInt4(nil, -42), pgtype.Int4OID, &i4)
		decodeField(t, appendBool(nil, true), pgtype.BoolOID, &bo)
		if i8 != -9_000_000_000 || i4 != -42 || !bo {
			t.Errorf("got %d, %d, %v", i8, i4, bo)
		}
	})
	t.Run("timestamptz", func(t *testing.T) {
		var got time.Time
		decodeField(t, must(appendTimestamptz(nil, &ts)), pgtype.TimestamptzOID, &got)
		if !got.Equal(ts) {
			t.Errorf("got %v, want %v", got, ts)
		}
		old := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
		decodeField(t, must(appendTimestamptz(nil, &old)), pgtype.TimestamptzOID, &got)
		if !got.Equal(old) {
			t.Errorf("before 2000: got %v, want %v", got, old)
		}
	})
	t.Run("date", func(t *testing.T) {
		for _, d := range []time.Time{day, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2031, 7, 4, 0, 0, 0, 0, time.UTC)} {
			var got time.Time
			decodeField(t, must(appendDate(nil, &d)), pgtype.DateOID, &got)
			if !got.Equal(d) {
				t.Errorf("got %v, want %v", got, d)
			}
		}
	})
	t.Run("arrays", func(t *testing.T) {
		for _, want := range [][]int64{{1, 9, 1 << 40}, {}} {
			var got []int64
			decodeField(t, appendInt8Array(nil, want), pgtype.Int8ArrayOID, &got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("int8[] (-want +got):\n%s", diff)
			}
		}
		var got []string
		decodeField(t, appendTextArray(nil, []string{"Admins & Co", "", "日本"}), pgtype.TextArrayOID, &got)
		if diff := cmp.Diff([]string{"Admins & Co", "", "日本"}, got); diff != "" {
			t.Errorf("text[] (-want +got):\n%s", diff)
		}
		if !decodeField(t, appendTextArray(nil, nil), pgtype.TextArrayOID, &got) {
			t.Error("a nil slice is not NULL")
		}
	})
	t.Run("jsonb", func(t *testing.T) {
		var got map[string]string
		want := map[string]string{"_snipeit_mac_1": "00:00:5E", "_snipeit_ram_2": `16 "GB"`}
		decodeField(t, appendJSONB(nil, want), pgtype.JSONBOID, &got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("jsonb (-want +got):\n%s", diff)
		}
	})
	t.Run("numeric", func(t *testing.T) {
		for _, s := range []string{"1299.00", "0.99", "-15.50", "0", "0.00", "100000000.01", "12345678.90", "7", "10000", "0.0001", "-0.05"} {
			var got pgtype.Numeric
			decodeField(t, appendNumeric(nil, s), pgtype.NumericOID, &got)
			want := pgtype.Numeric{}
			if err := want.Scan(s); err != nil {
				t.Fatal(err)
			}
			// Compare values: pgx drops the scale of a zero.
			gotF, _ := got.Float64Value()
			wantF, _ := want.Float64Value()
			if gotF != wantF {
				t.Errorf("numeric %q read back as %v, want %v", s, gotF.Float64, wantF.Float64)
			}
		}
		for _, bad := range []string{"1,299.00", "abc", "-", "1.2.3"} {
			if checkDecimal(bad) == nil {
				t.Errorf("checkDecimal(%q) accepted it", bad)
			}
		}
	})
}

// pgxBinary is pgx's own binary encoding of v as the type oid.
func pgxBinary(t *testing.T, m *pgtype.Map, oid uint32, v any) []byte {
	t.Helper()
	b, err := m.Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err != nil {
		t.Fatalf("pgx cannot encode %v: %v", v, err)
	}
	return b
}

// TestTimeEncodingMatchesPgx compares the date and timestamptz appenders
// with pgx's encoders on random values over the whole range PostgreSQL
// accepts, in several time zones, sub-microsecond parts and years before
// 1708 and after 2292 (which a time.Duration from 2000 cannot reach)
// included.
func TestTimeEncodingMatchesPgx(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600-1800)}
	if paris, err := time.LoadLocation("Europe/Paris"); err == nil {
		zones = append(zones, paris)
	}
	m := pgtype.NewMap()
	rng := rand.New(rand.NewPCG(1, 2))
	// pgx computes Unix()*1e6, which overflows int64 after 294247-01-10;
	// PostgreSQL's last 30 years are checked against PostgreSQL itself
	// (TestExtremeDatesRoundTrip).
	pgxEnd := int64(math.MaxInt64/1_000_000) - y2kUnix
	for i := range 20000 {
		var sec int64
		switch i % 4 {
		case 0: // anywhere
			sec = minTimestampUS/1_000_000 + rng.Int64N(pgxEnd-minTimestampUS/1_000_000)
		case 1: // years 1-2999, where typos land
			sec = -63082281600 + rng.Int64N(94670856000)
		default: // near the ends
			if i%2 == 0 {
				sec = minTimestampUS/1_000_000 + rng.Int64N(86400*400)
			} else {
				sec = pgxEnd - 1 - rng.Int64N(86400*400)
			}
		}
		ts := time.Unix(sec+y2kUnix, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
		got, err := appendTimestamptz(nil, &ts)
		if err != nil {
			t.Fatalf("timestamptz %v: %v", ts, err)
		}
		if want := pgxBinary(t, m, pgtype.TimestamptzOID, ts); !bytes.Equal(got[4:], want) {
			t.Fatalf("timestamptz %v: % x, pgx % x", ts, got[4:], want)
		}
		// Every day of the date range, at any time of day.
		day := time.Unix((minDateDays+rng.Int64N(endDateDays-minDateDays))*86400+y2kUnix+rng.Int64N(86400), 0).In(zones[rng.IntN(len(zones))])
		got, err = appendDate(nil, &day)
		if err != nil {
			t.Fatalf("date %v: %v", day, err)
		}
		if want := pgxBinary(t, m, pgtype.DateOID, day); !bytes.Equal(got[4:], want) {
			t.Fatalf("date %v: % x, pgx % x", day, got[4:], want)
		}
	}
	// The values of the bug report: a Duration from 2000 saturated.
	for _, d := range []time.Time{time.Date(23, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(3023, 5, 1, 12, 0, 0, 0, time.UTC)} {
		got := must(appendTimestamptz(nil, &d))
		if want := pgxBinary(t, m, pgtype.TimestamptzOID, d); !bytes.Equal(got[4:], want) {
			t.Errorf("timestamptz %v: % x, pgx % x", d, got[4:], want)
		}
		var back time.Time
		decodeField(t, must(appendDate(nil, &d)), pgtype.DateOID, &back)
		if y, m, dd := back.Date(); y != d.Year() || m != d.Month() || dd != d.Day() {
			t.Errorf("date %v read back as %v", d, back)
		}
	}
}

// TestTimesPostgreSQLCannotHoldAreNull: a time outside PostgreSQL's range
// is written as NULL with errOutOfRange, and the first and last values
// inside it are written.
func TestTimesPostgreSQLCannotHoldAreNull(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		name   string
		append func([]byte, *time.Time) ([]byte, error)
		t      time.Time
		null   bool
	}{
		{"the first timestamp (4714-11-24 BC)", appendTimestamptz, utc(-4713, 11, 24, 0, 0, 0, 0), false},
		{"the second before it", appendTimestamptz, utc(-4713, 11, 23, 23, 59, 59, 999999999), true},
		{"the last timestamp", appendTimestamptz, utc(294276, 12, 31, 23, 59, 59, 999999999), false},
		{"the first after it", appendTimestamptz, utc(294277, 1, 1, 0, 0, 0, 0), true},
		{"Go's largest year", appendTimestamptz, utc(292277026596, 12, 4, 15, 30, 7, 0), true},
		{"the first date", appendDate, utc(-4713, 11, 24, 23, 0, 0, 0), false},
		{"the day before it", appendDate, utc(-4713, 11, 23, 0, 0, 0, 0), true},
		{"the last date", appendDate, utc(5874897, 12, 31, 0, 0, 0, 0), false},
		{"the day after it", appendDate, utc(5874898, 1, 1, 0, 0, 0, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.append(nil, &tt.t)
			isNull := bytes.Equal(b, appendNull(nil))
			if isNull != tt.null || (err != nil) != tt.null || (err != nil && !errors.Is(err, errOutOfRange)) {
				t.Errorf("% x, %v; want NULL %v", b, err, tt.null)
			}
		})
	}
}
