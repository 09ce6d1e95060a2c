package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/syncer"
	"github.com/usersync/usersync/pkg/syncflags"
)

const usage = `usersync mirrors Snipe-IT users and assets into PostgreSQL.

Usage:
  usersync [flags]           sync (default scope: users)
  usersync migrate [flags]   apply pending database migrations and exit
  usersync version           print the version

With --incremental a run reads, per scope, only what changed in Snipe-IT
since the last run (its watermark), and falls back to reading everything
where it cannot (a first run, Snipe-IT before 7.1.14 for users, …); the
summary line says which it did and why.

Exit status: 0 synced (or skipped: another sync held the lock, for longer
than --lock-wait; a dry run takes no lock), 1 the sync (or dry run) failed and the mirror is unchanged,
also when the database did not come up within --database-wait, 2 bad flags
or config, 3 a dry run found changes that a real run would refuse
(mass-delete guard).

Every flag can also be set with the environment variable named in its help;
a flag wins over the environment.

Flags:
`

// configError lists every problem found in the flags and environment, so
// that one run reports them all.
type configError []string

func (e configError) Error() string {
	return "invalid configuration: " + strings.Join(e, "; ")
}

func (e configError) Unwrap() error { return model.ErrInvalid }

// defaultDatabaseWait is how long a run waits for a database that is still
// starting: enough for a restart or a failover, short enough that a wrong
// address is reported within a minute. The chart sets more where the
// database comes up beside the Job (its migration hook).
const defaultDatabaseWait = time.Minute

// config is everything a run needs, from flags and environment.
type config struct {
	scopes          []model.Scope
	incremental     bool
	lookBack        time.Duration
	dryRun          bool
	allowMassDelete bool
	maxDeleteRows   int64
	maxChanges      int
	snipeURL        string
	token           string
	databaseURL     string
	databaseWait    time.Duration
	lockWait        time.Duration
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
		databaseWait, incremental, lookBack          string
		lockWait                                     string
	)
	fs.StringVar(&scope, syncflags.Scope, string(model.ScopeUsers), "what to sync: users, assets or all")
	fs.BoolVar(&full, syncflags.Full, false, "sync everything (same as --scope all)")
	// A boolean flag whose default comes from the environment.
	incremental = getenv(syncflags.EnvIncremental)
	fs.Var(boolFunc{&incremental}, syncflags.Incremental,
		"read only what changed since the last run, per scope; a scope that cannot be read so is read in full ("+syncflags.EnvIncremental+"=true)")
	fs.StringVar(&lookBack, "lookback", env("SYNC_LOOKBACK", syncer.DefaultLookBack.String()),
		"with --incremental: how far before the watermark changes are read again, to catch rows saved in transactions that committed late and the clocks of several Snipe-IT servers (SYNC_LOOKBACK)")
	fs.StringVar(&lockWait, "lock-wait", env("SYNC_LOCK_WAIT", "0s"),
		"how long to wait while another sync holds the single-writer lock before this run is recorded skipped; 0: skip at once (SYNC_LOCK_WAIT)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would change and write nothing (a read-only database role is enough)")
	fs.IntVar(&c.maxChanges, "max-changes", 100, "with --dry-run: changes printed per scope and kind; 0 prints every change")
	fs.BoolVar(&c.allowMassDelete, "allow-mass-delete", false, "lift the mass-delete guard (see --max-delete-rows)")
	fs.StringVar(&maxDeleteRows, "max-delete-rows", env("SYNC_MAX_DELETE_ROWS", strconv.Itoa(model.DefaultMaxDeleteRows)),
		"the guard refuses a run that would soft-delete more than the larger of 10% of live rows and this many rows (SYNC_MAX_DELETE_ROWS)")
	fs.StringVar(&c.snipeURL, "snipeit-url", env("SNIPEIT_URL", ""), "Snipe-IT base URL, e.g. https://snipe.example.com (SNIPEIT_URL)")
	fs.StringVar(&tokenFile, "snipeit-token-file", env("SNIPEIT_TOKEN_FILE", ""), "file holding the Snipe-IT API token (SNIPEIT_TOKEN_FILE; or the token itself in SNIPEIT_TOKEN)")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL (DATABASE_URL)")
	fs.StringVar(&databaseWait, "database-wait", env("DATABASE_WAIT", defaultDatabaseWait.String()),
		"how long to wait for a database that is still starting (refused, not resolvable yet, starting up); 0: try once. A wrong password or a missing database fails at once (DATABASE_WAIT)")
	fs.StringVar(&c.pushURL, "pushgateway-url", env("PUSHGATEWAY_URL", ""), "Pushgateway URL, basic auth in it if needed; empty: no push (PUSHGATEWAY_URL)")
	fs.StringVar(&c.pushInstance, "pushgateway-instance", env("PUSHGATEWAY_INSTANCE", ""),
		"grouping label instance of the pushes, so installations sharing a Pushgateway keep apart; empty: grouped by job and scope only (PUSHGATEWAY_INSTANCE)")
	fs.StringVar(&rateLimit, "rate-limit", env("SNIPEIT_RATE_LIMIT", strconv.Itoa(snipeit.DefaultRatePerMinute)), "Snipe-IT requests per minute; 0: unlimited (SNIPEIT_RATE_LIMIT)")
	fs.StringVar(&pageSize, "page-size", env("SNIPEIT_PAGE_SIZE", strconv.Itoa(snipeit.DefaultPageSize)), "rows per page asked of Snipe-IT; its MAX_RESULTS cap wins (SNIPEIT_PAGE_SIZE)")
	fs.StringVar(&parallelism, "parallelism", env("SNIPEIT_PARALLELISM", strconv.Itoa(snipeit.DefaultParallelism)), "pages fetched at once (SNIPEIT_PARALLELISM)")
	fs.StringVar(&requestTimeout, "request-timeout", env("SNIPEIT_TIMEOUT", snipeit.DefaultRequestTimeout.String()), "timeout of one Snipe-IT request (SNIPEIT_TIMEOUT)")
	fs.StringVar(&retries, "retries", env("SNIPEIT_RETRIES", strconv.Itoa(snipeit.DefaultMaxAttempts-1)), "retries of a failed Snipe-IT request before the run fails (SNIPEIT_RETRIES)")
	fs.StringVar(&retryBackoff, "retry-backoff", env("SNIPEIT_RETRY_BACKOFF", snipeit.DefaultRetryInitial.String()),
		fmt.Sprintf("first wait before a retry; it doubles up to %s, with jitter (SNIPEIT_RETRY_BACKOFF)", snipeit.DefaultRetryMax))
	fs.StringVar(&tz, "timezone", env("SNIPEIT_TIMEZONE", "UTC"), "Snipe-IT's APP_TIMEZONE, in which it writes datetimes (SNIPEIT_TIMEZONE)")
	fs.StringVar(&trigg, "trigger", env(syncflags.EnvTrigger, model.TriggerCLI), "what started this run, recorded in sync_runs: "+strings.Join(model.Triggers, ", ")+
		"; schedule is recorded as manual when --job-name is not a name the CronJob controller gives (SYNC_TRIGGER)")
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
	if c.trigger = trigg; !slices.Contains(model.Triggers, trigg) {
		bad("trigger %q: want one of %s", trigg, strings.Join(model.Triggers, ", "))
	}
	if full {
		scopeSet := false
		fs.Visit(func(f *flag.Flag) { scopeSet = scopeSet || f.Name == syncflags.Scope })
		if scopeSet && scope != "all" {
			bad("--full means --scope all, not --scope %s: give one or the other", scope)
		}
		scope = "all"
	}
	var err error
	if incremental != "" {
		if c.incremental, err = strconv.ParseBool(incremental); err != nil {
			bad("incremental %q: want true or false (--%s, %s)", incremental, syncflags.Incremental, syncflags.EnvIncremental)
		}
	}
	if c.lookBack, err = time.ParseDuration(lookBack); err != nil || c.lookBack < time.Second {
		bad("look-back %q: want a duration such as 5m, at least 1s (updated_at has whole seconds)", lookBack)
	}
	if c.lockWait, err = time.ParseDuration(lockWait); err != nil || c.lockWait < 0 {
		bad("lock wait %q: want a duration such as 10m, or 0", lockWait)
	}
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
	if c.databaseWait, err = time.ParseDuration(databaseWait); err != nil || c.databaseWait < 0 {
		bad("database wait %q: want a duration such as 5m, or 0", databaseWait)
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

// boolFunc is a boolean flag (given alone it means true) that stores its
// text, so that the environment can set the default.
type boolFunc struct{ v *string }

func (b boolFunc) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolFunc) Set(s string) error { *b.v = s; return nil }

// IsBoolFlag lets the flag stand alone.
func (b boolFunc) IsBoolFlag() bool { return true }

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
