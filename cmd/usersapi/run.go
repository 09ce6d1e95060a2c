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

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/postgres"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

// Server timeouts. A stream of every user takes longer than writeTimeout;
// it pushes its own deadline out as it makes progress (api.Deps).
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
	// drainTimeout bounds how long shutdown waits for in-flight requests.
	drainTimeout = 60 * time.Second
	// defaultShutdownDelay is how long /readyz fails before the listener
	// closes, so that endpoints controllers and load balancers stop sending
	// new requests first.
	defaultShutdownDelay = 5 * time.Second
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
	databaseURL   string
	listenAddr    string
	basePath      string
	tokensFile    string
	publicReads   bool
	shutdownDelay time.Duration
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
	c.shutdownDelay = defaultShutdownDelay
	if v := getenv("SHUTDOWN_DELAY"); v != "" {
		if c.shutdownDelay, err = time.ParseDuration(v); err != nil || c.shutdownDelay < 0 {
			return c, badConfig("SHUTDOWN_DELAY=%q: want a duration such as 5s", v)
		}
	}
	if c.tokensFile == "" && !c.publicReads {
		return c, badConfig("no way in: set API_TOKENS_FILE, or PUBLIC_READS=true to open reads")
	}
	return c, nil
}

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func newLogger(getenv func(string) string, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, badConfig("LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := strings.ToLower(getenv("LOG_FORMAT")); f {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, badConfig("LOG_FORMAT=%q: want json or text", f)
	}
}

// run serves the API until ctx is cancelled (SIGTERM), then fails
// readiness for the shutdown delay, stops accepting connections and waits
// for in-flight requests to finish. `usersapi check` instead checks a
// running API (runCheck).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(ctx, args[1:], getenv, stdout)
	}
	if len(args) > 0 {
		return badConfig("usersapi takes no arguments (got %q); configure it with environment variables", args)
	}
	logs := newFlushWriter(stderr, logFlushInterval)
	defer logs.Close()
	log, err := newLogger(getenv, logs)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}

	// Requests outnumber cores; a slow listing (a search scans the table)
	// must not hold up the quick ones waiting for a connection.
	db, err := postgres.Open(ctx, postgres.Config{URL: cfg.databaseURL, Logger: log, MaxConns: dbMaxConns})
	if err != nil {
		return configError{err}
	}
	defer db.Close()
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

	handler, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: db, Assets: db, Runs: db, Tokens: tokens, PublicReads: cfg.publicReads,
			Logger: log, StreamWriteTimeout: writeTimeout},
		BasePath: cfg.basePath,
		DB:       db,
		Logger:   log,
		Version:  version,
	})
	if err != nil {
		return configError{err}
	}

	ln, err := net.Listen("tcp", cfg.listenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listenAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	tokenCount := 0
	if tokens != nil {
		tokenCount = tokens.Len()
	}
	log.Info("listening", "addr", ln.Addr().String(), "base_path", cfg.basePath, "public_reads", cfg.publicReads,
		"tokens", tokenCount, "version", version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "delay", cfg.shutdownDelay)
	handler.Drain()
	if cfg.shutdownDelay > 0 {
		time.Sleep(cfg.shutdownDelay)
	}
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), drainTimeout)
	defer cancelDrain()
	start := time.Now()
	if err := srv.Shutdown(drainCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain in-flight requests: %w", err)
	}
	log.Info("stopped", "duration", time.Since(start))
	return nil
}
