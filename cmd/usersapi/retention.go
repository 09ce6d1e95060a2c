package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// How often the export history is pruned.
const (
	// pruneEvery is the interval between prunes, give or take a tenth so
	// that replicas started together drift apart.
	pruneEvery = time.Hour
	// pruneRetryAfter is the wait after a prune that failed (a database
	// still starting, a role without DELETE).
	pruneRetryAfter = 5 * time.Minute
	// pruneTimeout bounds one prune.
	pruneTimeout = time.Minute
)

// exportPruner is the part of the store that prunes the export history.
type exportPruner interface {
	PruneExports(ctx context.Context, before time.Time) (int64, error)
}

// pruneExportHistory deletes the export_history rows of exports that
// started more than retention ago: once at start, then about every
// pruneEvery, until ctx ends. Every replica does it; the store makes that
// safe, and with its index each prune reads only what it deletes. A failed
// prune is logged and counted, and retried sooner.
func pruneExportHistory(ctx context.Context, store exportPruner, retention time.Duration, reg prometheus.Registerer, log *slog.Logger) {
	pruned := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "usersapi_export_history_pruned_total",
		Help: "export_history rows deleted because they were older than EXPORT_HISTORY_RETENTION.",
	})
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "usersapi_export_history_prune_failures_total",
		Help: "Prunes of export_history that failed (the database role needs DELETE on it).",
	})
	reg.MustRegister(pruned, failures)
	for {
		wait := time.Duration(float64(pruneEvery) * (0.9 + 0.2*rand.Float64()))
		pctx, cancel := context.WithTimeout(ctx, pruneTimeout)
		n, err := store.PruneExports(pctx, time.Now().Add(-retention))
		cancel()
		pruned.Add(float64(n))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures.Inc()
			wait = pruneRetryAfter
			log.Warn("could not prune the export history; retrying later", "err", err, "retention", retention, "retry_in", wait)
		case n > 0:
			log.Info("pruned the export history", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
