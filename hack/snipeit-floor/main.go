// Command snipeit-floor is the benchmark floor for a sync: it fetches and
// decodes every user and asset page with the same client, page size and
// parallelism as usersync, and throws the rows away. A sync cannot be
// faster than this; `make bench` reports usersync's time as a multiple of it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "snipeit-floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	scope := flag.String("scope", "all", "users, assets or all")
	pageSize := flag.Int("page-size", 500, "rows per page")
	parallelism := flag.Int("parallelism", 4, "pages in flight")
	rate := flag.Float64("rate-limit", 0, "requests per minute; 0: none")
	flag.Parse()
	scopes, err := model.ParseScope(*scope)
	if err != nil {
		return err
	}
	if *rate == 0 {
		*rate = -1
	}
	c, err := snipeit.New(snipeit.Config{
		BaseURL: os.Getenv("SNIPEIT_URL"), Token: os.Getenv("SNIPEIT_TOKEN"),
		PageSize: *pageSize, Parallelism: *parallelism, RatePerMinute: *rate,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	var users, assets int
	for _, s := range scopes {
		switch s {
		case model.ScopeUsers:
			for _, err := range c.Users(ctx) {
				if err != nil {
					return err
				}
				users++
			}
		case model.ScopeAssets:
			for _, err := range c.Assets(ctx) {
				if err != nil {
					return err
				}
				assets++
			}
		}
	}
	fmt.Printf("users=%d assets=%d elapsed=%s\n", users, assets, time.Since(start))
	return nil
}
