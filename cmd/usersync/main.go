// Command usersync mirrors Snipe-IT users and assets into PostgreSQL. It
// runs to completion (a Kubernetes CronJob) and pushes its metrics to a
// Pushgateway. See run for the flags and exit statuses.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Kubernetes stops a Job's pod with SIGTERM: cancel the run so the
	// transaction rolls back and the failed run is recorded.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}
