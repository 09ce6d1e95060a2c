package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
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
		if err := waitForDatabase(ctx, c, db, log); err != nil {
			fmt.Fprintf(stdout, "migrate: FAILED: %v\n", err)
			return err
		}
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

// waitForDatabase waits up to --database-wait for a database that is still
// starting (a first install brings the database up beside the Jobs that
// need it; a restart or failover takes seconds), logging each wait with
// the server's address and never its URL.
func waitForDatabase(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger) error {
	err := db.WaitReady(ctx, c.databaseWait, func(w postgres.Waiting) {
		log.Warn("the database does not accept connections yet; waiting", "host", w.Addr, "attempt", w.Attempt,
			"retry_in", w.Next, "gives_up_in", w.Left, "err", w.Err)
	})
	if err != nil {
		log.Error("connect to the database", "host", db.Addr(), "err", err)
	}
	return err
}
