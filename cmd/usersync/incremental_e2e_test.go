package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// state reads a scope's incremental state.
func (f *fixture) state(scope model.Scope) (model.SyncState, bool) {
	f.t.Helper()
	st, ok, err := f.db.State(context.Background(), scope)
	if err != nil {
		f.t.Fatal(err)
	}
	return st, ok
}

// incrementalFixture is a mirror that one full run filled, with the
// simulator's clock to change it by.
func incrementalFixture(t *testing.T) (*fixture, *snipeittest.Clock) {
	t.Helper()
	clock := snipeittest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	f := newFixture(t, 400, 300, snipeittest.Config{Now: clock.Now})
	r := f.mustRun("--full", "--incremental")
	if strings.Count(r.stdout, "read in full: no_watermark") != 2 {
		t.Fatalf("the first incremental run is not a full one for want of a watermark:\n%s", r.stdout)
	}
	clock.Advance(time.Minute)
	return f, clock
}

func TestIncrementalRunReadsChangesOnly(t *testing.T) {
	f, clock := incrementalFixture(t)
	users, assets := f.sim.Users(), f.sim.Assets()

	f.sim.ResetStats()
	writes := f.rowWrites()
	r := f.mustRun("--full", "--incremental")
	if got := f.rowWrites() - writes; got != 0 {
		t.Errorf("an incremental run with no upstream change wrote %d row versions, want 0", got)
	}
	if n := f.sim.Stats().Requests; n > 10 {
		t.Errorf("an incremental run made %d Snipe-IT requests, want at most 10", n)
	}
	if !strings.Contains(r.stdout, "0 inserted, 0 updated, 0 deleted") || !strings.Contains(r.stdout, ", incremental") {
		t.Errorf("summary:\n%s", r.stdout)
	}

	clock.Advance(time.Minute)
	must(t, f.sim.UpdateUser(users[3].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0123" }))
	must(t, f.sim.CheckoutLicenseSeat(1, users[4].ID))
	must(t, f.sim.RenameDepartment(3, "Research"))
	must(t, f.sim.DeleteAsset(assets[7].ID))
	clock.Advance(time.Minute)
	r = f.mustRun("--full", "--incremental")
	// The rows changed in the look-back window are read again; a rename
	// updates every user of the department.
	for _, want := range []string{"0 inserted", "1 deleted", ", incremental"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	f.assertMirrorsSimulator()
	runs := f.runs()
	if last := runs[len(runs)-1]; last.Status != "succeeded" {
		t.Errorf("last run %+v", last)
	}
	var modes []string
	rows, err := f.db.Pool().Query(context.Background(), "SELECT mode || ':' || coalesce(fallback_reason, '') FROM sync_runs ORDER BY id")
	must(t, err)
	for rows.Next() {
		var m string
		must(t, rows.Scan(&m))
		modes = append(modes, m)
	}
	rows.Close()
	want := []string{"full:no_watermark", "full:no_watermark", "incremental:", "incremental:", "incremental:", "incremental:"}
	if diff := cmp.Diff(want, sortedPairs(modes)); diff != "" {
		t.Errorf("sync_runs modes (-want +got):\n%s", diff)
	}
}

// sortedPairs sorts each scope pair of runs (the scopes of an incremental
// run finish in either order).
func sortedPairs(s []string) []string {
	out := append([]string(nil), s...)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] > out[i+1] {
			out[i], out[i+1] = out[i+1], out[i]
		}
	}
	return out
}

// TestIncrementalDryRunShowsChangesAndMovesNothing: an incremental dry run
// lists what the real one would write — the rows that changed and the ones
// a rename changes — and leaves the mirror and the watermark.
func TestIncrementalDryRunShowsChangesAndMovesNothing(t *testing.T) {
	f, clock := incrementalFixture(t)
	users := f.sim.Users()
	before, mark := f.versions(), func() model.SyncState { st, _ := f.state(model.ScopeUsers); return st }()
	must(t, f.sim.UpdateUser(users[3].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0123" }))
	must(t, f.sim.RenameLocation(5, "HQ – Floor 3"))
	clock.Advance(time.Minute)
	r := f.mustRun("--full", "--incremental", "--dry-run", "--max-changes", "0")
	if !strings.Contains(r.stdout, "~ users "+strconv.FormatInt(users[3].ID, 10)+" "+users[3].Username+": phone") ||
		!strings.Contains(r.stdout, ": location_name") || !strings.Contains(r.stdout, "users: dry run, nothing written") ||
		!strings.Contains(r.stdout, ", incremental") {
		t.Errorf("dry-run report:\n%s", r.stdout)
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("an incremental dry run wrote rows:\n%s", diff)
	}
	if st, _ := f.state(model.ScopeUsers); !st.Watermark.Equal(mark.Watermark) || *st.ActivityID != *mark.ActivityID {
		t.Errorf("an incremental dry run moved the state from %+v to %+v", mark, st)
	}
}

// TestIncrementalSIGTERMLeavesMirrorAndWatermark stops an incremental run
// while it pages: the mirror and the scopes' states are as the last run
// left them, and the next run applies what the stopped one did not.
func TestIncrementalSIGTERMLeavesMirrorAndWatermark(t *testing.T) {
	bin := binarytest.Build(t, ".")
	f, clock := incrementalFixture(t)
	users := f.sim.Users()
	before := f.versions()
	usersBefore, _ := f.state(model.ScopeUsers)
	assetsBefore, _ := f.state(model.ScopeAssets)
	must(t, f.sim.UpdateUser(users[3].ID, func(u *snipeittest.User) { u.Phone = "+1-555-0123" }))
	clock.Advance(time.Minute)

	// The users listing is staged by the time the archived assets are read.
	reached := make(chan struct{})
	held := make(chan struct{})
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Path == "/api/v1/hardware" && r.Query.Get("status") == "Archived" {
			select {
			case <-reached:
			default:
				close(reached)
			}
			<-held
		}
	})
	t.Cleanup(func() { close(held) })
	if code, stdout, stderr := f.terminateWhenReached(bin, reached, "--full", "--incremental"); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if diff := cmp.Diff(before, f.versions()); diff != "" {
		t.Errorf("a stopped incremental run wrote rows (-before +after):\n%s", diff)
	}
	usersAfter, _ := f.state(model.ScopeUsers)
	assetsAfter, _ := f.state(model.ScopeAssets)
	if diff := cmp.Diff([]model.SyncState{usersBefore, assetsBefore}, []model.SyncState{usersAfter, assetsAfter}); diff != "" {
		t.Errorf("a stopped incremental run moved the state (-before +after):\n%s", diff)
	}
	f.sim.OnRequest(nil)
	r := f.mustRun("--full", "--incremental")
	if !strings.Contains(r.stdout, ", incremental") {
		t.Errorf("the run after the stopped one:\n%s", r.stdout)
	}
	f.assertMirrorsSimulator()
}

// TestConcurrentIncrementalRunSkips: one writer, incremental or not.
func TestConcurrentIncrementalRunSkips(t *testing.T) {
	f, _ := incrementalFixture(t)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.sim.OnRequest(func(r snipeittest.RequestInfo) {
		if r.Path == "/api/v1/users" {
			once.Do(func() {
				close(held)
				<-release
			})
		}
	})
	first := make(chan result)
	go func() { first <- f.run("--full", "--incremental") }()
	<-held
	second := f.run("--full", "--incremental")
	close(release)
	if second.code != 0 || !strings.Contains(second.stdout, "users: skipped") || !strings.Contains(second.stdout, "assets: skipped") {
		t.Errorf("second run: exit %d, stdout %q; want 0 and both scopes skipped", second.code, second.stdout)
	}
	if r := <-first; r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
}
