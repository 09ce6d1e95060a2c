package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/usersync/usersync/pkg/metrics"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/syncer"
	"github.com/usersync/usersync/pkg/syncflags"
)

// version is set at build time with -ldflags "-X main.version=…"; else the
// module version from the build info is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const usage = `usersync mirrors Snipe-IT users and assets into PostgreSQL.

Usage:
  usersync [flags]           sync (default scope: users)
  usersync migrate [flags]   apply pending database migrations and exit
  usersync version           print the version

Exit status: 0 synced (or skipped: another sync holds the lock),
1 the sync failed and the mirror is unchanged, 2 bad flags or config,
3 a dry run found changes that a real run would refuse (mass-delete guard).

Every flag can also be set with the environment variable named in its help;
a flag wins over the environment.

Flags:
`

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitRefused is the exit status of a dry run whose real run the
// mass-delete guard would refuse.
const exitRefused = 3

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, model.ErrInvalid):
		return 2
	default:
		return 1
	}
}

// configError lists every problem found in the flags and environment, so
// that one run reports them all.
type configError []string

func (e configError) Error() string {
	return "invalid configuration: " + strings.Join(e, "; ")
}

func (e configError) Unwrap() error { return model.ErrInvalid }

// config is everything a run needs, from flags and environment.
type config struct {
	scopes          []model.Scope
	dryRun          bool
	allowMassDelete bool
	maxDeleteRows   int64
	maxChanges      int
	snipeURL        string
	token           string
	databaseURL     string
	pushURL         string
	pushInstance    string
	rateLimit       float64
	pageSize        int
	parallelism     int
	requestTimeout  time.Duration
	retries         int
	retryBackoff    time.Duration
	timezone        *time.Location
	trigger         string
	jobName         string
	logLevel        slog.Level
	logFormat       string
	progress        string
}

// parseConfig reads flags over environment defaults and checks every
// setting, reporting all problems at once (a configError). cmd is "sync"
// or "migrate": migrate needs only the database. For -h or --help it
// prints the usage to help and returns flag.ErrHelp.
func parseConfig(cmd string, args []string, getenv func(string) string, help io.Writer, isTerminal bool) (*config, error) {
	fs := flag.NewFlagSet("usersync "+cmd, flag.ContinueOnError)
	// Parse errors are reported by the caller, usage only on request.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var (
		c                                            config
		scope, tokenFile, tz, logLevel, rateLimit    string
		full                                         bool
		pageSize, parallelism, requestTimeout, trigg string
		retries, retryBackoff, maxDeleteRows         string
	)
	fs.StringVar(&scope, syncflags.Scope, string(model.ScopeUsers), "what to sync: users, assets or all")
	fs.BoolVar(&full, syncflags.Full, false, "sync everything (same as --scope all)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would change and write nothing (a read-only database role is enough)")
	fs.IntVar(&c.maxChanges, "max-changes", 100, "with --dry-run: changes printed per scope and kind; 0 prints every change")
	fs.BoolVar(&c.allowMassDelete, "allow-mass-delete", false, "lift the mass-delete guard (see --max-delete-rows)")
	fs.StringVar(&maxDeleteRows, "max-delete-rows", env("SYNC_MAX_DELETE_ROWS", strconv.Itoa(model.DefaultMaxDeleteRows)),
		"the guard refuses a run that would soft-delete more than the larger of 10% of live rows and this many rows (SYNC_MAX_DELETE_ROWS)")
	fs.StringVar(&c.snipeURL, "snipeit-url", env("SNIPEIT_URL", ""), "Snipe-IT base URL, e.g. https://snipe.example.com (SNIPEIT_URL)")
	fs.StringVar(&tokenFile, "snipeit-token-file", env("SNIPEIT_TOKEN_FILE", ""), "file holding the Snipe-IT API token (SNIPEIT_TOKEN_FILE; or the token itself in SNIPEIT_TOKEN)")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL (DATABASE_URL)")
	fs.StringVar(&c.pushURL, "pushgateway-url", env("PUSHGATEWAY_URL", ""), "Pushgateway URL, basic auth in it if needed; empty: no push (PUSHGATEWAY_URL)")
	fs.StringVar(&c.pushInstance, "pushgateway-instance", env("PUSHGATEWAY_INSTANCE", ""),
		"grouping label instance of the pushes, so installations sharing a Pushgateway keep apart; empty: grouped by job and scope only (PUSHGATEWAY_INSTANCE)")
	fs.StringVar(&rateLimit, "rate-limit", env("SNIPEIT_RATE_LIMIT", "120"), "Snipe-IT requests per minute; 0: unlimited (SNIPEIT_RATE_LIMIT)")
	fs.StringVar(&pageSize, "page-size", env("SNIPEIT_PAGE_SIZE", "500"), "rows per page asked of Snipe-IT; its MAX_RESULTS cap wins (SNIPEIT_PAGE_SIZE)")
	fs.StringVar(&parallelism, "parallelism", env("SNIPEIT_PARALLELISM", "4"), "pages fetched at once (SNIPEIT_PARALLELISM)")
	fs.StringVar(&requestTimeout, "request-timeout", env("SNIPEIT_TIMEOUT", "60s"), "timeout of one Snipe-IT request (SNIPEIT_TIMEOUT)")
	fs.StringVar(&retries, "retries", env("SNIPEIT_RETRIES", "7"), "retries of a failed Snipe-IT request before the run fails (SNIPEIT_RETRIES)")
	fs.StringVar(&retryBackoff, "retry-backoff", env("SNIPEIT_RETRY_BACKOFF", "1s"), "first wait before a retry; it doubles up to 30s, with jitter (SNIPEIT_RETRY_BACKOFF)")
	fs.StringVar(&tz, "timezone", env("SNIPEIT_TIMEZONE", "UTC"), "Snipe-IT's APP_TIMEZONE, in which it writes datetimes (SNIPEIT_TIMEZONE)")
	fs.StringVar(&trigg, "trigger", env(syncflags.EnvTrigger, model.TriggerCLI), "what started this run, recorded in sync_runs: schedule, manual, api, cli (SYNC_TRIGGER)")
	fs.StringVar(&c.jobName, "job-name", env(syncflags.EnvJobName, ""), "the Kubernetes Job running this sync, recorded in sync_runs (JOB_NAME)")
	fs.StringVar(&logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	defaultFormat := "json"
	if isTerminal {
		defaultFormat = "text"
	}
	fs.StringVar(&c.logFormat, "log-format", env("LOG_FORMAT", defaultFormat), "json or text; text on a terminal by default (LOG_FORMAT)")
	fs.StringVar(&c.progress, "progress", env("SYNC_PROGRESS", "auto"), "auto (a bar on a terminal, else a log line every 5s), bar, log or none (SYNC_PROGRESS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, usage)
			fs.SetOutput(help)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &exitError{2, err}
	}

	var problems configError
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if fs.NArg() > 0 {
		bad("unexpected argument %q", fs.Arg(0))
	}
	c.trigger = trigg
	if full {
		scopeSet := false
		fs.Visit(func(f *flag.Flag) { scopeSet = scopeSet || f.Name == syncflags.Scope })
		if scopeSet && scope != "all" {
			bad("--full means --scope all, not --scope %s: give one or the other", scope)
		}
		scope = "all"
	}
	var err error
	if c.scopes, err = model.ParseScope(scope); err != nil {
		bad("scope %q: want users, assets or all", scope)
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		bad("log level %q: want debug, info, warn or error", logLevel)
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		bad("log format %q: want json or text", c.logFormat)
	}
	switch c.progress {
	case "auto":
		c.progress = "log"
		if isTerminal {
			c.progress = "bar"
		}
	case "bar", "log", "none":
	default:
		bad("progress %q: want auto, bar, log or none", c.progress)
	}
	if c.databaseURL == "" {
		bad("no database: set DATABASE_URL or --database-url")
	} else if err := postgres.CheckURL(c.databaseURL); err != nil {
		bad("DATABASE_URL: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
	}
	if cmd == "migrate" {
		if len(problems) > 0 {
			return nil, problems
		}
		return &c, nil
	}

	if c.snipeURL == "" {
		bad("no Snipe-IT: set SNIPEIT_URL or --snipeit-url")
	} else if err := checkHTTPURL(c.snipeURL); err != nil {
		bad("SNIPEIT_URL: %v", err)
	}
	if c.pushURL != "" {
		if err := checkHTTPURL(c.pushURL); err != nil {
			bad("PUSHGATEWAY_URL: %v", err)
		}
	}
	switch {
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		switch {
		case err != nil:
			bad("read the Snipe-IT token file: %v", err)
		case strings.TrimSpace(string(b)) == "":
			bad("the Snipe-IT token file %s is empty", tokenFile)
		}
		c.token = strings.TrimSpace(string(b))
	default:
		c.token = strings.TrimSpace(getenv("SNIPEIT_TOKEN"))
		if c.token == "" {
			bad("no Snipe-IT API token: set SNIPEIT_TOKEN or SNIPEIT_TOKEN_FILE")
		}
	}
	if c.maxDeleteRows, err = strconv.ParseInt(maxDeleteRows, 10, 64); err != nil || c.maxDeleteRows < 0 {
		bad("max delete rows %q: want a number of rows, 0 or more", maxDeleteRows)
	}
	if c.maxChanges < 0 {
		bad("max changes %d: want 0 (every change) or more", c.maxChanges)
	}
	if c.rateLimit, err = strconv.ParseFloat(rateLimit, 64); err != nil || c.rateLimit < 0 {
		bad("rate limit %q: want requests per minute, 0 for none", rateLimit)
	}
	if c.pageSize, err = strconv.Atoi(pageSize); err != nil || c.pageSize < 2 {
		bad("page size %q: want a number of at least 2", pageSize)
	}
	if c.parallelism, err = strconv.Atoi(parallelism); err != nil || c.parallelism < 1 || c.parallelism > 32 {
		bad("parallelism %q: want 1 to 32", parallelism)
	}
	if c.requestTimeout, err = time.ParseDuration(requestTimeout); err != nil || c.requestTimeout <= 0 {
		bad("request timeout %q: want a duration such as 60s", requestTimeout)
	}
	if c.retries, err = strconv.Atoi(retries); err != nil || c.retries < 0 || c.retries > 100 {
		bad("retries %q: want 0 to 100", retries)
	}
	if c.retryBackoff, err = time.ParseDuration(retryBackoff); err != nil || c.retryBackoff <= 0 {
		bad("retry backoff %q: want a duration such as 1s", retryBackoff)
	}
	if c.timezone, err = time.LoadLocation(tz); err != nil {
		bad("timezone %q: %v", tz, err)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &c, nil
}

// checkHTTPURL checks an http(s) URL. Its error shows the URL with any
// password redacted, and does not quote one that cannot be parsed.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("malformed URL (not shown: it may hold a password)")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: want http(s)://host[:port][/path]", u.Redacted())
	}
	return nil
}

func newLogger(c *config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel, ReplaceAttr: readableDuration}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
}

// readableDuration writes durations as Go duration strings ("1.532s"),
// rounded to the millisecond, instead of the JSON handler's nanoseconds.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		d := a.Value.Duration()
		if d >= time.Millisecond || d <= -time.Millisecond {
			d = d.Round(time.Millisecond)
		}
		a.Value = slog.StringValue(d.String())
	}
	return a
}

// isTerminal reports whether w is a terminal (for the progress bar and
// log format).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "sync"
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version":
			fmt.Fprintln(stdout, "usersync", buildVersion())
			return nil
		case "migrate":
			cmd, args = "migrate", args[1:]
		case "help":
			args = []string{"-h"}
		}
	}
	tty := isTerminal(stderr)
	c, err := parseConfig(cmd, args, getenv, stdout, tty)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	var problems configError
	switch {
	case errors.As(err, &problems):
		fmt.Fprintln(stderr, "usersync: invalid configuration:")
		for _, p := range problems {
			fmt.Fprintln(stderr, "  -", p)
		}
		return err
	case err != nil:
		fmt.Fprintf(stderr, "usersync: %v\nRun usersync --help for the flags.\n", err)
		return err
	}
	// On a terminal, log lines go through the progress bar so that they
	// are printed above it, not through it.
	logOut := stderr
	var bar *barProgress
	if cmd == "sync" && c.progress == "bar" {
		bar = newBarProgress(stderr)
		defer bar.Close()
		logOut = bar
	}
	log := newLogger(c, logOut)
	db, err := postgres.Open(ctx, postgres.Config{URL: c.databaseURL, Logger: log, MaxConns: 6})
	if err != nil {
		log.Error("open database", "err", err)
		fmt.Fprintf(stdout, "%s: FAILED: %v\n", cmd, err)
		return err
	}
	defer db.Close()

	if cmd == "migrate" {
		n, err := db.Migrate(ctx)
		if err != nil {
			log.Error("migrate", "err", err)
			fmt.Fprintf(stdout, "migrate: FAILED: %v\n", err)
			return err
		}
		log.Info("database schema is current", "applied", n)
		fmt.Fprintf(stdout, "migrate: the schema is current (%d migrations applied)\n", n)
		return nil
	}
	return runSync(ctx, c, db, log, bar, stdout)
}

// runSync syncs, then reports each scope's outcome the same way whatever
// failed: a line on stdout (or the dry run's report) and, for real runs,
// the metrics push.
func runSync(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger, bar *barProgress, stdout io.Writer) error {
	m := metrics.NewSync(buildVersion())
	report := newChangeReport(stdout, c.maxChanges)
	results, err := syncScopes(ctx, c, db, log, bar, m, report)
	refused := false
	for _, r := range results {
		if c.dryRun {
			report.summary(r)
			refused = refused || errors.Is(r.Err, model.ErrMassDelete)
			continue
		}
		printSummary(stdout, r)
		m.Record(r)
		if c.pushURL != "" {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			if perr := m.Push(pctx, metrics.Gateway{URL: c.pushURL, Instance: c.pushInstance}, r.Scope); perr != nil {
				// Metrics are a side channel: a failed push must not turn a
				// good sync into a failed one.
				log.Error("push metrics", "scope", string(r.Scope), "err", perr)
			}
			cancel()
		}
	}
	if errors.Is(err, model.ErrLocked) {
		return nil
	}
	if c.dryRun && refused {
		for _, r := range results {
			if r.Err != nil && !errors.Is(r.Err, model.ErrMassDelete) {
				return r.Err // a real failure outranks a refusal
			}
		}
		return &exitError{exitRefused, err}
	}
	return err
}

// syncScopes brings the schema up to date (or, in a dry run, checks it),
// then runs the syncer. A failure before the syncer runs is reported as a
// failed result for every scope, like a failure within it.
func syncScopes(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger, bar *barProgress, m *metrics.Sync, report *changeReport) ([]syncer.ScopeResult, error) {
	failAll := func(err error) ([]syncer.ScopeResult, error) {
		now := time.Now()
		var results []syncer.ScopeResult
		for _, scope := range c.scopes {
			results = append(results, syncer.ScopeResult{Scope: scope, Status: model.RunFailed, Started: now, Finished: now, Err: err})
		}
		return results, err
	}
	// A sync is the mirror's only writer, so it brings the schema up to
	// date first; a dry run writes nothing and only checks.
	if c.dryRun {
		current, err := db.SchemaCurrent(ctx)
		if err != nil {
			log.Error("check the database schema", "err", err)
			return failAll(fmt.Errorf("check the database schema: %w", err))
		}
		if !current {
			err := errors.New("the database schema is not current; a dry run changes nothing, so run `usersync migrate` first")
			log.Error("dry run", "err", err)
			return failAll(err)
		}
	} else if _, err := db.Migrate(ctx); err != nil {
		log.Error("migrate", "err", err)
		return failAll(fmt.Errorf("migrate the database schema: %w", err))
	}

	obs := observers{m}
	switch {
	case bar != nil:
		obs = append(obs, bar)
	case c.progress == "log":
		lp := newLogProgress(log, 5*time.Second)
		defer lp.Close()
		obs = append(obs, lp)
	}
	rate := c.rateLimit
	if rate == 0 {
		rate = -1 // the client reads 0 as "default"
	}
	client, err := snipeit.New(snipeit.Config{
		BaseURL:        c.snipeURL,
		Token:          c.token,
		UserAgent:      "usersync/" + buildVersion() + " (+https://github.com/usersync/usersync)",
		RequestTimeout: c.requestTimeout,
		MaxAttempts:    c.retries + 1,
		RetryInitial:   c.retryBackoff,
		RetryMax:       max(30*time.Second, c.retryBackoff),
		RatePerMinute:  rate,
		PageSize:       c.pageSize,
		Parallelism:    c.parallelism,
		Location:       c.timezone,
		Logger:         log,
		Observer:       obs,
	})
	if err != nil {
		log.Error("configure the Snipe-IT client", "err", err)
		return failAll(&exitError{2, err})
	}
	cfg := syncer.Config{
		Source:          client,
		Store:           db,
		Logger:          log,
		Trigger:         c.trigger,
		JobName:         c.jobName,
		AllowMassDelete: c.allowMassDelete,
		MaxDeleteRows:   c.maxDeleteRows,
		DryRun:          c.dryRun,
	}
	if c.dryRun {
		cfg.OnChange = report.add
	}
	s, err := syncer.New(cfg)
	if err != nil {
		return failAll(err)
	}
	return s.Run(ctx, c.scopes)
}

func printSummary(w io.Writer, r syncer.ScopeResult) {
	switch r.Status {
	case model.RunSkipped:
		fmt.Fprintf(w, "%s: skipped, another sync holds the lock\n", r.Scope)
	case model.RunFailed:
		fmt.Fprintf(w, "%s: FAILED, mirror unchanged: %v\n", r.Scope, r.Err)
	default:
		c := r.Counts
		d := func(step string) time.Duration { return r.Durations[step].Round(time.Millisecond) }
		fmt.Fprintf(w, "%s: %d fetched, %d inserted, %d updated, %d deleted, %d unchanged in %s (fetch %s, merge %s)\n",
			r.Scope, c.Fetched, c.Inserted, c.Updated, c.Deleted, c.Unchanged, d("total"), d("fetch"), d("merge"))
	}
}

// changeReport prints a dry run's changes, at most perKind of each kind
// per scope (0: all of them), then the counts. The syncer never calls add
// concurrently.
type changeReport struct {
	w       io.Writer
	perKind int
	shown   map[model.Scope]map[model.ChangeKind]int
}

func newChangeReport(w io.Writer, perKind int) *changeReport {
	return &changeReport{w: w, perKind: perKind, shown: map[model.Scope]map[model.ChangeKind]int{}}
}

func (r *changeReport) add(scope model.Scope, c model.Change) {
	if r.shown[scope] == nil {
		r.shown[scope] = map[model.ChangeKind]int{}
	}
	r.shown[scope][c.Kind]++
	if n := r.shown[scope][c.Kind]; r.perKind > 0 && n > r.perKind {
		return
	}
	mark := map[model.ChangeKind]string{model.ChangeInsert: "+", model.ChangeUpdate: "~", model.ChangeRestore: "^", model.ChangeDelete: "-"}[c.Kind]
	line := fmt.Sprintf("%s %s %d %s", mark, scope, c.ID, c.Label)
	if len(c.Columns) > 0 {
		line += ": " + strings.Join(c.Columns, ", ")
	}
	fmt.Fprintln(r.w, line)
}

func (r *changeReport) summary(res syncer.ScopeResult) {
	for _, kind := range []model.ChangeKind{model.ChangeInsert, model.ChangeUpdate, model.ChangeRestore, model.ChangeDelete} {
		if n := r.shown[res.Scope][kind]; r.perKind > 0 && n > r.perKind {
			fmt.Fprintf(r.w, "… and %d more %s %ss (--max-changes 0 prints them all)\n", n-r.perKind, res.Scope, kind)
		}
	}
	refused := errors.Is(res.Err, model.ErrMassDelete)
	if res.Err != nil && !refused {
		fmt.Fprintf(r.w, "%s: dry run FAILED: %v\n", res.Scope, res.Err)
		return
	}
	c := res.Counts
	fmt.Fprintf(r.w, "%s: dry run, nothing written: would insert %d, update %d, delete %d; %d unchanged of %d fetched\n",
		res.Scope, c.Inserted, c.Updated, c.Deleted, c.Unchanged, c.Fetched)
	if refused {
		fmt.Fprintf(r.w, "%s: a real run would be REFUSED: %v\n", res.Scope, res.Err)
	}
}
