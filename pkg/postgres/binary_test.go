package postgres

import (
	"encoding/binary"
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
		decodeField(t, appendTimestamptz(nil, &ts), pgtype.TimestamptzOID, &got)
		if !got.Equal(ts) {
			t.Errorf("got %v, want %v", got, ts)
		}
		old := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
		decodeField(t, appendTimestamptz(nil, &old), pgtype.TimestamptzOID, &got)
		if !got.Equal(old) {
			t.Errorf("before 2000: got %v, want %v", got, old)
		}
	})
	t.Run("date", func(t *testing.T) {
		for _, d := range []time.Time{day, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2031, 7, 4, 0, 0, 0, 0, time.UTC)} {
			var got time.Time
			decodeField(t, appendDate(nil, &d), pgtype.DateOID, &got)
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
