package snipeit_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
	"github.com/usersync/usersync/pkg/syncer"
)

// mirrorFixture is a simulator, a client paging it 20 rows at a time and a
// migrated database, synced once.
type mirrorFixture struct {
	t   *testing.T
	sim *snipeittest.Server
	db  *postgres.DB
	src *snipeit.Client
	// maxDelete is the mass-delete guard's fraction (0: the default).
	maxDelete float64
}

func newMirrorFixture(t *testing.T, users int) *mirrorFixture {
	t.Helper()
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: users, Seed: 21})})
	f := &mirrorFixture{t: t, sim: sim, db: pgtest.MigratedDB(t),
		src: newClient(t, sim, func(c *snipeit.Config) { c.PageSize, c.MaxAttempts = 20, 2 })}
	if _, err := f.sync(); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	return f
}

// sync runs one users sync against the real store.
func (f *mirrorFixture) sync() (syncer.ScopeResult, error) {
	f.t.Helper()
	s, err := syncer.New(syncer.Config{Source: f.src, Store: f.db, Logger: slog.New(slog.DiscardHandler),
		MaxDeleteFraction: f.maxDelete})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.Run(ctx, []model.Scope{model.ScopeUsers})
	return res[0], err
}

// versions maps every mirrored user, deleted ones included, to its xmin:
// a row written in any way gets a new one.
func (f *mirrorFixture) versions() map[int64]string {
	f.t.Helper()
	return pgtest.RowVersions(f.t, f.db, "users")
}

func (f *mirrorFixture) mirror() map[int64]model.User {
	f.t.Helper()
	m := map[int64]model.User{}
	err := f.db.StreamUsers(context.Background(), model.UserFilter{}, func(u *model.User) error { m[u.ID] = *u; return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

var inUTC = cmp.Transformer("UTC", func(t time.Time) time.Time { return t.UTC() })

// TestPagerSafetyExits serves pages that break the walk's assumptions. A
// run must then either mirror Snipe-IT exactly or fail with nothing
// written and a failed sync_runs row.
func TestPagerSafetyExits(t *testing.T) {
	tests := []struct {
		name    string
		faults  []snipeittest.Fault
		wantErr string // "" when the run must succeed
		// maxDelete lifts the mass-delete guard where the churn deletes
		// more than a tenth of the users during the run.
		maxDelete float64
	}{
		{name: "rows out of order on the first page",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultUnsorted, Query: map[string]string{"offset": "0"}}},
			wantErr: "not in ascending id order"},
		{name: "rows out of order mid-list",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultUnsorted, MinOffset: 100}},
			wantErr: "not in ascending id order"},
		{name: "pages past the first come back empty: re-anchoring stalls",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultBlankPage, MinOffset: 1, Persistent: true}},
			wantErr: "keeps shifting"},
		{name: "one-row pages from the start",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultShortPage, Rows: 1, Persistent: true}},
			wantErr: "one row per page"},
		{name: "one-row pages from mid-list on",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultShortPage, Rows: 1, MinOffset: 100, Persistent: true}},
			wantErr: "one row per page"},
		{name: "a shorter page mid-list",
			faults: []snipeittest.Fault{{Kind: snipeittest.FaultShortPage, Rows: 7, MinOffset: 100}}},
		{name: "the list grows faster than it can be read",
			faults:  []snipeittest.Fault{{Kind: snipeittest.FaultChurn, Rows: 50, MinOffset: 1, Persistent: true}},
			wantErr: "did not converge"},
		{name: "rows deleted, added and updated before every page",
			faults:    []snipeittest.Fault{{Kind: snipeittest.FaultChurn, Rows: 1, MinOffset: 1, Persistent: true}},
			maxDelete: 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMirrorFixture(t, 300)
			f.maxDelete = tt.maxDelete
			before, live := f.versions(), f.sim.Users()
			// A change a successful run would write.
			must(t, f.sim.UpdateUser(live[5].ID, func(u *snipeittest.User) { u.City = "Elsewhere" }))
			for _, fault := range tt.faults {
				fault.Path = "/api/v1/users"
				f.sim.Inject(fault)
			}
			res, err := f.sync()
			f.sim.ClearFaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || res.Status != model.RunFailed {
					t.Fatalf("run: %s, %v; want failed with %q", res.Status, err, tt.wantErr)
				}
				if diff := cmp.Diff(before, f.versions()); diff != "" {
					t.Fatalf("a failed run wrote rows (-before +after):\n%s", diff)
				}
				var status string
				must(t, f.db.Pool().QueryRow(context.Background(), "SELECT status FROM sync_runs ORDER BY id DESC LIMIT 1").Scan(&status))
				if status != "failed" {
					t.Errorf("last sync_runs row is %q, want failed", status)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			checkMirror(t, f, live)
		})
	}
}

// checkMirror compares the mirror with the simulator: exactly when nothing
// changed during the run, else every user live before and after it must
// be there (unchanged ones exactly as Snipe-IT has them) and nothing that
// Snipe-IT does not list live may be.
func checkMirror(t *testing.T, f *mirrorFixture, liveBefore []model.User) {
	t.Helper()
	got := f.mirror()
	now := map[int64]model.User{}
	for _, u := range f.sim.Users() {
		now[u.ID] = u
	}
	for _, u := range liveBefore {
		cur, ok := now[u.ID]
		if !ok {
			continue // deleted during the run: either state is right
		}
		m, ok := got[u.ID]
		if !ok {
			t.Errorf("user %d was live throughout but is not in the mirror", u.ID)
			continue
		}
		if cur.UpdatedAt.Equal(*u.UpdatedAt) || u.ID == liveBefore[5].ID {
			if diff := cmp.Diff(cur, m, inUTC); diff != "" {
				t.Errorf("user %d (-snipe-it +mirror):\n%s", u.ID, diff)
			}
		}
	}
	for id := range got {
		if _, ok := now[id]; !ok && !containsID(liveBefore, id) {
			t.Errorf("user %d is in the mirror but was never live upstream", id)
		}
	}
	if t.Failed() {
		return
	}
	// Once Snipe-IT is quiet, a run mirrors it exactly.
	if _, err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.sim.Users(), sortedUsers(f.mirror()), inUTC); diff != "" {
		t.Errorf("after a quiet run (-snipe-it +mirror):\n%s", diff)
	}
}

func containsID(us []model.User, id int64) bool {
	for _, u := range us {
		if u.ID == id {
			return true
		}
	}
	return false
}

func sortedUsers(m map[int64]model.User) []model.User {
	out := make([]model.User, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	return byID(out, func(u *model.User) int64 { return u.ID })
}
