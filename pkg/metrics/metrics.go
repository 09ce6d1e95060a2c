// Package metrics holds usersync's batch-job metrics: a private registry
// per scope, filled while a run goes (it implements snipeit.Observer) and
// pushed to a Pushgateway with Add when the run ends, under job "usersync"
// and grouping label "scope" — and "instance" when the installation names
// itself (Gateway.Instance), so that several share one Pushgateway.
//
// Every per-run figure follows the Pushgateway's batch-job convention: a
// gauge (or a histogram) named usersync_last_run_… that describes the last
// run alone. Counters would be wrong here: each run starts from zero, so a
// "_total" would go down between pushes and rate() would read that as a
// reset.
//
// Add (HTTP POST) replaces, per metric name, only the families a push
// carries, so usersync_last_success_timestamp_seconds — pushed only by
// successful runs — survives failed and skipped runs, and
// usersync_last_full_success_timestamp_seconds — pushed only by successful
// runs that read every row — survives incremental runs too: that is what
// alerts watch. A family is replaced whole, label sets included, which is why every
// labelled per-run family is pushed with at least one (zero) sample: a run
// without retries must clear the previous run's retry figures, not leave
// them standing. A skipped run pushes only the skip metrics, so the last
// run that did work keeps its figures.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
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

// listings are the Snipe-IT listing endpoints each scope's full run pages
// (the client's endpoint labels); their series are pushed even at zero.
var listings = map[model.Scope][]string{
	model.ScopeUsers:  {"users"},
	model.ScopeAssets: {"hardware", "hardware_archived"},
}

// retryReasons are the reasons the client reports that do not depend on a
// status code (those are "http_<code>").
var retryReasons = []string{"rate_limited", "not_data", "timeout", "transport"}

// Sync collects the metrics of one usersync process.
type Sync struct {
	version string
	scopes  map[model.Scope]*scopeMetrics
	// shared is the scope whose push counts the requests of listings an
	// incremental run reads once for both scopes.
	shared model.Scope
}

type scopeMetrics struct {
	// reg is what the scope's push carries: the per-run families and
	// build info; a skipped run swaps it for a registry of skip metrics.
	reg       *prometheus.Registry
	info      prometheus.Gauge
	requests  *prometheus.GaugeVec
	latency   *prometheus.HistogramVec
	retries   *prometheus.GaugeVec
	rateWait  prometheus.Gauge
	rateLimit prometheus.Gauge
}

// NewSync returns empty metrics for every scope.
func NewSync(version string) *Sync {
	m := &Sync{version: version, scopes: map[model.Scope]*scopeMetrics{}, shared: model.ScopeUsers}
	for _, s := range model.Scopes {
		m.scopes[s] = newScopeMetrics(s, version)
	}
	return m
}

func newScopeMetrics(scope model.Scope, version string) *scopeMetrics {
	sm := &scopeMetrics{
		reg: prometheus.NewRegistry(),
		info: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "usersync_build_info",
			Help:        "The usersync build that pushed these metrics; always 1.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}),
		requests: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usersync_last_run_snipeit_requests",
			Help: "Snipe-IT API requests the last run made, by endpoint and HTTP status (0: no response).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "usersync_last_run_snipeit_request_duration_seconds",
			Help:    "Duration of the last run's Snipe-IT API requests, body included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		retries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usersync_last_run_snipeit_retries",
			Help: "Snipe-IT API requests the last run retried, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		rateWait: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersync_last_run_rate_limit_wait_seconds",
			Help: "Seconds the last run's requests waited for the client-side rate limit or a server-requested pause.",
		}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersync_last_run_snipeit_rate_limited",
			Help: "HTTP 429 answers the last run received from Snipe-IT.",
		}),
	}
	sm.info.Set(1)
	for _, ep := range listings[scope] {
		sm.requests.WithLabelValues(ep, "200")
		sm.latency.WithLabelValues(ep)
		for _, r := range retryReasons {
			sm.retries.WithLabelValues(ep, r)
		}
	}
	sm.reg.MustRegister(sm.info, sm.requests, sm.latency, sm.retries, sm.rateWait, sm.rateLimit)
	return sm
}

// ShareWith makes scope's push count the requests both scopes of a run
// share: the activity log and the locations and companies listings, read
// once per run (by the assets scope first when it is in the run). By
// default the users scope counts them.
func (m *Sync) ShareWith(scope model.Scope) {
	if _, ok := m.scopes[scope]; ok {
		m.shared = scope
	}
}

// scopeOf maps a client endpoint label to the scope that uses it.
func (m *Sync) scopeOf(endpoint string) *scopeMetrics {
	switch endpoint {
	case "reports_activity", "locations", "companies":
		return m.scopes[m.shared]
	case "models", "statuslabels", "suppliers":
		return m.scopes[model.ScopeAssets]
	}
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
// durations, records per action and the mirror's rows. The last-success
// timestamp is added only for a successful run, so a push of a failed run
// leaves the previous one in place on the Pushgateway.
func (m *Sync) Record(r syncer.ScopeResult) {
	sm, ok := m.scopes[r.Scope]
	if !ok {
		return
	}
	ts := float64(r.Finished.UnixNano()) / 1e9
	if r.Status == model.RunSkipped {
		// A skipped run did no work: it pushes only that it was skipped,
		// and leaves the figures of the last run that did work in place.
		sm.reg = prometheus.NewRegistry()
		sm.reg.MustRegister(sm.info)
		gauge(sm.reg, "usersync_last_run_skipped", "1 if the last run was skipped because another sync held the lock, else 0.").Set(1)
		gauge(sm.reg, "usersync_last_skip_timestamp_seconds", "When a run was last skipped because another sync held the lock.").Set(ts)
		return
	}
	gauge(sm.reg, "usersync_last_run_skipped", "1 if the last run was skipped because another sync held the lock, else 0.").Set(0)
	gauge(sm.reg, "usersync_last_completion_timestamp_seconds", "When the last run ended, successfully or not.").Set(ts)
	success := gauge(sm.reg, "usersync_last_run_success", "1 if the last run succeeded, 0 if it failed.")
	if r.Status == model.RunSucceeded {
		success.Set(1)
		gauge(sm.reg, "usersync_last_success_timestamp_seconds", "When the last successful run ended.").Set(ts)
		if r.Mode != model.ModeIncremental {
			// Pushed only by runs that read every row — full runs, and
			// incremental ones that fell back — so that the reconciliation
			// of record is watched apart from the incremental runs between.
			gauge(sm.reg, "usersync_last_full_success_timestamp_seconds",
				"When the last successful run that read every row (a full run, or an incremental one that fell back) ended.").Set(ts)
		}
	}
	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersync_last_run_duration_seconds",
		Help: "Duration of the last run's steps: fetch (until the last row arrived), stage (streaming into PostgreSQL, overlapping fetch), merge, total.",
	}, []string{"step"})
	for _, step := range []string{"fetch", "stage", "merge", "total"} {
		steps.WithLabelValues(step).Set(r.Durations[step].Seconds())
	}
	records := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersync_last_run_records",
		Help: "Records the last run fetched and how it changed the mirror, by action (all 0 when the run failed: it wrote nothing).",
	}, []string{"action"})
	c := r.Counts
	if r.Status != model.RunSucceeded {
		// A failed run rolled back: whatever it had counted was not written.
		c = model.RunCounts{Fetched: c.Fetched}
	}
	for action, n := range map[string]int64{"fetched": c.Fetched, "inserted": c.Inserted, "updated": c.Updated, "deleted": c.Deleted, "unchanged": c.Unchanged} {
		records.WithLabelValues(action).Set(float64(n))
	}
	sm.reg.MustRegister(steps, records)
	incremental := gauge(sm.reg, "usersync_last_run_incremental",
		"1 if the last run read only what changed since the watermark (usersync --incremental), 0 if it read every row.")
	if r.Mode == model.ModeIncremental {
		incremental.Set(1)
	}
	fallback := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersync_last_run_fallback",
		Help: "1 for the reason the last run, asked to be incremental, read every row instead (no_watermark, unsorted, …); 0 for the others.",
	}, []string{"reason"})
	for _, reason := range model.FallbackReasons {
		fallback.WithLabelValues(reason)
	}
	if r.FallbackReason != "" {
		fallback.WithLabelValues(r.FallbackReason).Set(1)
	}
	sm.reg.MustRegister(fallback)
	if r.Watermark != nil {
		gauge(sm.reg, "usersync_last_run_watermark_timestamp_seconds",
			"The scope's watermark after the last run, in Snipe-IT's clock: every change up to it is in the mirror.").
			Set(float64(r.Watermark.UnixNano()) / 1e9)
	}
	if r.Rows != nil {
		rows := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usersync_mirror_rows",
			Help: "Rows in the scope's mirror table after the last run, by state: live, or deleted (soft-deleted: vanished upstream).",
		}, []string{"state"})
		rows.WithLabelValues("live").Set(float64(r.Rows.Live))
		rows.WithLabelValues("deleted").Set(float64(r.Rows.Deleted))
		sm.reg.MustRegister(rows)
	}
}

func gauge(reg *prometheus.Registry, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	reg.MustRegister(g)
	return g
}

// Gatherer returns what scope's push carries, for tests and promtool.
func (m *Sync) Gatherer(scope model.Scope) prometheus.Gatherer {
	return m.scopes[scope].reg
}

// Gateway is where a process pushes its metrics, and as which
// installation.
type Gateway struct {
	// URL is the Pushgateway's; basic auth in it (the way to authenticate
	// to a Pushgateway) is sent as a header and never reaches an error
	// message.
	URL string
	// Instance, when set, is a grouping label besides job and scope, so
	// that installations pushing to one Pushgateway (two Snipe-IT sites,
	// staging and production) each keep their own groups. Empty: the
	// grouping is {job, scope}, as it always was.
	Instance string
	// Client sends the push; nil: one with a 10-second timeout.
	Client *http.Client
}

// Push adds scope's metrics to gw's Pushgateway, grouped by job, instance
// (when gw has one) and scope. Errors name the gateway redacted.
func (m *Sync) Push(ctx context.Context, gw Gateway, scope model.Scope) error {
	sm, ok := m.scopes[scope]
	if !ok {
		return fmt.Errorf("push metrics: unknown scope %q", scope)
	}
	gateway := gw.URL
	if !strings.Contains(gateway, "://") {
		gateway = "http://" + gateway // as push.New does
	}
	u, err := url.Parse(gateway)
	if err != nil {
		// url.Parse quotes the whole URL, password included.
		return fmt.Errorf("push %s metrics: %w: the Pushgateway URL is malformed", scope, model.ErrInvalid)
	}
	// client_golang puts the URL it is given into its errors; give it one
	// without the credentials.
	target := *u
	target.User = nil
	client := gw.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	p := push.New(target.String(), Job)
	if gw.Instance != "" {
		// The Pushgateway's own convention: it shows a push without one
		// as instance="", which Prometheus, scraping with honor_labels,
		// keeps as no label at all.
		p = p.Grouping("instance", gw.Instance)
	}
	p = p.Grouping("scope", string(scope)).Gatherer(sm.reg).Client(client)
	if u.User != nil {
		password, _ := u.User.Password()
		p = p.BasicAuth(u.User.Username(), password)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push %s metrics to %s: %w", scope, u.Redacted(), err)
	}
	return nil
}
