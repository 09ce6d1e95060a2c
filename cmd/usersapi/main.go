// Command usersapi serves the usersync mirror of Snipe-IT users and assets
// over HTTP. It is configured by environment variables (see config.go and
// docs/usersapi.md) and shuts down gracefully on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		// After the first signal a second one kills at once, as usual.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var problems configProblems
	switch {
	case errors.As(err, &problems):
		fmt.Fprintln(os.Stderr, "usersapi: invalid configuration:")
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "  -", p)
		}
	case err != nil:
		fmt.Fprintln(os.Stderr, "usersapi:", err)
	}
	os.Exit(exitCode(err))
}
