package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
1 the sync failed and the mirror is unchanged, 2 bad flags or config.

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

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, model.ErrInvalid):
		return 2
	default:
		return 1
	}
}

// config is everything a run needs, from flags and environment.
type config struct {
	scopes          []model.Scope
	dryRun          bool
	allowMassDelete bool
	snipeURL        string
	token           string
	databaseURL     string
	pushURL         string
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

// parseConfig reads flags over environment defaults. cmd is "sync" or
// "migrate": migrate needs only the database.
func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer, isTerminal bool) (*config, error) {
	fs := flag.NewFlagSet("usersync "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
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
		retries, retryBackoff                        string
	)
	fs.StringVar(&scope, "scope", "users", "what to sync: users, assets or all")
	fs.BoolVar(&full, "full", false, "sync everything (same as --scope all)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would change and write nothing")
	fs.BoolVar(&c.allowMassDelete, "allow-mass-delete", false, "allow a run to soft-delete more than 10% of live rows, or all of them")
	fs.StringVar(&c.snipeURL, "snipeit-url", env("SNIPEIT_URL", ""), "Snipe-IT base URL, e.g. https://snipe.example.com (SNIPEIT_URL)")
	fs.StringVar(&tokenFile, "snipeit-token-file", env("SNIPEIT_TOKEN_FILE", ""), "file holding the Snipe-IT API token (SNIPEIT_TOKEN_FILE; or the token itself in SNIPEIT_TOKEN)")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL (DATABASE_URL)")
	fs.StringVar(&c.pushURL, "pushgateway-url", env("PUSHGATEWAY_URL", ""), "Pushgateway URL; empty: no push (PUSHGATEWAY_URL)")
	fs.StringVar(&rateLimit, "rate-limit", env("SNIPEIT_RATE_LIMIT", "120"), "Snipe-IT requests per minute; 0: unlimited (SNIPEIT_RATE_LIMIT)")
	fs.StringVar(&pageSize, "page-size", env("SNIPEIT_PAGE_SIZE", "500"), "rows per page asked of Snipe-IT; its MAX_RESULTS cap wins (SNIPEIT_PAGE_SIZE)")
	fs.StringVar(&parallelism, "parallelism", env("SNIPEIT_PARALLELISM", "4"), "pages fetched at once (SNIPEIT_PARALLELISM)")
	fs.StringVar(&requestTimeout, "request-timeout", env("SNIPEIT_TIMEOUT", "60s"), "timeout of one Snipe-IT request (SNIPEIT_TIMEOUT)")
	fs.StringVar(&retries, "retries", env("SNIPEIT_RETRIES", "7"), "retries of a failed Snipe-IT request before the run fails (SNIPEIT_RETRIES)")
	fs.StringVar(&retryBackoff, "retry-backoff", env("SNIPEIT_RETRY_BACKOFF", "1s"), "first wait before a retry; it doubles up to 30s, with jitter (SNIPEIT_RETRY_BACKOFF)")
	fs.StringVar(&tz, "timezone", env("SNIPEIT_TIMEZONE", "UTC"), "Snipe-IT's APP_TIMEZONE, in which it writes datetimes (SNIPEIT_TIMEZONE)")
	fs.StringVar(&trigg, "trigger", env("SYNC_TRIGGER", "cli"), "what started this run, recorded in sync_runs: schedule, manual, api, cli (SYNC_TRIGGER)")
	fs.StringVar(&c.jobName, "job-name", env("JOB_NAME", ""), "the Kubernetes Job running this sync, recorded in sync_runs (JOB_NAME)")
	fs.StringVar(&logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	defaultFormat := "json"
	if isTerminal {
		defaultFormat = "text"
	}
	fs.StringVar(&c.logFormat, "log-format", env("LOG_FORMAT", defaultFormat), "json or text; text on a terminal by default (LOG_FORMAT)")
	fs.StringVar(&c.progress, "progress", env("SYNC_PROGRESS", "auto"), "auto (a bar on a terminal, else a log line every 5s), bar, log or none (SYNC_PROGRESS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &exitError{2, err}
	}
	if fs.NArg() > 0 {
		return nil, invalid("unexpected argument %q", fs.Arg(0))
	}
	c.trigger = trigg

	var err error
	if full {
		scope = "all"
	}
	if c.scopes, err = model.ParseScope(scope); err != nil {
		return nil, &exitError{2, err}
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, invalid("log level %q: want debug, info, warn or error", logLevel)
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return nil, invalid("log format %q: want json or text", c.logFormat)
	}
	switch c.progress {
	case "auto":
		c.progress = "log"
		if isTerminal {
			c.progress = "bar"
		}
	case "bar", "log", "none":
	default:
		return nil, invalid("progress %q: want auto, bar, log or none", c.progress)
	}
	if c.databaseURL == "" {
		return nil, invalid("no database: set DATABASE_URL or --database-url")
	}
	if cmd == "migrate" {
		return &c, nil
	}

	if c.snipeURL == "" {
		return nil, invalid("no Snipe-IT: set SNIPEIT_URL or --snipeit-url")
	}
	switch {
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, invalid("read the Snipe-IT token file: %v", err)
		}
		c.token = strings.TrimSpace(string(b))
	default:
		c.token = strings.TrimSpace(getenv("SNIPEIT_TOKEN"))
	}
	if c.token == "" {
		return nil, invalid("no Snipe-IT API token: set SNIPEIT_TOKEN or SNIPEIT_TOKEN_FILE")
	}
	if c.rateLimit, err = strconv.ParseFloat(rateLimit, 64); err != nil || c.rateLimit < 0 {
		return nil, invalid("rate limit %q: want requests per minute, 0 for none", rateLimit)
	}
	if c.pageSize, err = strconv.Atoi(pageSize); err != nil || c.pageSize < 2 {
		return nil, invalid("page size %q: want a number of at least 2", pageSize)
	}
	if c.parallelism, err = strconv.Atoi(parallelism); err != nil || c.parallelism < 1 || c.parallelism > 32 {
		return nil, invalid("parallelism %q: want 1 to 32", parallelism)
	}
	if c.requestTimeout, err = time.ParseDuration(requestTimeout); err != nil || c.requestTimeout <= 0 {
		return nil, invalid("request timeout %q: want a duration such as 60s", requestTimeout)
	}
	if c.retries, err = strconv.Atoi(retries); err != nil || c.retries < 0 || c.retries > 100 {
		return nil, invalid("retries %q: want 0 to 100", retries)
	}
	if c.retryBackoff, err = time.ParseDuration(retryBackoff); err != nil || c.retryBackoff <= 0 {
		return nil, invalid("retry backoff %q: want a duration such as 1s", retryBackoff)
	}
	if c.timezone, err = time.LoadLocation(tz); err != nil {
		return nil, invalid("timezone %q: %v", tz, err)
	}
	return &c, nil
}

func invalid(format string, args ...any) error {
	return &exitError{2, fmt.Errorf("%w: %s", model.ErrInvalid, fmt.Sprintf(format, args...))}
}

func newLogger(c *config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
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
	c, err := parseConfig(cmd, args, getenv, stderr, tty)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usersync:", err)
		}
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
		return err
	}
	defer db.Close()

	if cmd == "migrate" {
		n, err := db.Migrate(ctx)
		if err != nil {
			log.Error("migrate", "err", err)
			return err
		}
		log.Info("database schema is current", "applied", n)
		return nil
	}
	return runSync(ctx, c, db, log, bar, stdout, stderr)
}

func runSync(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger, bar *barProgress, stdout, stderr io.Writer) error {
	// A sync is the mirror's only writer, so it brings the schema up to
	// date first; a dry run writes nothing and only checks.
	if c.dryRun {
		current, err := db.SchemaCurrent(ctx)
		if err != nil {
			log.Error("check the database schema", "err", err)
			return err
		}
		if !current {
			err := errors.New("the database schema is not current; a dry run changes nothing, so run `usersync migrate` first")
			log.Error("dry run", "err", err)
			return err
		}
	} else if _, err := db.Migrate(ctx); err != nil {
		log.Error("migrate", "err", err)
		return err
	}

	m := metrics.NewSync(buildVersion())
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
		fmt.Fprintln(stderr, "usersync:", err)
		return &exitError{2, err}
	}

	report := newChangeReport(stdout)
	cfg := syncer.Config{
		Source:          client,
		Store:           db,
		Logger:          log,
		Trigger:         c.trigger,
		JobName:         c.jobName,
		AllowMassDelete: c.allowMassDelete,
		DryRun:          c.dryRun,
	}
	if c.dryRun {
		cfg.OnChange = report.add
	}
	s, err := syncer.New(cfg)
	if err != nil {
		return err
	}
	results, err := s.Run(ctx, c.scopes)
	for _, r := range results {
		if c.dryRun {
			report.summary(r)
			continue
		}
		printSummary(stdout, r)
		m.Record(r)
		if c.pushURL != "" {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			if perr := m.Push(pctx, c.pushURL, r.Scope, nil); perr != nil {
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
	return err
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
// per scope, then the counts.
type changeReport struct {
	w       io.Writer
	perKind int
	shown   map[model.Scope]map[model.ChangeKind]int
}

func newChangeReport(w io.Writer) *changeReport {
	return &changeReport{w: w, perKind: 100, shown: map[model.Scope]map[model.ChangeKind]int{}}
}

func (r *changeReport) add(scope model.Scope, c model.Change) {
	if r.shown[scope] == nil {
		r.shown[scope] = map[model.ChangeKind]int{}
	}
	r.shown[scope][c.Kind]++
	if n := r.shown[scope][c.Kind]; n > r.perKind {
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
	for kind, n := range r.shown[res.Scope] {
		if n > r.perKind {
			fmt.Fprintf(r.w, "… and %d more %s %ss\n", n-r.perKind, res.Scope, kind)
		}
	}
	if res.Err != nil {
		fmt.Fprintf(r.w, "%s: dry run FAILED: %v\n", res.Scope, res.Err)
		return
	}
	c := res.Counts
	fmt.Fprintf(r.w, "%s: dry run, nothing written: would insert %d, update %d, delete %d; %d unchanged of %d fetched\n",
		res.Scope, c.Inserted, c.Updated, c.Deleted, c.Unchanged, c.Fetched)
}
