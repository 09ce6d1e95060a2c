package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// TestExtremeDatesRoundTrip writes users whose dates span PostgreSQL's
// whole range through the mirror (binary COPY, merge) and reads them back:
// each comes back as written, PostgreSQL shows the years typed, and a date
// it cannot hold is stored as NULL with one warning per column, the run
// succeeding.
func TestExtremeDatesRoundTrip(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	day := func(y int, m time.Month, d int) *time.Time { return ptr(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) }
	at := func(y int, m time.Month, d, h, mi, s, us int) *time.Time {
		return ptr(time.Date(y, m, d, h, mi, s, us*1000, time.UTC))
	}
	user := func(id int64, start, end *time.Time, login, created *time.Time) model.User {
		return model.User{ID: id, Username: "u", FirstName: "F", LastName: "L", Name: "F L",
			StartDate: start, EndDate: end, LastLogin: login, CreatedAt: created}
	}
	users := []model.User{
		// The bug report's typos: 1707-09-23 and 2292-04-10 came out.
		user(1, day(23, 5, 1), day(3023, 5, 1), at(23, 5, 1, 8, 0, 0, 0), at(3023, 5, 1, 17, 30, 0, 123456)),
		// PostgreSQL's first day and first and last instants.
		user(2, day(-4713, 11, 24), day(5874897, 12, 31), at(-4713, 11, 24, 0, 0, 0, 0), at(294276, 12, 31, 23, 59, 59, 999999)),
		// Around the old encoder's limits, and before 1970 with microseconds.
		user(3, day(1707, 9, 22), day(2292, 4, 11), at(1707, 9, 22, 23, 59, 59, 999999), at(1969, 12, 31, 23, 59, 59, 1)),
		user(4, day(9999, 12, 31), day(1, 1, 1), at(1, 1, 1, 0, 0, 0, 0), at(2262, 4, 12, 0, 0, 0, 0)),
	}
	// Dates PostgreSQL cannot hold: NULL, one warning per column.
	beyond := user(5, day(5874898, 1, 1), nil, at(294277, 1, 1, 0, 0, 0, 0), nil)
	beyondToo := user(6, day(-4713, 11, 23), nil, at(-4713, 11, 23, 23, 59, 59, 0), nil)
	counts, err := db.MirrorUsers(ctx, seq(append(users, beyond, beyondToo)), model.DeleteGuard{})
	if err != nil {
		t.Fatalf("a date PostgreSQL cannot hold failed the run: %v", err)
	}
	if counts.Inserted != 6 {
		t.Fatalf("inserted %d, want 6", counts.Inserted)
	}
	want := append(users, user(5, nil, nil, nil, nil), user(6, nil, nil, nil, nil))
	for _, w := range want {
		got, err := db.GetUser(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, *got, cmp.Transformer("UTC", func(t time.Time) time.Time { return t.UTC() })); diff != "" {
			t.Errorf("user %d (-written +read back):\n%s", w.ID, diff)
		}
	}
	// PostgreSQL's own reading, not pgx's.
	var start, end, created string
	if err := db.Pool().QueryRow(ctx, `SELECT start_date::text, end_date::text, (snipeit_created_at AT TIME ZONE 'UTC')::text
		FROM users WHERE id = 1`).Scan(&start, &end, &created); err != nil {
		t.Fatal(err)
	}
	if start != "0023-05-01" || end != "3023-05-01" || created != "3023-05-01 17:30:00.123456" {
		t.Errorf("PostgreSQL holds %s, %s, %s; want 0023-05-01, 3023-05-01, 3023-05-01 17:30:00.123456", start, end, created)
	}
	var warnings []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "cannot hold") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0]+warnings[1], `"column":"start_date"`) ||
		!strings.Contains(warnings[0]+warnings[1], `"column":"last_login"`) || !strings.Contains(warnings[0], `"id":5`) {
		t.Errorf("warnings = %q; want one for start_date and one for last_login, naming user 5", warnings)
	}
}
