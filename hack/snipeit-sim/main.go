// Command snipeit-sim serves a simulated Snipe-IT (pkg/snipeit/snipeittest)
// with generated data, for benchmarks, demos and manual testing:
//
//	snipeit-sim -users 100000 -assets 50000 -token secret -rate-limit 120
//
// Once listening it prints one line, SNIPEIT_URL=http://127.0.0.1:PORT, on
// stdout; it logs JSON to stderr and serves until SIGINT or SIGTERM. It
// listens on loopback unless -listen says otherwise. With -webhook-url it
// sends Snipe-IT's webhooks there; -churn makes a random change (a
// checkout, an edit, a rename…) at that interval, and POST
// /api/v1/hardware/{id}/checkout and /checkin make one on demand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "snipeit-sim:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run parses args, generates the data, serves until ctx ends and reports
// the URL on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snipeit-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen    = fs.String("listen", "127.0.0.1:0", "address to listen on")
		users     = fs.Int("users", 1000, "users to generate (soft-deleted ones included)")
		assets    = fs.Int("assets", 500, "assets to generate (soft-deleted ones included)")
		seed      = fs.Uint64("seed", 1, "seed of the generated data")
		token     = fs.String("token", snipeittest.DefaultToken, "API token the server accepts")
		rateLimit = fs.Int("rate-limit", 0, "requests per minute per token (API_THROTTLE_PER_MINUTE); 0 is off")
		maxRes    = fs.Int("max-results", 500, "page size cap (MAX_RESULTS)")
		version   = fs.String("version", string(snipeittest.Version86), "Snipe-IT version to emulate: 8.6, 8.5, 7.0 or 5.0")
		latency   = fs.Duration("latency", 0, "delay added to every response")
		cacheMB   = fs.Int64("row-cache-mb", 1024, "MiB of rendered rows to keep for reuse; 0 renders rows on every request")
		webhook   = fs.String("webhook-url", "", "where to POST Snipe-IT's general webhook (Slack-format JSON) on checkouts, checkins, audits and requests; not on 5.0")
		churn     = fs.Duration("churn", 0, "make one random change (checkout, checkin, edit, rename, delete…) at this interval; 0 is none")
	)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	v, err := snipeittest.ParseVersion(*version)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *users < 0 || *assets < 0 || *maxRes <= 0 || *rateLimit < 0 || *latency < 0 || *cacheMB < 0 || *churn < 0 {
		return fmt.Errorf("%w: -users, -assets, -rate-limit, -latency, -row-cache-mb and -churn must not be negative, -max-results must be positive", errUsage)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	start := time.Now()
	data := snipeittest.Generate(snipeittest.GenerateConfig{Users: *users, Assets: *assets, Seed: *seed})
	sim, err := snipeittest.New(snipeittest.Config{
		Data:               data,
		Version:            v,
		Token:              *token,
		MaxResults:         *maxRes,
		RateLimitPerMinute: *rateLimit,
		Latency:            *latency,
		RowCacheBytes:      rowCacheBytes(*cacheMB),
		Webhook:            snipeittest.WebhookSettings{Endpoint: *webhook},
		Logger:             log,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log.Info("generated", "users", *users, "assets", *assets, "seed", *seed, "duration", time.Since(start))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("listening", "url", url, "version", v, "rate_limit", *rateLimit, "max_results", *maxRes, "latency", *latency)
	if _, err := fmt.Fprintf(stdout, "SNIPEIT_URL=%s\n", url); err != nil {
		_ = srv.Close()
		return fmt.Errorf("report url: %w", err)
	}

	if *churn > 0 {
		go makeChanges(ctx, sim, *churn, rand.New(rand.NewPCG(*seed, *seed)), log)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Release requests held by hang faults before waiting for the rest.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	st := sim.Stats()
	log.Info("stopped", "requests", st.Requests, "too_many_requests", st.TooManyRequests)
	return nil
}

// makeChanges makes a random change every interval until ctx ends.
func makeChanges(ctx context.Context, sim *snipeittest.Server, every time.Duration, rng *rand.Rand, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		what, err := sim.RandomChange(rng)
		if err != nil {
			log.Info("random change failed", "change", what, "err", err)
			continue
		}
		log.Info("changed", "change", what)
	}
}

// rowCacheBytes turns -row-cache-mb into Config.RowCacheBytes, where 0
// means the default and negative means none.
func rowCacheBytes(mb int64) int64 {
	if mb == 0 {
		return -1
	}
	return mb << 20
}
