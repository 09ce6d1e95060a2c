// Command bench measures whole-process syncs on large simulated data, each
// against a floor measured in the same run, and prints a table:
//
//   - CPU per row: 100,000 users at 0 and 100 ms of simulated latency per
//     page, usersync's CPU (user+sys of the whole process) and wall time
//     against two floors (snipeit-floor -decode plain, a net/http +
//     encoding/json client reading the same fields, and -decode client,
//     usersync's own client without the store), and against an older
//     usersync binary (-before) in the same rounds;
//   - full sync of 100,000 users + 50,000 assets into an empty database, and
//     a re-sync with no upstream change, vs. both snipeit-floors (the same
//     pages, page size and parallelism, fetched and decoded, nothing
//     written) and an older usersync binary (-before) in the same rounds;
//   - peak RSS at 100,000 and at 1,000,000 users;
//   - row versions a no-change re-sync writes (pg_stat_user_tables);
//   - a run against a simulator throttled at 120 requests/minute: 429s
//     received, and wall time against the ideal pacing;
//   - incremental runs (issue 15): Snipe-IT requests and time of
//     `usersync --full --incremental` after 20 upstream changes against the
//     full run's, and row versions written for unchanged rows.
//
// Everything runs on loopback: the simulator (hack/snipeit-sim), a real
// Pushgateway and the local PostgreSQL (TEST_DATABASE_URL).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
	"github.com/usersync/usersync/pkg/metrics/pushtest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

type options struct {
	usersync, sim, floor string
	before               string
	cpuUsers             int
	latencies            []time.Duration
	serverURL            string
	users, assets        int
	bigUsers             int
	rounds               int
	rateUsers            int
	rateAssets           int
	incrUsers            int
	incrAssets           int
	out                  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var o options
	flag.StringVar(&o.usersync, "usersync", "bin/usersync", "the usersync binary to measure")
	flag.StringVar(&o.sim, "sim", "", "the snipeit-sim binary (default: built into bin/)")
	flag.StringVar(&o.floor, "floor", "", "the snipeit-floor binary (default: built into bin/)")
	flag.StringVar(&o.serverURL, "database", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server URL; a bench database is created on it")
	flag.IntVar(&o.users, "users", 100_000, "users for the speed runs")
	flag.IntVar(&o.assets, "assets", 50_000, "assets for the speed runs")
	flag.IntVar(&o.bigUsers, "big-users", 1_000_000, "users for the memory run (0 skips it)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of each timed run; the median is reported")
	flag.IntVar(&o.rateUsers, "rate-users", 60_000, "users for the rate-limited run (0 skips it); enough pages to cross a 60 s window")
	flag.IntVar(&o.rateAssets, "rate-assets", 5_000, "assets for the rate-limited run")
	flag.IntVar(&o.incrUsers, "incr-users", 100_000, "users for the incremental runs (0 skips them)")
	flag.IntVar(&o.incrAssets, "incr-assets", 50_000, "assets for the incremental runs")
	flag.StringVar(&o.out, "out", "out/bench-sync.md", "where to write the report too")
	flag.StringVar(&o.before, "before", "", "an older usersync binary to measure in the same rounds of the CPU runs")
	flag.IntVar(&o.cpuUsers, "cpu-users", 100_000, "users for the CPU-per-row runs (0 skips them)")
	latencies := flag.String("latencies", "0s,100ms", "simulated latency per page of the CPU-per-row runs")
	skipFull := flag.Bool("cpu-only", false, "run only the CPU-per-row runs")
	flag.Parse()
	for _, l := range strings.Split(*latencies, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(l))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -latencies:", err)
			os.Exit(2)
		}
		o.latencies = append(o.latencies, d)
	}
	if *skipFull {
		o.users, o.bigUsers, o.rateUsers, o.incrUsers = 0, 0, 0, 0
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o options) error {
	var err error
	if o.sim == "" {
		if o.sim, err = build(ctx, "snipeit-sim", "./hack/snipeit-sim"); err != nil {
			return err
		}
	}
	if o.floor == "" {
		if o.floor, err = build(ctx, "snipeit-floor", "./hack/snipeit-floor"); err != nil {
			return err
		}
	}

	var report strings.Builder
	p := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		fmt.Print(s)
		report.WriteString(s)
	}
	p("## usersync whole-process benchmark (%s)\n\n", time.Now().UTC().Format(time.DateTime))
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		p("Load average at the start: %s (%d CPUs).\n\n", strings.Join(strings.Fields(string(load))[:3], " "), runtime.NumCPU())
	}
	if o.cpuUsers > 0 {
		if err := cpuRuns(ctx, o, p); err != nil {
			return err
		}
	}
	if o.users > 0 {
		if err := fullRuns(ctx, o, p); err != nil {
			return err
		}
	}
	if o.incrUsers > 0 {
		if err := incrementalRuns(ctx, o, p); err != nil {
			return err
		}
	}

	if o.bigUsers > 0 {
		sim, err := startSim(ctx, o.sim, "-users", fmt.Sprint(o.bigUsers), "-assets", "0")
		if err != nil {
			return err
		}
		f, err := runFloor(ctx, o.floor, sim.url, "client", "users")
		if err != nil {
			return err
		}
		dbURL, drop, err := pgtest.Recreate(ctx, o.serverURL, "usersync_bench_big")
		if err != nil {
			return err
		}
		s, err := runSync(ctx, o.usersync, sim.url, dbURL, "", "--scope", "users")
		drop()
		sim.stop()
		if err != nil {
			return err
		}
		p("| %d users | wall | peak RSS |\n|---|---|---|\n", o.bigUsers)
		p("| floor | %s | %s |\n| usersync --scope users | %s | %s |\n\n", f.wall.Round(time.Millisecond), mib(f.rss), s.wall.Round(time.Millisecond), mib(s.rss))
	}

	if o.rateUsers > 0 {
		pushURL, stopPush, err := pushtest.Run(ctx)
		if err != nil {
			return err
		}
		defer stopPush()
		sim, err := startSim(ctx, o.sim, "-users", fmt.Sprint(o.rateUsers), "-assets", fmt.Sprint(o.rateAssets), "-rate-limit", "120")
		if err != nil {
			return err
		}
		dbURL, drop, err := pgtest.Recreate(ctx, o.serverURL, "usersync_bench_rate")
		if err != nil {
			return err
		}
		s, err := runSync(ctx, o.usersync, sim.url, dbURL, pushURL, "--full", "--rate-limit", "120")
		drop()
		sim.stop()
		if err != nil {
			return err
		}
		requests, throttled, err := requestCounts(pushURL)
		if err != nil {
			return err
		}
		ideal := time.Duration(float64(requests-1) / 2 * float64(time.Second))
		p("Rate limit: simulator throttled at 120 requests/minute (Laravel fixed window), %d users + %d assets, usersync --rate-limit 120.\n\n", o.rateUsers, o.rateAssets)
		p("| requests | 429s | wall | ideal pacing ((requests-1) × 0.5 s) | wall / ideal |\n|---|---|---|---|---|\n")
		p("| %d | %d | %s | %s | %.3f |\n", requests, throttled, s.wall.Round(time.Millisecond), ideal, s.wall.Seconds()/ideal.Seconds())
	}
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(o.out, []byte(report.String()), 0o644)
	}
	return nil
}

// fullRuns syncs users and assets into an empty database and again with
// no upstream change, against the client floor.
func fullRuns(ctx context.Context, o options, p func(string, ...any)) error {
	sim, err := startSim(ctx, o.sim, "-users", fmt.Sprint(o.users), "-assets", fmt.Sprint(o.assets))
	if err != nil {
		return err
	}
	defer sim.stop()
	// The simulator renders each row on first request and caches it: one
	// untimed pass warms it so no timed run pays for that.
	if _, err := runFloor(ctx, o.floor, sim.url, "client", "all"); err != nil {
		return err
	}
	// Two floors, as in the CPU runs: usersync's own client, and a plain
	// encoding/json one. With -before, the older binary syncs in the same
	// rounds, so a ratio that moves because a floor got faster is told
	// apart from a sync that got slower.
	var floor, plain, initial, resync, beforeInitial, beforeResync []measure
	var written int64
	syncTwice := func(bin string) (initial, resync measure, written int64, err error) {
		dbURL, drop, err := pgtest.Recreate(ctx, o.serverURL, "usersync_bench")
		if err != nil {
			return initial, resync, 0, err
		}
		defer drop()
		if initial, err = runSync(ctx, bin, sim.url, dbURL, "", "--full"); err != nil {
			return initial, resync, 0, err
		}
		before, err := rowWrites(ctx, dbURL)
		if err != nil {
			return initial, resync, 0, err
		}
		if resync, err = runSync(ctx, bin, sim.url, dbURL, "", "--full"); err != nil {
			return initial, resync, 0, err
		}
		after, err := rowWrites(ctx, dbURL)
		return initial, resync, after - before, err
	}
	for round := range o.rounds {
		f, err := runFloor(ctx, o.floor, sim.url, "client", "all")
		if err != nil {
			return err
		}
		floor = append(floor, f)
		pf, err := runFloor(ctx, o.floor, sim.url, "plain", "all")
		if err != nil {
			return err
		}
		plain = append(plain, pf)
		i, r, w, err := syncTwice(o.usersync)
		if err != nil {
			return err
		}
		initial, resync, written = append(initial, i), append(resync, r), written+w
		line := fmt.Sprintf("round %d: floor %s, plain floor %s, initial %s, re-sync %s", round+1, f.wall, pf.wall, i.wall, r.wall)
		if o.before != "" {
			bi, br, _, err := syncTwice(o.before)
			if err != nil {
				return fmt.Errorf("before: %w", err)
			}
			beforeInitial, beforeResync = append(beforeInitial, bi), append(beforeResync, br)
			line += fmt.Sprintf(", before: initial %s, re-sync %s", bi.wall, br.wall)
		}
		fmt.Fprintln(os.Stderr, line)
	}
	fm, pm := median(floor), median(plain)
	p("Data: %d users + %d assets from hack/snipeit-sim (no latency, no rate limit), page size 500, 4 pages in flight, %d rounds, medians. "+
		"Floors fetch and decode the same pages with the same parallelism and write nothing: `snipeit-floor -decode client` with usersync's Snipe-IT client, "+
		"`-decode plain` with net/http and encoding/json.\n\n", o.users, o.assets, o.rounds)
	p("| run | wall | × client floor | × plain floor | CPU | peak RSS |\n|---|---|---|---|---|---|\n")
	row := func(name string, m measure) {
		p("| %s | %s | %.2f | %.2f | %s | %s |\n", name, m.wall.Round(time.Millisecond), ratio(m, fm), ratio(m, pm), secs(m.cpu), mib(m.rss))
	}
	row("floor: usersync's client, fetch + decode only", fm)
	row("floor: plain encoding/json client, fetch + decode only", pm)
	row("usersync --full into an empty database", median(initial))
	row("usersync --full, no upstream change", median(resync))
	if o.before != "" {
		row("before (usersync --full), empty database", median(beforeInitial))
		row("before (usersync --full), no upstream change", median(beforeResync))
	}
	p("\nRow versions written by the no-change re-syncs (pg_stat_user_tables n_tup_ins+upd+del on users and assets, all rounds): %d\n\n", written)

	return nil
}

// measure is one process run.
type measure struct {
	wall time.Duration
	cpu  time.Duration // user + system time of the process
	rss  int64         // peak resident set, bytes
}

func median(ms []measure) measure {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measure) int { return int(a.wall - b.wall) })
	m := s[len(s)/2]
	m.rss = slices.MaxFunc(ms, func(a, b measure) int { return int(a.rss - b.rss) }).rss
	return m
}

func ratio(a, b measure) float64 { return a.wall.Seconds() / b.wall.Seconds() }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func build(ctx context.Context, name, pkg string) (string, error) {
	out := filepath.Join("bin", name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

// timed runs cmd and returns its wall time and peak RSS.
func timed(cmd *exec.Cmd) (measure, error) {
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measure{}, fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return measure{}, errors.New("no rusage")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return measure{wall: wall, cpu: cpu, rss: ru.Maxrss * 1024}, nil
}

const token = "bench-token"

func runFloor(ctx context.Context, bin, simURL, decode, scope string) (measure, error) {
	cmd := exec.CommandContext(ctx, bin, "-decode", decode, "-scope", scope)
	cmd.Env = append(os.Environ(), "SNIPEIT_URL="+simURL, "SNIPEIT_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	return timed(cmd)
}

func runSync(ctx context.Context, bin, simURL, dbURL, pushURL string, args ...string) (measure, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SNIPEIT_URL="+simURL, "SNIPEIT_TOKEN="+token, "DATABASE_URL="+dbURL,
		"PUSHGATEWAY_URL="+pushURL, "SNIPEIT_RATE_LIMIT=0", "SYNC_PROGRESS=none", "LOG_LEVEL=warn")
	for i, a := range args {
		if a == "--rate-limit" && i+1 < len(args) {
			cmd.Env = append(cmd.Env, "SNIPEIT_RATE_LIMIT="+args[i+1])
		}
	}
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	return timed(cmd)
}

// sim is a running simulator process.
type sim struct {
	url  string
	stop func()
}

func startSim(ctx context.Context, bin string, args ...string) (*sim, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-token", token, "-listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("simulator did not print its URL: %w", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "SNIPEIT_URL=")
	if !ok {
		stop()
		return nil, fmt.Errorf("simulator printed %q, want SNIPEIT_URL=…", line)
	}
	return &sim{url: url, stop: stop}, nil
}

// rowWrites sums inserted, updated and deleted row versions of the mirror
// tables. The writer processes have exited, so their statistics are
// flushed; a fresh connection reads them.
func rowWrites(ctx context.Context, dbURL string) (int64, error) {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Wait until no usersync backend is left, so every counter is in.
		var busy int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&busy); err != nil {
			return 0, err
		}
		if busy == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	err = c.QueryRow(ctx, `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
		FROM pg_stat_user_tables WHERE relname IN ('users', 'assets')`).Scan(&n)
	return n, err
}

// requestCounts reads what usersync pushed: Snipe-IT requests and 429s,
// over both scopes.
func requestCounts(pushURL string) (requests, throttled int64, err error) {
	resp, err := http.Get(pushURL + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range fams["usersync_last_run_snipeit_requests"].GetMetric() {
		requests += int64(m.GetGauge().GetValue())
	}
	for _, m := range fams["usersync_last_run_snipeit_rate_limited"].GetMetric() {
		throttled += int64(m.GetGauge().GetValue())
	}
	return requests, throttled, nil
}
