package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
