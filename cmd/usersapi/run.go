package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
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
	// dbMaxConns is the size of the pool reads share unless its URL sets
	// pool_max_conns.
	dbMaxConns = 8
	// dbWriteConns is the size of the primary's pool when reads go to a
	// replica: it only records exports and prunes their history.
	dbWriteConns = 2
	// logFlushInterval bounds how long a log line waits in the buffer.
	logFlushInterval = 200 * time.Millisecond
	// cutGrace is the part of the shutdown budget kept for the requests
	// cut when the drain ends: to notice, record their export and return.
	cutGrace = 2 * time.Second
	// tokensCheckEvery is how often a request may look for a changed
	// API_TOKENS_FILE.
	tokensCheckEvery = 10 * time.Second
)

// configError marks a bad setting found after loadConfig (by the
// database pool or the handler): exit status 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func badConfig(format string, args ...any) error { return configError{fmt.Errorf(format, args...)} }

// exitCode maps run's result to the process exit status: 0 clean
// shutdown, 2 bad configuration, 1 any other failure.
func exitCode(err error) int {
	var ce configError
	var cp configProblems
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce), errors.As(err, &cp):
		return 2
	default:
		return 1
	}
}

// newLogger builds the process logger of cfg, writing to w.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// run is usersapi: it reads its configuration once (loadConfig) and then
// serves the API (serve) or, as `usersapi check`, checks a running one
// (runCheck).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := cmdServe
	if len(args) > 0 && args[0] == "check" {
		cmd, args = cmdCheck, args[1:]
	}
	if len(args) > 0 {
		return badConfig("usersapi%s takes no arguments (got %q); configure it with environment variables",
			map[string]string{cmdServe: "", cmdCheck: " check"}[cmd], args)
	}
	cfg, err := loadConfig(cmd, getenv)
	if err != nil {
		return err
	}
	if cmd == cmdCheck {
		return runCheck(ctx, cfg, stdout)
	}
	return serve(ctx, cfg, stderr)
}

// serve serves the API until ctx is cancelled (SIGTERM), then shuts down
// within SHUTDOWN_TIMEOUT: it fails readiness for SHUTDOWN_DELAY, stops
// accepting connections and waits for in-flight requests; what still runs
// when the budget is nearly spent is cut, and it exits 0 either way.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	logs := newFlushWriter(stderr, logFlushInterval)
	defer logs.Close()
	log := newLogger(cfg, logs)
	if cfg.gcPercent > 0 {
		debug.SetGCPercent(cfg.gcPercent)
	}

	reads, writes, err := openDatabases(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer reads.Close()
	defer writes.Close()
	if err := cfg.streamCap(reads.MaxConns()); err != nil {
		return err
	}

	var tokens *api.Tokens
	if cfg.tokensFile != "" {
		tokens, err = api.LoadTokens(api.TokensConfig{Path: cfg.tokensFile, CheckEvery: tokensCheckEvery, Logger: log})
		if err != nil {
			return configError{err}
		}
	}

	reg := prometheus.NewRegistry()
	launcher, err := newLauncher(cfg.sync, reg, log)
	if err != nil {
		return err
	}
	var syncLauncher api.SyncLauncher
	if launcher != nil {
		syncLauncher = launcher // a nil *kube.Launcher would be a non-nil interface
	}
	webhook, queue, err := newWebhook(cfg.webhook, launcher, reg, log)
	if err != nil {
		return err
	}

	handler, err := api.NewHandler(api.Config{
		Deps: api.Deps{Users: reads, Assets: reads, Runs: reads, Exports: reads, ExportLog: writes, Tokens: tokens,
			PublicReads: cfg.publicReads, Logger: log, Limits: cfg.limits, Launcher: syncLauncher, JobsCacheTTL: cfg.sync.cacheTTL},
		BasePath: cfg.basePath,
		// Ready when the reads, which every request but an export's
		// history makes, can be served.
		DB:       reads,
		Registry: reg,
		Logger:   log,
		Version:  version,
		Webhook:  webhook,
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
		"tokens", tokenCount, "max_streams", cfg.limits.MaxStreams, "pool", reads.MaxConns(),
		"read_replica", cfg.databaseReadURL != "", "version", version)

	if cfg.exportRetention > 0 {
		go pruneExportHistory(ctx, writes, cfg.exportRetention, reg, log)
	} else {
		log.Info("the export history is kept forever: EXPORT_HISTORY_RETENTION=0")
	}

	// The webhook's queue outlives the server's drain, so that the events
	// accepted until the listener closed are counted on the Lease before
	// usersapi exits.
	queueCtx, stopQueue := context.WithCancel(context.Background())
	queueDone := make(chan struct{})
	if queue != nil {
		go func() { defer close(queueDone); queue.Run(queueCtx) }()
	} else {
		close(queueDone)
	}
	defer func() { stopQueue(); <-queueDone }()

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

// openDatabases opens the pools: reads on DATABASE_READ_URL (a replica)
// and writes — the export history — on DATABASE_URL (the primary); both on
// DATABASE_URL without a read URL. Neither waits for its server: a pool
// connects lazily and reconnects by itself, so a database that is down now
// only makes /readyz (the reads) or the history (the writes) fail until it
// is back.
func openDatabases(ctx context.Context, cfg *config, log *slog.Logger) (reads, writes *postgres.DB, err error) {
	// Requests outnumber cores; a slow listing (a search scans the table)
	// must not hold up the quick ones waiting for a connection.
	readCfg := postgres.Config{URL: cfg.databaseURL, Logger: log, MaxConns: dbMaxConns, AcquireTimeout: cfg.acquireTimeout}
	if cfg.databaseReadURL == "" {
		db, err := postgres.Open(ctx, readCfg)
		if err != nil {
			return nil, nil, configError{err}
		}
		ping(ctx, db, "database", log)
		// Two handles on one pool: closing both is harmless.
		return db, db, nil
	}
	readCfg.URL = cfg.databaseReadURL
	if reads, err = postgres.Open(ctx, readCfg); err != nil {
		return nil, nil, configError{fmt.Errorf("DATABASE_READ_URL: %w", err)}
	}
	writes, err = postgres.Open(ctx, postgres.Config{URL: cfg.databaseURL, Logger: log, MaxConns: dbWriteConns,
		AcquireTimeout: cfg.acquireTimeout})
	if err != nil {
		reads.Close()
		return nil, nil, configError{fmt.Errorf("DATABASE_URL: %w", err)}
	}
	ping(ctx, reads, "read replica (DATABASE_READ_URL)", log)
	ping(ctx, writes, "primary (DATABASE_URL)", log)
	return reads, writes, nil
}

// ping warns when db does not answer yet.
func ping(ctx context.Context, db *postgres.DB, what string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		log.Warn(what+" not reachable yet; serving anyway", "err", err)
	}
}

// shutdown takes the server down within cfg.shutdownTimeout: readiness
// fails for the delay, then the listener closes and in-flight requests
// drain; cutGrace before the budget ends, the requests still running are
// cancelled (streams are cut, recorded as such), and at its end the
// connections left are closed.
func shutdown(srv *http.Server, handler *api.Handler, cancelBase context.CancelCauseFunc, cfg *config, log *slog.Logger) {
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
