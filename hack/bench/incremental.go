package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// pacedRequest is the interval at which usersync sends requests at
// Snipe-IT's default 120 a minute (the client paces 1 % under the limit).
var pacedRequest = time.Minute * 100 / (120 * 99)

// incrementalRuns measures issue 15's targets on o.incrUsers users and
// o.incrAssets assets: a full run (`usersync --full`, the scheduled one),
// then 20 upstream changes, then `usersync --full --incremental` at the
// default rate limit. It reports the incremental run's Snipe-IT requests
// (target ≤ 10), its time as a share of the full run's at 120 requests a
// minute (target ≤ 5 %), and the row versions it wrote beyond the rows it
// changed (target 0), plus those of an incremental run with no change.
//
// The full run is measured without a rate limit; its time at 120 a minute
// is derived from its request count (one request every 0.505 s after the
// first), since measuring it would take minutes. The simulator runs in
// this process, so requests are counted where they are served.
func incrementalRuns(ctx context.Context, o options, p func(string, ...any)) error {
	sim, err := snipeittest.New(snipeittest.Config{Token: token,
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: o.incrUsers, Assets: o.incrAssets, Seed: 1})})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer sim.Close()
	simURL := "http://" + ln.Addr().String()
	dbURL, drop, err := pgtest.Recreate(ctx, o.serverURL, "usersync_bench_incremental")
	if err != nil {
		return err
	}
	defer drop()

	type run struct {
		wall     time.Duration
		requests int
		written  int64 // row versions of users and assets
		changed  int64 // rows the run inserted, updated or deleted
		summary  string
	}
	do := func(args ...string) (run, error) {
		before, err := rowWrites(ctx, dbURL)
		if err != nil {
			return run{}, err
		}
		requests := sim.Stats().Requests
		m, err := runSync(ctx, o.usersync, simURL, dbURL, "", args...)
		if err != nil {
			return run{}, err
		}
		// The simulator counts a request once its response is sent: the
		// last ones may be counted after the process has exited.
		served := settled(func() int { return sim.Stats().Requests })
		after, err := rowWrites(ctx, dbURL)
		if err != nil {
			return run{}, err
		}
		r := run{wall: m.wall, requests: served - requests, written: after - before}
		r.changed, r.summary, err = lastRuns(ctx, dbURL)
		return r, err
	}

	full, err := do("--full")
	if err != nil {
		return fmt.Errorf("full run: %w", err)
	}
	quiet, err := do("--full", "--incremental")
	if err != nil {
		return fmt.Errorf("incremental run without changes: %w", err)
	}
	changes, err := dayOfChanges(sim)
	if err != nil {
		return err
	}
	incr, err := do("--full", "--incremental", "--rate-limit", "120")
	if err != nil {
		return fmt.Errorf("incremental run: %w", err)
	}
	fullPaced := max(full.wall, time.Duration(full.requests-1)*pacedRequest)

	p("### Incremental runs: %d users + %d assets\n\n", o.incrUsers, o.incrAssets)
	p("The simulator in this process (Snipe-IT 8.6), page size 500. The full run (`usersync --full`, as scheduled) is measured "+
		"without a rate limit; its time at Snipe-IT's default 120 requests a minute is derived from its request count "+
		"((requests − 1) × 0.505 s, the client's pacing). The incremental run (`usersync --full --incremental --rate-limit 120`) "+
		"is measured at that rate, after %d upstream changes: %s.\n\n", len(changes), strings.Join(changes, "; "))
	p("| run | Snipe-IT requests | wall | at 120 requests/min | row versions written | rows changed |\n|---|---|---|---|---|---|\n")
	p("| `usersync --full` | %d | %s | %s (derived) | %d | %d |\n", full.requests, full.wall.Round(time.Millisecond),
		fullPaced.Round(100*time.Millisecond), full.written, full.changed)
	p("| `usersync --full --incremental`, no change upstream | %d | %s | | %d | %d |\n", quiet.requests,
		quiet.wall.Round(time.Millisecond), quiet.written, quiet.changed)
	p("| `usersync --full --incremental`, %d changes | %d | | %s (measured) | %d | %d |\n\n", len(changes), incr.requests,
		incr.wall.Round(time.Millisecond), incr.written, incr.changed)
	p("Targets: ≤ 10 requests: **%d**; ≤ 5 %% of the full run's time at 120/min: **%.1f %%** (%s of %s); "+
		"row versions for unchanged rows: **%d** (written %d − changed %d), and %d with no change upstream.\n\n",
		incr.requests, 100*incr.wall.Seconds()/fullPaced.Seconds(), incr.wall.Round(time.Millisecond), fullPaced.Round(100*time.Millisecond),
		incr.written-incr.changed, incr.written, incr.changed, quiet.written)
	p("Summary lines of the incremental run: %s\n\n", incr.summary)
	return nil
}

// settled polls count until it reads the same twice 20 ms apart (at most
// a second), and returns it.
func settled(count func() int) int {
	n := count()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m := count()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// dayOfChanges makes 20 changes of the kinds a working day brings —
// checkouts and checkins, edits, logins, a license seat, an accessory and
// a consumable, renames, a location's manager, a new user, a deleted user,
// an archived asset — and says which.
func dayOfChanges(sim *snipeittest.Server) ([]string, error) {
	users, assets := sim.Users(), sim.Assets()
	var did []string
	var errs []error
	note := func(what string, err error) {
		did = append(did, what)
		errs = append(errs, err)
	}
	var free, out []int64
	for _, a := range assets {
		switch {
		case a.AssignedToID == nil && a.StatusType == "deployable" && len(free) < 5:
			free = append(free, a.ID)
		case a.AssignedType == "user" && len(out) < 3:
			out = append(out, a.ID)
		}
	}
	u := func(i int) int64 { return users[(i*7919)%len(users)].ID }
	for i, id := range free[:4] {
		note(fmt.Sprintf("checkout asset %d", id), sim.CheckoutAsset(id, u(i)))
	}
	for _, id := range out {
		note(fmt.Sprintf("checkin asset %d", id), sim.CheckinAsset(id))
	}
	note("archive an asset", sim.ArchiveAsset(free[4]))
	for i := range 2 {
		note("edit a user", sim.UpdateUser(u(10+i), func(x *snipeittest.User) { x.JobTitle = "Changed" }))
		note("a login", sim.Login(u(20+i)))
	}
	note("license seat checkout", sim.CheckoutLicenseSeat(1, u(30)))
	note("a location's new manager", sim.SetLocationManager(5, u(31)))
	note("accessory checkout", sim.CheckoutAccessory(1, u(32)))
	note("consumable checkout", sim.CheckoutConsumable(1, u(33)))
	note("department rename", sim.RenameDepartment(3, "Research & Development"))
	note("location rename", sim.RenameLocation(9, "IT Store Room"))
	note("new user", sim.AddUser(snipeittest.User{ID: 900_000_001, Username: "new.hire", FirstName: "New", LastName: "Hire", Activated: true}))
	// A user Snipe-IT lets one delete: it holds nothing and manages nobody.
	deleted := false
	for _, x := range users {
		if x.ID != 1 && x.AssetsCount+x.LicensesCount+x.AccessoriesCount+x.ConsumablesCount+x.ManagesUsersCount+x.ManagesLocationsCount == 0 {
			note("user delete", sim.DeleteUser(x.ID))
			deleted = true
			break
		}
	}
	if !deleted {
		return nil, errors.New("no user can be deleted")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("upstream changes: %w", err)
	}
	return did, nil
}

// lastRuns returns the rows the last run of each scope changed, and its
// summary: scope, mode and why it read in full.
func lastRuns(ctx context.Context, dbURL string) (int64, string, error) {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, "", err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT DISTINCT ON (scope) scope, mode, coalesce(fallback_reason, ''), inserted + updated + deleted, fetched
		FROM sync_runs ORDER BY scope, id DESC`)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	var changed int64
	var lines []string
	for rows.Next() {
		var scope, mode, reason string
		var n, fetched int64
		if err := rows.Scan(&scope, &mode, &reason, &n, &fetched); err != nil {
			return 0, "", err
		}
		changed += n
		line := fmt.Sprintf("%s %s, %d fetched, %d changed", scope, mode, fetched, n)
		if reason != "" {
			line += " (" + reason + ")"
		}
		lines = append(lines, line)
	}
	return changed, strings.Join(lines, "; "), rows.Err()
}
