package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/usersync/usersync/pkg/metrics"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/syncer"
)

// runSync syncs, then reports each scope's outcome the same way whatever
// failed: a line on stdout (or the dry run's report) and, for real runs,
// the metrics push.
func runSync(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger, bar *barProgress, stdout io.Writer) error {
	m := metrics.NewSync(buildVersion())
	if slices.Contains(c.scopes, model.ScopeAssets) {
		// The listings both scopes share are read by the assets scope first.
		m.ShareWith(model.ScopeAssets)
	}
	report := newChangeReport(stdout, c.maxChanges)
	results, err := syncScopes(ctx, c, db, log, bar, m, report)
	refused := false
	for _, r := range results {
		if c.dryRun {
			report.summary(r)
			refused = refused || errors.Is(r.Err, model.ErrMassDelete)
			continue
		}
		printSummary(stdout, r)
		m.Record(r)
		if c.pushURL != "" {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			if perr := m.Push(pctx, metrics.Gateway{URL: c.pushURL, Instance: c.pushInstance}, r.Scope); perr != nil {
				// Metrics are a side channel: a failed push must not turn a
				// good sync into a failed one.
				log.Error("push metrics", "scope", string(r.Scope), "err", perr)
			}
			cancel()
		}
	}
	// Skipping is a real run's ordinary outcome. A dry run takes no lock,
	// and any failure of one shows in its exit status.
	if errors.Is(err, model.ErrLocked) && !c.dryRun {
		return nil
	}
	if c.dryRun && refused {
		for _, r := range results {
			if r.Err != nil && !errors.Is(r.Err, model.ErrMassDelete) {
				return r.Err // a real failure outranks a refusal
			}
		}
		return &exitError{exitRefused, err}
	}
	return err
}

// syncScopes waits for the database, brings the schema up to date (or, in
// a dry run, checks it), then runs the syncer. A failure before the syncer
// runs is reported as a failed result for every scope, like a failure
// within it.
func syncScopes(ctx context.Context, c *config, db *postgres.DB, log *slog.Logger, bar *barProgress, m *metrics.Sync, report *changeReport) ([]syncer.ScopeResult, error) {
	failAll := func(err error) ([]syncer.ScopeResult, error) {
		now := time.Now()
		var results []syncer.ScopeResult
		for _, scope := range c.scopes {
			results = append(results, syncer.ScopeResult{Scope: scope, Status: model.RunFailed, Started: now, Finished: now, Err: err})
		}
		return results, err
	}
	if err := waitForDatabase(ctx, c, db, log); err != nil {
		return failAll(err)
	}
	// A sync is the mirror's only writer, so it brings the schema up to
	// date first; a dry run writes nothing and only checks.
	if c.dryRun {
		current, err := db.SchemaCurrent(ctx)
		if err != nil {
			log.Error("check the database schema", "err", err)
			return failAll(fmt.Errorf("check the database schema: %w", err))
		}
		if !current {
			err := errors.New("the database schema is not current; a dry run changes nothing, so run `usersync migrate` first")
			log.Error("dry run", "err", err)
			return failAll(err)
		}
	} else if _, err := db.Migrate(ctx); err != nil {
		log.Error("migrate", "err", err)
		return failAll(fmt.Errorf("migrate the database schema: %w", err))
	}

	obs := observers{m}
	switch {
	case bar != nil:
		obs = append(obs, bar)
	case c.progress == "log":
		lp := newLogProgress(log, 5*time.Second)
		defer lp.Close()
		obs = append(obs, lp)
	}
	rate := c.rateLimit
	if rate == 0 { // --rate-limit 0 means none; the client reads 0 as its default
		rate = snipeit.UnlimitedRate
	}
	client, err := snipeit.New(snipeit.Config{
		BaseURL:        c.snipeURL,
		Token:          c.token,
		UserAgent:      "usersync/" + buildVersion() + " (+https://github.com/usersync/usersync)",
		RequestTimeout: c.requestTimeout,
		MaxAttempts:    c.retries + 1,
		RetryInitial:   c.retryBackoff,
		RetryMax:       max(snipeit.DefaultRetryMax, c.retryBackoff),
		RatePerMinute:  rate,
		PageSize:       c.pageSize,
		Parallelism:    c.parallelism,
		Location:       c.timezone,
		Logger:         log,
		Observer:       obs,
	})
	if err != nil {
		log.Error("configure the Snipe-IT client", "err", err)
		return failAll(&exitError{2, err})
	}
	trigger := recordedTrigger(c.trigger, c.jobName, time.Now())
	if trigger != c.trigger {
		log.Info("recording the run as manual: its Job is not named as the CronJob controller names scheduled ones (kubectl create job --from?)",
			"trigger", c.trigger, "job", c.jobName)
	}
	cfg := syncer.Config{
		Source:          client,
		Changes:         client,
		Incremental:     c.incremental,
		LookBack:        c.lookBack,
		LockWait:        c.lockWait,
		Store:           db,
		Logger:          log,
		Trigger:         trigger,
		JobName:         c.jobName,
		AllowMassDelete: c.allowMassDelete,
		MaxDeleteRows:   c.maxDeleteRows,
		DryRun:          c.dryRun,
	}
	if c.dryRun {
		cfg.OnChange = report.add
	}
	s, err := syncer.New(cfg)
	if err != nil {
		return failAll(err)
	}
	return s.Run(ctx, c.scopes)
}
