package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// userJSONFields are the fields of the API's user (api.User, documented in
// docs/usersapi.md) in its order, each with the SQL that yields its value
// from a users row: optional text is null when empty, county carries
// country (the original service's name), license_count licenses_count,
// timestamps are RFC 3339 in UTC ("…Z", as Go writes them), dates
// YYYY-MM-DD.
var userJSONFields = [][2]string{
	{"id", "id"},
	{"first_name", "first_name"},
	{"last_name", "last_name"},
	{"username", "username"},
	{"email", optTextJSON("email")},
	{"county", optTextJSON("country")},
	{"department_id", "department_id"},
	{"location_id", "location_id"},
	{"assets_count", "assets_count"},
	{"license_count", "licenses_count"},
	{"name", "name"},
	{"display_name", optTextJSON("display_name")},
	{"employee_num", optTextJSON("employee_num")},
	{"jobtitle", optTextJSON("jobtitle")},
	{"phone", optTextJSON("phone")},
	{"mobile", optTextJSON("mobile")},
	{"website", optTextJSON("website")},
	{"address", optTextJSON("address")},
	{"city", optTextJSON("city")},
	{"state", optTextJSON("state")},
	{"country", optTextJSON("country")},
	{"zip", optTextJSON("zip")},
	{"locale", optTextJSON("locale")},
	{"notes", optTextJSON("notes")},
	{"department_name", optTextJSON("department_name")},
	{"location_name", optTextJSON("location_name")},
	{"manager_id", "manager_id"},
	{"manager_name", optTextJSON("manager_name")},
	{"company_id", "company_id"},
	{"company_name", optTextJSON("company_name")},
	{"company_ids", "company_ids"},
	{"groups", "groups"},
	{"role", optTextJSON("role")},
	{"activated", "activated"},
	{"remote", "remote"},
	{"vip", "vip"},
	{"ldap_import", "ldap_import"},
	{"two_factor_enrolled", "two_factor_enrolled"},
	{"two_factor_optin", "two_factor_optin"},
	{"autoassign_licenses", "autoassign_licenses"},
	{"licenses_count", "licenses_count"},
	{"accessories_count", "accessories_count"},
	{"consumables_count", "consumables_count"},
	{"manages_users_count", "manages_users_count"},
	{"manages_locations_count", "manages_locations_count"},
	{"start_date", "start_date"},
	{"end_date", "end_date"},
	{"last_login", timestampJSON("last_login")},
	{"snipeit_created_at", timestampJSON("snipeit_created_at")},
	{"snipeit_updated_at", timestampJSON("snipeit_updated_at")},
	{"deleted_at", timestampJSON("deleted_at")},
}

// optTextJSON is optional text: null when NULL or empty.
func optTextJSON(col string) string { return "NULLIF(" + col + ", '')" }

// timestampJSON writes a timestamptz as Go's RFC 3339 of the instant in
// UTC: PostgreSQL's JSON of a timestamp without zone, trailing zeros of
// the fraction dropped as Go drops them, and a Z.
func timestampJSON(col string) string {
	return "to_json(" + col + " AT TIME ZONE 'UTC') #>> '{}' || 'Z'"
}

// userJSONQuery renders one user: row_to_json writes the fields in order,
// escaping text as Go's encoder does but for U+2028 and U+2029 (see
// GetUserJSON).
var userJSONQuery = func() string {
	exprs := make([]string, len(userJSONFields))
	for i, f := range userJSONFields {
		exprs[i] = f[1] + " AS " + pgx.Identifier{f[0]}.Sanitize()
	}
	return "SELECT row_to_json(u) FROM (SELECT " + strings.Join(exprs, ", ") + " FROM users WHERE id = $1) u"
}()

// The line and paragraph separators, and their JSON escapes: Go's encoder
// escapes them (JavaScript once took them for line ends), PostgreSQL does
// not.
var (
	lineSeparator             = []byte("\u2028")
	paragraphSeparator        = []byte("\u2029")
	escapedLineSeparator      = []byte(`\u2028`)
	escapedParagraphSeparator = []byte(`\u2029`)
)

// GetUserJSON returns the user with id, soft-deleted or not (see
// GetUser), as the API sends it: the JSON of api.User and a newline, byte
// for byte what Go's Encoder writes for it (a test in pkg/api holds the
// two equal), but rendered by PostgreSQL. The API's most frequent request
// then costs one column of text instead of fifty decoded, converted and
// encoded again. The error wraps model.ErrNotFound when the mirror never
// had the user.
func (db *DB) GetUserJSON(ctx context.Context, id int64) ([]byte, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	defer db.release(c)
	var body []byte
	err = c.QueryRow(ctx, userJSONQuery, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("user %d: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("get user %d: %w", id, err))
	}
	// Escaped here, not by replace() in the query, and the newline added
	// here too: in PostgreSQL those passes over every body were a sixth of
	// its CPU per request, for characters no name holds in practice.
	if bytes.Contains(body, lineSeparator) || bytes.Contains(body, paragraphSeparator) {
		body = bytes.ReplaceAll(body, lineSeparator, escapedLineSeparator)
		body = bytes.ReplaceAll(body, paragraphSeparator, escapedParagraphSeparator)
	}
	return append(body, '\n'), nil
}
