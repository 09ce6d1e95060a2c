package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/postgres"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

// Server timeouts. A stream of every user takes longer than writeTimeout;
// it sets its own deadlines (api.Limits).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	// dbMaxConns is the database pool size unless DATABASE_URL sets
	// pool_max_conns.
	dbMaxConns = 8
	// logFlushInterval bounds how long a log line waits in the buffer.
	logFlushInterval = 200 * time.Millisecond
	// cutGrace is the part of the shutdown budget kept for the requests
	// cut when the drain ends: to notice, record their export and return.
	cutGrace = 2 * time.Second
)

// Defaults of the tunable bounds.
const (
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
)

// configError marks a bad flag or environment variable: exit status 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func badConfig(format string, args ...any) error { return configError{fmt.Errorf(format, args...)} }

// exitCode maps run's result to the process exit status: 0 clean
// shutdown, 2 bad configuration, 1 any other failure.
func exitCode(err error) int {
	var ce configError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		return 2
	default:
		return 1
	}
}

// config is usersapi's environment.
type config struct {
	databaseURL     string
	listenAddr      string
	basePath        string
	tokensFile      string
	publicReads     bool
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
	acquireTimeout  time.Duration
	// maxStreams is 0 until the pool size is known (half of it by default).
	maxStreams int
	limits     api.Limits
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL: getenv("DATABASE_URL"),
		listenAddr:  getenv("LISTEN_ADDR"),
		tokensFile:  getenv("API_TOKENS_FILE"),
	}
	if c.databaseURL == "" {
		return c, badConfig("DATABASE_URL is required")
	}
	if c.listenAddr == "" {
		c.listenAddr = ":8080"
	}
	var err error
	if c.basePath, err = api.CleanBasePath(getenv("BASE_PATH")); err != nil {
		return c, configError{fmt.Errorf("BASE_PATH: %w", err)}
	}
	if v := getenv("PUBLIC_READS"); v != "" {
		if c.publicReads, err = strconv.ParseBool(v); err != nil {
			return c, badConfig("PUBLIC_READS=%q: want true or false", v)
		}
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
		zero bool // 0 is allowed
	}{
		{"SHUTDOWN_DELAY", &c.shutdownDelay, defaultShutdownDelay, true},
		{"SHUTDOWN_TIMEOUT", &c.shutdownTimeout, defaultShutdownTimeout, false},
		{"STREAM_TIMEOUT", &c.limits.StreamTimeout, defaultStreamTimeout, false},
		{"STREAM_STALL_TIMEOUT", &c.limits.StreamStallTimeout, defaultStallTimeout, false},
		{"REQUEST_TIMEOUT", &c.limits.RequestTimeout, defaultRequestTimeout, false},
		{"DATABASE_ACQUIRE_TIMEOUT", &c.acquireTimeout, defaultAcquireTimeout, false},
	}
	for _, d := range durations {
		*d.dst = d.def
		v := getenv(d.name)
		if v == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < 0 || (*d.dst == 0 && !d.zero) {
			return c, badConfig("%s=%q: want a positive duration such as %s", d.name, v, d.def)
		}
	}
	if c.shutdownDelay+cutGrace >= c.shutdownTimeout {
		return c, badConfig("SHUTDOWN_DELAY=%s leaves no time to drain within SHUTDOWN_TIMEOUT=%s (%s of it are kept for cutting what is left)",
			c.shutdownDelay, c.shutdownTimeout, cutGrace)
	}
	if v := getenv("MAX_STREAMS"); v != "" {
		if c.maxStreams, err = strconv.Atoi(v); err != nil || c.maxStreams < 1 {
			return c, badConfig("MAX_STREAMS=%q: want a positive number below the pool size", v)
		}
	}
	if c.tokensFile == "" && !c.publicReads {
		return c, badConfig("no way in: set API_TOKENS_FILE, or PUBLIC_READS=true to open reads")
	}
	return c, nil
}

// streamCap checks MAX_STREAMS against the pool size, or derives it: half
// the pool, so that as many connections stay free for single reads and
// pages as whole listings can take.
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

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT. With
// the JSON format at level info or below it also returns w as the access
// log's writer (api.Config.AccessLog), else nil.
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, io.Writer, error) {
	var level slog.Level
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, nil, badConfig("LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := strings.ToLower(getenv("LOG_FORMAT")); f {
	case "", "json":
		var access io.Writer
		if level <= slog.LevelInfo {
			access = w
		}
		return slog.New(slog.NewJSONHandler(w, opts)), access, nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil, nil
	default:
		return nil, nil, badConfig("LOG_FORMAT=%q: want json or text", f)
	}
}

// run serves the API until ctx is cancelled (SIGTERM), then shuts down
// within SHUTDOWN_TIMEOUT: it fails readiness for SHUTDOWN_DELAY, stops
// accepting connections and waits for in-flight requests; what still runs
// when the budget is nearly spent is cut, and it exits 0 either way.
// `usersapi check` instead checks a running API (runCheck).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(ctx, args[1:], getenv, stdout)
	}
	if len(args) > 0 {
		return badConfig("usersapi takes no arguments (got %q); configure it with environment variables", args)
	}
	logs := newFlushWriter(stderr, logFlushInterval)
	defer logs.Close()
	log, accessLog, err := newLogger(getenv, logs)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}

	// Requests outnumber cores; a slow listing (a search scans the table)
	// must not hold up the quick ones waiting for a connection.
	db, err := postgres.Open(ctx, postgres.Config{URL: cfg.databaseURL, Logger: log, MaxConns: dbMaxConns,
		AcquireTimeout: cfg.acquireTimeout})
	if err != nil {
		return configError{err}
	}
	defer db.Close()
	if err := cfg.streamCap(db.MaxConns()); err != nil {
		return err
	}
	// The pool connects lazily and reconnects by itself: a database that is
	// down now only makes /readyz fail until it is back.
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := db.Ping(pingCtx); err != nil {
		log.Warn("database not reachable yet; serving anyway, /readyz fails until it is", "err", err)
	}
	cancel()

	var tokens *api.Tokens
	if cfg.tokensFile != "" {
		tokens, err = api.LoadTokens(api.TokensConfig{Path: cfg.tokensFile, CheckEvery: 10 * time.Second, Logger: log})
		if err != nil {
			return configError{err}
		}
	}

	reg := prometheus.NewRegistry()
	launcher, err := newLauncher(getenv, reg, log)
	if err != nil {
		return err
	}

	handler, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: db, Assets: db, Runs: db, Exports: db, Tokens: tokens, PublicReads: cfg.publicReads,
			Logger: log, Limits: cfg.limits, Launcher: launcher},
		BasePath:  cfg.basePath,
		DB:        db,
		Registry:  reg,
		Logger:    log,
		AccessLog: accessLog,
		Version:   version,
	})
	if err != nil {
		return configError{err}
	}

	ln, err := net.Listen("tcp", cfg.listenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listenAddr, err)
	}
	// Every request's context descends from base, so that cancelling it
	// cuts what still runs when the shutdown budget ends.
	base, cancelBase := context.WithCancelCause(context.Background())
	defer cancelBase(nil)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    api.ServerMaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	tokenCount := 0
	if tokens != nil {
		tokenCount = tokens.Len()
	}
	log.Info("listening", "addr", ln.Addr().String(), "base_path", cfg.basePath, "public_reads", cfg.publicReads,
		"tokens", tokenCount, "max_streams", cfg.limits.MaxStreams, "pool", db.MaxConns(), "version", version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown(srv, handler, cancelBase, cfg, log)
	return nil
}

// shutdown takes the server down within cfg.shutdownTimeout: readiness
// fails for the delay, then the listener closes and in-flight requests
// drain; cutGrace before the budget ends, the requests still running are
// cancelled (streams are cut, recorded as such), and at its end the
// connections left are closed.
func shutdown(srv *http.Server, handler *api.Handler, cancelBase context.CancelCauseFunc, cfg config, log *slog.Logger) {
	began := time.Now()
	budget := began.Add(cfg.shutdownTimeout)
	log.Info("shutting down", "delay", cfg.shutdownDelay, "budget", cfg.shutdownTimeout)
	handler.Drain()
	time.Sleep(cfg.shutdownDelay)

	drainCtx, cancelDrain := context.WithDeadline(context.Background(), budget.Add(-cutGrace))
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err == nil {
		log.Info("stopped", "duration", time.Since(began))
		return
	}
	log.Warn("requests still running at the end of the drain budget; cutting them", "budget", cfg.shutdownTimeout)
	cancelBase(api.ErrShuttingDown)
	finalCtx, cancelFinal := context.WithDeadline(context.Background(), budget)
	defer cancelFinal()
	if err := srv.Shutdown(finalCtx); err != nil {
		// A write blocked on a client that reads nothing, outside a stream.
		_ = srv.Close()
		log.Warn("closed the connections still busy", "err", err)
	}
	log.Info("stopped", "duration", time.Since(began))
}
