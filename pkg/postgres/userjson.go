package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	segjson "github.com/segmentio/encoding/json"

	"github.com/usersync/usersync/pkg/model"
)

// GetUserJSON returns the user with id, soft-deleted or not (see
// GetUser), as the API sends it: the JSON of api.User and a newline, byte
// for byte what the API's encoder writes for the same row in a listing (a
// test and a fuzz target in pkg/api hold the two equal). The error wraps
// model.ErrNotFound when the mirror never had the user.
//
// It is the API's most frequent request, so it takes the cheapest path
// measured for both sides of the connection: PostgreSQL sends the columns
// in its binary format (its least work: rendering the API's JSON there,
// with the projection and the timestamp formatting that takes, cost it a
// quarter more CPU per request than row_to_json of the bare row, and a
// third more than sending columns), and the JSON is written straight from
// those bytes, without pgx decoding fifty values into a model.User that
// is then converted and encoded again.
func (db *DB) GetUserJSON(ctx context.Context, id int64) ([]byte, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	defer db.release(c)
	rows, err := c.Query(ctx, userJSONQuery, id)
	if err != nil {
		return nil, classify(fmt.Errorf("get user %d: %w", id, err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, classify(fmt.Errorf("get user %d: %w", id, err))
		}
		return nil, fmt.Errorf("user %d: %w", id, model.ErrNotFound)
	}
	// Text is the same in both formats, and pgx asks for it as text.
	for _, f := range rows.FieldDescriptions() {
		if f.Format != pgx.BinaryFormatCode && f.DataTypeOID != pgtype.TextOID {
			return nil, fmt.Errorf("get user %d: column %s came in text format", id, f.Name)
		}
	}
	body, err := appendUserJSON(make([]byte, 0, 2048), rows.RawValues())
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("get user %d: %w", id, err))
	}
	return body, nil
}

// userJSONField is one field of the API's user (api.User, in its order):
// the column it comes from and how its binary value is written as JSON.
type userJSONField struct {
	name   string
	column string
	write  func(b, v []byte) ([]byte, error)
}

// userJSONFields are api.User's fields in order, as docs/usersapi.md
// lists them: county carries country (the original service's name),
// license_count licenses_count; optional text is null when empty.
var userJSONFields = []userJSONField{
	{"id", "id", jsonInt8},
	{"first_name", "first_name", jsonText},
	{"last_name", "last_name", jsonText},
	{"username", "username", jsonText},
	{"email", "email", jsonOptText},
	{"county", "country", jsonOptText},
	{"department_id", "department_id", jsonInt8},
	{"location_id", "location_id", jsonInt8},
	{"assets_count", "assets_count", jsonInt4},
	{"license_count", "licenses_count", jsonInt4},
	{"name", "name", jsonText},
	{"display_name", "display_name", jsonOptText},
	{"employee_num", "employee_num", jsonOptText},
	{"jobtitle", "jobtitle", jsonOptText},
	{"phone", "phone", jsonOptText},
	{"mobile", "mobile", jsonOptText},
	{"website", "website", jsonOptText},
	{"address", "address", jsonOptText},
	{"city", "city", jsonOptText},
	{"state", "state", jsonOptText},
	{"country", "country", jsonOptText},
	{"zip", "zip", jsonOptText},
	{"locale", "locale", jsonOptText},
	{"notes", "notes", jsonOptText},
	{"department_name", "department_name", jsonOptText},
	{"location_name", "location_name", jsonOptText},
	{"manager_id", "manager_id", jsonInt8},
	{"manager_name", "manager_name", jsonOptText},
	{"company_id", "company_id", jsonInt8},
	{"company_name", "company_name", jsonOptText},
	{"company_ids", "company_ids", jsonInt8Array},
	{"groups", "groups", jsonTextArray},
	{"role", "role", jsonOptText},
	{"activated", "activated", jsonBool},
	{"remote", "remote", jsonBool},
	{"vip", "vip", jsonBool},
	{"ldap_import", "ldap_import", jsonBool},
	{"two_factor_enrolled", "two_factor_enrolled", jsonBool},
	{"two_factor_optin", "two_factor_optin", jsonBool},
	{"autoassign_licenses", "autoassign_licenses", jsonBool},
	{"licenses_count", "licenses_count", jsonInt4},
	{"accessories_count", "accessories_count", jsonInt4},
	{"consumables_count", "consumables_count", jsonInt4},
	{"manages_users_count", "manages_users_count", jsonInt4},
	{"manages_locations_count", "manages_locations_count", jsonInt4},
	{"start_date", "start_date", jsonDate},
	{"end_date", "end_date", jsonDate},
	{"last_login", "last_login", jsonTimestamp},
	{"snipeit_created_at", "snipeit_created_at", jsonTimestamp},
	{"snipeit_updated_at", "snipeit_updated_at", jsonTimestamp},
	{"deleted_at", "deleted_at", jsonTimestamp},
}

var userJSONQuery = func() string {
	cols := make([]string, len(userJSONFields))
	for i, f := range userJSONFields {
		cols[i] = f.column
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM users WHERE id = $1"
}()

// appendUserJSON writes a row of userJSONQuery as api.User's JSON and a
// newline. A NULL is null whatever the column.
func appendUserJSON(b []byte, values [][]byte) ([]byte, error) {
	if len(values) != len(userJSONFields) {
		return nil, fmt.Errorf("%d columns, want %d", len(values), len(userJSONFields))
	}
	var err error
	for i, f := range userJSONFields {
		if i == 0 {
			b = append(b, `{"`...)
		} else {
			b = append(b, `,"`...)
		}
		b = append(append(b, f.name...), `":`...)
		if values[i] == nil {
			b = append(b, "null"...)
			continue
		}
		if b, err = f.write(b, values[i]); err != nil {
			return nil, fmt.Errorf("column %s: %w", f.column, err)
		}
	}
	return append(b, "}\n"...), nil
}

// The writers of PostgreSQL's binary values (the formats of its send
// functions) as JSON, formatted as the API's encoder (segmentio/encoding's,
// as encoding/json) formats the Go values pgx would decode them into.

var errBinaryValue = errors.New("malformed binary value")

func jsonInt8(b, v []byte) ([]byte, error) {
	if len(v) != 8 {
		return nil, errBinaryValue
	}
	return strconv.AppendInt(b, int64(binary.BigEndian.Uint64(v)), 10), nil
}

func jsonInt4(b, v []byte) ([]byte, error) {
	if len(v) != 4 {
		return nil, errBinaryValue
	}
	return strconv.AppendInt(b, int64(int32(binary.BigEndian.Uint32(v))), 10), nil
}

func jsonBool(b, v []byte) ([]byte, error) {
	if len(v) != 1 {
		return nil, errBinaryValue
	}
	return strconv.AppendBool(b, v[0] != 0), nil
}

// jsonText writes text as a JSON string. The value is only read during the
// call, so it is viewed as a string in place rather than copied.
func jsonText(b, v []byte) ([]byte, error) {
	return segjson.AppendEscape(b, unsafe.String(unsafe.SliceData(v), len(v)), 0), nil
}

// jsonOptText is optional text: the API writes "" as null.
func jsonOptText(b, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return append(b, "null"...), nil
	}
	return jsonText(b, v)
}

// postgresEpoch is where PostgreSQL counts timestamps from,
// 2000-01-01 00:00 UTC, in Unix seconds.
const postgresEpoch = 946684800

// Infinite dates and timestamps, which no Go time holds (pgx refuses to
// scan them into one).
const (
	infiniteDate = 1<<31 - 1
	infiniteTime = 1<<63 - 1
)

// jsonDate writes a date as YYYY-MM-DD, as api.User's dates are written.
func jsonDate(b, v []byte) ([]byte, error) {
	if len(v) != 4 {
		return nil, errBinaryValue
	}
	days := int32(binary.BigEndian.Uint32(v))
	if days == infiniteDate || days == -infiniteDate-1 {
		return nil, errors.New("an infinite date")
	}
	t := time.Date(2000, 1, int(1+days), 0, 0, 0, 0, time.UTC) // as pgx decodes it
	b = append(b, '"')
	b = t.AppendFormat(b, time.DateOnly)
	return append(b, '"'), nil
}

// jsonTimestamp writes a timestamptz as RFC 3339 in UTC, as a time.Time
// in UTC is written.
func jsonTimestamp(b, v []byte) ([]byte, error) {
	if len(v) != 8 {
		return nil, errBinaryValue
	}
	micros := int64(binary.BigEndian.Uint64(v))
	if micros == infiniteTime || micros == -infiniteTime-1 {
		return nil, errors.New("an infinite timestamp")
	}
	t := time.Unix(postgresEpoch+micros/1e6, micros%1e6*1e3).UTC() // as pgx decodes it
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// jsonInt8Array writes a one-dimensional bigint[] as a JSON array.
func jsonInt8Array(b, v []byte) ([]byte, error) {
	return jsonArray(b, v, jsonInt8)
}

// jsonTextArray writes a one-dimensional text[] as a JSON array.
func jsonTextArray(b, v []byte) ([]byte, error) {
	return jsonArray(b, v, jsonText)
}

// jsonArray writes a one-dimensional array in PostgreSQL's binary format
// (dimensions, a null flag, the element type, each dimension's length and
// lower bound, then each element's length, -1 for NULL, and bytes) as a
// JSON array. An empty array has no dimensions.
func jsonArray(b, v []byte, elem func(b, v []byte) ([]byte, error)) ([]byte, error) {
	if len(v) < 12 {
		return nil, errBinaryValue
	}
	dims := binary.BigEndian.Uint32(v)
	if dims == 0 {
		return append(b, "[]"...), nil
	}
	if dims != 1 || len(v) < 20 {
		return nil, errors.New("not a one-dimensional array")
	}
	n := int(int32(binary.BigEndian.Uint32(v[12:])))
	v = v[20:]
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		if len(v) < 4 {
			return nil, errBinaryValue
		}
		size := int(int32(binary.BigEndian.Uint32(v)))
		v = v[4:]
		if size < 0 {
			b = append(b, "null"...)
			continue
		}
		if len(v) < size {
			return nil, errBinaryValue
		}
		var err error
		if b, err = elem(b, v[:size]); err != nil {
			return nil, err
		}
		v = v[size:]
	}
	return append(b, ']'), nil
}
