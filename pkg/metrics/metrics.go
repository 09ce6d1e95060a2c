// Package metrics holds usersync's batch-job metrics: a private registry
// per scope, filled while a run goes (it implements snipeit.Observer) and
// pushed to a Pushgateway with Add when the run ends, under job "usersync"
// and grouping label "scope".
//
// Add (HTTP POST) replaces only the metrics a push carries, so
// usersync_last_success_timestamp_seconds — pushed only by successful runs —
// survives failed and skipped runs: that is what alerts watch.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncer"
)

// Job is the Pushgateway job name.
const Job = "usersync"

// Sync collects the metrics of one usersync process.
type Sync struct {
	version string
	scopes  map[model.Scope]*scopeMetrics
}

type scopeMetrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	rateWait  prometheus.Counter
	rateLimit prometheus.Counter
}

// NewSync returns empty metrics for every scope.
func NewSync(version string) *Sync {
	m := &Sync{version: version, scopes: map[model.Scope]*scopeMetrics{}}
	for _, s := range model.Scopes {
		m.scopes[s] = newScopeMetrics(version)
	}
	return m
}

func newScopeMetrics(version string) *scopeMetrics {
	sm := &scopeMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersync_snipeit_requests_total",
			Help: "Snipe-IT API requests made by the last run, by endpoint and HTTP status (0: no response).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "usersync_snipeit_request_duration_seconds",
			Help:    "Duration of the last run's Snipe-IT API requests, body included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersync_snipeit_retries_total",
			Help: "Snipe-IT API requests the last run retried, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		rateWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersync_rate_limit_wait_seconds_total",
			Help: "Seconds the last run waited for the client-side rate limit or a server-requested pause.",
		}),
		rateLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersync_snipeit_rate_limited_total",
			Help: "HTTP 429 answers the last run received from Snipe-IT.",
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "usersync_build_info",
		Help:        "The usersync build that pushed these metrics; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	info.Set(1)
	sm.reg.MustRegister(sm.requests, sm.latency, sm.retries, sm.rateWait, sm.rateLimit, info)
	return sm
}

// scopeOf maps a client endpoint label to the scope that uses it.
func (m *Sync) scopeOf(endpoint string) *scopeMetrics {
	if strings.HasPrefix(endpoint, "hardware") {
		return m.scopes[model.ScopeAssets]
	}
	return m.scopes[model.ScopeUsers]
}

// Request implements snipeit.Observer.
func (m *Sync) Request(endpoint string, code int, d time.Duration) {
	sm := m.scopeOf(endpoint)
	sm.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	sm.latency.WithLabelValues(endpoint).Observe(d.Seconds())
	if code == http.StatusTooManyRequests {
		sm.rateLimit.Inc()
	}
}

// Retry implements snipeit.Observer.
func (m *Sync) Retry(endpoint, reason string) {
	m.scopeOf(endpoint).retries.WithLabelValues(endpoint, reason).Inc()
}

// RateLimitWait implements snipeit.Observer.
func (m *Sync) RateLimitWait(endpoint string, d time.Duration) {
	m.scopeOf(endpoint).rateWait.Add(d.Seconds())
}

// Page implements snipeit.Observer; progress is not a metric.
func (m *Sync) Page(string, int64, int64) {}

// Record adds the outcome of a scope's run: timestamps, per-step
// durations, records per action. The last-success timestamp is added only
// for a successful run, so a push of a failed run leaves the previous one
// in place on the Pushgateway.
func (m *Sync) Record(r syncer.ScopeResult) {
	sm, ok := m.scopes[r.Scope]
	if !ok {
		return
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		sm.reg.MustRegister(g)
		return g
	}
	ts := float64(r.Finished.UnixNano()) / 1e9
	skipped := gauge("usersync_last_run_skipped", "1 if the last run was skipped because another sync held the lock, else 0.")
	if r.Status == model.RunSkipped {
		skipped.Set(1)
		gauge("usersync_last_skip_timestamp_seconds", "When a run was last skipped because another sync held the lock.").Set(ts)
		return
	}
	gauge("usersync_last_completion_timestamp_seconds", "When the last run ended, successfully or not.").Set(ts)
	success := gauge("usersync_last_run_success", "1 if the last run succeeded, 0 if it failed.")
	if r.Status == model.RunSucceeded {
		success.Set(1)
		gauge("usersync_last_success_timestamp_seconds", "When the last successful run ended.").Set(ts)
	}
	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersync_last_run_duration_seconds",
		Help: "Duration of the last run's steps: fetch (until the last row arrived), stage (streaming into PostgreSQL, overlapping fetch), merge, total.",
	}, []string{"step"})
	for step, d := range r.Durations {
		steps.WithLabelValues(step).Set(d.Seconds())
	}
	records := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersync_last_run_records",
		Help: "Records the last run fetched and how it changed the mirror, by action.",
	}, []string{"action"})
	c := r.Counts
	for action, n := range map[string]int64{"fetched": c.Fetched, "inserted": c.Inserted, "updated": c.Updated, "deleted": c.Deleted, "unchanged": c.Unchanged} {
		records.WithLabelValues(action).Set(float64(n))
	}
	sm.reg.MustRegister(steps, records)
}

// Gatherer returns scope's registry, for tests and promtool.
func (m *Sync) Gatherer(scope model.Scope) prometheus.Gatherer {
	return m.scopes[scope].reg
}

// Push adds scope's metrics to the Pushgateway at url.
func (m *Sync) Push(ctx context.Context, url string, scope model.Scope, client *http.Client) error {
	sm, ok := m.scopes[scope]
	if !ok {
		return fmt.Errorf("push metrics: unknown scope %q", scope)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	err := push.New(url, Job).Grouping("scope", string(scope)).Gatherer(sm.reg).Client(client).AddContext(ctx)
	if err != nil {
		return fmt.Errorf("push %s metrics to %s: %w", scope, url, err)
	}
	return nil
}
