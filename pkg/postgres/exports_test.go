package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

func TestExportHistoryNewestFirst(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var want []model.Export
	for i, e := range []model.Export{
		{TokenName: "finance", Resource: "users", Filters: map[string]string{"department_id": "3"}, Format: "csv",
			Rows: 120, Bytes: 40960, Outcome: model.ExportCompleted, RequestID: "req-1"},
		{Resource: "assets", Format: "json", Rows: 7, Bytes: 9000, Outcome: model.ExportCut},
		{TokenName: "it", Resource: "user_assets", Filters: map[string]string{"user_id": "5", "include_deleted": "true"},
			Format: "csv", Rows: 0, Bytes: 300, Outcome: model.ExportCompleted},
	} {
		e.StartedAt = start.Add(time.Duration(i) * time.Minute)
		e.FinishedAt = e.StartedAt.Add(1500 * time.Millisecond)
		if err := db.RecordExport(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append([]model.Export{e}, want...)
	}

	var got []model.Export
	cursor := ""
	for range 10 {
		page, next, err := db.ListExports(ctx, model.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if cursor = next; cursor == "" {
			break
		}
	}
	// A filterless export reads back as an empty map, not nil.
	want[1].Filters = map[string]string{}
	if diff := cmp.Diff(want, got, equalTimes, cmpopts.IgnoreFields(model.Export{}, "ID")); diff != "" {
		t.Errorf("ListExports (-want +got):\n%s", diff)
	}
	if got[0].ID <= got[1].ID {
		t.Errorf("ids %d, %d: want newest first", got[0].ID, got[1].ID)
	}
	if _, _, err := db.ListExports(ctx, model.Page{Limit: 2, Cursor: "bogus"}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("bad cursor: %v, want ErrInvalid", err)
	}
	if err := db.RecordExport(ctx, model.Export{Resource: "everything", Format: "csv", Outcome: model.ExportCut}); err == nil {
		t.Errorf("an export of an unknown resource was recorded")
	}
}

func TestExportHistoryBeforeMigrationIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.ListExports(ctx, model.Page{Limit: 5}); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("ListExports on an unmigrated database: %v, want ErrUnavailable", err)
	}
}

// TestBusyPoolFailsFastAndProbesStillAnswer holds every pooled connection,
// as stalled streams do: a read waits no longer than the acquire timeout
// and fails as busy, and Ping, on a connection of its own, still answers.
func TestBusyPoolFailsFastAndProbesStillAnswer(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, err := postgres.Open(ctx, postgres.Config{URL: url, MaxConns: 2, AcquireTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seedUsers(t, db, testUsers(3))
	if db.MaxConns() != 2 {
		t.Fatalf("MaxConns = %d, want 2", db.MaxConns())
	}
	// Two streams whose consumer stalls hold both connections, as streams
	// to clients that stopped reading do.
	stall := make(chan struct{})
	holding := make(chan struct{}, 2)
	streamsDone := make(chan error, 2)
	for range 2 {
		go func() {
			streamsDone <- db.StreamUsers(ctx, model.UserFilter{}, func(*model.User) error {
				select {
				case holding <- struct{}{}:
				default:
				}
				<-stall
				return nil
			})
		}()
	}
	for range 2 {
		select {
		case <-holding:
		case err := <-streamsDone:
			t.Fatalf("a holding stream ended early: %v", err)
		}
	}
	defer func() {
		close(stall)
		for range 2 {
			if err := <-streamsDone; err != nil {
				t.Errorf("stream: %v", err)
			}
		}
	}()
	// The caller's own deadline is far away: only the acquire bound can end the wait.
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := db.GetUser(readCtx, 10); !errors.Is(err, model.ErrBusy) {
		t.Errorf("GetUser with the pool taken: %v, want ErrBusy", err)
	}
	if err := db.StreamUsers(readCtx, model.UserFilter{}, func(*model.User) error { return nil }); !errors.Is(err, model.ErrBusy) {
		t.Errorf("StreamUsers with the pool taken: %v, want ErrBusy", err)
	}
	pingCtx, cancelPing := context.WithTimeout(ctx, 10*time.Second)
	defer cancelPing()
	if err := db.Ping(pingCtx); err != nil {
		t.Errorf("Ping with the pool taken: %v, want nil", err)
	}
}

// TestAPagedExportIsOneRow records the pages of a paged CSV export as
// usersapi does: the first inserts the row, each later page (found by the
// cursor it brings) adds to it, a cut page keeps the cursor so its retry
// continues the same export, and the last page completes it. A cursor
// brought by another token, or with other filters, starts an export of
// its own.
func TestAPagedExportIsOneRow(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	filters := map[string]string{"department_id": "3"}
	page := func(i int, cursor, next string, rows int64, outcome model.ExportOutcome) model.Export {
		return model.Export{StartedAt: t0.Add(time.Duration(i) * time.Minute), FinishedAt: t0.Add(time.Duration(i)*time.Minute + time.Second),
			TokenName: "finance", Resource: "users", Filters: filters, Format: "csv", Rows: rows, Bytes: rows * 100,
			Outcome: outcome, RequestID: fmt.Sprintf("req-%d", i), PageCursor: cursor, NextCursor: next}
	}
	for _, e := range []model.Export{
		page(0, "", "c1", 2, model.ExportPartial),
		page(1, "c1", "c2", 2, model.ExportPartial),
		page(2, "c2", "c3", 1, model.ExportCut), // the client went away during page 3…
		// …and asks for it again. Meanwhile someone else pages the same
		// listing, and this token another one.
		{StartedAt: t0, FinishedAt: t0, TokenName: "it", Resource: "users", Filters: filters, Format: "csv", Rows: 2,
			Outcome: model.ExportPartial, PageCursor: "c2", NextCursor: "c3"},
		{StartedAt: t0, FinishedAt: t0, TokenName: "finance", Resource: "users", Filters: map[string]string{"department_id": "4"},
			Format: "csv", Rows: 2, Outcome: model.ExportPartial, PageCursor: "c2", NextCursor: "c3"},
		page(3, "c2", "", 2, model.ExportCompleted),
	} {
		if err := db.RecordExport(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := db.ListExports(ctx, model.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d rows, want 3: the paged export and the two that only looked like it", len(got))
	}
	want := model.Export{StartedAt: t0, FinishedAt: t0.Add(3*time.Minute + time.Second), TokenName: "finance", Resource: "users",
		Filters: filters, Format: "csv", Rows: 7, Bytes: 700, Outcome: model.ExportCompleted, RequestID: "req-0"}
	if diff := cmp.Diff(want, got[2], equalTimes, cmpopts.IgnoreFields(model.Export{}, "ID")); diff != "" {
		t.Errorf("the paged export (-want +got):\n%s", diff)
	}
	// Completed, the export keeps no cursor: the same cursor again (a
	// client starting over from a saved Link) is an export of its own.
	if err := db.RecordExport(ctx, page(4, "c2", "", 2, model.ExportCompleted)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.ListExports(ctx, model.Page{Limit: 10}); len(got) != 4 || got[0].Rows != 2 {
		t.Errorf("after the export completed, its cursor again: %d rows, newest %+v", len(got), got[0])
	}
}

func TestPruneExportsDeletesOnlyOldRows(t *testing.T) {
	db, url := openDBURL(t)
	ctx := context.Background()
	now := time.Now()
	// 2,500 old rows (more than a batch) and 3 recent ones, straight in.
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO export_history (started_at, finished_at, resource, format, rows_sent, bytes_sent, outcome)
		SELECT $1::timestamptz - make_interval(secs => i), $1, 'users', 'csv', 1, 1, 'completed' FROM generate_series(1, 2500) i
		UNION ALL
		SELECT $2::timestamptz - make_interval(secs => i), $2, 'assets', 'json', 1, 1, 'completed' FROM generate_series(1, 3) i`,
		now.Add(-100*24*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneExports(ctx, now.Add(-90*24*time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("PruneExports = %d, %v; want 2500", n, err)
	}
	left, _, err := db.ListExports(ctx, model.Page{Limit: 10})
	if err != nil || len(left) != 3 || left[0].Resource != "assets" {
		t.Errorf("left %d rows, %v; want the 3 recent ones", len(left), err)
	}
	if n, err := db.PruneExports(ctx, now.Add(-90*24*time.Hour)); n != 0 || err != nil {
		t.Errorf("a second prune = %d, %v; want 0", n, err)
	}
}

// TestMigration00004KeepsThePreviousUsersapiWorking writes export history
// as the usersapi before migration 00004 did, against the migrated
// schema: during a rolling upgrade both run at once.
func TestMigration00004KeepsThePreviousUsersapiWorking(t *testing.T) {
	db, url := openDBURL(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// The previous usersapi's statement, verbatim.
	if _, err := c.Exec(ctx, `INSERT INTO export_history
		(started_at, finished_at, token_name, resource, filters, format, rows_sent, bytes_sent, outcome, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		time.Now(), time.Now(), "finance", "users", map[string]string{}, "csv", 5, 500, "cut", "req-old"); err != nil {
		t.Fatalf("the previous usersapi's insert: %v", err)
	}
	got, _, err := db.ListExports(ctx, model.Page{Limit: 10})
	if err != nil || len(got) != 1 || got[0].Outcome != model.ExportCut {
		t.Fatalf("ListExports = %+v, %v", got, err)
	}
	// A page that continues from a cursor no row holds (the previous
	// usersapi kept none) starts a row of its own.
	if err := db.RecordExport(ctx, model.Export{StartedAt: time.Now(), FinishedAt: time.Now(), TokenName: "finance",
		Resource: "users", Format: "csv", Outcome: model.ExportCompleted, PageCursor: "from-an-old-replica"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.ListExports(ctx, model.Page{Limit: 10}); len(got) != 2 {
		t.Errorf("%d rows, want 2", len(got))
	}
}
