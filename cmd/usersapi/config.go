package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/webhookqueue"
)

// Defaults of the settings (docs/usersapi.md lists them with the rest).
const (
	defaultListenAddr = ":8080"
	// defaultShutdownDelay is how long /readyz fails before the listener
	// closes, so that endpoints controllers and load balancers stop sending
	// new requests first.
	defaultShutdownDelay = 5 * time.Second
	// defaultShutdownTimeout is the whole budget from SIGTERM to exit:
	// below Kubernetes' default grace period of 30 s, so the kubelet never
	// needs its SIGKILL.
	defaultShutdownTimeout = 25 * time.Second
	defaultStreamTimeout   = 5 * time.Minute
	defaultStallTimeout    = 10 * time.Second
	defaultRequestTimeout  = 10 * time.Second
	defaultAcquireTimeout  = time.Second
	defaultExportRetention = 90 * 24 * time.Hour
	defaultCheckTimeout    = 30 * time.Second
	minJobsCacheTTL        = time.Second
	defaultJobsCacheTTL    = api.DefaultJobsCacheTTL
	defaultWebhookDebounce = webhookqueue.DefaultDebounce
	defaultWebhookMaxWait  = webhookqueue.DefaultMaxWait
	defaultLogFormat       = "json"
	// defaultGCPercent is the garbage collector's target unless GOGC is
	// set: usersapi keeps about 3 MiB live and makes about 10 KiB of
	// garbage per GET /users/{id}, so at Go's default of 100 it collected
	// 25 times a second under load, marking those 3 MiB each time: a tenth
	// of its CPU. At 400 it collects a quarter as often and serves a fifth
	// more requests, for about 12 MiB more peak RSS (make bench-api).
	defaultGCPercent = 400
)

// config is usersapi's whole configuration, read from the environment by
// loadConfig and passed down; nothing else reads the environment.
type config struct {
	databaseURL string
	// databaseReadURL is where reads go; "" sends them to databaseURL.
	databaseReadURL string
	listenAddr      string
	basePath        string
	tokensFile      string
	// tokens are the lines of tokensFile, read and checked once here.
	tokens          []api.TokenLine
	publicReads     bool
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
	acquireTimeout  time.Duration
	// maxStreams is 0 unless MAX_STREAMS is set (see streamCap).
	maxStreams int
	limits     api.Limits
	// exportRetention is how long export_history rows are kept; 0 keeps
	// them forever.
	exportRetention time.Duration
	logLevel        slog.Level
	logFormat       string
	// gcPercent is the garbage collector's target to set; 0 when GOGC is
	// set (the runtime has read it).
	gcPercent int
	sync      syncConfig
	webhook   webhookConfig
	check     checkConfig
}

// webhookConfig is Snipe-IT's webhook: off when secretFile is "".
type webhookConfig struct {
	secretFile        string
	debounce, maxWait time.Duration
}

// syncConfig is sync on demand: off when cronJob is "".
type syncConfig struct {
	cronJob string
	// incrementalCronJob is SYNC_INCREMENTAL_CRONJOB: "" without one.
	incrementalCronJob string
	namespace          string
	client             kube.ClientConfig
	cacheTTL           time.Duration
}

// checkConfig is `usersapi check`.
type checkConfig struct {
	url     string
	timeout time.Duration
}

// Commands loadConfig reads the configuration of.
const (
	cmdServe = "serve"
	cmdCheck = "check"
)

// configProblems lists everything wrong with the configuration: exit
// status 2.
type configProblems []string

func (p configProblems) Error() string {
	return "invalid configuration: " + strings.Join(p, "; ")
}

// loadConfig reads the environment of cmd (cmdServe or cmdCheck) and
// checks every setting, reporting all problems at once as configProblems.
// It reads the files the settings name — the token file, a kubeconfig —
// and contacts nothing.
func loadConfig(cmd string, getenv func(string) string) (*config, error) {
	var problems configProblems
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	duration := func(name string, def time.Duration, zeroOK bool) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d == 0 && !zeroOK) {
			bad("%s=%q: want a positive duration such as %s", name, v, def)
			return def
		}
		return d
	}

	c := &config{tokensFile: getenv("API_TOKENS_FILE")}
	var err error
	if c.basePath, err = api.CleanBasePath(getenv("BASE_PATH")); err != nil {
		bad("BASE_PATH: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
	}
	if c.tokensFile != "" {
		if c.tokens, err = api.ReadTokenFile(c.tokensFile); err != nil {
			bad("API_TOKENS_FILE: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		} else if len(c.tokens) == 0 {
			bad("API_TOKENS_FILE %s holds no token (want lines of [<name>=]<scope>:<token>)", c.tokensFile)
		}
	}

	if cmd == cmdCheck {
		c.check.url = strings.TrimRight(getenv("CHECK_URL"), "/")
		if c.check.url == "" {
			bad("CHECK_URL is required, e.g. http://usersync-api.default.svc")
		}
		c.check.timeout = duration("CHECK_TIMEOUT", defaultCheckTimeout, false)
		if len(problems) > 0 {
			return nil, problems
		}
		return c, nil
	}

	c.databaseURL = getenv("DATABASE_URL")
	if c.databaseURL == "" {
		bad("DATABASE_URL is required")
	} else if err := postgres.CheckURL(c.databaseURL); err != nil {
		bad("DATABASE_URL: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
	}
	c.databaseReadURL = getenv("DATABASE_READ_URL")
	if c.databaseReadURL != "" {
		if err := postgres.CheckURL(c.databaseReadURL); err != nil {
			bad("DATABASE_READ_URL: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
	}
	c.listenAddr = env("LISTEN_ADDR", defaultListenAddr)
	if v := getenv("PUBLIC_READS"); v != "" {
		if c.publicReads, err = strconv.ParseBool(v); err != nil {
			bad("PUBLIC_READS=%q: want true or false", v)
		}
	}
	if c.tokensFile == "" && !c.publicReads {
		bad("no way in: set API_TOKENS_FILE, or PUBLIC_READS=true to open reads")
	}
	c.shutdownDelay = duration("SHUTDOWN_DELAY", defaultShutdownDelay, true)
	c.shutdownTimeout = duration("SHUTDOWN_TIMEOUT", defaultShutdownTimeout, false)
	if c.shutdownDelay+cutGrace >= c.shutdownTimeout {
		bad("SHUTDOWN_DELAY=%s leaves no time to drain within SHUTDOWN_TIMEOUT=%s (%s of it are kept for cutting what is left)",
			c.shutdownDelay, c.shutdownTimeout, cutGrace)
	}
	c.limits.StreamTimeout = duration("STREAM_TIMEOUT", defaultStreamTimeout, false)
	c.limits.StreamStallTimeout = duration("STREAM_STALL_TIMEOUT", defaultStallTimeout, false)
	c.limits.RequestTimeout = duration("REQUEST_TIMEOUT", defaultRequestTimeout, false)
	c.acquireTimeout = duration("DATABASE_ACQUIRE_TIMEOUT", defaultAcquireTimeout, false)
	if v := getenv("MAX_STREAMS"); v != "" {
		if c.maxStreams, err = strconv.Atoi(v); err != nil || c.maxStreams < 1 {
			bad("MAX_STREAMS=%q: want a positive number below the pool size", v)
		}
	}
	if v := getenv("EXPORT_HISTORY_RETENTION"); v == "" {
		c.exportRetention = defaultExportRetention
	} else if c.exportRetention, err = parseRetention(v); err != nil {
		bad("EXPORT_HISTORY_RETENTION=%q: %v", v, err)
	}
	if err := c.logLevel.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		bad("LOG_LEVEL=%q: want debug, info, warn or error", getenv("LOG_LEVEL"))
	}
	c.logFormat = strings.ToLower(env("LOG_FORMAT", defaultLogFormat))
	if c.logFormat != "json" && c.logFormat != "text" {
		bad("LOG_FORMAT=%q: want json or text", getenv("LOG_FORMAT"))
	}

	if getenv("GOGC") == "" {
		c.gcPercent = defaultGCPercent
	}

	c.sync.cronJob = getenv("SYNC_CRONJOB")
	c.sync.incrementalCronJob = getenv("SYNC_INCREMENTAL_CRONJOB")
	if c.sync.incrementalCronJob != "" && c.sync.cronJob == "" {
		bad("SYNC_INCREMENTAL_CRONJOB is set without SYNC_CRONJOB, from whose CronJob every launch is made")
	}
	c.sync.cacheTTL = duration("SYNC_JOBS_CACHE_TTL", defaultJobsCacheTTL, false)
	if c.sync.cacheTTL < minJobsCacheTTL {
		bad("SYNC_JOBS_CACHE_TTL=%s: want %s or more, so polling clients cannot make a Kubernetes list per request",
			c.sync.cacheTTL, minJobsCacheTTL)
	}
	if c.sync.cronJob != "" {
		if c.sync.client, err = kube.LoadClientConfig(getenv("KUBECONFIG")); err != nil {
			bad("SYNC_CRONJOB is set: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		} else {
			c.sync.namespace = env("SYNC_NAMESPACE", c.sync.client.Namespace)
			if c.sync.namespace == "" {
				bad("SYNC_NAMESPACE is unset and neither the pod nor the kubeconfig names a namespace")
			}
		}
	}
	c.webhook.secretFile = getenv("WEBHOOK_SECRET_FILE")
	c.webhook.debounce = duration("WEBHOOK_DEBOUNCE", defaultWebhookDebounce, false)
	c.webhook.maxWait = duration("WEBHOOK_MAX_WAIT", defaultWebhookMaxWait, false)
	if c.webhook.maxWait < c.webhook.debounce {
		bad("WEBHOOK_MAX_WAIT=%s is shorter than WEBHOOK_DEBOUNCE=%s", c.webhook.maxWait, c.webhook.debounce)
	}
	if c.webhook.secretFile != "" {
		if c.sync.cronJob == "" {
			bad("WEBHOOK_SECRET_FILE is set without SYNC_CRONJOB: the webhook starts syncs as Jobs of that CronJob")
		}
		if _, err := api.LoadWebhookSecrets(api.WebhookSecretsConfig{Path: c.webhook.secretFile}); err != nil {
			bad("WEBHOOK_SECRET_FILE: %s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return c, nil
}

// parseRetention reads EXPORT_HISTORY_RETENTION: a number of days ("90d")
// or a Go duration ("2160h"); "0" keeps the history forever.
func parseRetention(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, errors.New("want a number of days such as 90d, a duration such as 2160h, or 0 to keep every row")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d > 0 && d < time.Hour) {
		return 0, errors.New("want a number of days such as 90d, a duration of an hour or more such as 2160h, or 0 to keep every row")
	}
	return d, nil
}

// streamCap checks MAX_STREAMS against the read pool's size, or derives
// it: half the pool, so that as many connections stay free for single
// reads and pages as whole listings can take.
func (c *config) streamCap(pool int32) error {
	if pool < 2 {
		return badConfig("a database pool of %d connection leaves none for single reads while a listing streams; "+
			"set pool_max_conns to 2 or more", pool)
	}
	if c.maxStreams == 0 {
		c.maxStreams = int(pool) / 2
	}
	if c.maxStreams >= int(pool) {
		return badConfig("MAX_STREAMS=%d must be below the database pool size (%d): each stream holds a connection "+
			"for as long as its client reads", c.maxStreams, pool)
	}
	c.limits.MaxStreams = c.maxStreams
	return nil
}
